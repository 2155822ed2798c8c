#!/usr/bin/env bash
# Benchmarks for issue #2, with figures printed, never asserted:
#   canon throughput against gowebpki/jcs; eval of 10,000 and 20,000
#   components against ≥ 50,000 advisories (wall time, peak RSS); the same
#   against osv-scanner v2.5.0 when installed; and finding-set agreement
#   with osv-scanner on the corpus SBOMs.
# Usage: bench/run.sh            (STELLA_CORPUS overrides ../shared/corpus)
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${STELLA_CORPUS:-../shared/corpus}
OUT=bench/out
RUNS=${RUNS:-3}
mkdir -p "$OUT" bin
go build -o bin/ ./cmd/stella-oras ./cmd/stella-engine
go build -o bin/compare ./bench/compare
go build -o bin/osvdb ./bench/osvdb
OSV_SCANNER=$(command -v osv-scanner || echo "$(go env GOPATH)/bin/osv-scanner")
[ -x "$OSV_SCANNER" ] || OSV_SCANNER=""

. bench/lib.sh

echo "== canon: RFC 8785 over a generated 10 MB CycloneDX-like SBOM"
go test ./canon -run '^$' -bench 'Canon' -benchtime 20x | tee "$OUT/canon.txt" | grep Benchmark
awk '/stella\/jcs-/ {s=$(NF-1)} /gowebpki/ {g=$(NF-1)} END {printf "stella-oras / gowebpki-jcs throughput ratio: %.1fx\n", s/g}' "$OUT/canon.txt"

echo
echo "== eval: N Go components against ≥ 50,000 OSV records (snapshot built beforehand)"
GEN=(-out "$OUT" -advisories 50000)
if [ -d "$CORPUS/osv/go-vulndb" ]; then GEN+=(-corpus "$CORPUS"); else echo "(corpus absent: all records generated)"; fi
rm -rf "$OUT/osv"
go run ./bench/gen "${GEN[@]}" -components 10000
go run ./bench/gen "${GEN[@]}" -components 20000
measure "feed build (50,000 records)" bin/stella-oras feed build "$OUT/osv" -o "$OUT/feed.json"
bin/stella-oras feed build "$OUT/osv" -o "$OUT/feed.json" | sed -n '4p'
measure "stella-oras eval 10,000 components" bin/stella-oras eval --sbom "$OUT/sbom-10000.cdx.json" --feed "$OUT/feed.json" -o "$OUT/verdict-10000.json"
T10=$LAST
measure "stella-oras eval 20,000 components" bin/stella-oras eval --sbom "$OUT/sbom-20000.cdx.json" --feed "$OUT/feed.json" -o "$OUT/verdict-20000.json"
T20=$LAST
awk -v a="$T10" -v b="$T20" 'BEGIN {printf "20,000 / 10,000 time ratio: %.2f\n", b/a}'

if [ -z "$OSV_SCANNER" ]; then
  echo
  echo "osv-scanner not installed (go install github.com/google/osv-scanner/v2/cmd/osv-scanner@v2.5.0): peer comparison skipped"
  exit 0
fi
echo
echo "== the same SBOMs with osv-scanner $("$OSV_SCANNER" --version 2>/dev/null | head -1 | awk '{print $NF}') offline"
rm -rf "$OUT/osvdb-all" && bin/osvdb -out "$OUT/osvdb-all" "$OUT/osv"
for n in 10000 20000; do
  measure "osv-scanner ${n} components (50,000 records)" "$OSV_SCANNER" scan source --offline --local-db-path "$OUT/osvdb-all" -L "$OUT/sbom-$n.cdx.json" --format json
done

if [ -d "$CORPUS/osv/go-vulndb" ]; then
  echo
  echo "== the issue's setting: N Go components against the 4,291 Go advisories of the corpus"
  rm -rf "$OUT/osvdb-go" && bin/osvdb -out "$OUT/osvdb-go" "$CORPUS/osv/go-vulndb"
  bin/stella-oras feed build "$CORPUS/osv/go-vulndb" --epoch 2026-08-21 -o "$OUT/feed-go.json" >/dev/null
  for n in 10000 20000; do
    measure "stella-oras eval ${n} (go-vulndb)" bin/stella-oras eval --sbom "$OUT/sbom-$n.cdx.json" --feed "$OUT/feed-go.json"
    measure "osv-scanner ${n} (go-vulndb)" "$OSV_SCANNER" scan source --offline --local-db-path "$OUT/osvdb-go" -L "$OUT/sbom-$n.cdx.json" --format json
  done

  echo
  echo "== finding-set agreement with osv-scanner on corpus SBOMs (go-vulndb)"
  for rel in \
    cyclonedx/bom-examples/proton-bridge-v1.8.0.cdx-1.2.json \
    cyclonedx/bom-examples/proton-bridge-v1.6.3.cdx-1.2.json \
    cyclonedx/guac/big-mongo-cyclonedx.json \
    cyclonedx/trivy/happy-nested-packages-bom.json \
    spdx/guac/oci-kubectl-linux-amd64-spdx-1.json \
    spdx/guac/oci-kubectl-linux-amd64-spdx.json \
    spdx/guac/oci-kubectl-linux-arm-v7-spdx.json; do
    base=$(basename "$rel" .json); base=${base%.cdx-1.2}
    case $rel in cyclonedx/*) f="$OUT/agree/$base.cdx.json" ;; *) f="$OUT/agree/$base.spdx.json" ;; esac
    mkdir -p "$OUT/agree" && cp "$CORPUS/sbom/$rel" "$f"
    bin/stella-oras eval --sbom "$f" --feed "$OUT/feed-go.json" -o "$f.verdict" >/dev/null || [ $? -eq 3 ]
    "$OSV_SCANNER" scan source --offline --local-db-path "$OUT/osvdb-go" -L "$f" --format json >"$f.osv" 2>/dev/null || true
    printf '%-48s ' "$(basename "$rel")"
    bin/compare "$f.verdict" "$f.osv" || true
  done
fi
