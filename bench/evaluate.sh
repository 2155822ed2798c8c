#!/usr/bin/env bash
# `stella-oras evaluate` (issue #10) against the peers doing the same job,
# whole processes side by side in one run, on the embedded registry on
# loopback. Figures are printed, never asserted:
#   1. cache-hit evaluate vs `cosign verify-attestation` of the same bundle
#      (runs interleaved, so machine noise hits both alike)
#      on the same image (goal: ratio <= 0.5);
#   2. cold evaluate of a 2,000-component Go SBOM with the corpus Go feed,
#      pulls and pushes included, vs `oras pull` of the SBOM +
#      `osv-scanner --offline` + `cosign attest` (goal: <= 0.3);
#   3. bytes pulled for a Go-only SBOM from a multi-ecosystem feed artifact;
#   4. --from-file of 100 images, --jobs 2 vs --jobs 1 (goal: >= 1.6x),
#      and for scale two processes with --jobs 1 at once, half each.
# Usage: bench/evaluate.sh        (RUNS=5, STELLA_CORPUS=../shared/corpus)
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${STELLA_CORPUS:-../shared/corpus}
OUT=bench/out/evaluate
RUNS=${RUNS:-5}
IMAGES=${IMAGES:-100}
rm -rf "$OUT" && mkdir -p "$OUT" bin
go build -o bin/ ./cmd/stella-oras ./cmd/stella-engine ./cmd/stella-registry
go build -o bin/osvdb ./bench/osvdb
GOBIN=$(go env GOPATH)/bin
COSIGN=$(command -v cosign || echo "$GOBIN/cosign")
ORAS=$(command -v oras || echo "$GOBIN/oras")
OSV=$(command -v osv-scanner || echo "$GOBIN/osv-scanner")
for t in "$COSIGN" "$ORAS" "$OSV"; do
  [ -x "$t" ] || { echo "needs cosign v3.1.3, oras v1.3.6 and osv-scanner v2.5.0 ($t missing)" >&2; exit 1; }
done
[ -d "$CORPUS/osv/go-vulndb" ] || { echo "needs the corpus Go feed: $CORPUS/osv/go-vulndb" >&2; exit 1; }
export STELLA_KEY_PASSWORD= COSIGN_PASSWORD=
SO=bin/stella-oras
PORT=${PORT:-5087}
R=127.0.0.1:$PORT
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
$SO registry serve --addr "$R" --root "$OUT/reg" 2>"$OUT/registry.log" & PIDS+=($!)
for _ in $(seq 50); do curl -fs "http://$R/v2/" >/dev/null 2>&1 && break; sleep 0.1; done

