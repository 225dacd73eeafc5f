//! `smdp serve` as a process, from the workspace root with its embedded defaults (only the port
//! and data folder moved aside): orders added with `smdp profile add` while it runs are
//! downloaded by the test LPA; SIGTERM shuts it down cleanly and the store survives.

use std::process::Command;

use crate::common::*;
use rsp_auth::Curve;

/// A configured account, as in the Twilio spec's examples.
const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOKEN: &str = "test_auth_token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_process_downloads_and_shuts_down_on_sigterm() {
    let data = scratch_dir("smdp-serve");
    let node = ServeProcess::start(
        &data,
        "info",
        &[
            "--account",
            &format!("{ACCOUNT}:{TOKEN}"),
            "--reservation-delay-ms",
            "0",
        ],
    );
    let (es9, rest) = node.clients();
    // An order, added by the CLI against the running server's store.
    let pki = rsp_auth::pki::Pki::load(&our_pki_dir()).unwrap();
    let euicc = veuicc::Euicc::from_pki(
        &pki,
        Curve::NistP256,
        rsp_auth::Backend::AwsLc,
        std::time::SystemTime::now(),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smdp"))
        .args(["profile", "add", "--eid", &euicc.eid().to_string()])
        .env("SMDP_DATA", &data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lpa = Lpa {
        euicc,
        client: es9,
        rng: rsp_auth::rng::rng(Some(77)),
        now: std::time::SystemTime::now(),
        address: ADDRESS.into(),
    };
    lpa.download(None, None).await.unwrap();

    // The configured account reserves through the REST API on its own TLS listener
    // (--rest-tls); the ledger (CLI) shows the charge once the profile is available.
    let auth = basic_auth(ACCOUNT, TOKEN);
    let r = rest
        .request(
            "POST",
            "/v1/ESimProfiles",
            &[
                ("authorization", &auth),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            b"GenerateMatchingId=true".to_vec(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let mut ledger = String::new();
    for _ in 0..400 {
        let out = Command::new(env!("CARGO_BIN_EXE_smdp"))
            .args(["account", "ledger", ACCOUNT])
            .env("SMDP_DATA", &data)
            .output()
            .unwrap();
        ledger = String::from_utf8_lossy(&out.stdout).into_owned();
        if ledger.contains("total: 3.00 USD (1 charges)") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ledger.contains("total: 3.00 USD (1 charges)"), "{ledger}");

    // SIGTERM: graceful shutdown, exit status 0.
    node.signal("TERM");
    let (status, rest) = node.wait();
    assert!(status.success(), "{status:?}");
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");

    // The store kept the outcome.
    let out = Command::new(env!("CARGO_BIN_EXE_smdp"))
        .args(["profile", "list"])
        .env("SMDP_DATA", &data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("installed"), "{text}");
    let _ = std::fs::remove_dir_all(&data);
}
