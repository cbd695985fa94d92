-- A key keeps up to 3 previous secrets after rotations with a grace period, each until its own
-- grace ends (SPEC §6). One row per secret instead of one pair of columns, so a second rotation
-- inside a grace period no longer overwrites (and so resurrects or kills) an earlier secret.
CREATE TABLE api_key_previous_secrets (
    id BIGSERIAL PRIMARY KEY,
    api_key_id BIGINT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    -- SHA-256 of the earlier plaintext; never the plaintext itself.
    digest BYTEA NOT NULL UNIQUE,
    valid_until TIMESTAMPTZ NOT NULL
);
CREATE INDEX api_key_previous_secrets_key_idx ON api_key_previous_secrets (api_key_id, id DESC);

INSERT INTO api_key_previous_secrets (api_key_id, digest, valid_until)
SELECT id, previous_digest, previous_valid_until
FROM api_keys
WHERE previous_digest IS NOT NULL AND previous_valid_until IS NOT NULL AND revoked_at IS NULL;

ALTER TABLE api_keys DROP COLUMN previous_digest, DROP COLUMN previous_valid_until;

-- Bumped by every change to the row: a node that may have missed a change notice compares the
-- version it cached with this one.
ALTER TABLE api_keys ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- Every change to what a key is (not the usage flusher's last_used_at) bumps the version, whoever
-- writes it, so a node's check of its cached versions also catches a change made behind its back.
CREATE FUNCTION api_keys_bump_version() RETURNS trigger AS $$
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
CREATE TRIGGER api_keys_version BEFORE UPDATE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_keys_bump_version();
