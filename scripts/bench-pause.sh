#!/usr/bin/env bash
# Pause-window benchmark (SPEC §12, issue 18): JOBS jobs paused with a window that
# ends in the same second must all be resumed within 2 × --sweep-interval of it.
#
#   bash scripts/bench-pause.sh                    # 100,000 jobs on SQLite
#   STORE=redis bash scripts/bench-pause.sh        # the same on a fresh redis-server
#   JOBS=10000 SWEEP=500ms bash scripts/bench-pause.sh
#
# Environment: JOBS (100000), STORE (sqlite or redis), SWEEP (--sweep-interval, 1s),
# LEAD (seconds from the end of registration to the window's end; default
# 30 + JOBS/1000, enough for the pauses to be sent first).
#
# Steps: overdue (release) on a fresh store with --realert-every 0 and a webhook
# receiver; registers job-1 … job-JOBS (frequency=1h); pauses each with
# `until=T`, one kept-alive curl; checks that every job is listed as paused before T;
# then polls the paused count of `GET /metrics` every 20 ms from T and prints how long
# after T the last job was resumed, against 2 × SWEEP. Also prints whether any alert
# reached the webhook (none may: a resume raises nothing). The sweeper finds the
# window ends in its wake-up heap; no sweep reads every job.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$0")/lib/common.sh"

JOBS=${JOBS:-100000}
positive_int JOBS
STORE=${STORE:-sqlite}
SWEEP=${SWEEP:-1s}
LEAD=${LEAD:-$((30 + JOBS / 1000))}
positive_int LEAD
case "$SWEEP" in
    *ms) sweep_ms=${SWEEP%ms} ;;
    *s) sweep_ms=$((${SWEEP%s} * 1000)) ;;
    *) echo "$script_name: SWEEP must be <n>s or <n>ms, not '$SWEEP'" >&2; exit 2 ;;
esac

need_tools curl awk sed python3
build_release

case "$STORE" in
    sqlite) store_url="sqlite://$tmp/bench.db" ;;
    redis)
        need_tools redis-server redis-cli
        redis_port=$(free_port 6391)
        redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
            >"$tmp/redis.log" 2>&1 &
        pids+=("$!")
        for _ in $(seq 1 100); do
            redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
            sleep 0.1
        done
        store_url="redis://127.0.0.1:$redis_port/0"
        ;;
    *) echo "$script_name: STORE must be sqlite or redis, not '$STORE'" >&2; exit 2 ;;
esac

hook_port=$(free_port 4299)
python3 scripts/webhook_receiver.py "$hook_port" "$tmp/alerts.txt" >"$tmp/hook.log" 2>&1 &
pids+=("$!")

start_overdue overdue "$(free_port 4199)" --store "$store_url" --sweep-interval "$SWEEP" \
    --realert-every 0 --max-services "$((JOBS + 10))" \
    --alert-uri "http://127.0.0.1:$hook_port/"
echo "== $JOBS jobs on $STORE, --sweep-interval $SWEEP, load average $(loadavg)"

started=$(now_ms)
register "$url"
echo "registered in $(($(now_ms) - started)) ms"

window_end=$(($(date +%s) + LEAD))
{
    echo 'request = "POST"'
    for i in $(seq 1 "$JOBS"); do
        echo "url = \"$url/ping/job-$i/pause?until=$window_end\""
    done
} >"$tmp/pause.cfg"
started=$(now_ms)
curl -sS -K "$tmp/pause.cfg" >/dev/null
echo "paused in $(($(now_ms) - started)) ms, window ends at $window_end"
paused=$(total_of "$url" "?status=paused&limit=1")
[ "$paused" = "$JOBS" ] || die "expected $JOBS paused jobs, $url lists ${paused:-none}"
[ "$(date +%s)" -lt "$window_end" ] || die "the pauses took longer than LEAD ($LEAD s): raise LEAD"

# Jobs paused, from the status counts of /metrics: a listing filtered by status would
# walk every name once few paused jobs are left, and load the process it measures.
paused_now() {
    curl -fsS --max-time 5 "$url/metrics" 2>/dev/null |
        sed -n 's/^overdue_services{status="paused"} \([0-9]*\)$/\1/p'
}
[ "$(paused_now)" = "$JOBS" ] || die "/metrics does not count $JOBS paused jobs"

while [ "$(now_ms)" -lt $((window_end * 1000)) ]; do sleep 0.01; done
last=
while :; do
    left=$(paused_now)
    now=$(now_ms)
    if [ "$left" = 0 ]; then break; fi
    last=$left
    [ $((now - window_end * 1000)) -lt 60000 ] || die "still $last paused a minute after the window's end"
    sleep 0.02
done
elapsed=$((now - window_end * 1000))
up=$(total_of "$url" "?status=up&limit=1")
alerts=$(grep -c . "$tmp/alerts.txt" 2>/dev/null || true)
echo "== all $JOBS resumed ${elapsed} ms after the window's end (2 × --sweep-interval = $((2 * sweep_ms)) ms): $([ "$elapsed" -le $((2 * sweep_ms)) ] && echo within || echo OVER)"
echo "   jobs up: ${up:-?}; alerts at the webhook: ${alerts:-0} (a resume raises no alert); load average $(loadavg)"
log_summary "$tmp/overdue.log"
