-- A quota's count for its current period, shared by every node: `used` is what has been handed
-- out in leases (spent, or still held by a node) minus what came back.
CREATE TABLE quota_budgets (
    api_key_id bigint PRIMARY KEY REFERENCES api_keys (id) ON DELETE CASCADE,
    quota_limit bigint NOT NULL,
    period text NOT NULL,
    period_start timestamptz NOT NULL,
    used bigint NOT NULL
);

-- One lease per node and key: what the node took this period (`amount`) and what it has
-- reported spent. An expired lease's unspent part goes back to the budget.
CREATE TABLE quota_leases (
    api_key_id bigint NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    node_id bigint NOT NULL,
    period_start timestamptz NOT NULL,
    amount bigint NOT NULL,
    spent bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (api_key_id, node_id)
);
