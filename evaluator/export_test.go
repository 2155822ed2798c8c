package evaluator_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// exportFixture is an evaluated two-platform image in a registry: an
// index tagged 1.0 of an amd64 and an arm64 manifest, each with the
// quickstart SBOM, the amd64 one with the quickstart VEX (itself signed
// by a VEX publisher) and a referrer of a type no density knows; each
// platform judged (a verdict artifact and its bundle) with a delta
// against the image itself (a delta artifact and its bundle).
type exportFixture struct {
	ref       string // REPO:1.0
	index     ocispec.Descriptor
	platforms []ocispec.Descriptor
	signer    *evaluator.Signer
	pub       []byte
	report    *evaluator.Report
	opts      registry.Options
}

func newExportFixture(t *testing.T, host string) *exportFixture {
	t.Helper()
	ctx := context.Background()
	opts := registry.Options{PlainHTTP: true}
	_, _, feedRef, polRef := setup(t, host+"/app", host+"/feeds", host+"/policies", opts)
	tg := open(t, host+"/app", opts)
	id, platforms := regtest.PushIndex(t, tg.Store, "1.0")
	amd, arm := platforms[0], platforms[1]
	plain := func(d ocispec.Descriptor) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
	}
	amd, arm = plain(amd), plain(arm)
	for _, p := range []ocispec.Descriptor{amd, arm} {
		attach(t, tg, p, example("quickstart/sbom.cdx.json"))
	}
	vex := attach(t, tg, amd, example("quickstart/vex.openvex.json"))
	if _, err := evaluator.Attest(ctx, tg, vex, evaluator.AttestOptions{PredicateType: "https://stella-ops.org/attestation/vex-signature/v1", Predicate: []byte(`{}`), Signer: newSigner(t)}); err != nil {
		t.Fatal(err)
	}
	if _, err := registry.Attach(ctx, tg, amd, []byte(`{"note":"unknown to every density"}`), registry.AttachOptions{ArtifactType: "application/vnd.example.other+json", MediaType: "application/vnd.example.other+json"}); err != nil {
		t.Fatal(err)
	}
	tg.Close()
	fx := &exportFixture{ref: host + "/app:1.0", index: id, platforms: []ocispec.Descriptor{amd, arm}, signer: newSigner(t), opts: opts}
	fx.pub, _ = fx.signer.PublicPEM()
	rep, err := evaluator.Evaluate(ctx, host+"/app@"+id.Digest.String(), evaluator.EvaluateOptions{
		Sources: evaluator.Sources{Feed: feedRef, Policy: polRef, Env: "prod"}, Signer: fx.signer, Registry: opts,
		Baseline: host + "/app@" + id.Digest.String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Images) != 2 || rep.Images[0].Delta == nil {
		t.Fatalf("evaluate: %d images, delta %v; want 2 with deltas", len(rep.Images), rep.Images[0].Delta)
	}
	fx.report = rep
	return fx
}

// tarFiles reads an archive's entries by name, checking every header
// field that makes it reproducible.
func tarFiles(t *testing.T, p string) (map[string][]byte, []string) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, names
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || h.Mode != 0o644 || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" ||
			h.ModTime.Unix() != 0 || len(h.PAXRecords) != 0 || h.Format != tar.FormatUSTAR {
			t.Errorf("%s: header %+v; want a USTAR regular file, 0644, 0/0, no names, mtime 0, no PAX records", h.Name, h)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
		names = append(names, h.Name)
	}
}

func coverageOf(t *testing.T, files map[string][]byte) evaluator.Coverage {
	t.Helper()
	var c evaluator.Coverage
	if err := json.Unmarshal(files["coverage.json"], &c); err != nil {
		t.Fatalf("coverage.json: %v", err)
	}
	return c
}

func categories(es []evaluator.CoverageEntry) []string {
	var out []string
	for _, e := range es {
		if !slices.Contains(out, e.Category) {
			out = append(out, e.Category)
		}
	}
	return out
}

