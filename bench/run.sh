#!/usr/bin/env bash
# Load benchmark on loopback (`just bench`): the same ~1 KiB response fetched
#   1. directly from the upstream (nginx, 127.0.0.1:18081),
#   2. through nginx as a plain keep-alive reverse proxy (127.0.0.1:18082),
#   3. through the gateway's proxy route (release build, 127.0.0.1:18080),
# each with `wrk -t2 -c64 -d$BENCH_DURATION --latency` after a short warm-up,
# then prints requests/s, p50 and p99 per target and the gateway's ratios.
#
# Environment:
#   BENCH_DURATION      measured run per target, wrk syntax (default 10s)
#   BENCH_WARMUP        warm-up per target, discarded (default 2s)
#   BENCH_CONNECTIONS   wrk connections (default 64)
#   BENCH_SKIP_GATEWAY  1 = only targets 1 and 2 (no cargo build)
#   BENCH_KEEP          1 = keep the temp dir (configs, logs, raw wrk output)
#
# Everything runs as the current user from one temp dir: both nginx instances
# use their own prefix, config, pid file and logs there (the system nginx is
# never touched), the gateway uses a fresh SQLite file there. Every process
# started here is stopped on exit, including on failure or Ctrl-C.
#
# Fairness: the machine's cores are shared by all processes, no pinning (on a
# 2-core machine pinning would leave the server under test one core at best,
# and wrk needs CPU as well). Each nginx gets worker_processes 1; the gateway
# runs with its default server.workers = 0 (one HTTP worker per core). The
# header printed at start says what each one gets.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=2
SKIP_GATEWAY=${BENCH_SKIP_GATEWAY:-0}

UPSTREAM_PORT=18081
NGINX_PROXY_PORT=18082
GATEWAY_PORT=18080
URL_PATH=/certificates/filter
DEVICE_ID=bench-device-0001

