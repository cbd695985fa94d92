-- Who did it and to what, as they were when the event was written (SPEC §10): a renamed key or
-- a deleted user still reads correctly in the trail.
ALTER TABLE audit_events
    ADD COLUMN actor_type TEXT NOT NULL DEFAULT 'system'
        CHECK (actor_type IN ('user', 'api_key', 'leak_report', 'system')),
    ADD COLUMN actor_email TEXT,
    ADD COLUMN actor_key_masked TEXT,
    ADD COLUMN target_type TEXT,
    ADD COLUMN target_id BIGINT,
    ADD COLUMN target_name TEXT,
    ADD COLUMN target_masked TEXT;

-- Fill the snapshots of earlier events once; the append-only trigger steps aside for it alone.
ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete;
UPDATE audit_events e SET
    actor_type = CASE WHEN e.actor_user_id IS NOT NULL THEN 'user'
                      WHEN e.actor_key_id IS NOT NULL THEN 'api_key'
                      ELSE 'system' END,
    actor_email = (SELECT u.email FROM users u WHERE u.id = e.actor_user_id),
    actor_key_masked = (SELECT k.masked FROM api_keys k WHERE k.id = e.actor_key_id),
    target_type = split_part(e.target, ':', 1),
    target_id = NULLIF(split_part(e.target, ':', 2), '')::bigint,
    target_name = COALESCE(e.details::jsonb ->> 'name', e.details::jsonb ->> 'email'),
    target_masked = (SELECT k.masked FROM api_keys k
                     WHERE split_part(e.target, ':', 1) = 'api_key'
                       AND k.id = NULLIF(split_part(e.target, ':', 2), '')::bigint);
ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_or_delete;

-- The Activity tab: newest first per environment, optionally one key's or one action's events.
CREATE INDEX audit_events_environment_id_idx ON audit_events (environment_id, id DESC);
CREATE INDEX audit_events_environment_target_idx
    ON audit_events (environment_id, target_type, target_id, id DESC);
CREATE INDEX audit_events_environment_action_idx ON audit_events (environment_id, action, id DESC);
-- The Admin page: installation-wide events (no environment).
CREATE INDEX audit_events_installation_idx ON audit_events (id DESC) WHERE environment_id IS NULL;
