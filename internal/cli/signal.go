package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// SignalGrace is how long a command may run on after the first SIGINT or
// SIGTERM before the process ends without it (SignalContext): longer than
// what a cancelled command does on its way out (the DELETE of an unused
// upload session takes up to 5 s, registry.cancelUpload), as long as
// docker stop waits before its SIGKILL.
const SignalGrace = 10 * time.Second

// SignalContext is the context of a command run as a process. The first
// SIGINT or SIGTERM cancels it; the command stops at its next check and
// reports "interrupted", having removed what it had begun to write. The
// signals' default disposition then comes back, so a second one ends the
// process at once. And a command still running grace after the first
// signal, blocked where no context reaches (opening a FIFO nobody writes,
// a hung network file system), is ended then: one line on stderr, exit
// ExitError. Before, one SIGTERM, all that timeout(1) or a CI runner's
// first stop sends, could not end such a command. stop releases the
// signals; call it when the command returns.
func SignalContext(stderr io.Writer, grace time.Duration, exit func(int)) (ctx context.Context, stop func()) {
	ctx, release := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		release()
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			fmt.Fprintf(stderr, "Error: interrupted, and the command did not stop within %s of the signal: ended\n", grace)
			exit(ExitError)
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			close(done)
			release()
		})
	}
}
