package cli

import (
	"fmt"
	"mime"
	"path/filepath"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/internal/readfile"
	"github.com/stella-ops/stella-oras/registry"
)

// AttachResult is `attach --output json`.
type AttachResult struct {
	Reference    string             `json:"reference"`
	Subject      ocispec.Descriptor `json:"subject"`
	Manifest     ocispec.Descriptor `json:"manifest"`
	ArtifactType string             `json:"artifactType"`
}

// NewAttachCmd is `attach`.
func NewAttachCmd(s *Streams) *cobra.Command {
	var (
		out          OutputFlag
		tf           TargetFlags
		typ          string
		artifactType string
		mediaType    string
		annotations  []string
		resolve      bool
	)
	names := []string{"sbom", "vex"}
	for _, t := range artifacts.Types() {
		names = append(names, t.Name)
	}
	cmd := &cobra.Command{
		Use:   "attach IMAGE@sha256:… FILE",
		Short: "Attach a document to an image as an OCI 1.1 referrer, unchanged",
		Long: `Push FILE unchanged as an OCI 1.1 artifact whose subject is the image. The
manifest has no creation time, so attaching the same file twice gives the same
manifest digest and no second referrer. The type is detected from the content
unless --type says it.`,
		Example: `  stella-oras attach --plain-http localhost:5000/app@sha256:… sbom.cdx.json
  stella-oras attach oci:./layout@sha256:… vex.json --type vex-openvex
  stella-oras attach --resolve registry.example.com/app:1.0 sbom.spdx.json --annotation org.example.build=42`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			ann, err := parseAnnotations(annotations)
			if err != nil {
				return err
			}
			var at artifacts.Type
			load := func() ([]byte, registry.AttachOptions, error) {
				data, err := readfile.File(args[1], registry.DefaultMaxBlobBytes)
				if err != nil {
					return nil, registry.AttachOptions{}, err
				}
				if at, err = pickType(data, typ, args[1]); err != nil {
					return nil, registry.AttachOptions{}, err
				}
				if err := checkOverrides(data, args[1], artifactType, mediaType); err != nil {
					return nil, registry.AttachOptions{}, err
				}
				if artifactType != "" {
					at.ArtifactType = artifactType
				}
				if mediaType != "" {
					at.MediaType = mediaType
				}
				return data, registry.AttachOptions{
					ArtifactType: at.ArtifactType, MediaType: at.MediaType, FileName: filepath.Base(args[1]), Annotations: ann,
				}, nil
			}
			ref, err := registry.ParseReference(args[0])
			if err != nil {
				return UsageError{Err: err}
			}
			if err := checkTypeName(typ); err != nil {
				return err // before anything is read
			}
			if err := checkMediaTypes(artifactType, mediaType); err != nil {
				return err
			}
			var (
				data    []byte
				opts    registry.AttachOptions
				subj, m ocispec.Descriptor
			)
			// A registry target by digest reads the document while the
			// first reads are in flight; any other target (a layout is
			// created on open) only once the document is read and checked.
			early := ref.Kind == registry.KindRemote && ref.Digest != ""
			if !early {
				if data, opts, err = load(); err != nil {
					return err
				}
			}
			t, err := tf.Open(ctx, args[0])
			if err != nil {
				return err
			}
			defer t.Discard()
			if early {
				// The subject is resolved while the other reads before the
				// first write are made (one round trip fewer).
				subj, m, err = registry.AttachByDigestLoad(ctx, t, ref.Digest, load)
			} else if d := t.Ref.Digest; d != "" {
				subj, m, err = registry.AttachByDigest(ctx, t, d, data, opts)
			} else {
				var rd RegistryDesc
				if rd, err = SubjectDescriptor(ctx, t, resolve); err != nil {
					return err
				}
				fmt.Fprintf(s.Err, "resolved %s to %s\n", t.Ref, rd.Digest)
				subj = rd.Descriptor
				m, err = registry.Attach(ctx, t, subj, data, opts)
			}
			if err != nil {
				return err
			}
			if err := t.Close(); err != nil {
				return err
			}
			res := AttachResult{Reference: RefWithDigest(t.Ref, m.Digest.String()), Subject: subj, Manifest: m, ArtifactType: at.ArtifactType}
			if out.JSON() {
				return WriteJSON(s.Out, res)
			}
			fmt.Fprintf(s.Out, "Attached %s to %s\n%s\n", at.ArtifactType, subj.Digest, res.Reference)
			return nil
		},
	}
	cmd.Flags().StringVar(&typ, "type", "", "document type: "+strings.Join(names, ", ")+" (default: detected)")
	cmd.Flags().StringVar(&artifactType, "artifact-type", "", "override the manifest's artifactType (one naming another format than the content's is refused)")
	cmd.Flags().StringVar(&mediaType, "media-type", "", "override the layer's media type (one naming another format than the content's is refused)")
	cmd.Flags().StringArrayVar(&annotations, "annotation", nil, "manifest annotation KEY=VALUE (repeatable)")
	cmd.Flags().BoolVar(&resolve, "resolve", false, "accept a tag and resolve it to a digest (printed on stderr)")
	tf.Register(cmd)
	out.Register(cmd)
	return cmd
}

