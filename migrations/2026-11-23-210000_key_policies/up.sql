-- Keys that carry policy (SPEC §11): restrictions checked on the verify path, a quota, and who
-- the key belongs to. Every column is NULL when unset, so a key without policy costs nothing.
ALTER TABLE api_keys
    ADD COLUMN allowed_ips TEXT[] NULL,
    ADD COLUMN allowed_origins TEXT[] NULL,
    ADD COLUMN quota_limit BIGINT NULL,
    ADD COLUMN quota_period TEXT NULL,
    ADD COLUMN owner_id TEXT NULL,
    ADD COLUMN meta JSONB NULL,
    -- The client address the caller last reported (the verify body's `ip`), written by the
    -- usage flusher with last_used_at, never per request.
    ADD COLUMN last_used_ip TEXT NULL,
    ADD CONSTRAINT api_keys_allowed_ips_count CHECK (cardinality(allowed_ips) <= 50),
    ADD CONSTRAINT api_keys_allowed_origins_count CHECK (cardinality(allowed_origins) <= 20),
    ADD CONSTRAINT api_keys_quota_period_known CHECK (quota_period IN ('day', 'month', 'total')),
    ADD CONSTRAINT api_keys_quota_limit_range CHECK (quota_limit BETWEEN 1 AND 1000000000000),
    ADD CONSTRAINT api_keys_quota_whole CHECK ((quota_limit IS NULL) = (quota_period IS NULL)),
    ADD CONSTRAINT api_keys_owner_id_length CHECK (char_length(owner_id) <= 128),
    ADD CONSTRAINT api_keys_meta_object CHECK (jsonb_typeof(meta) = 'object');

-- The owner filter, newest first (SPEC §9), and Search by a fragment of the owner (ILIKE).
CREATE INDEX api_keys_owner_created_idx ON api_keys (environment_id, owner_id, created_at DESC, id DESC)
    WHERE owner_id IS NOT NULL;
CREATE INDEX api_keys_owner_trgm_idx ON api_keys USING gin (owner_id gin_trgm_ops)
    WHERE owner_id IS NOT NULL;

-- The version still moves on every change to what a key is, but not on what the usage
-- flusher writes (last_used_at and now last_used_ip): a flush must not make cached copies stale.
CREATE OR REPLACE FUNCTION api_keys_bump_version() RETURNS trigger AS $$
DECLARE
    probe api_keys%ROWTYPE;
BEGIN
    probe := NEW;
    probe.last_used_at := OLD.last_used_at;
    probe.last_used_ip := OLD.last_used_ip;
    probe.version := OLD.version;
    IF probe IS DISTINCT FROM OLD THEN
        NEW.version := OLD.version + 1;
    ELSE
        NEW.version := OLD.version;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
