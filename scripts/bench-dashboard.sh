#!/usr/bin/env bash
# Dashboard figures (issue 20): the jobs page with 100,000 jobs, its weight, its time
# in headless Chromium, and GET /ping throughput with a dashboard open.
#
#   bash scripts/bench-dashboard.sh
#   JOBS=10000 ROUNDS=5 bash scripts/bench-dashboard.sh
#
# Environment: JOBS (100000), REQUESTS (21, or SAMPLES: timed requests per view), LOADS (9: page
# loads in Chromium), ROUNDS (3), DURATION (8s), CONNECTIONS (32), THREADS (1).
#
# Steps, on one release overdue (SQLite store, --timing-header) with JOBS jobs:
#  1. server time of the first jobs page: REQUESTS requests of GET / after one warm-up;
#     the median of the server's own Server-Timing (app;dur) and of curl's
#     time_starttransfer (which adds loopback and HTTP parsing); then the median and
#     largest server time and the size of the other views (the fragment the page's
#     script refreshes, a search, a status filter, two sorts, the last page);
#  2. page weight: the HTML of GET / and every CSS, JS and icon it links under
#     /ui/assets/, uncompressed; each asset's Cache-Control, and its Content-Encoding
#     when gzip is accepted;
#  3. page complete in headless Chromium: tests/browser/timing.rs, driven through the
#     DevTools protocol, times LOADS loads of / in fresh tabs from the navigation
#     command to the load event with no request of the page pending (the first load,
#     with a cold cache, is reported apart); it needs the debug test build, which it
#     builds when missing (the release build is for overdue only);
#  4. GET /ping throughput (bench.sh's wrk driver, cycling over the JOBS names) with and
#     without a headless Chromium showing the jobs page (it refreshes every 5 s), in
#     ROUNDS rounds alternating which goes first; the median of the per-round ratios
#     with/without, and how many jobs-page requests the browser made meanwhile.
# Everything is cleaned up on exit. Quote the load average with the figures.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$0")/lib/common.sh"

JOBS=${JOBS:-100000}
REQUESTS=${REQUESTS:-${SAMPLES:-21}}
LOADS=${LOADS:-9}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
for var in JOBS REQUESTS LOADS ROUNDS CONNECTIONS THREADS; do positive_int "$var"; done
CHROMIUM=${OVERDUE_CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "$script_name needs Chromium at $CHROMIUM (apt-get install chromium)" >&2; exit 1; }

need_tools curl wrk awk sed gzip
echo "== load average before: $(loadavg)"
build_release
echo "== building the browser tests (debug)"
cargo test --test browser --no-run 2>&1 | tail -n 1

start_overdue overdue "$(free_port 4190)" --store "sqlite://$tmp/bench.db" \
    --max-services "$((JOBS * 2))" --timing-header true
echo "== registering $JOBS jobs"
register_start=$(now_ms)
register "$url"
echo "  in $(( ($(now_ms) - register_start) / 1000 )) s"

echo "== 1. server time of GET / (the first jobs page of $JOBS), $REQUESTS requests after a warm-up"
curl -fsS -o /dev/null "$url/"
: >"$tmp/server.txt"
for _ in $(seq 1 "$REQUESTS"); do
    curl -fsS -o /dev/null -D "$tmp/head.txt" -w '%{time_starttransfer}\n' "$url/" >"$tmp/ttfb.txt"
    app=$(sed -n 's/^[Ss]erver-[Tt]iming: *app;dur=\([0-9.]*\).*/\1/p' "$tmp/head.txt" | tr -d '\r')
    echo "${app:-nan} $(cat "$tmp/ttfb.txt")" >>"$tmp/server.txt"
done
server_ms=$(awk '{ print $1 }' "$tmp/server.txt" | median)
ttfb_ms=$(awk '{ print $2 * 1000 }' "$tmp/server.txt" | median)
printf '  median Server-Timing app: %.2f ms   median curl time_starttransfer: %.2f ms\n' \
    "$server_ms" "$ttfb_ms"
awk '{ printf "%s ", $1 } END { print "" }' "$tmp/server.txt" | sed 's/^/  every app;dur (ms): /'
# Server time of GET $1 (extra curl arguments follow), one per line, $REQUESTS times.
server_times() {
    local path=$1 i
    shift
    for i in $(seq 1 "$REQUESTS"); do
        curl -sS -o /dev/null -D - "$@" "$url$path" |
            sed -n 's/^[Ss]erver-[Tt]iming: app;dur=\([0-9.]*\).*/\1/p'
    done
}
last_page=$(( (JOBS + 99) / 100 ))
for view in "/?q=job-9999" "/?status=down" "/?sort=deadline" "/?sort=last_ping" "/?page=$last_page"; do
    times=$(server_times "$view")
    size=$(curl -sS "$url$view" | wc -c)
    printf '  %-22s median %7.2f ms   max %7.2f ms   %7d bytes\n' "$view" \
        "$(median <<<"$times")" "$(sort -g <<<"$times" | tail -n 1)" "$size"
