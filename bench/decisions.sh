#!/usr/bin/env bash
# Benchmark of issue #5, with figures printed, never asserted: eval of the
# 10,000-component scan benchmark with 200 VEX documents (10,000
# statements), a 10,000-node reach graph and the strict example policy with
# an environment budget; and a delta of two 10,000-finding verdicts.
# Usage: bench/decisions.sh      (RUNS=5 by default; STELLA_CORPUS as run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${STELLA_CORPUS:-../shared/corpus}
OUT=bench/out
RUNS=${RUNS:-5}
mkdir -p "$OUT" bin
go build -o bin/ ./cmd/stella-oras ./cmd/stella-engine
. bench/lib.sh

if [ ! -f "$OUT/sbom-10000.cdx.json" ] || [ ! -f "$OUT/feed.json" ]; then
  GEN=(-out "$OUT" -advisories 50000)
  [ -d "$CORPUS/osv/go-vulndb" ] && GEN+=(-corpus "$CORPUS")
  rm -rf "$OUT/osv"
  go run ./bench/gen "${GEN[@]}" -components 10000
  bin/stella-oras feed build "$OUT/osv" -o "$OUT/feed.json" >/dev/null
fi
bin/stella-oras eval --sbom "$OUT/sbom-10000.cdx.json" --feed "$OUT/feed.json" -o "$OUT/base-10000.json" >/dev/null 2>&1 || [ $? -eq 3 ]
go run ./bench/gendec -verdict "$OUT/base-10000.json" -sbom "$OUT/sbom-10000.cdx.json" -out "$OUT/decisions"
VEX=()
for f in "$OUT"/decisions/vex/*.json; do VEX+=(--vex "$f"); done
measure "eval 10,000 components (scan only)" bin/stella-oras eval --sbom "$OUT/sbom-10000.cdx.json" --feed "$OUT/feed.json" -o "$OUT/base-10000.json"
measure "eval + 200 VEX + 10k-node graph + strict policy" bin/stella-oras eval --sbom "$OUT/sbom-10000.cdx.json" --feed "$OUT/feed.json" \
  "${VEX[@]}" --reachability "$OUT/decisions/reach-graph.json" --policy examples/policies/strict-prod.yaml --env staging -o "$OUT/dec-10000.json"
python3 - "$OUT/base-10000.json" "$OUT/dec-10000.json" <<'PY' 2>/dev/null || true
import json, sys
for p in sys.argv[1:]:
    v = json.load(open(p))
    print(f"  {p}: {len(v['findings'])} findings, {v['summary'].get('suppressed', 0)} suppressed, {len(open(p,'rb').read())//1024} KiB")
PY
measure "delta of the two verdicts" bin/stella-oras delta "$OUT/base-10000.json" "$OUT/dec-10000.json" -o "$OUT/delta-10000.json"
echo "targets (issue #5): eval ≤ 1.5 s and ≤ 600 MB; delta ≤ 0.2 s"