func pickType(data []byte, name, file string) (artifacts.Type, error) {
	detected, recognized := artifacts.Detect(data)
	switch name {
	case "":
		if !recognized {
			return artifacts.Type{}, fmt.Errorf("%s: cannot tell the document type from its content; pass --type", file)
		}
		return detected, nil
	case "sbom", "vex":
		if !recognized {
			return artifacts.Type{}, fmt.Errorf("%s: not a %s document this tool recognizes", file, strings.ToUpper(name))
		}
		if strings.HasPrefix(detected.Name, name+"-") {
			return detected, nil
		}
		// The family's type of the same format (a CycloneDX BOM as vex:
		// vex-cyclonedx), as an explicit type of the same format is taken.
		_, format, _ := strings.Cut(detected.Name, "-")
		if t, ok := artifacts.TypeByName(name + "-" + format); ok && t.MediaType == detected.MediaType {
			return t, nil
		}
		// Content of the other family (an OpenVEX document as sbom): the
		// flag is wrong, a usage error as for an explicit type.
		return artifacts.Type{}, Usagef("%s: --type %s, but the content is %s (%s): drop --type, or pass --type %s", file, name, detected.Name, detected.MediaType, detected.Name)
	}
	if err := checkTypeName(name); err != nil {
		return artifacts.Type{}, err
	}
	t, _ := artifacts.TypeByName(name)
	// This tool's own formats and the Sigstore bundle are recognized
	// whenever the content is one: content that is not is no such
	// document (attach --type verdict of {"a":1} was pushed, and replay of
	// the image then stopped at it).
	if !recognized && strictTypes[name] {
		return artifacts.Type{}, fmt.Errorf("%s: --type %s, but the content is not %s (this tool recognizes every one)", file, name, t.Title)
	}
	// An explicit type must not contradict what the content is: a
	// CycloneDX file pushed as application/spdx+json misleads every
	// reader. Content that is not recognized at all is taken as said (an
	// OpenVEX document with an unversioned @context, say), and a type of
	// the same format (same layer media type: CycloneDX SBOM and VEX) is
	// the user's choice. A mismatch is a usage error (exit 2): the file is
	// a good document, the flag is wrong, and the fix is on the command
	// line.
	if recognized && detected.MediaType != t.MediaType {
		return artifacts.Type{}, Usagef("%s: --type %s, but the content is %s (%s): drop --type, or pass --type %s", file, name, detected.Name, detected.MediaType, detected.Name)
	}
	return t, nil
}

// checkOverrides refuses an --artifact-type or --media-type that names a
// document format this tool knows when the content is another one it
// recognizes (--media-type application/spdx+json on a CycloneDX SBOM):
// the label would mislead every reader, as --type would. Either flag is
// compared with both the media types and the artifact types of every
// other format, as a media type is (RFC 6838: the type and subtype case
// insensitive, parameters and spaces not part of it: "APPLICATION/SPDX+JSON;
// version=2.3" names SPDX). A value of the same format (a CycloneDX VEX
// artifact type on CycloneDX content), or one this tool does not know, is
// the override it is for.
func checkOverrides(data []byte, file, artifactType, mediaType string) error {
	if artifactType == "" && mediaType == "" {
		return nil
	}
	detected, recognized := artifacts.Detect(data)
	if !recognized {
		return nil
	}
	for _, o := range []struct{ flag, value string }{{"--artifact-type", artifactType}, {"--media-type", mediaType}} {
		if title := otherFormat(baseMediaType(o.value), detected); title != "" {
			return Usagef("%s: %s %s is %s, but the content is %s (%s): drop %s", file, o.flag, quoteValue(o.value), title, detected.Title, detected.MediaType, o.flag)
		}
	}
	return nil
}

