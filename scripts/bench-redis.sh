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
# MEMORY_JOBS (100000). The ping benchmark's Redis runs as the manual advises
# (appendonly yes, appendfsync everysec); SQLite runs with --sync normal (default).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$0")/lib/common.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
JOBS=${JOBS:-10000}
MEMORY_JOBS=${MEMORY_JOBS:-100000}
for var in ROUNDS CONNECTIONS THREADS JOBS MEMORY_JOBS; do positive_int "$var"; done

need_tools curl wrk awk sed redis-server redis-cli
build_release

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

redis_port=$(free_port 6390)
mkdir -p "$tmp/redis-aof"
start_redis "$redis_port" --appendonly yes --appendfsync everysec --dir "$tmp/redis-aof"

start_overdue overdue-sqlite "$(free_port 4190)" --store "sqlite://$tmp/bench.db"
sqlite_url=$url
start_overdue overdue-redis "$(free_port 4191)" --store "redis://127.0.0.1:$redis_port/0"
replica_url=$url

echo "== registering $JOBS jobs on each"
register "$sqlite_url"
register "$replica_url"

compare_rounds redis "$replica_url" sqlite "$sqlite_url" ba

echo "== memory per job: $MEMORY_JOBS jobs in a Redis of their own"
memory_port=$(free_port 6391)
start_redis "$memory_port" --appendonly no
start_overdue overdue-memory "$(free_port 4192)" --store "redis://127.0.0.1:$memory_port/0" \
    --max-services "$MEMORY_JOBS"
used_memory() {
    redis-cli -p "$memory_port" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'
}
before=$(used_memory)
JOBS=$MEMORY_JOBS register "$url"
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

log_summary "$tmp"/overdue-*.log
