#![no_main]
//! The ES9+ entry point as the HTTP layer calls it (`smdp_core::es9::dispatch`), driven through a
//! whole download: a genuine session (virtual eUICC, recorded once) is replayed against a
//! fresh, seeded SM-DP+, with one step corrupted by the fuzz input — either the DER the
//! eUICC signed (then re-encoded into the JSON) or the JSON text itself — and the steps after
//! it replayed as recorded.
//!
//! Input: byte 0 picks the step (bits 0-1) and the layer (bit 7: JSON text, else DER); then
//! 3-byte edits: a big-endian position (top bit: truncate there instead) and a byte to write.
//!
//! Checked: never a panic or a missing answer; every answer is a well-formed ES9+ response
//! (200 with `Executed-Success` or `Failed`, or 204 for handleNotification); the replay up to
//! the edited step is accepted; a changed prepareDownloadResponse is always refused; a
//! refused getBoundProfilePackage binds nothing; a valid PIR leaves the profile installed,
//! an edited one leaves it downloaded.
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use rsp_asn1::es9::{path, GetBoundProfilePackageResponse};
use rsp_asn1::notification::PendingNotification;
use rsp_auth::pki::Pki;
use rsp_auth::{Backend, Curve};
use serde_json::Value;
use smdp_core::clock::Clock;
use smdp_core::es9::{dispatch as es9_call, Es9Answer, Policy, Smdp};
use smdp_core::store::{NewProfile, Profile, ProfileStatus, Store};
use smdp_store_sqlite::SqliteStore;
use veuicc::{lpa, Euicc};

const MATCHING_ID: &str = "FUZZ-1";
const ICCID: &str = "8900101000000000001";
/// The request field holding what the eUICC signed, per step.
const STEPS: [(&str, &str); 4] = [
    (path::INITIATE_AUTHENTICATION, "euiccInfo1"),
    (path::AUTHENTICATE_CLIENT, "authenticateServerResponse"),
    (path::GET_BOUND_PROFILE_PACKAGE, "prepareDownloadResponse"),
    (path::HANDLE_NOTIFICATION, "pendingNotification"),
];

struct Genuine {
    package: Vec<u8>,
    now: u64,
    /// The four request bodies of one successful download, as JSON values.
    requests: Vec<Value>,
}

/// The order's ICCID, also the package's: the eUICC checks that they agree.
fn iccid() -> String {
    format!("{ICCID}{}", rsp_asn1::ids::luhn_check_digit(ICCID))
}

fn certs() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs")
}

/// A fresh SM-DP+ with one order. Seeded, with deterministic signatures (RustCrypto), so
/// that it answers exactly as it did when the genuine session was recorded.
fn server(g: &Genuine) -> (Smdp, Profile) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().expect("store"));
    let profile = store
        .insert_profile(
            &NewProfile {
                sid: format!("HP{:032x}", 1),
                account_sid: "AC0".into(),
                matching_id: Some(MATCHING_ID.into()),
                iccid: Some(iccid()),
                template: "minimal".into(),
                package: Some(g.package.clone()),
                service_provider_name: "fuzz".into(),
                profile_name: "fuzz".into(),
                max_attempts: 3,
                ..Default::default()
            },
            g.now as i64,
        )
        .expect("order");
    let smdp = Smdp::new(
        "localhost",
        Pki::load(&certs()).expect("PKI"),
        store,
        rsp_auth::rng::rng(Some(1)),
        Clock::manual(g.now),
        Backend::RustCrypto,
        Policy::default(),
    )
    .expect("SM-DP+");
    (smdp, profile)
}

fn json_answer(a: Option<Es9Answer>) -> Value {
    match a.expect("an ES9+ path always gets an answer") {
        Es9Answer::Json(body) => serde_json::from_slice(&body).expect("answers are JSON"),
        Es9Answer::NoContent => panic!("only handleNotification answers 204"),
        Es9Answer::Faulted(..) => panic!("the fuzz orders carry no scripted faults"),
        Es9Answer::Asn1(_) | Es9Answer::BadRequest(_) => {
            panic!("a JSON path answers JSON, never the ASN.1 binding")
        }
    }
}

fn executed(v: &Value) -> bool {
    match v["header"]["functionExecutionStatus"]["status"].as_str() {
        Some("Executed-Success") => true,
        Some("Failed") => false,
        other => panic!("functionExecutionStatus.status {other:?}: {v}"),
    }
}

