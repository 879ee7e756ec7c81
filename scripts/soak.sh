#!/usr/bin/env bash
# Soak test: overdue under steady load for SOAK_SECONDS, with jobs falling due and
# recovering all the time; resources must stay flat and nothing may be lost.
#
#   bash scripts/soak.sh                     # 10 minutes at half the measured peak
#   SOAK_SECONDS=120 bash scripts/soak.sh    # a quick run
#   PEAK=40000 bash scripts/soak.sh          # skip the peak measurement
#
# Environment: SOAK_SECONDS (600), SAMPLE_EVERY (10), PEAK (req/s; measured when
# unset, 10 s of wrk -c32), LOAD (0.5: the share of PEAK to run at), JOBS (1000 steady
# jobs, frequency 1h), FLAPPING (200 jobs with frequency 2s), PERIOD (10: a flapping
# job pings for PERIOD seconds, then is silent for PERIOD seconds, so it goes down and
# comes back up every 2*PERIOD seconds; the jobs are staggered across the period),
# CONNECTIONS (64), THREADS (2), MAX_GROWTH (5, percent).
#
# Steps:
#  1. overdue (release build) on a fresh SQLite store, --realert-every 0, alerts to
#     scripts/webhook_receiver.py; JOBS steady jobs registered;
#  2. the peak: wrk -c32 for 10 s over the steady jobs (unless PEAK is given);
#  3. calibration: 10 s of the soak mix at a per-connection delay computed for
#     LOAD x PEAK, then the delay is corrected by the measured rate (wrk cannot hold
#     a rate itself; wrk2 is not packaged);
#  4. the soak: SOAK_SECONDS of the mix (one request in ten pings a flapping job
#     while it is in its ping phase, the others ping steady jobs); every SAMPLE_EVERY
#     seconds VmRSS, open descriptors (/proc/PID/fd), OS threads and tokio tasks
#     (overdue_tokio_tasks from /metrics), and pings/s from overdue_pings_total;
#  5. checks: zero non-2xx answers and zero socket errors; growth of each resource
#     from the second tenth of the run to its last tenth (medians) under MAX_GROWTH %;
#     then, once the flapping jobs have all gone down after the load stops and the
#     alert backlog is empty, for every flapping job the alerts the webhook received
#     equal the job's alerts_sent, alternate down/up starting and ending with down,
#     and number at least one per expected down phase.
# Exit status 0 when every check passes, 1 otherwise. Everything is cleaned up on exit.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$0")/lib/common.sh"

SOAK_SECONDS=${SOAK_SECONDS:-600}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
LOAD=${LOAD:-0.5}
JOBS=${JOBS:-1000}
FLAPPING=${FLAPPING:-200}
PERIOD=${PERIOD:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
MAX_GROWTH=${MAX_GROWTH:-5}
for var in SOAK_SECONDS SAMPLE_EVERY JOBS FLAPPING PERIOD CONNECTIONS THREADS MAX_GROWTH; do
    positive_int "$var"
done
if [ -n "${PEAK:-}" ]; then positive_int PEAK; fi
DURATION=10s
# sort and join must agree on the order of names.
export LC_ALL=C

need_tools curl wrk awk python3 sort
build_release

hook_port=$(free_port 4381)
alerts="$tmp/alerts.txt"
: >"$alerts"

python3 scripts/webhook_receiver.py "$hook_port" "$alerts" >"$tmp/hook.log" 2>&1 &
pids+=($!)
start_overdue overdue "$(free_port 4380)" --store "sqlite://$tmp/soak.db" \
    --alert-uri "http://127.0.0.1:$hook_port/hook" --realert-every 0
echo "== 1. overdue pid $pid on $url, SQLite store in $tmp; registering $JOBS steady jobs"
register "$url"

if [ -z "${PEAK:-}" ]; then
    echo "== 2. measuring the peak (wrk -t$THREADS -c32 -d10s over the steady jobs)"
    result=$(run_wrk "$url" 32 10s)
    report peak "$result"
    PEAK=$(awk '{ printf "%d", $1 }' <<<"$result")
    [ "$(awk '{ print $4 + $5 }' <<<"$result")" = 0 ] || die "errors while measuring the peak"
else
    echo "== 2. peak given: $PEAK req/s"
fi
TARGET=$(awk -v p="$PEAK" -v l="$LOAD" 'BEGIN { printf "%d", p * l }')

# The mix. delay() spaces each connection's requests; its fractional part is dithered,
# since wrk takes whole milliseconds.
write_mix() {
    local delay_ms=$1
    cat >"$tmp/mix.lua" <<LUA
local steady, flapping, period = $JOBS, $FLAPPING, $PERIOD
local base = math.floor($delay_ms)
local frac = $delay_ms - base
local i = 0
math.randomseed(os.time())
request = function()
    i = i + 1
    if i % 10 == 0 then
        local j = math.floor(i / 10) % flapping
        -- Job j pings during even periods of its own clock, shifted by j seconds.
        if math.floor((os.time() + j % period) / period) % 2 == 0 then
            return wrk.format("GET", "/ping?name=flap-" .. j .. "&frequency=2s")
        end
    end
    return wrk.format("GET", "/ping?name=job-" .. (i % steady + 1) .. "&frequency=1h")
end
delay = function()
    if math.random() < frac then return base + 1 end
    return base
end
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d non2xx=%d socket_errors=%d requests=%d\n",
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(99),
        e.status, e.connect + e.read + e.write + e.timeout, summary.requests))
