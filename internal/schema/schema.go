// Package schema validates documents against JSON schemas (JSON Schema
// drafts 4 to 2020-12, ECMA-262 patterns) with santhosh-tekuri/jsonschema.
//
// It is linked only into the stella-schema binary (and tests), never into
// stella-oras: the library compiles its five metaschemas at package
// initialization, about 7–10 ms that every stella-oras command paid for a
// check only `--strict` makes. stella-oras runs stella-schema instead (see
// internal/load.Validator).
package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/stella-ops/stella-oras/internal/readfile"
)

// Invalid is the error for a document that does not validate: the first
// (deepest) violation, with its JSON pointer.
type Invalid struct{ Problem string }

func (e *Invalid) Error() string { return e.Problem }

// Validate checks data against the schema file (relative to dir; its
// sibling files resolve its relative $refs, nothing is fetched). A
// document that does not validate gives *Invalid; any other error means
// the check could not run.
func Validate(dir, file string, data []byte) error {
	sch, err := compileSchema(dir, file)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return &Invalid{Problem: err.Error()}
	}
	if err := sch.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return &Invalid{Problem: firstCause(ve)}
		}
		return &Invalid{Problem: err.Error()}
	}
	return nil
}

// maxSchemaBytes bounds one schema file (counted as it is read), and
// maxSchemaTotal and maxSchemaFiles the directory the schema and its
// siblings are in: the CycloneDX 1.6 schema, the largest, is about 250 KB
// with its siblings, in a few files.
const (
	maxSchemaBytes = 16 << 20
	maxSchemaTotal = 64 << 20
	maxSchemaFiles = 1000
)

// readSchema reads one file of the schema directory: a regular file (a
// FIFO found there would wait for a writer forever, a device never end),
// at most maxSchemaBytes.
func readSchema(p string) ([]byte, error) {
	if _, err := readfile.Regular(p); err != nil {
		return nil, err
	}
	return readfile.File(p, maxSchemaBytes)
}

// compiled caches compiled schemas by directory and file: compiling the
// CycloneDX schema takes longer than validating a document against it.
var compiled sync.Map

func compileSchema(dir, file string) (*jsonschema.Schema, error) {
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
	if len(siblings) > maxSchemaFiles {
		return nil, fmt.Errorf("%s: %d schema files, over the %d a schema directory may have", filepath.Dir(mainPath), len(siblings), maxSchemaFiles)
	}
	ids := map[string]bool{}
	var mainID string
	var total int64
	for _, p := range append([]string{mainPath}, siblings...) {
		if p == mainPath && mainID != "" {
			continue
		}
		b, err := readSchema(p)
		if err != nil {
			return nil, err
		}
		if total += int64(len(b)); total > maxSchemaTotal {
			return nil, fmt.Errorf("%s: the schema files exceed %d bytes in all", filepath.Dir(mainPath), maxSchemaTotal)
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

// firstCause renders one validation error on one line, with its JSON
// pointer: of the innermost errors, the deepest in the document (the most
// specific), ties broken by location, then message. The library's order of causes varies from run
// to run (it comes from map iteration), and a message must not. How many
// others there were is said too.
func firstCause(ve *jsonschema.ValidationError) string {
	p := message.NewPrinter(language.English)
	type leaf struct {
		depth    int
		loc, msg string
	}
	var leaves []leaf
	var walk func(*jsonschema.ValidationError)
	walk = func(v *jsonschema.ValidationError) {
		if len(v.Causes) == 0 {
			leaves = append(leaves, leaf{len(v.InstanceLocation), "/" + strings.Join(v.InstanceLocation, "/"), causeMessage(v.ErrorKind, p)})
			return
		}
		for _, c := range v.Causes {
			walk(c)
		}
	}
	walk(ve)
	first := slices.MinFunc(leaves, func(a, b leaf) int {
		if a.depth != b.depth {
			return b.depth - a.depth
		}
		if c := strings.Compare(a.loc, b.loc); c != 0 {
			return c
		}
		return strings.Compare(a.msg, b.msg)
	})
	s := fmt.Sprintf("at %s: %s", first.loc, first.msg)
	if len(leaves) > 1 {
		s += fmt.Sprintf(" (and %d more)", len(leaves)-1)
	}
	return s
}

// Bounds on a schema error's message: the CycloneDX license enum is the
// whole SPDX license list (about 10 KB on one line).
const (
	maxEnumShown     = 5
	maxSchemaMessage = 300
)

// causeMessage renders one schema error, a long enum summarized by its
// count and first values, anything else cut at maxSchemaMessage bytes.
func causeMessage(k jsonschema.ErrorKind, p *message.Printer) string {
	if e, ok := k.(*kind.Enum); ok && len(e.Want) > maxEnumShown {
		shown := make([]string, 0, maxEnumShown)
		for _, w := range e.Want[:maxEnumShown] {
			shown = append(shown, quoteJSON(w))
		}
		return fmt.Sprintf("value %s is not one of the %d allowed values (%s, …)", quoteJSON(e.Got), len(e.Want), strings.Join(shown, ", "))
	}
	msg := k.LocalizedString(p)
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

// InProcess is Validate in the shape of internal/load.Validator.
func InProcess(dir, file string, data []byte) (string, error) {
	err := Validate(dir, file, data)
	var inv *Invalid
	if errors.As(err, &inv) {
		return inv.Problem, nil
	}
	return "", err
}
