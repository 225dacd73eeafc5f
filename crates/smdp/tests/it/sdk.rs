//! Third-party clients against the REST API: the official twilio Python SDK
//! (`tests/it/sdk_py/twilio_sdk.py`) and schemathesis with the Super SIM OpenAPI spec from the
//! shared folder. Both are Python packages from `requirements-test.txt`; outside CI
//! (`RSP_REQUIRE_SHARED` unset) a missing package skips with a notice.

use std::process::{Command, Output};

use crate::common::*;
use rsp_auth::Curve;

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether `module` imports; panics in CI when it does not.
fn have(module: &str) -> bool {
    let ok = Command::new(python())
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("RSP_REQUIRE_SHARED").as_deref() == Ok("1") {
            panic!("Python package {module} missing: pip install -r requirements-test.txt");
        }
        eprintln!("NOTICE: Python package {module} not installed; skipping");
    }
    ok
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed:\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_python_sdk() {
    if !have("twilio") || !have("requests_oauthlib") {
        return;
    }
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("sdk");
    let eid = Lpa::new(&server, &our_pki_dir(), Curve::NistP256).eid();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/sdk_py/twilio_sdk.py");
    let mut cmd = Command::new(python());
    cmd.arg(script)
        .env("SMDP_BASE_URL", format!("http://{}", server.rest_addr))
        .env("SMDP_ACCOUNT_SID", &acct.account_sid)
        .env("SMDP_AUTH_TOKEN", &acct.auth_token)
        .env("SMDP_API_KEY", &acct.api_key_sid)
        .env("SMDP_API_SECRET", &acct.api_key_secret)
        .env("SMDP_BEARER", &acct.bearer_token)
        .env("SMDP_CLIENT_ID", &acct.client_id)
        .env("SMDP_CLIENT_SECRET", &acct.client_secret)
        .env("SMDP_EID", &eid)
        .env("SMDP_ADDRESS", &server.smdp.address)
        .env_remove("TWILIO_REGION")
        .env_remove("TWILIO_EDGE");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    check(&out, "twilio_sdk.py");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("twilio SDK: all checks passed"), "{said}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_supersim_api() {
    let Some(shared) = rsp_shared::dir_for_test("Super SIM OpenAPI spec") else {
        return;
    };
    if !have("schemathesis") {
        return;
    }
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("sdk");
    let spec = shared.join("rest/twilio_supersim_v1.openapi.json");
    let reports = std::env::temp_dir().join(format!("smdp-schemathesis-{}", std::process::id()));
    // Run in a fresh folder: schemathesis keeps a crash cache (`.schemathesis/`) in the
    // working directory and replays it first, so a run would depend on earlier runs.
    std::fs::create_dir_all(&reports).unwrap();
    let mut cmd = Command::new(python());
    cmd.current_dir(&reports)
        .args(["-m", "schemathesis.cli", "run"])
        .arg(&spec)
        .args(["--url", &format!("http://{}", server.rest_addr)])
        .args(["--include-path-regex", "^/v1/(ESimProfiles|Sims|Fleets)"])
        .args(["-a", &format!("{}:{}", acct.account_sid, acct.auth_token)])
        // Two checks are off, both for what the spec leaves out: it documents no error
        // responses at all (facts §1.1), so every 400/401/404 is "undocumented"
        // (status_code_conformance); and its schema leaves Eid, PageToken and the
        // Eid-or-GenerateMatchingId rule unconstrained while the product rejects invalid
        // EIDs (check digits), forged page tokens and empty orders with Twilio 400s, which
        // positive_data_acceptance counts as rejecting "valid" data. Everything else runs:
        // response schemas (ST108), auth (ST401), negative data, methods (ST204), crashes.
        .args([
            "--exclude-checks",
            "status_code_conformance,positive_data_acceptance",
        ])
        // A fixed example budget, not a time budget: with a seed, the same cases run on
        // any machine however loaded (a time budget made the generated set vary).
        .args([
            "--max-examples",
            "300",
            "--phases",
            "examples,coverage,fuzzing",
            "-w",
            "1",
        ])
        .args([
            "--seed",
            &std::env::var("ST_SEED").unwrap_or("1".into()),
            "--no-color",
        ])
        // The JUnit report names the offending component, which the CLI output leaves out.
        .args(["--generation-database", "none"])
        .args(["--report", "junit", "--report-dir"])
        .arg(&reports)
        .env("SCHEMATHESIS_HOOKS", "");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    if !out.status.success() {
        for f in std::fs::read_dir(&reports).into_iter().flatten().flatten() {
            eprintln!("{}", std::fs::read_to_string(f.path()).unwrap_or_default());
        }
    }
    let _ = std::fs::remove_dir_all(&reports);
    check(&out, "schemathesis");
    server.stop().await;
}
