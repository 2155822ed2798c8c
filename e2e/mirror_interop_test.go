package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

// TestMirrorLayoutInterop (#12 item 3): an OCI layout that `mirror`
// writes, and the archive `export` writes, are read by oras (--oci-layout: referrers from their subject
// fields), regctl (ocidir://: referrers from the referrers tag) and
// skopeo (oci:, the image); a layout that `oras cp -r` or `regctl image
// copy --referrers` writes is read by `mirror`, referrers included.
func TestMirrorLayoutInterop(t *testing.T) {
	oras := tool(t, "oras", "go install oras.land/oras/cmd/oras@v1.3.6")
	regctl := tool(t, "regctl", "go install github.com/regclient/regclient/cmd/regctl@v0.11.7")
	skopeo := tool(t, "skopeo", "apt-get install skopeo")
	x := runner{t, t.TempDir()}
	dir := t.TempDir()
	host := regtest.Start(t, regtest.Referrers)
	examples := filepath.Join(testutil.RepoRoot(), "examples", "quickstart")
	out := x.must(bin["native"], "sample-image", "--plain-http", host+"/app:v1")
	i := strings.Index(out, "sha256:")
	dgst := out[i : i+71]
	img := host + "/app@" + dgst
	var refs []string
	for _, f := range []string{"sbom.cdx.json", "vex.openvex.json"} {
		var res struct {
			Manifest struct {
				Digest string `json:"digest"`
			} `json:"manifest"`
		}
		if err := json.Unmarshal([]byte(x.must(bin["native"], "attach", "--plain-http", "--output", "json", img, filepath.Join(examples, f))), &res); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, res.Manifest.Digest)
	}
	home := t.TempDir() // regctl's configuration
	rc := func(args ...string) string {
		t.Helper()
		out, errs, code := runCode(t, []string{"HOME=" + home}, "", regctl, args...)
		if code != 0 {
			t.Fatalf("regctl %v: exit %d: %s", args, code, errs)
		}
		return out
	}
	rc("registry", "set", "--tls", "disabled", host)
	hasAll := func(who, listing string) {
		t.Helper()
		for _, r := range refs {
			if !strings.Contains(listing, r) {
				t.Errorf("%s does not list referrer %s:\n%s", who, r, listing)
			}
		}
	}

	ours := filepath.Join(dir, "ours")
	x.must(bin["native"], "mirror", "--plain-http", "--no-state", img, "oci:"+ours+":v1")
	hasAll("oras discover --oci-layout", x.must(oras, "discover", "--oci-layout", ours+"@"+dgst))
	hasAll("regctl artifact list ocidir://", rc("artifact", "list", "ocidir://"+ours+"@"+dgst))
	raw := x.must(skopeo, "inspect", "--raw", "oci:"+ours+":v1")
	if sum := sha256.Sum256([]byte(raw)); "sha256:"+hex.EncodeToString(sum[:]) != dgst {
		t.Errorf("skopeo inspect --raw oci:%s:v1 is not the image manifest %s", ours, dgst)
	}

	// What export writes, once unpacked (oras and regctl read layout
	// directories), is read the same way; skopeo reads the tar itself.
	archive := filepath.Join(dir, "export.tar")
	x.must(bin["native"], "export", "--plain-http", host+"/app:v1", "--density", "standard", "-o", archive)
	unpacked := filepath.Join(dir, "export")
	if err := os.MkdirAll(unpacked, 0o755); err != nil {
		t.Fatal(err)
	}
	x.must("tar", "-xf", archive, "-C", unpacked)
	hasAll("oras discover --oci-layout (export)", x.must(oras, "discover", "--oci-layout", unpacked+"@"+dgst))
	hasAll("regctl artifact list ocidir:// (export)", rc("artifact", "list", "ocidir://"+unpacked+"@"+dgst))
	raw = x.must(skopeo, "inspect", "--raw", "oci-archive:"+archive+":v1")
	if sum := sha256.Sum256([]byte(raw)); "sha256:"+hex.EncodeToString(sum[:]) != dgst {
		t.Errorf("skopeo inspect --raw oci-archive:%s:v1 is not the image manifest %s", archive, dgst)
	}

	for name, copyTo := range map[string]func(string){
		"oras cp -r": func(d string) {
			x.must(oras, "cp", "-r", "--from-plain-http", img, "--to-oci-layout", d+":v1")
		},
		"regctl image copy --referrers": func(d string) { rc("image", "copy", "--referrers", img, "ocidir://"+d+":v1") },
	} {
		d := filepath.Join(dir, strings.Fields(name)[0])
		copyTo(d)
		back := host + "/back-" + strings.Fields(name)[0]
		x.must(bin["native"], "mirror", "--plain-http", "--no-state", "oci:"+d+":v1", back)
		hasAll("discover after mirroring the layout of "+name, x.must(bin["native"], "discover", "--plain-http", back+"@"+dgst))
	}
}
