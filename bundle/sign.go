package bundle

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/stella-ops/stella-oras/canon"
)

// In-toto and DSSE constants.
const (
	StatementTypeV1   = "https://in-toto.io/Statement/v1"
	StatementTypeV01  = "https://in-toto.io/Statement/v0.1"
	PayloadTypeInToto = "application/vnd.in-toto+json"
	MediaTypeBundle   = "application/vnd.dev.sigstore.bundle.v0.3+json"
)

// Predicate types this tool owns.
const (
	PredicateVerdict     = "https://stella-ops.org/attestation/verdict/v1"
	PredicateDelta       = "https://stella-ops.org/attestation/delta/v1"
	PredicateMirror      = "https://stella-ops.org/attestation/mirror-receipt/v1"
	PredicateBudgetCheck = "https://stella-ops.org/attestation/budget-check/v1"
)

// MaxPredicateBytes bounds a predicate document.
const MaxPredicateBytes = 64 << 20

// ErrStatement is returned for statements that cannot be built or read.
var ErrStatement = errors.New("invalid in-toto statement")

// Subject is an in-toto resource descriptor.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Statement is an in-toto Statement (v1; v0.1 is read too).
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// NewStatement builds a v1 statement about one image digest; the predicate
// is the canonical JSON of predicate.
func NewStatement(name, digest, predicateType string, predicate []byte) ([]byte, error) {
	alg, hexd, ok := strings.Cut(digest, ":")
	if _, err := hex.DecodeString(hexd); !ok || err != nil || hexd == "" {
		return nil, fmt.Errorf("%w: subject digest %q", ErrStatement, digest)
	}
	if predicateType == "" || !strings.Contains(predicateType, ":") {
		return nil, fmt.Errorf("%w: predicate type %q is not a URI", ErrStatement, predicateType)
	}
	p, err := canon.Transform(predicate)
	if err != nil {
		return nil, fmt.Errorf("%w: predicate: %v", ErrStatement, err)
	}
	st := Statement{
		Type:          StatementTypeV1,
		Subject:       []Subject{{Name: name, Digest: map[string]string{alg: hexd}}},
		PredicateType: predicateType,
		Predicate:     p,
	}
	return canon.Marshal(st)
}

// Keypair adapts a private key to sigstore-go's signer, with Sigstore's
// default algorithm for the key type (ECDSA with its curve's hash, Ed25519,
// RSA PKCS#1 v1.5 with SHA-256).
type Keypair struct {
	priv    crypto.Signer
	details signature.AlgorithmDetails
	hint    []byte
}

// NewKeypair wraps priv.
func NewKeypair(priv crypto.Signer) (*Keypair, error) {
	d, err := signature.GetDefaultAlgorithmDetails(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	id, err := KeyID(priv.Public())
	if err != nil {
		return nil, err
	}
	return &Keypair{priv: priv, details: d, hint: []byte(id)}, nil
}

func (k *Keypair) GetHashAlgorithm() protocommon.HashAlgorithm {
	return k.details.GetProtoHashType()
}
func (k *Keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return k.details.GetSignatureAlgorithm()
}
func (k *Keypair) GetHint() []byte                { return k.hint }
func (k *Keypair) GetPublicKey() crypto.PublicKey { return k.priv.Public() }
func (k *Keypair) GetKeyAlgorithm() string {
	switch k.details.GetKeyType() {
	case signature.ECDSA:
		return "ECDSA"
	case signature.RSA:
		return "RSA"
	case signature.ED25519:
		return "ED25519"
	}
	return ""
}
func (k *Keypair) GetPublicKeyPem() (string, error) {
	b, err := MarshalPublicKey(k.priv.Public())
	return string(b), err
}

// SignData signs data as sigstore-go expects: a digest for ECDSA and RSA,
// the message itself for pure Ed25519.
func (k *Keypair) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	hf := k.details.GetHashType()
	msg := data
	if hf != crypto.Hash(0) {
		h := hf.New()
		h.Write(data)
		msg = h.Sum(nil)
	}
	sig, err := k.priv.Sign(rand.Reader, msg, hf)
	if err != nil {
		return nil, nil, err
	}
	return sig, msg, nil
}

