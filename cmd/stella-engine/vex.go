package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	packageurl "github.com/package-url/packageurl-go"
	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/engine/vex"
	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/load"
)

type vexReport struct {
	Documents []vexDoc `json:"documents"`
}

type vexDoc struct {
	File string `json:"file"`
	*vex.Document
	// NotInSBOM lists statement products that name no component of --sbom.
	NotInSBOM []string `json:"not_in_sbom,omitempty"`
}

func newVexCmd(s *cli.Streams) *cobra.Command {
	cmd := &cobra.Command{Use: "vex", Short: "Read VEX documents"}
	var (
		out    cli.OutputFlag
		sbom   string
		feedIn string
		epoch  string
	)
	norm := &cobra.Command{
		Use:   "normalize FILE...",
		Short: "Print the normalized statements of OpenVEX, CycloneDX VEX and CSAF documents",
		Long: `Read OpenVEX 0.2.0, CycloneDX VEX and CSAF 2.0 documents into one statement form:
vulnerability (with aliases), product (a purl where the document gives one) and
subcomponents, status (affected, not_affected, fixed, under_investigation),
justification, impact and action statements, issuer, timestamp, and the content
ID of the source document. --output json prints the canonical JSON, indented. A file that is
not a VEX document (or legacy OpenVEX v0.0.1) exits 1; parts of a document that
cannot become statements are listed as problems with reason codes. With --sbom,
statements about products the SBOM does not contain are reported. With --feed,
each statement's aliases gain the feed's alias group of its id (CVE, GHSA, GO
and distro ids of one vulnerability), as eval resolves them.`,
		Example: `  stella-oras vex normalize vendor.openvex.json advisory.csaf.json
  stella-oras vex normalize vex.cdx.json --sbom sbom.cdx.json --output json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			var have map[string]bool
			if sbom != "" {
				sb, err := load.SBOM(sbom, load.SBOMOptions{})
				if err != nil {
					return err
				}
				// In the SBOM: its judged components, the ones it lists but
				// cannot judge (an oci or generic purl), and what it
				// describes (metadata.component, SPDX's described package).
				have = map[string]bool{}
				purls := slices.Clone(sb.Subjects)
				for _, c := range sb.Components {
					purls = append(purls, c.Purl)
				}
				for _, u := range sb.Unknowns {
					if u.Purl != "" {
						purls = append(purls, u.Purl)
					}
				}
				for _, p := range purls {
					have[purlKey(p, true)] = true
					have[purlKey(p, false)] = true
				}
			}
			ep, err := parseEpoch(epoch)
			if err != nil {
				return err
			}
			if epoch != "" && feedIn == "" {
				return cli.Usagef("--epoch applies to --feed: give --feed DIR or ZIP")
			}
			var aliases func(string) []string
			if feedIn != "" {
				snap, err := load.Feed(cmd.Context(), feedIn, load.FeedOptions{Epoch: ep})
				if err != nil {
					return err
				}
				aliases = snap.Aliases
			}
			var rep vexReport
			for _, f := range files {
				data, err := load.JSONFile(f, load.DefaultMaxSBOMBytes)
				if err != nil {
					return err
				}
				d, err := vex.Normalize(data)
				if err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
				if aliases != nil {
					d.ResolveAliases(aliases)
				}
				vd := vexDoc{File: f, Document: d}
				if have != nil {
					seen := map[string]bool{}
					for _, st := range d.Statements {
						k := purlKey(st.Product, strings.Contains(st.Product, "@"))
						if !have[k] && !seen[st.Product] {
							seen[st.Product] = true
							vd.NotInSBOM = append(vd.NotInSBOM, st.Product)
						}
					}
				}
				rep.Documents = append(rep.Documents, vd)
			}
			if out.JSON() {
				// The canonical form (sorted keys, NFC strings), indented
				// like every other command's JSON.
				b, err := canon.Marshal(rep)
				if err != nil {
					return err
				}
				var pretty bytes.Buffer
				if err := json.Indent(&pretty, b, "", "  "); err != nil {
					return err
				}
				pretty.WriteByte('\n')
				_, err = s.Out.Write(pretty.Bytes())
				return err
			}
			tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VULNERABILITY\tPRODUCT\tSTATUS\tJUSTIFICATION\tISSUER\tFORMAT")
			for _, d := range rep.Documents {
				for _, st := range d.Statements {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.Vulnerability, st.Product, st.Status, orDash(st.Justification), orDash(st.Issuer), st.Format)
				}
			}
			tw.Flush()
			for _, d := range rep.Documents {
				for _, p := range d.Problems {
					fmt.Fprintf(s.Err, "warning: %s: %s: %s\n", d.File, p.Path, p.Reason)
				}
				for _, p := range d.NotInSBOM {
					fmt.Fprintf(s.Err, "note: %s: product %s is not in %s\n", d.File, p, sbom)
				}
			}
			return nil
		},
	}
	norm.Flags().StringVar(&sbom, "sbom", "", "report statements about products this SBOM does not contain")
	norm.Flags().StringVar(&feedIn, "feed", "", "resolve vulnerability ids through this feed's alias index (snapshot, directory or zip)")
	norm.Flags().StringVar(&epoch, "epoch", "", "epoch when --feed is a directory or zip")
	out.Register(norm)
	cmd.AddCommand(norm)
	return cmd
}

// purlKey is a purl without qualifiers and subpath, with or without its
// version: how a VEX product is compared with SBOM components.
func purlKey(s string, withVersion bool) string {
	p, err := packageurl.FromString(s)
	if err != nil {
		return s
	}
	k := p.Type + "/" + p.Namespace + "/" + p.Name
	if withVersion {
		k += "@" + p.Version
	}
	return strings.ToLower(k)
}
