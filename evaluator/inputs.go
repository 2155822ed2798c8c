package evaluator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/engine"
	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/engine/policy"
	"github.com/stella-ops/stella-oras/engine/reach"
	"github.com/stella-ops/stella-oras/engine/sbom"
	"github.com/stella-ops/stella-oras/engine/vex"
	"github.com/stella-ops/stella-oras/internal/load"
	"github.com/stella-ops/stella-oras/registry"
)

// MaxVEXBytes and MaxReachBytes bound one VEX document and one piece of
// reachability evidence; both are held in memory whole, and real ones are
// at most a few megabytes.
const (
	MaxVEXBytes   = load.DefaultMaxSBOMBytes
	MaxReachBytes = load.DefaultMaxSBOMBytes
)

// Sources say where an evaluation's inputs come from. Feed, Policy and
// each VEX entry are a file path or, when no such file exists, a reference
// (host/repo:tag|@digest, oci:DIR…, oci-archive:FILE…) opened with the
// Registry options.
type Sources struct {
	// SBOM is a file (required for Eval; Evaluate discovers it).
	SBOM string
	// Feed is a snapshot file, a directory or zip of OSV records (frozen in
	// memory with Epoch), or a feed artifact reference (required).
	Feed string
	// Epoch is the as-of instant of a feed built from a directory or zip;
	// zero means the latest record modification time.
	Epoch time.Time
	// Policy is a YAML source, a compiled IR or a policy artifact
	// reference; "" means the built-in default policy.
	Policy string
	// Reach is reachability evidence (a reach graph or a govulncheck
	// stream); "" means none.
	Reach string
	// VEX documents, merged per finding: the caller's own choice, trusted.
	VEX []string
	// Env selects the policy's unknowns budget; "" the policy's default.
	Env string
	// MaxSBOMBytes bounds the SBOM; 0 means load.DefaultMaxSBOMBytes.
	MaxSBOMBytes int64
	// StrictSBOM validates the SBOM against its JSON schema from SchemaDir.
	StrictSBOM bool
	SchemaDir  string
}

// FeedSource says where a feed came from when it was read from an
// artifact, and what was fetched of it.
type FeedSource struct {
	Reference string               `json:"reference"`
	Manifest  ocispec.Descriptor   `json:"manifest"`
	Index     ocispec.Descriptor   `json:"index"`
	Used      []ocispec.Descriptor `json:"used"`
	// BytesPulled counts the manifest, index and record groups fetched.
	BytesPulled int64 `json:"bytes_pulled"`
}

// Gathered are decoded inputs with their provenance.
type Gathered struct {
	Inputs *engine.Inputs
	// Raw keeps each input's bytes by stored digest, for pushing them
	// alongside a verdict.
	Raw map[string]Blob
	// Feed is set when the feed came from an artifact.
	Feed *FeedSource
	// PolicyRef is set when the policy came from an artifact.
	PolicyRef string
	// Warnings are problems that did not stop the evaluation (VEX
	// statements that could not be read), one line each.
	Warnings []string
	// VEXNames maps a VEX document's content ID to where it came from.
	VEXNames map[string]string
}

// Blob is an input document as stored, with the media type it is pushed
// under.
type Blob struct {
	MediaType string
	Data      []byte
}

// isReference says whether s names a registry or layout reference rather
// than a file: a path that exists is always a file.
func isReference(s string) bool {
	if _, err := os.Stat(s); err == nil {
		return false
	}
	_, err := registry.ParseReference(s)
	return err == nil
}

// gatherOptions are what gather needs besides the sources.
type gatherOptions struct {
	registry registry.Options
	log      *slog.Logger
	// sbom, when set, replaces Sources.SBOM (the document discovered on
	// the image), with its media type.
	sbom     []byte
	sbomType string
	// extraVEX are documents found on the image and judged trusted.
	extraVEX []Blob
	// ignoredVEX are documents found on the image and not trusted.
	ignoredVEX []artifacts.IgnoredInput
	// reach, when set, replaces Sources.Reach (found on the image).
	reach     []byte
	reachType string
	// shared, when set, reads the feed and the policy once per run.
	shared *shared
}