// SignOptions are the optional online services of signing; the zero value
// signs fully offline.
type SignOptions struct {
	// TSAURL, when set, adds an RFC 3161 signed timestamp from that
	// time-stamping authority.
	TSAURL string
	// RekorURL, when set, records the signature in that Rekor v2
	// (rekor-tiles) log and keeps the entry with its inclusion proof in
	// the bundle.
	RekorURL string
}

// SignStatement wraps a statement in a DSSE envelope inside a Sigstore
// bundle v0.3 signed with kp, and returns the bundle's JSON. Without
// options no Fulcio, Rekor or TSA call is made (air-gapped first).
func SignStatement(ctx context.Context, statement []byte, kp *Keypair, opts ...SignOptions) ([]byte, error) {
	for _, o := range opts {
		if err := o.Check(); err != nil {
			return nil, err
		}
	}
	bo := sign.BundleOptions{Context: ctx}
	for _, o := range opts {
		if o.TSAURL != "" {
			bo.TimestampAuthorities = append(bo.TimestampAuthorities, sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{URL: o.TSAURL, Retries: 2}))
		}
		if o.RekorURL != "" {
			bo.TransparencyLogs = append(bo.TransparencyLogs, sign.NewRekor(&sign.RekorOptions{BaseURL: o.RekorURL, Version: 2, Retries: 2}))
		}
	}
	pb, err := sign.Bundle(&sign.DSSEData{Data: statement, PayloadType: PayloadTypeInToto}, kp, bo)
	if err != nil {
		var urls []string
		for _, o := range opts {
			urls = append(urls, o.TSAURL, o.RekorURL)
		}
		return nil, redacted{fmt.Errorf("signing: %w", err), urls}
	}
	b := &sgbundle.Bundle{Bundle: pb}
	return b.MarshalJSON()
}

// Check says whether the service URLs are http(s) URLs with a host. Its
// errors never quote a URL: one can carry a token (url.Parse's own error
// quotes the whole of it).
func (o SignOptions) Check() error {
	for _, u := range []struct{ what, raw string }{{"--tsa-url", o.TSAURL}, {"--rekor-url", o.RekorURL}} {
		if u.raw == "" {
			continue
		}
		p, err := url.Parse(u.raw)
		switch {
		case err != nil:
			why := "it does not parse"
			var ue *url.Error
			if errors.As(err, &ue) {
				// The reason without what it quotes ("invalid port \":1 \" after host").
				why, _, _ = strings.Cut(ue.Err.Error(), " \"")
			}
			return fmt.Errorf("%w: %s is not a URL (%s)", ErrInvalidURL, u.what, why)
		case p.Scheme != "http" && p.Scheme != "https":
			return fmt.Errorf("%w: %s must be an http:// or https:// URL", ErrInvalidURL, u.what)
		case p.Host == "":
			return fmt.Errorf("%w: %s names no host", ErrInvalidURL, u.what)
		}
	}
	return nil
}

// ErrInvalidURL is a --tsa-url or --rekor-url that is not an http(s) URL.
var ErrInvalidURL = errors.New("invalid service URL")

// redactedAs is what a secret is replaced with: a path stays a path.
func redactedAs(secret string) string {
	if strings.HasPrefix(secret, "/") {
		return "/REDACTED"
	}
	return "REDACTED"
}

