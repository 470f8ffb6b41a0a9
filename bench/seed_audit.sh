#!/usr/bin/env bash
# Seeds a database of its own with production-sized operator data, for the
# admin console's latency check (bench/console_pages.sh): 1 000 users and
# AUDIT_ROWS (default 10 M) audit rows over 60 days, ids growing with time
# as UUIDv7 do. The database is dropped and recreated; nothing else is touched.
#   DB=zenzefi_console_10m AUDIT_ROWS=10000000 bash bench/seed_audit.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER=${PG_SERVER:-postgres://postgres@127.0.0.1:5432}
DB=${DB:-zenzefi_console_10m}
ROWS=${AUDIT_ROWS:-10000000}
URL="$SERVER/$DB"
ACTIONS="'auth_register','auth_login','token_purchase','token_revoke','admin_force_revoke','admin_user_update','currency_deposit','admin_session_terminate','session_device_conflict'"

log() { echo "seed: $*" >&2; }

psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
log "migrating $DB"
ZENZEFI__DATABASE__URL="$URL" cargo run -q -p zenzefi-api -- migrate
ZENZEFI__DATABASE__URL="$URL" ZENZEFI_SUPERUSER_PASSWORD=Correct-Horse-9 \
  cargo run -q -p zenzefi-api -- create-superuser --email root@example.com --username root

log "inserting 1000 users and $ROWS audit rows"
start=$(date +%s)
# Secondary indexes and the foreign key are dropped for the load and rebuilt
# from their own definitions: several times faster than row by row.
psql -q -v ON_ERROR_STOP=1 "$URL" <<SQL
INSERT INTO users (id, email, username, password_hash, is_active, is_superuser,
                   balance_cents, created_at, updated_at)
SELECT gen_random_uuid(), 'user' || g || '@example.com', 'user' || g, 'x', true, false, 0,
       now() - interval '61 days', now() - interval '61 days'
FROM generate_series(1, 1000) AS g;

CREATE TEMP TABLE saved_indexes AS
  SELECT indexname AS name, indexdef AS def FROM pg_indexes
  WHERE tablename = 'audit_logs' AND indexname <> 'audit_logs_pkey';
CREATE TEMP TABLE saved_fks AS
  SELECT conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint
  WHERE conrelid = 'audit_logs'::regclass AND contype = 'f';
DO \$\$ DECLARE r record; BEGIN
  FOR r IN SELECT * FROM saved_indexes LOOP EXECUTE 'DROP INDEX ' || r.name; END LOOP;
  FOR r IN SELECT * FROM saved_fks LOOP
    EXECUTE 'ALTER TABLE audit_logs DROP CONSTRAINT ' || r.name; END LOOP;
END \$\$;

INSERT INTO audit_logs (id, user_id, action, resource_type, resource_id, details,
                        ip_address, user_agent, request_id, created_at)
SELECT lpad(to_hex(g), 32, '0')::uuid,
       CASE WHEN g % 97 = 0 THEN NULL ELSE u.ids[1 + (g / 10) % 1000] END,
       (ARRAY[$ACTIONS])[1 + g % 9],
       'user', NULL, jsonb_build_object('n', g), '203.0.113.9'::inet, 'seed', NULL,
       now() - ($ROWS + 1 - g) * (interval '60 days' / $ROWS)
FROM generate_series(1, $ROWS) AS g,
     (SELECT array_agg(id ORDER BY id) AS ids FROM users) AS u;

DO \$\$ DECLARE r record; BEGIN
  FOR r IN SELECT * FROM saved_indexes LOOP EXECUTE r.def; END LOOP;
  FOR r IN SELECT * FROM saved_fks LOOP
    EXECUTE 'ALTER TABLE audit_logs ADD CONSTRAINT ' || r.name || ' ' || r.def; END LOOP;
END \$\$;
VACUUM ANALYZE users;
VACUUM ANALYZE audit_logs;
SQL
log "done in $(( $(date +%s) - start )) s: $URL"
