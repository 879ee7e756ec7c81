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

# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh
need_tools curl wrk awk sed

echo "== building (release)"
cargo build --release --bins --examples

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

wait_live "$overdue_url" "$tmp/overdue.log"
wait_live "$bare_url" "$tmp/bare.log"

echo "== registering $JOBS jobs"
register "$overdue_url"

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
