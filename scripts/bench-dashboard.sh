#!/usr/bin/env bash
# Dashboard benchmark: the jobs page over many jobs, in server time.
#
#   bash scripts/bench-dashboard.sh                 # 100,000 jobs
#   JOBS=10000 SAMPLES=11 bash scripts/bench-dashboard.sh
#
# Environment: JOBS (100000), SAMPLES (21 requests per view).
#
# Steps:
#  1. overdue (release) on a fresh SQLite store in a temporary directory, with
#     --timing-header so that every answer carries Server-Timing: app;dur=<ms>;
#  2. registers JOBS jobs job-1 … job-JOBS (frequency=1h), one curl, one connection;
#  3. for each view (the first page, the fragment the script refreshes, a search, a
#     status filter, a sort by deadline, the last page), SAMPLES requests one after the
#     other; prints the median and the largest server time, and the page's size;
#  4. prints the weight of the jobs page: its HTML plus the CSS and the script, plain
#     and gzip.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$0")/lib/common.sh"

JOBS=${JOBS:-100000}
SAMPLES=${SAMPLES:-21}
positive_int JOBS
positive_int SAMPLES
need_tools curl awk python3

build_release
port=$(free_port 4410)
echo "== 1. overdue on a fresh SQLite store (--timing-header)"
start_overdue overdue "$port" --store "sqlite://$tmp/overdue.db" --timing-header
echo "== 2. registering $JOBS jobs"
started=$(now_ms)
register "$url"
echo "  $JOBS jobs in $(( ($(now_ms) - started) / 1000 )) s"

# Server time of GET $1 (extra curl arguments follow), one per line, $SAMPLES times.
server_times() {
    local path=$1 i
    shift
    for i in $(seq 1 "$SAMPLES"); do
        curl -sS -o /dev/null -D - "$@" "$url$path" |
            sed -n 's/^[Ss]erver-[Tt]iming: app;dur=\([0-9.]*\).*/\1/p'
    done
}

echo "== 3. server time of each view, $SAMPLES requests each (median, max) and size"
last_page=$(( (JOBS + 99) / 100 ))
for view in "/" "/?q=job-9999" "/?status=down" "/?sort=deadline" "/?sort=last_ping" "/?page=$last_page"; do
    times=$(server_times "$view")
    size=$(curl -sS "$url$view" | wc -c)
    printf '  %-22s median %7.2f ms   max %7.2f ms   %7d bytes\n' "$view" \
        "$(median <<<"$times")" "$(sort -g <<<"$times" | tail -n 1)" "$size"
done
times=$(server_times "/" -H "X-Overdue-Fragment: jobs")
printf '  %-22s median %7.2f ms   max %7.2f ms\n' "/ (fragment)" \
    "$(median <<<"$times")" "$(sort -g <<<"$times" | tail -n 1)"

echo "== 4. page weight of the jobs page (HTML + CSS + JS)"
html=$(curl -sS "$url/" | wc -c)
css=$(curl -sS "$url/ui/assets/dashboard.css" | wc -c)
js=$(curl -sS "$url/ui/assets/dashboard.js" | wc -c)
css_gz=$(curl -sS -H 'Accept-Encoding: gzip' "$url/ui/assets/dashboard.css" | wc -c)
js_gz=$(curl -sS -H 'Accept-Encoding: gzip' "$url/ui/assets/dashboard.js" | wc -c)
printf '  HTML %d + CSS %d + JS %d = %d bytes uncompressed (CSS %d and JS %d gzip)\n' \
    "$html" "$css" "$js" $((html + css + js)) "$css_gz" "$js_gz"
log_summary "$tmp/overdue.log"
