package evaluator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"slices"
	"strings"
	texttemplate "text/template"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/engine/policy"
	"github.com/stella-ops/stella-oras/registry"
)

// KindExportCoverage is the kind of an export's coverage.json.
const KindExportCoverage = "stella-ops/export-coverage/v1"

// Coverage is an export's coverage statement (coverage.json): what the
// archive carries and what it knowingly leaves out, and why. It holds no
// time and no registry name: the same content gives the same statement.
type Coverage struct {
	Kind    string        `json:"kind"`
	Density string        `json:"density"`
	Image   CoverageImage `json:"image"`
	// Included and Omitted count manifests, blobs and bytes by category
	// (categoryOrder); a blob two categories name counts once, under the
	// first that carries it.
	Included []CoverageEntry `json:"included"`
	Omitted  []CoverageEntry `json:"omitted"`
	Totals   CoverageTotals  `json:"totals"`
	// Complete says every blob a manifest in the archive names is in it
	// (false at lite and standard: verdict artifacts name their inputs).
	Complete bool `json:"complete"`
	// Verifiable: Sigstore bundles on the image are in the archive, with
	// the manifests they name. Replayable: every verdict's inputs are.
	Verifiable bool          `json:"verifiable"`
	Replayable bool          `json:"replayable"`
	Trust      CoverageTrust `json:"trust"`
}

// CoverageImage names the exported image.
type CoverageImage struct {
	Name      string             `json:"name"`
	Digest    string             `json:"digest"`
	MediaType string             `json:"media_type"`
	Tag       string             `json:"tag,omitempty"`
	Platforms []CoveragePlatform `json:"platforms"`
}

// CoveragePlatform is one platform manifest of the image.
type CoveragePlatform struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
}

// CoverageEntry counts one category carried, or left out for one reason.
type CoverageEntry struct {
	Category  string `json:"category"`
	Manifests int    `json:"manifests"`
	Blobs     int    `json:"blobs"`
	Bytes     int64  `json:"bytes"`
	Reason    string `json:"reason,omitempty"`
	// ArtifactTypes are the types of other referrers left out.
	ArtifactTypes []string `json:"artifact_types,omitempty"`
	// Digests are what is left out, sorted (coverage.json only).
	Digests []string `json:"digests,omitempty"`
}

// CoverageTotals count what the archive carries under blobs/.
type CoverageTotals struct {
	Manifests int   `json:"manifests"`
	Blobs     int   `json:"blobs"`
	Bytes     int64 `json:"bytes"`
}

// CoverageTrust is the trust material the archive carries beside
// index.json.
type CoverageTrust struct {
	Keys        []CoverageKey `json:"keys"`
	TrustedRoot string        `json:"trusted_root,omitempty"`
}

// CoverageKey is one public key carried.
type CoverageKey struct {
	KeyID string `json:"key_id"`
	File  string `json:"file"`
}

// ExportVerdict is one verdict artifact the archive carries, as its
// readable report shows it: from the verdict layer (read from the source
// whatever the density) and the artifact's annotations.
type ExportVerdict struct {
	Artifact       string          `json:"artifact"`
	Subject        string          `json:"subject"`
	Platform       string          `json:"platform,omitempty"`
	Status         string          `json:"status"`
	RiskScore      int64           `json:"risk_score"`
	Findings       int             `json:"findings"`
	BySeverity     []SeverityCount `json:"by_severity"`
	Unknowns       int             `json:"unknowns"`
	Engine         string          `json:"engine"`
	FeedEpoch      string          `json:"feed_epoch"`
	Policy         string          `json:"policy,omitempty"`
	VerdictDigest  string          `json:"verdict_digest"`
	ManifestDigest string          `json:"manifest_digest"`
	Bundles        []string        `json:"bundles"`
	// InputsIncluded: the verdict's layers (its inputs) are in the
	// archive, so it replays from it.
	InputsIncluded bool `json:"inputs_included"`
	// Note says why the verdict layer could not be read, if it could not.
	Note string `json:"note,omitempty"`
}

