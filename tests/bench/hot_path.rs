//! The verification hot path without I/O: parse and checksum, SHA-256, cache hit, decision.
//! Run: `cargo bench --bench hot_path`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use keyward::domain::api_key::KeyType;
use keyward::domain::key_format::{KeyDigest, KeyPrefix, KeyTag, ParsedKey, PlainApiKey};
use keyward::verify::cache::KeyCache;
use keyward::verify::key_state::KeyState;
use keyward::verify::{Code, Presentation, Purpose, judge};

fn hot_path(c: &mut Criterion) {
    let key = PlainApiKey::from_random(
        &KeyPrefix::default(),
        KeyType::Secret,
        &KeyTag::parse("live").unwrap(),
        &[7; 32],
    );
    let cache = KeyCache::new();
    cache.set_listening(true);
    let state = KeyState {
        key_id: keyward::domain::ids::KeyId(1),
        environment_id: keyward::domain::ids::EnvironmentId(1),
        name: "bench".into(),
        place: cache.place(
            keyward::domain::ids::EnvironmentId(1),
            "default",
            "production",
        ),
        key_type: KeyType::Secret,
        scopes: [
            keyward::domain::api_key::Scope::Read,
            keyward::domain::api_key::Scope::Write,
        ]
        .into_iter()
        .collect(),
        enabled: true,
        revoked: false,
        expires_at: None,
        rate_limit: None,
        quota: None,
        policy: None,
        valid_until: None,
        version: 1,
    };
    // Fill the cache with many other keys so the look-up is not a one-entry toy.
    for i in 0..100_000u32 {
        let mut random = [0u8; 32];
        random[..4].copy_from_slice(&i.to_be_bytes());
        let other = PlainApiKey::from_random(
            &KeyPrefix::default(),
            KeyType::Secret,
            &KeyTag::parse("live").unwrap(),
            &random,
        );
        cache.insert_unless_changed(other.digest(), Some(Arc::new(state.clone())), cache.epoch());
    }
    cache.insert_unless_changed(key.digest(), Some(Arc::new(state)), cache.epoch());
    let presented = key.expose().to_owned();

    c.bench_function("parse + sha256 + cache hit + decision", |b| {
        b.iter(|| {
            let presented = black_box(presented.as_str());
            let parsed = ParsedKey::parse(presented).is_ok();
            let digest = KeyDigest::of(presented);
            let hit = cache.get(&digest).flatten();
            let code = hit.map_or(Code::NotFound, |k| {
                let presented = Presentation {
                    key: Some(presented),
                    environment: Some("production"),
                    scope: Some("write"),
                    ip: None,
                    origin: None,
                    purpose: Purpose::Verify,
                };
                judge(&k, &presented, Utc::now())
            });
            assert!(parsed && code == Code::Valid);
            code
        })
    });
    let digest = key.digest();
    c.bench_function("cache hit only", |b| {
        b.iter(|| cache.get(black_box(&digest)).flatten().is_some())
    });
    c.bench_function("sha256 only", |b| {
        b.iter(|| KeyDigest::of(black_box(presented.as_str())))
    });
    c.bench_function("parse only (garbage is refused here)", |b| {
        b.iter(|| {
            ParsedKey::parse(black_box(
                "kw_sk_live_00000000000000000000000000000000000000000000x9rwA",
            ))
            .is_ok()
        })
    });
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
