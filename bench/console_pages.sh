#!/usr/bin/env bash
# Times every API call the admin console's pages make, against the database
# bench/seed_audit.sh filled (run that first). Starts zenzefi-api on loopback
# on that database, signs in as its superuser, and prints per call the best
# and the median of RUNS requests (curl's total time, milliseconds).
set -euo pipefail
cd "$(dirname "$0")/.."

DB=${DB:-zenzefi_console_10m}
URL="${PG_SERVER:-postgres://postgres@127.0.0.1:5432}/$DB"
PORT=${PORT:-8765}
RUNS=${RUNS:-7}
BASE="http://127.0.0.1:$PORT"

cargo build -q -p zenzefi-api
ZENZEFI__DATABASE__URL="$URL" ZENZEFI__SERVER__BIND="127.0.0.1:$PORT" ZENZEFI__LOG__LEVEL=warn \
  target/debug/zenzefi-api >/tmp/zenzefi-console-pages.log 2>&1 &
api=$!
trap 'kill $api' EXIT
for _ in $(seq 1 50); do curl -sf "$BASE/health/live" >/dev/null && break; sleep 0.2; done

JWT=$(curl -sf "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"root@example.com","password":"Correct-Horse-9"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
A="$BASE/api/v1/admin"
get() { curl -sf -H "authorization: Bearer $JWT" "$1"; }
USER_ID=$(get "$A/users?search=user500@&limit=1" | sed 's/.*"items":\[{"id":"\([^"]*\)".*/\1/')
CURSOR=$(get "$A/audit-logs?limit=25" | sed 's/.*"next_cursor":"\([^"]*\)".*/\1/')
# A cursor a million rows deep: what paging by keyset makes as cheap as page 1.
DEEP=$(psql -tA "$URL" -c "SELECT (extract(epoch FROM created_at) * 1e9)::numeric(30,0) || '_' || id
  FROM audit_logs ORDER BY created_at DESC, id DESC OFFSET 1000000 LIMIT 1")

time_of() {
  local times status
  status=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $JWT" "$1")
  times=$(for _ in $(seq 1 "$RUNS"); do
    curl -s -o /dev/null -w '%{time_total}\n' -H "authorization: Bearer $JWT" "$1"
  done | sort -n)
  printf '%8.1f %8.1f  %s %s\n' "$(echo "$times" | head -1 | awk '{print $1*1000}')" \
    "$(echo "$times" | sed -n "$(( (RUNS + 1) / 2 ))p" | awk '{print $1*1000}')" "$status" "${1#"$BASE"}"
}

echo "     best   median  status call (ms; $RUNS runs each)"
echo "overview:"
time_of "$A/sessions?active_only=true&limit=1"
time_of "$A/tokens?active_only=true&limit=1"
time_of "$A/users?limit=1"
time_of "$BASE/health/detailed"
echo "users:"
time_of "$A/users?limit=25"
time_of "$A/users?limit=25&search=user5"
echo "user page:"
time_of "$A/users/$USER_ID"
time_of "$A/users/$USER_ID/transactions?limit=25"
time_of "$A/tokens?user_id=$USER_ID&active_only=false&limit=100"
time_of "$A/sessions?user_id=$USER_ID&active_only=false&limit=25"
time_of "$A/audit-logs?user_id=$USER_ID&limit=25"
echo "tokens / sessions:"
time_of "$A/tokens?active_only=true&limit=25"
time_of "$A/sessions?active_only=true&limit=25"
echo "audit:"
time_of "$A/audit-logs?limit=25"
time_of "$A/audit-logs?limit=25&cursor=$CURSOR"
time_of "$A/audit-logs?limit=25&cursor=$DEEP"
time_of "$A/audit-logs?limit=25&action=admin_force_revoke"
time_of "$A/audit-logs?limit=25&user_id=$USER_ID&action=auth_login"
get "$A/audit-logs?limit=1" | sed 's/.*\("total":[0-9]*,"total_estimated":[a-z]*\).*/unfiltered audit: \1/'