// requestGate lets a test stop a registry: every request after stop is
// refused and counted.
type requestGate struct {
	stopped atomic.Bool
	after   atomic.Int64
}

func (g *requestGate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.stopped.Load() {
			g.after.Add(1)
			http.Error(w, "the registry is gone", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TestExportDensities: each density carries what it promises and says
// what it left out; from each archive alone, with the registry gone,
// every platform's verdict verifies under the key the archive carries,
// and strict's verdicts replay identical (lite's and standard's cannot:
// their inputs are not there).
func TestExportDensities(t *testing.T) {
	ctx := context.Background()
	gate := &requestGate{}
	host := regtest.StartWrapped(t, regtest.Referrers, gate.wrap)
	fx := newExportFixture(t, host)
	dir := t.TempDir()
	reports := map[string]*evaluator.ExportReport{}
	for _, density := range []string{evaluator.DensityLite, evaluator.DensityStandard, evaluator.DensityStrict} {
		rep, err := evaluator.Export(ctx, fx.ref, evaluator.ExportOptions{Density: density, Output: filepath.Join(dir, density+".tar"), Keys: [][]byte{fx.pub}, Registry: fx.opts})
		if err != nil {
			t.Fatalf("export %s: %v", density, err)
		}
		reports[density] = rep
	}
	gate.stopped.Store(true)

	want := map[string]struct{ in, out []string }{
		evaluator.DensityLite: {
			in:  []string{evaluator.CategoryImage, evaluator.CategoryVerdicts, evaluator.CategoryBundles, evaluator.CategoryReferrersTags},
			out: []string{evaluator.CategoryImageBlobs, evaluator.CategoryVerdictInputs, evaluator.CategoryBundles, evaluator.CategoryDocuments, evaluator.CategoryDeltas, evaluator.CategoryOther},
		},
		evaluator.DensityStandard: {
			in:  []string{evaluator.CategoryImage, evaluator.CategoryVerdicts, evaluator.CategoryBundles, evaluator.CategoryDocuments, evaluator.CategoryReferrersTags},
			out: []string{evaluator.CategoryImageBlobs, evaluator.CategoryVerdictInputs, evaluator.CategoryDeltas, evaluator.CategoryOther},
		},
		evaluator.DensityStrict: {
			in:  []string{evaluator.CategoryImage, evaluator.CategoryVerdicts, evaluator.CategoryVerdictInputs, evaluator.CategoryBundles, evaluator.CategoryDocuments, evaluator.CategoryDeltas, evaluator.CategoryReferrersTags},
			out: []string{evaluator.CategoryImageBlobs, evaluator.CategoryOther},
		},
	}
	pubID := keyIDOf(t, fx.pub)
	for density, rep := range reports {
		t.Run(density, func(t *testing.T) {
			p := rep.Output
			files, _ := tarFiles(t, p)
			cov := coverageOf(t, files)
			if got := categories(cov.Included); !slices.Equal(got, want[density].in) {
				t.Errorf("included %v, want %v", got, want[density].in)
			}
			if got := categories(cov.Omitted); !slices.Equal(got, want[density].out) {
				t.Errorf("omitted %v, want %v", got, want[density].out)
			}
			if cov.Complete != false || !cov.Verifiable || cov.Replayable != (density == evaluator.DensityStrict) {
				t.Errorf("complete %v verifiable %v replayable %v", cov.Complete, cov.Verifiable, cov.Replayable)
			}
			if cov.Image.Name != "app:1.0" || cov.Image.Digest != fx.index.Digest.String() || len(cov.Image.Platforms) != 2 || cov.Image.Platforms[0].Platform != "linux/amd64" {
				t.Errorf("image %+v", cov.Image)
			}
			// Every blob the archive names is one it holds, and the
			// totals count them.
			n, total := 0, int64(0)
			for name, b := range files {
				if hex, ok := strings.CutPrefix(name, "blobs/sha256/"); ok {
					if sum := sha256.Sum256(b); hexOf(sum[:]) != hex {
						t.Errorf("%s holds other content", name)
					}
					n++
					total += int64(len(b))
				}
			}
			if n != cov.Totals.Manifests+cov.Totals.Blobs || total != cov.Totals.Bytes || rep.Bytes != total {
				t.Errorf("%d blobs of %d bytes in the tar; coverage says %d+%d, %d bytes; report %d", n, total, cov.Totals.Manifests, cov.Totals.Blobs, cov.Totals.Bytes, rep.Bytes)
			}
			keyFile := "trust/keys/" + pubID + ".pub"
			if kb, ok := files[keyFile]; !ok || len(cov.Trust.Keys) != 1 || cov.Trust.Keys[0].File != keyFile {
				t.Fatalf("trust: %+v, %s in the tar: %v", cov.Trust, keyFile, ok)
			} else if pub, err := bundle.ParsePublicKey(kb); err != nil || keyIDOf(t, kb) != pubID {
				t.Errorf("%s: %v", keyFile, err)
			} else {
				_ = pub
			}
			// The readable report names each verdict and the exact commands.
			md, html := string(files["index.md"]), string(files["index.html"])
			for i, img := range fx.report.Images {
				v := rep.Verdicts[i]
				if v.Subject != fx.platforms[i].Digest.String() || v.Status != img.Status || v.RiskScore != img.RiskScore || v.VerdictDigest != img.VerdictDigest || len(v.Bundles) != 1 || v.Engine == "" || v.FeedEpoch == "" {
					t.Errorf("verdict %d: %+v; evaluate said %s %d %s", i, v, img.Status, img.RiskScore, img.VerdictDigest)
				}
				verify := "stella-oras verify oci-archive:" + density + ".tar@" + v.Subject + " --key " + keyFile + " --type " + bundle.PredicateVerdict
				replay := "stella-oras replay oci-archive:" + density + ".tar@" + v.Artifact
				for _, doc := range []string{md, html} {
					if !strings.Contains(doc, verify) || !strings.Contains(doc, v.Artifact) || strings.Contains(doc, replay) != (density == evaluator.DensityStrict) {
						t.Errorf("report: verify command %v, replay command %v (strict %v)", strings.Contains(doc, verify), strings.Contains(doc, replay), density == evaluator.DensityStrict)
					}
				}
			}
			if strings.Contains(md+html, host) || strings.Contains(string(files["coverage.json"]), host) {
				t.Errorf("the readable report names the registry %s", host)
			}

			// Offline: verify with the key taken from the archive, replay.
			key := files[keyFile]
			for _, pd := range fx.platforms {
				tg := open(t, "oci-archive:"+p+"@"+pd.Digest.String(), registry.Options{ReadOnly: true})
				vr, err := evaluator.VerifyImage(ctx, tg, pd, evaluator.VerifyImageOptions{Trust: evaluator.Trust{Keys: [][]byte{key}}, PredicateType: bundle.PredicateVerdict})
				tg.Close()
				if err != nil || !vr.Satisfied {
					t.Errorf("verify %s from the archive: %+v %v", pd.Digest, vr, err)
				}
			}
			for _, v := range rep.Verdicts {
				rs, err := evaluator.Replay(ctx, "oci-archive:"+p+"@"+v.Artifact, evaluator.ReplayOptions{})
				if density != evaluator.DensityStrict {
					if err == nil {
						t.Errorf("replay from a %s archive: %+v, want an error (no inputs)", density, rs)
					}
					continue
				}
				if err != nil || len(rs) != 1 || rs[0].Outcome != evaluator.ReplayIdentical || rs[0].Replayed != v.VerdictDigest {
					t.Errorf("replay %s from the archive: %+v %v", v.Artifact, rs, err)
				}
			}
		})
	}
	if n := gate.after.Load(); n != 0 {
		t.Errorf("%d requests reached the registry after the exports", n)
	}
}

func keyIDOf(t *testing.T, pem []byte) string {
	t.Helper()
	pub, err := bundle.ParsePublicKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	id, err := bundle.KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// TestExportDeterministic: the same content gives the same tar bytes —
// exported twice, under GOMAXPROCS 1 and 8, from the embedded registry
// (referrers API), from plain distribution (tag schema) and from an OCI
// layout holding a mirror of it; index.json and coverage.json are
// canonical JSON.
func TestExportDeterministic(t *testing.T) {
	ctx := context.Background()
	api, plain := regtest.Start(t, regtest.Referrers), regtest.Start(t, regtest.Plain)
	fx := newExportFixture(t, api)
	layout := "oci:" + filepath.Join(t.TempDir(), "app")
	for _, dst := range []string{plain + "/app", layout} {
		if _, err := registry.MirrorImages(ctx, []string{fx.ref}, dst, registry.MirrorRunOptions{Source: fx.opts, Destination: fx.opts}); err != nil {
			t.Fatal(err)
		}
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, density := range []string{evaluator.DensityLite, evaluator.DensityStandard, evaluator.DensityStrict} {
		var first []byte
		for i, src := range []struct {
			ref   string
			procs int
		}{{fx.ref, 1}, {fx.ref, 8}, {plain + "/app:1.0", 8}, {layout + ":1.0", 2}} {
			runtime.GOMAXPROCS(src.procs)
			p := filepath.Join(t.TempDir(), "app.tar")
			rep, err := evaluator.Export(ctx, src.ref, evaluator.ExportOptions{Density: density, Output: p, Keys: [][]byte{fx.pub}, Registry: fx.opts})
			if err != nil {
				t.Fatalf("%s export of %s: %v", density, src.ref, err)
			}
			b, _ := os.ReadFile(p)
			if sum := sha256.Sum256(b); "sha256:"+hexOf(sum[:]) != rep.SHA256 {
				t.Errorf("report sha256 %s, file %x", rep.SHA256, sum)
			}
			if i == 0 {
				first = b
				files, names := tarFiles(t, p)
				if !slices.Equal(names[:6], []string{"oci-layout", "index.json", "coverage.json", "index.html", "index.md", "trust/keys/" + keyIDOf(t, fx.pub) + ".pub"}) || !slices.IsSorted(names[6:]) {
					t.Errorf("entries %v", names)
				}
				for _, name := range []string{"index.json", "coverage.json"} {
					c, err := canon.Transform(files[name])
					if err != nil || !bytes.Equal(c, bytes.TrimSuffix(files[name], []byte("\n"))) {
						t.Errorf("%s is not canonical JSON (%v):\n%s", name, err, files[name])
					}
				}
				continue
			}
			if !bytes.Equal(b, first) {
				t.Errorf("%s export of %s (GOMAXPROCS %d): %s, other bytes than the first", density, src.ref, src.procs, rep.SHA256)
			}
			if i == 3 {
				t.Logf("%s: %s (%d bytes) from each source", density, rep.SHA256, rep.Size)
			}
		}
	}
}

// TestExportFailureLeavesNothing: a verdict input that does not match its
// digest fails a strict export (a verification failure) and leaves no
// file and no temporary file, an earlier export at the path unchanged; a
// lite export, which does not carry it, succeeds.
func TestExportFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	d := t.TempDir()
	img, opts := "oci:"+filepath.Join(d, "app"), registry.Options{}
	image, imgRef, feedRef, _ := setup(t, img, "oci:"+filepath.Join(d, "feeds"), "oci:"+filepath.Join(d, "policies"), opts)
	if _, err := evaluator.Evaluate(ctx, imgRef, evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: feedRef}, Signer: newSigner(t), Registry: opts}); err != nil {
		t.Fatal(err)
	}
	tg := open(t, imgRef, opts)
	vs, err := registry.Referrers(ctx, tg, image, artifacts.MediaTypeVerdict)
	if err != nil || len(vs) != 1 {
		t.Fatalf("verdicts %v %v", vs, err)
	}
	m, _, err := registry.FetchManifest(ctx, tg, vs[0])
	if err != nil {
		t.Fatal(err)
	}
	tg.Close()
	var feedIndex ocispec.Descriptor
	for _, l := range m.Layers {
		if l.MediaType == artifacts.MediaTypeFeedIndex {
			feedIndex = l
		}
	}
	blob := filepath.Join(d, "app", "blobs", "sha256", feedIndex.Digest.Encoded())
	b, _ := os.ReadFile(blob)
	b[len(b)/2] ^= 0x01
	os.WriteFile(blob, b, 0o644)

	out := t.TempDir()
	p := filepath.Join(out, "app.tar")
	os.WriteFile(p, []byte("an earlier export"), 0o644)
	_, err = evaluator.Export(ctx, imgRef, evaluator.ExportOptions{Density: evaluator.DensityStrict, Output: p})
	if !errors.Is(err, registry.ErrDigestMismatch) || evaluator.Class(err) != evaluator.ErrVerification {
		t.Fatalf("strict export of a corrupt input = %v, want a verification failure", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "an earlier export" {
		t.Errorf("the earlier export was replaced: %q", got)
	}
	if es, _ := os.ReadDir(out); len(es) != 1 {
		t.Errorf("left in the directory: %v", es)
	}
	if _, err := evaluator.Export(ctx, imgRef, evaluator.ExportOptions{Density: evaluator.DensityLite, Output: p}); err != nil {
		t.Errorf("lite export (the corrupt input not carried): %v", err)
	}
	for _, o := range []evaluator.ExportOptions{{Density: "dense", Output: p}, {Output: ""}} {
		if _, err := evaluator.Export(ctx, imgRef, o); err == nil {
			t.Errorf("Export(%+v) accepted", o)
		}
	}
}

// TestImport: an export imported into a fresh registry: at strict the
// verdicts, deltas and bundles arrive, the image manifests (whose layers
// no density carries) are reported incomplete and not tagged; with
// --with-image everything arrives, tagged, and the verdicts verify and
// replay at the destination; a lite export into a layout takes every
// manifest and reports the blobs it lacks, and verifies there; an
// archive exported by digest is found by its structure.
func TestImport(t *testing.T) {
	ctx := context.Background()
	src := regtest.Start(t, regtest.Referrers)
	fx := newExportFixture(t, src)
	dir := t.TempDir()
	export := func(name string, o evaluator.ExportOptions) string {
		t.Helper()
		o.Output, o.Registry = filepath.Join(dir, name), fx.opts
		if _, err := evaluator.Export(ctx, fx.ref, o); err != nil {
			t.Fatal(err)
		}
		return o.Output
	}
	strict := export("strict.tar", evaluator.ExportOptions{Density: evaluator.DensityStrict})
	whole := export("whole.tar", evaluator.ExportOptions{Density: evaluator.DensityStrict, WithImage: true})
	lite := export("lite.tar", evaluator.ExportOptions{Density: evaluator.DensityLite})
	trust := evaluator.Trust{Keys: [][]byte{fx.pub}}

	dst := regtest.Start(t, regtest.Plain)
	rep, err := evaluator.Import(ctx, strict, dst+"/a", evaluator.ImportOptions{Destination: fx.opts})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Found != evaluator.ImportTagged || len(rep.Incomplete) != 3 || len(rep.Missing) != 4 || rep.Tag != "" {
		t.Errorf("strict into a registry: found %s, %d incomplete, %d missing, tag %q; want tagged, 3 (index and platforms), 4 (configs and layers), none", rep.Found, len(rep.Incomplete), len(rep.Missing), rep.Tag)
	}
	a := open(t, dst+"/a", fx.opts)
	if vs, err := registry.Referrers(ctx, a, fx.platforms[0], artifacts.MediaTypeVerdict); err != nil || len(vs) != 1 {
		t.Errorf("verdicts at the destination: %v %v", vs, err)
	}

	rep, err = evaluator.Import(ctx, whole, dst+"/b", evaluator.ImportOptions{Destination: fx.opts})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Incomplete) != 0 || len(rep.Missing) != 0 || rep.Tag != "1.0" {
		t.Errorf("strict with the image: %d incomplete, %d missing, tag %q; want none, none, 1.0", len(rep.Incomplete), len(rep.Missing), rep.Tag)
	}
	b := open(t, dst+"/b:1.0", fx.opts)
	for _, pd := range fx.platforms {
		if vr, err := evaluator.VerifyImage(ctx, b, pd, evaluator.VerifyImageOptions{Trust: trust, PredicateType: bundle.PredicateVerdict}); err != nil || !vr.Satisfied {
			t.Errorf("verify %s at the destination: %+v %v", pd.Digest, vr, err)
		}
	}
	rs, err := evaluator.Replay(ctx, dst+"/b@"+fx.platforms[0].Digest.String(), evaluator.ReplayOptions{Registry: fx.opts})
	if err != nil || len(rs) != 1 || rs[0].Outcome != evaluator.ReplayIdentical {
		t.Errorf("replay at the destination: %+v %v", rs, err)
	}

	layout := "oci:" + filepath.Join(t.TempDir(), "lite")
	rep, err = evaluator.Import(ctx, lite, layout, evaluator.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Incomplete) != 0 || len(rep.Missing) == 0 || rep.Tag != "1.0" {
		t.Errorf("lite into a layout: %d incomplete, %d missing, tag %q; want 0, some, 1.0", len(rep.Incomplete), len(rep.Missing), rep.Tag)
	}
	l := open(t, layout+":1.0", registry.Options{})
	if vr, err := evaluator.VerifyImage(ctx, l, fx.platforms[1], evaluator.VerifyImageOptions{Trust: trust, PredicateType: bundle.PredicateVerdict}); err != nil || !vr.Satisfied {
		t.Errorf("verify in the imported layout: %+v %v", vr, err)
	}
	l.Close()

	// By digest: no tag in index.json; the image is what nothing names.
	o := evaluator.ExportOptions{Density: evaluator.DensityLite, Output: filepath.Join(dir, "bydigest.tar"), Registry: fx.opts}
	if _, err := evaluator.Export(ctx, src+"/app@"+fx.index.Digest.String(), o); err != nil {
		t.Fatal(err)
	}
	rep, err = evaluator.Import(ctx, o.Output, "oci:"+filepath.Join(t.TempDir(), "d"), evaluator.ImportOptions{})
	if err != nil || rep.Found != evaluator.ImportStructural || rep.Root.Digest != fx.index.Digest {
		t.Errorf("import of an export by digest: %v, found %v", err, rep)
	}
	rep, err = evaluator.Import(ctx, o.Output+"@"+fx.platforms[1].Digest.String(), "oci:"+filepath.Join(t.TempDir(), "e"), evaluator.ImportOptions{})
	if err != nil || rep.Found != evaluator.ImportGiven || rep.Root.Digest != fx.platforms[1].Digest {
		t.Errorf("import of FILE.tar@DIGEST: %v, %v", err, rep)
	}
}

// TestImportBadArchive: an archive that is cut short (also at an entry's
// boundary, which archive/tar reads as a whole archive), names a path out of
// the layout (../, absolute), holds a link or a device, or carries a blob
// that is not its digest's, is refused with a clear error (the tampered
// blob: a verification failure) and nothing of it reaches the
// destination.
func TestImportBadArchive(t *testing.T) {
	ctx := context.Background()
	src := regtest.Start(t, regtest.Referrers)
	fx := newExportFixture(t, src)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tar")
	if _, err := evaluator.Export(ctx, fx.ref, evaluator.ExportOptions{Density: evaluator.DensityLite, Output: good, Registry: fx.opts}); err != nil {
		t.Fatal(err)
	}
	goodBytes, _ := os.ReadFile(good)
	files, names := tarFiles(t, good)
	// rewrite writes the good archive's entries, with extra added after
	// oci-layout, and change applied to each entry's content.
	rewrite := func(name string, extra []*tar.Header, change func(name string, b []byte) []byte) string {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for i, n := range names {
			b := files[n]
			if change != nil {
				b = change(n, bytes.Clone(b))
			}
			tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)})
			tw.Write(b)
			if i == 0 {
				for _, h := range extra {
					tw.WriteHeader(h)
					if h.Size > 0 {
						tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
					}
				}
			}
		}
		tw.Close()
		p := filepath.Join(dir, name)
		os.WriteFile(p, buf.Bytes(), 0o644)
		return p
	}
	// A bundle's layer, and the bundle manifest.
	var bundleLayer string
	var tampered ocispec.Descriptor
	for _, n := range names {
		if b := files[n]; strings.HasPrefix(n, "blobs/") && bytes.Contains(b, []byte(`"dsseEnvelope"`)) && bundleLayer == "" {
			bundleLayer = n
		}
	}
	for _, n := range names {
		var m ocispec.Manifest
		if json.Unmarshal(files[n], &m) == nil && len(m.Layers) == 1 && "blobs/sha256/"+m.Layers[0].Digest.Encoded() == bundleLayer {
			tampered = content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, files[n])
		}
	}
	if tampered.Digest == "" {
		t.Fatal("no bundle in the archive")
	}
	for _, tc := range []struct {
		name    string
		archive string
		want    error
		class   error
	}{
		{"truncated", func() string {
			p := filepath.Join(dir, "truncated.tar")
			os.WriteFile(p, goodBytes[:len(goodBytes)/2+100], 0o644)
			return p
		}(), nil, evaluator.ErrCouldNotRun},
		{"cut at an entry's boundary", func() string {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, n := range names[:len(names)-3] {
				tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
				tw.Write(files[n])
			}
			tw.Flush() // no end-of-archive marker: the last blobs are just not there
			p := filepath.Join(dir, "boundary.tar")
			os.WriteFile(p, buf.Bytes(), 0o644)
			return p
		}(), io.ErrUnexpectedEOF, evaluator.ErrCouldNotRun},
		{"../ path", rewrite("dotdot.tar", []*tar.Header{{Name: "../evil", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg}}, nil), registry.ErrUnsafePath, evaluator.ErrCouldNotRun},
		{"nested ../ path", rewrite("dotdot2.tar", []*tar.Header{{Name: "blobs/../../evil", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg}}, nil), registry.ErrUnsafePath, evaluator.ErrCouldNotRun},
		{"absolute path", rewrite("abs.tar", []*tar.Header{{Name: "/tmp/evil", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg}}, nil), registry.ErrUnsafePath, evaluator.ErrCouldNotRun},
		{"symlink", rewrite("symlink.tar", []*tar.Header{{Name: "blobs/sha256/link", Linkname: "/etc/passwd", Typeflag: tar.TypeSymlink}}, nil), registry.ErrUnsafePath, evaluator.ErrCouldNotRun},
		{"hardlink", rewrite("hardlink.tar", []*tar.Header{{Name: "blobs/sha256/hard", Linkname: "oci-layout", Typeflag: tar.TypeLink}}, nil), registry.ErrUnsafePath, evaluator.ErrCouldNotRun},
		{"character device", rewrite("chardev.tar", []*tar.Header{{Name: "blobs/sha256/dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}, nil), registry.ErrUnsafePath, evaluator.ErrCouldNotRun},
		{"fifo", rewrite("fifo.tar", []*tar.Header{{Name: "blobs/sha256/fifo", Typeflag: tar.TypeFifo}}, nil), registry.ErrUnsafePath, evaluator.ErrCouldNotRun},
		{"tampered blob", rewrite("tampered.tar", nil, func(n string, b []byte) []byte {
			if n == bundleLayer {
				b[len(b)/2] ^= 0x01
			}
			return b
		}), registry.ErrDigestMismatch, evaluator.ErrVerification},
		{"not a tar", func() string {
			p := filepath.Join(dir, "garbage.tar")
			os.WriteFile(p, bytes.Repeat([]byte("not a tar "), 100), 0o644)
			return p
		}(), nil, evaluator.ErrCouldNotRun},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := "oci:" + filepath.Join(t.TempDir(), "dst")
			_, err := evaluator.Import(ctx, tc.archive, dst, evaluator.ImportOptions{})
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || evaluator.Class(err) != tc.class {
				t.Fatalf("Import(%s) = %v, want %v (%v)", tc.name, err, tc.want, tc.class)
			}
			d := open(t, dst, registry.Options{})
			defer d.Close()
			if _, err := d.Resolve(ctx, "1.0"); err == nil {
				t.Error("the image was tagged at the destination")
			}
			if tc.name == "tampered blob" {
				if ok, _ := d.Store.Exists(ctx, tampered); ok {
					t.Errorf("the bundle of the tampered layer reached the destination")
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "evil")); err == nil {
		t.Error("an entry escaped the unpacking directory")
	}
}

// TestImportMirroredArchive: an archive that mirror wrote (the image's
// tag and, for regctl, a referrers tag per subject) is imported without
// naming the image: the referrers tags name no image, by tag (the one
// real tag is the image's) or by structure (mirrored by digest, no tag).
func TestImportMirroredArchive(t *testing.T) {
	ctx := context.Background()
	src := regtest.Start(t, regtest.Referrers)
	fx := newExportFixture(t, src)
	dir := t.TempDir()
	for _, tc := range []struct{ name, ref, found string }{
		{"tagged", fx.ref, evaluator.ImportTagged},
		{"by digest", src + "/app@" + fx.index.Digest.String(), evaluator.ImportStructural},
	} {
		t.Run(tc.name, func(t *testing.T) {
			archive := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".tar")
			res, err := registry.MirrorImages(ctx, []string{tc.ref}, "oci-archive:"+archive, registry.MirrorRunOptions{Source: fx.opts})
			if err != nil || res[0].Err != nil {
				t.Fatalf("mirror: %v %v", err, res[0].Err)
			}
			idx, err := registry.LayoutIndex(open(t, "oci-archive:"+archive, registry.Options{ReadOnly: true}))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(idx.Manifests, func(d ocispec.Descriptor) bool {
				return registry.IsReferrersTag(d.Annotations[ocispec.AnnotationRefName])
			}) {
				t.Fatal("the mirrored archive has no referrers tag: nothing tested")
			}
			rep, err := evaluator.Import(ctx, archive, "oci:"+filepath.Join(t.TempDir(), "d"), evaluator.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Found != tc.found || rep.Root.Digest != fx.index.Digest {
				t.Errorf("import found %s (%s), want %s (%s)", rep.Root.Digest, rep.Found, fx.index.Digest, tc.found)
			}
		})
	}
}

// TestImportDockerTypes: an untagged archive of a Docker manifest list
// and its manifests (as copied from Docker Hub) is imported without
// naming the image: the list is read for the manifests it names, so it
// is the one image.
func TestImportDockerTypes(t *testing.T) {
	ctx := context.Background()
	const (
		dockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
		dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
		dockerConfig   = "application/vnd.docker.container.image.v1+json"
	)
	p := filepath.Join(t.TempDir(), "d.tar")
	tg := open(t, "oci-archive:"+p, registry.Options{})
	push := func(mt string, b []byte) ocispec.Descriptor {
		d := content.NewDescriptorFromBytes(mt, b)
		if err := tg.Store.Push(ctx, d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		if mt != dockerConfig {
			if err := tg.Store.Tag(ctx, d, d.Digest.String()); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	var ms []ocispec.Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		cfg := push(dockerConfig, []byte(`{"architecture":"`+arch+`","os":"linux"}`))
		mb, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": dockerManifest, "config": cfg, "layers": []any{}})
		m := push(dockerManifest, mb)
		m.Platform = &ocispec.Platform{OS: "linux", Architecture: arch}
		ms = append(ms, m)
	}
	lb, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: dockerList, Manifests: ms})
	list := push(dockerList, lb)
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := evaluator.Import(ctx, p, "oci:"+filepath.Join(t.TempDir(), "d"), evaluator.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Root.Digest != list.Digest || rep.Found != evaluator.ImportStructural {
		t.Errorf("import found %s (%s), want the list %s (structural)", rep.Root.Digest, rep.Found, list.Digest)
	}
}
