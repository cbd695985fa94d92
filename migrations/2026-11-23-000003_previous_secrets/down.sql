DROP TRIGGER api_keys_version ON api_keys;
DROP FUNCTION api_keys_bump_version();
ALTER TABLE api_keys DROP COLUMN version;
ALTER TABLE api_keys ADD COLUMN previous_digest BYTEA UNIQUE, ADD COLUMN previous_valid_until TIMESTAMPTZ;
UPDATE api_keys k SET previous_digest = p.digest, previous_valid_until = p.valid_until
FROM (SELECT DISTINCT ON (api_key_id) api_key_id, digest, valid_until
      FROM api_key_previous_secrets ORDER BY api_key_id, id DESC) p
WHERE p.api_key_id = k.id;
DROP TABLE api_key_previous_secrets;
