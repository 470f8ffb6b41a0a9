#!/usr/bin/env bash
# Load benchmark on loopback (`just bench`): the same ~1 KiB response fetched
#   - directly from the upstream (nginx, 127.0.0.1:18081),
#   - through nginx as a plain keep-alive reverse proxy (127.0.0.1:18082),
#   - through the gateway's proxy route (release build, 127.0.0.1:18080) in
#     each deployment profile, one after the other:
#       embedded        SQLite, in-process adapters (`redis.url` empty), default log level
#       embedded-warn   the same with `log.level = warn`: shows the access log's cost
#       production      PostgreSQL (a bench database created and dropped here)
#                       + Redis (a unique `redis.key_prefix`), default log level;
#                       the token's rate limit is on (set far above the load)
#       production-nolimit  the same with no proxy rate limit
#                       (`rate_limit.proxy_per_minute = 0`): the limit's cost
# each with `wrk -t2 -c$BENCH_CONNECTIONS -d$BENCH_DURATION --latency` after a
# short warm-up. For the production profile it also counts the Redis commands
# per proxied request (INFO commandstats before/after) and measures the scaling
# row at $BENCH_SCALING connections, and counts the usage rows the flush wrote
# over all its runs (SPEC §14: writes per flush, not per request). One
# summary table at the end.
#
# Environment:
#   BENCH_DURATION      measured run per target, wrk syntax (default 10s)
#   BENCH_WARMUP        warm-up per target, discarded (default 2s)
#   BENCH_CONNECTIONS   wrk connections of the main comparison (default 64)
#   BENCH_SCALING       connection counts of the production scaling row
#                       (default "8 64 256 1000"; empty = none)
#   BENCH_PROFILES      gateway profiles to run (default "embedded embedded-warn
#                       production production-nolimit"; empty = only the two
#                       nginx targets, no build)
#   BENCH_POSTGRES_URL  PostgreSQL server, no database (default postgres://postgres@127.0.0.1:5432)
#   BENCH_REDIS_URL     Redis server (default redis://127.0.0.1:6379)
#   BENCH_GATEWAY_BIN   run this zenzefi-api binary instead of building one
#                       (to compare two builds; the header names it)
#   BENCH_KEEP          1 = keep the temp dir (configs, logs, raw wrk output)
#   BENCH_PROXY_PER_MINUTE  the token's rate limit (default 1000000000: counted and
#                       synchronised like any limit, but never reached, so that
#                       the run measures the limit's cost, not its refusals)
#
# Everything runs as the current user from one temp dir: both nginx instances
# use their own prefix, config, pid file and logs there (the system nginx is
# never touched), each embedded gateway a fresh SQLite file there. The
# production profile creates its own database and key prefix and removes both
# at the end; the shared servers are never reconfigured. Every process started
# here is stopped on exit, including on failure or Ctrl-C. Only loopback
# addresses are accepted as targets.
#
# Fairness: the machine's cores are shared by all processes, no pinning (on a
# 2-core machine pinning would leave the server under test one core at best,
# and wrk needs CPU as well). The reference nginx gets as many worker processes
# as the gateway has HTTP workers (its default server.workers = 0: one per core).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
CONNS=${BENCH_CONNECTIONS:-64}
SCALING=${BENCH_SCALING-8 64 256 1000}
PROFILES=${BENCH_PROFILES-embedded embedded-warn production production-nolimit}
POSTGRES_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
THREADS=2

UPSTREAM_PORT=18081
NGINX_PROXY_PORT=18082
GATEWAY_PORT=18080
URL_PATH=/certificates/filter
DEVICE_ID=bench-device-0001
# Unique per run, so neither the database nor the keys meet anyone else's.
RUN_ID="$(date +%s)_$$"
BENCH_DB="zenzefi_bench_$RUN_ID"
REDIS_PREFIX="zenzefi-bench-$RUN_ID:"

log() { echo "bench: $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

for p in $PROFILES; do
  case $p in embedded | embedded-warn | production | production-nolimit) ;; *) die "unknown profile '$p' in BENCH_PROFILES" ;; esac
done
wants() { [[ " $PROFILES " == *" $1 "* ]]; }

