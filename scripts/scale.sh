#!/usr/bin/env bash
# Scale benchmark: one million jobs in one overdue process on its default SQLite store.
#
#   bash scripts/scale.sh                  # 1,000,000 jobs, 1,000 of them falling due
#   JOBS=10000 DUE=100 bash scripts/scale.sh
#
# Environment: JOBS (1000000), DUE (1000), THREADS (2), CONNECTIONS (64),
# LEAD (seconds from now to the first due deadline; default 3 + DUE/1000),
# SPREAD (5: the due deadlines are spread over this many whole seconds),
# IDLE_SECONDS (10), REGISTER_TIMEOUT (seconds; default 120 + JOBS/1000),
# ALERT_TIMEOUT (60: seconds past the last deadline to wait for the alerts),
# READY_TIMEOUT (60: seconds a restart may take before the script gives up).
#
# Steps:
#  1. overdue on a fresh SQLite store in a temporary directory, with
#     --realert-every 0 and --alert-uri pointing at scripts/webhook_receiver.py;
#  2. registers JOBS jobs job-1 … job-JOBS (frequency=1h) with wrk: every wrk thread
#     sends its own range of names once, then only GET /livez until the script sees
#     GET /pings?limit=1 report total == JOBS; prints the registration rate;
#  3. prints VmRSS, then the idle CPU over IDLE_SECONDS (utime+stime from
#     /proc/<pid>/stat, as % of one core);
#  4. pings DUE new jobs due-1 … due-DUE with timestamp=<a whole second> and a
#     frequency chosen so that their deadlines fall on known whole seconds spread over
#     SPREAD seconds, waits for all DUE `down` alerts at the webhook, and prints
#     p50/p99/max of deadline → arrival at the webhook (arrival ms − expected_by_unix ×
#     1000); deadline → queued is not observable from outside;
#  5. SIGTERM (times the shutdown), restarts on the same store, times start → first
#     GET /readyz 200, checks the jobs are all there and no alert is re-sent, prints
#     VmRSS.
# Everything (processes, temporary directory) is cleaned up on exit.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$0")/lib/common.sh"

JOBS=${JOBS:-1000000}
DUE=${DUE:-1000}
positive_int JOBS
positive_int DUE
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
LEAD=${LEAD:-$((3 + DUE / 1000))}
SPREAD=${SPREAD:-5}
IDLE_SECONDS=${IDLE_SECONDS:-10}
REGISTER_TIMEOUT=${REGISTER_TIMEOUT:-$((120 + JOBS / 1000))}
ALERT_TIMEOUT=${ALERT_TIMEOUT:-60}
READY_TIMEOUT=${READY_TIMEOUT:-60}
for var in THREADS CONNECTIONS LEAD SPREAD IDLE_SECONDS REGISTER_TIMEOUT ALERT_TIMEOUT \
    READY_TIMEOUT; do
    positive_int "$var"
done
if [ "$CONNECTIONS" -lt "$THREADS" ]; then
    echo "$script_name: CONNECTIONS ($CONNECTIONS) must be at least THREADS ($THREADS)" >&2
    exit 2
fi
MAX_SERVICES=$((JOBS + DUE > 2000000 ? JOBS + DUE : 2000000))

need_tools curl wrk awk python3 getconf nproc
build_release

