#![no_main]
//! ES9+ as a TLS listener serves it, in process: `smdp_server::http::Router` (path, method,
//! Content-Type and X-Admin-Protocol checks, the body cap, then the function) with arbitrary
//! method, path, headers and JSON body, against one long-lived SM-DP+ holding one order.
//!
//! Input: byte 0 picks the method, byte 1 the path (an ES9+ function, or an unknown path); then
//! `name: value` header lines up to a 0xFF byte; the rest is the body.
//!
//! Checked: never a panic, never a 5xx; every answer is one the HTTP layer documents (200 JSON
//! with `header.functionExecutionStatus.status` Executed-Success or Failed and X-Admin-Protocol,
//! 204 for handleNotification only, or a plain 400/404/405/413/415).
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::Service;
use libfuzzer_sys::fuzz_target;
use rsp_asn1::es9::path;
use rsp_auth::pki::Pki;
use rsp_auth::Backend;
use smdp_core::clock::Clock;
use smdp_core::es9::{Policy, Smdp};
use smdp_core::store::{NewProfile, Store};
use smdp_server::http::{Router, Services};
use smdp_store_sqlite::SqliteStore;

/// A small cap, so that oversized bodies are reachable.
const MAX_BODY: usize = 4096;

fn router() -> &'static (Router, tokio::runtime::Runtime) {
    static R: OnceLock<(Router, tokio::runtime::Runtime)> = OnceLock::new();
    R.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
        let package = rsp_saip::MinimalUsim::default().build().unwrap().to_der();
        store
            .insert_profile(
                &NewProfile {
                    sid: format!("HP{:032x}", 1),
                    account_sid: "AC0".into(),
                    matching_id: Some("FUZZ-1".into()),
                    template: "minimal".into(),
                    package: Some(package),
                    max_attempts: 3,
                    ..Default::default()
                },
                1_800_000_000,
            )
            .unwrap();
        let smdp = Smdp::new(
            "localhost",
            Pki::load(&dir).unwrap(),
            store,
            rsp_auth::rng::rng(Some(1)),
            Clock::manual(1_800_000_000),
            Backend::RustCrypto,
            Policy::default(),
        )
        .unwrap();
        let router = Router {
            services: Services {
                es9: Some(Arc::new(smdp)),
                rest: None,
                es2: None,
            },
            scheme: "https",
            max_body: MAX_BODY,
            body_timeout: std::time::Duration::from_secs(5),
            peer: Some(std::net::Ipv4Addr::LOCALHOST.into()),
            requester: None,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        (router, rt)
    })
}

fuzz_target!(|data: &[u8]| {
    let (router, rt) = router();
    let [m, p, rest @ ..] = data else { return };
    let methods = ["POST", "GET", "PUT", "HEAD", "OPTIONS", "post"];
    let method = methods[usize::from(*m) % methods.len()];
    let paths: Vec<&str> = path::ALL
        .iter()
        .copied()
        .chain(["/gsma/rsp2/es9plus/x", "/"])
        .collect();
    let uri = paths[usize::from(*p) % paths.len()];
    let (head, body) = match rest.iter().position(|b| *b == 0xFF) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&[][..], rest),
    };
    let mut b = hyper::Request::builder().method(method).uri(uri);
    for line in String::from_utf8_lossy(head).lines() {
        if let Some((k, v)) = line.split_once(':') {
            b = b.header(k.trim(), v.trim());
        }
    }
    let Ok(req) = b.body(Full::new(Bytes::copy_from_slice(body))) else {
        return; // not a request hyper would have parsed
    };
    let Ok(resp) = rt.block_on(router.call(req)) else {
        panic!("no scripted faults here: every request is answered");
    };
    let status = resp.status().as_u16();
    let admin = resp.headers().get("x-admin-protocol").cloned();
    let bytes = rt.block_on(resp.into_body().collect()).unwrap().to_bytes();
    match status {
        200 => {
            assert!(admin.is_some());
            let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON answer");
            let s = v["header"]["functionExecutionStatus"]["status"].as_str();
            assert!(matches!(s, Some("Executed-Success" | "Failed")), "{v}");
        }
        204 => assert_eq!(uri, path::HANDLE_NOTIFICATION),
        400 | 404 | 405 | 413 | 415 => {}
        other => panic!("HTTP {other}: {}", String::from_utf8_lossy(&bytes)),
    }
});