# wall time from bash's microsecond clock; the median of RUNS
median() {
  local ts=()
  for _ in $(seq "$RUNS"); do
    local s0=$EPOCHREALTIME
    "$@" >/dev/null 2>&1 || true # exit 3 (gate failed) is a result
    ts+=("$(echo "$EPOCHREALTIME - $s0" | bc)")
  done
  MED=$(printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
}
# interleaved A B: RUNS runs of each, alternating (machine noise hits both
# alike); medians in MED_A and MED_B. Commands are bash arrays' names.
interleaved() {
  local -n a=$1 b=$2
  local ta=() tb=()
  for _ in $(seq "$RUNS"); do
    local s0=$EPOCHREALTIME; "${a[@]}" >/dev/null 2>&1 || true; ta+=("$(echo "$EPOCHREALTIME - $s0" | bc)")
    s0=$EPOCHREALTIME; "${b[@]}" >/dev/null 2>&1 || true; tb+=("$(echo "$EPOCHREALTIME - $s0" | bc)")
  done
  MED_A=$(printf '%s\n' "${ta[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  MED_B=$(printf '%s\n' "${tb[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
digest_of() { grep -o 'sha256:[0-9a-f]\{64\}' | head -1; }

$SO key generate -o "$OUT/ci" >/dev/null
(cd "$OUT" && "$COSIGN" generate-key-pair >/dev/null 2>&1)
go run ./bench/gen -out "$OUT/gen" -advisories 20000 -corpus "$CORPUS" -components 2000 >/dev/null
SBOM=$OUT/gen/sbom-2000.cdx.json
$SO feed push --plain-http "$CORPUS/osv/go-vulndb" --epoch 2026-08-21 "$R/feeds-go" >/dev/null
$SO feed push --plain-http "$OUT/gen/osv" --epoch 2026-08-21 "$R/feeds-all" >/dev/null
bin/osvdb -out "$OUT/osvdb-go" "$CORPUS/osv/go-vulndb" >/dev/null
image() { # image REPO TEXT [SBOM]: a sample image with the SBOM attached; prints REPO@digest
  local d; d=$($SO sample-image --plain-http "$R/$1:v1" --text "$2" | digest_of)
  $SO attach --plain-http "$R/$1@$d" "${3:-$SBOM}" >/dev/null
  echo "$R/$1@$d"
}
T=https://stella-ops.org/attestation/verdict/v1
# ONLY="2 4" runs some sections
want() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }

if want 1; then
echo "== 1. cache-hit evaluate vs cosign verify-attestation (same image, same bundle)"
IMG=$(image hit "cache hit")
$SO evaluate --plain-http "$IMG" --feed "$R/feeds-go" --key "$OUT/ci.key" >/dev/null || [ $? -eq 3 ]
$SO evaluate --plain-http "$IMG" --feed "$R/feeds-go" --key "$OUT/ci.key" --output json | grep -q '"state": "cached"' || [ $? -eq 3 ]
hit=("$SO" evaluate --plain-http "$IMG" --feed "$R/feeds-go" --key "$OUT/ci.key")
cos=("$COSIGN" verify-attestation --key "$OUT/ci.pub" --type "$T" --insecure-ignore-tlog --allow-http-registry "$IMG")
interleaved hit cos; s=$MED_A c=$MED_B
printf '  %-52s %6.3f s\n  %-52s %6.3f s\n  ratio: %s (goal <= 0.5)\n' "stella-oras evaluate (cache hit)" "$s" "cosign verify-attestation" "$c" "$(ratio "$s" "$c")"
fi
if want 2; then
echo
echo "== 2. cold evaluate, 2,000 Go components, corpus Go feed (4,291 records), pulls and pushes included"
# each run judges a fresh image in its own repository: nothing cached, every blob pushed
cold_stella() {
  local i=$1 img; img=$(image "cold-s$i" "cold stella $i")
  local s0=$EPOCHREALTIME
  $SO evaluate --plain-http "$img" --feed "$R/feeds-go" --key "$OUT/ci.key" --output json >"$OUT/cold$i.json" || [ $? -eq 3 ]
  echo "$EPOCHREALTIME - $s0" | bc
  grep -q '"state": "computed"' "$OUT/cold$i.json" || { echo "cold evaluate did not compute" >&2; exit 1; }
}
cold_peers() {
  local i=$1 img; img=$(image "cold-p$i" "cold peers $i")
  # the SBOM referrer's digest (the second digest: the first is the image's)
  local sref; sref=$($SO discover --plain-http "$img" --output json | grep -o 'sha256:[0-9a-f]\{64\}' | sed -n 2p)
  local w="$OUT/peer$i"; mkdir -p "$w"
  local s0=$EPOCHREALTIME
  "$ORAS" pull --plain-http "${img%@*}@$sref" -o "$w" >/dev/null
  # exit 1 is osv-scanner's "vulnerabilities found"
  "$OSV" scan source --offline --local-db-path "$OUT/osvdb-go" -L "$w/$(basename "$SBOM")" --format json >"$w/results.json" 2>"$w/osv.err" || [ $? -eq 1 ]
  "$COSIGN" attest --key "$OUT/cosign.key" --predicate "$w/results.json" --type "$T" --use-signing-config=false --tlog-upload=false --allow-http-registry --yes "$img" >/dev/null 2>"$w/cosign.err"
  echo "$EPOCHREALTIME - $s0" | bc
  # the peers really did the job: findings in the results, an attestation on the image
  [ "$(grep -o '"id": *"GO-' "$w/results.json" | wc -l)" -gt 0 ] || { echo "osv-scanner found nothing: $(cat "$w/osv.err")" >&2; exit 1; }
}
ts=(); for i in $(seq "$RUNS"); do ts+=("$(cold_stella "$i")"); done
s=$(printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
ts=(); for i in $(seq "$RUNS"); do ts+=("$(cold_peers "$i")"); done
p=$(printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf '  %-52s %6.3f s\n  %-52s %6.3f s\n  ratio: %s (goal <= 0.3)\n' "stella-oras evaluate (cold)" "$s" "oras pull + osv-scanner --offline + cosign attest" "$p" "$(ratio "$s" "$p")"
fi
if want 3; then
echo
echo "== 3. bytes pulled: a Go-only SBOM from a multi-ecosystem feed artifact (corpus Go records + generated npm, PyPI, Maven…)"
IMG=$(image bytes "bytes pulled")
pulled=$($SO evaluate --plain-http "$IMG" --feed "$R/feeds-all" --key "$OUT/ci.key" --output json 2>/dev/null | grep -o '"bytes_pulled": *[0-9]*' | head -1 | grep -o '[0-9]*$' || true)
"$ORAS" manifest fetch --plain-http --pretty "$R/feeds-all:2026-08-21T000000Z" >"$OUT/feed-manifest.json"
total=$(grep -o '"size": *[0-9]*' "$OUT/feed-manifest.json" | grep -o '[0-9]*$' | awk '{s+=$1} END {print s}')
awk '/"size"/ {gsub(/[^0-9]/, "", $2); size=$2} /image.title/ {gsub(/[",]/, "", $2); printf "    %-28s %10d bytes\n", $2, size}' "$OUT/feed-manifest.json"
printf '  feed artifact layers: %d bytes; pulled for a Go-only SBOM (manifest, index, Go group): %d bytes (%.1f%%)\n' "$total" "$pulled" "$(awk -v a="$pulled" -v b="$total" 'BEGIN {print 100*a/b}')"
fi
if want 4; then
echo
ROUNDS=${ROUNDS:-3}
echo "== 4. --from-file of $IMAGES images: --jobs 2 vs --jobs 1 (cold: each run its own images; median of $ROUNDS rounds, alternating)"
$SO feed push --plain-http examples/quickstart/osv "$R/feeds-qs" >/dev/null
# The machine's own ceiling, for scale: two separate processes with
# --jobs 1 at once, half the list each (no shared client, nothing shared
# in the tool): what two jobs could at best gain here.
t1=(); t2=(); tp=()
evaluate_list() { # LIST JOBS: evaluates LIST, checks every image computed
  $SO evaluate --plain-http --from-file "$1" --jobs "$2" --feed "$R/feeds-qs" --key "$OUT/ci.key" --output json >"$1.json" 2>/dev/null || [ $? -eq 3 ]
  [ "$(grep -c '"state": "computed"' "$1.json")" -eq "$(wc -l <"$1")" ] || { echo "--from-file did not compute every image of $1" >&2; exit 1; }
}
for round in $(seq "$ROUNDS"); do
  for j in 1 2 p; do
    list="$OUT/j$j-$round.txt"; : >"$list"
    for i in $(seq "$IMAGES"); do image "many-$round-$j" "round $round jobs $j image $i" examples/quickstart/sbom.cdx.json >>"$list"; done
    s0=$EPOCHREALTIME
    if [ "$j" = p ]; then
      head -n $((IMAGES / 2)) "$list" >"$list.a"; tail -n +$((IMAGES / 2 + 1)) "$list" >"$list.b"
      evaluate_list "$list.a" 1 & pa=$!
      evaluate_list "$list.b" 1
      wait "$pa"
    else
      evaluate_list "$list" "$j"
    fi
    t=$(echo "$EPOCHREALTIME - $s0" | bc)
    case $j in 1) t1+=("$t") ;; 2) t2+=("$t") ;; p) tp+=("$t") ;; esac
  done
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
j1=$(med "${t1[@]}"); j2=$(med "${t2[@]}"); jp=$(med "${tp[@]}")
rate() { awk -v n="$IMAGES" -v t="$1" 'BEGIN {print n/t}'; }
printf '  --jobs 1: %6.2f s (%.1f images/s)   rounds: %s\n  --jobs 2: %6.2f s (%.1f images/s)   rounds: %s\n  throughput ratio: %s (goal >= 1.6)\n' \
  "$j1" "$(rate "$j1")" "${t1[*]}" "$j2" "$(rate "$j2")" "${t2[*]}" "$(ratio "$j1" "$j2")"
printf '  two processes, --jobs 1, half each: %6.2f s (%.1f images/s): ratio %s, the most two jobs can gain on this machine\n' \
  "$jp" "$(rate "$jp")" "$(ratio "$j1" "$jp")"
fi