# Loopback only: refuse to point load or bench data at another host.
url_host() { sed -E 's#^[a-z]+://([^@/]*@)?(\[[^]]*\]|[^:/?]*).*#\2#' <<<"$1"; }
for url in "$POSTGRES_URL" "$REDIS_URL"; do
  case $(url_host "$url") in
    127.0.0.1 | localhost | '[::1]') ;;
    *) die "$url is not a loopback address; the bench only runs on loopback" ;;
  esac
done

# ---------------------------------------------------------------- clean-up --

WORK=$(mktemp -d "${TMPDIR:-/tmp}/zenzefi-bench.XXXXXX")
PIDS=()
DB_CREATED=0
GATEWAY_LOG=""

stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  # The gateway drains in-flight requests; nginx stops at once. Give up after 10 s.
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

drop_bench_data() {
  if [ "$DB_CREATED" = 1 ]; then
    psql "$POSTGRES_URL/postgres" -v ON_ERROR_STOP=1 -qc \
      "DROP DATABASE IF EXISTS \"$BENCH_DB\" WITH (FORCE)" >/dev/null 2>&1 \
      || log "could not drop database $BENCH_DB; drop it by hand"
    DB_CREATED=0
  fi
  if { wants production || wants production-nolimit; } && command -v redis-cli >/dev/null; then
    redis-cli -u "$REDIS_URL" --scan --pattern "$REDIS_PREFIX*" 2>/dev/null \
      | xargs -r -n 500 redis-cli -u "$REDIS_URL" UNLINK >/dev/null 2>&1 || true
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  drop_bench_data
  if [ "$rc" -ne 0 ]; then
    local f
    for f in "$GATEWAY_LOG" "$WORK"/upstream/error.log "$WORK"/proxy/error.log; do
      if [ -n "$f" ] && [ -s "$f" ]; then
        log "last lines of $f:"
        tail -n 20 "$f" | sed 's/^/    /' >&2
      fi
    done
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------- tools --

apt_install() {
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "$* missing and not root (install: apt-get install $*)"
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  local pkgs=() p
  # Debian 13 dropped nginx-light; its plain nginx has the same modules here.
  for p in "$@"; do
    if [ "$p" = nginx-light ] && ! apt-cache policy nginx-light | grep -q 'Candidate: [0-9]'; then p=nginx; fi
    pkgs+=("$p")
  done
  log "installing ${pkgs[*]} with apt-get"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
}

find_nginx() {
  command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true
}

missing=()
[ -n "$(find_nginx)" ] || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
if wants production; then
  command -v redis-cli >/dev/null || missing+=(redis-tools)
  command -v psql >/dev/null || missing+=(postgresql-client)
fi
[ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"
NGINX=$(find_nginx)
[ -n "$NGINX" ] || die "nginx not found after installation"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in $UPSTREAM_PORT $NGINX_PROXY_PORT $GATEWAY_PORT; do
  ! port_in_use "$port" || die "127.0.0.1:$port is already in use; stop whatever listens there"
done

# 1 000 connections need 1 000 sockets in wrk and up to twice that in the
# gateway (client side + upstream pool): raise the soft limit to the hard one.
MAX_CONNS=$CONNS
for c in $SCALING; do [ "$c" -le "$MAX_CONNS" ] || MAX_CONNS=$c; done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ "$nofile" -lt $((2 * MAX_CONNS + 512)) ]; then
  die "ulimit -n is $nofile (hard limit); $MAX_CONNS connections need at least $((2 * MAX_CONNS + 512))"
fi

# The gateway's HTTP worker count, as it computes it (server.workers = 0: one per core).
CORES=$(nproc)
GATEWAY_WORKERS=${ZENZEFI__SERVER__WORKERS:-0}
[ "$GATEWAY_WORKERS" != 0 ] || GATEWAY_WORKERS=$CORES

# ------------------------------------------------------------------- nginx --

# Fixed 1024-byte body (alphanumeric, so it needs no escaping in nginx.conf).
BODY=$(printf '0123456789abcdef%.0s' $(seq 1 64))
printf '%s' "$BODY" >"$WORK/body.txt"
[ "$(wc -c <"$WORK/body.txt")" -eq 1024 ] || die "body is not 1024 bytes"

# As root, nginx's workers would switch to the packaged user (www-data/nobody):
# keep them on the current user. As non-root, the directive must be absent.
NGINX_USER=""
if [ "$(id -u)" -eq 0 ]; then NGINX_USER="user $(id -un) $(id -gn);"; fi

# Common top of both configs (argument: dir, worker processes). Temp paths must
# be overridden: Debian compiles in /var/lib/nginx/*. keepalive_requests is
# raised from its default 1000 so that neither wrk nor the proxies reconnect
# every 1000 requests during a run; worker_connections covers the largest
# scaling step (the gateway's upstream pool can open one connection per request
# in flight).
nginx_head() {
  cat <<EOF
$NGINX_USER
worker_processes $2;
worker_rlimit_nofile $((4 * MAX_CONNS + 1024));
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections $((2 * MAX_CONNS + 512)); }
http {
  access_log off;
  client_body_temp_path $1/tmp/body;
  proxy_temp_path $1/tmp/proxy;
  fastcgi_temp_path $1/tmp/fastcgi;
  uwsgi_temp_path $1/tmp/uwsgi;
  scgi_temp_path $1/tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
EOF
}

mkdir -p "$WORK/upstream/tmp" "$WORK/proxy/tmp"

# The upstream: every path answers 200 with the fixed body. One worker: it is
# not under test, and on loopback it serves several times what any proxy does.
{
  nginx_head "$WORK/upstream" 1
  cat <<EOF
  server {
    listen 127.0.0.1:$UPSTREAM_PORT;
    default_type text/plain;
    location / { return 200 "$BODY"; }
  }
}
EOF
} >"$WORK/upstream/nginx.conf"

