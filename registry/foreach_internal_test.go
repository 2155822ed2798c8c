package registry

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// TestForEach: every index runs once, never more than jobs at a time;
// the first error is returned and stops what has not started.
func TestForEach(t *testing.T) {
	for _, tc := range []struct{ n, jobs int }{{0, 8}, {1, 8}, {7, 3}, {100, 8}} {
		var mu sync.Mutex
		seen := map[int]int{}
		var running, most atomic.Int32
		err := forEach(context.Background(), tc.n, tc.jobs, func(_ context.Context, i int) error {
			r := running.Add(1)
			for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
			}
			mu.Lock()
			seen[i]++
			mu.Unlock()
			running.Add(-1)
			return nil
		})
		if err != nil || len(seen) != tc.n || int(most.Load()) > tc.jobs {
			t.Errorf("n %d jobs %d: %v, %d distinct of %d, %d at once", tc.n, tc.jobs, err, len(seen), tc.n, most.Load())
		}
		for i, c := range seen {
			if c != 1 {
				t.Errorf("n %d: index %d ran %d times", tc.n, i, c)
			}
		}
	}
	boom := errors.New("boom")
	var ran atomic.Int32
	// 0-2 succeed, 3 fails, each later one waits for the cancellation: at
	// most 4 + one a worker run.
	err := forEach(context.Background(), 1000, 2, func(ctx context.Context, i int) error {
		ran.Add(1)
		switch {
		case i == 3:
			return boom
		case i > 3:
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	if !errors.Is(err, boom) || ran.Load() > 4+2 {
		t.Errorf("after an error: %v, %d of 1000 ran", err, ran.Load())
	}
}