done
times=$(server_times "/" -H "X-Overdue-Fragment: jobs")
printf '  %-22s median %7.2f ms   max %7.2f ms\n' "/ (fragment)" \
    "$(median <<<"$times")" "$(sort -g <<<"$times" | tail -n 1)"

echo "== 2. page weight of GET / (uncompressed) and its assets"
html_bytes=$(curl -fsS "$url/" | tee "$tmp/page.html" | wc -c)
printf '  %-50s %8d bytes\n' "/ (HTML)" "$html_bytes"
total=$html_bytes
for asset in $(grep -oE '(href|src)="/ui/assets/[^"]+"' "$tmp/page.html" | sed -E 's/^(href|src)="//; s/"$//' | sort -u); do
    bytes=$(curl -fsS "$url$asset" | wc -c)
    total=$((total + bytes))
    curl -fsS -o /dev/null -D "$tmp/asset-head.txt" -H 'Accept-Encoding: gzip' "$url$asset"
    cache=$(sed -n 's/^[Cc]ache-[Cc]ontrol: *//p' "$tmp/asset-head.txt" | tr -d '\r')
    encoding=$(sed -n 's/^[Cc]ontent-[Ee]ncoding: *//p' "$tmp/asset-head.txt" | tr -d '\r')
    printf '  %-50s %8d bytes   Cache-Control: %s   with gzip accepted: %s\n' \
        "$asset" "$bytes" "${cache:-NONE}" "${encoding:-not compressed}"
done
printf '  total HTML + assets: %d bytes (%.1f KB)\n' "$total" "$(awk -v t="$total" 'BEGIN { print t / 1024 }')"

echo "== 3. page complete in headless Chromium, $LOADS loads"
OVERDUE_BENCH_URL=$url OVERDUE_BENCH_RUNS=$LOADS \
    cargo test --test browser timing -- --ignored --nocapture >"$tmp/timing.txt" 2>&1 ||
    echo "  the browser measurement failed:"
grep -E -A2 'jobs page complete|browser:|panicked' "$tmp/timing.txt" | sed 's/^/  /'

echo "== 4. GET /ping with and without a dashboard open, $ROUNDS rounds of wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
page_requests() {
    curl -fsS "$url/metrics" | awk '/^overdue_http_requests_total/ && /route="\/"/ { n += $NF } END { print n + 0 }'
}
browser_pid=
open_browser() {
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --disable-dev-shm-usage \
        --user-data-dir="$tmp/chromium" "$url/" >/dev/null 2>&1 &
    browser_pid=$!
    pids+=("$browser_pid")
    sleep 3
}
close_browser() {
    kill -TERM "$browser_pid" 2>/dev/null || true
    wait "$browser_pid" 2>/dev/null || true
    rm -rf "$tmp/chromium"
}
ratios=()
with=()
without=()
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round"
    if [ $((round % 2)) -eq 1 ]; then order="without with"; else order="with without"; fi
    for run in $order; do
        if [ "$run" = with ]; then
            open_browser
            before=$(page_requests)
            r=$(run_wrk "$url")
            after=$(page_requests)
            close_browser
            report with "$r"
            echo "    (the open page made $((after - before)) requests of GET / meanwhile)"
            with+=("${r%% *}")
        else
            r=$(run_wrk "$url")
            report without "$r"
            without+=("${r%% *}")
        fi
    done
    ratios+=("$(awk -v a="${with[-1]}" -v b="${without[-1]}" 'BEGIN { printf "%.3f", a / b }')")
done
echo "== medians over $ROUNDS rounds"
printf '  with      %10.0f req/s\n' "$(printf '%s\n' "${with[@]}" | median)"
printf '  without   %10.0f req/s\n' "$(printf '%s\n' "${without[@]}" | median)"
printf '  ratio with/without (median of per-round ratios): %.3f   (rounds: %s)\n' \
    "$(printf '%s\n' "${ratios[@]}" | median)" "${ratios[*]}"
echo "== load average after: $(loadavg)"
log_summary "$tmp/overdue.log"