# The reference: plain reverse proxy with a keep-alive pool to the upstream,
# as many workers as the gateway has HTTP workers.
{
  nginx_head "$WORK/proxy" "$GATEWAY_WORKERS"
  cat <<EOF
  upstream bench_upstream {
    server 127.0.0.1:$UPSTREAM_PORT;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$NGINX_PROXY_PORT;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
} >"$WORK/proxy/nginx.conf"

start_nginx() {
  local dir=$1
  "$NGINX" -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
    || die "nginx rejected $dir/nginx.conf"
  "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >>"$dir/error.log" 2>&1 &
  PIDS+=($!)
}

# Waits until URL answers anything over HTTP (status not 000), or fails.
wait_http() {
  local what=$1 url=$2 pid=$3
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || die "$what exited during start-up"
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)" != 000 ]; then
      return 0
    fi
    sleep 0.2
  done
  die "$what did not answer $url within 60 s"
}

# Header list "A: x|B: y" -> argument array for curl and wrk (-H each).
header_args() {
  local IFS='|' h
  HARGS=()
  for h in $1; do HARGS+=(-H "$h"); done
}

# check NAME URL HEADERS: one request must answer 200 with the upstream body.
check_target() {
  local name=$1 url=$2 status hint=""
  header_args "$3"
  status=$(curl -s -o "$WORK/check.out" -w '%{http_code}' --max-time 10 \
    "${HARGS[@]}" "$url" || true)
  if [ "$status" != 200 ] || ! cmp -s "$WORK/check.out" "$WORK/body.txt"; then
    if [[ $name == embedded* || $name == production ]] && [ "$status" = 404 ]; then
      hint=" -- is the proxy route (ANY /api/v1/proxy/{path}) implemented yet?"
    fi
    die "check of $name ($url): status $status, body $(wc -c <"$WORK/check.out") bytes$( \
      cmp -s "$WORK/check.out" "$WORK/body.txt" || echo ' (not the upstream body)'): $(head -c 300 "$WORK/check.out")$hint"
  fi
}

# ----------------------------------------------------------------- gateway --

# Fields of a flat JSON answer (string values only; enough for these calls).
json_field() { sed -n 's/.*"'"$1"'" *: *"\([^"]*\)".*/\1/p' | head -n1; }

# api METHOD PATH EXPECTED_STATUS [JSON] [JWT]: prints the body, fails otherwise.
api() {
  local method=$1 path=$2 expect=$3 data=${4:-} jwt=${5:-} status
  local args=(-s -o "$WORK/api.out" -w '%{http_code}' --max-time 30 -X "$method"
    -H 'content-type: application/json')
  [ -z "$data" ] || args+=(--data "$data")
  [ -z "$jwt" ] || args+=(-H "authorization: Bearer $jwt")
  status=$(curl "${args[@]}" "http://127.0.0.1:$GATEWAY_PORT$path" || true)
  if [ "$status" != "$expect" ]; then
    die "$method $path answered $status (expected $expect): $(head -c 500 "$WORK/api.out")"
  fi
  cat "$WORK/api.out"
}

