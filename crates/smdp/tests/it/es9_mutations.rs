//! Every one-byte corruption of what an eUICC sends, fed to the ES9+ handlers in process:
//! each answer is a row of the error table (or, for a byte nothing covers, success), never a
//! panic, and nothing is bound or recorded by a request that failed.

use std::collections::BTreeMap;

use crate::common::*;
use rsp_asn1::es9::{Der, HandleNotificationRequest};
use rsp_asn1::notification::PendingNotification;
use rsp_auth::Curve;
use smdp_core::status::Failure;
use smdp_core::store::ProfileStatus;

/// Counts outcomes by (subject, reason) or "ok".
fn tally(t: &mut BTreeMap<String, usize>, r: &Result<impl Sized, Failure>) {
    let key = match r {
        Ok(_) => "ok".to_string(),
        Err(f) => format!("{}/{}", f.subject_reason().0, f.subject_reason().1),
    };
    *t.entry(key).or_default() += 1;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_authenticate_server_responses() {
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(by_matching_id("MUT-1"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let smdp = server.smdp.clone();
    let mut seen = BTreeMap::new();
    // One template response to learn the length; each case gets a fresh session.
    let init = lpa.initiate().await.unwrap();
    let len = lpa
        .authenticate_client_request(&init, Some("MUT-1"))
        .authenticate_server_response
        .as_bytes()
        .len();
    for i in (0..len).step_by(3) {
        let init = lpa.initiate().await.unwrap();
        let mut req = lpa.authenticate_client_request(&init, Some("MUT-1"));
        let mut der = req.authenticate_server_response.as_bytes().to_vec();
        der[i] ^= 0xA5;
        req.authenticate_server_response = Der::from_bytes(der);
        let s2 = smdp.clone();
        let r = tokio::task::spawn_blocking(move || s2.authenticate_client(&req))
            .await
            .expect("no panic");
        tally(&mut seen, &r);
    }
    // Every corruption is caught: the signed bytes, the certificates and the structure all
    // have an owner.
    assert!(!seen.contains_key("ok"), "{seen:?}");
    for code in seen.keys() {
        assert!(
            [
                "1.6/2.1",
                "8.1/6.1",
                "8.1.2/6.1",
                "8.1.3/6.1",
                "8.11.1/3.9",
                "8.10.1/3.9",
                "8.1.3/6.3",
                "8.1.2/6.3"
            ]
            .contains(&code.as_str()),
            "unexpected {code}: {seen:?}"
        );
    }
    assert_eq!(server.profile(&order).status, ProfileStatus::Available);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_prepare_download_responses_and_pirs() {
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(by_matching_id("MUT-2"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::BrainpoolP256r1);
    let smdp = server.smdp.clone();
    let mut seen = BTreeMap::new();
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("MUT-2")).await.unwrap();
    let good = lpa.get_bpp_request(&auth, None);
    let der = good.prepare_download_response.as_bytes().to_vec();
    // The session survives refused requests (no binding happens), so one session serves
    // every corruption.
    for i in 0..der.len() {
        let mut bad = der.clone();
        bad[i] ^= 0x5A;
        let mut req = good.clone();
        req.prepare_download_response = Der::from_bytes(bad);
        let s2 = smdp.clone();
        let r = tokio::task::spawn_blocking(move || s2.get_bound_profile_package(&req))
            .await
            .expect("no panic");
        tally(&mut seen, &r);
        assert_eq!(
            server.profile(&order).status,
            ProfileStatus::Available,
            "byte {i}: a refused request bound the profile ({seen:?})"
        );
    }
    assert!(!seen.contains_key("ok"), "{seen:?}");
    // The genuine one still works afterwards, and installs.
    let bpp = lpa
        .client
        .call::<_, rsp_asn1::es9::GetBoundProfilePackageResponse>(
            rsp_asn1::es9::path::GET_BOUND_PROFILE_PACKAGE,
            &good,
        )
        .await
        .unwrap();
    let pir = lpa
        .euicc
        .load_bound_profile_package(&bpp.bound_profile_package.decode().unwrap())
        .unwrap();
    let n = PendingNotification::ProfileInstallationResult(pir);
    let pir_der = rsp_asn1::encode(&n).unwrap();
    // Corrupted PIRs record nothing.
    let mut refused = 0;
    for i in 0..pir_der.len() {
        let mut bad = pir_der.clone();
        bad[i] ^= 0x33;
        let req = HandleNotificationRequest {
            header: None,
            pending_notification: Der::from_bytes(bad),
        };
        let s2 = smdp.clone();
        let r = tokio::task::spawn_blocking(move || s2.handle_notification(&req))
            .await
            .expect("no panic");
        refused += usize::from(r.is_err());
        assert_eq!(
            server.profile(&order).status,
            ProfileStatus::Downloaded,
            "byte {i}"
        );
    }
    assert_eq!(refused, pir_der.len());
    lpa.notify(&n).await;
    assert_eq!(server.profile(&order).status, ProfileStatus::Installed);
    server.stop().await;
}
