#!/usr/bin/env bash
# Redis in production's shape against plain Redis (issue 22): GET /ping through one
# replica on
#  1. rediss:// (TLS with a private CA and a client certificate, made here with
#     openssl) against redis:// on the same kind of server;
#  2. redis:// with ?wait=1 (a real replica must acknowledge every change) against
#     plain redis://;
# each as A B A B … wrk rounds over the same pre-registered names, the per-round
# ratio and its median. The issue asks for >= 0.8 (TLS) and >= 0.5 (wait=1).
#
#   bash scripts/bench-redis-tls.sh
#   ROUNDS=5 DURATION=15s bash scripts/bench-redis-tls.sh
#
# Environment: ROUNDS (3), DURATION (8s), CONNECTIONS (32), THREADS (1), JOBS (10000).
# Every Redis runs with appendonly yes, appendfsync everysec, as the manual advises.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$0")/lib/common.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
JOBS=${JOBS:-10000}
for var in ROUNDS CONNECTIONS THREADS JOBS; do positive_int "$var"; done

need_tools curl wrk awk sed openssl redis-server redis-cli
build_release

# Starts redis-server with the options given (a port option included) in a directory
# of its own; waits until $1 (a redis-cli argument list) answers PING.
start_redis() {
    local name=$1 probe=$2
    shift 2
    mkdir -p "$tmp/$name"
    redis-server --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
        --dir "$tmp/$name" "$@" >"$tmp/$name.log" 2>&1 &
    pids+=("$!")
    for _ in $(seq 1 100); do
        # shellcheck disable=SC2086
        if redis-cli $probe ping >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "redis-server $name did not come up:" >&2
    cat "$tmp/$name.log" >&2
    exit 1
}

echo "== certificates"
certs="$tmp/tls"
mkdir -p "$certs"
(
    cd "$certs"
    ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 2 -subj /CN=bench-ca \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
    openssl req "${ec[@]}" -keyout server.key -out server.csr -subj /CN=server 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
        -out server.crt -days 2 -extfile server.ext 2>/dev/null
    openssl req "${ec[@]}" -keyout client.key -out client.csr -subj /CN=client 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
        -out client.crt -days 2 -extfile client.ext 2>/dev/null
)

plain_port=$(free_port 6392)
start_redis plain "-p $plain_port" --port "$plain_port"
tls_port=$(free_port 6393)
start_redis tls "--tls -p $tls_port --cacert $certs/ca.crt --cert $certs/client.crt --key $certs/client.key" \
    --port 0 --tls-port "$tls_port" --tls-cert-file "$certs/server.crt" \
    --tls-key-file "$certs/server.key" --tls-ca-cert-file "$certs/ca.crt" --tls-auth-clients yes
master_port=$(free_port 6394)
start_redis master "-p $master_port" --port "$master_port"
replica_port=$(free_port 6395)
start_redis replica "-p $replica_port" --port "$replica_port" --replicaof 127.0.0.1 "$master_port"

files="ca=$certs/ca.crt&cert=$certs/client.crt&key=$certs/client.key"
start_overdue overdue-plain "$(free_port 4193)" --store "redis://127.0.0.1:$plain_port/0"
plain_url=$url
start_overdue overdue-tls "$(free_port 4194)" --store "rediss://127.0.0.1:$tls_port/0?$files"
tls_url=$url
start_overdue overdue-wait "$(free_port 4195)" --store "redis://127.0.0.1:$master_port/0?wait=1"
wait_url=$url

echo "== registering $JOBS jobs on each"
register "$plain_url"
register "$tls_url"
register "$wait_url"

compare_rounds tls "$tls_url" plain "$plain_url" alternate
compare_rounds wait1 "$wait_url" plain "$plain_url" alternate

log_summary "$tmp"/overdue-*.log