# The processes this script restarts are tracked by name; this cleanup replaces
# the shared one (same temp dir).
overdue_pid=
hook_pid=
wrk_pid=
cleanup() {
    local pid
    for pid in "$wrk_pid" "$overdue_pid" "$hook_pid"; do
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "$wrk_pid" "$overdue_pid" "$hook_pid"; do
        [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# VmRSS of $1 in MiB, one decimal.
rss_mib() {
    awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}
# VmHWM (peak resident set) of $1 in MiB, one decimal.
hwm_mib() {
    awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}
# utime + stime of $1 in clock ticks (the fields after the parenthesised command).
cpu_ticks() {
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}

overdue_port=$(free_port 4280)
hook_port=$(free_port 4281)
url="http://127.0.0.1:$overdue_port"
alerts="$tmp/alerts.txt"
: >"$alerts"

# Starts (or restarts) overdue on the same store and port, its log appended to
# $tmp/overdue.log; sets $overdue_pid. The shared start_overdue would not restart it.
launch_overdue() {
    RUST_LOG=warn ./target/release/overdue \
        --store "sqlite://$tmp/scale.db" --listen "127.0.0.1:$overdue_port" --log-format json \
        --max-services "$MAX_SERVICES" --alert-uri "http://127.0.0.1:$hook_port/hook" \
        --realert-every 0 \
        >>"$tmp/overdue.log" 2>&1 &
    overdue_pid=$!
}

# Polls $1 until it answers 200 or $2 seconds pass; the process $3 must stay up.
wait_200() {
    local target=$1 timeout=$2 pid=$3 deadline
    deadline=$(($(now_ms) + timeout * 1000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        if curl -fsS --max-time 2 -o /dev/null "$target" 2>/dev/null; then return 0; fi
        running "$pid" || die "process $pid exited while waiting for $target"
        sleep 0.02
    done
    die "$target did not answer 200 within ${timeout}s"
}

echo "== load average before the run: $(loadavg) ($(nproc) cores)"
echo "== 1. starting the webhook receiver and overdue (SQLite store in $tmp)"
python3 scripts/webhook_receiver.py "$hook_port" "$alerts" >"$tmp/hook.log" 2>&1 &
hook_pid=$!
wait_200 "http://127.0.0.1:$hook_port/" 10 "$hook_pid"
launch_overdue
wait_200 "$url/readyz" 30 "$overdue_pid"

echo "== 2. registering $JOBS jobs (wrk -t$THREADS -c$CONNECTIONS, one range of names per thread)"
cat >"$tmp/register.lua" <<EOF
-- Each thread sends /ping?name=job-<n>&frequency=1h once for every n of its own range,
-- then only GET /livez until the script interrupts wrk. wrk calls request() once on
-- thread 0's state before the run to check its result, and never sends that request:
-- thread 0's first request is therefore a GET /livez, so no name is lost.
local jobs, nthreads, created = $JOBS, $THREADS, 0
setup = function(thread)
    thread:set("id", created)
    created = created + 1
end
init = function(args)
    local per = math.ceil(jobs / nthreads)
    nextn = id * per + 1
    last = math.min(jobs, (id + 1) * per)
    probe = id == 0
end
request = function()
    if probe then
        probe = false
    elseif nextn <= last then
        local n = nextn
        nextn = nextn + 1
        return wrk.format("GET", "/ping?name=job-" .. n .. "&frequency=1h")
    end
    return wrk.format("GET", "/livez")
end
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT requests=%d non2xx=%d socket_errors=%d\n",
        summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
EOF
reg_start=$(now_ms)
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$((REGISTER_TIMEOUT + 60))s" -s "$tmp/register.lua" "$url" \
    >"$tmp/wrk.txt" 2>&1 &
wrk_pid=$!
reg_deadline=$((reg_start + REGISTER_TIMEOUT * 1000))
last_total=-1
last_change=$reg_start
while :; do
    total=$(total_of "$url" "?limit=1")
    now=$(now_ms)
    if [ "${total:-x}" = "$JOBS" ]; then break; fi
    running "$overdue_pid" || die "overdue exited during registration"
    running "$wrk_pid" || die "wrk exited early: $(cat "$tmp/wrk.txt")"
    if [ "${total:--1}" != "$last_total" ]; then
        last_total=${total:--1}
        last_change=$now
    elif [ $((now - last_change)) -gt 30000 ]; then
        kill -INT "$wrk_pid" 2>/dev/null || true
        wait "$wrk_pid" 2>/dev/null || true
        wrk_pid=
        die "registration stalled at ${total:-?} of $JOBS jobs for 30 s; wrk: $(grep RESULT "$tmp/wrk.txt" || true)"
    fi
    [ "$now" -lt "$reg_deadline" ] || die "only ${total:-?} of $JOBS jobs registered after ${REGISTER_TIMEOUT}s"
    sleep 0.1
done
reg_ms=$((now - reg_start))
# wrk stops on SIGINT, prints its summary and runs done().
kill -INT "$wrk_pid"
wait "$wrk_pid" || true
wrk_pid=
wrk_result=$(grep '^RESULT' "$tmp/wrk.txt" || echo "RESULT (no summary from wrk)")
awk -v n="$JOBS" -v ms="$reg_ms" 'BEGIN {
    printf "  %d jobs in %.1f s: %.0f registrations/s (wall clock, wrk start to total == %d)\n",
        n, ms / 1000, n / (ms / 1000), n }'
echo "  wrk: ${wrk_result#RESULT } (requests include the GET /livez sent after each range)"
case $wrk_result in
    *" non2xx=0 socket_errors=0"*) ;;
    *) echo "  warning: wrk saw non-2xx answers or socket errors" >&2 ;;
esac

echo "== 3. memory and idle CPU with $JOBS jobs"
echo "  VmRSS after registration: $(rss_mib "$overdue_pid") MiB (peak VmHWM $(hwm_mib "$overdue_pid") MiB)"
clk_tck=$(getconf CLK_TCK)
sleep 2 # let the last group commit and WAL checkpoint settle
t0=$(cpu_ticks "$overdue_pid")
ms0=$(now_ms)
sleep "$IDLE_SECONDS"
t1=$(cpu_ticks "$overdue_pid")
ms1=$(now_ms)
awk -v d=$((t1 - t0)) -v hz="$clk_tck" -v ms=$((ms1 - ms0)) 'BEGIN {
    printf "  idle CPU over %.1f s: %d ticks of 1/%d s = %.2f %% of one core\n",
        ms / 1000, d, hz, 100 * d / hz / (ms / 1000) }'

echo "== 4. $DUE jobs falling due over $SPREAD s among $JOBS (deadlines on whole seconds)"
base=$(date +%s)
# due-<i>: timestamp = base, frequency = LEAD + floor((i-1) * SPREAD / DUE) seconds, so
# its deadline is base + that frequency, an exact second.
for i in $(seq 1 "$DUE"); do
    echo "url = \"$url/ping?name=due-$i&timestamp=$base&frequency=$((LEAD + (i - 1) * SPREAD / DUE))s\""
    echo 'output = "/dev/null"'
