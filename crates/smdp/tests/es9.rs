//! ES9+ end to end over TLS: a spawned `smdp` server and a test LPA driving the virtual eUICC.
//! Full downloads (matching ID, default SM-DP+, confirmation code, both curves, both PKIs),
//! cancel, notifications, download-once under races, and the error rows of the digest's §2
//! table that ES9+ can produce, each asserted by its subject/reason code.

mod common;

use std::time::Duration;

use common::*;
use rsp_asn1::es9::path;
use rsp_asn1::notification::CancelSessionReason;
use rsp_auth::Curve;
use smdp::orders::OrderRequest;
use smdp::store::ProfileStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_by_matching_id_installs_once() {
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(by_matching_id("MID-1"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    lpa.download(Some("MID-1"), None).await.unwrap();
    let p = server.profile(&order);
    assert_eq!(p.status, ProfileStatus::Installed);
    assert_eq!(
        p.eid.as_deref(),
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
async fn cancel_postponed_keeps_the_order_and_end_user_rejection_closes_it() {
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(by_matching_id("CANCEL-1"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("CANCEL-1")).await.unwrap();
    let ok = lpa
        .cancel(&auth.transaction_id, CancelSessionReason::postponed)
        .await
        .unwrap();
    assert_eq!(ok.transaction_id.as_ref(), Some(&auth.transaction_id));
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
        p.eid.as_deref(),
        Some(lpa.eid().as_str()),
        "still this eUICC's"
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
    // A new otPK in the same session would be a new binding: refused.
    assert_failed(lpa.get_bpp(&auth, None).await, "8.2", "3.7");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_sessions_get_exactly_one_bpp() {
    let server = TestServer::start(Options::default()).await;
    for round in 0..6 {
        let mid = format!("RACE-{round}");
        let order = server.reserve(by_matching_id(&mid));
        // Six sessions (two eUICCs, three instances each) authenticate for the same order,
        // then all ask for the BPP at once: every one of them reads "available".
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
            requests.push((lpa.client.clone(), lpa.get_bpp_request(&auth, None)));
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(requests.len()));
        let tasks: Vec<_> = requests
            .into_iter()
            .map(|(client, req)| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    client
                        .call::<_, rsp_asn1::es9::GetBoundProfilePackageResponse>(
                            path::GET_BOUND_PROFILE_PACKAGE,
                            &req,
                        )
                        .await
                })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => won += 1,
                Err(h) => assert_eq!(codes(&h), ("8.2".into(), "3.7".into()), "{h:?}"),
            }
        }
        assert_eq!(won, 1, "round {round}: exactly one BPP");
        let p = server.profile(&order);
        assert_eq!(p.status, ProfileStatus::Downloaded);
        assert_eq!(p.attempts, 1);
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
        eid: Some(other.eid()),
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

    // 8.8.5/6.4: attempts used up (one binding, released by a timeout cancel).
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
    let init = lpa.initiate().await.unwrap();
    assert_failed(lpa.authenticate(&init, Some("ONCE")).await, "8.8.5", "6.4");

    // 8.2/1.2: not released yet.
    let mut rng = rsp_auth::rng::rng(Some(5));
    server
        .smdp
        .store
        .insert_profile(
            &smdp::store::NewProfile {
                sid: smdp::orders::new_sid("HP", &mut rng),
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
        policy: smdp::es9::Policy {
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
    // A port suffix (lpac -s localhost:8443) is accepted, and signed as sent.
    let mut req = lpa.initiate_request();
    req.smdp_address = "localhost:8443".into();
    let ok = initiate(req).await.unwrap();
    let signed1: rsp_asn1::auth::ServerSigned1 = ok.server_signed1.decode().unwrap();
    assert_eq!(signed1.server_address, "localhost:8443");
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
    lpa.install(&second).await;
    let p = server.profile(&order);
    assert_eq!(p.status, ProfileStatus::Installed);
    assert_eq!(p.attempts, 1, "a retry is not a new binding");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_runs_replay_byte_for_byte() {
    async fn run() -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
        let server = TestServer::start(Options {
            seed: Some(42),
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
    let order = smdp::orders::reserve(
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
