package bundle

import "testing"

// TestScryptWithinBoundary: the scrypt bounds at their edges. age's cost
// (N = 2^18, r = 8) loads: its table is exactly the 256 MiB bound. Before,
// the bound counted the lanes with the table, 128·r·(N + p + 2), which
// passed it by 18 KiB and refused the key.
func TestScryptWithinBoundary(t *testing.T) {
	for _, tc := range []struct {
		n, r, p int64
		ok      bool
	}{
		{1 << 14, 8, 1, true},    // openssl
		{1 << 15, 8, 1, true},    // cosign
		{1 << 18, 8, 1, true},    // age: a 256 MiB table
		{1 << 18, 8, 4, true},    // 1 GiB mixed: the bound
		{1 << 18, 8, 5, false},   // 1.25 GiB mixed
		{1<<18 + 1, 8, 1, false}, // the table past 256 MiB
		{1 << 19, 8, 1, false},
		{2, 1 << 20, 16, false}, // 2.25 GiB of lanes
		{1, 1 << 13, 15, false}, // 17 MiB of lanes
		{1, 1 << 13, 14, true},  // 16 MiB of lanes: the bound
		{0, 8, 1, false},
		{1 << 14, 8, 17, false},
	} {
		if got := scryptWithin(tc.n, tc.r, tc.p); got != tc.ok {
			t.Errorf("scryptWithin(N=%d, r=%d, p=%d) = %v, want %v", tc.n, tc.r, tc.p, got, tc.ok)
		}
	}
}
