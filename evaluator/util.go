package evaluator

import (
	"encoding/json"
	"time"

	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/engine/policy"
	"github.com/stella-ops/stella-oras/internal/load"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func loadFeedFile(path string, epoch time.Time) (*feed.Snapshot, error) {
	return load.Feed(path, epoch)
}

func loadLocalPolicy(path string) (*policy.Policy, error) {
	data, err := load.File(path, policy.MaxSourceBytes)
	if err != nil {
		return nil, err
	}
	return policy.Load(data, path)
}
