-- Per-key, per-minute verification counts by outcome code, written in batches by each node.
CREATE TABLE api_key_usage (
    api_key_id BIGINT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    minute TIMESTAMPTZ NOT NULL,
    code TEXT NOT NULL,
    count BIGINT NOT NULL CHECK (count >= 0),
    PRIMARY KEY (api_key_id, minute, code)
);
