package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	spdxjson "github.com/spdx/tools-golang/json"
)

// cdxComponent holds the members of a CycloneDX component the scan reads.
type cdxComponent struct {
	BOMRef     string          `json:"bom-ref"`
	Name       string          `json:"name"`
	Version    string          `json:"version"`
	PackageURL string          `json:"purl"`
	Components *[]cdxComponent `json:"components"`
}

// cdxBOM is the part of a CycloneDX BOM the scan reads. The header members
// use the CycloneDX library's types (SpecVersion refuses versions the
// specification does not define) and are typed as the schema types them.
//
// The components are not decoded into cyclonedx-go's Component: that
// struct models every member of the specification, and decoding 10,000
// components into it takes six times as long as this (160 ms against
// 27 ms, measured in a fresh process) — most of the eval budget — for
// members the verdict never reads. It also refuses some schema-valid
// documents in parts the scan ignores (cyclonedx-go v0.12 rejects
// declarations.evidence.data.classification in the specification's own
// 1.6 attestation example).
type cdxBOM struct {
	BOMFormat    string            `json:"bomFormat"`
	SpecVersion  cdx.SpecVersion   `json:"specVersion"`
	SerialNumber string            `json:"serialNumber"`
	Version      int               `json:"version"`
	Components   *[]cdxComponent   `json:"components"`
	Dependencies *[]cdx.Dependency `json:"dependencies"`
	Metadata     *struct {
		Component *cdxComponent `json:"component"`
	} `json:"metadata"`
}

// cyclonedx walks components (nested ones too) and dependencies.
// metadata.component is the subject the SBOM describes, not one of its
// parts, and is not judged (as in Trivy); components nested under it are.
func (b *builder) cyclonedx(data []byte) error {
	var bom cdxBOM
	if err := json.Unmarshal(data, &bom); err != nil {
		return fmt.Errorf("%w: CycloneDX: %v", ErrFormat, jsonErr(err))
	}
	if bom.SpecVersion < cdx.SpecVersion1_0 {
		return fmt.Errorf("%w: CycloneDX: specVersion missing", ErrFormat)
	}
	b.s.SpecVersion = bom.SpecVersion.String()
	var walk func(cs *[]cdxComponent)
	walk = func(cs *[]cdxComponent) {
		if cs == nil {
			return
		}
		for i := range *cs {
			c := &(*cs)[i]
			b.add(c.BOMRef, c.Name, c.Version, strings.TrimSpace(c.PackageURL))
			walk(c.Components)
		}
	}
	walk(bom.Components)
	if bom.Metadata != nil && bom.Metadata.Component != nil {
		if p := strings.TrimSpace(bom.Metadata.Component.PackageURL); p != "" {
			b.s.Subjects = append(b.s.Subjects, p)
		}
		walk(bom.Metadata.Component.Components)
	}
	if bom.Dependencies != nil {
		for _, d := range *bom.Dependencies {
			if d.Dependencies == nil {
				continue
			}
			for _, to := range *d.Dependencies {
				b.depend(d.Ref, to)
			}
		}
	}
	return nil
}

// spdx2 reads SPDX 2.1–2.3 JSON with spdx/tools-golang (which converts every
// version to the 2.3 model). Packages name their purl in an external
// reference of category PACKAGE-MANAGER (or PACKAGE_MANAGER, which real tools
// write) and type purl.
func (b *builder) spdx2(data []byte) error {
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%w: SPDX: %v", ErrFormat, jsonErr(err))
	}
	b.s.SpecVersion = doc.SPDXVersion
	purls := map[string]string{} // package SPDX ID -> purl
	for _, p := range doc.Packages {
		if p == nil {
			continue
		}
		purl := ""
		for _, r := range p.PackageExternalReferences {
			if r != nil && strings.EqualFold(r.RefType, "purl") {
				purl = strings.TrimSpace(r.Locator)
				break
			}
		}
		purls[string(p.PackageSPDXIdentifier)] = purl
		b.add(string(p.PackageSPDXIdentifier), p.PackageName, p.PackageVersion, purl)
	}
	self := string(doc.SPDXIdentifier)
	for _, r := range doc.Relationships {
		if r == nil {
			continue
		}
		a, z := string(r.RefA.ElementRefID), string(r.RefB.ElementRefID)
		switch strings.ToUpper(r.Relationship) {
		case "DEPENDS_ON":
			b.depend(a, z)
		case "DEPENDENCY_OF":
			b.depend(z, a)
		case "DESCRIBES": // documentDescribes is read as these too
			if a == self && purls[z] != "" {
				b.s.Subjects = append(b.s.Subjects, purls[z])
			}
		case "DESCRIBED_BY":
			if z == self && purls[a] != "" {
				b.s.Subjects = append(b.s.Subjects, purls[a])
			}
		}
	}
	return nil
}

// spdx3 reads SPDX 3.0 JSON-LD. No well-kept Go library reads SPDX 3 yet
// (tools-golang only models 2.x), so this reads the few properties the scan
// needs from the @graph: software_Package elements (and their AI and dataset
// subclasses), their purl (software_packageUrl or an externalIdentifier of
// type packageUrl), and dependsOn relationships.
func (b *builder) spdx3(top map[string]json.RawMessage) error {
	var graph []struct {
		Type    string `json:"type"`
		SpdxID  string `json:"spdxId"`
		Name    string `json:"name"`
		Version string `json:"software_packageVersion"`
		Purl    string `json:"software_packageUrl"`
		ExtIDs  []struct {
			Type  string `json:"externalIdentifierType"`
			Value string `json:"identifier"`
		} `json:"externalIdentifier"`
		From string   `json:"from"`
		To   []string `json:"to"`
		Rel  string   `json:"relationshipType"`
		Root []string `json:"rootElement"`
	}
	raw, ok := top["@graph"]
	if !ok {
		return fmt.Errorf("%w: SPDX 3: no @graph", ErrFormat)
	}
	if err := json.Unmarshal(raw, &graph); err != nil {
		return fmt.Errorf("%w: SPDX 3: @graph: %v", ErrFormat, jsonErr(err))
	}
	b.s.SpecVersion = "3.0"
	purls := map[string]string{} // package spdxId -> purl
	var roots []string
	for _, e := range graph {
		switch e.Type {
		case "software_Sbom", "SpdxDocument":
			roots = append(roots, e.Root...)
		case "software_Package", "ai_AIPackage", "dataset_DatasetPackage":
			purl := e.Purl
			for _, x := range e.ExtIDs {
				if purl == "" && x.Type == "packageUrl" {
					purl = x.Value
				}
			}
			purls[e.SpdxID] = strings.TrimSpace(purl)
			b.add(e.SpdxID, e.Name, e.Version, strings.TrimSpace(purl))
		case "Relationship", "LifecycleScopedRelationship":
			if e.Rel == "dependsOn" {
				for _, to := range e.To {
					b.depend(e.From, to)
				}
			}
		}
	}
	for _, id := range roots {
		if p := purls[id]; p != "" {
			b.s.Subjects = append(b.s.Subjects, p)
		}
	}
	return nil
}

// jsonErr turns encoding/json type errors into "at JSON path X: …" text.
func jsonErr(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("at %s (byte offset %d): %s value where %s expected", te.Field, te.Offset, te.Value, te.Type)
	}
	return err.Error()
}
