-- 10 M usage buckets for the SPEC §14 query targets (`just seed-usage`).
-- 2 000 users, 5 000 tokens; up to now: 48 h of minute buckets with 660
-- tokens active each minute (1.9 M rows), and 90 days of hour buckets with
-- three tokens in four active each hour (8.1 M rows).
\set ON_ERROR_STOP on
TRUNCATE usage_buckets, proxy_sessions, access_tokens, transactions, audit_logs, users CASCADE;

INSERT INTO users (id, email, username, password_hash, is_active, is_superuser, balance_cents, created_at, updated_at)
SELECT md5('user' || i)::uuid, 'user' || i || '@bench.io', 'user' || i, 'x', true, false, 0, now(), now()
FROM generate_series(0, 1999) AS i;

INSERT INTO access_tokens (id, user_id, token_hash, token_prefix, duration_hours, scope, cost_cents, created_at, is_active)
SELECT md5('token' || t)::uuid, md5('user' || (t % 2000))::uuid, md5('hash' || t) || md5('hash2' || t),
       'zzf_' || lpad(t::text, 4, '0'), 720, 'full', 30000, now(), true
FROM generate_series(0, 4999) AS t;

-- Minutes: minute m (0 = this minute) has tokens (7m .. 7m + 659) mod 5000.
INSERT INTO usage_buckets (token_id, user_id, step_secs, bucket_start, requests, bytes_in, bytes_out,
                           responses_2xx, responses_4xx, responses_5xx, refused_scope_denied)
SELECT md5('token' || tk)::uuid, md5('user' || (tk % 2000))::uuid, 60,
       (extract(epoch FROM date_trunc('minute', now()))::bigint / 60 - m) * 60,
       10 + tk % 50, 1000 * (tk % 7), 20000 + tk, 8 + tk % 40, 1, 1, tk % 2
FROM generate_series(0, 2879) AS m,
     LATERAL (SELECT (7 * m + k) % 5000 AS tk FROM generate_series(0, 659) AS k) AS active;

-- Hours: hour h (0 = this hour) has every token t with (t + h) % 4 <> 0.
INSERT INTO usage_buckets (token_id, user_id, step_secs, bucket_start, requests, bytes_in, bytes_out,
                           responses_2xx, responses_4xx, responses_5xx, refused_scope_denied)
SELECT md5('token' || t)::uuid, md5('user' || (t % 2000))::uuid, 3600,
       (extract(epoch FROM date_trunc('hour', now()))::bigint / 3600 - h) * 3600,
       300 + t % 500, 30000 * (t % 7), 600000 + t, 280 + t % 400, 10, 10, t % 3
FROM generate_series(0, 2159) AS h, generate_series(0, 4999) AS t
WHERE (t + h) % 4 <> 0;

-- A fresh bulk load is not all-visible until vacuumed (autovacuum does it in life).
VACUUM ANALYZE usage_buckets;
SELECT step_secs, count(*) FROM usage_buckets GROUP BY step_secs ORDER BY step_secs;