// SeverityCount is the number of findings of one severity.
type SeverityCount struct {
	Severity string `json:"severity"`
	Count    int    `json:"count"`
}

// readVerdicts reads each carried verdict artifact's verdict layer for
// the report, one at a time, verified and bounded.
func (p *exportPlan) readVerdicts(ctx context.Context) error {
	platforms := map[digest.Digest]string{}
	for _, s := range p.subjects {
		platforms[s.desc.Digest] = s.platform
	}
	bundles := map[string][]string{}
	for _, a := range p.artifacts {
		if a.category == CategoryBundles && a.included {
			if v := a.manifest.Annotations[artifacts.AnnotationVerdictArtifact]; v != "" {
				bundles[v] = append(bundles[v], a.desc.Digest.String())
			}
		}
	}
	for _, a := range p.artifacts {
		if a.category != CategoryVerdicts || !a.included {
			continue
		}
		ann := a.manifest.Annotations
		v := ExportVerdict{
			Artifact: a.desc.Digest.String(), Platform: platforms[a.parent],
			Status: ann[artifacts.AnnotationStatus], Engine: ann[artifacts.AnnotationEngine], FeedEpoch: ann[artifacts.AnnotationEpoch],
			VerdictDigest: ann[artifacts.AnnotationVerdictDigest], ManifestDigest: ann[artifacts.AnnotationManifestDigest],
			Bundles: bundles[a.desc.Digest.String()], InputsIncluded: p.o.Density == DensityStrict,
		}
		if a.manifest.Subject != nil {
			v.Subject = a.manifest.Subject.Digest.String()
		}
		if v.Bundles == nil {
			v.Bundles = []string{}
		}
		slices.Sort(v.Bundles)
		if err := p.verdictLayer(ctx, a.manifest, &v); err != nil {
			return err
		}
		p.verdicts = append(p.verdicts, v)
	}
	order := map[string]int{}
	for i, s := range p.subjects {
		order[s.desc.Digest.String()] = i
	}
	slices.SortStableFunc(p.verdicts, func(a, b ExportVerdict) int {
		if c := order[a.Subject] - order[b.Subject]; c != 0 {
			return c
		}
		return strings.Compare(a.Artifact, b.Artifact)
	})
	return nil
}

