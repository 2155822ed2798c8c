// Package embedded is the registry `stella-oras registry serve` runs: CNCF
// distribution v3 (its real HTTP handlers and filesystem storage, so real
// garbage collection and storage code) with this project's layer in front
// that adds what distribution v3.1 still lacks, the OCI 1.1 referrers API
// (distribution-spec v1.1.1 "Listing Referrers" and "Pushing Manifests with
// Subject").
package embedded

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // the storage driver
	"github.com/sirupsen/logrus"
)

// Options configure the embedded registry.
type Options struct {
	// Root is the storage directory (blobs, manifests, referrers index).
	Root string
	// Plain disables the referrers layer: plain distribution, for testing
	// the referrers tag-schema fallback.
	Plain bool
	// Logger receives distribution's logs; nil discards them.
	Logger io.Writer
	// PageSize is the most referrers one response lists before a Link to
	// the next page; 0 means 1000. Clients may ask for fewer with ?n=.
	PageSize int
	// BodyIdleTimeout cuts off a request whose body stops arriving for this
	// long (a client that sent 10 of 1,000,000 bytes and went quiet holds
	// nothing open); 0 means DefaultBodyIdleTimeout, negative disables it.
	BodyIdleTimeout time.Duration
	// UploadTTL purges blob uploads started longer ago than this and never
	// finished; 0 disables purging (tests, short-lived servers).
	UploadTTL time.Duration
	// PurgeInterval is how often abandoned uploads are looked for; 0 means
	// UploadTTL/2, at most an hour.
	PurgeInterval time.Duration
}

// DefaultBodyIdleTimeout is the longest a request body may stall.
const DefaultBodyIdleTimeout = 30 * time.Second

// New returns the registry handler. With UploadTTL set it purges
// abandoned uploads until ctx ends; otherwise it starts no goroutines.
func New(ctx context.Context, opts Options) (h http.Handler, err error) {
	if opts.Root == "" {
		return nil, fmt.Errorf("embedded registry: no storage root")
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	cfg := &configuration.Configuration{}
	cfg.Storage = configuration.Storage{
		"filesystem":  configuration.Parameters{"rootdirectory": opts.Root},
		"delete":      configuration.Parameters{"enabled": true},
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
	}
	cfg.HTTP.Secret = hex.EncodeToString(secret)
	cfg.Log.AccessLog.Disabled = true
	// distribution logs through logrus's standard logger (its context
	// package, which could inject another, is internal), so the output is
	// set there: process-wide, as it is for distribution's own binary.
	if opts.Logger != nil {
		logrus.SetOutput(opts.Logger)
	} else {
		logrus.SetOutput(io.Discard)
	}
	defer func() {
		// distribution panics on configuration errors.
		if r := recover(); r != nil {
			h, err = nil, fmt.Errorf("embedded registry: %v", r)
		}
	}()
	app := handlers.NewApp(ctx, cfg)
	idle := opts.BodyIdleTimeout
	if idle == 0 {
		idle = DefaultBodyIdleTimeout
	}
	if opts.UploadTTL > 0 {
		if err := purgeUploads(ctx, opts.Root, opts.UploadTTL, opts.PurgeInterval); err != nil {
			return nil, err
		}
	}
	blobs := &blobReader{next: app, store: distTreeOf(opts.Root)}
	if opts.Plain {
		return &front{next: blobs, idle: idle}, nil
	}
	sp, err := newSinglePost(blobs, opts.Root)
	if err != nil {
		return nil, err
	}
	l, err := newReferrersLayer(sp, opts.Root, opts.PageSize)
	if err != nil {
		return nil, err
	}
	return &front{next: l, idle: idle}, nil
}