log() { echo "bench: $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- clean-up --

WORK=$(mktemp -d "${TMPDIR:-/tmp}/zenzefi-bench.XXXXXX")
PIDS=()

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

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [ "$rc" -ne 0 ]; then
    local f
    for f in "$WORK"/gateway.log "$WORK"/upstream/error.log "$WORK"/proxy/error.log; do
      if [ -s "$f" ]; then
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
  log "installing $* with apt-get"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

find_nginx() {
  command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true
}

missing=()
[ -n "$(find_nginx)" ] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
[ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"
NGINX=$(find_nginx)
[ -n "$NGINX" ] || die "nginx not found after installation"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in $UPSTREAM_PORT $NGINX_PROXY_PORT $GATEWAY_PORT; do
  ! port_in_use "$port" || die "127.0.0.1:$port is already in use; stop whatever listens there"
done

# ------------------------------------------------------------------- nginx --

# Fixed 1024-byte body (alphanumeric, so it needs no escaping in nginx.conf).
BODY=$(printf '0123456789abcdef%.0s' $(seq 1 64))
printf '%s' "$BODY" >"$WORK/body.txt"
[ "$(wc -c <"$WORK/body.txt")" -eq 1024 ] || die "body is not 1024 bytes"

# As root, nginx's workers would switch to the packaged user (www-data/nobody):
# keep them on the current user. As non-root, the directive must be absent.
NGINX_USER=""
if [ "$(id -u)" -eq 0 ]; then NGINX_USER="user $(id -un) $(id -gn);"; fi

# Common top of both configs. Temp paths must be overridden: Debian compiles in
# /var/lib/nginx/*. keepalive_requests is raised from its default 1000 so that
# neither wrk nor the proxies reconnect every 1000 requests during a run.
nginx_head() {
  cat <<EOF
$NGINX_USER
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 1024; }
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

# 1. The upstream: every path answers 200 with the fixed body.
{
  nginx_head "$WORK/upstream"
  cat <<EOF
  server {
    listen 127.0.0.1:$UPSTREAM_PORT;
    default_type text/plain;
    location / { return 200 "$BODY"; }
  }
}
EOF
} >"$WORK/upstream/nginx.conf"

# 2. The reference: plain reverse proxy with a keep-alive pool to the upstream.
{
  nginx_head "$WORK/proxy"
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

# ----------------------------------------------------------------- gateway --

if [ "$SKIP_GATEWAY" != 1 ]; then
  log "building the gateway (cargo build --release -p zenzefi-api)"
  cargo build --release -p zenzefi-api \
    || die "cargo build --release -p zenzefi-api failed (see above)"
  GATEWAY_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/zenzefi-api"
  [ -x "$GATEWAY_BIN" ] || die "$GATEWAY_BIN not found after the build"
fi

start_nginx "$WORK/upstream"
wait_http "upstream nginx" "http://127.0.0.1:$UPSTREAM_PORT/" "${PIDS[-1]}"
start_nginx "$WORK/proxy"
wait_http "proxy nginx" "http://127.0.0.1:$NGINX_PROXY_PORT/" "${PIDS[-1]}"

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

if [ "$SKIP_GATEWAY" != 1 ]; then
  log "starting the gateway on 127.0.0.1:$GATEWAY_PORT"
  # Run from the temp dir so that no ./config/default.toml is read; the
  # compiled-in defaults are the same file, the environment overrides the rest.
  (
    cd "$WORK"
    export ZENZEFI__SERVER__BIND="127.0.0.1:$GATEWAY_PORT"
    export ZENZEFI__SERVER__PUBLIC_URL="http://127.0.0.1:$GATEWAY_PORT"
    export ZENZEFI__UPSTREAM__URL="http://127.0.0.1:$UPSTREAM_PORT"
    export ZENZEFI__DATABASE__URL="sqlite://$WORK/bench.db?mode=rwc"
    export ZENZEFI__LOG__LEVEL=warn
    export ZENZEFI__RATE_LIMIT__LOGIN_PER_MINUTE=1000
    unset RUST_LOG ZENZEFI_CONFIG
    exec "$GATEWAY_BIN"
  ) >"$WORK/gateway.log" 2>&1 &
  GATEWAY_PID=$!
  PIDS+=("$GATEWAY_PID")
  wait_http gateway "http://127.0.0.1:$GATEWAY_PORT/health" "$GATEWAY_PID"

  # A user with 100 ZNC (mock payment), then a 24 h token.
  EMAIL=bench@example.com
  PASSWORD=bench-Passw0rd
  api POST /api/v1/auth/register 201 \
    "{\"email\":\"$EMAIL\",\"username\":\"bench\",\"password\":\"$PASSWORD\"}" >/dev/null
  JWT=$(api POST /api/v1/auth/login 200 \
    "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" | json_field access_token)
  [ -n "$JWT" ] || die "login answered no access_token"
  PAYMENT_ID=$(api POST /api/v1/currency/purchase 201 '{"amount_znc":"100.00"}' "$JWT" \
    | json_field payment_id)
  [ -n "$PAYMENT_ID" ] || die "currency purchase answered no payment_id"
  api POST "/api/v1/payments/mock/$PAYMENT_ID" 200 '{"status":"succeeded"}' >/dev/null
  ACCESS_TOKEN=$(api POST /api/v1/tokens/purchase 201 '{"duration_hours":24}' "$JWT" \
    | json_field token)
  [ -n "$ACCESS_TOKEN" ] || die "token purchase answered no token"
  log "bought access token ${ACCESS_TOKEN:0:8}…"
fi

# ------------------------------------------------------------------ checks --

NAMES=(direct nginx-proxy)
URLS=("http://127.0.0.1:$UPSTREAM_PORT$URL_PATH" "http://127.0.0.1:$NGINX_PROXY_PORT$URL_PATH")
HEADERS=("" "")
if [ "$SKIP_GATEWAY" != 1 ]; then
  NAMES+=(gateway)
  URLS+=("http://127.0.0.1:$GATEWAY_PORT/api/v1/proxy$URL_PATH")
  HEADERS+=("X-Access-Token: $ACCESS_TOKEN|X-Device-ID: $DEVICE_ID")
fi

# Header list "A: x|B: y" -> argument array for curl and wrk (-H each).
header_args() {
  local IFS='|' h
  HARGS=()
  for h in $1; do HARGS+=(-H "$h"); done
}

for i in "${!NAMES[@]}"; do
  header_args "${HEADERS[$i]}"
  status=$(curl -s -o "$WORK/check.out" -w '%{http_code}' --max-time 10 \
    "${HARGS[@]}" "${URLS[$i]}" || true)
  if [ "$status" != 200 ] || ! cmp -s "$WORK/check.out" "$WORK/body.txt"; then
    hint=""
    if [ "${NAMES[$i]}" = gateway ] && [ "$status" = 404 ]; then
      hint=" -- is the proxy route (ANY /api/v1/proxy/{path}) implemented yet?"
    fi
    die "check of ${NAMES[$i]} (${URLS[$i]}): status $status, body $(wc -c <"$WORK/check.out") bytes$( \
      cmp -s "$WORK/check.out" "$WORK/body.txt" || echo ' (not the upstream body)'): $(head -c 300 "$WORK/check.out")$hint"
  fi
done
log "all targets answer 200 with the upstream body"

# --------------------------------------------------------------- measuring --

cores=$(nproc)
echo "Zenzefi Gateway load benchmark (loopback)"
if commit=$(git rev-parse --short HEAD 2>/dev/null); then
  git diff --quiet HEAD 2>/dev/null || commit="$commit + uncommitted changes"
else
  commit="not a git checkout"
fi
echo "  commit:   $commit"
# CPU busy share over one idle second before measuring: other work on the
# machine (a build, a test run) skews every number below.
cpu_sample() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat; }
read -r busy0 idle0 < <(cpu_sample); sleep 1; read -r busy1 idle1 < <(cpu_sample)
busy=$(awk -v b=$((busy1 - busy0)) -v i=$((idle1 - idle0)) 'BEGIN { printf "%.0f", (b + i) ? 100 * b / (b + i) : 0 }')
echo "  machine:  $cores cores, $(uname -sr); all processes share them, no pinning; ${busy}% busy before the run"
if [ "$busy" -gt 10 ]; then
  log "WARNING: CPU ${busy}% busy before the run: other work on this machine skews the numbers"
fi
echo "  load:     $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}'), -t$THREADS -c$CONNS -d$DURATION --latency, warm-up $WARMUP"
echo "  body:     1024 bytes, GET $URL_PATH"
echo "  upstream: $("$NGINX" -v 2>&1 | sed 's/.*: //'), worker_processes 1, 127.0.0.1:$UPSTREAM_PORT"
echo "  reference: nginx reverse proxy, worker_processes 1, keepalive 64, 127.0.0.1:$NGINX_PROXY_PORT"
if [ "$SKIP_GATEWAY" != 1 ]; then
  workers=${ZENZEFI__SERVER__WORKERS:-0}
  echo "  gateway:  zenzefi-api release, server.workers=$workers ($([ "$workers" = 0 ] && echo "$cores" || echo "$workers") HTTP workers), SQLite, log warn, 127.0.0.1:$GATEWAY_PORT"
fi
echo

# Latency with wrk's unit -> milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
    if (f < 0) { print "nan"; exit 1 }
    printf "%.3f", n * f
  }'
}

