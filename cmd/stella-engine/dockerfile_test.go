package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// dockerInstr is one Dockerfile instruction: its keyword and arguments.
type dockerInstr struct {
	cmd  string
	args []string
	line string // the arguments as written, continuations joined
}

// dockerStage is a FROM and what follows it.
type dockerStage struct {
	base, name string
	instrs     []dockerInstr
}

// parseDockerfile reads the instructions the tests look at: comments
// dropped, backslash continuations joined, arguments split on spaces.
// Not a full parser (no heredocs, no escape directive): enough for this
// project's Dockerfile, which a change to either would have to keep so.
func parseDockerfile(t *testing.T, path string) []dockerStage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []dockerStage
	var pending string
	for _, raw := range strings.Split(string(b), "\n") {
		l := strings.TrimSpace(raw)
		if pending == "" && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(l, "\\"); ok {
			pending += cont + " "
			continue
		}
		l, pending = pending+l, ""
		kw, rest, _ := strings.Cut(l, " ")
		in := dockerInstr{cmd: strings.ToUpper(kw), args: strings.Fields(rest), line: strings.TrimSpace(rest)}
		if in.cmd == "FROM" {
			st := dockerStage{base: in.args[0]}
			if len(in.args) == 3 && strings.EqualFold(in.args[1], "AS") {
				st.name = in.args[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("%s: %s before any FROM", path, in.cmd)
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	return stages
}

// copiesFrom lists a stage's COPY --from=from instructions as (sources,
// destination).
func copiesFrom(st dockerStage, from string) [][2][]string {
	var out [][2][]string
	for _, in := range st.instrs {
		if in.cmd != "COPY" || len(in.args) < 3 || in.args[0] != "--from="+from {
			continue
		}
		out = append(out, [2][]string{in.args[1 : len(in.args)-1], {in.args[len(in.args)-1]}})
	}
	return out
}

// TestDockerfileImage: the final image of the Dockerfile has what the
// tool needs at run time on an empty base — the build stage's CA bundle
// where Go looks for it (TLS to a public registry) and a /tmp that is
// world-writable and sticky (the tool makes temporary directories). It
// reads the Dockerfile only: no engine runs here, so it cannot prove that
// the image builds or that the bundle exists in the build image (Debian's
// golang images ship ca-certificates).
func TestDockerfileImage(t *testing.T) {
	stages := parseDockerfile(t, filepath.Join(testutil.RepoRoot(), "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and the image", len(stages))
	}
	final, build := stages[len(stages)-1], stages[0]
	if build.name == "" {
		t.Fatalf("the build stage has no name to copy from")
	}
	const bundle = "/etc/ssl/certs/ca-certificates.crt"
	var hasBundle bool
	var rootfs []string // build-stage directories copied onto /
	for _, c := range copiesFrom(final, build.name) {
		srcs, dst := c[0], c[1][0]
		for _, s := range srcs {
			if s == bundle && (dst == bundle || dst == "/etc/ssl/certs/") {
				hasBundle = true
			}
			if dst == "/" && strings.HasSuffix(s, "/") {
				rootfs = append(rootfs, strings.TrimSuffix(s, "/"))
			}
		}
	}
	if !hasBundle {
		t.Errorf("the final stage does not COPY --from=%s %s to %s", build.name, bundle, bundle)
	}
	// /tmp: an entry tmp of a directory copied onto / (so that its mode
	// comes along), made 1777 in the build stage.
	var hasTmp bool
	for _, dir := range rootfs {
		mode := regexp.MustCompile(`(chmod 1777 ` + regexp.QuoteMeta(dir) + `/tmp\b|mkdir (-p )?-m 1777 ` + regexp.QuoteMeta(dir) + `/tmp\b)`)
		for _, in := range build.instrs {
			if in.cmd == "RUN" && mode.MatchString(in.line) {
				hasTmp = true
			}
		}
	}
	if !hasTmp {
		t.Errorf("no /tmp of mode 1777 in the final image: want a build-stage RUN chmod 1777 DIR/tmp and COPY --from=%s DIR/ / (copied directories: %v)", build.name, rootfs)
	}
	// Every binary of cmd/ is built and copied to /: the front executes
	// stella-engine beside it, which runs stella-registry and
	// stella-schema beside itself.
	ents, err := os.ReadDir(filepath.Join(testutil.RepoRoot(), "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	copied := map[string]bool{}
	for _, c := range copiesFrom(final, build.name) {
		if c[1][0] == "/" {
			for _, s := range c[0] {
				copied[filepath.Base(s)] = true
			}
		}
	}
	for _, e := range ents {
		var built bool
		for _, in := range build.instrs {
			if in.cmd == "RUN" && strings.Contains(in.line, " ./cmd/"+e.Name()) {
				built = true
			}
		}
		if !built || !copied[e.Name()] {
			t.Errorf("the Dockerfile does not build ./cmd/%s and COPY it to / (built %v, copied %v)", e.Name(), built, copied[e.Name()])
		}
	}
	for _, in := range final.instrs {
		if in.cmd == "ENTRYPOINT" && !strings.Contains(in.line, "/stella-oras") {
			t.Errorf("ENTRYPOINT %s, want /stella-oras", in.line)
		}
	}
}