# start_gateway PROFILE: runs the gateway in that profile from a fresh dir and
# sets GATEWAY_PID and GATEWAY_LOG. Only the settings the profile needs are
# given; everything else is the compiled-in default.
start_gateway() {
  local profile=$1 dir="$WORK/$1"
  mkdir -p "$dir"
  GATEWAY_LOG="$dir/gateway.log"
  log "starting the gateway ($profile) on 127.0.0.1:$GATEWAY_PORT"
  # Run from the profile's dir so that no ./config/default.toml is read.
  (
    cd "$dir"
    unset RUST_LOG ZENZEFI_CONFIG ZENZEFI__LOG__LEVEL ZENZEFI__DATABASE__URL ZENZEFI__REDIS__URL \
      ZENZEFI__REDIS__KEY_PREFIX
    export ZENZEFI__SERVER__BIND="127.0.0.1:$GATEWAY_PORT"
    export ZENZEFI__SERVER__PUBLIC_URL="http://127.0.0.1:$GATEWAY_PORT"
    export ZENZEFI__UPSTREAM__URL="http://127.0.0.1:$UPSTREAM_PORT"
    export ZENZEFI__RATE_LIMIT__PROXY_PER_MINUTE="${BENCH_PROXY_PER_MINUTE:-1000000000}"
    # wrk drives every connection with one token: let all of them be in flight.
    export ZENZEFI__PROXY__MAX_IN_FLIGHT_PER_TOKEN=1000000
    case $profile in
      embedded | embedded-warn)
        export ZENZEFI__DATABASE__URL="sqlite://$dir/bench.db?mode=rwc"
        [ "$profile" != embedded-warn ] || export ZENZEFI__LOG__LEVEL=warn
        ;;
      production | production-nolimit)
        [ "$profile" != production-nolimit ] || export ZENZEFI__RATE_LIMIT__PROXY_PER_MINUTE=0
        export ZENZEFI__DATABASE__URL="$POSTGRES_URL/$BENCH_DB"
        export ZENZEFI__REDIS__URL="$REDIS_URL"
        export ZENZEFI__REDIS__KEY_PREFIX="$REDIS_PREFIX"
        ;;
    esac
    exec "$GATEWAY_BIN"
  ) >"$GATEWAY_LOG" 2>&1 &
  GATEWAY_PID=$!
  PIDS+=("$GATEWAY_PID")
  wait_http "gateway ($profile)" "http://127.0.0.1:$GATEWAY_PORT/health" "$GATEWAY_PID"
}

# Stops the gateway, notes the errors it logged, and drops its (large) log.
stop_gateway() {
  local profile=$1 errors pid kept=()
  stop_pid "$GATEWAY_PID"
  for pid in "${PIDS[@]}"; do [ "$pid" = "$GATEWAY_PID" ] || kept+=("$pid"); done
  PIDS=("${kept[@]}")
  LOG_LINES[$profile]=$(wc -l <"$GATEWAY_LOG")
  errors=$(grep -ciE 'error|panic' "$GATEWAY_LOG" || true)
  if [ "$errors" != 0 ]; then
    log "WARNING: the gateway ($profile) logged $errors lines with error/panic, first ones:"
    grep -iE 'error|panic' "$GATEWAY_LOG" | head -n 5 | sed 's/^/    /' >&2
  fi
  [ "${BENCH_KEEP:-0}" = 1 ] || rm -f "$GATEWAY_LOG"
  GATEWAY_LOG=""
  # The next profile binds the same port.
  for _ in $(seq 1 50); do port_in_use "$GATEWAY_PORT" || return 0; sleep 0.1; done
  die "127.0.0.1:$GATEWAY_PORT still in use after the gateway stopped"
}

