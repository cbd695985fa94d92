DROP INDEX IF EXISTS api_keys_off_created_idx;
DROP INDEX IF EXISTS api_keys_revoked_created_idx;
DROP INDEX IF EXISTS api_keys_expiring_idx;
DROP INDEX IF EXISTS api_keys_masked_last4_idx;
DROP INDEX IF EXISTS api_keys_masked_trgm_idx;
DROP INDEX IF EXISTS api_keys_description_trgm_idx;
DROP INDEX IF EXISTS api_keys_name_trgm_idx;
-- pg_trgm stays: another schema object may use it, and it costs nothing.