// verdictLayer fills v from the verdict document. A layer the source does
// not have (it is itself a lite export), one over the bound, or one that
// is not a verdict is a note (worded without the source's name: the
// report stays the same through a mirror); any other failure, a layer
// that does not match its digest included, is an error.
func (p *exportPlan) verdictLayer(ctx context.Context, m ocispec.Manifest, v *ExportVerdict) error {
	v.BySeverity = []SeverityCount{}
	if len(m.Layers) < 2 || m.Layers[1].MediaType != artifacts.MediaTypeVerdict {
		v.Note = "no verdict layer: status from the artifact's annotations"
		return nil
	}
	b, err := registry.FetchBlob(ctx, p.src, m.Layers[1], exportVerdictBytes)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		v.Note = "the source does not have the verdict layer: status from the artifact's annotations"
		return nil
	case errors.Is(err, registry.ErrTooLarge):
		v.Note = fmt.Sprintf("verdict layer over %d bytes, not read: status from the artifact's annotations", exportVerdictBytes)
		return nil
	case err != nil:
		return err
	}
	var doc struct {
		Status        string              `json:"status"`
		RiskScore     int64               `json:"risk_score"`
		UnknownsCount int                 `json:"unknowns_count"`
		Summary       artifacts.Summary   `json:"summary"`
		Policy        artifacts.PolicyRef `json:"policy"`
		Engine        artifacts.Engine    `json:"engine"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		v.Note = "the verdict layer is not a verdict document: status from the artifact's annotations"
		return nil
	}
	if doc.Status != "" {
		v.Status = doc.Status
	}
	v.RiskScore, v.Unknowns, v.Findings = doc.RiskScore, doc.UnknownsCount, doc.Summary.Findings
	if doc.Policy.Name != "" {
		v.Policy = doc.Policy.Name + "@" + doc.Policy.Version
	}
	if v.Engine == "" && doc.Engine.Name != "" {
		v.Engine = doc.Engine.Name + "/" + doc.Engine.Version
	}
	// Worst first, as the engine lists them, then any others by name.
	sev := policy.Severities()
	for k := range doc.Summary.BySeverity {
		if !slices.Contains(sev, k) {
			sev = append(sev, k)
		}
	}
	slices.SortStableFunc(sev[len(policy.Severities()):], strings.Compare)
	for _, s := range sev {
		if n, ok := doc.Summary.BySeverity[s]; ok {
			v.BySeverity = append(v.BySeverity, SeverityCount{Severity: s, Count: n})
		}
	}
	return nil
}

// exportDoc is what the readable report and coverage.json are made of.
type exportDoc struct {
	Archive  string
	Coverage *Coverage
	Verdicts []ExportVerdict
	// Commands, exact for this archive.
	Extract string
	Verify  []string
	Replay  []string
	Import  string
	// KeysGiven: trust material is in the archive.
	KeysGiven bool
}

// document builds the coverage statement and the report's contents.
func (p *exportPlan) document(root ocispec.Descriptor, trust exportTrustFiles) *exportDoc {
	name := p.o.Name
	if name == "" {
		name = defaultExportName(p.src.Ref)
	}
	tag := p.o.Tag
	if tag == "" {
		tag = p.src.Ref.Tag
	}
	cov := &Coverage{
		Kind: KindExportCoverage, Density: p.o.Density,
		Image:    CoverageImage{Name: name, Digest: root.Digest.String(), MediaType: root.MediaType, Tag: tag, Platforms: []CoveragePlatform{}},
		Included: []CoverageEntry{}, Omitted: []CoverageEntry{},
		Trust: CoverageTrust{Keys: []CoverageKey{}},
	}
	for _, s := range p.subjects {
		if s.platform != "" {
			cov.Image.Platforms = append(cov.Image.Platforms, CoveragePlatform{Platform: s.platform, Digest: s.desc.Digest.String()})
		}
	}
	in := map[string]*CoverageEntry{}
	out := map[[2]string]*CoverageEntry{}
	for _, d := range p.sortedBlobs() {
		b := p.blobs[d]
		cat, reason := b.category()
		var e *CoverageEntry
		if b.included() {
			if e = in[cat]; e == nil {
				e = &CoverageEntry{Category: cat}
				in[cat] = e
			}
			if b.manifest {
				cov.Totals.Manifests++
			} else {
				cov.Totals.Blobs++
			}
			cov.Totals.Bytes += b.desc.Size
		} else {
			k := [2]string{cat, reason}
			if e = out[k]; e == nil {
				e = &CoverageEntry{Category: cat, Reason: reason}
				out[k] = e
			}
			e.Digests = append(e.Digests, d.String())
		}
		if b.manifest {
			e.Manifests++
		} else {
			e.Blobs++
		}
		e.Bytes += b.desc.Size
	}
	var reasons [][2]string
	for k := range out {
		reasons = append(reasons, k)
	}
	slices.SortFunc(reasons, func(a, b [2]string) int {
		if c := slices.Index(categoryOrder, a[0]) - slices.Index(categoryOrder, b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	for _, c := range categoryOrder {
		if e := in[c]; e != nil {
			cov.Included = append(cov.Included, *e)
		}
	}
	for _, k := range reasons {
		e := *out[k]
		if k[0] == CategoryOther {
			for at := range p.other {
				e.ArtifactTypes = append(e.ArtifactTypes, at)
			}
			slices.Sort(e.ArtifactTypes)
		}
		cov.Omitted = append(cov.Omitted, e)
	}
	cov.Complete = p.complete()
	for _, k := range trust.keys {
		cov.Trust.Keys = append(cov.Trust.Keys, CoverageKey{KeyID: k.ID, File: k.File})
	}
	if trust.trustedRoot != nil {
		cov.Trust.TrustedRoot = trustTrustedRootRel
	}
	doc := &exportDoc{Archive: archiveName(p.o.Output), Coverage: cov, Verdicts: p.verdicts, KeysGiven: len(trust.keys) > 0 || trust.trustedRoot != nil}
	if doc.Verdicts == nil {
		doc.Verdicts = []ExportVerdict{}
	}
	p.commands(doc, trust)
	cov.Replayable = len(doc.Verdicts) > 0 && p.o.Density == DensityStrict
	return doc
}

// complete says every blob a manifest in the archive names is in it.
func (p *exportPlan) complete() bool {
	for _, b := range p.blobs {
		if !b.manifest || !b.included() || b.desc.MediaType == ocispec.MediaTypeImageIndex {
			continue
		}
		var m ocispec.Manifest
		if json.Unmarshal(p.manifests[b.desc.Digest], &m) != nil {
			return false
		}
		for _, l := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			if x := p.blobs[l.Digest]; l.Digest != "" && (x == nil || !x.included()) {
				return false
			}
		}
	}
	return true
}

// commands are the exact commands that check this archive.
func (p *exportPlan) commands(doc *exportDoc, trust exportTrustFiles) {
	arch := "oci-archive:" + doc.Archive
	var keyArgs []string
	for _, k := range trust.keys {
		keyArgs = append(keyArgs, "--key", k.File)
	}
	switch {
	case len(keyArgs) > 0:
	case trust.trustedRoot != nil:
		keyArgs = []string{"--trusted-root", trustTrustedRootRel, "--certificate-identity", "IDENTITY", "--certificate-oidc-issuer", "ISSUER"}
	default:
		keyArgs = []string{"--key", "SIGNER.pub"}
	}
	if doc.KeysGiven {
		doc.Extract = shellJoin("tar", "-xf", doc.Archive, "trust/")
	}
	// A subject with a bundle carried on it is verified; with
	// --type verdict when a verdict is carried on it.
	withVerdict := map[string]bool{}
	for _, v := range doc.Verdicts {
		withVerdict[v.Subject] = true
	}
	for _, s := range p.subjects {
		has := slices.ContainsFunc(p.artifacts, func(a *planArtifact) bool {
			return a.category == CategoryBundles && a.included && a.parent == s.desc.Digest
		})
		if !has {
			continue
		}
		doc.Coverage.Verifiable = true
		args := append([]string{"stella-oras", "verify", arch + "@" + s.desc.Digest.String()}, keyArgs...)
		if withVerdict[s.desc.Digest.String()] {
			args = append(args, "--type", bundle.PredicateVerdict)
		}
		doc.Verify = append(doc.Verify, shellJoin(args...))
	}
	if p.o.Density == DensityStrict {
		for _, v := range doc.Verdicts {
			doc.Replay = append(doc.Replay, shellJoin("stella-oras", "replay", arch+"@"+v.Artifact))
		}
	}
	doc.Import = shellJoin("stella-oras", "import", doc.Archive, "REGISTRY/REPOSITORY")
}

// shellJoin joins a command line, quoting what a POSIX shell would split
// or expand.
func shellJoin(args ...string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "" || strings.ContainsFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r))
		}) {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}

// files are what the archive carries beside index.json: coverage.json
// (canonical JSON), index.md, index.html, and the trust material.
func (doc *exportDoc) files(trust exportTrustFiles) ([]registry.LayoutTarFile, error) {
	cov, err := canon.Marshal(doc.Coverage)
	if err != nil {
		return nil, err
	}
	var md, html bytes.Buffer
	if err := mdTemplate.Execute(&md, doc); err != nil {
		return nil, fmt.Errorf("rendering index.md: %w", err)
	}
	if err := htmlTemplate.Execute(&html, doc); err != nil {
		return nil, fmt.Errorf("rendering index.html: %w", err)
	}
	files := []registry.LayoutTarFile{
		{Name: "coverage.json", Data: append(cov, '\n')},
		{Name: "index.md", Data: md.Bytes()},
		{Name: "index.html", Data: html.Bytes()},
	}
	for _, k := range trust.keys {
		files = append(files, registry.LayoutTarFile{Name: k.File, Data: k.PEM})
	}
	if trust.trustedRoot != nil {
		files = append(files, registry.LayoutTarFile{Name: trustTrustedRootRel, Data: trust.trustedRoot})
	}
	return files, nil
}

// severities renders counts by severity: "critical 1, high 0, …".
func severities(cs []SeverityCount) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s %d", c.Severity, c.Count)
	}
	return strings.Join(parts, ", ")
}

// mdCell makes a value safe in a Markdown table cell and code span.
func mdCell(s string) string {
	s = strings.NewReplacer("\n", " ", "\r", " ", "|", `\|`, "`", "'").Replace(s)
	if s == "" {
		return "-"
	}
	return s
}

