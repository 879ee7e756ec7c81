# shellcheck shell=bash
# Shared by the benchmark scripts (bench.sh, bench-perf.sh, scale.sh): tools, a temp
# dir with cleanup of started processes, free ports, and the wrk ping driver.
# Source it from the repository root after `set -euo pipefail`.

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
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
        command -v "$tool" >/dev/null 2>&1 || { echo "$0 needs $tool" >&2; exit 1; }
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

# A free TCP port on loopback ($1 when python3 is missing).
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    else
        echo "$1"
    fi
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

# Registers job-1 … job-$JOBS on the overdue at $1: one curl, one kept-alive connection.
register() {
    local url=$1 registered i
    for i in $(seq 1 "$JOBS"); do
        echo "url = \"$url/ping?name=job-$i&frequency=1h\""
    done >"$tmp/register.cfg"
    curl -sS -K "$tmp/register.cfg" >/dev/null
    registered=$(curl -fsS "$url/pings?limit=1" | sed -n 's/.*"total":\([0-9]*\).*/\1/p')
    if [ "$registered" != "$JOBS" ]; then
        echo "expected $JOBS jobs, $url lists ${registered:-none}" >&2
        exit 1
    fi
}

# The wrk script: cycles over the $JOBS names; done() prints one parseable line.
cat >"$tmp/ping.lua" <<LUA
local jobs = $JOBS
local i = 0
request = function()
    i = i % jobs + 1
    return wrk.format("GET", "/ping?name=job-" .. i .. "&frequency=1h")
end
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(99),
        e.status, e.connect + e.read + e.write + e.timeout))
end
LUA

# Runs wrk against $1 (connections $2, duration $3 optional) and prints
# "rps p50_us p99_us non2xx socket_errors".
run_wrk() {
    local out
    out=$(wrk -t"$THREADS" -c"${2:-$CONNECTIONS}" -d"${3:-$DURATION}" --latency -s "$tmp/ping.lua" "$1")
    echo "$out" >>"$tmp/wrk.txt"
    echo "$out" | awk '/^RESULT/ {
        for (f = 2; f <= NF; f++) { split($f, kv, "="); v[kv[1]] = kv[2] }
        print v["rps"], v["p50_us"], v["p99_us"], v["non2xx"], v["socket_errors"]
    }'
}

# Prints one result line of run_wrk ($2) under the name $1.
report() {
    awk -v name="$1" '{ printf "  %-9s %10.0f req/s   p50 %7.2f ms   p99 %7.2f ms   non-2xx/3xx %d   socket errors %d\n", name, $1, $2 / 1000, $3 / 1000, $4, $5 }' <<<"$2"
}

# The median of the numbers on stdin, one per line.
median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
