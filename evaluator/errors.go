package evaluator

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/stella-ops/stella-oras/registry"
	"github.com/stella-ops/stella-oras/verify"
)

// The three classes of failure, each with its own exit code in the CLI.
var (
	// ErrCouldNotRun: the operation could not be carried out (bad input,
	// I/O, network, a registry that refused a push).
	ErrCouldNotRun = errors.New("could not run")
	// ErrGateFailed: the operation ran and the verdict failed its gate.
	ErrGateFailed = errors.New("gate failed")
	// ErrVerification: a signature, digest or identity check failed.
	ErrVerification = errors.New("verification failed")
)

// Class returns the class sentinel err belongs to: ErrGateFailed,
// ErrVerification (also for registry.ErrDigestMismatch and
// verify.ErrVerification, which are verification failures wherever they
// arise), else ErrCouldNotRun; nil for nil.
func Class(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrGateFailed):
		return ErrGateFailed
	case errors.Is(err, ErrVerification), errors.Is(err, registry.ErrDigestMismatch), errors.Is(err, verify.ErrVerification):
		return ErrVerification
	}
	return ErrCouldNotRun
}

// gateFailed wraps a gate decision.
func gateFailed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrGateFailed, fmt.Sprintf(format, a...))
}

// verificationFailed wraps a verification failure, keeping the cause.
func verificationFailed(cause error, format string, a ...any) error {
	if cause == nil {
		return fmt.Errorf("%w: %s", ErrVerification, fmt.Sprintf(format, a...))
	}
	return fmt.Errorf("%w: %s: %w", ErrVerification, fmt.Sprintf(format, a...), cause)
}

// ErrNoSBOM: the image has no SBOM referrer.
var ErrNoSBOM = errors.New("no SBOM")

// ErrAmbiguousSBOM: several SBOM referrers that the choice rule cannot
// settle.
var ErrAmbiguousSBOM = errors.New("ambiguous SBOM")

// ErrWrongArtifact: a reference names an artifact of another kind (a feed
// reference whose tag points at something else).
var ErrWrongArtifact = errors.New("wrong artifact type")

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return l
}
