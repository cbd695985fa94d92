DROP TABLE api_key_leaks;
DROP INDEX api_keys_expiry_watch_idx;
DROP TABLE expiry_warnings;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
