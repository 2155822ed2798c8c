package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// variant is one more build of cmd/stella-engine that TestCrossBuild runs
// beside the native one.
type variant struct {
	name  string
	env   []string // go build's environment
	flags []string // go build's flags
	skip  string   // why it cannot be built here, if it cannot
	// setup makes the built binary runnable here, registering its
	// emulator if it needs one, and says how it runs.
	setup func(t *testing.T, binary string) (how string, err error)
}

func variants() []variant {
	vs := []variant{
		// Kernels without 32-bit support (some sandboxes) cannot exec a
		// 386 binary; qemu-user (installed by .ci/run) runs it instead.
		{name: "386", env: []string{"GOARCH=386", "CGO_ENABLED=0"}, setup: func(t *testing.T, b string) (string, error) {
			err := exec.Command(b, "version").Run()
			if err == nil {
				return "runs natively", nil
			}
			return useQemu(t, b, "qemu-i386", fmt.Sprintf("this kernel cannot exec it: %v", err))
		}},
		{name: "arm64", env: []string{"GOARCH=arm64", "CGO_ENABLED=0"}, setup: func(t *testing.T, b string) (string, error) {
			if runtime.GOARCH == "arm64" {
				return "runs natively", nil
			}
			return useQemu(t, b, "qemu-aarch64", "")
		}},
		{name: "windows", env: []string{"GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0"}, setup: func(t *testing.T, b string) (string, error) {
			if runtime.GOOS == "windows" {
				return "runs natively", nil
			}
			return useWine(t, b)
		}},
		{name: "race", env: []string{"CGO_ENABLED=1"}, flags: []string{"-race"}, setup: func(*testing.T, string) (string, error) {
			return "runs natively", nil
		}},
	}
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		vs[3].skip = "no race detector on " + runtime.GOARCH
	}
	return vs
}

// emu is how a binary that cannot run natively runs here.
type emu struct {
	argv []string // the emulator and its arguments; the binary follows
	env  []string
	// path turns a host path into one the binary can open (nil: as is).
	path func(string) string
}

// emulator maps a binary to the program that runs it, when it cannot run
// natively.
var emulator = map[string]*emu{}

// useQemu runs binary under Debian's qemu-user (qemu-i386, qemu-aarch64)
// or qemu-user-static (…-static).
func useQemu(t *testing.T, binary, name, why string) (string, error) {
	q, err := exec.LookPath(name)
	if err != nil {
		if q, err = exec.LookPath(name + "-static"); err != nil {
			return "", fmt.Errorf("%s is not installed (Debian: qemu-user)", name)
		}
	}
	// Go's asynchronous preemption signals crash under qemu-user.
	emulator[binary] = &emu{argv: []string{q}, env: []string{"GODEBUG=asyncpreemptoff=1"}}
	if _, err := probe(binary); err != nil {
		return "", err
	}
	how := "under " + q + " (GODEBUG=asyncpreemptoff=1)"
	if why != "" {
		how += ": " + why
	}
	return how, nil
}

// useWine runs a Windows binary under Wine, in a fresh prefix that is
// removed (and its wineserver stopped) when the test ends.
func useWine(t *testing.T, binary string) (string, error) {
	wine, env, how, err := winePrefix(t)
	if err != nil {
		return "", err
	}
	emulator[binary] = &emu{argv: []string{wine}, env: env, path: winPath}
	out, err := probe(binary)
	if err != nil {
		return "", err
	}
	if !strings.Contains(out, "windows/amd64") {
		return "", fmt.Errorf("%s version under wine: %q names no windows/amd64 platform", binary, out)
	}
	return how, nil
}

