package evaluator

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/registry"
)

// StatusOptions configure Status.
type StatusOptions struct {
	// Trust verifies the verdicts' bundles; a verdict no trusted key
	// signed is unknown.
	Trust    Trust
	Registry registry.Options
	Logger   *slog.Logger
}

// VerdictState is one verdict on an image.
type VerdictState struct {
	Verdict        string `json:"verdict_artifact"`
	State          string `json:"state"`
	Reason         string `json:"reason"`
	Status         string `json:"status"`
	ManifestDigest string `json:"manifest_digest"`
	VerdictDigest  string `json:"verdict_digest"`
	CacheKey       string `json:"cache_key"`
	Engine         string `json:"engine"`
	FeedEpoch      string `json:"feed_epoch"`
	LatestEpoch    string `json:"latest_epoch,omitempty"`
	Signer         string `json:"signer,omitempty"`
}

// Status lists the verdicts on an image with their state: computed (a
// current verdict whose bundle verifies), stale (the feed repository has a
// newer epoch, or the signer is revoked), unknown (no bundle, or none
// that verifies). Sorted by feed epoch, newest first, then digest.
func Status(ctx context.Context, image string, o StatusOptions) ([]VerdictState, error) {
	ro := o.Registry
	ro.ReadOnly = true // a missing layout is an error, never created
	t, err := Open(ctx, image, ro)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	subject, err := resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	vs, err := registry.Referrers(ctx, t, subject, artifacts.MediaTypeVerdict)
	if err != nil {
		return nil, err
	}
	unrevoked := o.Trust
	unrevoked.Revoked = nil
	checks, err := verdictChecks(ctx, t, subject, vs, nil, unrevoked, false, nil)
	if err != nil {
		return nil, err
	}
	latest := map[string]string{} // feed repository -> latest epoch
	out := make([]VerdictState, 0, len(checks))
	for _, c := range checks {
		a := c.artifact.Annotations
		s := VerdictState{
			Verdict: refAt(t, c.artifact.Digest.String()), Status: a[artifacts.AnnotationStatus],
			ManifestDigest: a[artifacts.AnnotationManifestDigest], VerdictDigest: a[artifacts.AnnotationVerdictDigest],
			CacheKey: a[artifacts.AnnotationCacheKey], Engine: a[artifacts.AnnotationEngine], FeedEpoch: a[artifacts.AnnotationEpoch],
			Signer: c.signer,
		}
		switch {
		case c.err != nil:
			s.State, s.Reason = StateUnknown, c.err.Error()
		case o.Trust.Revoked[c.signer]:
			s.State, s.Reason = StateStale, "signer "+c.signer+" is revoked"
		default:
			s.State, s.Reason = StateComputed, "bundle verifies"
			if repo := a[artifacts.AnnotationFeedRef]; repo != "" {
				if _, ok := latest[repo]; !ok {
					latest[repo] = latestEpoch(ctx, repo, o.Registry)
				}
				if l := latest[repo]; l != "" && l > normEpoch(s.FeedEpoch) {
					s.State, s.Reason, s.LatestEpoch = StateStale, "the feed has a newer epoch", l
				}
			}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b VerdictState) int {
		if a.FeedEpoch != b.FeedEpoch {
			return -strings.Compare(a.FeedEpoch, b.FeedEpoch)
		}
		return strings.Compare(a.Verdict, b.Verdict)
	})
	return out, nil
}

// normEpoch renders an RFC 3339 epoch as its tag (comparable as text).
func normEpoch(e string) string {
	t, err := time.Parse(time.RFC3339, e)
	if err != nil {
		return e
	}
	return EpochTag(t)
}

// latestEpoch is the newest epoch tag of a feed repository ("" if none
// or unreadable: staleness is then not claimed).
func latestEpoch(ctx context.Context, repo string, opts registry.Options) string {
	t, err := Open(ctx, repo, opts)
	if err != nil {
		return ""
	}
	defer t.Close()
	tags, err := registry.Tags(ctx, t)
	if err != nil {
		return ""
	}
	return newestEpochTag(tags)
}

// newestEpochTag is the newest of tags that are epoch tags ("" if none).
func newestEpochTag(tags []string) string {
	best := ""
	for _, tag := range tags {
		if _, err := time.Parse(epochTagLayout, tag); err == nil && tag > best {
			best = tag
		}
	}
	return best
}

// latestFeed points a feed reference without a tag or digest at the
// repository's latest epoch tag: such a reference names the latest epoch,
// so a new epoch makes the next evaluation recompute. A repository whose
// tags cannot be listed (unreachable, plain HTTP without --plain-http, no
// such repository) or that has no epoch tag is an error that says so.
func latestFeed(ctx context.Context, t *registry.Target) error {
	if t.Ref.Ref() != "" {
		return nil
	}
	tags, err := registry.Tags(ctx, t)
	if err != nil {
		return fmt.Errorf("feed %s (no tag: its latest epoch): %w", t.Ref, err)
	}
	l := newestEpochTag(tags)
	if l == "" {
		return fmt.Errorf("feed %s: no epoch tag (YYYY-MM-DDTHHMMSSZ, as feed push tags a snapshot) to take as the latest: name a tag or digest", t.Ref)
	}
	t.Ref.Tag = l
	return nil
}
