"""Schemathesis hooks for tests/app/conformance.rs, loaded through SCHEMATHESIS_HOOKS.

They set the two things the OpenAPI document cannot say. Both run just before each request is
sent, so schemathesis judges the request as it goes out (a case whose only fault was its `id`
counts as valid once the `id` is the target's).
"""

import os
from datetime import datetime, timedelta, timezone

import schemathesis

# The one key the fuzzer may change: every `{id}` names it, so PATCH, rotate and DELETE never
# touch the fuzzer's own key.
TARGET_ID = int(os.environ["KEYWARD_FUZZ_TARGET_ID"])


def _instant(text):
    """An RFC 3339 date-time as the server reads it, or None."""
    try:
        at = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.path_parameters and "id" in case.path_parameters:
        case.path_parameters["id"] = TARGET_ID
    # An expiry must lie after "now", a bound a schema cannot state: a date already past is
    # moved a month ahead (the refusal of a past expiry is tested in tests/app/management.rs).
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("expires_at"), str):
        at = _instant(body["expires_at"])
        now = datetime.now(timezone.utc)
        if at is not None and at <= now + timedelta(minutes=1):
            body["expires_at"] = (now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # Origins are for publishable keys, and the target is a secret key: a rule between a body
    # and the key it names that a schema cannot state (refusing them is tested in
    # tests/app/policies.rs).
    if (
        case.method.upper() == "PATCH"
        and isinstance(body, dict)
        and body.get("allowed_origins") is not None
    ):
        body["allowed_origins"] = None
    # PostgreSQL's JSONB cannot hold a NUL character, so the server refuses metadata with one
    # (tested in src/domain/policy.rs); a schema cannot say so about every nested string.
    if isinstance(body, dict) and isinstance(body.get("meta"), dict):
        body["meta"] = _without_nul(body["meta"])


def _without_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value