// winePrefix makes a fresh Wine prefix, removed (and its wineserver
// stopped) when the test ends, and returns wine, the environment that
// selects the prefix, and how it was made.
func winePrefix(t *testing.T) (wine string, env []string, how string, err error) {
	wine, err = exec.LookPath("wine")
	if err != nil {
		return "", nil, "", fmt.Errorf("wine is not installed (Debian: wine wine64)")
	}
	prefix := t.TempDir()
	env = []string{
		"WINEPREFIX=" + prefix,
		"WINEDEBUG=-all",
		// A fresh prefix would offer to install Wine Mono and Gecko;
		// a Go binary needs neither.
		"WINEDLLOVERRIDES=mscoree,mshtml=",
	}
	t.Cleanup(func() {
		// Runs before the prefix is removed; a wineserver otherwise
		// lingers for a few seconds after the last program exits.
		k := exec.Command("wineserver", "-k")
		k.Env = append(os.Environ(), env...)
		_ = k.Run()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	boot := exec.CommandContext(ctx, wine, "wineboot", "-i")
	boot.Env = append(os.Environ(), env...)
	start := time.Now()
	if b, err := boot.CombinedOutput(); err != nil {
		return "", nil, "", fmt.Errorf("creating a Wine prefix: %v: %s", err, b)
	}
	how = fmt.Sprintf("under %s (%s, a fresh prefix in %s", wine, wineVersion(wine), time.Since(start).Round(time.Millisecond))
	// Go's runtime needs ProcessPrng from bcryptprimitives.dll (every
	// Windows 10 has it), which Debian bookworm's Wine 8.0 lacks: give
	// the prefix a DLL whose one export forwards to advapi32's
	// RtlGenRandom (SystemFunction036), the same (buffer, length)
	// -> nonzero-on-success function.
	dll := filepath.Join(prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll")
	if _, err := os.Stat(dll); os.IsNotExist(err) {
		if err := os.WriteFile(dll, forwarderDLL("bcryptprimitives.dll", map[string]string{"ProcessPrng": "advapi32.SystemFunction036"}), 0o644); err != nil {
			return "", nil, "", err
		}
		how += ", with a bcryptprimitives.dll forwarding ProcessPrng to RtlGenRandom"
	}
	return wine, env, how + ")", nil
}

// TestWindowsUnitTests runs, under Wine, the Windows build of unit tests
// whose subject is how Windows differs: replacing a file another process
// has open (a layout's index.json while another command reads the
// layout), which Windows refuses as a rename. With CI=true a missing Wine
// fails the test, elsewhere it is skipped with the reason.
func TestWindowsUnitTests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Windows test binary; skipped with -short")
	}
	if runtime.GOOS == "windows" {
		t.Skip("on Windows these run natively, with go test")
	}
	wine, env, how, err := winePrefix(t)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("skipped: %v", err)
	}
	t.Logf("Wine: %s", how)
	for pkg, tests := range map[string]string{"internal/atomicfile": "^TestReplaceWhileOpen$"} {
		exe := filepath.Join(t.TempDir(), filepath.Base(pkg)+".test.exe")
		b := exec.Command("go", "test", "-c", "-o", exe, "./"+pkg)
		b.Dir = testutil.RepoRoot()
		b.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
		if out, err := b.CombinedOutput(); err != nil {
			t.Fatalf("building %s's tests for Windows: %v: %s", pkg, err, out)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, wine, exe, "-test.run", tests, "-test.v")
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "--- PASS") || strings.Contains(string(out), "--- FAIL") {
			t.Errorf("%s %s under Wine: %v:\n%s", pkg, tests, err, out)
		}
	}
}

// probe runs "binary version" the way runEval will run it.
func probe(binary string) (string, error) {
	e := emulator[binary]
	cmd := exec.Command(e.argv[0], slices.Concat(e.argv[1:], []string{binary, "version"})...)
	cmd.Env = append(os.Environ(), e.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s version: %v: %s", e.argv[0], binary, err, stderr.Bytes())
	}
	return string(out), nil
}

func wineVersion(wine string) string {
	b, err := exec.Command(wine, "--version").Output()
	if err != nil {
		return "unknown version"
	}
	return strings.TrimSpace(string(b))
}

