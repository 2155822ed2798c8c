package embedded

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"
)

// TestDirectWrites: where the filesystem takes O_DIRECT (Linux's ext4 and
// xfs, where CI runs), the single POST uses it; buffers are aligned; the
// padded last block is cut back to the body's size; a write after it is
// refused.
func TestDirectWrites(t *testing.T) {
	for range 8 {
		if b := alignedBuf(chunkSize); uintptr(unsafe.Pointer(&b[0]))%directAlign != 0 || len(b) != chunkSize || cap(b) != chunkSize {
			t.Fatalf("alignedBuf: address %% %d = %d, len %d, cap %d", directAlign, uintptr(unsafe.Pointer(&b[0]))%directAlign, len(b), cap(b))
		}
	}
	dir := t.TempDir()
	if !directOK(dir) {
		if runtime.GOOS == "linux" && os.Getenv("CI") == "true" {
			t.Fatalf("%s does not take O_DIRECT writes", dir)
		}
		t.Skipf("%s does not take O_DIRECT writes (%s): the single POST writes through the page cache here", dir, runtime.GOOS)
	}
	p := filepath.Join(dir, "f")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|oDirect, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &directWriter{f: f}
	buf := alignedBuf(chunkSize)
	for i := range buf {
		buf[i] = byte(i)
	}
	if _, err := w.Write(buf); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Write(buf[:100]); err != nil || n != 100 {
		t.Fatalf("tail: %d, %v", n, err)
	}
	if _, err := w.Write(buf[:directAlign]); err != errAfterTail {
		t.Errorf("write after the tail: %v, want errAfterTail", err)
	}
	if err := f.Truncate(chunkSize + 100); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || len(got) != chunkSize+100 || got[chunkSize+99] != 99 || got[chunkSize-1] != byte((chunkSize-1)%256) {
		t.Errorf("file: %d bytes (%v)", len(got), err)
	}
}
