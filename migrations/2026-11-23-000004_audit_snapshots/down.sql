DROP INDEX audit_events_installation_idx;
DROP INDEX audit_events_environment_action_idx;
DROP INDEX audit_events_environment_target_idx;
DROP INDEX audit_events_environment_id_idx;
ALTER TABLE audit_events
    DROP COLUMN actor_type, DROP COLUMN actor_email, DROP COLUMN actor_key_masked,
    DROP COLUMN target_type, DROP COLUMN target_id, DROP COLUMN target_name, DROP COLUMN target_masked;
