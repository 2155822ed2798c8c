#!/usr/bin/env bash
# Start-up benchmark of issue #11 section 2, printed, never asserted: whole
# processes on loopback, each stella-oras command side by side with the ORAS
# CLI doing the same work in the same run, runs interleaved (stella, oras,
# stella, …) so that machine noise hits both alike:
#   - `version`;
#   - `discover --depth 1` of an image with 3 referrers (one listing);
#   - `attach` of a fresh 1 MB SBOM;
# the last two on the embedded registry (referrers API) and on plain
# distribution (referrers tag schema); and `delta` of the two
# 10,000-finding bench verdicts (bench/decisions.sh makes them).
# Targets: version ≤ 1.5 × oras; discover and attach ≤ 0.9 × oras on both
# kinds; delta ≤ 150 ms.
# A third row, where /dev/shm is a tmpfs, is informational, not a target:
# attach on plain distribution whose storage is in memory. distribution
# syncs every file it writes (a link: the file and its directory), and
# attach's registration tag (README, "Concurrent writers of one referrers
# tag") is two link files more than oras writes, 26 fsyncs against 22; on
# a disk where a sync costs about a millisecond that is the difference
# between the two rows.
# Usage: bench/startup.sh     (RUNS=21 by default; the registries listen on
# PORT_EMBEDDED, PORT_PLAIN and PORT_TMPFS, 5091, 5092 and 5093 by default,
# so that runs of several worktrees on one machine need not collide)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/startup
RUNS=${RUNS:-21}
PORT_EMBEDDED=${PORT_EMBEDDED:-5091}
PORT_PLAIN=${PORT_PLAIN:-5092}
PORT_TMPFS=${PORT_TMPFS:-5093}
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
if [ ! -f bench/out/base-10000.json ] || [ ! -f bench/out/dec-10000.json ]; then
  echo "making the 10,000-finding verdicts (bench/decisions.sh, once)…" >&2
  RUNS=1 bench/decisions.sh >/dev/null
fi

ports=("$PORT_EMBEDDED" "$PORT_PLAIN")
TMPFS=""
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && [ -w /dev/shm ]; then
  TMPFS=$(mktemp -d /dev/shm/stella-startup.XXXXXX); ports+=("$PORT_TMPFS")
fi
for port in "${ports[@]}"; do
  if curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
    echo "port $port is taken (another run?): set PORT_EMBEDDED / PORT_PLAIN / PORT_TMPFS" >&2; exit 1
  fi
done
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$OUT".old.* ${TMPFS:+"$TMPFS"}' EXIT
bin/stella-registry --addr "127.0.0.1:$PORT_EMBEDDED" --root "$OUT/embedded" 2>/dev/null & PIDS+=($!)
bin/stella-registry --plain --addr "127.0.0.1:$PORT_PLAIN" --root "$OUT/plain" 2>/dev/null & PIDS+=($!)
[ -z "$TMPFS" ] || { bin/stella-registry --plain --addr "127.0.0.1:$PORT_TMPFS" --root "$TMPFS" 2>/dev/null & PIDS+=($!); }
for port in "${ports[@]}"; do
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.05; done
done

