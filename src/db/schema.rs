// @generated automatically by Diesel CLI.

diesel::table! {
    api_keys (id) {
        id -> Int8,
        environment_id -> Int8,
        name -> Text,
        description -> Text,
        key_type -> Text,
        scopes -> Array<Text>,
        digest -> Bytea,
        masked -> Text,
        enabled -> Bool,
        expires_at -> Nullable<Timestamptz>,
        rate_limit_per_minute -> Nullable<Int4>,
        revoked_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        version -> Int8,
        allowed_ips -> Nullable<Array<Text>>,
        allowed_origins -> Nullable<Array<Text>>,
        quota_limit -> Nullable<Int8>,
        quota_period -> Nullable<Text>,
        owner_id -> Nullable<Text>,
        meta -> Nullable<Jsonb>,
        last_used_ip -> Nullable<Text>,
    }
}

diesel::table! {
    api_key_previous_secrets (id) {
        id -> Int8,
        api_key_id -> Int8,
        digest -> Bytea,
        valid_until -> Timestamptz,
    }
}

diesel::table! {
    api_key_leaks (id) {
        id -> Int8,
        api_key_id -> Int8,
        url -> Text,
        source -> Text,
        reported_at -> Timestamptz,
    }
}

diesel::table! {
    api_key_usage (api_key_id, minute, code) {
        api_key_id -> Int8,
        minute -> Timestamptz,
        code -> Text,
        count -> Int8,
    }
}

diesel::table! {
    api_key_usage_hourly (api_key_id, hour) {
        api_key_id -> Int8,
        hour -> Timestamptz,
        valid -> Int8,
        refused -> Int8,
    }
}

diesel::table! {
    api_key_usage_rollup (id) {
        id -> Int2,
        rolled_up_to -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Int8,
        occurred_at -> Timestamptz,
        actor_user_id -> Nullable<Int8>,
        actor_key_id -> Nullable<Int8>,
        client_ip -> Nullable<Text>,
        environment_id -> Nullable<Int8>,
        target -> Text,
        action -> Text,
        details -> Text,
        actor_type -> Text,
        actor_email -> Nullable<Text>,
        actor_key_masked -> Nullable<Text>,
        target_type -> Nullable<Text>,
        target_id -> Nullable<Int8>,
        target_name -> Nullable<Text>,
        target_masked -> Nullable<Text>,
    }
}

diesel::table! {
    environments (id) {
        id -> Int8,
        project_id -> Int8,
        slug -> Text,
        name -> Text,
        key_tag -> Text,
        position -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    expiry_warnings (api_key_id, days_before, expires_at) {
        api_key_id -> Int8,
        days_before -> Int4,
        expires_at -> Timestamptz,
        skipped -> Bool,
        at -> Timestamptz,
    }
}

diesel::table! {
    memberships (user_id, environment_id) {
        user_id -> Int8,
        environment_id -> Int8,
        role -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    projects (id) {
        id -> Int8,
        slug -> Text,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    recovery_codes (user_id, digest) {
        user_id -> Int8,
        digest -> Bytea,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sessions (id_digest) {
        id_digest -> Bytea,
        user_id -> Nullable<Int8>,
        state -> Text,
        expires_at -> Timestamptz,
        handle -> Nullable<Text>,
        signed_in_at -> Nullable<Timestamptz>,
        last_seen_at -> Nullable<Timestamptz>,
        user_agent -> Nullable<Text>,
        client_ip -> Nullable<Text>,
    }
}

diesel::table! {
    settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        email -> Text,
        display_name -> Text,
        password_hash -> Text,
        is_admin -> Bool,
        disabled_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        must_change_password -> Bool,
        totp_secret -> Nullable<Bytea>,
        totp_last_step -> Nullable<Int8>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Int8,
        endpoint_id -> Int8,
        event_id -> Text,
        event_type -> Text,
        payload -> Text,
        created_at -> Timestamptz,
        state -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
        last_attempt_at -> Nullable<Timestamptz>,
        last_status -> Nullable<Int4>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Int8,
        environment_id -> Int8,
        url -> Text,
        events -> Array<Text>,
        secret_sealed -> Bytea,
        enabled -> Bool,
        disabled_for_failures_at -> Nullable<Timestamptz>,
        failing_since -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    quota_budgets (api_key_id) {
        api_key_id -> Int8,
        quota_limit -> Int8,
        period -> Text,
        period_start -> Timestamptz,
        used -> Int8,
    }
}

diesel::table! {
    quota_leases (api_key_id, node_id) {
        api_key_id -> Int8,
        node_id -> Int8,
        period_start -> Timestamptz,
        amount -> Int8,
        spent -> Int8,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    rate_buckets (api_key_id) {
        api_key_id -> Int8,
        capacity -> Float8,
        tokens -> Float8,
        granted -> Float8,
        refilled_at -> Timestamptz,
    }
}

diesel::joinable!(api_key_leaks -> api_keys (api_key_id));
diesel::joinable!(expiry_warnings -> api_keys (api_key_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_endpoints -> environments (environment_id));
diesel::joinable!(api_key_previous_secrets -> api_keys (api_key_id));
diesel::joinable!(api_key_usage -> api_keys (api_key_id));
diesel::joinable!(api_key_usage_hourly -> api_keys (api_key_id));
diesel::joinable!(api_keys -> environments (environment_id));
diesel::joinable!(api_keys -> users (created_by));
diesel::joinable!(environments -> projects (project_id));
diesel::joinable!(memberships -> environments (environment_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(quota_budgets -> api_keys (api_key_id));
diesel::joinable!(quota_leases -> api_keys (api_key_id));
diesel::joinable!(rate_buckets -> api_keys (api_key_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_key_leaks,
    api_key_previous_secrets,
    api_key_usage,
    api_key_usage_hourly,
    api_key_usage_rollup,
    api_keys,
    audit_events,
    environments,
    expiry_warnings,
    memberships,
    projects,
    quota_budgets,
    quota_leases,
    rate_buckets,
    recovery_codes,
    sessions,
    settings,
    users,
    webhook_deliveries,
    webhook_endpoints,
);
