package registry

import "errors"

// Sentinel errors. Callers map them to exit codes with errors.Is.
var (
	// ErrReference: a reference that does not parse.
	ErrReference = errors.New("invalid reference")
	// ErrNotFound: the manifest or blob does not exist.
	ErrNotFound = errors.New("not found")
	// ErrTooLarge: content exceeds a limit.
	ErrTooLarge = errors.New("content exceeds limit")
	// ErrDigestMismatch: content does not match the digest or size it was
	// addressed by.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrFallbackIndex: the referrers tag resolves to something that is
	// not a referrers index (e.g. the subject itself, oras-go#1396).
	ErrFallbackIndex = errors.New("invalid referrers tag")
	// ErrUnsafePath: an archive or artifact names a path outside its root.
	ErrUnsafePath = errors.New("unsafe path")
	// ErrCrossOrigin: a referrers page's Link names another scheme, host
	// or port.
	ErrCrossOrigin = errors.New("cross-origin referrers page link")
	// ErrExists: a file the command would write is already there.
	ErrExists = errors.New("already exists")
)
