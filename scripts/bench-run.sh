#!/usr/bin/env bash
# What `overdue run` adds to a cron job (SPEC §16, target: a median of at most 20 ms):
# the wall time of `overdue run --name bench --every 1h -- true` against a local
# monitor, next to the bare `true`, each run RUNS times; prints both medians and their
# difference, then checks that the monitor recorded every start and finish ping.
#
#   bash scripts/bench-run.sh
#   RUNS=500 bash scripts/bench-run.sh
#
# Uses hyperfine (apt-get install hyperfine) when it is on PATH, else a loop timed with
# `date +%s%N`. Environment: RUNS (200).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$0")/lib/common.sh"

RUNS=${RUNS:-200}
positive_int RUNS
for tool in curl awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$script_name needs $tool" >&2; exit 1; }
done
build_release

start_overdue monitor "$(free_port 4790)" --store memory://
export OVERDUE_URL=$url
bin=./target/release/overdue
wrapped=("$bin" run --name bench --every 1h -- true)
# The job exists before timing starts, as it does for every run of a cron job but
# the first.
"${wrapped[@]}"

# The median of the numbers (milliseconds), one a line, on stdin.
median() {
    sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Times "$@" RUNS times with date +%s%N; prints the median in milliseconds.
loop_median() {
    local start end
    for _ in $(seq 1 "$RUNS"); do
        start=$(date +%s%N)
        "$@" >/dev/null
        end=$(date +%s%N)
        echo "$(((end - start) / 1000))" | awk '{ printf "%.3f\n", $1 / 1000 }'
    done | median
}

echo "== $RUNS runs each, load average $(loadavg)"
if command -v hyperfine >/dev/null 2>&1; then
    hyperfine -N --warmup 10 --runs "$RUNS" --export-json "$tmp/runs.json" \
        true "${wrapped[*]}" >"$tmp/hyperfine.txt"
    # hyperfine's JSON holds one "median" (seconds) per command, in the order given.
    mapfile -t medians < <(grep -o '"median": *[0-9.e-]*' "$tmp/runs.json" |
        awk -F: '{ printf "%.3f\n", $2 * 1000 }')
    bare=${medians[0]}
    run=${medians[1]}
    tool=hyperfine
else
    bare=$(loop_median true)
    run=$(loop_median "${wrapped[@]}")
    tool="date +%s%N loop"
fi

pings=$(curl -fsS "$url/ping/bench" | grep -o '"pings_total": *[0-9]*' | grep -o '[0-9]*$')
echo "timed with $tool"
echo "bare true:           median ${bare} ms"
echo "overdue run -- true: median ${run} ms"
awk -v a="$run" -v b="$bare" 'BEGIN { d = a - b; printf "added:               median %.3f ms (target <= 20 ms): %s\n", d, (d <= 20 ? "met" : "NOT met") }'
echo "pings recorded: $pings (runs and warm-ups send two each)"
if [ "$((pings % 2))" -ne 0 ]; then
    die "an odd number of pings: a start or a finish was lost"
fi
