//! The API against its own OpenAPI document, as a fuzzer sees it: schemathesis (installed by
//! `.ci/test`, found through `KEYWARD_SCHEMATHESIS`) generates valid and invalid requests for
//! every operation and checks every answer against the document.

use std::time::Instant;

use keyward::domain::ids::KeyId;
use reqwest::{Method, StatusCode};

use crate::helpers::*;

/// Test cases per operation and phase: enough to reach every documented answer, few enough to
/// finish in a few minutes on two cores.
const MAX_EXAMPLES: &str = "100";
/// The same inputs on every run, so a failure reproduces; `KEYWARD_SCHEMATHESIS_SEED` explores.
const SEED: &str = "20240601";

fn schemathesis() -> String {
    std::env::var("KEYWARD_SCHEMATHESIS").unwrap_or_else(|_| {
        panic!(
            "KEYWARD_SCHEMATHESIS is not set: this test runs the schemathesis CLI against the API. \
             Run `bash .ci/test`, which installs it (pinned) under target/schemathesis-venv and \
             sets KEYWARD_SCHEMATHESIS=target/schemathesis-venv/bin/st; or set it yourself."
        )
    })
}

/// The key as the management API shows it, read with `admin`.
async fn key_json(base: &str, admin: &str, id: KeyId) -> serde_json::Value {
    let r = api(
        base,
        Method::GET,
        &format!("/api/v1/api-keys/{id}"),
        Some(admin),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    r.json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_the_api_as_its_openapi_document_says() {
    let st = schemathesis();
    let app = spawn_app().await;
    let base = &app.address;
    let (fuzzer_id, fuzzer_key) = make_key(&app, ENV, "fuzzer", &["admin"], None);
    let (target_id, _) = make_key(&app, ENV, "fuzz target", &["read", "write"], Some(600));
    let fuzzer_before = key_json(base, &fuzzer_key, fuzzer_id).await;

    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/schemathesis.toml"
    );
    let hooks = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/hooks.py");
    let seed = std::env::var("KEYWARD_SCHEMATHESIS_SEED").unwrap_or_else(|_| SEED.to_owned());
    let schema = format!("{base}/api/v1/openapi.json");
    let args = [
        "--config-file",
        config,
        "run",
        &schema,
        "--checks",
        "all",
        // All but one: `use_after_free` expects a DELETEd resource to answer 404 afterwards, but
        // DELETE revokes (SPEC §6) and a revoked key stays readable, `"status": "revoked"`
        // (SPEC §1, §9); tests/app/management.rs checks that answer.
        "--exclude-checks",
        "use_after_free",
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        &seed,
        // One worker: hypothesis describes strategies with `ast.parse`, which CPython 3.11 does
        // not run safely from two threads at once ("AST constructor recursion depth mismatch").
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
        "--no-color",
    ];
    println!("running: {st} {}", args.join(" "));
    let started = Instant::now();
    // A scratch directory as the working directory: nothing lands in the checkout.
    let scratch = std::env::temp_dir().join(format!("keyward-schemathesis-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let output = tokio::process::Command::new(&st)
        .args(args)
        .current_dir(&scratch)
        .env("SCHEMATHESIS_HOOKS", hooks)
        .env("KEYWARD_FUZZ_KEY", &fuzzer_key)
        .env("KEYWARD_FUZZ_TARGET_ID", target_id.to_string())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("could not start {st}: {e}"));
    let _ = std::fs::remove_dir_all(&scratch);
    // Its report shows answers in full; the plaintexts of create and rotate stay out of it.
    let plaintext = regex::Regex::new(r"[a-z]{2,8}_(sk|pk)_[a-z0-9]{1,8}_[0-9A-Za-z]{49}").unwrap();
    for stream in [&output.stdout, &output.stderr] {
        println!(
            "{}",
            plaintext.replace_all(&String::from_utf8_lossy(stream), "(a key, redacted)")
        );
    }
    println!("schemathesis took {:.0?}", started.elapsed());
    assert!(
        output.status.success(),
        "schemathesis found the API and its document disagreeing ({}); its report is above",
        output.status
    );

    // The fuzzer changed only its target: its own key still works, unchanged.
    let fuzzer_after = key_json(base, &fuzzer_key, fuzzer_id).await;
    for field in [
        "status",
        "masked",
        "name",
        "expires_at",
        "rate_limit_per_minute",
    ] {
        assert_eq!(fuzzer_after[field], fuzzer_before[field], "{field}");
    }
    // It reached the state-changing routes on the key it was given.
    let target_events: Vec<String> =
        keyward::db::audit::list_for_environment(&mut app.conn(), app.environment_id(ENV))
            .unwrap()
            .into_iter()
            .filter(|e| e.target == format!("api_key:{target_id}"))
            .map(|e| e.action)
            .collect();
    assert!(
        target_events.iter().any(|a| a == "api_key.revoked"),
        "the fuzzer revoked its target: {target_events:?}"
    );
}