func orNoneText(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

var templateFuncs = map[string]any{"severities": severities, "md": mdCell, "dash": orNoneText}

var mdTemplate = texttemplate.Must(texttemplate.New("index.md").Funcs(templateFuncs).Parse(`# Audit bundle: {{md .Coverage.Image.Name}}

| | |
| --- | --- |
| Image | ` + "`{{md .Coverage.Image.Name}}`" + ` |
| Digest | ` + "`{{.Coverage.Image.Digest}}`" + ` |
| Media type | ` + "`{{md .Coverage.Image.MediaType}}`" + ` |
| Density | {{.Coverage.Density}} |
| Archive | ` + "`{{md .Archive}}`" + ` (an OCI image layout; its sha256 is not inside it) |
{{if .Coverage.Image.Platforms}}
## Platforms

| Platform | Manifest |
| --- | --- |
{{range .Coverage.Image.Platforms}}| {{md .Platform}} | ` + "`{{.Digest}}`" + ` |
{{end}}{{end}}
## Verdicts
{{if not .Verdicts}}
No verdict artifact refers to the image.
{{end}}{{range .Verdicts}}
### {{.Status}}{{if .Platform}} ({{md .Platform}}){{end}}: verdict artifact ` + "`{{.Artifact}}`" + `

- Status: **{{md .Status}}**, risk score {{.RiskScore}}, {{.Findings}} findings ({{severities .BySeverity}}), {{.Unknowns}} unknowns
- Subject: ` + "`{{md .Subject}}`" + `
- Engine: {{md .Engine}}; feed epoch: {{md .FeedEpoch}}; policy: {{md .Policy}}
- Verdict digest: ` + "`{{md .VerdictDigest}}`" + `; scan manifest: ` + "`{{md .ManifestDigest}}`" + `
- Signed by bundles: {{range $i, $b := .Bundles}}{{if $i}}, {{end}}` + "`{{$b}}`" + `{{else}}none in the archive{{end}}
- Inputs: {{if .InputsIncluded}}in the archive (replayable offline){{else}}not in the archive (density {{$.Coverage.Density}}){{end}}
{{if .Note}}- Note: {{md .Note}}
{{end}}{{end}}
## How to verify
{{if .Verify}}
` + "```sh" + `
{{if .Extract}}{{.Extract}}
{{end}}{{range .Verify}}{{.}}
{{end}}` + "```" + `
{{if .KeysGiven}}
The keys under trust/ are the ones given to the export. Verifying with a key taken from this
archive proves only that the archive is consistent with itself: check its key ID
(` + "`stella-oras key id FILE.pub`" + `, the file name) against one you trust, or verify with your own copy.
{{else}}
Give the signer's public key (SIGNER.pub); the archive carries none.
{{end}}{{else}}
No Sigstore bundle on the image is in the archive: there is nothing to verify.
{{end}}
## How to replay
{{if .Replay}}
` + "```sh" + `
{{range .Replay}}{{.}}
{{end}}` + "```" + `

Each replay re-evaluates the verdict from the inputs in this archive alone, with no network, and
must give the same verdict digest.
{{else if .Verdicts}}
This archive does not carry the verdicts' inputs (density {{.Coverage.Density}}): replay needs an
export with ` + "`--density strict`" + `, or the registry the verdicts were pushed to.
{{else}}
No verdict to replay.
{{end}}
## How to import

` + "```sh" + `
{{.Import}}
` + "```" + `

## Coverage

Density **{{.Coverage.Density}}**: {{.Coverage.Totals.Manifests}} manifests and {{.Coverage.Totals.Blobs}} blobs, {{.Coverage.Totals.Bytes}} bytes, in the archive.
{{- if .Coverage.Complete}} Every blob a manifest in it names is in it.{{else}} Some manifests in it name blobs it does not carry (below).{{end}}

| Included | Manifests | Blobs | Bytes |
| --- | ---: | ---: | ---: |
{{range .Coverage.Included}}| {{.Category}} | {{.Manifests}} | {{.Blobs}} | {{.Bytes}} |
{{end}}{{if .Coverage.Omitted}}
| Left out | Manifests | Blobs | Bytes | Why |
| --- | ---: | ---: | ---: | --- |
{{range .Coverage.Omitted}}| {{.Category}}{{if .ArtifactTypes}} ({{range $i, $t := .ArtifactTypes}}{{if $i}}, {{end}}{{md $t}}{{end}}){{end}} | {{.Manifests}} | {{.Blobs}} | {{.Bytes}} | {{md .Reason}} |
{{end}}
coverage.json lists the digests left out.
{{else}}
Nothing was left out.
{{end}}{{if .Coverage.Trust.Keys}}
Trust material: {{range $i, $k := .Coverage.Trust.Keys}}{{if $i}}, {{end}}` + "`{{$k.File}}`" + `{{end}}{{if .Coverage.Trust.TrustedRoot}}, ` + "`{{.Coverage.Trust.TrustedRoot}}`" + `{{end}}.
{{else if .Coverage.Trust.TrustedRoot}}
Trust material: ` + "`{{.Coverage.Trust.TrustedRoot}}`" + `.
{{end}}`))

var htmlTemplate = htmltemplate.Must(htmltemplate.New("index.html").Funcs(templateFuncs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Audit bundle: {{.Coverage.Image.Name}}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.4; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.9em; }
pre { background: #f4f4f4; padding: 0.75rem; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
td.n { text-align: right; }
.pass { color: #176f2c; } .warn { color: #8a5a00; } .fail { color: #b00020; }
</style>
</head>
<body>
<h1>Audit bundle: {{.Coverage.Image.Name}}</h1>
<table>
<tr><th>Image</th><td><code>{{.Coverage.Image.Name}}</code></td></tr>
<tr><th>Digest</th><td><code>{{.Coverage.Image.Digest}}</code></td></tr>
<tr><th>Media type</th><td><code>{{.Coverage.Image.MediaType}}</code></td></tr>
<tr><th>Density</th><td>{{.Coverage.Density}}</td></tr>
<tr><th>Archive</th><td><code>{{.Archive}}</code> (an OCI image layout; its sha256 is not inside it)</td></tr>
</table>
{{if .Coverage.Image.Platforms}}<h2>Platforms</h2>
<table>
<tr><th>Platform</th><th>Manifest</th></tr>
{{range .Coverage.Image.Platforms}}<tr><td>{{.Platform}}</td><td><code>{{.Digest}}</code></td></tr>
{{end}}</table>
{{end}}<h2>Verdicts</h2>
{{if not .Verdicts}}<p>No verdict artifact refers to the image.</p>
{{end}}{{range .Verdicts}}<h3><span class="{{.Status}}">{{.Status}}</span>{{if .Platform}} ({{.Platform}}){{end}}: verdict artifact <code>{{.Artifact}}</code></h3>
<table>
<tr><th>Status</th><td class="{{.Status}}"><strong>{{.Status}}</strong></td></tr>
<tr><th>Risk score</th><td>{{.RiskScore}}</td></tr>
<tr><th>Findings</th><td>{{.Findings}} ({{severities .BySeverity}})</td></tr>
<tr><th>Unknowns</th><td>{{.Unknowns}}</td></tr>
<tr><th>Subject</th><td><code>{{.Subject}}</code></td></tr>
<tr><th>Engine</th><td>{{dash .Engine}}</td></tr>
<tr><th>Feed epoch</th><td>{{dash .FeedEpoch}}</td></tr>
<tr><th>Policy</th><td>{{dash .Policy}}</td></tr>
<tr><th>Verdict digest</th><td><code>{{dash .VerdictDigest}}</code></td></tr>
<tr><th>Scan manifest</th><td><code>{{dash .ManifestDigest}}</code></td></tr>
<tr><th>Signed by bundles</th><td>{{range $i, $b := .Bundles}}{{if $i}}<br>{{end}}<code>{{$b}}</code>{{else}}none in the archive{{end}}</td></tr>
<tr><th>Inputs</th><td>{{if .InputsIncluded}}in the archive (replayable offline){{else}}not in the archive (density {{$.Coverage.Density}}){{end}}</td></tr>
{{if .Note}}<tr><th>Note</th><td>{{.Note}}</td></tr>
{{end}}</table>
{{end}}<h2>How to verify</h2>
{{if .Verify}}<pre>{{if .Extract}}{{.Extract}}
{{end}}{{range .Verify}}{{.}}
{{end}}</pre>
{{if .KeysGiven}}<p>The keys under <code>trust/</code> are the ones given to the export. Verifying with a key taken from this
archive proves only that the archive is consistent with itself: check its key ID
(<code>stella-oras key id FILE.pub</code>, the file name) against one you trust, or verify with your own copy.</p>
{{else}}<p>Give the signer's public key (<code>SIGNER.pub</code>); the archive carries none.</p>
{{end}}{{else}}<p>No Sigstore bundle on the image is in the archive: there is nothing to verify.</p>
{{end}}<h2>How to replay</h2>
{{if .Replay}}<pre>{{range .Replay}}{{.}}
{{end}}</pre>
<p>Each replay re-evaluates the verdict from the inputs in this archive alone, with no network, and
must give the same verdict digest.</p>
{{else if .Verdicts}}<p>This archive does not carry the verdicts' inputs (density {{.Coverage.Density}}): replay needs an
export with <code>--density strict</code>, or the registry the verdicts were pushed to.</p>
{{else}}<p>No verdict to replay.</p>
{{end}}<h2>How to import</h2>
<pre>{{.Import}}</pre>
<h2>Coverage</h2>
<p>Density <strong>{{.Coverage.Density}}</strong>: {{.Coverage.Totals.Manifests}} manifests and {{.Coverage.Totals.Blobs}} blobs, {{.Coverage.Totals.Bytes}} bytes, in the archive.
{{if .Coverage.Complete}}Every blob a manifest in it names is in it.{{else}}Some manifests in it name blobs it does not carry (below).{{end}}</p>
<table>
<tr><th>Included</th><th>Manifests</th><th>Blobs</th><th>Bytes</th></tr>
{{range .Coverage.Included}}<tr><td>{{.Category}}</td><td class="n">{{.Manifests}}</td><td class="n">{{.Blobs}}</td><td class="n">{{.Bytes}}</td></tr>
{{end}}</table>
{{if .Coverage.Omitted}}<table>
<tr><th>Left out</th><th>Manifests</th><th>Blobs</th><th>Bytes</th><th>Why</th></tr>
{{range .Coverage.Omitted}}<tr><td>{{.Category}}{{if .ArtifactTypes}} ({{range $i, $t := .ArtifactTypes}}{{if $i}}, {{end}}<code>{{$t}}</code>{{end}}){{end}}</td><td class="n">{{.Manifests}}</td><td class="n">{{.Blobs}}</td><td class="n">{{.Bytes}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>
<p><code>coverage.json</code> lists the digests left out.</p>
{{else}}<p>Nothing was left out.</p>
{{end}}{{if or .Coverage.Trust.Keys .Coverage.Trust.TrustedRoot}}<p>Trust material: {{range $i, $k := .Coverage.Trust.Keys}}{{if $i}}, {{end}}<code>{{$k.File}}</code>{{end}}{{if .Coverage.Trust.TrustedRoot}}{{if .Coverage.Trust.Keys}}, {{end}}<code>{{.Coverage.Trust.TrustedRoot}}</code>{{end}}.</p>
{{end}}</body>
</html>
`))
