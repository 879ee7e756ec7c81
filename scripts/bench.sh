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
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$0")/lib/common.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
JOBS=${JOBS:-10000}
for var in ROUNDS CONNECTIONS THREADS JOBS; do positive_int "$var"; done

need_tools curl wrk awk sed
build_release --bins --examples

start_overdue overdue "$(free_port 4180)" --store "sqlite://$tmp/bench.db"
overdue_url=$url
bare_port=$(free_port 4181)
bare_url="http://127.0.0.1:$bare_port"
./target/release/examples/bare_axum "127.0.0.1:$bare_port" >"$tmp/bare.log" 2>&1 &
pids+=("$!")
wait_live "$bare_url" "$tmp/bare.log"

echo "== registering $JOBS jobs"
register "$overdue_url"

compare_rounds overdue "$overdue_url" bare "$bare_url" ab
log_summary "$tmp/overdue.log"