// winPath is an absolute host path as a Windows program under Wine sees
// it: Wine maps drive Z: to /. Windows separators, so the binary's own
// path handling is the one a Windows user gets.
func winPath(p string) string {
	return `Z:` + strings.ReplaceAll(p, "/", `\`)
}

// forwarderDLL returns a PE32+ (x86-64) DLL without code whose exports
// each forward to another DLL's export ("advapi32.SystemFunction036"):
// the export table's address entries point at the forwarder strings inside
// the export directory (PE/COFF specification, "Export Address Table").
func forwarderDLL(name string, forward map[string]string) []byte {
	const (
		fileAlign = 0x200
		sectAlign = 0x1000
		rva       = 0x1000 // of the one section, the export directory
	)
	names := make([]string, 0, len(forward))
	for n := range forward {
		names = append(names, n)
	}
	sort.Strings(names) // the loader binary-searches the name table
	n := uint32(len(names))
	// The section: the 40-byte export directory, the address table, the
	// name pointer table, the ordinal table, then the strings.
	eat := uint32(40)
	npt := eat + 4*n
	ot := npt + 4*n
	var strs bytes.Buffer
	str := func(s string) uint32 {
		off := rva + ot + 2*n + uint32(strs.Len())
		strs.WriteString(s + "\x00")
		return off
	}
	dllName := str(name)
	nameRVA, fwdRVA := make([]uint32, n), make([]uint32, n)
	for i, nm := range names {
		nameRVA[i], fwdRVA[i] = str(nm), str(forward[nm])
	}
	var sec bytes.Buffer
	w := func(v any) { _ = binary.Write(&sec, binary.LittleEndian, v) }
	w([4]uint32{0, 0, 0, dllName}) // flags, time stamp, version, name
	w([6]uint32{1, n, n, rva + eat, rva + npt, rva + ot})
	w(fwdRVA)
	w(nameRVA)
	for i := range names {
		w(uint16(i))
	}
	sec.Write(strs.Bytes())
	size := uint32(sec.Len())
	raw := (size + fileAlign - 1) &^ (fileAlign - 1)

	var f bytes.Buffer
	h := func(v any) { _ = binary.Write(&f, binary.LittleEndian, v) }
	dos := make([]byte, 64)
	copy(dos, "MZ")
	binary.LittleEndian.PutUint32(dos[0x3c:], 64) // e_lfanew
	f.Write(dos)
	f.WriteString("PE\x00\x00")
	// COFF header: AMD64, one section, no symbols, a 240-byte optional
	// header; an executable image, large address aware, a DLL.
	h([2]uint16{0x8664, 1})
	h([3]uint32{0, 0, 0})
	h([2]uint16{240, 0x2022})
	// PE32+ optional header. No entry point: a DLL may have none.
	h(uint16(0x20b))
	h([2]uint8{14, 0})
	h([5]uint32{0, raw, 0, 0, rva}) // code, data, bss sizes, entry point, base of code
	h(uint64(0x180000000))          // image base; no absolute addresses, so no relocations needed
	h([2]uint32{sectAlign, fileAlign})
	h([6]uint16{6, 0, 0, 0, 6, 0}) // OS, image and subsystem versions
	h(uint32(0))
	h([3]uint32{rva + (size+sectAlign-1)&^(sectAlign-1), fileAlign, 0}) // image size, header size, checksum
	h([2]uint16{3, 0x100})                                              // console subsystem; NX compatible
	h([4]uint64{0x100000, 0x1000, 0x100000, 0x1000})                    // stack and heap reserve, commit
	h([2]uint32{0, 16})                                                 // loader flags, data directories
	h([2]uint32{rva, size})                                             // the export table
	h(make([]byte, 15*8))
	// The section header: initialized, readable data.
	f.WriteString(".edata\x00\x00")
	h([4]uint32{size, rva, raw, fileAlign})
	h([3]uint32{0, 0, 0})
	h(uint32(0x40000040))
	f.Write(make([]byte, fileAlign-f.Len()))
	f.Write(sec.Bytes())
	f.Write(make([]byte, int(raw)-sec.Len()))
	return f.Bytes()
}

// TestCommandsCompile: every command compiles for each platform that
// TestCrossBuild runs the engine on (`go install ./cmd/...` there is one
// command too): a constant that fits only a 64-bit int (stella-schema's
// 4 GiB bound once) breaks the 32-bit build of that command alone, which
// TestCrossBuild's engine build does not see.
func TestCommandsCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles every command for three more platforms; skipped with -short")
	}
	for _, v := range variants() {
		if len(v.flags) > 0 {
			continue // the race build: same platform as the native one
		}
		t.Run(v.name, func(t *testing.T) {
			cmd := exec.Command("go", "build", "./cmd/...")
			cmd.Dir = testutil.RepoRoot()
			cmd.Env = append(os.Environ(), v.env...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build ./cmd/... with %v: %v\n%s", v.env, err, b)
			}
		})
	}
}
