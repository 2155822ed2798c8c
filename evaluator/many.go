package evaluator

import (
	"context"
	"errors"

	"golang.org/x/sync/errgroup"
)

// Item is one image's outcome in EvaluateMany: a report, or the error that
// stopped that image (the others go on).
type Item struct {
	Reference string  `json:"reference"`
	Report    *Report `json:"report,omitempty"`
	Error     string  `json:"error,omitempty"`
	Err       error   `json:"-"`
}

// MaxImages bounds how many images one EvaluateMany call takes.
const MaxImages = 10000

// EvaluateMany evaluates each image as Evaluate does, jobs at a time (0
// means 1), and returns the items in input order, whatever order they
// finish in. The feed's and the policy's identities are read once; an
// error there, or a cancelled context, is the returned error. The
// concurrency of requests within one image is o.Jobs, as for Evaluate.
func EvaluateMany(ctx context.Context, images []string, jobs int, o EvaluateOptions) ([]Item, error) {
	if len(images) > MaxImages {
		return nil, errors.New("evaluate: more than 10000 images in one run")
	}
	if o.Signer == nil {
		return nil, errors.New("evaluate: a signer is required")
	}
	if o.Sources.Feed == "" {
		return nil, errors.New("evaluate: a feed is required")
	}
	o.shared = newShared()
	feedID, policyID, err := inputIDs(ctx, o)
	if err != nil {
		return nil, err
	}
	if jobs <= 0 {
		jobs = 1
	}
	items := make([]Item, len(images))
	var g errgroup.Group
	g.SetLimit(jobs)
	for i, im := range images {
		g.Go(func() error {
			items[i].Reference = im
			if err := ctx.Err(); err != nil {
				items[i].Err = err
			} else {
				items[i].Report, items[i].Err = evaluateImage(ctx, im, o, func() (string, string, error) { return feedID, policyID, nil })
			}
			if items[i].Err != nil {
				items[i].Error = items[i].Err.Error()
			}
			return nil
		})
	}
	g.Wait()
	return items, ctx.Err()
}