// gather reads and parses the inputs. They are independent, so they are
// read concurrently; errors are reported in a fixed order (SBOM, feed,
// policy, reachability, then each VEX document in order), whichever failed
// first in time.
func gather(ctx context.Context, src Sources, o gatherOptions) (*Gathered, error) {
	g := &Gathered{Inputs: &engine.Inputs{Env: src.Env}, Raw: map[string]Blob{}, VEXNames: map[string]string{}}
	var (
		mu                             sync.Mutex
		wg                             sync.WaitGroup
		sbErr, feedErr, polErr, rchErr error
		docs                           = make([]*vex.Document, len(src.VEX)+len(o.extraVEX))
		vexErr                         = make([]error, len(docs))
		sbomReady                      = make(chan struct{})
	)
	keep := func(data []byte, mediaType string) string {
		d := canonContentID(data)
		mu.Lock()
		g.Raw[d] = Blob{MediaType: mediaType, Data: data}
		mu.Unlock()
		return d
	}
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	run(func() {
		defer close(sbomReady)
		data, mt := o.sbom, o.sbomType
		name := "SBOM " + mt
		if data == nil {
			if src.SBOM == "" {
				sbErr = fmt.Errorf("%w: no SBOM given", ErrNoSBOM)
				return
			}
			name = src.SBOM
			limit := src.MaxSBOMBytes
			if limit <= 0 {
				limit = load.DefaultMaxSBOMBytes
			}
			data, sbErr = load.JSONFile(src.SBOM, limit)
			if sbErr != nil {
				return
			}
			if src.StrictSBOM {
				if sbErr = load.ValidateSBOM(src.SBOM, data, src.SchemaDir); sbErr != nil {
					return
				}
			}
			mt = sbomMediaType(data)
		}
		s, err := sbom.Parse(data)
		if err != nil {
			sbErr = fmt.Errorf("%s: %w", name, err)
			return
		}
		keep(data, mt)
		g.Inputs.SBOM = s
	})
	run(func() {
		if src.Feed == "" {
			feedErr = errors.New("no feed given")
			return
		}
		if !isReference(src.Feed) {
			g.Inputs.Feed, feedErr = o.shared.feedFile(ctx, src.Feed, src.Epoch)
			return
		}
		ecosystems := func() ([]string, bool) {
			select {
			case <-sbomReady:
			case <-ctx.Done():
				return nil, false
			}
			if g.Inputs.SBOM == nil {
				return nil, false
			}
			return engine.Ecosystems(g.Inputs.SBOM), true
		}
		if !o.shared.sharesFeedArtifacts() {
			g.Inputs.Feed, g.Feed, feedErr = PullFeed(ctx, src.Feed, o.registry, ecosystems)
			return
		}
		// Shared across images: the key needs the ecosystems first.
		eco, ok := ecosystems()
		if !ok {
			feedErr = ctx.Err()
			if feedErr == nil {
				feedErr = errors.New("the SBOM could not be read")
			}
			return
		}
		g.Inputs.Feed, g.Feed, feedErr = o.shared.feedArtifact(src.Feed, eco, func() (*feed.Snapshot, *FeedSource, error) {
			return PullFeed(ctx, src.Feed, o.registry, func() ([]string, bool) { return eco, true })
		})
	})
	if src.Policy != "" {
		run(func() {
			g.Inputs.Policy, g.PolicyRef, polErr = o.shared.policyOf(src.Policy, func() (*policy.Policy, string, error) {
				return readPolicy(ctx, src.Policy, o.registry)
			})
		})
	}
	if src.Reach != "" || o.reach != nil {
		run(func() {
			data, name, mt := o.reach, "reachability "+o.reachType, o.reachType
			if data == nil {
				name = src.Reach
				if data, rchErr = load.JSONFile(src.Reach, MaxReachBytes); rchErr != nil {
					if errors.Is(rchErr, load.ErrNotJSON) {
						rchErr = fmt.Errorf("%w: %w", reach.ErrReach, rchErr)
					}
					return
				}
				mt = reachMediaType(data)
			}
			in, err := reach.Parse(data, name)
			if err != nil {
				rchErr = err
				return
			}
			keep(data, mt)
			g.Inputs.Reach = in
		})
	}
	run(func() {
		for i := range docs {
			var data []byte
			var name, mt string
			var err error
			if i < len(src.VEX) {
				name = src.VEX[i]
				data, mt, err = readDocument(ctx, name, MaxVEXBytes, o.registry)
			} else {
				b := o.extraVEX[i-len(src.VEX)]
				data, mt = b.Data, b.MediaType
				name = "VEX referrer " + canonContentID(data)
			}
			if err == nil {
				if docs[i], err = vex.Normalize(data); err != nil {
					err = fmt.Errorf("%s: %w", name, err)
				} else {
					keep(data, mt)
					mu.Lock()
					g.VEXNames[docs[i].Source] = name
					mu.Unlock()
				}
			}
			vexErr[i] = err
		}
	})
	wg.Wait()
	for _, err := range append([]error{sbErr, feedErr, polErr, rchErr}, vexErr...) {
		if err != nil {
			return nil, err
		}
	}
	for _, d := range docs {
		for _, p := range d.Problems {
			g.Warnings = append(g.Warnings, fmt.Sprintf("%s: %s: %s", g.VEXNames[d.Source], p.Path, p.Reason))
		}
		g.Inputs.VEX = append(g.Inputs.VEX, d)
	}
	g.Inputs.IgnoredVEX = o.ignoredVEX
	if g.Inputs.Policy != nil {
		ir, err := g.Inputs.Policy.IR()
		if err != nil {
			return nil, err
		}
		keep(ir, artifacts.MediaTypePolicy)
	} else {
		ir, err := engine.DefaultPolicy().IR()
		if err != nil {
			return nil, err
		}
		keep(ir, artifacts.MediaTypePolicy)
	}
	return g, nil
}
