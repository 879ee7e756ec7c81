#!/usr/bin/env bash
# What performance monitoring costs (SPEC §7), measured with wrk over loopback:
#
#  1. Overhead: two servers side by side, one with --perf on and one with --perf off,
#     driven alternately (on/off, then off/on, …) for ROUNDS rounds of GET /ping;
#     prints requests/s of each, the per-round ratio on/off and its median.
#  2. Server-side time of GET /ping as /metrics/performance reports it (avg, median,
#     p99): under the load of step 1, and one request at a time (wrk -c1).
#  3. Memory: a fresh --perf on server; VmRSS (/proc/<pid>/status) after SMALL pings
#     (exactly, registrations included) and after LARGE pings in all (at least).
#
#   bash scripts/bench-perf.sh
#   ROUNDS=5 DURATION=15s STORE=memory bash scripts/bench-perf.sh
#
# Environment: ROUNDS (3), DURATION (8s), CONNECTIONS (32), THREADS (1), JOBS (10000),
# STORE (sqlite, the default store; or memory), SMALL (100000), LARGE (2000000),
# SKIP_RSS (unset; 1 skips step 3). Every ping names one of JOBS pre-registered jobs
# with frequency=1h, so all runs measure steady-state pings.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$0")/lib/common.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
JOBS=${JOBS:-10000}
STORE=${STORE:-sqlite}
SMALL=${SMALL:-100000}
LARGE=${LARGE:-2000000}
for var in ROUNDS CONNECTIONS THREADS JOBS SMALL LARGE; do positive_int "$var"; done
case "$STORE" in
    sqlite | memory) ;;
    *) echo "$script_name: STORE must be sqlite or memory, not '$STORE'" >&2; exit 2 ;;
esac

need_tools curl wrk awk sed
build_release

# Starts overdue as $1 (a name) with --perf $2 on a free port (fallback $3), on the
# STORE, and registers the jobs; sets $url and $pid.
start() {
    local store="memory://"
    [ "$STORE" = memory ] || store="sqlite://$tmp/$1.db"
    start_overdue "$1" "$(free_port "$3")" --store "$store" --perf "$2"
    register "$url"
}

# The aggregates of "GET /ping" in /metrics/performance at $1: "count avg median p99" (ms).
server_side() {
    curl -fsS "$1/metrics/performance" | sed -n 's/.*"GET \/ping":{\([^}]*\)}.*/\1/p' |
        awk -F, '{
            for (f = 1; f <= NF; f++) { split($f, kv, ":"); gsub(/"/, "", kv[1]); v[kv[1]] = kv[2] }
            print v["count"], v["avg_ms"], v["median_ms"], v["p99_ms"]
        }'
}

print_server_side() {
    awk -v what="$1" '{ printf "  %-34s count %9d   avg %7.1f µs   median %7.1f µs   p99 %8.1f µs\n", what, $1, $2 * 1000, $3 * 1000, $4 * 1000 }' <<<"$2"
}

rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

echo "== store: $STORE; --perf on against --perf off"
start perf-on on 4190
on_url=$url
start perf-off off 4191
off_url=$url
echo "  warm-up"
run_wrk "$on_url" "$CONNECTIONS" 2s >/dev/null
run_wrk "$off_url" "$CONNECTIONS" 2s >/dev/null
compare_rounds "perf on" "$on_url" "perf off" "$off_url" alternate

echo "== server-side time of GET /ping (/metrics/performance)"
print_server_side "under load (wrk -c$CONNECTIONS)" "$(server_side "$on_url")"
# A new retention starts new aggregates: measure one request at a time from zero.
curl -fsS -X PUT -d '{"retention_seconds": 3599}' "$on_url/metrics/performance/config" >/dev/null
run_wrk "$on_url" 1 5s >/dev/null
print_server_side "one at a time (wrk -c1, 5 s)" "$(server_side "$on_url")"
kill -TERM "${pids[@]}" 2>/dev/null || true
wait "${pids[@]}" 2>/dev/null || true
pids=()

if [ -n "${SKIP_RSS:-}" ]; then
    exit 0
fi

echo "== memory: VmRSS after $SMALL and after $LARGE pings (fresh --perf on server)"
start rss on 4192
rss_url=$url
rss_pid=$pid
pings_total() {
    curl -fsS "$1/metrics" | awk '/^overdue_pings_total / { print $2 }'
}
# Up to SMALL exactly: one curl process on one kept-alive connection, cycling the jobs.
for i in $(seq 1 $((SMALL - JOBS))); do
    echo "url = \"$rss_url/ping?name=job-$(( (i - 1) % JOBS + 1 ))&frequency=1h\""
done >"$tmp/small.cfg"
curl -sS -K "$tmp/small.cfg" >/dev/null
small_pings=$(pings_total "$rss_url")
small_rss=$(rss_kib "$rss_pid")
# Then to LARGE with wrk, in runs sized from the rate seen so far (wrk has no request
# count); the last run may overshoot by a fraction of a second's pings.
rate=20000
while :; do
    done_pings=$(pings_total "$rss_url")
    left=$((LARGE - done_pings))
    [ "$left" -gt 0 ] || break
    secs=$(( left / rate ))
    [ "$secs" -ge 1 ] || secs=1
    [ "$secs" -le 30 ] || secs=30
    started=$(date +%s%N)
    wrk -t1 -c"$CONNECTIONS" -d"${secs}s" -s "$(ping_script)" "$rss_url" >/dev/null
    elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
    after=$(pings_total "$rss_url")
    rate=$(( (after - done_pings) * 1000 / (elapsed_ms > 0 ? elapsed_ms : 1) ))
    [ "$rate" -gt 0 ] || rate=1000
done
large_pings=$(pings_total "$rss_url")
large_rss=$(rss_kib "$rss_pid")
printf '  after %9d pings: VmRSS %7.1f MiB\n' "$small_pings" "$(awk -v k="$small_rss" 'BEGIN { print k / 1024 }')"
printf '  after %9d pings: VmRSS %7.1f MiB\n' "$large_pings" "$(awk -v k="$large_rss" 'BEGIN { print k / 1024 }')"
printf '  growth: %.1f MiB (budget 16 MiB)\n' "$(awk -v a="$small_rss" -v b="$large_rss" 'BEGIN { print (b - a) / 1024 }')"
print_server_side "over the whole run" "$(server_side "$rss_url")"

log_summary "$tmp"/perf-*.log "$tmp"/rss.log
