# shellcheck shell=bash
# What the benchmark scripts (bench.sh, bench-perf.sh, bench-redis.sh, bench-redis-tls.sh, burst.sh,
# scale.sh, soak.sh) share, so that each of them states only what is its own: checks of
# their knobs, tools, a temp dir with cleanup of started processes, free ports, the
# release build, starting overdue and waiting for it, job registration, the wrk ping
# driver, rounds of A against B with medians and ratios, and the end-of-run log check.
#
# Source it right after `set -euo pipefail`; it moves to the repository root.

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
script_name=$(basename "$0")

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Exits 2 unless the variable named $1 holds a positive integer.
positive_int() {
    if ! [[ ${!1} =~ ^[0-9]+$ ]] || [ "${!1}" -lt 1 ]; then
        echo "$script_name: $1 must be a positive integer, not '${!1}'" >&2
        exit 2
    fi
}

# Installs wrk when missing, then checks that every named tool is on PATH.
need_tools() {
    if ! command -v wrk >/dev/null 2>&1; then
        echo "== installing wrk"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    fi
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { echo "$script_name needs $tool" >&2; exit 1; }
    done
}

# Creates $tmp and the $pids list; on exit, stops every pid in it and removes $tmp.
tmp=$(mktemp -d)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stops the script with a message and the end of overdue's log ($tmp/overdue.log).
die() {
    echo "$script_name: $*" >&2
    if [ -s "$tmp/overdue.log" ]; then
        echo "-- last lines of the overdue log:" >&2
        tail -n 20 "$tmp/overdue.log" >&2
    fi
    exit 1
}

now_ms() {
    local ns
    ns=$(date +%s%N)
    echo $((ns / 1000000))
}

loadavg() {
    cut -d' ' -f1-3 /proc/loadavg
}

# Whether process $1 is still running (a zombie not reaped yet counts as gone).
running() {
    [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# A free TCP port on loopback ($1 when python3 is missing).
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    else
        echo "$1"
    fi
}

# cargo build --release with the given targets (default: the overdue binary).
build_release() {
    echo "== building (release)"
    if [ "$#" -eq 0 ]; then set -- --bin overdue; fi
    cargo build --release "$@"
}

# Waits up to 10 s for $1/livez; prints the log $2 and exits when it never answers.
wait_live() {
    local url=$1 log=$2
    for _ in $(seq 1 100); do
        if curl -fsS -o /dev/null "$url/livez" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "$url did not come up; its log:" >&2
    cat "$log" >&2
    exit 1
}

# Starts the release overdue as $1 (a name: its log is $tmp/$1.log) on port $2 with
# JSON logs at WARN and the flags that follow; waits until it is live. Sets $pid and
# $url, and adds the process to the cleanup.
start_overdue() {
    local name=$1 port=$2
    shift 2
    RUST_LOG=warn ./target/release/overdue --listen "127.0.0.1:$port" --log-format json "$@" \
        >"$tmp/$name.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    url="http://127.0.0.1:$port"
    wait_live "$url" "$tmp/$name.log"
}

# `total` of GET /pings$2 (default ?limit=1) on $1; empty when it does not answer.
total_of() {
    curl -fsS --max-time 5 "$1/pings${2:-?limit=1}" 2>/dev/null | sed -n 's/.*"total":\([0-9]*\).*/\1/p'
}

# Registers ${PING_PREFIX}1 … ${PING_PREFIX}$JOBS (job- by default) with ${PING_QUERY}
# (frequency=1h by default) on the overdue at $1, one curl on one kept-alive
# connection; then expects $2 (default $JOBS) jobs there.
register() {
    local url=$1 expected=${2:-$JOBS} registered i
    for i in $(seq 1 "$JOBS"); do
        echo "url = \"$url/ping?name=${PING_PREFIX:-job-}$i&${PING_QUERY:-frequency=1h}\""
    done >"$tmp/register.cfg"
    curl -sS -K "$tmp/register.cfg" >/dev/null
    registered=$(total_of "$url")
    if [ "$registered" != "$expected" ]; then
        echo "expected $expected jobs, $url lists ${registered:-none}" >&2
        exit 1
    fi
}

# Writes the wrk ping script for the current $JOBS and prints its path: it cycles over
# ${PING_PREFIX}1 … ${PING_PREFIX}$JOBS (job- by default) with the query ${PING_QUERY}
# (frequency=1h by default); done() prints one parseable RESULT line.
ping_script() {
    cat >"$tmp/ping.lua" <<LUA
local jobs = $JOBS
local i = 0
request = function()
    i = i % jobs + 1
    return wrk.format("GET", "/ping?name=${PING_PREFIX:-job-}" .. i .. "&${PING_QUERY:-frequency=1h}")
end
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(99),
        e.status, e.connect + e.read + e.write + e.timeout))
