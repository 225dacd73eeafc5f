//! ES9+ end to end over TLS: a spawned `smdp` server and a test LPA driving the virtual eUICC.
//! Full downloads (matching ID, default SM-DP+, confirmation code, both curves, both PKIs),
//! cancel, notifications, download-once under races, and the error rows of the digest's §2
//! table that ES9+ can produce, each asserted by its subject/reason code.

use std::time::Duration;

use crate::common::*;
use rsp_asn1::es9::path;
use rsp_asn1::notification::CancelSessionReason;
use rsp_auth::Curve;
use smdp_core::orders::OrderRequest;
use smdp_core::store::ProfileStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_by_matching_id_installs_once() {
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(by_matching_id("MID-1"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    lpa.download(Some("MID-1"), None).await.unwrap();
    let p = server.profile(&order);
    assert_eq!(p.status, ProfileStatus::Installed);
    assert_eq!(
        p.eid.map(|e| e.to_string()).as_deref(),
        Some(lpa.eid().as_str()),
        "bound to the eUICC"
    );
    assert_eq!(p.attempts, 1);
    let installed = lpa.euicc.installed_profiles();
    assert_eq!(installed.len(), 1);
    assert_eq!(installed[0].iccid.to_string(), p.iccid.clone().unwrap());
    assert_eq!(
        installed[0].package,
        server.smdp.store.package(p.id).unwrap().unwrap(),
        "the personalised package, byte for byte"
    );
    // Used up: the same matching ID is refused now.
    let mut again = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = again.initiate().await.unwrap();
    assert_failed(
        again.authenticate(&init, Some("MID-1")).await,
        "8.2.6",
        "3.8",
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_smdp_by_eid_on_brainpool() {
    let server = TestServer::start(Options::default()).await;
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::BrainpoolP256r1);
    let order = server.reserve(by_eid(&lpa.eid()));
    lpa.download(None, None).await.unwrap();
    assert_eq!(server.profile(&order).status, ProfileStatus::Installed);
    // The empty matching ID form works too (lpac sends an empty string).
    let second = server.reserve(by_eid(&lpa.eid()));
    lpa.download(Some(""), None).await.unwrap();
    assert_eq!(server.profile(&second).status, ProfileStatus::Installed);
    // Nothing left for this EID.
    let init = lpa.initiate().await.unwrap();
    assert_failed(lpa.authenticate(&init, None).await, "8.1.1", "3.8");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sgp26_pki_on_both_curves() {
    let Some(sgp26) = sgp26_dir() else { return };
    let server = TestServer::start(Options {
        pki: sgp26.clone(),
        ..Default::default()
    })
    .await;
    for curve in [Curve::NistP256, Curve::BrainpoolP256r1] {
        let mut lpa = Lpa::new(&server, &sgp26, curve);
        let order = server.reserve(by_eid(&lpa.eid()));
        lpa.download(None, None).await.unwrap();
        assert_eq!(
            server.profile(&order).status,
            ProfileStatus::Installed,
            "{curve}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_code_missing_refused_then_right() {
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(OrderRequest {
        confirmation_code: Some("12345678".into()),
        ..by_matching_id("CC-1")
    });
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("CC-1")).await.unwrap();
    // The LPA did not ask the user: no hashCc.
    assert_failed(lpa.get_bpp(&auth, None).await, "8.2.7", "2.2");
    // A wrong code, then the right one in the same session (digest §1.5: the session stays).
    assert_failed(lpa.get_bpp(&auth, Some("87654321")).await, "8.2.7", "3.8");
    let bpp = lpa.get_bpp(&auth, Some("12345678")).await.unwrap();
    lpa.install(&bpp).await;
    assert_eq!(server.profile(&order).status, ProfileStatus::Installed);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_code_retries_exceeded_closes_the_order() {
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(OrderRequest {
        confirmation_code: Some("1111".into()),
        ..by_matching_id("CC-2")
    });
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("CC-2")).await.unwrap();
    assert_failed(lpa.get_bpp(&auth, Some("0000")).await, "8.2.7", "3.8");
    assert_failed(lpa.get_bpp(&auth, Some("0001")).await, "8.2.7", "3.8");
    assert_failed(lpa.get_bpp(&auth, Some("0002")).await, "8.2.7", "6.4");
    assert_eq!(server.profile(&order).status, ProfileStatus::Failed);
    // The session is gone, and the order with it.
    assert_failed(lpa.get_bpp(&auth, Some("1111")).await, "8.10.1", "3.9");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_code_cap_holds_across_sessions_and_restarts() {
    let mut server = TestServer::start(Options::default()).await;
    let order = server.reserve(OrderRequest {
        confirmation_code: Some("1111".into()),
        ..by_matching_id("CC-3")
    });
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    // One guess per session: a new session does not reset the count…
    for guess in ["0000", "0001"] {
        let init = lpa.initiate().await.unwrap();
        let auth = lpa.authenticate(&init, Some("CC-3")).await.unwrap();
        assert_failed(lpa.get_bpp(&auth, Some(guess)).await, "8.2.7", "3.8");
        server.restart(Options::default()).await;
        lpa.client = server.client();
    }
    // …nor does a restart: the third wrong code, in a third session, closes the order.
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("CC-3")).await.unwrap();
    assert_failed(lpa.get_bpp(&auth, Some("0002")).await, "8.2.7", "6.4");
    assert_eq!(server.profile(&order).status, ProfileStatus::Failed);
    let init = lpa.initiate().await.unwrap();
    assert!(lpa.authenticate(&init, Some("CC-3")).await.is_err());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_postponed_keeps_the_order_and_end_user_rejection_closes_it() {
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(by_matching_id("CANCEL-1"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("CANCEL-1")).await.unwrap();
    lpa.cancel(&auth.transaction_id, CancelSessionReason::postponed)
        .await
        .unwrap();
    assert_eq!(server.profile(&order).status, ProfileStatus::Available);
    // The session is over: its transaction ID is unknown now.
    assert_failed(lpa.get_bpp(&auth, None).await, "8.10.1", "3.9");
    assert_failed(
        lpa.cancel(&auth.transaction_id, CancelSessionReason::postponed)
            .await,
        "8.10.1",
        "3.9",
    );

    // After a BPP was issued: timeout releases it for a new binding by the same eUICC.
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("CANCEL-1")).await.unwrap();
    lpa.get_bpp(&auth, None).await.unwrap();
    assert_eq!(server.profile(&order).status, ProfileStatus::Downloaded);
    lpa.cancel(&auth.transaction_id, CancelSessionReason::timeout)
        .await
        .unwrap();
    let p = server.profile(&order);
    assert_eq!(p.status, ProfileStatus::Available);
    assert_eq!(
        p.eid.map(|e| e.to_string()).as_deref(),
        Some(lpa.eid().as_str()),
        "still this eUICC's"
    );
    assert!(
        p.kept_binding_for(&lpa.eid().parse().unwrap()),
        "the binding is kept for a retry"
    );

    // End-user rejection: the order fails (the operator must issue a new one).
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("CANCEL-1")).await.unwrap();
    lpa.cancel(&auth.transaction_id, CancelSessionReason::endUserRejection)
        .await
        .unwrap();
    assert_eq!(server.profile(&order).status, ProfileStatus::Failed);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_in_the_same_session_returns_the_same_bpp() {
    let server = TestServer::start(Options::default()).await;
    server.reserve(by_matching_id("RETRY-1"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("RETRY-1")).await.unwrap();
    let req = lpa.get_bpp_request(&auth, None);
    let a: rsp_asn1::es9::GetBoundProfilePackageResponse = lpa
        .client
        .call(path::GET_BOUND_PROFILE_PACKAGE, &req)
        .await
        .unwrap();
    let b: rsp_asn1::es9::GetBoundProfilePackageResponse = lpa
        .client
        .call(path::GET_BOUND_PROFILE_PACKAGE, &req)
        .await
        .unwrap();
    assert_eq!(
        a.bound_profile_package.as_bytes(),
        b.bound_profile_package.as_bytes()
    );
    // SGP.22 3.1.3: a new otPK.EUICC in the same session is a rebinding, allowed by default.
    let c = lpa.get_bpp(&auth, None).await.unwrap();
    assert_ne!(
        bf23(&a).smdp_otpk,
        bf23(&c).smdp_otpk,
        "a new binding gets a fresh otPK.DP"
    );
    server.stop().await;
}

/// Six sessions (two eUICCs, three instances each, so three otPKs per EID) authenticate for
/// one order, then all ask for the BPP at once. With rebinding refused exactly one BPP is
/// issued; with rebinding allowed (SGP.22 3.1.3) a later request of the winning eUICC may
/// rebind, but the other EID never gets the profile and every BPP goes to one eUICC.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_sessions_get_exactly_one_bpp() {
    use smdp_core::order_options::{OrderOptions, Rebinding};
    let server = TestServer::start(Options::default()).await;
    for round in 0..8 {
        let rebinding = if round % 2 == 0 {
            Rebinding::Refused
        } else {
            Rebinding::Allowed
        };
        let mid = format!("RACE-{round}");
        let order = server.reserve(OrderRequest {
            options: OrderOptions {
                rebinding,
                ..Default::default()
            },
            ..by_matching_id(&mid)
        });
        let mut requests = Vec::new();
        for i in 0..6 {
            let curve = if i % 2 == 0 {
                Curve::NistP256
            } else {
                Curve::BrainpoolP256r1
            };
            let mut lpa = Lpa::new(&server, &our_pki_dir(), curve);
            let init = lpa.initiate().await.unwrap();
            let auth = lpa.authenticate(&init, Some(&mid)).await.unwrap();
            requests.push((
                lpa.eid(),
                lpa.client.clone(),
                lpa.get_bpp_request(&auth, None),
            ));
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(requests.len()));
        let tasks: Vec<_> = requests
            .into_iter()
            .map(|(eid, client, req)| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    let r = client
                        .call::<_, rsp_asn1::es9::GetBoundProfilePackageResponse>(
                            path::GET_BOUND_PROFILE_PACKAGE,
                            &req,
                        )
                        .await;
                    (eid, r)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                (eid, Ok(_)) => winners.push(eid),
                (_, Err(h)) => assert_eq!(codes(&h), ("8.2".into(), "3.7".into()), "{h:?}"),
            }
        }
        let p = server.profile(&order);
        assert_eq!(p.status, ProfileStatus::Downloaded);
        assert!(!winners.is_empty());
        assert!(
            winners
                .iter()
                .all(|e| Some(e.clone()) == p.eid.map(|b| b.to_string())),
            "round {round}: every BPP went to the bound eUICC"
        );
        assert_eq!(p.attempts, winners.len() as i64, "one attempt per binding");
        if rebinding == Rebinding::Refused {
            assert_eq!(winners.len(), 1, "round {round}: exactly one BPP");
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_rows_eid_expiry_attempts_release() {
    let server = TestServer::start(Options::default()).await;
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let other = Lpa::new(&server, &our_pki_dir(), Curve::BrainpoolP256r1);

    // 8.1.1/3.8: the order is for another EID.
    server.reserve(OrderRequest {
        eid: Some(other.eid().parse().unwrap()),
        ..by_matching_id("FOR-OTHER")
    });
    let init = lpa.initiate().await.unwrap();
    assert_failed(
        lpa.authenticate(&init, Some("FOR-OTHER")).await,
        "8.1.1",
        "3.8",
    );

    // 8.2.6/3.8: unknown matching ID.
    let init = lpa.initiate().await.unwrap();
    assert_failed(lpa.authenticate(&init, Some("NOPE")).await, "8.2.6", "3.8");

    // 8.8.5/4.10: expired order.
    server.reserve(OrderRequest {
        expires_at: Some(server.clock.unix() + 60),
        ..by_matching_id("EXPIRES")
    });
    server.clock.advance(Duration::from_secs(61));
    let init = lpa.initiate().await.unwrap();
    assert_failed(
        lpa.authenticate(&init, Some("EXPIRES")).await,
        "8.8.5",
        "4.10",
    );

    // 8.8.5/6.4: no attempts left, at authenticateClient.
    server.reserve(OrderRequest {
        max_attempts: 0,
        ..by_matching_id("NEVER")
    });
    let init = lpa.initiate().await.unwrap();
    assert_failed(lpa.authenticate(&init, Some("NEVER")).await, "8.8.5", "6.4");
    // And at getBoundProfilePackage: one binding, released by a timeout cancel; the same
    // eUICC's retry with its kept otPK is no new attempt, but a card that lost the key
    // (the same EID, a fresh otPK) would need a new binding.
    let once = server.reserve(OrderRequest {
        max_attempts: 1,
        ..by_matching_id("ONCE")
    });
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("ONCE")).await.unwrap();
    lpa.get_bpp(&auth, None).await.unwrap();
    lpa.cancel(&auth.transaction_id, CancelSessionReason::timeout)
        .await
        .unwrap();
    assert_eq!(server.profile(&once).status, ProfileStatus::Available);
    let mut forgetful = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    assert_eq!(forgetful.eid(), lpa.eid());
    let init = forgetful.initiate().await.unwrap();
    let auth = forgetful.authenticate(&init, Some("ONCE")).await.unwrap();
    assert_failed(forgetful.get_bpp(&auth, None).await, "8.8.5", "6.4");
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("ONCE")).await.unwrap();
    let bpp = lpa.get_bpp(&auth, None).await.unwrap();
    lpa.install(&bpp).await;
    assert_eq!(server.profile(&once).status, ProfileStatus::Installed);

    // 8.2/1.2: not released yet.
    let mut rng = rsp_auth::rng::rng(Some(5));
    server
        .smdp
        .store
        .insert_profile(
            &smdp_core::store::NewProfile {
                sid: smdp_core::orders::new_sid("HP", &mut rng),
                account_sid: "AC0".into(),
                status: Some(ProfileStatus::Reserving),
                matching_id: Some("NOT-YET".into()),
                template: "minimal".into(),
                service_provider_name: "sp".into(),
                profile_name: "p".into(),
                max_attempts: 5,
                ..Default::default()
            },
            server.clock.unix(),
        )
        .unwrap();
    let init = lpa.initiate().await.unwrap();
    assert_failed(lpa.authenticate(&init, Some("NOT-YET")).await, "8.2", "1.2");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initiate_authentication_rows() {
    let server = TestServer::start(Options {
        policy: smdp_core::es9::Policy {
            max_sessions: 4,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let c = server.client();
    let initiate = |req: rsp_asn1::es9::InitiateAuthenticationRequest| {
        let c = c.clone();
        async move {
            c.call::<_, rsp_asn1::es9::InitiateAuthenticationResponse>(
                path::INITIATE_AUTHENTICATION,
                &req,
            )
            .await
        }
    };

    // 8.8.1/3.8: another address.
    let mut req = lpa.initiate_request();
    req.smdp_address = "smdp.example.com".into();
    assert_failed(initiate(req).await, "8.8.1", "3.8");
    // Our port suffix (lpac -s localhost:8443) is accepted, and signed as sent; another
    // port is another SM-DP+.
    let mut req = lpa.initiate_request();
    req.smdp_address = server.smdp.address.clone();
    let ok = initiate(req).await.unwrap();
    let signed1: rsp_asn1::auth::ServerSigned1 = ok.server_signed1.decode().unwrap();
    assert_eq!(signed1.server_address, server.smdp.address);
    let mut req = lpa.initiate_request();
    req.smdp_address = "localhost:1".into();
    assert_failed(initiate(req).await, "8.8.1", "3.8");
    let mut req = lpa.initiate_request();
    req.smdp_address = "localhost:x".into();
    assert_failed(initiate(req).await, "8.8.1", "3.8");
    // The address is case-insensitive.
    let mut req = lpa.initiate_request();
    req.smdp_address = "LocalHost".into();
    let ok = initiate(req).await.unwrap();
    assert_eq!(ok.transaction_id.as_bytes().len(), 16);

    let info1 = lpa.euicc.euicc_info1();
    let with_info1 = |lpa: &mut Lpa, info1: &rsp_asn1::auth::EUICCInfo1| {
        let mut req = lpa.initiate_request();
        req.euicc_info1 = rsp_asn1::es9::Der::encode(info1).unwrap();
        req
    };
    // 8.8.3/3.1: SVN 3.0.0.
    let mut v3 = info1.clone();
    v3.svn = rsp_asn1::VersionType::from_parts(3, 0, 0);
    let req = with_info1(&mut lpa, &v3);
    assert_failed(initiate(req).await, "8.8.3", "3.1");
    // 8.8.2/3.1: no CI of ours to sign with.
    let mut unknown = info1.clone();
    unknown.euicc_ci_pkid_list_for_signing =
        vec![rsp_asn1::SubjectKeyIdentifier::new(vec![0xAB; 20]).unwrap()];
    let req = with_info1(&mut lpa, &unknown);
    assert_failed(initiate(req).await, "8.8.2", "3.1");
    // 8.8.4/3.7: the eUICC cannot verify any CERT.DPauth of ours.
    let mut cannot_verify = info1.clone();
    cannot_verify.euicc_ci_pkid_list_for_verification =
        vec![rsp_asn1::SubjectKeyIdentifier::new(vec![0xAB; 20]).unwrap()];
    let req = with_info1(&mut lpa, &cannot_verify);
    assert_failed(initiate(req).await, "8.8.4", "3.7");
    // 1.6/2.1: a 15-byte challenge.
    let mut req = lpa.initiate_request();
    req.euicc_challenge.0.pop();
    assert_failed(initiate(req).await, "1.6", "2.1");
    // 1.2/4.4: the session cap (4; two are open already).
    lpa.initiate().await.unwrap();
    lpa.initiate().await.unwrap();
    assert_failed(lpa.initiate().await, "1.2", "4.4");
    // Expired sessions free their slots.
    server.clock.advance(Duration::from_secs(601));
    lpa.initiate().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_rows_unknown_and_replayed() {
    let server = TestServer::start(Options::default()).await;
    server.reserve(by_matching_id("TX-1"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = lpa.initiate().await.unwrap();
    let mut req = lpa.authenticate_client_request(&init, Some("TX-1"));
    // 8.10.1/3.9: a transaction ID the server never issued.
    let real = req.transaction_id.clone();
    req.transaction_id = rsp_asn1::TransactionId::new(vec![0x42; 16]).unwrap();
    assert_failed(
        lpa.client
            .call::<_, rsp_asn1::es9::AuthenticateClientResponse>(path::AUTHENTICATE_CLIENT, &req)
            .await,
        "8.10.1",
        "3.9",
    );
    // The real one works once; a replay is refused.
    req.transaction_id = real;
    lpa.client
        .call::<_, rsp_asn1::es9::AuthenticateClientResponse>(path::AUTHENTICATE_CLIENT, &req)
        .await
        .unwrap();
    assert_failed(
        lpa.client
            .call::<_, rsp_asn1::es9::AuthenticateClientResponse>(path::AUTHENTICATE_CLIENT, &req)
            .await,
        "8.10.1",
        "3.9",
    );
    // Lower-case hex transaction IDs are accepted (compared case-insensitively).
    let init = lpa.initiate().await.unwrap();
    let req = lpa.authenticate_client_request(&init, Some("TX-1"));
    let mut json: serde_json::Value = serde_json::to_value(&req).unwrap();
    let lower = json["transactionId"].as_str().unwrap().to_ascii_lowercase();
    json["transactionId"] = lower.into();
    let r = lpa
        .client
        .es9(
            path::AUTHENTICATE_CLIENT,
            serde_json::to_vec(&json).unwrap(),
        )
        .await;
    let parsed: Result<rsp_asn1::es9::AuthenticateClientResponse, _> =
        rsp_asn1::es9::parse_response(&r.body).unwrap();
    // TX-1 is bound to the first session's eUICC choice only at getBPP: still downloadable.
    parsed.unwrap();
    // Sessions expire.
    let init = lpa.initiate().await.unwrap();
    server.clock.advance(Duration::from_secs(601));
    assert_failed(lpa.authenticate(&init, Some("TX-1")).await, "8.10.1", "3.9");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_in_a_new_session_reuses_the_binding() {
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(by_matching_id("RETRY-2"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    // First session: the BPP is issued but never loaded (the phone lost its connection).
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("RETRY-2")).await.unwrap();
    let first = lpa.get_bpp(&auth, None).await.unwrap();
    let first_otpk = server.profile(&order).bound_otpk.unwrap();
    // Second session: the server names the kept otPK.EUICC in smdpSigned2, the eUICC reuses
    // it, and the server rebuilds the BPP with the same otSK.DP for the new transaction.
    let init = lpa.initiate().await.unwrap();
    let auth2 = lpa.authenticate(&init, Some("RETRY-2")).await.unwrap();
    let signed2: rsp_asn1::download::SmdpSigned2 = auth2.smdp_signed2.decode().unwrap();
    assert_eq!(
        signed2.bpp_euicc_otpk.as_deref(),
        Some(first_otpk.as_slice())
    );
    let second = lpa.get_bpp(&auth2, None).await.unwrap();
    assert_ne!(
        first.bound_profile_package.as_bytes(),
        second.bound_profile_package.as_bytes(),
        "new transaction ID, new smdpSign"
    );
    assert_eq!(bf23(&first).smdp_otpk, bf23(&second).smdp_otpk);
    assert_eq!(protected_parts(&first), protected_parts(&second));
    lpa.install(&second).await;
    let p = server.profile(&order);
    assert_eq!(p.status, ProfileStatus::Installed);
    assert_eq!(p.attempts, 1, "a retry is not a new binding");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_runs_replay_byte_for_byte() {
    async fn run() -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
        // A configured host:port is kept as given, so both runs sign the same address.
        let server = TestServer::start(Options {
            seed: Some(42),
            address: "localhost:8443".into(),
            ..Default::default()
        })
        .await;
        server.reserve(by_matching_id("SEEDED"));
        let pki = rsp_auth::pki::Pki::load(&our_pki_dir()).unwrap();
        let euicc = veuicc::Euicc::from_pki(
            &pki,
            Curve::NistP256,
            rsp_auth::Backend::RustCrypto,
            server.clock.now(),
        )
        .unwrap();
        let mut lpa = Lpa::with_euicc(&server, euicc);
        lpa.rng = rsp_auth::rng::rng(Some(9));
        let init = lpa.initiate().await.unwrap();
        let auth = lpa.authenticate(&init, Some("SEEDED")).await.unwrap();
        let bpp = lpa.get_bpp(&auth, None).await.unwrap();
        server.stop().await;
        (
            init.transaction_id.as_bytes().to_vec(),
            init.server_signature1.as_bytes().to_vec(),
            auth.smdp_signature2.as_bytes().to_vec(),
            bpp.bound_profile_package.as_bytes().to_vec(),
        )
    }
    let a = run().await;
    let b = run().await;
    assert_eq!(a, b);
    assert_eq!(a.0.len(), 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ts48_template_downloads_and_installs() {
    let Some(shared) = rsp_shared::dir_for_test("TS.48 profile") else {
        return;
    };
    let server = TestServer::start(Options::default()).await;
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let mut rng = rsp_auth::rng::rng(Some(11));
    let order = smdp_core::orders::reserve(
        server.smdp.store.as_ref(),
        &rsp_saip::NumberPlan::default(),
        Some(&shared),
        &OrderRequest {
            template: "ts48:SAIP2.3_BERTLV_SUCI".parse().unwrap(),
            ..by_eid(&lpa.eid())
        },
        &mut rng,
        server.clock.unix(),
    )
    .unwrap();
    lpa.download(None, None).await.unwrap();
    assert_eq!(server.profile(&order).status, ProfileStatus::Installed);
    let installed = &lpa.euicc.installed_profiles()[0];
    let pkg = rsp_saip::ProfilePackage::parse(&installed.package).unwrap();
    assert_eq!(
        pkg.values().ef_iccid,
        order.iccid,
        "the eUICC holds the allocated ICCID"
    );
    assert_eq!(pkg.values().imsi, order.imsi);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_and_graceful_shutdown() {
    use http_body_util::{BodyExt, Full};
    let server = TestServer::start(Options::default()).await;
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    // Two requests on one connection.
    let (mut sender, conn) = server.client().connect().await;
    for _ in 0..2 {
        // A kept-alive connection takes the next request once the last exchange is wound up
        // (without waiting, a loaded machine gets "connection was not ready").
        sender
            .ready()
            .await
            .expect("the connection stays open for a second request");
        let body = serde_json::to_vec(&lpa.initiate_request()).unwrap();
        let req = hyper::Request::post(path::INITIATE_AUTHENTICATION)
            .header("host", ADDRESS)
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(body)))
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.into_body().collect().await.unwrap();
    }
    // Shutdown closes the idle keep-alive connection and the listener.
    let addr = server.addr;
    server.stop().await;
    tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("the server closed the connection")
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

// ------------------------------------------------------------------------------------------
// SGP.22 / SGP.23 conformance rules (issue 11). Each test names the section it states.

/// SGP.22 6.5.2.6–6.5.2.10: each JSON response carries exactly the fields of its binding,
/// nothing null or empty; a successful cancelSession is the header alone; a failure is the
/// header alone, with statusCodeData.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sgp22_6_5_2_response_bodies_carry_only_the_defined_fields() {
    let server = TestServer::start(Options::default()).await;
    server.reserve(by_matching_id("BODIES-1"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let c = lpa.client.clone();
    let raw = |r: HttpResponse| {
        assert_eq!(r.status, hyper::StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        fn no_nulls(v: &serde_json::Value) {
            match v {
                serde_json::Value::Null => panic!("null in a response"),
                serde_json::Value::String(s) => assert!(!s.is_empty(), "empty string"),
                serde_json::Value::Object(m) => m.values().for_each(no_nulls),
                serde_json::Value::Array(a) => a.iter().for_each(no_nulls),
                _ => {}
            }
        }
        no_nulls(&v);
        r.body
    };
    let success = serde_json::json!({"functionExecutionStatus": {"status": "Executed-Success"}});

    let req = lpa.initiate_request();
    let body = raw(c
        .es9(
            path::INITIATE_AUTHENTICATION,
            serde_json::to_vec(&req).unwrap(),
        )
        .await);
    assert_eq!(
        json_keys(&body),
        [
            "euiccCiPKIdToBeUsed",
            "header",
            "serverCertificate",
            "serverSignature1",
            "serverSigned1",
            "transactionId"
        ]
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["header"], success);
    let init: rsp_asn1::es9::InitiateAuthenticationResponse =
        serde_json::from_slice(&body).unwrap();

    let req = lpa.authenticate_client_request(&init, Some("BODIES-1"));
    let body = raw(c
        .es9(path::AUTHENTICATE_CLIENT, serde_json::to_vec(&req).unwrap())
        .await);
    assert_eq!(
        json_keys(&body),
        [
            "header",
            "profileMetadata",
            "smdpCertificate",
            "smdpSignature2",
            "smdpSigned2",
            "transactionId"
        ]
    );
    let auth: rsp_asn1::es9::AuthenticateClientResponse = serde_json::from_slice(&body).unwrap();

    let req = lpa.get_bpp_request(&auth, None);
    let body = raw(c
        .es9(
            path::GET_BOUND_PROFILE_PACKAGE,
            serde_json::to_vec(&req).unwrap(),
        )
        .await);
    assert_eq!(
        json_keys(&body),
        ["boundProfilePackage", "header", "transactionId"]
    );

    // 6.5.2.10: cancelSession answers `{"header": …}` and nothing else.
    let resp = lpa
        .euicc
        .cancel_session(&auth.transaction_id, CancelSessionReason::postponed);
    let req = veuicc::lpa::cancel_session_request(&auth.transaction_id, &resp).unwrap();
    let body = raw(c
        .es9(path::CANCEL_SESSION, serde_json::to_vec(&req).unwrap())
        .await);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v, serde_json::json!({ "header": success }));

    // A failure: the header alone, its statusCodeData without empty optional fields.
    let body = raw(c
        .es9(path::CANCEL_SESSION, serde_json::to_vec(&req).unwrap())
        .await);
    assert_eq!(json_keys(&body), ["header"]);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let status = &v["header"]["functionExecutionStatus"];
    assert_eq!(status["status"], "Failed");
    let mut keys: Vec<&String> = status["statusCodeData"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    keys.sort();
    assert_eq!(keys, ["message", "reasonCode", "subjectCode"]);
    server.stop().await;
}

/// SGP.22 3.1.3 / 5.6.2, SGP.23 4.3.13.2: after `postponed`, the same eUICC comes back with the
/// same otPK.EUICC (offered as bppEuiccOtpk) and gets the same otPK.DP and the same protected
/// segments; the BF23 carries the new session's transaction ID; it installs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sgp22_3_1_3_same_otpk_retry_after_postponed_gets_the_same_binding() {
    for reason in [CancelSessionReason::postponed, CancelSessionReason::timeout] {
        let server = TestServer::start(Options::default()).await;
        let order = server.reserve(by_matching_id("SAME-OTPK"));
        let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
        let init = lpa.initiate().await.unwrap();
        let auth = lpa.authenticate(&init, Some("SAME-OTPK")).await.unwrap();
        let first = lpa.get_bpp(&auth, None).await.unwrap();
        let otpk = server.profile(&order).bound_otpk.unwrap();
        lpa.cancel(&auth.transaction_id, reason).await.unwrap();
        assert_eq!(server.profile(&order).status, ProfileStatus::Available);

        let init = lpa.initiate().await.unwrap();
        let auth2 = lpa.authenticate(&init, Some("SAME-OTPK")).await.unwrap();
        let signed2: rsp_asn1::download::SmdpSigned2 = auth2.smdp_signed2.decode().unwrap();
        assert_eq!(signed2.bpp_euicc_otpk.as_deref(), Some(otpk.as_slice()));
        let second = lpa.get_bpp(&auth2, None).await.unwrap();
        assert_eq!(
            bf23(&first).smdp_otpk,
            bf23(&second).smdp_otpk,
            "same otPK.DP"
        );
        assert_eq!(
            protected_parts(&first),
            protected_parts(&second),
            "same BPP segments"
        );
        assert_eq!(bf23(&second).transaction_id, auth2.transaction_id);
        // And within that session, a resend is the same bytes.
        let again = lpa.get_bpp(&auth2, None).await.unwrap();
        assert_eq!(
            again.bound_profile_package.as_bytes(),
            second.bound_profile_package.as_bytes()
        );
        lpa.install(&second).await;
        let p = server.profile(&order);
        assert_eq!(p.status, ProfileStatus::Installed);
        assert_eq!(p.attempts, 1, "{reason:?}: a retry is not a new binding");
        server.stop().await;
    }
}

/// SGP.22 3.1.3, SGP.23 4.3.13.2: the same eUICC with a new otPK.EUICC (it lost its key) gets a
/// new BPP under a fresh otPK.DP — rebinding — which installs; the result of the superseded BPP
/// still reaches the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sgp22_3_1_3_new_otpk_rebinds_with_a_fresh_otpk_dp() {
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(by_matching_id("REBIND-1"));
    let mut first_card = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = first_card.initiate().await.unwrap();
    let auth = first_card
        .authenticate(&init, Some("REBIND-1"))
        .await
        .unwrap();
    let first = first_card.get_bpp(&auth, None).await.unwrap();

    // The same EID with no kept key: bppEuiccOtpk is offered, the eUICC makes a new otPK.
    let mut same_eid = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    assert_eq!(same_eid.eid(), first_card.eid());
    let init = same_eid.initiate().await.unwrap();
    let auth2 = same_eid
        .authenticate(&init, Some("REBIND-1"))
        .await
        .unwrap();
    let second = same_eid.get_bpp(&auth2, None).await.unwrap();
    assert_ne!(
        bf23(&first).smdp_otpk,
        bf23(&second).smdp_otpk,
        "fresh otPK.DP"
    );
    let p = server.profile(&order);
    assert_eq!(p.status, ProfileStatus::Downloaded);
    assert_eq!(p.attempts, 2, "a rebinding is a new download attempt");
    assert_eq!(p.bound_txid, Some(auth2.transaction_id.clone()));
    same_eid.install(&second).await;
    assert_eq!(server.profile(&order).status, ProfileStatus::Installed);

    // Download-once: installed, the profile is never served again, to anyone.
    let init = same_eid.initiate().await.unwrap();
    assert_failed(
        same_eid.authenticate(&init, Some("REBIND-1")).await,
        "8.2.6",
        "3.8",
    );
    let mut other = Lpa::new(&server, &our_pki_dir(), Curve::BrainpoolP256r1);
    let init = other.initiate().await.unwrap();
    assert_failed(
        other.authenticate(&init, Some("REBIND-1")).await,
        "8.1.1",
        "3.8",
    );
    server.stop().await;
}

/// SGP.22 3.1.3: a superseded binding's install result still counts (the eUICC has the
/// profile), and a session authenticated before the install gets 8.2/3.7 after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sgp22_3_1_3_installed_profile_is_never_re_served() {
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(by_matching_id("ONCE-ONLY"));
    let mut a = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let mut b = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = a.initiate().await.unwrap();
    let auth_a = a.authenticate(&init, Some("ONCE-ONLY")).await.unwrap();
    let bpp_a = a.get_bpp(&auth_a, None).await.unwrap();
    // b (same EID, another key) rebinds; then a's older BPP is installed after all.
    let init = b.initiate().await.unwrap();
    let auth_b = b.authenticate(&init, Some("ONCE-ONLY")).await.unwrap();
    b.get_bpp(&auth_b, None).await.unwrap();
    let init = b.initiate().await.unwrap();
    let auth_late = b.authenticate(&init, Some("ONCE-ONLY")).await.unwrap();
    a.install(&bpp_a).await;
    assert_eq!(server.profile(&order).status, ProfileStatus::Installed);
    assert_failed(b.get_bpp(&auth_late, None).await, "8.2", "3.7");
    server.stop().await;
}

/// SGP.22 3.1.3 (8.2/3.7 "BPP not available for a new binding"): an order whose policy refuses
/// rebinding answers a new otPK.EUICC with 8.2/3.7, and still serves the kept binding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sgp22_3_1_3_rebinding_refused_by_the_order_policy() {
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(OrderRequest {
        options: smdp_core::order_options::OrderOptions {
            rebinding: smdp_core::order_options::Rebinding::Refused,
            ..Default::default()
        },
        ..by_matching_id("NO-REBIND")
    });
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("NO-REBIND")).await.unwrap();
    let first = lpa.get_bpp(&auth, None).await.unwrap();
    // The same EID with a new otPK, in a new session and then again in that session.
    let mut same_eid = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = same_eid.initiate().await.unwrap();
    let auth2 = same_eid
        .authenticate(&init, Some("NO-REBIND"))
        .await
        .unwrap();
    assert_failed(same_eid.get_bpp(&auth2, None).await, "8.2", "3.7");
    assert_failed(same_eid.get_bpp(&auth2, None).await, "8.2", "3.7");
    assert_eq!(server.profile(&order).attempts, 1);
    lpa.install(&first).await;
    assert_eq!(server.profile(&order).status, ProfileStatus::Installed);
    server.stop().await;
}

/// SGP.22 2.4a.1, 3.1.3 Eligibility Check (8.2.5/4.3): PPRs the eUICC forbids, a test profile
/// on an eUICC without testProfileSupport, and each device requirement of the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sgp22_3_1_3_eligibility_pprs_and_device_requirements() {
    use smdp_core::order_options::{DeviceRequirements, OrderOptions, ProfileClassName, Version};
    let server = TestServer::start(Options::default()).await;
    let requiring = |requires: DeviceRequirements| OrderOptions {
        requires,
        ..Default::default()
    };
    let refused = |mid: &str, options: OrderOptions| {
        server.reserve(OrderRequest {
            options,
            ..by_matching_id(mid)
        });
    };
    refused(
        "PPR1",
        OrderOptions {
            ppr: "ppr1".parse().unwrap(),
            ..Default::default()
        },
    );
    refused(
        "SVN",
        requiring(DeviceRequirements {
            min_euicc_svn: Some(Version([2, 3, 0])),
            ..Default::default()
        }),
    );
    refused(
        "UICC",
        requiring(DeviceRequirements {
            uicc_capabilities: vec!["multos".into()],
            ..Default::default()
        }),
    );
    refused(
        "RADIO",
        requiring(DeviceRequirements {
            device_capabilities: vec!["contactless".parse().unwrap()],
            ..Default::default()
        }),
    );
    refused(
        "RELEASE",
        requiring(DeviceRequirements {
            device_capabilities: vec!["nr-5gc>=16".parse().unwrap()],
            ..Default::default()
        }),
    );
    refused(
        "TEST-CLASS",
        OrderOptions {
            profile_class: Some(ProfileClassName::Test),
            ..Default::default()
        },
    );

    let pki = rsp_auth::pki::Pki::load(&our_pki_dir()).unwrap();
    let mut euicc = veuicc::Euicc::from_pki(
        &pki,
        Curve::NistP256,
        rsp_auth::Backend::AwsLc,
        server.clock.now(),
    )
    .unwrap();
    let info2 = euicc.euicc_info2_template_mut();
    info2.forbidden_profile_policy_rules = Some(rsp_asn1::bits::NamedBits::from_bits(&[
        rsp_asn1::bits::ppr_ids::PPR1,
    ]));
    info2.rsp_capability = rsp_asn1::bits::NamedBits::from_bits(&[0]);
    let mut lpa = Lpa::with_euicc(&server, euicc);
    for mid in ["PPR1", "SVN", "UICC", "RADIO", "RELEASE", "TEST-CLASS"] {
        let init = lpa.initiate().await.unwrap();
        assert_failed(lpa.authenticate(&init, Some(mid)).await, "8.2.5", "4.3");
    }

    // What the eUICC and device do offer passes: ppr2 (not forbidden), SVN 2.2, javacard,
    // 5GC release 15; the PPRs reach the eUICC in the StoreMetadataRequest.
    server.reserve(OrderRequest {
        options: OrderOptions {
            ppr: "ppr2".parse().unwrap(),
            requires: DeviceRequirements {
                min_euicc_svn: Some(Version([2, 2, 0])),
                uicc_capabilities: vec!["javacard".into()],
                device_capabilities: vec![
                    "nr-5gc>=15".parse().unwrap(),
                    "eutran-epc".parse().unwrap(),
                ],
            },
            ..Default::default()
        },
        ..by_matching_id("ELIGIBLE")
    });
    lpa.download(Some("ELIGIBLE"), None).await.unwrap();
    let info = lpa.euicc.profile_info_list();
    let rules = info.last().unwrap().profile_policy_rules.as_ref().unwrap();
    assert!(
        rules.is_set(rsp_asn1::bits::ppr_ids::PPR2) && !rules.is_set(rsp_asn1::bits::ppr_ids::PPR1)
    );
    server.stop().await;
}

/// SGP.22 5.4.1 StoreMetadataRequest and 2.5.3 segments: an order's full metadata (a 1024-byte
/// icon) needs several `88` segments of at most 1020 bytes; the eUICC reassembles the exact
/// profileMetadata bytes and shows every field in its ProfileInfo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sgp22_5_4_1_metadata_larger_than_a_segment_is_split_and_reassembled() {
    use rsp_asn1::download::{IconType, ProfileClass};
    use smdp_core::order_options::{Icon, OrderOptions, ProfileClassName};
    let server = TestServer::start(Options::default()).await;
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..1016).map(|i| (i * 7) as u8));
    let order = server.reserve(OrderRequest {
        service_provider_name: "Operator With A Long Name Ltd 01".into(),
        profile_name: "A profile name that is exactly sixty-four characters long, yes!!".into(),
        options: OrderOptions {
            icon: Some(Icon::from_bytes(png.clone()).unwrap()),
            profile_class: Some(ProfileClassName::Provisioning),
            owner: Some("26201:ff01".parse().unwrap()),
            notifications: Some(vec!["enable,delete@notify.example.com".parse().unwrap()]),
            ..Default::default()
        },
        ..by_matching_id("META-1")
    });
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("META-1")).await.unwrap();
    let metadata = auth.profile_metadata.as_bytes().to_vec();
    assert!(metadata.len() > 1008, "{} bytes", metadata.len());
    let bpp = lpa.get_bpp(&auth, None).await.unwrap();
    let decoded: rsp_asn1::download::BoundProfilePackage =
        bpp.bound_profile_package.decode().unwrap();
    assert!(decoded.sequence_of88.len() >= 2);
    for seg in &decoded.sequence_of88 {
        let tlv = rsp_asn1::encode(seg).unwrap();
        assert!(tlv.len() <= 1020, "an 88 segment of {} bytes", tlv.len());
    }
    lpa.install(&bpp).await;
    assert_eq!(server.profile(&order).status, ProfileStatus::Installed);
    let installed = lpa.euicc.installed_profiles().last().unwrap();
    assert_eq!(
        installed.metadata_der, metadata,
        "reassembled byte for byte"
    );
    let info = lpa.euicc.profile_info_list().pop().unwrap();
    assert_eq!(info.icon_type, Some(IconType::png));
    assert_eq!(info.icon.as_deref(), Some(png.as_slice()));
    assert_eq!(info.profile_class, Some(ProfileClass::provisioning));
    assert_eq!(
        info.service_provider_name.as_deref(),
        Some("Operator With A Long Name Ltd 01")
    );
    let owner = info.profile_owner.unwrap();
    assert_eq!(owner.mcc_mnc.as_ref(), [0x62, 0xF2, 0x10]);
    assert_eq!(owner.gid1.as_deref(), Some(&[0xFF, 0x01][..]));
    let n = &info.notification_configuration_info.unwrap()[0];
    assert_eq!(n.notification_address, "notify.example.com");
    assert_eq!(n.profile_management_operation.set_bits(), vec![1, 3]);
    server.stop().await;
}

/// SGP.22 2.5.4 (PPK): a pre-protected order is served with A2 ReplaceSessionKeys and A3 under
/// its PPKs; the eUICC installs it; a retry after `postponed` re-serves the same A3 segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sgp22_2_5_4_pre_protected_profile_downloads_and_retries() {
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(OrderRequest {
        options: smdp_core::order_options::OrderOptions {
            pre_protected: true,
            ..Default::default()
        },
        template: "minimal:20k".parse().unwrap(),
        ..by_matching_id("PPK-1")
    });
    assert_eq!(server.profile(&order).ppk.map(|k| k.len()), Some(48));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("PPK-1")).await.unwrap();
    let first = lpa.get_bpp(&auth, None).await.unwrap();
    let parts = protected_parts(&first);
    assert_eq!(parts[2].len(), 1, "one A2 segment: ReplaceSessionKeys");
    lpa.cancel(&auth.transaction_id, CancelSessionReason::postponed)
        .await
        .unwrap();
    // A new binding would also re-serve the same pre-protected A3: try with a new key.
    let mut same_eid = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = same_eid.initiate().await.unwrap();
    let auth2 = same_eid.authenticate(&init, Some("PPK-1")).await.unwrap();
    let second = same_eid.get_bpp(&auth2, None).await.unwrap();
    let parts2 = protected_parts(&second);
    assert_eq!(
        parts[3], parts2[3],
        "A3 is the pre-protected package, whoever it is for"
    );
    assert_ne!(
        parts[2], parts2[2],
        "A2 is under each binding's session keys"
    );
    same_eid.install(&second).await;
    assert_eq!(server.profile(&order).status, ProfileStatus::Installed);
    let pkg = &same_eid.euicc.installed_profiles()[0].package;
    assert_eq!(pkg, &server.smdp.store.package(order.id).unwrap().unwrap());
    server.stop().await;
}

/// SGP.22 3.1.3 / ES2+ ReleaseProfile: a held order answers 8.2/1.2 until it is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sgp22_3_1_3_unreleased_order_is_refused_until_released() {
    let server = TestServer::start(Options::default()).await;
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let held = server.reserve(OrderRequest {
        unreleased: true,
        ..by_matching_id("HELD-1")
    });
    let by_eid = server.reserve(OrderRequest {
        unreleased: true,
        ..by_eid(&lpa.eid())
    });
    assert_eq!(held.status, ProfileStatus::Reserving);
    let init = lpa.initiate().await.unwrap();
    assert_failed(lpa.authenticate(&init, Some("HELD-1")).await, "8.2", "1.2");
    let init = lpa.initiate().await.unwrap();
    assert_failed(lpa.authenticate(&init, None).await, "8.2", "1.2");
    assert!(server
        .smdp
        .store
        .release_order(held.id, server.clock.unix())
        .unwrap());
    assert!(server
        .smdp
        .store
        .release_order(by_eid.id, server.clock.unix())
        .unwrap());
    lpa.download(Some("HELD-1"), None).await.unwrap();
    lpa.download(None, None).await.unwrap();
    assert_eq!(server.profile(&held).status, ProfileStatus::Installed);
    assert_eq!(server.profile(&by_eid).status, ProfileStatus::Installed);
    server.stop().await;
}

/// SGP.22 4.1 vs. the ASN.1 UTF8String: matching IDs outside the activation-code alphabet
/// (what SGP.23 suites use) are accepted and compared exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sgp22_4_1_matching_ids_outside_the_alphabet_match_exactly() {
    let server = TestServer::start(Options::default()).await;
    for mid in ["AC_WITH_CC", "cc required test", "Ünïcode-1"] {
        assert!(
            smdp_core::orders::check_matching_id(mid).unwrap().is_some(),
            "{mid}"
        );
        server.reserve(by_matching_id(mid));
    }
    assert!(smdp_core::orders::check_matching_id("ABC-123")
        .unwrap()
        .is_none());
    for bad in ["", "A$B", "A\nB"] {
        assert!(
            smdp_core::orders::check_matching_id(bad).is_err(),
            "{bad:?}"
        );
    }
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = lpa.initiate().await.unwrap();
    assert_failed(
        lpa.authenticate(&init, Some("ac_with_cc")).await,
        "8.2.6",
        "3.8",
    );
    lpa.download(Some("AC_WITH_CC"), None).await.unwrap();
    lpa.download(Some("Ünïcode-1"), None).await.unwrap();
    server.stop().await;
}

/// SGP.22 3.1.3.2 hashCc: the code's ASCII bytes by default (what LPAs hash); an order can
/// store it as hex-encoded raw bytes, as some SGP.23 suites send it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sgp22_3_1_3_2_confirmation_code_as_ascii_or_raw_bytes() {
    let server = TestServer::start(Options::default()).await;
    server.reserve(OrderRequest {
        confirmation_code: Some("12345678".into()),
        options: smdp_core::order_options::OrderOptions {
            confirmation_code_encoding: smdp_core::order_options::CcEncoding::Hex,
            ..Default::default()
        },
        ..by_matching_id("CC-HEX")
    });
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("CC-HEX")).await.unwrap();
    // An LPA hashing the ASCII text is refused …
    assert_failed(lpa.get_bpp(&auth, Some("12345678")).await, "8.2.7", "3.8");
    // … one hashing the hex-decoded bytes is accepted.
    let txid = auth.transaction_id.as_bytes().to_vec();
    let hash = rsp_auth::sig::hash_cc(&[0x12, 0x34, 0x56, 0x78], &txid);
    let pdr = veuicc::lpa::prepare_download_request(
        &auth,
        Some(rsp_asn1::Octet32::new(hash.to_vec()).unwrap()),
    )
    .unwrap();
    let resp = lpa
        .euicc
        .prepare_download(&pdr, None, &mut lpa.rng, lpa.now);
    let req = rsp_asn1::es9::GetBoundProfilePackageRequest {
        header: None,
        transaction_id: auth.transaction_id.clone(),
        prepare_download_response: rsp_asn1::es9::Der::encode(&resp).unwrap(),
    };
    let bpp: rsp_asn1::es9::GetBoundProfilePackageResponse = lpa
        .client
        .call(path::GET_BOUND_PROFILE_PACKAGE, &req)
        .await
        .unwrap();
    lpa.install(&bpp).await;
    server.stop().await;
}

/// One SM-DP+ address: the configured host with the listener's port (not 443), in ES9+ and in
/// every activation code; a different port in smdpAddress is refused (8.8.1/3.8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_smdp_address_with_the_listener_port() {
    let server = TestServer::start(Options::default()).await;
    let port = server.addr.port();
    assert_eq!(server.smdp.address, format!("{ADDRESS}:{port}"));
    let p = server.reserve(by_matching_id("ADDR-1"));
    let ac = smdp_core::orders::activation_code(&server.smdp.address, &p).unwrap();
    assert_eq!(ac.to_string(), format!("1${ADDRESS}:{port}$ADDR-1"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    lpa.address = server.smdp.address.clone();
    lpa.download(Some("ADDR-1"), None).await.unwrap();
    lpa.address = format!("{ADDRESS}:{}", port.wrapping_add(1));
    assert_failed(lpa.initiate().await, "8.8.1", "3.8");
    assert_eq!(
        smdp_server::serve::smdp_address("smdp.example.com", 443),
        "smdp.example.com"
    );
    assert_eq!(
        smdp_server::serve::smdp_address("smdp.example.com", 8443),
        "smdp.example.com:8443"
    );
    assert_eq!(
        smdp_server::serve::smdp_address("proxy.example.com:443", 8443),
        "proxy.example.com"
    );
    assert_eq!(
        smdp_server::serve::smdp_address("proxy.example.com:9443", 8443),
        "proxy.example.com:9443"
    );
    assert_eq!(smdp_server::serve::smdp_address("::1", 8443), "[::1]:8443");
    server.stop().await;
}