# A user with 100 ZNC (mock payment), then a 24 h token; sets ACCESS_TOKEN.
buy_access_token() {
  local email=bench@example.com password=bench-Passw0rd jwt payment_id
  api POST /api/v1/auth/register 201 \
    "{\"email\":\"$email\",\"username\":\"bench\",\"password\":\"$password\"}" >/dev/null
  jwt=$(api POST /api/v1/auth/login 200 \
    "{\"email\":\"$email\",\"password\":\"$password\"}" | json_field access_token)
  [ -n "$jwt" ] || die "login answered no access_token"
  payment_id=$(api POST /api/v1/currency/purchase 201 '{"amount_znc":"100.00"}' "$jwt" \
    | json_field payment_id)
  [ -n "$payment_id" ] || die "currency purchase answered no payment_id"
  api POST "/api/v1/payments/mock/$payment_id" 200 '{"status":"succeeded"}' >/dev/null
  ACCESS_TOKEN=$(api POST /api/v1/tokens/purchase 201 '{"duration_hours":24}' "$jwt" \
    | json_field token)
  [ -n "$ACCESS_TOKEN" ] || die "token purchase answered no token"
}

# ------------------------------------------------------------------- redis --

# "command calls" per line, from INFO commandstats. Our own INFO probes are
# left out: the gateway never sends INFO.
redis_commandstats() {
  local stats
  stats=$(redis-cli -u "$REDIS_URL" INFO commandstats) || die "INFO commandstats failed on $REDIS_URL"
  tr -d '\r' <<<"$stats" | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1 \2/p' \
    | { grep -v '^info ' || true; }
}

# redis_delta BEFORE AFTER: "command calls" that happened in between, most first.
redis_delta() {
  awk 'NR == FNR { before[$1] = $2; next }
       { d = $2 - before[$1]; if (d > 0) print $1, d }' "$1" "$2" | sort -k2,2nr
}

# ------------------------------------------------------------- measuring --

# Latency with wrk's unit -> milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
    if (f < 0) { print "nan"; exit 1 }
    printf "%.3f", n * f
  }'
}

# CPU time (user + system, clock ticks, all threads) of process PID and its
# direct children (nginx's workers). The command name may hold spaces, so the
# fields are counted from after its closing parenthesis.
cpu_ticks() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pid="$1" '
    { p = $1; sub(/^.*\) /, ""); if (p == pid || $2 == pid) s += $12 + $13 }
    END { print s + 0 }'
}
CLK_TCK=$(getconf CLK_TCK)

declare -A RPS P50 P99 NON2XX SOCKERR REQUESTS ELAPSED CPU_US LOG_LINES
ROWS=()

# measure ROW PID URL HEADERS CONNECTIONS [HOOK]: warm-up, HOOK (a command
# run right before the measured run), then one measured wrk run against the
# server process PID; the figures land in RPS[ROW] etc.
measure() {
  local row=$1 pid=$2 url=$3 conns=$5 hook=${6:-} out="$WORK/wrk-$1.txt" p50 p99 cpu0 cpu1
  header_args "$4"
  log "warming up $row ($WARMUP, $conns connections)"
  wrk -t"$THREADS" -c"$conns" -d"$WARMUP" "${HARGS[@]}" "$url" >/dev/null
  [ -z "$hook" ] || "$hook"
  log "measuring $row ($DURATION, $conns connections)"
  cpu0=$(cpu_ticks "$pid")
  wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency "${HARGS[@]}" "$url" >"$out"
  cpu1=$(cpu_ticks "$pid")
  RPS[$row]=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  REQUESTS[$row]=$(awk '/requests in/ {print $1; exit}' "$out")
  ELAPSED[$row]=$(awk '/requests in/ {print $4 + 0; exit}' "$out")
  p50=$(awk '/Latency Distribution/ {d=1} d && $1 == "50%" {print $2; exit}' "$out")
  p99=$(awk '/Latency Distribution/ {d=1} d && $1 == "99%" {print $2; exit}' "$out")
  [ -n "${RPS[$row]}" ] && [ -n "${REQUESTS[$row]}" ] && [ -n "$p50" ] && [ -n "$p99" ] \
    || die "could not parse wrk output for $row: $(cat "$out")"
  P50[$row]=$(to_ms "$p50")
  P99[$row]=$(to_ms "$p99")
  NON2XX[$row]=$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' "$out")
  NON2XX[$row]=${NON2XX[$row]:-0}
  SOCKERR[$row]=$(awk '/Socket errors:/ {s = 0; for (i = 3; i <= NF; i += 2) s += $(i + 1) + 0; print s}' "$out")
  SOCKERR[$row]=${SOCKERR[$row]:-0}
  CPU_US[$row]=$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="${REQUESTS[$row]}" \
    'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')
}

GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT/api/v1/proxy$URL_PATH"

# The production profile's extras: the Redis command count around the main
# run, and the same route at every connection count of BENCH_SCALING.
# The row of the production profile at C connections: the main run at $CONNS.
scaling_row() { if [ "$1" = "$CONNS" ]; then echo production; else echo "production-${1}c"; fi; }

redis_snapshot_before() { redis_commandstats >"$WORK/redis-before.txt"; }

measure_production() {
  local headers=$1 c
  # What Redis does with the gateway idle (its background tasks, and any
  # other client of a shared server) over one second, to judge the count below.
  redis_commandstats >"$WORK/redis-idle0.txt"
  sleep 1
  redis_commandstats >"$WORK/redis-idle1.txt"
  REDIS_IDLE_PER_SEC=$(redis_delta "$WORK/redis-idle0.txt" "$WORK/redis-idle1.txt" \
    | awk '{ s += $2 } END { print s + 0 }')
  USAGE_ROWS_BEFORE=$(usage_rows)
  measure production "$GATEWAY_PID" "$GATEWAY_URL" "$headers" "$CONNS" redis_snapshot_before
  redis_commandstats >"$WORK/redis-after.txt"
  redis_delta "$WORK/redis-before.txt" "$WORK/redis-after.txt" >"$WORK/redis-delta.txt"
  for c in $SCALING; do
    [ "$c" = "$CONNS" ] || measure "$(scaling_row "$c")" "$GATEWAY_PID" "$GATEWAY_URL" "$headers" "$c"
  done
  # The last flush interval's counts, and PostgreSQL's statistics, land a
  # moment after the load stops.
  sleep 3
  USAGE_ROWS=$(($(usage_rows) - USAGE_ROWS_BEFORE))
}

# Rows inserted or updated in usage_buckets (all partitions) so far.
usage_rows() {
  psql "$POSTGRES_URL/$BENCH_DB" -Atc "SELECT coalesce(sum(n_tup_ins + n_tup_upd), 0)
    FROM pg_stat_user_tables WHERE relname LIKE 'usage_buckets%'" \
    || die "could not read usage_buckets statistics"
}

run_profile() {
  local profile=$1 headers
  if [[ $profile == production* ]]; then
    psql "$POSTGRES_URL/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$BENCH_DB\"" >/dev/null \
      || die "could not create database $BENCH_DB on $POSTGRES_URL"
    DB_CREATED=1
    redis-cli -u "$REDIS_URL" PING 2>/dev/null | grep -q PONG || die "Redis at $REDIS_URL does not answer PING"
  fi
  start_gateway "$profile"
  buy_access_token
  headers="X-Access-Token: $ACCESS_TOKEN|X-Device-ID: $DEVICE_ID"
  check_target "$profile" "$GATEWAY_URL" "$headers"
  log "the gateway ($profile) proxies 200 with the upstream body"
  if [ "$profile" = production ]; then
    measure_production "$headers"
  else
    measure "$profile" "$GATEWAY_PID" "$GATEWAY_URL" "$headers" "$CONNS"
  fi
  ROWS+=("$profile")
  stop_gateway "$profile"
  [[ $profile != production* ]] || drop_bench_data
}

# ------------------------------------------------------------------ header --

if [ -n "$PROFILES" ] && [ -n "${BENCH_GATEWAY_BIN:-}" ]; then
  GATEWAY_BIN=$(realpath "$BENCH_GATEWAY_BIN")
  [ -x "$GATEWAY_BIN" ] || die "BENCH_GATEWAY_BIN=$BENCH_GATEWAY_BIN is not an executable"
elif [ -n "$PROFILES" ]; then
  log "building the gateway (cargo build --release -p zenzefi-api)"
  cargo build --release -p zenzefi-api \
    || die "cargo build --release -p zenzefi-api failed (see above)"
  GATEWAY_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/zenzefi-api"
  [ -x "$GATEWAY_BIN" ] || die "$GATEWAY_BIN not found after the build"
