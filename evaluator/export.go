package evaluator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/registry"
)

// Densities of an export: how much of an image's audit graph it carries.
const (
	// DensityLite: the image's manifests (an index and its platform
	// manifests, not their configs or layers), the verdict artifacts'
	// manifests (not their layers) and every Sigstore bundle on what is
	// included: enough to verify the signatures.
	DensityLite = "lite"
	// DensityStandard: lite, and the SBOM, VEX and reachability
	// referrers whole, with their bundles.
	DensityStandard = "standard"
	// DensityStrict: standard, and every layer of every verdict artifact
	// (the scan manifest, the verdict and every input: SBOM, VEX,
	// reachability, the feed's index and record groups used, the policy
	// IR) and the delta artifacts whole: enough to replay every verdict
	// offline, from the archive alone.
	DensityStrict = "strict"
)

// ErrDensity: a density other than lite, standard or strict.
var ErrDensity = errors.New("unknown density")

// ExportOptions configure Export. Output is required; the zero value of
// the rest exports at DensityStandard, names the image by its repository
// path and tag without the registry host, carries no trust material and
// discards logs.
type ExportOptions struct {
	// Density is DensityLite, DensityStandard or DensityStrict; ""
	// means DensityStandard.
	Density string
	// Output is the tar file to write (through a temporary file beside
	// it and a rename).
	Output string
	// Name is the image's name as the readable report and coverage.json
	// record it (next to its digest, always recorded). "" means the
	// source's repository path and tag without the registry host (for a
	// layout, the directory's base name; for a layout tar, its file
	// name without .tar): the same image exported from a mirror gives
	// the same bytes.
	Name string
	// Tag names the image in index.json (org.opencontainers.image.ref.name),
	// so that oci-archive:FILE.tar:TAG names it; "" means the source's
	// tag (none when it was named by digest: import then finds the image
	// as the one manifest that is neither a referrer nor listed by an
	// index).
	Tag string
	// WithImage also carries the image's configs and layers (the image
	// itself, for an air gap); without it no density does.
	WithImage bool
	// Keys are PEM public keys (the verdicts' signers) copied into the
	// archive as trust/keys/<key ID>.pub, beside index.json.
	Keys [][]byte
	// TrustedRoot is a Sigstore trusted_root.json copied into the archive
	// as trust/trusted_root.json.
	TrustedRoot []byte
	// Registry opens the source.
	Registry registry.Options
	Logger   *slog.Logger
	// OnBlob, when set, is told of each blob once it is in the archive.
	OnBlob func(ocispec.Descriptor)
	// OnDrop, when set, is told of each listed referrer that is not
	// exported because its manifest does not name its subject.
	OnDrop func(parent, referrer ocispec.Descriptor, reason string)
}

// Categories of what an export carries or leaves out, in the order the
// coverage statement lists them (a blob two categories name counts under
// the first).
const (
	CategoryImage         = "image manifests"
	CategoryImageBlobs    = "image configs and layers"
	CategoryVerdicts      = "verdict artifacts"
	CategoryVerdictInputs = "verdict inputs"
	CategoryBundles       = "Sigstore bundles"
	CategoryDocuments     = "SBOM, VEX and reachability referrers"
	CategoryDeltas        = "delta artifacts"
	CategoryOther         = "other referrers"
	// CategoryReferrersTags: one index per subject listing its referrers
	// in the archive, tagged sha256-<hex> (the OCI referrers tag schema),
	// for tools that read a layout's referrers only from that tag.
	CategoryReferrersTags = "referrers tags"
)

var categoryOrder = []string{CategoryImage, CategoryImageBlobs, CategoryVerdicts, CategoryVerdictInputs, CategoryBundles, CategoryDocuments, CategoryDeltas, CategoryOther, CategoryReferrersTags}

// Bounds of an export's reads besides its blobs (which stream).
const (
	// exportVerdictBytes bounds a verdict layer read for the report (one
	// at a time, decoded and dropped): a verdict of 100,000 findings is
	// about 100 MB.
	exportVerdictBytes = 256 << 20
	// exportTrustedRootBytes bounds a trusted root (the public-good
	// instance's is about 10 KB).
	exportTrustedRootBytes = 16 << 20
)