declare -A RPS P50 P99 NON2XX SOCKERR
for i in "${!NAMES[@]}"; do
  name=${NAMES[$i]}
  header_args "${HEADERS[$i]}"
  log "warming up $name ($WARMUP)"
  wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "${HARGS[@]}" "${URLS[$i]}" >/dev/null
  log "measuring $name ($DURATION)"
  out="$WORK/wrk-$name.txt"
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "${HARGS[@]}" "${URLS[$i]}" >"$out"
  RPS[$name]=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  p50=$(awk '/Latency Distribution/ {d=1} d && $1 == "50%" {print $2; exit}' "$out")
  p99=$(awk '/Latency Distribution/ {d=1} d && $1 == "99%" {print $2; exit}' "$out")
  [ -n "${RPS[$name]}" ] && [ -n "$p50" ] && [ -n "$p99" ] \
    || die "could not parse wrk output for $name: $(cat "$out")"
  P50[$name]=$(to_ms "$p50")
  P99[$name]=$(to_ms "$p99")
  NON2XX[$name]=$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' "$out")
  NON2XX[$name]=${NON2XX[$name]:-0}
  SOCKERR[$name]=$(awk '/Socket errors:/ {s = 0; for (i = 3; i <= NF; i += 2) s += $(i + 1) + 0; print s}' "$out")
  SOCKERR[$name]=${SOCKERR[$name]:-0}
done

printf '%-12s %12s %10s %10s %9s %9s\n' target 'req/s' 'p50 ms' 'p99 ms' 'non-2xx' 'sock err'
for name in "${NAMES[@]}"; do
  printf '%-12s %12.0f %10.3f %10.3f %9s %9s\n' "$name" "${RPS[$name]}" "${P50[$name]}" \
    "${P99[$name]}" "${NON2XX[$name]}" "${SOCKERR[$name]}"
done
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
diff_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.3f", a - b }'; }
echo "nginx-proxy/direct req/s: $(ratio "${RPS[nginx-proxy]}" "${RPS[direct]}")   p99 added over direct: $(diff_ms "${P99[nginx-proxy]}" "${P99[direct]}") ms"
if [ "$SKIP_GATEWAY" != 1 ]; then
  echo "gateway/nginx-proxy req/s: $(ratio "${RPS[gateway]}" "${RPS[nginx-proxy]}")"
  echo "gateway/direct req/s:      $(ratio "${RPS[gateway]}" "${RPS[direct]}")   p99 added over direct: $(diff_ms "${P99[gateway]}" "${P99[direct]}") ms"
fi

failed=0
for name in "${NAMES[@]}"; do
  if [ "${NON2XX[$name]}" != 0 ] || [ "${SOCKERR[$name]}" != 0 ]; then
    log "WARNING: $name had ${NON2XX[$name]} non-2xx responses and ${SOCKERR[$name]} socket errors; its numbers are not comparable"
    failed=1
  fi
done
if [ "$SKIP_GATEWAY" != 1 ] && grep -qiE 'error|panic' "$WORK/gateway.log"; then
  log "WARNING: the gateway logged errors ($(grep -ciE 'error|panic' "$WORK/gateway.log") lines), first ones:"
  grep -iE 'error|panic' "$WORK/gateway.log" | head -n 5 | sed 's/^/    /' >&2
fi
exit "$failed"
