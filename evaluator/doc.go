// Package evaluator is the one orchestration layer of stella-oras: it
// gathers an evaluation's inputs from files, OCI layouts or registries
// (with limits), builds the scan manifest through the pure engine, looks
// up the provenance cache, signs and pushes verdicts and deltas with their
// bundles, verifies an image's bundles under a trust configuration,
// replays a verdict from its artifact alone, and reports the state of an
// image's verdicts. The CLI and the HTTP service call the same functions.
//
// Every operation that does I/O takes a context first and an options
// struct whose zero values are documented; libraries log only through the
// injected *slog.Logger, which discards by default. Errors are classified
// by wrapping one of ErrCouldNotRun, ErrGateFailed or ErrVerification, so
// that errors.Is sees both the class and the cause.
package evaluator
