#!/usr/bin/env bash
# Registry benchmarks for issue #3, printed, never asserted: on loopback,
# against the embedded registry (referrers API) and plain distribution
# (referrers tag schema), `discover` of an image with 1,000 referrers (one
# level; and recursive with a bundle on each) and `attach` of a 1 MB SBOM,
# each side by side with the ORAS CLI doing the same, as whole processes.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/registry
RUNS=${RUNS:-5}
# The last run's files are moved aside and deleted only when this run ends:
# for minutes after a mass deletion, ext4 is slow to allocate inodes
# (recently_deleted: 60-300 s), which would be counted as every tool's time
# (a layout copy took 270 ms on a quiet disk, 650 ms right after an rm -rf).
# A run started within minutes of another's end can still be slowed so.
if [ -d "$OUT" ]; then mv "$OUT" "$OUT.old.$$"; fi
mkdir -p "$OUT" bin
go build -o bin/ ./cmd/stella-oras ./cmd/stella-engine ./cmd/stella-registry
go build -o bin/seed ./bench/seed
ORAS=$(command -v oras || echo "$(go env GOPATH)/bin/oras")
[ -x "$ORAS" ] || { echo "oras not installed (go install oras.land/oras/cmd/oras@v1.3.6)" >&2; exit 1; }

PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$OUT".old.*' EXIT
bin/stella-oras registry serve --addr 127.0.0.1:5081 --root "$OUT/embedded" 2>/dev/null & PIDS+=($!)
bin/stella-oras registry serve --plain --addr 127.0.0.1:5082 --root "$OUT/plain" 2>/dev/null & PIDS+=($!)
sleep 1

# median LABEL CMD...: median wall time of $RUNS runs, stdout discarded.
median() {
  local label=$1; shift
  local ts=()
  for _ in $(seq "$RUNS"); do
    local s e
    s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    ts+=("$(echo "$e - $s" | bc)")
  done
  MED=$(printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '  %-46s %6.3f s\n' "$label" "$MED"
}

head -c 700000 /dev/urandom | base64 -w0 | awk '{printf "{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.6\",\"metadata\":{\"x\":\"%s\"}}", $0}' > "$OUT/base.json"
for kind in embedded:5081 plain:5082; do
  name=${kind%%:*}; port=${kind##*:}; host=127.0.0.1:$port
  fb=""; [ "$name" = plain ] && fb="-fallback"
  one=$(bin/seed -repo "$host/one" -n 1000 $fb)
  rec=$(bin/seed -repo "$host/rec" -n 1000 -bundles $fb)
  echo "== $name registry ($host)"
  median "stella-oras discover, 1,000 referrers, 1 level" bin/stella-oras discover --plain-http --depth 1 "$host/one@$one"; s1=$MED
  median "oras discover, 1,000 referrers, 1 level" "$ORAS" discover --plain-http --depth 1 "$host/one@$one"; o1=$MED
  median "stella-oras discover, recursive (+1,000 bundles)" bin/stella-oras discover --plain-http "$host/rec@$rec"; s2=$MED
  median "oras discover, recursive (+1,000 bundles)" "$ORAS" discover --plain-http "$host/rec@$rec"; o2=$MED
  # attach: a fresh 1 MB SBOM each run, to the image with 1,000 referrers.
  i=0
  attach_stella() { i=$((i+1)); sed "s/\"x\"/\"s$i\"/" "$OUT/base.json" > "$OUT/s.json"; bin/stella-oras attach --plain-http "$host/one@$one" "$OUT/s.json"; }
  attach_oras() { i=$((i+1)); sed "s/\"x\"/\"o$i\"/" "$OUT/base.json" > "$OUT/o.json"; (cd "$OUT" && "$ORAS" attach --plain-http --artifact-type application/vnd.cyclonedx+json "$host/one@$one" o.json:application/vnd.cyclonedx+json); }
  median "stella-oras attach, 1 MB SBOM" attach_stella; s3=$MED
  median "oras attach, 1 MB SBOM" attach_oras; o3=$MED
  awk -v a="$s1" -v b="$o1" -v c="$s2" -v d="$o2" -v e="$s3" -v f="$o3" 'BEGIN {printf "  ratio stella-oras/oras: discover 1 level %.2f, recursive %.2f, attach %.2f\n", a/b, c/d, e/f}'
done
