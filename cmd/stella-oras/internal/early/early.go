// Package early hands an engine command line to the engine binary before
// the front's other packages (oras-go, cobra, the HTTP and TLS stacks)
// initialize. Go initializes, at each step, the first package in
// import-path order whose imports are all initialized; this one imports
// only os, runtime, syscall and internal/handoff (which imports nothing),
// so it runs right after os. An engine command then costs the front
// little more than its process start (#10: the cache-hit evaluate;
// TestEarlyHandoff holds it so).
//
// It looks for the engine next to the front's executable only, with no
// path/filepath or os/exec (importing them would make this package wait
// for the packages sorted before them). Anything else, an engine found on
// PATH or an exec that failed, and every platform without exec(2), is
// left to main, which reports what went wrong.
package early

import (
	"os"
	"runtime"
	"syscall"

	"github.com/stella-ops/stella-oras/internal/handoff"
)

// EngineBinary is the full command tree's binary.
const EngineBinary = "stella-engine"

func init() {
	if runtime.GOOS == "windows" || !handoff.EngineArgs(os.Args[1:]) {
		return
	}
	self, err := os.Executable()
	if err != nil {
		return
	}
	dir := self
	for len(dir) > 0 && dir[len(dir)-1] != '/' {
		dir = dir[:len(dir)-1]
	}
	bin := dir + EngineBinary
	if st, err := os.Stat(bin); err != nil || !st.Mode().IsRegular() {
		return
	}
	syscall.Exec(bin, append([]string{bin}, os.Args[1:]...), os.Environ())
}
