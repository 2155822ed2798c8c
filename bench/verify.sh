#!/usr/bin/env bash
# `stella-oras verify` against `cosign verify-attestation` (issue #4), whole
# processes on loopback: one image with 10 bundle referrers, and one with 1.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/verify
RUNS=${RUNS:-5}
rm -rf "$OUT" && mkdir -p "$OUT" bin
go build -o bin/ ./cmd/stella-oras ./cmd/stella-engine ./cmd/stella-registry
COSIGN=$(command -v cosign || echo "$(go env GOPATH)/bin/cosign")
ORAS=$(command -v oras || echo "$(go env GOPATH)/bin/oras")
[ -x "$COSIGN" ] && [ -x "$ORAS" ] || { echo "needs cosign v3.1.3 and oras v1.3.6" >&2; exit 1; }
export STELLA_KEY_PASSWORD= COSIGN_PASSWORD=
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
bin/stella-oras registry serve --addr 127.0.0.1:5083 --root "$OUT/reg" 2>/dev/null & PIDS+=($!)
sleep 1
T=https://stella-ops.org/attestation/verdict/v1
bin/stella-oras key generate -o "$OUT/k" >/dev/null
median() {
  local label=$1; shift
  local ts=() rss=0
  for _ in $(seq "$RUNS"); do
    # wall time from bash's microsecond clock (time(1) rounds to 10 ms),
    # peak RSS from time(1)
    local s0=$EPOCHREALTIME
    /usr/bin/time -f "%M" -o "$OUT/t" "$@" >/dev/null 2>&1
    local s1=$EPOCHREALTIME
    read -r m < "$OUT/t"; ts+=("$(echo "$s1 - $s0" | bc)"); [ "$m" -gt "$rss" ] && rss=$m
  done
  MED=$(printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '  %-44s %6.3f s  %4d MB\n' "$label" "$MED" $((rss / 1024))
}
for n in 10 1; do
  echo "image $n" > "$OUT/f$n.txt"
  d=$(cd "$OUT" && "$ORAS" push --plain-http 127.0.0.1:5083/app:v$n "f$n.txt" --format json | sed -n 's/.*"digest": *"\(sha256:[0-9a-f]*\)".*/\1/p' | head -1)
  for i in $(seq "$n"); do
    echo "{\"status\":\"pass\",\"n\":$i}" > "$OUT/p.json"
    bin/stella-oras attest --plain-http "127.0.0.1:5083/app@$d" --predicate "$OUT/p.json" --type "$T" --key "$OUT/k.key" >/dev/null
  done
  echo "== $n bundle(s)"
  median "stella-oras verify" bin/stella-oras verify --plain-http "127.0.0.1:5083/app@$d" --key "$OUT/k.pub" --type "$T"; s=$MED
  median "cosign verify-attestation" "$COSIGN" verify-attestation --key "$OUT/k.pub" --type "$T" --insecure-ignore-tlog --allow-http-registry "127.0.0.1:5083/app@$d"; c=$MED
  awk -v a="$s" -v b="$c" 'BEGIN {printf "  ratio stella-oras/cosign: %.2f\n", a/b}'
done