fi

start_nginx "$WORK/upstream"
UPSTREAM_PID=${PIDS[-1]}
wait_http "upstream nginx" "http://127.0.0.1:$UPSTREAM_PORT/" "$UPSTREAM_PID"
start_nginx "$WORK/proxy"
PROXY_PID=${PIDS[-1]}
wait_http "proxy nginx" "http://127.0.0.1:$NGINX_PROXY_PORT/" "$PROXY_PID"
check_target direct "http://127.0.0.1:$UPSTREAM_PORT$URL_PATH" ""
check_target nginx-proxy "http://127.0.0.1:$NGINX_PROXY_PORT$URL_PATH" ""

echo "Zenzefi Gateway load benchmark (loopback)"
if commit=$(git rev-parse --short HEAD 2>/dev/null); then
  git diff --quiet HEAD 2>/dev/null || commit="$commit + uncommitted changes"
else
  commit="not a git checkout"
fi
echo "  commit:    $commit"
# CPU busy share over one idle second before measuring: other work on the
# machine (a build, a test run) skews every number below.
cpu_sample() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat; }
read -r busy0 idle0 < <(cpu_sample); sleep 1; read -r busy1 idle1 < <(cpu_sample)
busy=$(awk -v b=$((busy1 - busy0)) -v i=$((idle1 - idle0)) 'BEGIN { printf "%.0f", (b + i) ? 100 * b / (b + i) : 0 }')
echo "  machine:   $CORES cores, $(uname -sr); all processes share them, no pinning; ${busy}% busy before the run"
if [ "$busy" -gt 10 ]; then
  log "WARNING: CPU ${busy}% busy before the run: other work on this machine skews the numbers"
fi
echo "  load:      $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}'), -t$THREADS -c$CONNS -d$DURATION --latency, warm-up $WARMUP; ulimit -n $nofile"
echo "  body:      1024 bytes, GET $URL_PATH"
echo "  upstream:  $("$NGINX" -v 2>&1 | sed 's/.*: //'), worker_processes 1, 127.0.0.1:$UPSTREAM_PORT"
echo "  reference: nginx reverse proxy, worker_processes $GATEWAY_WORKERS, keepalive 64, access log off, 127.0.0.1:$NGINX_PROXY_PORT"
if [ -n "$PROFILES" ]; then
  echo "  gateway:   $GATEWAY_BIN, $GATEWAY_WORKERS HTTP workers, 127.0.0.1:$GATEWAY_PORT, log to a file"
  wants embedded && echo "    embedded:      SQLite, in-process adapters, default log level"
  wants embedded-warn && echo "    embedded-warn: SQLite, in-process adapters, log.level = warn"
  wants production && echo "    production:    PostgreSQL $(url_host "$POSTGRES_URL") (database $BENCH_DB), Redis $REDIS_URL (key_prefix $REDIS_PREFIX), default log level, proxy rate limit ${BENCH_PROXY_PER_MINUTE:-1000000000}/min"
  wants production-nolimit && echo "    production-nolimit: the same, rate_limit.proxy_per_minute = 0 (no limit)"
fi
echo

# ---------------------------------------------------------------- the runs --

measure direct "$UPSTREAM_PID" "http://127.0.0.1:$UPSTREAM_PORT$URL_PATH" "" "$CONNS"
measure nginx-proxy "$PROXY_PID" "http://127.0.0.1:$NGINX_PROXY_PORT$URL_PATH" "" "$CONNS"
ROWS+=(direct nginx-proxy)
for profile in $PROFILES; do run_profile "$profile"; done

# ----------------------------------------------------------------- report --

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

