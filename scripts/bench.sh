#!/usr/bin/env bash
# Load benchmark: overdue (SQLite store, the default) against a bare axum server that
# only parses the query (examples/bare_axum.rs), both driven by wrk over loopback.
#
#   bash scripts/bench.sh            # 3 rounds of A B A B …
#   ROUNDS=5 DURATION=15s bash scripts/bench.sh
#
# Environment: ROUNDS (3), DURATION (8s), CONNECTIONS (32), THREADS (1), JOBS (10000).
# Every run pings 10,000 pre-registered jobs in turn with frequency=1h, so all rounds
# measure steady-state pings (no new names). Prints requests/s, p50, p99 and the
# count of non-2xx/3xx answers per run, then the medians and the overdue/bare ratio.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
JOBS=${JOBS:-10000}

cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v wrk >/dev/null 2>&1; then
    echo "== installing wrk"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
for tool in curl wrk awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench.sh needs $tool" >&2; exit 1; }
done

echo "== building (release)"
cargo build --release --bins --examples

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
overdue_port=$(free_port 4180)
bare_port=$(free_port 4181)
overdue_url="http://127.0.0.1:$overdue_port"
bare_url="http://127.0.0.1:$bare_port"

RUST_LOG=warn ./target/release/overdue \
    --store "sqlite://$tmp/bench.db" --listen "127.0.0.1:$overdue_port" --log-format json \
    >"$tmp/overdue.log" 2>&1 &
pids+=("$!")
./target/release/examples/bare_axum "127.0.0.1:$bare_port" >"$tmp/bare.log" 2>&1 &
pids+=("$!")

wait_live() {
    local url=$1 log=$2
    for _ in $(seq 1 100); do
        if curl -fsS -o /dev/null "$url/livez" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "$url did not come up; its log:" >&2
    cat "$log" >&2
    exit 1
}
wait_live "$overdue_url" "$tmp/overdue.log"
wait_live "$bare_url" "$tmp/bare.log"

echo "== registering $JOBS jobs"
# One curl process, one kept-alive connection, one URL per job.
for i in $(seq 1 "$JOBS"); do
    echo "url = \"$overdue_url/ping?name=job-$i&frequency=1h\""
done >"$tmp/register.cfg"
curl -sS -K "$tmp/register.cfg" >/dev/null
registered=$(curl -fsS "$overdue_url/pings?limit=1" | sed -n 's/.*"total":\([0-9]*\).*/\1/p')
if [ "$registered" != "$JOBS" ]; then
    echo "expected $JOBS jobs, overdue lists ${registered:-none}" >&2
    exit 1
fi

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
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$tmp/ping.lua" "$1")
    echo "$out" >>"$tmp/wrk.txt"
    echo "$out" | awk '/^RESULT/ {
        for (f = 2; f <= NF; f++) { split($f, kv, "="); v[kv[1]] = kv[2] }
        print v["rps"], v["p50_us"], v["p99_us"], v["non2xx"], v["socket_errors"]
    }'
}

report() {
    # name rps p50_us p99_us non2xx socket_errors
    awk -v name="$1" '{ printf "  %-8s %10.0f req/s   p50 %7.2f ms   p99 %7.2f ms   non-2xx/3xx %d   socket errors %d\n", name, $1, $2 / 1000, $3 / 1000, $4, $5 }' <<<"$2"
}

median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "== $ROUNDS rounds of wrk -t$THREADS -c$CONNECTIONS -d$DURATION, overdue then bare"
overdue_rps=()
bare_rps=()
ratios=()
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round"
    a=$(run_wrk "$overdue_url")
    report overdue "$a"
    b=$(run_wrk "$bare_url")
    report bare "$b"
    overdue_rps+=("${a%% *}")
    bare_rps+=("${b%% *}")
    ratios+=("$(awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN { printf "%.3f", a / b }')")
done

median_overdue=$(printf '%s\n' "${overdue_rps[@]}" | median)
median_bare=$(printf '%s\n' "${bare_rps[@]}" | median)
median_ratio=$(printf '%s\n' "${ratios[@]}" | median)
echo "== medians over $ROUNDS rounds"
printf '  overdue  %10.0f req/s\n' "$median_overdue"
printf '  bare     %10.0f req/s\n' "$median_bare"
printf '  ratio overdue/bare (median of per-round ratios): %.3f\n' "$median_ratio"

if grep -q '"level":"ERROR"' "$tmp/overdue.log"; then
    echo "overdue logged errors during the run:" >&2
    grep '"level":"ERROR"' "$tmp/overdue.log" | head -5 >&2
fi