end
LUA
    echo "$tmp/ping.lua"
}

# The RESULT line of the wrk output in file $1 as "rps p50_us p99_us non2xx socket_errors".
wrk_result() {
    awk '/^RESULT/ {
        for (f = 2; f <= NF; f++) { split($f, kv, "="); v[kv[1]] = kv[2] }
        print v["rps"], v["p50_us"], v["p99_us"], v["non2xx"], v["socket_errors"]
    }' "$1"
}

# Runs wrk with the ping script against $1 (connections $2, duration $3 optional) and
# prints "rps p50_us p99_us non2xx socket_errors".
run_wrk() {
    local script
    script=$(ping_script)
    wrk -t"$THREADS" -c"${2:-$CONNECTIONS}" -d"${3:-$DURATION}" --latency -s "$script" "$1" \
        >"$tmp/wrk-last.txt"
    cat "$tmp/wrk-last.txt" >>"$tmp/wrk.txt"
    wrk_result "$tmp/wrk-last.txt"
}

# Prints one result line of run_wrk ($2) under the name $1.
report() {
    awk -v name="$1" '{ printf "  %-9s %10.0f req/s   p50 %7.2f ms   p99 %7.2f ms   non-2xx/3xx %d   socket errors %d\n", name, $1, $2 / 1000, $3 / 1000, $4, $5 }' <<<"$2"
}

# The median of the numbers on stdin, one per line.
median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# $ROUNDS rounds of run_wrk against A ($1 named, $2 its URL) and B ($3, $4), in the
# order $5: `ab` (A first every round), `ba` (B first), or `alternate` (A first in odd
# rounds). Prints every run, then the median req/s of each and the median of the
# per-round ratios A/B, which it also leaves in $median_ratio.
compare_rounds() {
    local name_a=$1 url_a=$2 name_b=$3 url_b=$4 order=$5 round a b
    local rps_a=() rps_b=() ratios=()
    echo "== $ROUNDS rounds of wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $name_a against $name_b ($order)"
    for round in $(seq 1 "$ROUNDS"); do
        echo "round $round"
        if [ "$order" = ba ] || { [ "$order" = alternate ] && [ $((round % 2)) -eq 0 ]; }; then
            b=$(run_wrk "$url_b"); report "$name_b" "$b"
            a=$(run_wrk "$url_a"); report "$name_a" "$a"
        else
            a=$(run_wrk "$url_a"); report "$name_a" "$a"
            b=$(run_wrk "$url_b"); report "$name_b" "$b"
        fi
        rps_a+=("${a%% *}")
        rps_b+=("${b%% *}")
        ratios+=("$(awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN { printf "%.3f", a / b }')")
    done
    median_ratio=$(printf '%s\n' "${ratios[@]}" | median)
    echo "== medians over $ROUNDS rounds"
    printf '  %-9s %10.0f req/s\n' "$name_a" "$(printf '%s\n' "${rps_a[@]}" | median)"
    printf '  %-9s %10.0f req/s\n' "$name_b" "$(printf '%s\n' "${rps_b[@]}" | median)"
    printf '  ratio %s/%s (median of per-round ratios): %.3f   (rounds: %s)\n' \
        "$name_a" "$name_b" "$median_ratio" "${ratios[*]}"
}

# Counts the ERROR and WARN lines of the JSON logs given and shows the first five. The
# warning that no webhook is set is left out: the runs without one mean it.
log_summary() {
    awk '/PING_ALERT_URI is not set/ { next }
        /"level":"ERROR"/ { e++ }
        /"level":"WARN"/ { w++ }
        /"level":"(ERROR|WARN)"/ && shown < 5 { line[++shown] = $0 }
        END {
            printf "== overdue logged %d errors and %d warnings\n", e, w
            for (i = 1; i <= shown; i++) print line[i]
        }' "$@"
}
