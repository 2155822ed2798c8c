// Command stella-registry serves the embedded OCI registry: CNCF
// distribution v3 (filesystem storage) with stella-oras's referrers layer
// in front. `stella-oras registry serve` runs it.
//
// It is its own binary so that stella-oras does not link distribution:
// distribution's package initialization (grpc, OpenTelemetry, Prometheus,
// storage drivers) cost every stella-oras command several milliseconds of
// start-up, and an evaluate cache hit is a few tens of milliseconds.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/registry/embedded"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a command line this command cannot take: exit 2, as for
// stella-oras (README, "Exit codes"), not 1, which says it could not run.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// run runs the command with args and returns its exit status: 0, 1 (it
// could not run: the address taken, the storage locked) or 2 (usage).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newCmd(stdout, stderr)
	cmd.SetArgs(args)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "Error:", err)
	var u usageError
	if errors.As(err, &u) {
		fmt.Fprintln(stderr, "Run 'stella-registry --help' for usage.")
		return 2
	}
	return 1
}

func newCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		addr      string
		root      string
		plain     bool
		debug     bool
		uploadTTL time.Duration
		idle      time.Duration
		output    string
	)
	cmd := &cobra.Command{
		Use:   "stella-registry [--addr 127.0.0.1:5000] [--root DIR]",
		Short: "Serve CNCF distribution v3 with the OCI 1.1 referrers API",
		Long: `Serve a real OCI registry: CNCF distribution v3 (filesystem storage) with
stella-oras's referrers layer in front (GET /v2/<name>/referrers/<digest> with
artifactType filtering, OCI-Subject on pushes with a subject, an index that
survives restarts). No authentication: bind it to loopback or put it behind a
proxy. --plain turns the referrers layer off (plain distribution).
'stella-oras registry serve' runs this command.`,
		Example: `  stella-registry --root ./registry-data
  stella-oras attach --plain-http 127.0.0.1:5000/app@sha256:… sbom.cdx.json`,
		Args: func(c *cobra.Command, args []string) error {
			if err := cobra.NoArgs(c, args); err != nil {
				return usageError{err}
			}
			return nil
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if output != "text" && output != "json" {
				return usageError{fmt.Errorf("--output must be text or json, not %q", output)}
			}
			if idle == 0 {
				idle = -1 // 0 on the command line means no timeout
			}
			release, err := lockRoot(root)
			if err != nil {
				return err
			}
			defer release()
			opts := embedded.Options{Root: root, Plain: plain, UploadTTL: uploadTTL, BodyIdleTimeout: idle}
			if debug {
				opts.Logger = stderr
			}
			h, err := embedded.New(ctx, opts)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			// Headers must arrive within 10 s and an idle keep-alive
			// connection is closed after 2 minutes; bodies are bounded by
			// --body-idle-timeout (a whole-request timeout would cap large
			// uploads).
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
			if output == "json" {
				b, _ := json.Marshal(map[string]string{"address": "http://" + ln.Addr().String(), "root": root})
				fmt.Fprintf(stdout, "%s\n", b)
			} else {
				fmt.Fprintf(stderr, "serving the registry on http://%s (storage %s)\n", ln.Addr(), root)
			}
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:5000", "listen address")
	cmd.Flags().StringVar(&root, "root", "stella-registry", "storage directory")
	cmd.Flags().BoolVar(&plain, "plain", false, "no referrers API (plain distribution, for fallback testing)")
	cmd.Flags().BoolVar(&debug, "debug", false, "distribution's logs on stderr")
	cmd.Flags().DurationVar(&uploadTTL, "upload-ttl", 24*time.Hour, "purge blob uploads abandoned for longer than this (0: never)")
	cmd.Flags().DurationVar(&idle, "body-idle-timeout", embedded.DefaultBodyIdleTimeout, "cut off a request whose body sends nothing for this long (0: never)")
	cmd.Flags().StringVar(&output, "output", "text", "text, or json: the address and storage as one JSON line on stdout")
	return cmd
}
