package canon

import (
	"errors"
	"fmt"
)

// ErrInvalid is the root of every error canon returns for input that is not
// acceptable I-JSON (RFC 7493); all other sentinels wrap it.
var ErrInvalid = errors.New("invalid JSON")

var (
	// ErrSyntax reports malformed JSON: an unexpected byte or end of input.
	ErrSyntax = fmt.Errorf("%w: syntax error", ErrInvalid)
	// ErrDuplicateKey reports an object with the same member name twice
	// (after NFC normalization when it is enabled).
	ErrDuplicateKey = fmt.Errorf("%w: duplicate object key", ErrInvalid)
	// ErrInvalidUTF8 reports bytes that are not valid UTF-8.
	ErrInvalidUTF8 = fmt.Errorf("%w: invalid UTF-8", ErrInvalid)
	// ErrLoneSurrogate reports a \u escape of a surrogate that is not part
	// of a valid pair.
	ErrLoneSurrogate = fmt.Errorf("%w: lone surrogate", ErrInvalid)
	// ErrNumberRange reports a number whose magnitude is beyond IEEE-754
	// double precision (it would become ±Infinity).
	ErrNumberRange = fmt.Errorf("%w: number outside IEEE-754 double range", ErrInvalid)
	// ErrTooDeep reports nesting beyond Options.MaxDepth.
	ErrTooDeep = fmt.Errorf("%w: nesting too deep", ErrInvalid)
	// ErrTrailingData reports bytes after the top-level value.
	ErrTrailingData = fmt.Errorf("%w: data after top-level value", ErrInvalid)
)

// Error locates a problem in the input by byte offset. Err is one of the
// sentinels above, so callers use errors.Is.
type Error struct {
	Offset int64  // byte offset into the input, 0-based
	Err    error  // the sentinel
	Detail string // optional detail, e.g. the duplicated key
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("byte offset %d: %v: %s", e.Offset, e.Err, e.Detail)
	}
	return fmt.Sprintf("byte offset %d: %v", e.Offset, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }
