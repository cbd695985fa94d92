-- One token bucket per rate-limited key, shared by every node: capacity N tokens, refilled
-- continuously at N per minute. Nodes take slices of it in one statement and serve them from
-- memory; `refilled_at` is the (injectable) clock time the tokens were last brought up to date.
CREATE TABLE rate_buckets (
    api_key_id bigint PRIMARY KEY REFERENCES api_keys (id) ON DELETE CASCADE,
    capacity double precision NOT NULL,
    tokens double precision NOT NULL,
    -- What the latest reservation took (RETURNING reads it; the new tokens alone cannot say).
    granted double precision NOT NULL DEFAULT 0,
    refilled_at timestamptz NOT NULL
);