// otherFormat is the title of the format media type v names when that is
// not detected's: another format's media or artifact type, or a known
// other encoding (what this tool recognizes is JSON, so those mislabel it
// whatever the format); "" otherwise.
func otherFormat(v string, detected artifacts.Type) string {
	if v == "" {
		return ""
	}
	if a, ok := aliases[v]; ok {
		v = a
	}
	for _, t := range artifacts.Types() {
		if t.MediaType != detected.MediaType && (v == t.ArtifactType || v == t.MediaType) {
			return t.Title
		}
	}
	return otherEncodings[v]
}

// strictTypes are the --type names whose documents Detect always
// recognizes: this tool's own (by their kind or format; not a reach graph,
// which need not name its schema) and the Sigstore bundle (by its media
// type).
var strictTypes = map[string]bool{
	"feed": true, "policy": true, "scan-manifest": true, "verdict": true, "delta": true, "sigstore-bundle": true,
}

// aliases are other names of the types this tool knows: the Sigstore
// bundle's media type before v0.3 (application/vnd.dev.sigstore.bundle+json;
// version=0.1 and 0.2, and the same with version=0.3), by its base.
var aliases = map[string]string{
	"application/vnd.dev.sigstore.bundle+json": artifacts.MediaTypeSigstoreBundle,
}

// checkMediaTypes refuses an --artifact-type or --media-type that is not
// a media type (type/subtype, RFC 6838, with optional parameters): such a
// label names nothing any reader can match, and one with a stray space or
// comma ("application/ spdx+json") would slip past the comparison with
// the known formats. Spaces around a media type are refused too.
func checkMediaTypes(artifactType, mediaType string) error {
	for _, o := range []struct{ flag, value string }{{"--artifact-type", artifactType}, {"--media-type", mediaType}} {
		if o.value == "" {
			continue
		}
		if strings.TrimSpace(o.value) != o.value {
			// Pushed as given, the space would be part of the label, and
			// a reader matching the type (discover --artifact-type, oras
			// discover) would never find the artifact.
			return Usagef("%s %s: spaces around the media type", o.flag, strconv.Quote(o.value))
		}
		mt, _, err := mime.ParseMediaType(o.value)
		typ, sub, ok := strings.Cut(mt, "/")
		if err != nil || !ok || typ == "" || sub == "" || strings.Contains(sub, "/") {
			return Usagef("%s %s: not a media type (type/subtype, as application/vnd.example+json)", o.flag, strconv.Quote(o.value))
		}
	}
	return nil
}

// otherEncodings are the registered media types of the SBOM and VEX
// formats' encodings other than JSON (SPDX 2.3 and CycloneDX 1.6
// specifications, IANA), which no JSON document is.
var otherEncodings = map[string]string{
	"text/spdx":                            "an SPDX tag-value document",
	"application/spdx+xml":                 "an SPDX XML document",
	"application/spdx+yaml":                "an SPDX YAML document",
	"application/vnd.cyclonedx+xml":        "a CycloneDX XML document",
	"application/x.vnd.cyclonedx+protobuf": "a CycloneDX protobuf document",
}

// baseMediaType is v's type/subtype in lower case, without parameters
// ("" for ""). A value that does not parse as a media type is compared
// trimmed and in lower case.
func baseMediaType(v string) string {
	if strings.TrimSpace(v) == "" {
		return ""
	}
	if mt, _, err := mime.ParseMediaType(v); err == nil {
		return mt
	}
	base, _, _ := strings.Cut(v, ";")
	return strings.ToLower(strings.TrimSpace(base))
}

// quoteValue is v as given, quoted when it holds spaces or parameters.
func quoteValue(v string) string {
	if strings.ContainsAny(v, " \t;") {
		return strconv.Quote(v)
	}
	return v
}

// checkTypeName refuses a --type this tool does not know ("" and the
// families sbom and vex, resolved from the content, are known).
func checkTypeName(name string) error {
	if _, ok := artifacts.TypeByName(name); !ok && name != "" && name != "sbom" && name != "vex" {
		return Usagef("--type %q: unknown", name)
	}
	return nil
}

func parseAnnotations(kv []string) (map[string]string, error) {
	if len(kv) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, a := range kv {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, Usagef("--annotation %q: want KEY=VALUE", a)
		}
		m[k] = v
	}
	return m, nil
}

// RefWithDigest is r with its tag or digest replaced by digest d.
func RefWithDigest(r registry.Reference, d string) string {
	r.Tag = ""
	r.Digest = ""
	return r.String() + "@" + d
}
