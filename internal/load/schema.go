package load

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
)

// ErrSchema is returned when a document does not validate against its
// format's JSON schema, or no schema is available for it.
var ErrSchema = errors.New("schema validation failed")

// schemaFiles names the schema of each format version, as published by the
// CycloneDX and SPDX projects (file names of their repositories).
var schemaFiles = map[string]string{
	"CycloneDX 1.5": "cyclonedx/bom-1.5.schema.json",
	"CycloneDX 1.6": "cyclonedx/bom-1.6.schema.json",
	"CycloneDX 1.7": "cyclonedx/bom-1.7.schema.json",
	"SPDX-2.3":      "spdx/spdx-2.3.schema.json",
	"SPDX 3":        "spdx/spdx-3.0.1.schema.json",
}

// ValidateSBOM checks an SBOM against the official JSON schema of its format
// and version, loaded from dir (which holds cyclonedx/ and spdx/ schema
// directories, e.g. the corpus's schemas/). The schemas are not bundled:
// they are the standards bodies' files, and the user says which to trust.
func ValidateSBOM(name string, data []byte, dir string) error {
	if dir == "" {
		return fmt.Errorf("%s: %w: --strict needs --schemas DIR (or STELLA_SCHEMAS) with the CycloneDX and SPDX JSON schemas", name, ErrSchema)
	}
	// The fields that choose the schema, each read as JSON first: decoded
	// into strings, a number there was reported in Go's terms ("cannot
	// unmarshal number into Go struct field .specVersion of type string").
	var raw struct {
		BOMFormat   json.RawMessage `json:"bomFormat"`
		SpecVersion json.RawMessage `json:"specVersion"`
		SPDXVersion json.RawMessage `json:"spdxVersion"`
		Context     json.RawMessage `json:"@context"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s: %w: the document is a JSON %s, not an object", name, ErrSchema, te.Value)
		}
		return fmt.Errorf("%s: %w: %v", name, ErrSchema, err)
	}
	var top struct{ BOMFormat, SpecVersion, SPDXVersion string }
	for _, f := range []struct {
		name, example string
		raw           json.RawMessage
		to            *string
	}{
		{"bomFormat", "CycloneDX", raw.BOMFormat, &top.BOMFormat},
		{"specVersion", "1.6", raw.SpecVersion, &top.SpecVersion},
		{"spdxVersion", "SPDX-2.3", raw.SPDXVersion, &top.SPDXVersion},
	} {
		if len(f.raw) > 0 && json.Unmarshal(f.raw, f.to) != nil {
			return fmt.Errorf("%s: %w: %s is %s, want a string (such as %q)", name, ErrSchema, f.name, clip(f.raw), f.example)
		}
	}
	var key string
	switch {
	case top.BOMFormat != "":
		key = "CycloneDX " + top.SpecVersion
	case top.SPDXVersion != "":
		key = top.SPDXVersion
	case len(raw.Context) > 0:
		key = "SPDX 3"
	}
	file, ok := schemaFiles[key]
	if !ok {
		return fmt.Errorf("%s: %w: %s", name, ErrSchema, whyNoSchema(top.BOMFormat, top.SpecVersion, top.SPDXVersion))
	}
	problem, err := Validator(dir, file, data)
	if err != nil {
		return fmt.Errorf("%s: %w: %v", name, ErrSchema, err)
	}
	if problem != "" {
		return fmt.Errorf("%s: %w against %s: %s", name, ErrSchema, file, problem)
	}
	return nil
}

// clip is a JSON value for a message: at most 40 bytes of it.
func clip(v []byte) string {
	if len(v) > 40 {
		return string(v[:40]) + "…"
	}
	return string(v)
}

// whyNoSchema says what is wrong with a document that names no format
// version we have a schema for ("no schema for \"CycloneDX 1\"" said
// nothing of a bomFormat of "CDX").
func whyNoSchema(bomFormat, specVersion, spdxVersion string) string {
	const have = "--strict has the schemas of CycloneDX 1.5–1.7, SPDX-2.3 and SPDX 3.0.1"
	switch {
	case bomFormat != "" && bomFormat != "CycloneDX":
		return fmt.Sprintf("bomFormat is %q, want \"CycloneDX\"", bomFormat)
	case bomFormat != "" && specVersion == "":
		return "a CycloneDX document without specVersion"
	case bomFormat != "" && !cdxVersion.MatchString(specVersion):
		return fmt.Sprintf("specVersion %q is not a CycloneDX version (such as \"1.6\")", specVersion)
	case bomFormat != "":
		return fmt.Sprintf("CycloneDX %s: %s", specVersion, have)
	case spdxVersion != "":
		return fmt.Sprintf("spdxVersion %q: %s", spdxVersion, have)
	}
	return "not a CycloneDX or SPDX document (no bomFormat, spdxVersion or @context)"
}

// cdxVersion is the form of a CycloneDX specVersion.
var cdxVersion = regexp.MustCompile(`^1\.[0-9]+$`)