# now sets NOW to the wall clock in nanoseconds from bash's own
# EPOCHREALTIME (microseconds), with no process: `t=$(date +%s%N)` forks a
# subshell and runs date, and the one that closes a timed run is timed with
# it. That added about 4 ms to every run here, to both tools alike, which
# pulls every ratio towards 1 (a no-op timed so: 3.97 ms; with this: 16 µs).
# The digits are kept whatever the locale's decimal point.
now() { local t=$EPOCHREALTIME; NOW=$(( 10#${t//[^0-9]/} * 1000 )); }
# pair LABEL TARGET STELLA-FN ORAS-FN: RUNS interleaved runs of each
# (shell functions, stdout discarded), medians and their ratio. Where a
# function FN_prep exists it runs before each run of FN, untimed (attach's
# fresh document is written there: writing 1 MB with sed takes ~4.5 ms, which
# is not the work measured).
pair() {
  local label=$1 target=$2 sf=$3 of=$4 s=() o=() t0 dt
  run1() {
    if declare -F "$1_prep" >/dev/null; then "$1_prep"; fi
    now; t0=$NOW
    "$1" >/dev/null 2>"$OUT/err" || { cat "$OUT/err" >&2; return 1; }
    now; dt=$(( NOW - t0 ))
  }
  run1 "$sf"; run1 "$of" # warm the page cache
  for _ in $(seq "$RUNS"); do
    run1 "$sf"; s+=("$dt")
    run1 "$of"; o+=("$dt")
  done
  local sm om
  sm=$(printf '%s\n' "${s[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  om=$(printf '%s\n' "${o[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  awk -v l="$label" -v s="$sm" -v o="$om" -v t="$target" 'BEGIN {
    r = s / o; printf "  %-34s stella-oras %6.1f ms  oras %6.1f ms  ratio %.2f", l, s/1e6, o/1e6, r
    if (t == "-") print " (informational)"; else printf " (target ≤ %s) %s\n", t, (r <= t ? "met" : "MISSED") }'
}

v_stella() { bin/stella-oras version; }
v_oras() { "$ORAS" version; }
echo "== runs: $RUNS each, interleaved; medians"
pair "version" 1.5 v_stella v_oras

head -c 700000 /dev/urandom | base64 -w0 | awk '{printf "{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.6\",\"metadata\":{\"x\":\"%s\"}}", $0}' > "$OUT/base.json"
kinds=("embedded:$PORT_EMBEDDED" "plain:$PORT_PLAIN")
[ -z "$TMPFS" ] || kinds+=("plain-tmpfs:$PORT_TMPFS")
for kind in "${kinds[@]}"; do
  name=${kind%%:*}; host=127.0.0.1:${kind##*:}
  fb=""; [ "$name" != embedded ] && fb="-fallback"
  img=$(bin/seed -repo "$host/app" -n 3 $fb)
  d_stella() { bin/stella-oras discover --plain-http --depth 1 "$host/app@$img"; }
  d_oras() { "$ORAS" discover --plain-http --depth 1 "$host/app@$img"; }
  i=0
  a_stella_prep() { i=$((i+1)); sed "s/\"x\"/\"s$i\"/" "$OUT/base.json" > "$OUT/s.json"; }
  a_stella() { bin/stella-oras attach --plain-http "$host/app@$img" "$OUT/s.json"; }
  a_oras_prep() { i=$((i+1)); sed "s/\"x\"/\"o$i\"/" "$OUT/base.json" > "$OUT/o.json"; }
  # No subshell around oras (a `(cd … && oras …)` would time a fork
  # with it): the file is named relative to here, which oras takes as the
  # layer's title.
  a_oras() { "$ORAS" attach --plain-http --artifact-type application/vnd.cyclonedx+json "$host/app@$img" "$OUT/o.json:application/vnd.cyclonedx+json"; }
  if [ "$name" = plain-tmpfs ]; then
    echo "== plain registry, storage in memory ($host; $TMPFS)"
    pair "attach, 1 MB SBOM" - a_stella a_oras
    continue
  fi
  echo "== $name registry ($host)"
  pair "discover --depth 1 (3 referrers)" 0.9 d_stella d_oras
  pair "attach, 1 MB SBOM" 0.9 a_stella a_oras
done

echo "== delta of the two 10,000-finding verdicts (target ≤ 150 ms whole process)"
ts=()
for _ in $(seq "$RUNS"); do
  now; t0=$NOW
  bin/stella-oras delta bench/out/base-10000.json bench/out/dec-10000.json -o "$OUT/delta.json" >/dev/null
  now; ts+=($(( NOW - t0 )))
done
printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {m = a[int((NR+1)/2)] / 1e6; printf "  delta: %.1f ms (median of %d) %s\n", m, NR, (m <= 150 ? "met" : "MISSED")}'
