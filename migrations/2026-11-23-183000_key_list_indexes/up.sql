-- The API Keys tab at scale (SPEC §9). The newest-first page itself is served by
-- api_keys_environment_created_idx (environment_id, created_at DESC, id DESC) from 000001.

-- Search by a fragment of the name, the description or the masked form (ILIKE '%…%').
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX api_keys_name_trgm_idx ON api_keys USING gin (name gin_trgm_ops);
CREATE INDEX api_keys_description_trgm_idx ON api_keys USING gin (description gin_trgm_ops);
CREATE INDEX api_keys_masked_trgm_idx ON api_keys USING gin (masked gin_trgm_ops);
-- Search by the last 4 characters of the masked form.
CREATE INDEX api_keys_masked_last4_idx ON api_keys (environment_id, right(masked, 4));
-- Expiring soon, and the banner's count of keys expiring within 7 days.
CREATE INDEX api_keys_expiring_idx ON api_keys (environment_id, expires_at)
    WHERE revoked_at IS NULL AND expires_at IS NOT NULL;
-- The Revoked and Off views, newest first: usually a small part of the keys.
CREATE INDEX api_keys_revoked_created_idx ON api_keys (environment_id, created_at DESC, id DESC)
    WHERE revoked_at IS NOT NULL;
CREATE INDEX api_keys_off_created_idx ON api_keys (environment_id, created_at DESC, id DESC)
    WHERE revoked_at IS NULL AND NOT enabled;
