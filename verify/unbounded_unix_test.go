//go:build unix

package verify

import (
	"errors"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// TestBundleBoundCountedAsRead: a bundle or trusted root from a pipe or a
// device is bounded by the bytes read. Before, the bound was taken from
// stat (size 0 for these), and `verify-bundle /dev/zero` was read until
// the process ran out of memory (#11 1.4).
func TestBundleBoundCountedAsRead(t *testing.T) {
	const offered = 64 << 20 // four times the bounds
	p, read := testutil.Fifo(t, nil, ' ', offered)
	_, err := VerifyBundle(p, BundleOptions{})
	if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("bundle from a pipe past the bound: %v, want a verification failure saying it is too large", err)
	}
	if n := read(); n >= offered {
		t.Errorf("the bundle's reader took all %d bytes offered, want it to stop past %d", n, MaxBundleBytes)
	}
	p, read = testutil.Fifo(t, nil, ' ', offered)
	_, err = trustedRootFile(p)
	if err == nil || !strings.Contains(err.Error(), "exceeds size limit") {
		t.Fatalf("trusted root from a pipe past the bound: %v, want the size limit", err)
	}
	if n := read(); n >= offered {
		t.Errorf("the trusted root's reader took all %d bytes offered, want it to stop past %d", n, maxTrustedRootBytes)
	}
}
