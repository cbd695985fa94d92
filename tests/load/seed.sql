-- Fills one environment for the seeded-views benchmark (tests/load/seed.sh), set-based.
-- psql variables: env (environment id), tag (its key tag), admin (the admin's user id).
-- Everything is relative to now(); run once on a fresh database (seed.sh checks).
\set ON_ERROR_STOP on
SET TimeZone = 'UTC';
SET synchronous_commit = off;
BEGIN;

-- People: owners of keys (when keys have an owner column) and actors of audit events.
INSERT INTO users (email, display_name, password_hash)
SELECT 'owner' || n || '@example.com', 'Owner ' || n, u.password_hash
FROM generate_series(1, 20) n, users u WHERE u.id = :admin;
CREATE TEMP TABLE seed_people AS
SELECT row_number() OVER (ORDER BY id) - 1 AS pn, id, email FROM users;
INSERT INTO memberships (user_id, environment_id, role)
SELECT id, :env, CASE WHEN pn % 5 = 0 THEN 'owner' ELSE 'member' END
FROM seed_people WHERE id <> :admin
ON CONFLICT DO NOTHING;

-- 99 999 keys (the one created through the dashboard makes 100 000), one every ~5 minutes
-- over the last year. Status by i % 100: 0–4 revoked, 5–14 off, 15–18 expired, 19–21 expiring
-- within 30 days (19: within 7, the banner's), 22–51 expiring in 2–13 months, the rest never.
CREATE TEMP TABLE seed_words AS SELECT
  array['billing', 'checkout', 'search', 'mobile', 'web', 'partner', 'analytics', 'ingest',
        'export', 'webhook', 'reporting', 'inventory', 'payments', 'auth', 'notifications',
        'shipping'] AS area,
  array['service', 'worker', 'app', 'integration', 'cron', 'gateway', 'sync', 'dashboard',
        'cli', 'sdk'] AS part,
  array['Acme Corp', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark Industries',
        'Wayne Enterprises', 'Soylent', 'Tyrell', 'Cyberdyne', 'Wonka', 'Vandelay'] AS customer,
  array['the nightly export', 'the storefront', 'their iOS app', 'the reporting pipeline',
        'a load test', 'the support console', 'their data warehouse sync'] AS purpose,
  '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'::text AS b62;

INSERT INTO api_keys (environment_id, name, description, key_type, scopes, digest, masked,
                      enabled, expires_at, rate_limit_per_minute, revoked_at, created_by,
                      created_at, updated_at, last_used_at)
SELECT :env,
       w.area[1 + i % 16] || '-' || w.part[1 + (i / 16) % 10] || '-' || i,
       CASE WHEN i % 3 = 0 THEN ''
            ELSE 'Issued to ' || w.customer[1 + (i / 3) % 12] || ' for ' || w.purpose[1 + i % 7] END,
       t.key_type,
       CASE WHEN t.key_type = 'publishable' THEN array['read']
            WHEN i % 5 = 0 THEN array['read']
            WHEN i % 5 = 2 THEN array['write']
            WHEN i % 5 = 3 THEN array['read', 'write', 'admin']
            ELSE array['read', 'write'] END,
       d.digest,
       'kw_' || CASE WHEN t.key_type = 'publishable' THEN 'pk' ELSE 'sk' END || '_' || :'tag' || '_'
         || (SELECT string_agg(substr(w.b62, 1 + get_byte(d.digest, b) % 62, 1), '' ORDER BY b)
             FROM generate_series(0, 3) b)
         || '…'
         || (SELECT string_agg(substr(w.b62, 1 + get_byte(d.digest, b) % 62, 1), '' ORDER BY b)
             FROM generate_series(4, 7) b),
       NOT (i % 100 BETWEEN 5 AND 14),
       CASE WHEN i % 100 BETWEEN 15 AND 18 THEN now() - (1 + i % 90) * interval '1 day'
            WHEN i % 100 = 19 THEN now() + interval '1 hour' + (i % 6) * interval '1 day'
            WHEN i % 100 BETWEEN 20 AND 21 THEN now() + (8 + i % 21) * interval '1 day'
            WHEN i % 100 BETWEEN 22 AND 51 THEN now() + (60 + i % 330) * interval '1 day'
            END,
       CASE WHEN i % 7 = 0 THEN 600 END,
       CASE WHEN i % 100 < 5 THEN c.created_at + (now() - c.created_at) / 2 END,
       :admin,
       c.created_at,
       c.created_at,
       CASE WHEN i % 2 = 0 THEN now() - (i % 10000) * interval '1 minute' END
FROM generate_series(1, 99999) i
CROSS JOIN seed_words w
CROSS JOIN LATERAL (SELECT CASE WHEN i % 10 < 3 THEN 'publishable' ELSE 'secret' END AS key_type) t
CROSS JOIN LATERAL (SELECT sha256(convert_to('keyward-seed-' || i, 'UTF8')) AS digest) d
CROSS JOIN LATERAL (SELECT now() - interval '1 minute' - i * interval '5 minutes'
                           - (i % 60) * interval '1 second' AS created_at) c
ORDER BY i;

-- Owners, once keys have them (another change adds `api_keys.owner_id`): spread over the
-- people, a fifth of the keys without one.
SELECT set_config('seed.env', :'env', true);
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM information_schema.columns
             WHERE table_name = 'api_keys' AND column_name = 'owner_id') THEN
    EXECUTE $q$
      UPDATE api_keys k SET owner_id = p.id
      FROM seed_people p
      WHERE k.environment_id = current_setting('seed.env')::bigint
        AND k.id % 5 <> 0 AND p.pn = k.id % (SELECT count(*) FROM seed_people)
    $q$;
    RAISE NOTICE 'seeded owners';
  ELSE
    RAISE NOTICE 'api_keys has no owner_id column: keys seeded without owners';
  END IF;
END $$;

CREATE TEMP TABLE seed_keys AS
SELECT row_number() OVER (ORDER BY id) - 1 AS k, id, name, masked, key_type
FROM api_keys WHERE environment_id = :env;
CREATE INDEX ON seed_keys (k);

-- Usage for 100 keys that are on: per-minute rows for the last 48 hours (valid every minute,
-- a refusal in one minute of ten), rolled up per hour like the roll-up job does, and hourly
-- rows for the 30 days before. The roll-up mark says hours before this one are rolled up.
CREATE TEMP TABLE seed_usage_keys AS
SELECT id, row_number() OVER (ORDER BY id) AS u FROM api_keys
WHERE environment_id = :env AND revoked_at IS NULL AND enabled AND expires_at IS NULL
  AND name NOT LIKE 'bench-%'
ORDER BY id LIMIT 100;
CREATE TEMP TABLE seed_clock AS
SELECT date_trunc('hour', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS this_hour,
       date_trunc('minute', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS this_minute;

INSERT INTO api_key_usage (api_key_id, minute, code, count)
SELECT k.id, m, 'VALID', 1 + (k.u * 7 + extract(epoch FROM m)::bigint / 60 * 13) % 40
FROM seed_usage_keys k, seed_clock c,
     generate_series(c.this_hour - interval '48 hours', c.this_minute, interval '1 minute') m
UNION ALL
SELECT k.id, m, CASE WHEN k.u % 2 = 0 THEN 'RATE_LIMITED' ELSE 'INSUFFICIENT_SCOPE' END,
       1 + k.u % 3
FROM seed_usage_keys k, seed_clock c,
     generate_series(c.this_hour - interval '48 hours', c.this_minute, interval '1 minute') m
WHERE (k.u + extract(epoch FROM m)::bigint / 60) % 10 = 0;

INSERT INTO api_key_usage_hourly (api_key_id, hour, valid, refused)
SELECT api_key_id, date_trunc('hour', minute AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
       COALESCE(SUM(count) FILTER (WHERE code = 'VALID'), 0),
       COALESCE(SUM(count) FILTER (WHERE code <> 'VALID'), 0)
FROM api_key_usage, seed_clock c
WHERE minute < c.this_hour
GROUP BY 1, 2;

INSERT INTO api_key_usage_hourly (api_key_id, hour, valid, refused)
SELECT k.id, h, 600 + (k.u * 31 + extract(epoch FROM h)::bigint / 3600 * 17) % 1800,
       (k.u + extract(epoch FROM h)::bigint / 3600) % 90
FROM seed_usage_keys k, seed_clock c,
     generate_series(c.this_hour - interval '30 days', c.this_hour - interval '49 hours',
                     interval '1 hour') h;

UPDATE api_key_usage_rollup SET rolled_up_to = (SELECT this_hour FROM seed_clock) WHERE id = 1;

-- 1 000 000 audit events over the last year, oldest first (ids follow time), on keys of the
-- environment and a few on memberships. Actions by n % 100: a tenth `api_key.updated` (100 000,
-- the export benchmark's filter), `api_key.rotated` at 1 (10 000), then created, disabled,
-- enabled, revoked and membership changes. Actors: people, API keys (management API), Keyward.
INSERT INTO audit_events (occurred_at, actor_user_id, actor_key_id, client_ip, environment_id,
                          target, action, details, actor_type, actor_email, actor_key_masked,
                          target_type, target_id, target_name, target_masked)
SELECT now() - (1000000 - n) * interval '31 seconds',
       CASE WHEN a.actor = 'user' THEN p.id END,
       CASE WHEN a.actor = 'api_key' THEN ak.id END,
       CASE WHEN a.actor <> 'system' THEN '10.' || n % 7 || '.' || n % 251 || '.' || n % 13 END,
       :env,
       CASE WHEN a.action LIKE 'membership.%' THEN 'user:' || p2.id ELSE 'api_key:' || tk.id END,
       a.action,
       CASE WHEN a.action = 'api_key.updated'
              THEN jsonb_build_object('name', tk.name, 'changed', 'description, expires_at')::text
            WHEN a.action LIKE 'membership.%'
              THEN jsonb_build_object('email', p2.email, 'role', 'member')::text
            ELSE jsonb_build_object('name', tk.name)::text END,
       a.actor,
       CASE WHEN a.actor = 'user' THEN p.email END,
       CASE WHEN a.actor = 'api_key' THEN ak.masked END,
       CASE WHEN a.action LIKE 'membership.%' THEN 'user' ELSE 'api_key' END,
       CASE WHEN a.action LIKE 'membership.%' THEN p2.id ELSE tk.id END,
       CASE WHEN a.action LIKE 'membership.%' THEN p2.email ELSE tk.name END,
       CASE WHEN a.action LIKE 'membership.%' THEN NULL ELSE tk.masked END
FROM generate_series(1::bigint, 1000000) n
CROSS JOIN LATERAL (SELECT
    CASE WHEN n % 10 = 0 THEN 'api_key.updated'
         WHEN n % 100 = 1 THEN 'api_key.rotated'
         WHEN n % 100 < 30 THEN 'api_key.created'
         WHEN n % 100 < 55 THEN 'api_key.disabled'
         WHEN n % 100 < 80 THEN 'api_key.enabled'
         WHEN n % 100 < 95 THEN 'api_key.revoked'
         WHEN n % 100 < 98 THEN 'membership.role_changed'
         ELSE 'membership.added' END AS action,
    CASE WHEN n % 13 = 0 THEN 'system' WHEN n % 7 = 0 THEN 'api_key' ELSE 'user' END AS actor) a
JOIN seed_keys tk ON tk.k = (n * 7919) % 100000
JOIN seed_keys ak ON ak.k = (n * 104729) % 100000
JOIN seed_people p ON p.pn = n % 21
JOIN seed_people p2 ON p2.pn = (n / 21) % 21
ORDER BY n;

COMMIT;
VACUUM ANALYZE users;
VACUUM ANALYZE memberships;
VACUUM ANALYZE api_keys;
VACUUM ANALYZE api_key_usage;
VACUUM ANALYZE api_key_usage_hourly;
VACUUM ANALYZE audit_events;