end
LUA
}
# Runs the mix for $1 seconds; prints "rps p50_us p99_us non2xx socket_errors requests".
run_mix() {
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$1s" --latency --timeout 10s -s "$tmp/mix.lua" "$url" \
        >"$tmp/mix-$1.txt" 2>&1 || die "wrk failed: $(cat "$tmp/mix-$1.txt")"
    awk '/^RESULT/ {
        for (f = 2; f <= NF; f++) { split($f, kv, "="); v[kv[1]] = kv[2] }
        print v["rps"], v["p50_us"], v["p99_us"], v["non2xx"], v["socket_errors"], v["requests"]
    }' "$tmp/mix-$1.txt"
}

echo "== 3. calibrating for $TARGET req/s ($LOAD of $PEAK) with $CONNECTIONS connections"
delay=$(awk -v c="$CONNECTIONS" -v r="$TARGET" 'BEGIN { printf "%.3f", c * 1000 / r }')
write_mix "$delay"
calibration=$(run_mix 10)
report trial "$calibration"
rate=$(awk '{ print $1 }' <<<"$calibration")
# Each request of a connection takes delay + L ms; L is what the trial shows.
delay=$(awk -v c="$CONNECTIONS" -v r="$TARGET" -v got="$rate" -v d="$delay" 'BEGIN {
    l = c * 1000 / got - d; if (l < 0) l = 0
    n = c * 1000 / r - l; if (n < 0) n = 0
    printf "%.3f", n }')
write_mix "$delay"
echo "   per-connection delay ${delay} ms"

# Resources of the process: "rss_kib fds threads tasks pings_total".
sample() {
    local rss threads fds metrics tasks pings
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    threads=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")
    fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    metrics=$(curl -fsS --max-time 5 "$url/metrics" || true)
    tasks=$(awk '/^overdue_tokio_tasks / { print $2 }' <<<"$metrics")
    pings=$(awk '/^overdue_pings_total / { print $2 }' <<<"$metrics")
    echo "$rss $fds $threads ${tasks:-0} ${pings:-0}"
}

echo "== 4. soaking for ${SOAK_SECONDS}s, sampling every ${SAMPLE_EVERY}s"
run_mix "$SOAK_SECONDS" >"$tmp/soak-result.txt" &
mix_pid=$!
pids+=("$mix_pid")
start=$(date +%s)
: >"$tmp/samples.txt"
printf '   %6s %9s %6s %8s %7s %9s\n' t_s rss_MiB fds threads tasks pings/s
last_pings=
last_t=
while kill -0 "$mix_pid" 2>/dev/null; do
    sleep "$SAMPLE_EVERY"
    kill -0 "$mix_pid" 2>/dev/null || break
    kill -0 "$pid" 2>/dev/null || die "overdue exited during the soak"
    t=$(($(date +%s) - start))
    read -r rss fds threads tasks pings < <(sample)
    rate="-"
    if [ -n "$last_pings" ]; then
        rate=$(awk -v a="$last_pings" -v b="$pings" -v dt=$((t - last_t)) 'BEGIN { printf "%.0f", (b - a) / dt }')
    fi
    last_pings=$pings
    last_t=$t
    echo "$t $rss $fds $threads $tasks" >>"$tmp/samples.txt"
    printf '   %6d %9.1f %6d %8d %7d %9s\n' "$t" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" \
        "$fds" "$threads" "$tasks" "$rate"
done
wait "$mix_pid" || true
soak=$(cat "$tmp/soak-result.txt")
[ -n "$soak" ] || die "wrk printed no result"
report soak "$soak"

failed=0
check() {
    if [ "$1" = ok ]; then echo "   ok    $2"; else echo "   FAIL  $2"; failed=1; fi
}
echo "== 5. checks"
read -r _ _ _ non2xx socket_errors requests <<<"$soak"
read -r _ _ _ cal_non2xx cal_errors _ <<<"$calibration"
[ "$((non2xx + cal_non2xx))" = 0 ] && r=ok || r=fail
check "$r" "non-2xx answers: $((non2xx + cal_non2xx)) of $requests soak requests (and the trial)"
[ "$((socket_errors + cal_errors))" = 0 ] && r=ok || r=fail
check "$r" "socket errors: $((socket_errors + cal_errors))"

