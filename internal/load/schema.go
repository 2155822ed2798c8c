package load

import (
	"encoding/json"
	"errors"
	"fmt"
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
	var top struct {
		BOMFormat   string          `json:"bomFormat"`
		SpecVersion string          `json:"specVersion"`
		SPDXVersion string          `json:"spdxVersion"`
		Context     json.RawMessage `json:"@context"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return fmt.Errorf("%s: %w: %v", name, ErrSchema, err)
	}
	var key string
	switch {
	case top.BOMFormat != "":
		key = "CycloneDX " + top.SpecVersion
	case top.SPDXVersion != "":
		key = top.SPDXVersion
	case len(top.Context) > 0:
		key = "SPDX 3"
	}
	file, ok := schemaFiles[key]
	if !ok {
		return fmt.Errorf("%s: %w: no schema for %q (have CycloneDX 1.5–1.7, SPDX-2.3, SPDX 3.0.1)", name, ErrSchema, key)
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
