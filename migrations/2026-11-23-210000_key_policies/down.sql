CREATE OR REPLACE FUNCTION api_keys_bump_version() RETURNS trigger AS $$
DECLARE
    probe api_keys%ROWTYPE;
BEGIN
    probe := NEW;
    probe.last_used_at := OLD.last_used_at;
    probe.version := OLD.version;
    IF probe IS DISTINCT FROM OLD THEN
        NEW.version := OLD.version + 1;
    ELSE
        NEW.version := OLD.version;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP INDEX IF EXISTS api_keys_owner_trgm_idx;
DROP INDEX IF EXISTS api_keys_owner_created_idx;
ALTER TABLE api_keys
    DROP COLUMN last_used_ip,
    DROP COLUMN meta,
    DROP COLUMN owner_id,
    DROP COLUMN quota_period,
    DROP COLUMN quota_limit,
    DROP COLUMN allowed_origins,
    DROP COLUMN allowed_ips;
