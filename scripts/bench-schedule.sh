#!/usr/bin/env bash
# Load benchmark of SPEC §11: GET /ping of a schedule job against GET /ping of a
# frequency job, on one overdue (SQLite store, the default), driven by wrk over loopback.
#
#   bash scripts/bench-schedule.sh            # 3 rounds, the order alternating
#   ROUNDS=5 DURATION=15s bash scripts/bench-schedule.sh
#
# Environment: ROUNDS (3), DURATION (8s), CONNECTIONS (32), THREADS (1), JOBS (10000),
# SCHEDULE (0 3 * * 1-5), TZ_NAME (Europe/Berlin). The server holds $JOBS jobs of each
# kind; every ping sends its frequency or its schedule and zone, as a job's own ping
# does, so the schedule's parse and next-fire computation are measured. Prints each
# run, the medians and the schedule/frequency ratio (goal: at least 0.9).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$0")/lib/common.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
JOBS=${JOBS:-10000}
SCHEDULE=${SCHEDULE:-0 3 * * 1-5}
TZ_NAME=${TZ_NAME:-Europe/Berlin}
for var in ROUNDS CONNECTIONS THREADS JOBS; do positive_int "$var"; done

need_tools curl wrk awk sed
build_release --bins

start_overdue overdue "$(free_port 4182)" --store "sqlite://$tmp/bench.db"

frequency_query="frequency=1h"
schedule_query="schedule=${SCHEDULE// /%20}&tz=${TZ_NAME//\//%2F}"

echo "== registering $JOBS frequency jobs and $JOBS schedule jobs"
PING_PREFIX=job- PING_QUERY=$frequency_query register "$url"
PING_PREFIX=cron- PING_QUERY=$schedule_query register "$url" $((JOBS * 2))

rps_f=() rps_s=() ratios=()
echo "== $ROUNDS rounds of wrk -t$THREADS -c$CONNECTIONS -d$DURATION, frequency first in odd rounds"
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round"
    # Alternating the order cancels a host that gets busier or quieter during a round.
    if [ $((round % 2)) -eq 1 ]; then
        f=$(PING_PREFIX=job- PING_QUERY=$frequency_query run_wrk "$url"); report frequency "$f"
        s=$(PING_PREFIX=cron- PING_QUERY=$schedule_query run_wrk "$url"); report schedule "$s"
    else
        s=$(PING_PREFIX=cron- PING_QUERY=$schedule_query run_wrk "$url"); report schedule "$s"
        f=$(PING_PREFIX=job- PING_QUERY=$frequency_query run_wrk "$url"); report frequency "$f"
    fi
    rps_f+=("${f%% *}")
    rps_s+=("${s%% *}")
    ratios+=("$(awk -v a="${s%% *}" -v b="${f%% *}" 'BEGIN { printf "%.3f", a / b }')")
done
echo "== medians over $ROUNDS rounds"
printf '  %-9s %10.0f req/s\n' frequency "$(printf '%s\n' "${rps_f[@]}" | median)"
printf '  %-9s %10.0f req/s\n' schedule "$(printf '%s\n' "${rps_s[@]}" | median)"
printf '  ratio schedule/frequency (median of per-round ratios): %.3f   (rounds: %s)\n' \
    "$(printf '%s\n' "${ratios[@]}" | median)" "${ratios[*]}"
log_summary "$tmp/overdue.log"
