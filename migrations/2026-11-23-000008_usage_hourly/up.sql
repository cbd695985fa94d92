-- Hourly roll-ups of api_key_usage, kept 90 days; per-minute rows are kept 48 hours.
CREATE TABLE api_key_usage_hourly (
    api_key_id BIGINT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    hour TIMESTAMPTZ NOT NULL CHECK (date_trunc('hour', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' = hour),
    valid BIGINT NOT NULL DEFAULT 0 CHECK (valid >= 0),
    refused BIGINT NOT NULL DEFAULT 0 CHECK (refused >= 0),
    PRIMARY KEY (api_key_id, hour)
);
-- Pruning goes by time across all keys.
CREATE INDEX api_key_usage_hourly_hour ON api_key_usage_hourly (hour);
CREATE INDEX api_key_usage_minute ON api_key_usage (minute);

-- How far the roll-up has got: hours before `rolled_up_to` are read from api_key_usage_hourly,
-- later ones from the minute rows. One row; NULL until the first roll-up.
CREATE TABLE api_key_usage_rollup (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    rolled_up_to TIMESTAMPTZ
);
INSERT INTO api_key_usage_rollup (id, rolled_up_to) VALUES (1, NULL);
