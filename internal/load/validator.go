package load

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/stella-ops/stella-oras/internal/sibling"
)

// Validator checks data against the JSON schema file under dir: problem
// says how the document fails it ("" when it validates), err that the
// check could not run. By default it runs the stella-schema binary (see
// internal/schema for why that is a separate program); a program that
// links internal/schema may set it to validate in process, as the tests do:
//
//	load.Validator = schema.InProcess
var Validator = execValidator

// schemaInvalid is stella-schema's exit code for a document that does
// not validate (0: it does; anything else: it could not check).
const schemaInvalid = 3

// maxSchemaOutput bounds what is read of stella-schema's answer.
const maxSchemaOutput = 64 << 10

func execValidator(dir, file string, data []byte) (string, error) {
	bin, err := sibling.Find("stella-schema")
	if err != nil {
		return "", fmt.Errorf("--strict: %w", err)
	}
	cmd := exec.Command(bin, dir, file)
	cmd.Stdin = bytes.NewReader(data)
	var out, errb boundedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "", nil
	case errors.As(err, &ee) && ee.ExitCode() == schemaInvalid:
		return strings.TrimSpace(out.String()), nil
	}
	msg := strings.TrimSpace(errb.String())
	if msg == "" {
		msg = err.Error()
	}
	return "", fmt.Errorf("%s: %s", bin, msg)
}

// boundedBuffer keeps the first maxSchemaOutput bytes written to it.
type boundedBuffer struct{ bytes.Buffer }

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := maxSchemaOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
