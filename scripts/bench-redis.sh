#!/usr/bin/env bash
# Redis store benchmark, in one run:
#  1. GET /ping through one replica on redis:// against the SQLite default: A B A B …
#     with wrk over the same pre-registered names, per-round ratio redis/sqlite and
#     its median;
#  2. Redis memory per job and per event: MEMORY_JOBS jobs registered through HTTP into
#     a Redis of their own and pinged until each has MEMORY_EVENTS events, INFO
#     used_memory before and after, and MEMORY USAGE of each key kind.
#
#   bash scripts/bench-redis.sh
#   ROUNDS=5 DURATION=15s MEMORY_JOBS=100000 bash scripts/bench-redis.sh
#
# Environment: ROUNDS (3), DURATION (8s), CONNECTIONS (32), THREADS (1), JOBS (10000),
# MEMORY_JOBS (100000), MEMORY_EVENTS (10). Both run with the default --history (100).
# The ping benchmark's Redis runs as the manual advises
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
MEMORY_EVENTS=${MEMORY_EVENTS:-10}
for var in ROUNDS CONNECTIONS THREADS JOBS MEMORY_JOBS MEMORY_EVENTS; do positive_int "$var"; done

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
registered=$(used_memory)
# A job's first ping records two events (created, ping); plain pings add one each.
for i in $(seq 1 "$MEMORY_JOBS"); do
    echo "url = \"$url/ping?name=job-$i\""
done >"$tmp/plain.cfg"
for _ in $(seq 3 "$MEMORY_EVENTS"); do
    curl -sS --parallel --parallel-max 16 -K "$tmp/plain.cfg" >/dev/null
done
after=$(used_memory)
usage() {
    redis-cli -p "$memory_port" memory usage "$1" samples 0
}
jobs=$(usage '{overdue}:jobs')
names=$(usage '{overdue}:names')
wake=$(usage '{overdue}:wake')
keys=$(redis-cli -p "$memory_port" dbsize)
# Every hundredth job's event list, each holding MEMORY_EVENTS events.
events=0
sampled=0
for i in $(seq 1 100 "$MEMORY_JOBS"); do
    events=$((events + $(usage "{overdue}:ev:job-$i")))
    sampled=$((sampled + 1))
done
seqs=$(curl -sS "$url/ping/job-1/events?limit=1" | sed -n 's/.*"seq":\([0-9]*\).*/\1/p')
if [ "$seqs" != "$MEMORY_EVENTS" ]; then
    echo "job-1 has ${seqs:-no} events instead of $MEMORY_EVENTS" >&2
    exit 1
fi
awk -v b="$before" -v r="$registered" -v a="$after" -v n="$MEMORY_JOBS" -v k="$keys" -v e="$MEMORY_EVENTS" 'BEGIN {
    printf "  used_memory %.1f MiB -> %.1f MiB registered -> %.1f MiB with %d events each (%d keys)\n",
        b / 1048576, r / 1048576, a / 1048576, e, k
    printf "  used_memory per job with its %d events: %.0f bytes; per event beyond the first two: %.0f bytes\n",
        e, (a - b) / n, (a - r) / (n * (e - 2)) }'
awk -v t="$events" -v s="$sampled" -v e="$MEMORY_EVENTS" 'BEGIN {
    printf "  MEMORY USAGE of a job'"'"'s event list (%d sampled): %.0f bytes, %.0f bytes per event\n",
        s, t / s, t / s / e }'
awk -v h="$jobs" -v s="$names" -v w="$wake" -v n="$MEMORY_JOBS" 'BEGIN {
    printf "  MEMORY USAGE per job: jobs %.0f, names %.0f and wake %.0f bytes\n",
        h / n, s / n, w / n }'
echo "  (job names are job-1 … job-$MEMORY_JOBS; a longer name costs its length about four times: jobs, names, wake, its event list's key)"

log_summary "$tmp"/overdue-*.log
