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

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
JOBS=${JOBS:-10000}
STORE=${STORE:-sqlite}
SMALL=${SMALL:-100000}
LARGE=${LARGE:-2000000}

cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v wrk >/dev/null 2>&1; then
    echo "== installing wrk"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
for tool in curl wrk awk sed; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench-perf.sh needs $tool" >&2; exit 1; }
done

echo "== building (release)"
cargo build --release --bin overdue

tmp=$(mktemp -d)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    else
        echo "$1"
    fi
}

store_url() {
    case "$STORE" in
        sqlite) echo "sqlite://$tmp/$1.db" ;;
        memory) echo "memory://" ;;
        *) echo "STORE must be sqlite or memory" >&2; exit 1 ;;
    esac
}

# Starts overdue as $1 (a name) with --perf $2 on a free port; sets $url and $pid.
start() {
    local name=$1 perf=$2 port
    port=$(free_port "$3")
    RUST_LOG=warn ./target/release/overdue \
        --store "$(store_url "$name")" --listen "127.0.0.1:$port" --log-format json \
        --perf "$perf" >"$tmp/$name.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    url="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do
        if curl -fsS -o /dev/null "$url/livez" 2>/dev/null; then
            register "$url"
            return 0
        fi
        sleep 0.1
    done
    echo "$url did not come up; its log:" >&2
    cat "$tmp/$name.log" >&2
    exit 1
}

# One curl process, one kept-alive connection, one URL per job.
register() {
    local url=$1 registered
    for i in $(seq 1 "$JOBS"); do
        echo "url = \"$url/ping?name=job-$i&frequency=1h\""
    done >"$tmp/register.cfg"
    curl -sS -K "$tmp/register.cfg" >/dev/null
    registered=$(curl -fsS "$url/pings?limit=1" | sed -n 's/.*"total":\([0-9]*\).*/\1/p')
    if [ "$registered" != "$JOBS" ]; then
        echo "expected $JOBS jobs, $url lists ${registered:-none}" >&2
        exit 1
    fi
}

cat >"$tmp/ping.lua" <<EOF
-- Cycles over $JOBS job names; done() prints one parseable line.
local jobs = $JOBS
local i = 0
request = function()
    i = i % jobs + 1
    return wrk.format("GET", "/ping?name=job-" .. i .. "&frequency=1h")
end
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(99),
        e.status, e.connect + e.read + e.write + e.timeout))
end
EOF

# Runs wrk against $1 and prints "rps p50_us p99_us non2xx socket_errors".
run_wrk() {
    local out
    out=$(wrk -t"$THREADS" -c"${2:-$CONNECTIONS}" -d"${3:-$DURATION}" --latency -s "$tmp/ping.lua" "$1")
    echo "$out" >>"$tmp/wrk.txt"
    echo "$out" | awk '/^RESULT/ {
        for (f = 2; f <= NF; f++) { split($f, kv, "="); v[kv[1]] = kv[2] }
        print v["rps"], v["p50_us"], v["p99_us"], v["non2xx"], v["socket_errors"]
    }'
}

report() {
    awk -v name="$1" '{ printf "  %-9s %10.0f req/s   p50 %7.2f ms   p99 %7.2f ms   non-2xx/3xx %d   socket errors %d\n", name, $1, $2 / 1000, $3 / 1000, $4, $5 }' <<<"$2"
}

median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
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

echo "== store: $STORE; $ROUNDS rounds of wrk -t$THREADS -c$CONNECTIONS -d$DURATION, --perf on and --perf off alternately"
start perf-on on 4190
on_url=$url
start perf-off off 4191
off_url=$url
echo "  warm-up"
run_wrk "$on_url" "$CONNECTIONS" 2s >/dev/null
run_wrk "$off_url" "$CONNECTIONS" 2s >/dev/null
on_rps=()
off_rps=()
ratios=()
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round"
    if [ $((round % 2)) -eq 1 ]; then
        a=$(run_wrk "$on_url"); report "perf on" "$a"
        b=$(run_wrk "$off_url"); report "perf off" "$b"
    else
        b=$(run_wrk "$off_url"); report "perf off" "$b"
        a=$(run_wrk "$on_url"); report "perf on" "$a"
    fi
    on_rps+=("${a%% *}")
    off_rps+=("${b%% *}")
    ratios+=("$(awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN { printf "%.3f", a / b }')")
done
echo "== medians over $ROUNDS rounds"
printf '  perf on   %10.0f req/s\n' "$(printf '%s\n' "${on_rps[@]}" | median)"
printf '  perf off  %10.0f req/s\n' "$(printf '%s\n' "${off_rps[@]}" | median)"
printf '  ratio on/off (median of per-round ratios): %.3f   (rounds: %s)\n' \
    "$(printf '%s\n' "${ratios[@]}" | median)" "${ratios[*]}"

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
    wrk -t1 -c"$CONNECTIONS" -d"${secs}s" -s "$tmp/ping.lua" "$rss_url" >/dev/null
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

if grep -q '"level":"ERROR"' "$tmp"/*.log; then
    echo "overdue logged errors during the run:" >&2
    grep -h '"level":"ERROR"' "$tmp"/*.log | head -5 >&2
fi
