#!/usr/bin/env bash
# Redis store benchmark, in one run:
#  1. GET /ping through one replica on redis:// against the SQLite default: A B A B …
#     with wrk over the same pre-registered names, per-round ratio redis/sqlite and
#     its median;
#  2. Redis memory per job: MEMORY_JOBS jobs registered through HTTP into a Redis of
#     their own, INFO used_memory before and after, and MEMORY USAGE of each key kind.
#
#   bash scripts/bench-redis.sh
#   ROUNDS=5 DURATION=15s MEMORY_JOBS=100000 bash scripts/bench-redis.sh
#
# Environment: ROUNDS (3), DURATION (8s), CONNECTIONS (32), THREADS (1), JOBS (10000),
# MEMORY_JOBS (100000). The ping benchmark's Redis runs as the README advises
# (appendonly yes, appendfsync everysec); SQLite runs with --sync normal (default).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
JOBS=${JOBS:-10000}
MEMORY_JOBS=${MEMORY_JOBS:-100000}

cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh
need_tools curl wrk awk sed redis-server redis-cli

echo "== building (release)"
cargo build --release --bin overdue

# Starts redis-server on port $1 with the options that follow; waits until it answers.
start_redis() {
    local port=$1
    shift
    redis-server --port "$port" --bind 127.0.0.1 --save "" "$@" >"$tmp/redis-$port.log" 2>&1 &
    pids+=("$!")
    for _ in $(seq 1 100); do
        if redis-cli -p "$port" ping >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "redis-server on port $port did not come up:" >&2
    cat "$tmp/redis-$port.log" >&2
    exit 1
}

# Starts overdue on port $1 with store $2 (and further flags); waits until it is live.
start_overdue() {
    local port=$1 store=$2
    shift 2
    RUST_LOG=warn ./target/release/overdue --store "$store" --listen "127.0.0.1:$port" \
        --log-format json "$@" >"$tmp/overdue-$port.log" 2>&1 &
    pids+=("$!")
    wait_live "http://127.0.0.1:$port" "$tmp/overdue-$port.log"
}

redis_port=$(free_port 6390)
mkdir -p "$tmp/redis-aof"
start_redis "$redis_port" --appendonly yes --appendfsync everysec --dir "$tmp/redis-aof"

sqlite_port=$(free_port 4190)
replica_port=$(free_port 4191)
sqlite_url="http://127.0.0.1:$sqlite_port"
replica_url="http://127.0.0.1:$replica_port"
start_overdue "$sqlite_port" "sqlite://$tmp/bench.db"
start_overdue "$replica_port" "redis://127.0.0.1:$redis_port/0"

echo "== registering $JOBS jobs on each"
register "$sqlite_url"
register "$replica_url"

echo "== $ROUNDS rounds of wrk -t$THREADS -c$CONNECTIONS -d$DURATION, sqlite then redis"
sqlite_rps=()
redis_rps=()
ratios=()
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round"
    a=$(run_wrk "$sqlite_url")
    report sqlite "$a"
    b=$(run_wrk "$replica_url")
    report redis "$b"
    sqlite_rps+=("${a%% *}")
    redis_rps+=("${b%% *}")
    ratios+=("$(awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN { printf "%.3f", b / a }')")
done
median_sqlite=$(printf '%s\n' "${sqlite_rps[@]}" | median)
median_redis=$(printf '%s\n' "${redis_rps[@]}" | median)
median_ratio=$(printf '%s\n' "${ratios[@]}" | median)
echo "== medians over $ROUNDS rounds"
printf '  sqlite   %10.0f req/s\n' "$median_sqlite"
printf '  redis    %10.0f req/s\n' "$median_redis"
printf '  ratio redis/sqlite (median of per-round ratios): %.3f\n' "$median_ratio"

echo "== memory per job: $MEMORY_JOBS jobs in a Redis of their own"
memory_port=$(free_port 6391)
start_redis "$memory_port" --appendonly no
memory_replica_port=$(free_port 4192)
start_overdue "$memory_replica_port" "redis://127.0.0.1:$memory_port/0" \
    --max-services "$MEMORY_JOBS"
used_memory() {
    redis-cli -p "$memory_port" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'
}
before=$(used_memory)
JOBS=$MEMORY_JOBS register "http://127.0.0.1:$memory_replica_port"
after=$(used_memory)
usage() {
    redis-cli -p "$memory_port" memory usage "$1" samples 0
}
jobs=$(usage '{overdue}:jobs')
names=$(usage '{overdue}:names')
wake=$(usage '{overdue}:wake')
keys=$(redis-cli -p "$memory_port" dbsize)
awk -v b="$before" -v a="$after" -v n="$MEMORY_JOBS" -v k="$keys" 'BEGIN {
    printf "  used_memory %.1f MiB -> %.1f MiB: %.1f MiB for %d jobs, %.0f bytes per job (%d keys)\n",
        b / 1048576, a / 1048576, (a - b) / 1048576, n, (a - b) / n, k }'
awk -v h="$jobs" -v s="$names" -v w="$wake" -v n="$MEMORY_JOBS" 'BEGIN {
    printf "  MEMORY USAGE per job: jobs %.0f, names %.0f and wake %.0f bytes\n",
        h / n, s / n, w / n }'
echo "  (job names are job-1 … job-$MEMORY_JOBS; a longer name costs its length about three times: jobs, names, wake)"

for log in "$tmp"/overdue-*.log; do
    if grep -q '"level":"ERROR"' "$log"; then
        echo "overdue logged errors during the run ($log):" >&2
        grep '"level":"ERROR"' "$log" | head -5 >&2
    fi
done
