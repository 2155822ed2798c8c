package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"unicode/utf8"

	"github.com/stella-ops/stella-oras/evaluator"
)

// Exit codes, the same in every command (README "Exit codes").
const (
	ExitOK           = 0 // success; also a verdict of pass, or warn without --fail-on warn
	ExitError        = 1 // the tool could not run: bad input, I/O, network
	ExitUsage        = 2 // wrong flags or arguments
	ExitGateFailed   = 3 // the verdict failed the gate
	ExitVerifyFailed = 4 // a signature or digest check failed
)

// usageError marks wrong flags or arguments.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// reported wraps an error whose message was already printed: it sets the
// exit code and prints nothing more.
type reported struct{ err error }

func (e reported) Error() string { return e.err.Error() }
func (e reported) Unwrap() error { return e.err }

// interrupted is a command stopped by a signal (its context cancelled):
// exit 1, "interrupted".
type interrupted struct{ err error }

func (e interrupted) Error() string {
	if e.err == context.Canceled {
		return "interrupted"
	}
	return "interrupted: " + e.err.Error()
}
func (e interrupted) Unwrap() error { return e.err }

// outputError is a failed write of a command's result to stdout: exit 1,
// "writing output: no space left on device".
type outputError struct{ err error }

func (e outputError) Error() string {
	var oe outputError
	if errors.As(e.err, &oe) {
		return oe.Error()
	}
	cause := e.err
	var pe *fs.PathError
	if errors.As(cause, &pe) {
		cause = pe.Err // "no space left on device", not "write /dev/stdout: …"
	}
	return "writing output: " + cause.Error()
}
func (e outputError) Unwrap() error { return e.err }

// errGate is returned when a verdict fails the gate. Its message has been
// printed with the verdict already.
var errGate = evaluator.ErrGateFailed

// errVerify is wrapped by verification failures.
var errVerify = evaluator.ErrVerification

// exitCode maps an error to its exit code, in this one place.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	}
	switch evaluator.Class(err) {
	case evaluator.ErrGateFailed:
		return ExitGateFailed
	case evaluator.ErrVerification:
		return ExitVerifyFailed
	}
	return ExitError
}

// maxErrorLine bounds an error line: messages can quote input (a JSON
// number of a million digits made a megabyte-long line).
const maxErrorLine = 1000

// oneLine is msg on one line, cut to maxErrorLine bytes (at a rune
// boundary) with the length said.
func oneLine(msg string) string {
	msg = strings.ReplaceAll(msg, "\n", " ")
	if len(msg) <= maxErrorLine {
		return msg
	}
	cut := maxErrorLine
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes in all)", msg[:cut], len(msg))
}

// hint says what to do about the errors whose fix is a flag ("" for others).
func hint(msg string) string {
	if strings.Contains(msg, "server gave HTTP response to HTTPS client") {
		return " (the registry speaks plain HTTP: add --plain-http)"
	}
	return ""
}

// report prints the error once, on one line, and returns the exit code.
// A usage error points at the help of cmdPath, the command that refused
// it ("stella-oras key generate").
func report(stderr io.Writer, err error, cmdPath string) int {
	code := exitCode(err)
	var done reported
	if err != nil && !errors.Is(err, errGate) && !errors.As(err, &done) {
		fmt.Fprintf(stderr, "Error: %s%s\n", oneLine(err.Error()), hint(err.Error()))
		if code == ExitUsage {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmdPath)
		}
	}
	return code
}