done >"$tmp/due.cfg"
codes=$(curl -sS -K "$tmp/due.cfg" -w '%{http_code}\n')
bad=$(grep -cv '^200$' <<<"$codes" || true)
[ "$bad" -eq 0 ] || die "$bad of the $DUE due pings were not answered 200: $(sort <<<"$codes" | uniq -c | tr '\n' ' ')"
first_deadline=$((base + LEAD))
last_deadline=$((base + LEAD + (DUE - 1) * SPREAD / DUE))
sent_ms=$(now_ms)
if [ "$sent_ms" -ge $((first_deadline * 1000)) ]; then
    die "the $DUE due pings took until $((sent_ms - first_deadline * 1000)) ms past the first deadline; raise LEAD"
fi
total=$(total_of "$url" "?limit=1")
[ "${total:-x}" = $((JOBS + DUE)) ] || die "expected $((JOBS + DUE)) jobs, overdue lists ${total:-none}"
echo "  pinged in $((sent_ms - base * 1000)) ms after second $base; deadlines from $first_deadline to $last_deadline"
alert_deadline=$(((last_deadline + ALERT_TIMEOUT) * 1000))
while :; do
    got=$(grep -c ' down ' "$alerts" || true)
    [ "$got" -ge "$DUE" ] && break
    running "$overdue_pid" || die "overdue exited while waiting for alerts"
    [ "$(now_ms)" -lt "$alert_deadline" ] ||
        die "only $got of $DUE down alerts arrived within ${ALERT_TIMEOUT}s of the last deadline"
    sleep 0.2
done
sleep 1 # anything extra (a duplicate, an unexpected job) would show up now
# The expected deadline of due-<i>, to check expected_by_unix against it.
awk -v base="$base" -v lead="$LEAD" -v spread="$SPREAD" -v due="$DUE" -v out="$tmp/delays.txt" '
    $3 != "down" || $2 !~ /^due-[0-9]+$/ { other++; next }
    {
        i = substr($2, 5) + 0
        want = base + lead + int((i - 1) * spread / due)
        if ($4 != want) wrong++
        if (seen[i]++) dup++
        print $1 - $4 * 1000 >out
    }
    END {
        printf "  down alerts: %d received, %d duplicates, %d with an unexpected expected_by_unix, %d other alerts\n",
            NR - other, dup, wrong, other
    }' "$alerts"
[ -s "$tmp/delays.txt" ] || die "no down alert for a due-<i> job arrived"
sort -n "$tmp/delays.txt" | awk '
    { v[NR] = $1; sum += $1 }
    function pct(p,  k) { k = int(NR * p / 100 + 0.999999); if (k < 1) k = 1; return v[k] }
    END {
        printf "  deadline -> webhook arrival over %d alerts: min %d ms, p50 %d ms, p99 %d ms, max %d ms, mean %.0f ms\n",
            NR, v[1], pct(50), pct(99), v[NR], sum / NR
    }'
echo "  (deadline -> queued is not observable from outside; the arrival includes sweep, commit and delivery)"

echo "== 5. restart on the same store"
alerts_before=$(wc -l <"$alerts")
stop_start=$(now_ms)
kill -TERM "$overdue_pid"
while running "$overdue_pid"; do
    [ $(($(now_ms) - stop_start)) -lt 60000 ] || die "overdue did not exit within 60 s of SIGTERM"
    sleep 0.02
done
stop_ms=$(($(now_ms) - stop_start))
rc=0
wait "$overdue_pid" || rc=$?
overdue_pid=
[ "$rc" -eq 0 ] || die "overdue exited $rc after SIGTERM"
echo "  SIGTERM -> exit 0 in $((stop_ms)) ms; database $(du -m "$tmp/scale.db" | cut -f1) MiB"
restart_start=$(now_ms)
launch_overdue
wait_200 "$url/readyz" "$READY_TIMEOUT" "$overdue_pid"
restart_ms=$(($(now_ms) - restart_start))
echo "  start -> /readyz 200 in $restart_ms ms"
echo "  VmRSS at ready: $(rss_mib "$overdue_pid") MiB"
total=$(total_of "$url" "?limit=1")
down=$(total_of "$url" "?status=down&limit=1")
[ "${total:-x}" = $((JOBS + DUE)) ] || die "after the restart overdue lists ${total:-no} jobs, not $((JOBS + DUE))"
[ "${down:-x}" = "$DUE" ] || die "after the restart ${down:-no} jobs are down, not $DUE"
sleep 3
echo "  after 3 s: VmRSS $(rss_mib "$overdue_pid") MiB (peak VmHWM $(hwm_mib "$overdue_pid") MiB); $total jobs, $down down;" \
    "$(($(wc -l <"$alerts") - alerts_before)) alerts received since the restart (expected 0)"

echo "== load average after the run: $(loadavg)"
log_summary "$tmp/overdue.log"
