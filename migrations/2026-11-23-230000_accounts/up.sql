-- Accounts that protect the keys (SPEC §14).

-- What the account page's Sessions list shows. Written when a session starts and then at most
-- once a minute per session (the session's own state change carries it), never per request.
ALTER TABLE sessions
    ADD COLUMN handle TEXT,
    ADD COLUMN signed_in_at TIMESTAMPTZ,
    ADD COLUMN last_seen_at TIMESTAMPTZ,
    ADD COLUMN user_agent TEXT,
    ADD COLUMN client_ip TEXT;

ALTER TABLE users
    -- Set by an administrator's password reset: the next sign-in must choose a new password.
    ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    -- The TOTP secret sealed with KEYWARD_SECRET_KEY (context `totp:user:<id>`); NULL = off.
    ADD COLUMN totp_secret BYTEA,
    -- The last accepted time step: a code is never accepted twice.
    ADD COLUMN totp_last_step BIGINT;

-- Single-use recovery codes, kept only as SHA-256 digests.
CREATE TABLE recovery_codes (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest BYTEA NOT NULL,
    used_at TIMESTAMPTZ,
    PRIMARY KEY (user_id, digest)
);
