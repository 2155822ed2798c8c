package load

import (
	"sync"
	"time"

	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/dlclark/regexp2"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
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
		return fmt.Errorf("%s: %w: %s", name, ErrSchema, whyNoSchema(top.BOMFormat, top.SpecVersion, top.SPDXVersion))
	}
	sch, err := compileSchema(name, dir, file)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: %w: %v", name, ErrSchema, err)
	}
	if err := sch.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("%s: %w against %s: %s", name, ErrSchema, file, firstCause(ve))
		}
		return fmt.Errorf("%s: %w: %v", name, ErrSchema, err)
	}
	return nil
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

// compiled caches compiled schemas by directory and file: compiling the
// CycloneDX schema takes longer than validating a document against it.
var compiled sync.Map

func compileSchema(name, dir, file string) (*jsonschema.Schema, error) {
	key := dir + "\x00" + file
	if s, ok := compiled.Load(key); ok {
		return s.(*jsonschema.Schema), nil
	}
	c := jsonschema.NewCompiler()
	// The SPDX 3.0.1 schema uses look-ahead patterns ("^(?!_:).+:.+"),
	// which Go's RE2 regexp refuses; JSON Schema patterns are ECMA-262, so
	// use regexp2 in its ECMAScript mode.
	c.UseRegexpEngine(ecmaRegexp)
	// Strict means formats too: a date-time that is not one is an error.
	c.AssertFormat()
	// Register the schema and its siblings (the files its relative $refs
	// name: bom-1.6 -> spdx.schema.json, jsf-0.82.schema.json) under their
	// $id, the main schema first, so nothing is fetched. Siblings that
	// repeat an $id already registered (spdx-2.3 and 2.3.1) are skipped.
	mainPath := filepath.Join(dir, filepath.FromSlash(file))
	siblings, err := filepath.Glob(filepath.Join(filepath.Dir(mainPath), "*.json"))
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	var mainID string
	for _, p := range append([]string{mainPath}, siblings...) {
		if p == mainPath && mainID != "" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			if p == mainPath {
				return nil, fmt.Errorf("%s: %w: %v", name, ErrSchema, err)
			}
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		m, _ := doc.(map[string]any)
		id, _ := m["$id"].(string)
		if id == "" {
			id = "file://" + filepath.ToSlash(p)
		}
		if ids[id] {
			continue
		}
		ids[id] = true
		if p == mainPath {
			mainID = id
		}
		if err := c.AddResource(id, doc); err != nil {
			return nil, fmt.Errorf("loading schema %s: %w", p, err)
		}
	}
	sch, err := c.Compile(mainID)
	if err != nil {
		return nil, fmt.Errorf("compiling %s: %w", file, err)
	}
	compiled.Store(key, sch)
	return sch, nil
}

// firstCause renders the deepest first validation error on one line, with
// its JSON pointer.
func firstCause(ve *jsonschema.ValidationError) string {
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	loc := "/" + strings.Join(ve.InstanceLocation, "/")
	return fmt.Sprintf("at %s: %s", loc, causeMessage(ve.ErrorKind))
}

// Bounds on a schema error's message: the CycloneDX license enum is the
// whole SPDX license list (about 10 KB on one line).
const (
	maxEnumShown     = 5
	maxSchemaMessage = 300
)

// causeMessage renders one schema error, a long enum summarized by its
// count and first values, anything else cut at maxSchemaMessage bytes.
func causeMessage(k jsonschema.ErrorKind) string {
	if e, ok := k.(*kind.Enum); ok && len(e.Want) > maxEnumShown {
		shown := make([]string, 0, maxEnumShown)
		for _, w := range e.Want[:maxEnumShown] {
			shown = append(shown, quoteJSON(w))
		}
		return fmt.Sprintf("value %s is not one of the %d allowed values (%s, …)", quoteJSON(e.Got), len(e.Want), strings.Join(shown, ", "))
	}
	msg := k.LocalizedString(message.NewPrinter(language.English))
	if len(msg) > maxSchemaMessage {
		cut := maxSchemaMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = fmt.Sprintf("%s… (%d bytes in all)", msg[:cut], len(msg))
	}
	return msg
}

// quoteJSON renders a JSON value for a message, bounded.
func quoteJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 80 {
		cut := 77
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		return string(b[:cut]) + "…"
	}
	return string(b)
}

type ecma struct{ re *regexp2.Regexp }

func (e ecma) MatchString(s string) bool {
	ok, err := e.re.MatchString(s)
	return err == nil && ok
}

func (e ecma) String() string { return e.re.String() }

func ecmaRegexp(pattern string) (jsonschema.Regexp, error) {
	re, err := regexp2.Compile(pattern, regexp2.ECMAScript)
	if err != nil {
		return nil, err
	}
	// Bound backtracking on hostile documents.
	re.MatchTimeout = time.Second
	return ecma{re}, nil
}