if wants production; then
  echo "Redis commands per proxied request (production, $CONNS connections, measured run only):"
  awk -v n="${REQUESTS[production]}" -v secs="${ELAPSED[production]}" -v idle="$REDIS_IDLE_PER_SEC" '
    { total += $2; line[NR] = $1; calls[NR] = $2 }
    END {
      printf "  %.2f per request  (%d commands / %d requests)\n", total / n, total, n
      for (i = 1; i <= NR; i++) if (calls[i] / n >= 0.005) printf "    %-22s %8.3f  (%d)\n", line[i], calls[i] / n, calls[i]
      if (idle > 0) printf "  with the gateway idle Redis saw %d commands/s (other clients, background tasks): about %.3f of the figure above\n", idle, idle * secs / n
    }' "$WORK/redis-delta.txt"
  echo
  if [ -n "$SCALING" ]; then
    echo "Scaling (production, same route):"
    printf '  %-12s' connections; for c in $SCALING; do printf ' %10s' "$c"; done; echo
    printf '  %-12s' 'req/s'; for c in $SCALING; do printf ' %10.0f' "${RPS[$(scaling_row "$c")]}"; done; echo
    printf '  %-12s' 'p99 ms'; for c in $SCALING; do printf ' %10.1f' "${P99[$(scaling_row "$c")]}"; done; echo
    printf '  %-12s' 'cpu us/req'; for c in $SCALING; do printf ' %10s' "${CPU_US[$(scaling_row "$c")]}"; done; echo
    printf '  %-12s' errors
    for c in $SCALING; do r=$(scaling_row "$c"); printf ' %10s' $((NON2XX[$r] + SOCKERR[$r])); done; echo
    read -ra steps <<<"$SCALING"
    last=${steps[-1]}
    if [[ " $SCALING " == *" $CONNS "* ]] && [ "$last" != "$CONNS" ]; then
      echo "  ${last}c/${CONNS}c req/s: $(ratio "${RPS[$(scaling_row "$last")]}" "${RPS[production]}")"
    fi
    echo
  fi
fi

printf '%-15s %10s %8s %9s %9s %9s %9s %11s\n' target 'req/s' '/nginx' 'p50 ms' 'p99 ms' \
  'non-2xx' 'sock err' 'cpu us/req'
for row in "${ROWS[@]}"; do
  printf '%-15s %10.0f %8s %9.3f %9.3f %9s %9s %11s\n' "$row" "${RPS[$row]}" \
    "$(ratio "${RPS[$row]}" "${RPS[nginx-proxy]}")" "${P50[$row]}" "${P99[$row]}" \
    "${NON2XX[$row]}" "${SOCKERR[$row]}" "${CPU_US[$row]}"
done
echo
if wants production && wants embedded; then
  echo "production/embedded req/s:     $(ratio "${RPS[production]}" "${RPS[embedded]}")"
fi
if wants production && wants production-nolimit; then
  echo "production/production-nolimit req/s: $(ratio "${RPS[production]}" "${RPS[production-nolimit]}")   (the proxy rate limit's cost)"
fi
if wants production; then
  total=0 secs=0
  for c in $SCALING $CONNS; do
    r=$(scaling_row "$c"); [ "$c" != "$CONNS" ] || r=production
    total=$((total + ${REQUESTS[$r]})); secs=$(awk -v a="$secs" -v b="${ELAPSED[$r]}" 'BEGIN { print a + b }')
  done
  # Counted once: the main run is also the scaling row at $CONNS.
  [[ " $SCALING " != *" $CONNS "* ]] || { total=$((total - ${REQUESTS[production]})); secs=$(awk -v a="$secs" -v b="${ELAPSED[production]}" 'BEGIN { print a - b }'); }
  echo "usage rows written (production, all its runs): $USAGE_ROWS for $total proxied requests over ${secs} s of load (flush every 1 s; one token: a minute and an hour bucket per flush)"
fi
if wants embedded && wants embedded-warn; then
  echo "embedded/embedded-warn req/s:  $(ratio "${RPS[embedded]}" "${RPS[embedded-warn]}")   (the access log's cost: $(awk -v a="${CPU_US[embedded]}" -v b="${CPU_US[embedded-warn]}" 'BEGIN { printf "%+.1f", a - b }') us CPU per request; gateway log lines ${LOG_LINES[embedded]} vs ${LOG_LINES[embedded-warn]})"
fi

failed=0
for row in "${!RPS[@]}"; do
  if [ "${NON2XX[$row]}" != 0 ] || [ "${SOCKERR[$row]}" != 0 ]; then
    log "WARNING: $row had ${NON2XX[$row]} non-2xx responses and ${SOCKERR[$row]} socket errors; its numbers measure errors, not proxying"
    failed=1
  fi
done
exit "$failed"