# Growth from the second tenth of the run to its last tenth, medians of each.
window=$((SOAK_SECONDS / 10 > SAMPLE_EVERY ? SOAK_SECONDS / 10 : SAMPLE_EVERY))
growth=$(awk -v w="$window" -v total="$SOAK_SECONDS" '
    function median(a, n,    i, j, t) {
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { t[NR] = $1; for (c = 2; c <= 5; c++) v[c, NR] = $c; n = NR }
    END {
        last = t[n]
        for (c = 2; c <= 5; c++) {
            nb = 0; ne = 0
            for (i = 1; i <= n; i++) {
                if (t[i] >= w && t[i] <= 2 * w) b[++nb] = v[c, i]
                if (t[i] > last - w) e[++ne] = v[c, i]
            }
            if (nb == 0 || ne == 0) { printf "nan nan nan "; continue }
            mb = median(b, nb); me = median(e, ne)
            printf "%s %s %.2f ", mb, me, (mb > 0 ? (me - mb) * 100 / mb : 0)
            delete b; delete e
        }
    }' "$tmp/samples.txt")
read -r rb re rg fb fe fg tb te tg kb ke kg <<<"$growth"
for metric in "RSS KiB:$rb:$re:$rg" "open fds:$fb:$fe:$fg" "threads:$tb:$te:$tg" "tokio tasks:$kb:$ke:$kg"; do
    IFS=: read -r name from to pct <<<"$metric"
    ok=$(awk -v p="$pct" -v m="$MAX_GROWTH" 'BEGIN { print (p ~ /^-?[0-9.]+$/ && p + 0 < m + 0) ? "ok" : "fail" }')
    check "$ok" "$name: $from -> $to (${pct} %, limit ${MAX_GROWTH} %)"
done

echo "   waiting for every flapping job to go down and the alert backlog to drain"
deadline=$(($(date +%s) + 60))
while :; do
    down=$(curl -fsS "$url/pings?status=down&limit=1" | sed -n 's/.*"total":\([0-9]*\).*/\1/p')
    backlog=$(curl -fsS "$url/metrics" | awk '/^overdue_alert_backlog / { print $2 }')
    [ "${down:-0}" = "$FLAPPING" ] && [ "${backlog:-1}" = 0 ] && break
    [ "$(date +%s)" -lt "$deadline" ] || die "after 60 s: $down of $FLAPPING down, backlog $backlog"
    sleep 1
done
sleep 1
# The API's alerts_sent per flapping job.
curl -fsS "$url/pings?status=down&limit=10000" | python3 -c '
import json, sys
for job in json.load(sys.stdin)["services"]:
    if job["name"].startswith("flap-"):
        print(job["name"], job["alerts_sent"])
' | sort >"$tmp/sent.txt"
# What the webhook received, per job: count, the event sequence, the number of downs.
awk '$2 ~ /^flap-/ { n[$2]++; seq[$2] = seq[$2] substr($3, 1, 1); if ($3 == "down") d[$2]++ }
    END { for (j in n) print j, n[j], seq[j], d[j] }' "$alerts" | sort >"$tmp/received.txt"
min_downs=$((SOAK_SECONDS / (2 * PERIOD) - 1))
verdict=$(join -a1 -e missing -o 1.1,1.2,2.2,2.3,2.4 "$tmp/sent.txt" "$tmp/received.txt" | awk -v min="$min_downs" '
    { jobs++ ; total += $3; downs += $5 }
    $2 != $3 { bad++; if (bad <= 5) print "   mismatch:", $1, "alerts_sent", $2, "received", $3 > "/dev/stderr"; next }
    $4 !~ /^d(ud)*$/ { bad++; if (bad <= 5) print "   out of order:", $1, $4 > "/dev/stderr"; next }
    $5 < min { bad++; if (bad <= 5) print "   too few downs:", $1, $5, "expected at least", min > "/dev/stderr"; next }
    END { printf "%d %d %d %d\n", jobs, bad, total, downs }')
read -r jobs_seen bad total_alerts total_downs <<<"$verdict"
[ "$jobs_seen" = "$FLAPPING" ] && [ "$bad" = 0 ] && r=ok || r=fail
check "$r" "every flapping job alerted: $jobs_seen of $FLAPPING jobs, $total_downs downs and $((total_alerts - total_downs)) ups received = alerts_sent, alternating, at least $min_downs downs each"
errors=$(grep -c '"level":"ERROR"' "$tmp/overdue.log" || true)
[ "$errors" = 0 ] && r=ok || r=fail
check "$r" "ERROR lines in the overdue log: $errors"
echo "== load average after the run: $(loadavg)"
exit "$failed"
