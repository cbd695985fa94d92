-- Events out (SPEC §12): webhook endpoints, their outbox of deliveries, expiry warnings and
-- the leak reports that switched keys off.

CREATE TABLE webhook_endpoints (
    id BIGSERIAL PRIMARY KEY,
    environment_id BIGINT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    -- The event types it receives (api_key.*).
    events TEXT[] NOT NULL,
    -- The whsec_… signing secret, sealed by crate::secret_box (context webhook:<id>).
    secret_sealed BYTEA NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    -- Set when Keyward switched it off itself: every delivery failed for 24 hours.
    disabled_for_failures_at TIMESTAMPTZ,
    -- The first failed attempt since the last successful one.
    failing_since TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_endpoints_environment_idx ON webhook_endpoints (environment_id, id);

-- The outbox: one row per (event, endpoint), written in the transaction of the change.
CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    endpoint_id BIGINT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- evt_…: the same for every endpoint's copy of an event and for a redelivery.
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    -- The JSON body exactly as it is sent.
    payload TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    -- pending, delivered or failed.
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    -- A node delivering it holds it until then; a node that dies leaves it to another after.
    locked_until TIMESTAMPTZ,
    last_attempt_at TIMESTAMPTZ,
    last_status INT,
    last_error TEXT
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id DESC);
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at);

-- One warning per key, threshold and expiry for the whole cluster: whichever node's sweep
-- inserts the row first writes the audit event and the webhook. Setting an expiry inserts
-- `skipped` rows for the thresholds already passed then (SPEC §12); a new expiry re-arms.
CREATE TABLE expiry_warnings (
    api_key_id BIGINT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    days_before INT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    skipped BOOLEAN NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (api_key_id, days_before, expires_at)
);
CREATE INDEX api_keys_expiry_watch_idx ON api_keys (expires_at)
    WHERE revoked_at IS NULL AND expires_at IS NOT NULL;

-- Leak reports that named a key of this installation: the Leaked badge links to the last one.
CREATE TABLE api_key_leaks (
    id BIGSERIAL PRIMARY KEY,
    api_key_id BIGINT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    source TEXT NOT NULL,
    reported_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX api_key_leaks_key_idx ON api_key_leaks (api_key_id, id DESC);
