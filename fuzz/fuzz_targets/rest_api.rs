#![no_main]
//! The operator REST API as the HTTP layer calls it (`smdp_operator::rest::Operator::call`),
//! with arbitrary method, path, query, headers and form body, against a store that holds two
//! accounts and a few profiles (one created through the API first), restored before each
//! input.
//!
//! Input, split at 0xFF: method (its first byte picks one of eight, or the text itself), path
//! (used as is when it starts with `/`, else prefixed with `/v1/`; `{sid}` is the profile made
//! first), query, headers (`name: value` lines), the body; the account's real credentials are
//! sent unless a header line overrides them.
//!
//! Checked: never a panic, never a 500; every error is a Twilio JSON body with `code`,
//! `message` and `status` equal to the HTTP status (or an OAuth `invalid_client` 401); every
//! success is JSON, an image, or a subscriber export (CSV, JSON lines, text); nothing the
//! fuzzer sends makes an account see another account's profile.
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use rsp_auth::pki::Pki;
use rsp_auth::Backend;
use smdp_core::clock::Clock;
use smdp_core::es9::{Policy, Smdp};
use smdp_core::store::OperatorStore;
use smdp_operator::rest::Operator;
use smdp_store_sqlite::SqliteStore;

const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const OTHER: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const TOKEN: &str = "token";

/// The SM-DP+ and its REST API, built once per process, and the store as it was after the
/// setup (two accounts, one profile created through the API). Building them per input cost
/// 90 % of the time (the schema, the PKI's keys).
struct Fixture {
    op: Arc<Operator>,
    store: Arc<SqliteStore>,
    template: SqliteStore,
    sid: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs");
        let pki = Pki::load(&dir).unwrap();
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        store.ensure_account(ACCOUNT, TOKEN, 0).unwrap();
        store.ensure_account(OTHER, TOKEN, 0).unwrap();
        let clock = Clock::manual(1_800_000_000);
        let smdp = Smdp::new(
            "localhost:8443",
            pki,
            store.clone(),
            rsp_auth::rng::rng(Some(1)),
            clock,
            Backend::RustCrypto,
            Policy::default(),
        )
        .unwrap();
        let op = Arc::new(Operator {
            smdp: Arc::new(smdp),
            store: store.clone(),
            wake: Arc::new(|| {}),
            template: "minimal".into(),
            max_attempts: 5,
            public_url: None,
            node: "fuzz".into(),
            token_ttl: 3600,
            preinstalled_charge_cents: 300,
            fixtures: None,
            egress: smdp_operator::egress::EgressPolicy::default()
                .with_resolver(Arc::new(smdp_operator::egress::NoResolver)),
        });
        // One profile made through the API, so fetches, lists and releases find something.
        let parts = request(
            "POST",
            "/v1/ESimProfiles",
            &[(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            Some(&basic(ACCOUNT)),
        )
        .unwrap();
        let created = op.call(&parts, b"GenerateMatchingId=true&Released=false", "http");
        assert_eq!(created.status(), 201);
        let sid = serde_json::from_slice::<serde_json::Value>(created.body()).unwrap()["sid"]
            .as_str()
            .unwrap()
            .to_string();
        let template = SqliteStore::in_memory().unwrap();
        template.restore_from(&store).unwrap();
        Fixture {
            op,
            store,
            template,
            sid,
        }
    })
}

fn request(
    method: &str,
    uri: &str,
    headers: &[(String, String)],
    auth: Option<&str>,
) -> Option<http::request::Parts> {
    let mut b = http::Request::builder().method(method).uri(uri);
    b = b.header("host", "localhost:8080");
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    for (k, v) in headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(()).ok().map(|r| r.into_parts().0)
}

fn basic(user: &str) -> String {
    format!(
        "Basic {}",
        rsp_asn1::es9::base64_encode(format!("{user}:{TOKEN}").as_bytes())
    )
}

fn check(status: http::StatusCode, headers: &http::HeaderMap, body: &[u8]) {
    assert_ne!(
        status,
        http::StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        String::from_utf8_lossy(body)
    );
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let export = ["text/csv", "text/plain", "application/x-ndjson"].contains(&ct);
    if status.is_success() && (ct.starts_with("image/") || export) {
        return;
    }
    let v: serde_json::Value = serde_json::from_slice(body).expect("JSON body");
    // The OAuth token endpoint's client errors (RFC 6749 §5.2): 401 invalid_client.
    if v.get("error").is_some() {
        assert_eq!(status, http::StatusCode::UNAUTHORIZED, "{v}");
        assert!(
            v["error"].is_string() && v["error_description"].is_string(),
            "{v}"
        );
        return;
    }
    if !status.is_success() {
        assert_eq!(v["status"], status.as_u16(), "{v}");
        assert!(v["code"].is_u64() && v["message"].is_string(), "{v}");
    }
}

fuzz_target!(|data: &[u8]| {
    // Runs must not share state: every input starts from the same store and random stream
    // (the REST API keeps nothing else between calls).
    let f = fixture();
    f.store.restore_from(&f.template).unwrap();
    *f.op.smdp.rng() = rsp_auth::rng::rng(Some(2));
    let (op, sid) = (&f.op, &f.sid);

    let mut fields = data.split(|b| *b == 0xFF);
    let method_raw = fields.next().unwrap_or_default();
    let path_raw = fields.next().unwrap_or_default();
    let query = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let header_text = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let body: Vec<u8> = fields
        .flat_map(|f| f.iter().copied().chain([0xFF]))
        .collect();
    let methods = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get",
    ];
    let method = match method_raw.first() {
        Some(b) if method_raw.len() == 1 => methods[usize::from(*b) % methods.len()].to_string(),
        _ => String::from_utf8_lossy(method_raw).into_owned(),
    };
    let path_text = String::from_utf8_lossy(path_raw).replace("{sid}", sid);
    let path = if path_text.starts_with('/') {
        path_text
    } else {
        format!("/v1/{path_text}")
    };
    let uri = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    let headers: Vec<(String, String)> = header_text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let overrides_auth = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
    let auth = basic(ACCOUNT);
    let Some(parts) = request(
        &method,
        &uri,
        &headers,
        (!overrides_auth).then_some(auth.as_str()),
    ) else {
        return; // not an HTTP request hyper would have parsed
    };
    let r = op.call(&parts, &body, "http");
    check(r.status(), r.headers(), r.body());

    // Whatever happened, the other account still cannot see the profile.
    let parts = request(
        "GET",
        &format!("/v1/ESimProfiles/{sid}"),
        &[],
        Some(&basic(OTHER)),
    )
    .unwrap();
    assert_eq!(op.call(&parts, b"", "http").status(), 404);
});