// ExportReport is what Export wrote: the archive, its digest, what it
// carries and leaves out (coverage.json without the omitted digests),
// and the verdicts it holds.
type ExportReport struct {
	Output    string          `json:"output"`
	SHA256    string          `json:"sha256"`
	Size      int64           `json:"size"`
	Density   string          `json:"density"`
	Image     CoverageImage   `json:"image"`
	Manifests int             `json:"manifests"`
	Blobs     int             `json:"blobs"`
	Bytes     int64           `json:"bytes"`
	Included  []CoverageEntry `json:"included"`
	Omitted   []CoverageEntry `json:"omitted"`
	Verdicts  []ExportVerdict `json:"verdicts"`
}

// Export writes the audit bundle of an image (a registry reference, oci:DIR
// or oci-archive:FILE.tar, by tag or digest) as an OCI image layout in a
// tar file (registry.WriteLayoutTar: streamed from the source, every blob
// checked, byte-reproducible): the manifests and blobs the density
// selects, index.json naming every manifest (so a layout reader finds
// every referrer), and beside it a readable index.md and index.html, the
// coverage statement coverage.json, and the trust material given.
// Nothing in it depends on the time, the machine or the registry's name.
func Export(ctx context.Context, image string, o ExportOptions) (*ExportReport, error) {
	if o.Density == "" {
		o.Density = DensityStandard
	}
	if !slices.Contains([]string{DensityLite, DensityStandard, DensityStrict}, o.Density) {
		return nil, fmt.Errorf("%w %q: want %s, %s or %s", ErrDensity, o.Density, DensityLite, DensityStandard, DensityStrict)
	}
	if o.Output == "" {
		return nil, errors.New("export: an output file is required")
	}
	trust, err := exportTrust(o)
	if err != nil {
		return nil, err
	}
	ro := o.Registry
	ro.ReadOnly = true
	src, err := Open(ctx, image, ro)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if src.Ref.Ref() == "" {
		return nil, fmt.Errorf("%s: name the image by tag or digest", src.Ref)
	}
	root, err := src.Resolve(ctx, src.Ref.Ref())
	if err != nil {
		return nil, err
	}
	root = ocispec.Descriptor{MediaType: root.MediaType, Digest: root.Digest, Size: root.Size}
	p := &exportPlan{src: src, o: o, blobs: map[digest.Digest]*planBlob{}, manifests: map[digest.Digest][]byte{}, log: logger(o.Logger)}
	if err := p.image(ctx, root, nil, 0); err != nil {
		return nil, err
	}
	for _, s := range p.subjects {
		tree, err := registry.Discover(ctx, src, s.desc, registry.DiscoverOptions{
			OnManifest: p.keep, OnDrop: o.OnDrop,
		})
		if err != nil {
			return nil, err
		}
		if err := p.referrers(ctx, tree, true); err != nil {
			return nil, err
		}
	}
	if err := p.readVerdicts(ctx); err != nil {
		return nil, err
	}
	refTags := map[digest.Digest]string{}
	for _, rt := range p.referrersTags() {
		p.add(rt.desc, true, CategoryReferrersTags, true, "")
		p.manifests[rt.desc.Digest] = rt.data
		refTags[rt.desc.Digest] = rt.tag
	}
	doc := p.document(root, trust)
	files, err := doc.files(trust)
	if err != nil {
		return nil, err
	}
	tag := o.Tag
	if tag == "" {
		tag = src.Ref.Tag
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	var blobs []registry.LayoutTarBlob
	for _, d := range p.sortedBlobs() {
		b := p.blobs[d]
		if !b.included() {
			continue
		}
		lb := registry.LayoutTarBlob{Descriptor: b.desc}
		if data, ok := p.manifests[d]; ok && b.manifest {
			lb.Data = data
		}
		blobs = append(blobs, lb)
		if b.manifest {
			e := b.desc
			if d == root.Digest && tag != "" {
				e.Annotations = map[string]string{ocispec.AnnotationRefName: tag}
			}
			if rt, ok := refTags[d]; ok {
				e.Annotations = map[string]string{ocispec.AnnotationRefName: rt}
			}
			idx.Manifests = append(idx.Manifests, e)
		}
	}
	rep, err := registry.WriteLayoutTar(ctx, src, o.Output, registry.LayoutTarOptions{Index: idx, Files: files, Blobs: blobs, OnBlob: o.OnBlob})
	if err != nil {
		return nil, err
	}
	cov := doc.Coverage
	out := &ExportReport{
		Output: o.Output, SHA256: rep.SHA256.String(), Size: rep.Size, Density: o.Density, Image: cov.Image,
		Manifests: cov.Totals.Manifests, Blobs: cov.Totals.Blobs, Bytes: cov.Totals.Bytes,
		Included: cov.Included, Omitted: make([]CoverageEntry, len(cov.Omitted)), Verdicts: doc.Verdicts,
	}
	for i, e := range cov.Omitted {
		e.Digests = nil
		out.Omitted[i] = e
	}
	return out, nil
}

// exportKey is a public key as the archive carries it.
type exportKey struct {
	ID   string
	File string
	PEM  []byte
}

type exportTrustFiles struct {
	keys        []exportKey
	trustedRoot []byte
}

// trustFile names in the archive.
const (
	trustKeysDir        = "trust/keys/"
	trustTrustedRootRel = "trust/trusted_root.json"
)

// exportTrust checks the trust material and puts it in its archive form:
// each key re-encoded (the same key in any PEM layout gives the same
// bytes), named by its ID, in ID order.
func exportTrust(o ExportOptions) (exportTrustFiles, error) {
	var tf exportTrustFiles
	seen := map[string]bool{}
	for i, k := range o.Keys {
		pub, err := bundle.ParsePublicKey(k)
		if err != nil {
			return tf, fmt.Errorf("export: key %d: %w", i+1, err)
		}
		id, err := bundle.KeyID(pub)
		if err != nil {
			return tf, fmt.Errorf("export: key %d: %w", i+1, err)
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		pem, err := bundle.MarshalPublicKey(pub)
		if err != nil {
			return tf, err
		}
		tf.keys = append(tf.keys, exportKey{ID: id, File: trustKeysDir + id + ".pub", PEM: pem})
	}
	slices.SortFunc(tf.keys, func(a, b exportKey) int { return strings.Compare(a.ID, b.ID) })
	if o.TrustedRoot != nil {
		if len(o.TrustedRoot) > exportTrustedRootBytes || !json.Valid(o.TrustedRoot) {
			return tf, fmt.Errorf("export: the trusted root is not a JSON document of at most %d bytes", exportTrustedRootBytes)
		}
		tf.trustedRoot = o.TrustedRoot
	}
	return tf, nil
}

// planBlob is one manifest or blob the export has seen: carried, or left
// out with the reason, under each category that named it.
type planBlob struct {
	desc     ocispec.Descriptor
	manifest bool
	in       map[string]bool   // categories that carry it
	out      map[string]string // categories that leave it out, with the reason
}

func (b *planBlob) included() bool { return len(b.in) > 0 }

// category is where the blob counts: the first category that carries
// it, else the first that leaves it out.
func (b *planBlob) category() (string, string) {
	for _, c := range categoryOrder {
		if b.in[c] {
			return c, ""
		}
	}
	for _, c := range categoryOrder {
		if r, ok := b.out[c]; ok {
			return c, r
		}
	}
	return CategoryOther, ""
}

type planSubject struct {
	desc     ocispec.Descriptor
	platform string
}

// planArtifact is a referrer as the report needs it.
type planArtifact struct {
	desc     ocispec.Descriptor
	manifest ocispec.Manifest
	category string
	included bool
	parent   digest.Digest
}

type exportPlan struct {
	src       *registry.Target
	o         ExportOptions
	log       *slog.Logger
	mu        sync.Mutex // guards manifests
	subjects  []planSubject
	blobs     map[digest.Digest]*planBlob
	manifests map[digest.Digest][]byte // every manifest read, verified
	artifacts []*planArtifact          // referrers in walk order
	verdicts  []ExportVerdict
	other     map[string]bool // artifact types of other referrers
}

// keep holds a referrer manifest Discover read (and verified).
func (p *exportPlan) keep(d ocispec.Descriptor, b []byte) {
	// Discover calls it concurrently within a level.
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.manifests[d.Digest]; !ok {
		p.manifests[d.Digest] = b
	}
}

func (p *exportPlan) add(d ocispec.Descriptor, manifest bool, category string, carry bool, reason string) {
	b, ok := p.blobs[d.Digest]
	if !ok {
		b = &planBlob{desc: ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}, manifest: manifest, in: map[string]bool{}, out: map[string]string{}}
		p.blobs[d.Digest] = b
	}
	if carry {
		b.in[category] = true
	} else if _, ok := b.out[category]; !ok {
		b.out[category] = reason
	}
}

func (p *exportPlan) sortedBlobs() []digest.Digest {
	ds := make([]digest.Digest, 0, len(p.blobs))
	for d := range p.blobs {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds
}

// manifestBytes returns a manifest's bytes, read once and verified.
func (p *exportPlan) manifestBytes(ctx context.Context, d ocispec.Descriptor) ([]byte, error) {
	p.mu.Lock()
	b, ok := p.manifests[d.Digest]
	p.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := registry.FetchBlob(ctx, p.src, d, registry.MaxManifestBytes)
	if err != nil {
		return nil, err
	}
	p.keep(d, b)
	return b, nil
}

// maxExportIndexDepth bounds indexes of indexes (a real image is one level).
const maxExportIndexDepth = 4

// image plans the image: the index and its platform manifests are
// carried at every density, their configs and layers only WithImage.
// Each manifest of it is a subject whose referrers are walked.
func (p *exportPlan) image(ctx context.Context, d ocispec.Descriptor, platform *ocispec.Platform, depth int) error {
	if depth > maxExportIndexDepth {
		return fmt.Errorf("%s: %s: indexes nested deeper than %d", p.src.Ref, d.Digest, maxExportIndexDepth)
	}
	b, err := p.manifestBytes(ctx, d)
	if err != nil {
		return err
	}
	p.add(d, true, CategoryImage, true, "")
	switch d.MediaType {
	case ocispec.MediaTypeImageIndex, "application/vnd.docker.distribution.manifest.list.v2+json":
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return fmt.Errorf("%s: index %s: %v", p.src.Ref, d.Digest, err)
		}
		p.subjects = append(p.subjects, planSubject{desc: d})
		for _, c := range idx.Manifests {
			if err := p.image(ctx, ocispec.Descriptor{MediaType: c.MediaType, Digest: c.Digest, Size: c.Size}, c.Platform, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: manifest %s: %v", p.src.Ref, d.Digest, err)
	}
	reason := fmt.Sprintf("not included: density %s carries the image's manifests only (--with-image carries the image)", p.o.Density)
	for _, l := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if l.Digest != "" {
			p.add(l, false, CategoryImageBlobs, p.o.WithImage, reason)
		}
	}
	if platform == nil {
		platform = p.configPlatform(ctx, m.Config)
	}
	p.subjects = append(p.subjects, planSubject{desc: d, platform: platformString(platform)})
	return nil
}

// configPlatform reads a single-manifest image's platform from its config
// (bounded like a manifest); nil when it has none or cannot be read.
func (p *exportPlan) configPlatform(ctx context.Context, cfg ocispec.Descriptor) *ocispec.Platform {
	if cfg.MediaType != ocispec.MediaTypeImageConfig && cfg.MediaType != "application/vnd.docker.container.image.v1+json" {
		return nil
	}
	b, err := registry.FetchBlob(ctx, p.src, cfg, registry.MaxManifestBytes)
	if err != nil {
		p.log.Warn("image config unreadable", "config", cfg.Digest, "err", err)
		return nil
	}
	var img ocispec.Image
	if json.Unmarshal(b, &img) != nil || img.OS == "" {
		return nil
	}
	return &img.Platform
}

// exportCategory classifies a referrer by its artifact type.
func exportCategory(artifactType string) string {
	switch artifactType {
	case artifacts.MediaTypeVerdict:
		return CategoryVerdicts
	case artifacts.MediaTypeSigstoreBundle:
		return CategoryBundles
	case artifacts.MediaTypeDelta:
		return CategoryDeltas
	}
	if kindOf(artifactType) != "" {
		return CategoryDocuments
	}
	return CategoryOther
}

// carries says what the density carries of a referrer of this category:
// its manifest (and config), and its layers.
func (p *exportPlan) carries(category string) (manifest, layers bool, reason string) {
	d := p.o.Density
	switch category {
	case CategoryBundles:
		return true, true, ""
	case CategoryVerdicts:
		return true, d == DensityStrict, fmt.Sprintf("not included: density %s (replay needs the verdicts' inputs: --density strict)", d)
	case CategoryDocuments:
		ok := d != DensityLite
		return ok, ok, fmt.Sprintf("not included: density %s", d)
	case CategoryDeltas:
		ok := d == DensityStrict
		return ok, ok, fmt.Sprintf("not included: density %s", d)
	}
	return false, false, "not included: no density carries artifact types it does not know"
}

// referrers plans a node's referrers: what the density carries of each,
// when what it refers to is carried; everything else is counted as left
// out, with why.
func (p *exportPlan) referrers(ctx context.Context, n *registry.Node, parentIn bool) error {
	for _, c := range n.Referrers {
		d := ocispec.Descriptor{MediaType: c.MediaType, Digest: c.Digest, Size: c.Size}
		b, err := p.manifestBytes(ctx, d)
		if err != nil {
			return err
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("%s: referrer %s: %v", p.src.Ref, d.Digest, err)
		}
		at := m.ArtifactType
		if at == "" {
			at = m.Config.MediaType
		}
		cat := exportCategory(at)
		carryManifest, carryLayers, reason := p.carries(cat)
		if !parentIn {
			carryManifest, carryLayers, reason = false, false, "not included: what it refers to is not included"
		}
		if cat == CategoryOther {
			if p.other == nil {
				p.other = map[string]bool{}
			}
			p.other[at] = true
		}
		p.artifacts = append(p.artifacts, &planArtifact{desc: d, manifest: m, category: cat, included: carryManifest, parent: n.Digest})
		if err := p.artifact(ctx, d, b, cat, carryManifest, carryLayers, reason, 0); err != nil {
			return err
		}
		if err := p.referrers(ctx, c, carryManifest); err != nil {
			return err
		}
	}
	return nil
}

// artifact plans one referrer manifest (or artifact index and the
// manifests it lists): the manifest with its config, and its layers.
// A verdict artifact's layers are its inputs, a category of their own.
func (p *exportPlan) artifact(ctx context.Context, d ocispec.Descriptor, b []byte, cat string, carryManifest, carryLayers bool, reason string, depth int) error {
	p.add(d, true, cat, carryManifest, reason)
	if d.MediaType == ocispec.MediaTypeImageIndex {
		if depth > maxExportIndexDepth {
			return fmt.Errorf("%s: %s: indexes nested deeper than %d", p.src.Ref, d.Digest, maxExportIndexDepth)
		}
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return fmt.Errorf("%s: index %s: %v", p.src.Ref, d.Digest, err)
		}
		for _, c := range idx.Manifests {
			c = ocispec.Descriptor{MediaType: c.MediaType, Digest: c.Digest, Size: c.Size}
			cb, err := p.manifestBytes(ctx, c)
			if err != nil {
				return err
			}
			if err := p.artifact(ctx, c, cb, cat, carryManifest, carryLayers, reason, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: manifest %s: %v", p.src.Ref, d.Digest, err)
	}
	if m.Config.Digest != "" {
		p.add(m.Config, false, cat, carryManifest, reason)
	}
	layerCat := cat
	if cat == CategoryVerdicts {
		layerCat = CategoryVerdictInputs
	}
	for _, l := range m.Layers {
		p.add(l, false, layerCat, carryLayers, reason)
	}
	return nil
}

// referrersTag is one subject's referrers tag in the archive: the index
// of its included referrers (desc, data) and the tag.
type referrersTag struct {
	desc ocispec.Descriptor
	tag  string
	data []byte
}

// referrersTags are the archive's referrers tags (the OCI referrers tag
// schema, sha256-<hex>), one per subject with a referrer in the archive,
// as mirror writes into a layout: regctl (ocidir://) reads referrers
// only from them, oras from the referrers' subject fields. Entries carry
// the artifact type and annotations, sorted by digest; subjects come in
// digest order.
func (p *exportPlan) referrersTags() []referrersTag {
	bySubject := map[digest.Digest][]ocispec.Descriptor{}
	for _, a := range p.artifacts {
		if !a.included {
			continue
		}
		e := a.desc
		e.ArtifactType = a.manifest.ArtifactType
		if e.ArtifactType == "" {
			e.ArtifactType = a.manifest.Config.MediaType
		}
		e.Annotations = a.manifest.Annotations
		bySubject[a.parent] = append(bySubject[a.parent], e)
	}
	var out []referrersTag
	for _, subj := range slices.Sorted(maps.Keys(bySubject)) {
		b, d, err := registry.ReferrersIndex(bySubject[subj])
		if err != nil {
			continue // descriptors always encode
		}
		out = append(out, referrersTag{desc: d, tag: registry.ReferrersTag(subj), data: b})
	}
	return out
}

// archiveName is the archive's file name as the report's commands use it.
func archiveName(output string) string { return filepath.Base(output) }

// defaultExportName is the image's name without the registry host (the
// same content through a mirror gives the same bytes) and its tag: a
// registry's repository path, a layout directory's base name, a layout
// tar's without .tar.
func defaultExportName(ref registry.Reference) string {
	name := ""
	switch ref.Kind {
	case registry.KindRemote:
		if _, path, ok := strings.Cut(ref.Repository, "/"); ok {
			name = path
		}
	default:
		name = strings.TrimSuffix(filepath.Base(ref.Repository), ".tar")
	}
	if ref.Tag != "" {
		if name == "" {
			return ref.Tag
		}
		return name + ":" + ref.Tag
	}
	return name
}
