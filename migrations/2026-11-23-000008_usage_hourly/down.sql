DROP TABLE api_key_usage_rollup;
DROP INDEX api_key_usage_minute;
DROP TABLE api_key_usage_hourly;
