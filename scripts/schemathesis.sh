#!/usr/bin/env bash
# Property-based run of the API against its own /openapi.json (`just schemathesis`,
# SPEC §16.8): a schema-valid request must never be refused as invalid
# (400/422) and no request may get a 5xx.
#
# What it does, all on loopback, in one temp dir:
#   1. builds zenzefi-api (debug) unless ST_GATEWAY_BIN names a binary;
#   2. creates a superuser with `zenzefi-api create-superuser` (README) in a fresh
#      SQLite file, starts the API on the embedded profile on a free port;
#   3. registers a normal user, logs both in, credits the user through the
#      admin API and buys a token (for `GET /api/v1/proxy/status`);
#   4. runs schemathesis twice, each with checks not_a_server_error and
#      positive_data_acceptance (ST_CHECKS):
#        user   every operation outside /api/v1/admin, with the user's JWT and
#               token secret;
#        admin  every operation under /api/v1/admin, with the superuser's JWT
#      (the user run goes first: the admin run may deactivate that user);
#   5. prints operations, test cases and failures per run, and exits non-zero
#      when any run failed.
#
# Not fuzzed, on purpose:
#   - the proxy's forwarding route (`/api/v1/proxy/{path}`): its answers are
#     the upstream's, passed through unchanged, so the schema promises
#     nothing a fuzzer could check; its refusals are covered by
#     tests/tests/proxy_paths.rs. (Here no upstream runs, so every request
#     would be a 502 by design.)
#   - `POST /api/v1/webhooks/payment`: only a body signed with the webhook
#     secret gets past the signature check, and a fuzzer cannot sign, so
#     every case would be the same 403.
#
# Business refusals a valid request can meet (402 insufficient_balance,
# 401/403/404/409/429) are accepted: see scripts/schemathesis.toml.
#
# Environment:
#   ST_MAX_EXAMPLES   test cases per operation and phase (default 30)
#   ST_CHECKS         schemathesis checks (default
#                     not_a_server_error,positive_data_acceptance)
#   ST_WORKERS        schemathesis workers (default 2)
#   ST_SEED           schemathesis seed (default: random; printed)
#   ST_GATEWAY_BIN    run this zenzefi-api binary instead of building one
#   ST_BIN            the schemathesis `st` executable; default: `st` on PATH,
#                     else a venv in target/schemathesis-venv (pip install)
#   ST_PYTHON         the Python that venv is made with (default: the first of
#                     python3.14, python3.13, python3.12, a pyenv 3.12+, python3)
#   ST_KEEP           1 = keep the temp dir (server log, reports)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

MAX_EXAMPLES=${ST_MAX_EXAMPLES:-30}
CHECKS=${ST_CHECKS:-not_a_server_error,positive_data_acceptance}
WORKERS=${ST_WORKERS:-2}
SEED=${ST_SEED:-$RANDOM$RANDOM}

log() { echo "schemathesis: $*" >&2; }
die() {
  log "FAILED: $*"
  exit 1
}

command -v curl >/dev/null || die "curl is needed"
command -v python3 >/dev/null || die "python3 is needed"

# schemathesis 4.x: the one on PATH, or a private venv.
ST=${ST_BIN:-}
if [[ -z $ST ]]; then
  if command -v st >/dev/null && st --version 2>/dev/null | grep -q 'version 4\.'; then
    ST=st
  else
    venv="$ROOT/target/schemathesis-venv"
    if [[ ! -x $venv/bin/st ]]; then
      # Python 3.11's parser can fail under hypothesis' threads ("AST
      # constructor recursion depth mismatch"): prefer a newer one.
      python=${ST_PYTHON:-}
      for candidate in python3.14 python3.13 python3.12 \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3 python3; do
        [[ -z $python ]] || break
        "$candidate" -c '' 2>/dev/null && python=$candidate
      done
      log "installing schemathesis 4.x into $venv ($("$python" --version))"
      "$python" -m venv "$venv"
      "$venv/bin/pip" install --quiet 'schemathesis>=4,<5'
    fi
    ST=$venv/bin/st
  fi
fi
log "$("$ST" --version)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/zenzefi-schemathesis.XXXXXX")
SERVER_PID=
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ ${ST_KEEP:-0} == 1 || $status -ne 0 ]]; then
    log "kept $WORK (server.log, reports)"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n ${ST_GATEWAY_BIN:-} ]]; then
  BIN=$ST_GATEWAY_BIN
else
  log "building zenzefi-api"
  cargo build --quiet -p zenzefi-api
  BIN="$ROOT/target/debug/zenzefi-api"
fi
[[ -x $BIN ]] || die "no executable at $BIN"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"

