# Shared by the bench scripts. measure LABEL CMD...: runs CMD $RUNS times,
# prints the median wall time and the largest peak RSS (GNU time). Exit
# codes 0, 1 (osv-scanner: vulns found) and 3 (stella-oras: gate failed)
# are results, not failures. Sets LAST to the median.
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench: /usr/bin/time is needed for peak RSS (apt-get install time)" >&2; exit 1; }
measure() {
  local label=$1; shift
  local walls=() rss=0
  for _ in $(seq "$RUNS"); do
    "$TIME" -f "%e %M" -o "$OUT/time.txt" "$@" >/dev/null 2>"$OUT/stderr.txt" || {
      rc=$?; if [ $rc -ne 1 ] && [ $rc -ne 3 ]; then cat "$OUT/stderr.txt" >&2; return $rc; fi; }
    read -r w m < <(tail -1 "$OUT/time.txt")
    walls+=("$w"); [ "$m" -gt "$rss" ] && rss=$m
  done
  median=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-52s %7.2f s wall (median of %d)  %6d MB peak RSS\n' "$label" "$median" "$RUNS" $((rss / 1024))
  LAST=$median
}