fn record() -> Genuine {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let package = rsp_saip::MinimalUsim {
        iccid: iccid(),
        ..Default::default()
    }
    .build()
    .expect("profile")
    .to_der();
    let mut g = Genuine {
        package,
        now,
        requests: Vec::new(),
    };
    let (smdp, _) = server(&g);
    let at = UNIX_EPOCH + Duration::from_secs(now);
    let mut rng = rsp_auth::rng::rng(Some(2));
    let pki = Pki::load(&certs()).expect("PKI");
    let mut e = Euicc::from_pki(&pki, Curve::NistP256, Backend::RustCrypto, at).expect("eUICC");
    let call = |path: &str, req: &Value| {
        json_answer(es9_call(&smdp, path, &serde_json::to_vec(req).unwrap()))
    };
    let init_req = serde_json::to_value(
        lpa::initiate_authentication(&mut e, "localhost", &mut rng).expect("request"),
    )
    .unwrap();
    let init = serde_json::from_value(call(path::INITIATE_AUTHENTICATION, &init_req)).unwrap();
    let asr = lpa::authenticate_server_request(
        &init,
        lpa::ctx_params1(Some(MATCHING_ID), lpa::default_device_info()),
    )
    .expect("request");
    let resp = e.authenticate_server(&asr, at);
    let ac_req = serde_json::to_value(
        lpa::authenticate_client_request(&init.transaction_id, &resp).expect("request"),
    )
    .unwrap();
    let auth = serde_json::from_value(call(path::AUTHENTICATE_CLIENT, &ac_req)).unwrap();
    let pdr = lpa::prepare_download_request(&auth, None).expect("request");
    let resp = e.prepare_download(&pdr, None, &mut rng, at);
    let bpp_req = serde_json::to_value(
        lpa::get_bound_profile_package_request(&init.transaction_id, &resp).expect("request"),
    )
    .unwrap();
    let bpp: GetBoundProfilePackageResponse =
        serde_json::from_value(call(path::GET_BOUND_PROFILE_PACKAGE, &bpp_req)).unwrap();
    let pir = e
        .load_bound_profile_package(&bpp.bound_profile_package.decode().expect("BPP"))
        .expect("install");
    let pir_req = serde_json::to_value(
        lpa::handle_notification_request(&PendingNotification::ProfileInstallationResult(pir))
            .expect("request"),
    )
    .unwrap();
    g.requests = vec![init_req, ac_req, bpp_req, pir_req];
    g
}

/// Applies the 3-byte edits to `bytes`.
fn edit(bytes: &mut Vec<u8>, edits: &[u8]) {
    for e in edits.chunks_exact(3) {
        if bytes.is_empty() {
            return;
        }
        let pos = usize::from(u16::from_be_bytes([e[0] & 0x7F, e[1]])) % bytes.len();
        if e[0] & 0x80 != 0 {
            bytes.truncate(pos);
        } else {
            bytes[pos] = e[2];
        }
    }
}

fuzz_target!(|data: &[u8]| {
    static GENUINE: OnceLock<Genuine> = OnceLock::new();
    let g = GENUINE.get_or_init(record);
    let Some((&selector, edits)) = data.split_first() else {
        return;
    };
    let step = usize::from(selector & 3);
    let (smdp, profile) = server(g);
    for (i, ((path, field), genuine)) in STEPS.iter().zip(&g.requests).enumerate() {
        let genuine_body = serde_json::to_vec(genuine).unwrap();
        let mut body = genuine_body.clone();
        let mut der_changed = false;
        if i == step {
            if selector & 0x80 != 0 {
                edit(&mut body, edits);
            } else {
                let b64 = genuine[field].as_str().expect("base64 field");
                let original = rsp_asn1::es9::base64_decode(b64).expect("genuine base64");
                let mut der = original.clone();
                edit(&mut der, edits);
                der_changed = der != original;
                let mut req = genuine.clone();
                req[field] = Value::String(rsp_asn1::es9::base64_encode(&der));
                body = serde_json::to_vec(&req).unwrap();
            }
        }
        let answer = es9_call(&smdp, path, &body);
        if *path == path::HANDLE_NOTIFICATION {
            assert_eq!(answer, Some(Es9Answer::NoContent));
            let status = smdp.store.profile(profile.id).unwrap().unwrap().status;
            if step == 3 && der_changed {
                assert_eq!(
                    status,
                    ProfileStatus::Downloaded,
                    "an edited PIR was recorded"
                );
            } else if step == 3 && body == genuine_body {
                assert_eq!(
                    status,
                    ProfileStatus::Installed,
                    "the genuine PIR was not recorded"
                );
            }
            continue;
        }
        let ok = executed(&json_answer(answer));
        // Up to the edited step the replay is exact, so the seeded server must accept it:
        // otherwise this target would only ever exercise refusals.
        if i <= step && body == genuine_body {
            assert!(ok, "step {i}: the genuine request was refused on replay");
        }
        if *path == path::GET_BOUND_PROFILE_PACKAGE && i == step {
            assert!(
                !(der_changed && ok),
                "a changed prepareDownloadResponse was accepted"
            );
            if !ok {
                let p = smdp.store.profile(profile.id).unwrap().unwrap();
                assert_ne!(
                    p.status,
                    ProfileStatus::Downloaded,
                    "a refused request bound it"
                );
            }
        }
    }
});