// pathForms is the forms the path of u may take in a message, longest
// first: as given, escaped or not, and cleaned (a trailing slash, "//"
// and "." gone) and escaped anew, as path.Join and url.URL.String make
// it. None for an empty path or "/".
func pathForms(u *url.URL) []string {
	clean := path.Clean("/" + u.Path)
	var forms []string
	for _, f := range []string{u.EscapedPath(), u.Path, clean, (&url.URL{Path: clean}).EscapedPath()} {
		if f = strings.TrimSuffix(f, "/"); f != "" && !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	return forms
}

// redactPath hides the path of a service URL in msg. After the host,
// the whole path is hidden, and only what follows one of its forms (what
// a client appended) is kept: a path quoted in a form not foreseen goes
// whole. Alone (a service quoting the request), each form is hidden
// where it stands as a path does, whatever its length: after a space or
// a quote, before a space, a quote, a slash, ? or # or the end, so that
// a short one (/log) is not cut out of a longer path (/api/v2/log).
func redactPath(msg, host string, forms []string) string {
	msg = regexp.MustCompile(regexp.QuoteMeta(host)+`/[^\s"'?#]*`).ReplaceAllStringFunc(msg, func(m string) string {
		p := m[len(host):]
		for _, f := range forms {
			if rest, ok := strings.CutPrefix(p, f); ok && (rest == "" || rest[0] == '/') {
				return host + "/REDACTED" + rest
			}
		}
		return host + "/REDACTED"
	})
	for _, f := range forms {
		re := regexp.MustCompile(`(^|[\s"'(=])` + regexp.QuoteMeta(f) + `([\s"'/?#),;:.]|$)`)
		msg = re.ReplaceAllString(msg, "${1}/REDACTED${2}")
	}
	return msg
}

// redacted is an error whose message hides the credentials a service URL
// may carry (user info, a token in the path, the query or the fragment), wherever
// and however the message quotes the URL (sigstore-go's Rekor client
// appends its path to the base URL, query and all; net/http prints a
// password as ***); errors.Is and As still see the cause.
type redacted struct {
	err  error
	urls []string
}

func (r redacted) Unwrap() error { return r.err }

func (r redacted) Error() string {
	msg := r.err.Error()
	for _, raw := range r.urls {
		u, err := url.Parse(raw)
		if raw == "" || err != nil {
			continue
		}
		if u.User != nil {
			// Up to the last @ before the host: a user name may hold one
			// (alice%40corp.example, printed decoded).
			host := regexp.QuoteMeta(u.Host)
			msg = regexp.MustCompile(`[^\s"/]+@`+host).ReplaceAllString(msg, "REDACTED@"+u.Host)
		}
		var secrets []string
		// The path: services put tokens in it too (/t/<token>/tsa,
		// ;jsessionid=…). A client may rewrite it before it quotes it
		// (rekor-tiles: path.Join, which cleans it and escapes it anew),
		// so each form it can take is looked for; what the client
		// appends (/api/v2/log/entries) stays readable.
		if forms := pathForms(u); len(forms) > 0 {
			msg = redactPath(msg, u.Host, forms)
			for _, f := range forms {
				if len(f) >= 8 {
					secrets = append(secrets, f)
				}
			}
		}
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p, url.QueryEscape(p), url.PathEscape(p))
		}
		for _, q := range []string{u.RawQuery, u.EscapedFragment()} {
			if q == "" {
				continue
			}
			msg = strings.ReplaceAll(msg, "?"+q, "?REDACTED")
			msg = strings.ReplaceAll(msg, "#"+q, "#REDACTED")
			secrets = append(secrets, q)
			vals, _ := url.ParseQuery(q)
			for _, vs := range vals {
				for _, v := range vs {
					secrets = append(secrets, v, url.QueryEscape(v))
				}
			}
		}
		if u.Fragment != "" {
			secrets = append(secrets, u.Fragment)
		}
		// Longest first, so a value inside the whole query goes with it;
		// values too short to be a secret would only garble the message.
		sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
		for _, sec := range secrets {
			if len(sec) >= 4 {
				msg = strings.ReplaceAll(msg, sec, redactedAs(sec))
			}
		}
	}
	return msg
}
