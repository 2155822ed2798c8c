package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"unicode/utf8"

	"github.com/stella-ops/stella-oras/registry"
)

// Exit codes, the same in every command (README "Exit codes").
const (
	ExitOK           = 0 // success; also a verdict of pass, or warn without --fail-on warn
	ExitError        = 1 // the tool could not run: bad input, I/O, network
	ExitUsage        = 2 // wrong flags or arguments
	ExitGateFailed   = 3 // the verdict failed the gate
	ExitVerifyFailed = 4 // a signature or digest check failed
)

// UsageError marks wrong flags or arguments.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef is a UsageError of a formatted message.
func Usagef(format string, a ...any) error { return UsageError{Err: fmt.Errorf(format, a...)} }

// Reported wraps an error whose message was already printed: it sets the
// exit code and prints nothing more.
type Reported struct{ Err error }

func (e Reported) Error() string { return e.Err.Error() }
func (e Reported) Unwrap() error { return e.Err }

// Interrupted is a command stopped by a signal (its context cancelled):
// exit 1, "interrupted".
type Interrupted struct{ Err error }

func (e Interrupted) Error() string {
	if e.Err == context.Canceled {
		return "interrupted"
	}
	return "interrupted: " + e.Err.Error()
}
func (e Interrupted) Unwrap() error { return e.Err }

// OutputError is a failed write of a command's result to stdout: exit 1,
// "writing output: no space left on device".
type OutputError struct{ Err error }

func (e OutputError) Error() string {
	var oe OutputError
	if errors.As(e.Err, &oe) {
		return oe.Error()
	}
	cause := e.Err
	var pe *fs.PathError
	if errors.As(cause, &pe) {
		cause = pe.Err // "no space left on device", not "write /dev/stdout: …"
	}
	return "writing output: " + cause.Error()
}
func (e OutputError) Unwrap() error { return e.Err }

// Classify maps an error that is neither nil nor a usage error to its exit
// code: ExitError, ExitGateFailed or ExitVerifyFailed. The default knows
// the registry's errors, which are all the light commands (this package's)
// return; the engine, whose commands return the evaluator's as well, sets
// it to its classification over evaluator.Class before it runs a command.
// A variable, not an import: the evaluator links the whole engine, which
// the front binary (cmd/stella-oras) must not (#11 section 2).
var Classify = func(err error) int {
	if errors.Is(err, registry.ErrDigestMismatch) {
		return ExitVerifyFailed
	}
	return ExitError
}

// ExitCode maps an error to its exit code, in this one place.
func ExitCode(err error) int {
	var ue UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	}
	return Classify(err)
}

// MaxErrorLine bounds an error line: messages can quote input (a JSON
// number of a million digits made a megabyte-long line).
const MaxErrorLine = 1000

// OneLine is msg on one line, cut to MaxErrorLine bytes (at a rune
// boundary) with the length said.
func OneLine(msg string) string {
	msg = strings.ReplaceAll(msg, "\n", " ")
	if len(msg) <= MaxErrorLine {
		return msg
	}
	cut := MaxErrorLine
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes in all)", msg[:cut], len(msg))
}

// Hint says what to do about the errors whose fix is a flag ("" for others).
func Hint(msg string) string {
	if plainHTTP(msg) {
		return " (the registry speaks plain HTTP: add --plain-http)"
	}
	return ""
}

// mirrorHint is Hint for mirror, whose two registries each have a flag.
func mirrorHint(msg string) string {
	if plainHTTP(msg) {
		return " (the registry speaks plain HTTP: add --plain-http, or --from-plain-http or --to-plain-http for one side)"
	}
	return ""
}

func plainHTTP(msg string) bool {
	return strings.Contains(msg, "server gave HTTP response to HTTPS client")
}

// Report prints the error once, on one line, and returns the exit code.
// A usage error points at the help of cmdPath, the command that refused
// it ("stella-oras key generate").
func Report(stderr io.Writer, err error, cmdPath string) int {
	code := ExitCode(err)
	var done Reported
	if err != nil && code != ExitGateFailed && !errors.As(err, &done) {
		hint := Hint
		if strings.HasSuffix(cmdPath, " mirror") {
			hint = mirrorHint
		}
		fmt.Fprintf(stderr, "Error: %s%s\n", OneLine(err.Error()), hint(err.Error()))
		if code == ExitUsage {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmdPath)
		}
	}
	return code
}
