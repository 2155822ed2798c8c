package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// storedBlobs are the digests whose content a distribution storage root
// holds whole (blobs and manifests alike).
func storedBlobs(root string) map[string]bool {
	held := map[string]bool{}
	filepath.WalkDir(filepath.Join(root, "docker/registry/v2/blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "data" {
			held["sha256:"+filepath.Base(filepath.Dir(p))] = true
		}
		return nil
	})
	return held
}

// linkedBlobs are the digests repository repo of a distribution storage
// root holds whole and links (what the registry answers a HEAD for: a
// blob killed between its move into the store and its link is there but
// not the repository's).
func linkedBlobs(root, repo string) map[string]bool {
	held := map[string]bool{}
	for d := range storedBlobs(root) {
		link := filepath.Join(root, "docker/registry/v2/repositories", repo, "_layers/sha256", strings.TrimPrefix(d, "sha256:"), "link")
		if b, err := os.ReadFile(link); err == nil && strings.TrimSpace(string(b)) == d {
			held[d] = true
		}
	}
	return held
}

// TestMirrorDestinationKilled (#12, faults): the destination registry is
// killed (SIGKILL) in the middle of a mirror: the mirror fails with one
// line and exit 1, saving in its state what it completed; the
// destination, restarted, is mirrored into again, and the rerun sends
// only blobs the destination did not hold whole and linked into the
// repository (nothing twice), after
// which a plan from scratch finds nothing missing.
func TestMirrorDestinationKilled(t *testing.T) {
	ctx := context.Background()
	srcHost := regtest.Start(t, regtest.Referrers)
	ref, _ := registry.ParseReference(srcHost + "/app")
	src, err := registry.Open(ctx, ref, registry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	img := regtest.PushImage(t, src.Store, "v1")
	for i := range 120 {
		r, err := registry.Attach(ctx, src, img, fmt.Appendf(nil, `{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"urn:uuid:%d"}`, i), registry.AttachOptions{ArtifactType: "application/vnd.cyclonedx+json", MediaType: "application/vnd.cyclonedx+json"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := registry.Attach(ctx, src, r, fmt.Appendf(nil, `{"bundle":%d}`, i), registry.AttachOptions{ArtifactType: artifacts.MediaTypeSigstoreBundle, MediaType: artifacts.MediaTypeSigstoreBundle}); err != nil {
			t.Fatal(err)
		}
	}
	dst := &servedRegistry{t: t, addr: freePort(t), root: filepath.Join(t.TempDir(), "dst")}
	dst.start()
	t.Cleanup(dst.stop)
	state := t.TempDir()
	x := runner{t, t.TempDir()}
	source := srcHost + "/app@" + img.Digest.String()
	mirror := exec.Command(bin["native"], "mirror", "--plain-http", "--state-dir", state, source, dst.addr+"/app")
	var stderr strings.Builder
	mirror.Stderr = &stderr
	if err := mirror.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(storedBlobs(dst.root)) < 100 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	dst.stop()
	err = mirror.Wait()
	if code := mirror.ProcessState.ExitCode(); code != 1 || strings.Count(stderr.String(), "\n") != 1 {
		t.Fatalf("mirror with the destination killed: %v, exit %d, stderr %q; want exit 1 and one line", err, code, stderr.String())
	}
	held := linkedBlobs(dst.root, "app")
	dst.start()
	out := x.must(bin["native"], "mirror", "--plain-http", "--state-dir", state, "--output", "json", source, dst.addr+"/app")
	var res struct {
		Images []struct {
			Report struct {
				Blobs []struct {
					Digest string `json:"digest"`
					State  string `json:"state"`
				} `json:"blobs"`
				Manifests []struct {
					State string `json:"state"`
				} `json:"manifests"`
			} `json:"report"`
		} `json:"images"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	copied, present := 0, 0
	for _, b := range res.Images[0].Report.Blobs {
		switch {
		case b.State == "copied" && held[b.Digest]:
			t.Errorf("the rerun sent %s again, which the destination held whole", b.Digest)
		case b.State == "present" && !held[b.Digest]:
			t.Errorf("the rerun took %s as present, which the destination did not hold", b.Digest)
		case b.State == "copied":
			copied++
		case b.State == "present":
			present++
		}
	}
	// The failed run saved what it completed: those manifests are known
	// to the rerun and not walked again; the rest is sent, or found.
	known := 0
	for _, m := range res.Images[0].Report.Manifests {
		if m.State == "known" {
			known++
		}
	}
	if copied == 0 || known == 0 || known == 241 {
		t.Errorf("rerun: %d blobs sent, %d present, %d manifests known from the failed run's state; want some sent and some known (the kill came mid-way)", copied, present, known)
	}
	// Nothing is missing now: a plan from scratch finds everything there.
	plan := x.must(bin["native"], "mirror", "--plain-http", "--no-state", "--dry-run", "--output", "json", source, dst.addr+"/app")
	if strings.Contains(plan, `"planned"`) {
		t.Errorf("after the rerun, a dry run still plans copies:\n%s", plan)
	}
}

// TestMirrorDiskFull (#12, faults): a mirror into an OCI layout on a
// filesystem that fills up (a 1 MiB tmpfs; needs root to mount) fails
// with one line and exit 1, and the layout never lists a manifest whose
// blobs it lacks.
func TestMirrorDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root: skipping")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s): skipping", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	ctx := context.Background()
	host := regtest.Start(t, regtest.Referrers)
	ref, _ := registry.ParseReference(host + "/app")
	src, err := registry.Open(ctx, ref, registry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	img := regtest.PushImage(t, src.Store, "v1")
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if _, err := registry.Attach(ctx, src, img, big, registry.AttachOptions{ArtifactType: "application/vnd.example.big", MediaType: "application/octet-stream"}); err != nil {
		t.Fatal(err)
	}
	// A layout tar: the same failure, and nothing left, not the archive
	// nor its temporary file.
	_, stderr, code := runCode(t, nil, "", bin["native"], "mirror", "--plain-http", "--no-state", host+"/app:v1", "oci-archive:"+filepath.Join(mnt, "a.tar"))
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "no space left on device") {
		t.Fatalf("mirror into a layout tar on a full disk: exit %d, stderr %q; want exit 1, one line saying no space is left", code, stderr)
	}
	if ents, _ := os.ReadDir(mnt); len(ents) != 0 {
		t.Fatalf("a failed mirror into a layout tar left %v", ents)
	}
	lay := filepath.Join(mnt, "lay")
	_, stderr, code = runCode(t, nil, "", bin["native"], "mirror", "--plain-http", "--no-state", host+"/app:v1", "oci:"+lay)
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "no space left on device") {
		t.Fatalf("mirror onto a full disk: exit %d, stderr %q; want exit 1, one line saying no space is left", code, stderr)
	}
	// Whatever index.json lists, its blobs are all there.
	b, err := os.ReadFile(filepath.Join(lay, "index.json"))
	if err != nil {
		return // nothing listed at all
	}
	var idx struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("index.json after the failure: %v", err)
	}
	for _, m := range idx.Manifests {
		mb, err := os.ReadFile(filepath.Join(lay, "blobs", "sha256", strings.TrimPrefix(m.Digest, "sha256:")))
		if err != nil {
			t.Errorf("index.json lists %s, which the layout lacks", m.Digest)
			continue
		}
		var mf struct {
			Config struct {
				Digest string `json:"digest"`
			} `json:"config"`
			Layers []struct {
				Digest string `json:"digest"`
			} `json:"layers"`
		}
		json.Unmarshal(mb, &mf)
		for _, d := range append([]string{mf.Config.Digest}, func() (ds []string) {
			for _, l := range mf.Layers {
				ds = append(ds, l.Digest)
			}
			return
		}()...) {
			if d == "" {
				continue
			}
			if _, err := os.Stat(filepath.Join(lay, "blobs", "sha256", strings.TrimPrefix(d, "sha256:"))); err != nil {
				t.Errorf("index.json lists %s, whose blob %s the layout lacks", m.Digest, d)
			}
		}
	}
}