# The embedded profile (SQLite, in-process adapters), on loopback only. The
# upstream is a closed loopback port: only the health report looks at it
# (degraded, never a 5xx). Rate limits are lifted so that the fuzzer
# reaches the handlers; keys this build does not know are ignored.
export ZENZEFI__ENVIRONMENT=development
export ZENZEFI__SERVER__BIND="127.0.0.1:$PORT"
export ZENZEFI__SERVER__PUBLIC_URL="$BASE"
export ZENZEFI__DATABASE__URL="sqlite://$WORK/zenzefi.db?mode=rwc"
export ZENZEFI__REDIS__URL=
export ZENZEFI__UPSTREAM__URL="http://127.0.0.1:$(free_port)"
export ZENZEFI__UPSTREAM__CONNECT_TIMEOUT_SECS=1
export ZENZEFI__METRICS__BEARER_TOKEN=
export ZENZEFI__LOG__LEVEL=warn
for limit in LOGIN_PER_MINUTE LOGIN_PER_HOUR_PER_EMAIL REGISTER_PER_HOUR API_PER_MINUTE \
  PASSWORD_CHANGE_PER_HOUR PROXY_PER_MINUTE; do
  export "ZENZEFI__RATE_LIMIT__$limit=1000000"
done
unset ZENZEFI_CONFIG

ADMIN_EMAIL=st-admin@example.com
ADMIN_PASSWORD="st-admin-password-1"
USER_EMAIL=st-user@example.com
USER_PASSWORD="st-user-password-1"

log "creating the superuser"
ZENZEFI_SUPERUSER_PASSWORD=$ADMIN_PASSWORD "$BIN" create-superuser \
  --email "$ADMIN_EMAIL" --username st-admin >"$WORK/create-superuser.log" 2>&1 ||
  die "create-superuser: $(cat "$WORK/create-superuser.log")"

log "starting the API on $BASE"
"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
  curl -fsS -o /dev/null "$BASE/health" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || die "the API exited: $(tail -20 "$WORK/server.log")"
  sleep 0.1
done
curl -fsS -o /dev/null "$BASE/health" || die "the API did not become healthy"

# A JSON request; prints the body, fails on a non-2xx status.
api() {
  local method=$1 path=$2 body=$3 jwt=${4:-}
  local args=()
  [[ -z $jwt ]] || args+=(-H "Authorization: Bearer $jwt")
  [[ -z $body ]] || args+=(-H 'Content-Type: application/json' -d "$body")
  curl -fsS -X "$method" "$BASE$path" "${args[@]}" ||
    die "$method $path answered an error"
}
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

api POST /api/v1/auth/register \
  "{\"email\":\"$USER_EMAIL\",\"username\":\"st-user\",\"password\":\"$USER_PASSWORD\"}" >/dev/null
ADMIN_JWT=$(api POST /api/v1/auth/login "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" | field access_token)
USER_JWT=$(api POST /api/v1/auth/login "{\"email\":\"$USER_EMAIL\",\"password\":\"$USER_PASSWORD\"}" | field access_token)
USER_ID=$(api GET /api/v1/users/me '' "$USER_JWT" | field id)
# Enough for some token purchases to succeed (others meet 402).
api PATCH "/api/v1/admin/users/$USER_ID" '{"currency_balance":"2000.00"}' "$ADMIN_JWT" >/dev/null
DURATION=$(api GET /api/v1/tokens/pricing '' | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["duration_hours"])')
TOKEN=$(api POST /api/v1/tokens/purchase "{\"duration_hours\":$DURATION}" "$USER_JWT" | field token)

curl -fsS -o "$WORK/openapi.json" "$BASE/openapi.json" || die "no /openapi.json"

# One schemathesis run: its name, then filters and headers.
FAILED=0
run() {
  local name=$1
  shift
  log "run '$name' ($CHECKS; max $MAX_EXAMPLES examples per operation, seed $SEED)"
  local status=0
  PYTHONPATH="$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=schemathesis_hooks \
    "$ST" --config-file "$ROOT/scripts/schemathesis.toml" run "$BASE/openapi.json" \
    --checks "$CHECKS" \
    --max-examples "$MAX_EXAMPLES" --workers "$WORKERS" --seed "$SEED" \
    --request-timeout 30 --no-color \
    --report json --report-json-path "$WORK/$name.json" \
    "$@" >"$WORK/$name.out" 2>&1 || status=$?
  cat "$WORK/$name.out"
  python3 "$ROOT/scripts/schemathesis_counts.py" "$name" "$WORK/$name.json" | tee -a "$WORK/summary"
  [[ $status -eq 0 ]] || FAILED=1
}

# One regex: schemathesis keeps only the last of repeated --exclude-path-regex.
run user \
  --exclude-path-regex '^/api/v1/(admin/.*|proxy/\{path\}|webhooks/payment)$' \
  -H "Authorization: Bearer $USER_JWT" -H "X-Access-Token: $TOKEN"
run admin \
  --include-path-regex '^/api/v1/admin/' \
  -H "Authorization: Bearer $ADMIN_JWT"

echo
echo "schemathesis summary ($CHECKS; seed $SEED, max $MAX_EXAMPLES examples):"
cat "$WORK/summary"
if grep -qiE 'panicked|internal_error' "$WORK/server.log"; then
  log "the server log reports internal errors:"
  grep -iE 'panicked|internal_error' "$WORK/server.log" | head -20 >&2
  FAILED=1
fi
exit "$FAILED"
