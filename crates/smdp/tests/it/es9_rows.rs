//! The ES9+ error rows that need a misbehaving eUICC or LPA: certificate chains, signatures,
//! the SM-DP+ OID in cancelSession, notifications, malformed bodies and HTTP-level limits.
//! Misbehaviour is crafted with the test PKI's own keys, so every signature that should verify
//! does, and each case fails for exactly the reason under test.

use std::time::{Duration, SystemTime};

use crate::common::*;
use rsp_asn1::auth::{AuthenticateServerResponse, EuiccSigned1};
use rsp_asn1::es9::{self, path, AuthenticateClientResponse, Der};
use rsp_asn1::notification::{
    CancelSessionReason, CancelSessionResponse, EuiccCancelSessionSigned, NotificationMetadata,
    OtherSignedNotification, PendingNotification,
};
use rsp_asn1::raw::{Certificate, Signed};
use rsp_auth::cert::{Cert, Role};
use rsp_auth::generate::{issue, Issued, Profile};
use rsp_auth::pki::Pki;
use rsp_auth::{Backend, Curve, SigningKey};
use smdp_core::store::ProfileStatus;
use veuicc::{Euicc, EuiccParts};

fn pki() -> Pki {
    Pki::load(&our_pki_dir()).unwrap()
}

fn copy_key(k: &SigningKey, curve: Curve) -> SigningKey {
    SigningKey::from_scalar(curve, &k.scalar()).unwrap()
}

/// An eUICC of our PKI with other certificates.
fn euicc_with(server: &TestServer, euicc_cert: Cert, eum_cert: Cert, key: SigningKey) -> Euicc {
    let trust = pki().trust_store(server.clock.now()).unwrap();
    Euicc::from_parts(
        EuiccParts {
            euicc_cert,
            eum_cert,
            sk_euicc: key,
            trust_store: trust,
        },
        Backend::AwsLc,
    )
    .unwrap()
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

/// CERT.EUICC for the NIST eUICC's EID, valid `[nb, na]`, under `eum`.
fn euicc_cert(eum: &Issued, key: &SigningKey, nb: SystemTime, na: SystemTime) -> Cert {
    let eid = our_nist_eid();
    issue(
        &Profile {
            role: Role::Euicc,
            subject: vec![
                ("C", "XZ".into()),
                ("O", "smdp-sim Test EUM".into()),
                ("serialNumber", eid),
                ("CN", "crafted eUICC".into()),
            ],
            not_before: nb,
            not_after: na,
            registered_id: None,
            dns_names: vec![],
            eid_prefix: None,
        },
        key,
        Some(eum),
        &mut rsp_auth::rng::rng(Some(3)),
    )
    .unwrap()
}

fn flip_last(c: &Cert) -> Cert {
    let mut der = c.der().to_vec();
    let n = der.len();
    der[n - 1] ^= 0x01;
    Cert::from_der(&der).unwrap()
}

/// Runs initiate + authenticateClient with `euicc`; returns the answer.
async fn authenticate_with(
    server: &TestServer,
    euicc: Euicc,
    mid: &str,
) -> Result<AuthenticateClientResponse, es9::ResponseHeader> {
    let mut lpa = Lpa::with_euicc(server, euicc);
    let init = lpa.initiate().await.unwrap();
    lpa.authenticate(&init, Some(mid)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rows() {
    let server = TestServer::start(Options::default()).await;
    server.reserve(by_matching_id("CERTS"));
    let p = pki();
    let c = p.by_curve(Curve::NistP256).unwrap();
    let now = server.clock.now();
    let eum = Issued {
        cert: c.eum.clone().unwrap(),
        key: copy_key(c.eum_key.as_ref().unwrap(), Curve::NistP256),
    };
    let key = SigningKey::generate(Curve::NistP256, &mut rsp_auth::rng::rng(Some(4)));

    // 8.1.3/6.3: CERT.EUICC expired yesterday.
    let expired = euicc_cert(&eum, &key, now - days(10), now - days(1));
    let e = euicc_with(
        &server,
        expired,
        eum.cert.clone(),
        copy_key(&key, Curve::NistP256),
    );
    assert_failed(authenticate_with(&server, e, "CERTS").await, "8.1.3", "6.3");

    // 8.1.3/6.1: CERT.EUICC's signature does not verify.
    let good = euicc_cert(&eum, &key, now - days(1), now + days(100));
    let e = euicc_with(
        &server,
        flip_last(&good),
        eum.cert.clone(),
        copy_key(&key, Curve::NistP256),
    );
    assert_failed(authenticate_with(&server, e, "CERTS").await, "8.1.3", "6.1");

    // 8.1.2/6.1: CERT.EUM's signature does not verify.
    let e = euicc_with(
        &server,
        good.clone(),
        flip_last(&eum.cert),
        copy_key(&key, Curve::NistP256),
    );
    assert_failed(authenticate_with(&server, e, "CERTS").await, "8.1.2", "6.1");

    // 8.1.2/6.3: CERT.EUM expired (a new EUM under our CI, and an eUICC under it).
    let ci = Issued {
        cert: c.ci.clone(),
        key: copy_key(c.ci_key.as_ref().unwrap(), Curve::NistP256),
    };
    let old_eum_key = SigningKey::generate(Curve::NistP256, &mut rsp_auth::rng::rng(Some(5)));
    let old_eum = Issued {
        cert: issue(
            &Profile {
                role: Role::Eum,
                subject: vec![
                    ("C", "XZ".into()),
                    ("O", "smdp-sim Test EUM".into()),
                    ("CN", "expired EUM".into()),
                ],
                not_before: now - days(20),
                not_after: now - days(2),
                registered_id: Some(vec![2, 999, 5]),
                dns_names: vec![],
                eid_prefix: Some("89001012".into()),
            },
            &old_eum_key,
            Some(&ci),
            &mut rsp_auth::rng::rng(Some(6)),
        )
        .unwrap(),
        key: old_eum_key,
    };
    let under_old = euicc_cert(&old_eum, &key, now - days(1), now + days(100));
    let e = euicc_with(
        &server,
        under_old,
        old_eum.cert.clone(),
        copy_key(&key, Curve::NistP256),
    );
    assert_failed(authenticate_with(&server, e, "CERTS").await, "8.1.2", "6.3");

    // 8.11.1/3.9: the EUM chains to another CI than the one the server chose. The eUICC lists
    // only the brainpool CI to sign with, so the server picks it; the LPA then hands the eUICC
    // its own CI as euiccCiPKIdToBeUsed (not covered by serverSignature1).
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let brp_ski = p
        .by_curve(Curve::BrainpoolP256r1)
        .unwrap()
        .ci_ski()
        .to_vec();
    let mut info1 = lpa.euicc.euicc_info1();
    info1.euicc_ci_pkid_list_for_signing =
        vec![rsp_asn1::SubjectKeyIdentifier::new(brp_ski.clone()).unwrap()];
    let mut req = lpa.initiate_request();
    req.euicc_info1 = Der::encode(&info1).unwrap();
    let init: es9::InitiateAuthenticationResponse = lpa
        .client
        .call(path::INITIATE_AUTHENTICATION, &req)
        .await
        .unwrap();
    assert_eq!(
        init.euicc_ci_pkid_to_be_used.decode().unwrap().as_bytes(),
        brp_ski
    );
    let mut asr = Lpa::authenticate_server_request(&init, Some("CERTS"));
    asr.euicc_ci_pkid_to_be_used =
        rsp_asn1::SubjectKeyIdentifier::new(c.ci_ski().to_vec()).unwrap();
    let resp = lpa.euicc.authenticate_server(&asr, lpa.now);
    assert!(matches!(
        resp,
        AuthenticateServerResponse::AuthenticateResponseOk(_)
    ));
    let ac = es9::AuthenticateClientRequest {
        header: None,
        transaction_id: init.transaction_id.clone(),
        authenticate_server_response: Der::encode(&resp).unwrap(),
    };
    assert_failed(
        lpa.client
            .call::<_, AuthenticateClientResponse>(path::AUTHENTICATE_CLIENT, &ac)
            .await,
        "8.11.1",
        "3.9",
    );
    server.stop().await;
}

/// The eUICC's key in our PKI.
fn euicc_key(curve: Curve) -> SigningKey {
    let p = pki();
    copy_key(
        &p.by_curve(curve).unwrap().euicc.as_ref().unwrap().key,
        curve,
    )
}

/// Re-signs an authenticateServerResponse after `edit` changes euiccSigned1.
fn resign(
    resp: &AuthenticateServerResponse,
    edit: impl FnOnce(&mut EuiccSigned1),
) -> AuthenticateServerResponse {
    let AuthenticateServerResponse::AuthenticateResponseOk(ok) = resp else {
        panic!("expected Ok")
    };
    let mut ok = ok.clone();
    let mut v = ok.euicc_signed1.value().clone();
    edit(&mut v);
    ok.euicc_signed1 = Signed::new(v).unwrap();
    let sig = euicc_key(Curve::NistP256)
        .sign_raw(ok.euicc_signed1.raw(), Backend::AwsLc)
        .unwrap();
    ok.euicc_signature1 = sig.to_vec().into();
    AuthenticateServerResponse::AuthenticateResponseOk(ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn euicc_signature_rows() {
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(by_matching_id("SIGS"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);

    async fn send(
        lpa: &Lpa,
        init: &es9::InitiateAuthenticationResponse,
        resp: &AuthenticateServerResponse,
    ) -> Result<AuthenticateClientResponse, es9::ResponseHeader> {
        let ac = es9::AuthenticateClientRequest {
            header: None,
            transaction_id: init.transaction_id.clone(),
            authenticate_server_response: Der::encode(resp).unwrap(),
        };
        lpa.client.call(path::AUTHENTICATE_CLIENT, &ac).await
    }

    // 8.1/6.1: euiccSignature1 does not verify (one bit flipped).
    let init = lpa.initiate().await.unwrap();
    let asr = Lpa::authenticate_server_request(&init, Some("SIGS"));
    let resp = lpa.euicc.authenticate_server(&asr, lpa.now);
    let AuthenticateServerResponse::AuthenticateResponseOk(ok) = &resp else {
        panic!()
    };
    let mut bad = ok.clone();
    let mut sig = bad.euicc_signature1.to_vec();
    sig[10] ^= 1;
    bad.euicc_signature1 = sig.into();
    assert_failed(
        send(
            &lpa,
            &init,
            &AuthenticateServerResponse::AuthenticateResponseOk(bad),
        )
        .await,
        "8.1",
        "6.1",
    );

    // 8.1/6.1: validly signed, but over another serverChallenge.
    let init = lpa.initiate().await.unwrap();
    let asr = Lpa::authenticate_server_request(&init, Some("SIGS"));
    let resp = lpa.euicc.authenticate_server(&asr, lpa.now);
    let forged = resign(&resp, |v| {
        v.server_challenge = rsp_asn1::Octet16::new(vec![7; 16]).unwrap()
    });
    assert_failed(send(&lpa, &init, &forged).await, "8.1", "6.1");

    // 8.8.1/3.8: validly signed for another SM-DP+ address.
    let init = lpa.initiate().await.unwrap();
    let asr = Lpa::authenticate_server_request(&init, Some("SIGS"));
    let resp = lpa.euicc.authenticate_server(&asr, lpa.now);
    let forged = resign(&resp, |v| v.server_address = "evil.example".into());
    assert_failed(send(&lpa, &init, &forged).await, "8.8.1", "3.8");

    // 8.10.1/3.9: validly signed for another transaction.
    let init = lpa.initiate().await.unwrap();
    let asr = Lpa::authenticate_server_request(&init, Some("SIGS"));
    let resp = lpa.euicc.authenticate_server(&asr, lpa.now);
    let forged = resign(&resp, |v| {
        v.transaction_id = rsp_asn1::TransactionId::new(vec![1; 16]).unwrap()
    });
    assert_failed(send(&lpa, &init, &forged).await, "8.10.1", "3.9");

    // The eUICC refusing the server (authenticateResponseError) ends the session.
    let init = lpa.initiate().await.unwrap();
    let mut asr = Lpa::authenticate_server_request(&init, Some("SIGS"));
    asr.server_signature1 = vec![0u8; 64].into();
    let refused = lpa.euicc.authenticate_server(&asr, lpa.now);
    assert!(matches!(
        refused,
        AuthenticateServerResponse::AuthenticateResponseError(_)
    ));
    assert_failed(send(&lpa, &init, &refused).await, "8.1", "6.1");
    assert_failed(send(&lpa, &init, &refused).await, "8.10.1", "3.9");

    // 8.1/6.1 at getBoundProfilePackage: euiccSignature2 does not verify.
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("SIGS")).await.unwrap();
    let mut req = lpa.get_bpp_request(&auth, None);
    let rsp_asn1::download::PrepareDownloadResponse::DownloadResponseOk(mut ok) =
        req.prepare_download_response.decode().unwrap()
    else {
        panic!()
    };
    let mut sig = ok.euicc_signature2.to_vec();
    sig[0] ^= 0x80;
    ok.euicc_signature2 = sig.into();
    req.prepare_download_response =
        Der::encode(&rsp_asn1::download::PrepareDownloadResponse::DownloadResponseOk(ok)).unwrap();
    assert_failed(
        lpa.client
            .call::<_, es9::GetBoundProfilePackageResponse>(path::GET_BOUND_PROFILE_PACKAGE, &req)
            .await,
        "8.1",
        "6.1",
    );
    assert_eq!(
        server.profile(&order).status,
        ProfileStatus::Available,
        "nothing bound"
    );
    server.stop().await;
}

/// A cancelSessionResponse signed by the eUICC key with these contents.
fn signed_cancel(
    txid: &rsp_asn1::TransactionId,
    oid: rsp_asn1::ObjectIdentifier,
) -> CancelSessionResponse {
    let signed = Signed::new(EuiccCancelSessionSigned {
        transaction_id: txid.clone(),
        smdp_oid: oid,
        reason: CancelSessionReason::postponed,
        extensions: None,
    })
    .unwrap();
    let sig = euicc_key(Curve::NistP256)
        .sign_raw(signed.raw(), Backend::AwsLc)
        .unwrap();
    CancelSessionResponse::CancelSessionResponseOk(
        rsp_asn1::notification::CancelSessionResponseOk {
            euicc_cancel_session_signed: signed,
            euicc_cancel_session_signature: sig.to_vec().into(),
            extensions: None,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_session_rows() {
    let server = TestServer::start(Options::default()).await;
    server.reserve(by_matching_id("CXL"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("CXL")).await.unwrap();
    let txid = auth.transaction_id.clone();
    let client = lpa.client.clone();
    let call = |resp: CancelSessionResponse, txid: rsp_asn1::TransactionId| {
        let c = client.clone();
        async move {
            let req = es9::CancelSessionRequest {
                header: None,
                transaction_id: txid,
                cancel_session_response: Der::encode(&resp).unwrap(),
            };
            c.call::<_, es9::CancelSessionResponseBody>(path::CANCEL_SESSION, &req)
                .await
        }
    };
    let our_oid = server.smdp.curves()[0].oid.clone();
    // 8.8/3.10: the eUICC signed another SM-DP+ OID.
    let other_oid = rsp_asn1::ObjectIdentifier::new(vec![2, 999, 99]).unwrap();
    assert_failed(
        call(signed_cancel(&txid, other_oid), txid.clone()).await,
        "8.8",
        "3.10",
    );
    // 8.1/6.1: bad signature.
    let CancelSessionResponse::CancelSessionResponseOk(mut ok) =
        signed_cancel(&txid, our_oid.clone())
    else {
        panic!()
    };
    ok.euicc_cancel_session_signature = vec![1u8; 64].into();
    assert_failed(
        call(
            CancelSessionResponse::CancelSessionResponseOk(ok),
            txid.clone(),
        )
        .await,
        "8.1",
        "6.1",
    );
    // 8.10.1/3.9: signed for another transaction.
    let other_tx = rsp_asn1::TransactionId::new(vec![9; 16]).unwrap();
    assert_failed(
        call(signed_cancel(&other_tx, our_oid.clone()), txid.clone()).await,
        "8.10.1",
        "3.9",
    );
    // 8.10.1/3.9: unknown transaction.
    assert_failed(
        call(signed_cancel(&other_tx, our_oid.clone()), other_tx).await,
        "8.10.1",
        "3.9",
    );
    // Right: accepted once.
    call(signed_cancel(&txid, our_oid.clone()), txid.clone())
        .await
        .unwrap();
    assert_failed(
        call(signed_cancel(&txid, our_oid), txid.clone()).await,
        "8.10.1",
        "3.9",
    );
    // The error alternative (no session on the eUICC) just ends a server session.
    let init = lpa.initiate().await.unwrap();
    call(
        CancelSessionResponse::CancelSessionResponseError(
            rsp_asn1::notification::CancelSessionResponseError::undefinedError,
        ),
        init.transaction_id.clone(),
    )
    .await
    .unwrap();
    assert_failed(lpa.authenticate(&init, Some("CXL")).await, "8.10.1", "3.9");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_verified_and_idempotent() {
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(by_matching_id("NOTE"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("NOTE")).await.unwrap();
    let bpp = lpa.get_bpp(&auth, None).await.unwrap();
    let bpp_value: rsp_asn1::download::BoundProfilePackage =
        bpp.bound_profile_package.decode().unwrap();
    let pir = lpa.euicc.load_bound_profile_package(&bpp_value).unwrap();
    // A PIR with a broken signature changes nothing (and is still answered 204).
    let mut forged = pir.clone();
    forged.euicc_sign_pir = vec![0u8; 64].into();
    lpa.notify(&PendingNotification::ProfileInstallationResult(forged))
        .await;
    assert_eq!(server.profile(&order).status, ProfileStatus::Downloaded);
    // The real one: installed; a replay changes nothing.
    let n = PendingNotification::ProfileInstallationResult(pir);
    lpa.notify(&n).await;
    assert_eq!(server.profile(&order).status, ProfileStatus::Installed);
    lpa.notify(&n).await;
    assert_eq!(server.profile(&order).status, ProfileStatus::Installed);

    // An install failure reported by the eUICC: the order fails with the reason.
    let order2 = server.reserve(by_matching_id("NOTE-2"));
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("NOTE-2")).await.unwrap();
    let bpp = lpa.get_bpp(&auth, None).await.unwrap();
    let mut bpp_value: rsp_asn1::download::BoundProfilePackage =
        bpp.bound_profile_package.decode().unwrap();
    let mut seg = bpp_value.sequence_of86[0].0.to_vec();
    seg[5] ^= 0xFF;
    bpp_value.sequence_of86[0].0 = seg.into();
    let pir = lpa.euicc.load_bound_profile_package(&bpp_value).unwrap();
    lpa.notify(&PendingNotification::ProfileInstallationResult(pir))
        .await;
    let p = server.profile(&order2);
    assert_eq!(p.status, ProfileStatus::Failed);
    assert!(p.error_message.unwrap().contains("scp03tSecurityError"));

    // Another signed notification (e.g. enable), verified by its own chain and recorded.
    let p = pki();
    let c = p.by_curve(Curve::NistP256).unwrap();
    let meta = Signed::new(NotificationMetadata {
        seq_number: 42,
        profile_management_operation: rsp_asn1::bits::NamedBits::from_bits(&[1]),
        notification_address: ADDRESS.into(),
        iccid: None,
        extensions: None,
    })
    .unwrap();
    let sig = euicc_key(Curve::NistP256)
        .sign_raw(meta.raw(), Backend::AwsLc)
        .unwrap();
    let other = OtherSignedNotification {
        tbs_other_notification: meta,
        euicc_notification_signature: sig.to_vec().into(),
        euicc_certificate: Certificate::from_der(c.euicc.as_ref().unwrap().cert.der()).unwrap(),
        eum_certificate: Certificate::from_der(c.eum.as_ref().unwrap().der()).unwrap(),
        extensions: None,
    };
    lpa.notify(&PendingNotification::OtherSignedNotification(other.clone()))
        .await;
    let mut bad = other;
    bad.euicc_notification_signature = vec![0u8; 64].into();
    lpa.notify(&PendingNotification::OtherSignedNotification(bad))
        .await;
    let recorded = server.smdp.store.notifications().unwrap();
    assert_eq!(recorded.len(), 1, "only the verified one");
    assert_eq!(recorded[0].operation, "enable");
    assert_eq!(recorded[0].seq_number, 42);
    assert_eq!(recorded[0].eid.to_string(), lpa.eid());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_and_http_limits() {
    let server = TestServer::start(Options {
        limits: smdp_server::http::Limits {
            max_body: 64 * 1024,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let c = server.client();
    let failed = |body: &[u8]| -> (String, String) {
        let h: es9::HeaderOnlyResponse = serde_json::from_slice(body).unwrap();
        codes(&h.header)
    };
    // 1.6/2.1: not JSON; JSON of the wrong shape; bad base64; bad DER; bad hex transactionId.
    for body in [
        &b"{not json"[..],
        b"[]",
        br#"{"smdpAddress":"localhost","euiccChallenge":"@@@","euiccInfo1":"vyAA"}"#,
        br#"{"smdpAddress":"localhost","euiccChallenge":"AAAAAAAAAAAAAAAAAAAAAA==","euiccInfo1":"MAA="}"#,
    ] {
        let r = c.es9(path::INITIATE_AUTHENTICATION, body.to_vec()).await;
        assert_eq!(r.status, 200);
        assert_eq!(failed(&r.body), ("1.6".into(), "2.1".into()), "{}", String::from_utf8_lossy(body));
    }
    let r = c
        .es9(
            path::AUTHENTICATE_CLIENT,
            br#"{"transactionId":"XYZ","authenticateServerResponse":"vzgA"}"#.to_vec(),
        )
        .await;
    assert_eq!(failed(&r.body), ("1.6".into(), "2.1".into()));
    // 1.6/2.2: a mandatory field missing.
    let r = c
        .es9(
            path::INITIATE_AUTHENTICATION,
            br#"{"smdpAddress":"localhost"}"#.to_vec(),
        )
        .await;
    assert_eq!(failed(&r.body), ("1.6".into(), "2.2".into()));
    // Whitespace inside base64 and a request header are tolerated.
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let req = lpa.initiate_request();
    let mut json = serde_json::to_value(&req).unwrap();
    let info = json["euiccInfo1"].as_str().unwrap().to_string();
    let (a, b) = info.split_at(10);
    json["euiccInfo1"] = format!("{a}\r\n {b}").into();
    json["header"] =
        serde_json::json!({"functionRequesterIdentifier": "x", "functionCallIdentifier": "y"});
    let r = c
        .es9(
            path::INITIATE_AUTHENTICATION,
            serde_json::to_vec(&json).unwrap(),
        )
        .await;
    let ok: Result<es9::InitiateAuthenticationResponse, _> = es9::parse_response(&r.body).unwrap();
    ok.unwrap();
    // TTCN's content type with parameters.
    let r = c
        .request(
            "POST",
            path::INITIATE_AUTHENTICATION,
            &[
                ("content-type", "application/json;charset=UTF-8"),
                ("x-admin-protocol", "gsma/rsp/v2.5.0"),
            ],
            serde_json::to_vec(&lpa.initiate_request()).unwrap(),
        )
        .await;
    assert_eq!(r.status, 200);
    // HTTP level: unknown path, wrong method, wrong content type, foreign admin protocol,
    // oversized body.
    assert_eq!(
        c.request("POST", "/gsma/rsp2/es9plus/nothing", &[], vec![])
            .await
            .status,
        404
    );
    let r = c
        .request("GET", path::INITIATE_AUTHENTICATION, &[], vec![])
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers.get("allow").unwrap(), "POST");
    assert_eq!(
        c.request(
            "POST",
            path::INITIATE_AUTHENTICATION,
            &[("content-type", "text/plain")],
            b"{}".to_vec()
        )
        .await
        .status,
        415
    );
    assert_eq!(
        c.request(
            "POST",
            path::INITIATE_AUTHENTICATION,
            &[("x-admin-protocol", "other/1")],
            b"{}".to_vec()
        )
        .await
        .status,
        400
    );
    assert_eq!(
        c.es9(path::INITIATE_AUTHENTICATION, vec![b' '; 64 * 1024 + 1])
            .await
            .status,
        413
    );
    // handleNotification: 204 even for garbage.
    let r = c.es9(path::HANDLE_NOTIFICATION, b"{garbage".to_vec()).await;
    assert_eq!(r.status, 204);
    // TLS 1.2 clients are served too.
    let c12 = Client::tls12_only(server.addr, &server.tls_root);
    let r = c12
        .es9(
            path::INITIATE_AUTHENTICATION,
            serde_json::to_vec(&lpa.initiate_request()).unwrap(),
        )
        .await;
    assert_eq!(r.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eligibility_rows_capability_and_memory() {
    let server = TestServer::start(Options::default()).await;
    server.reserve(by_matching_id("ELIG"));
    let p = pki();
    let now = server.clock.now();
    // 8.2.5/4.3: the minimal profile mandates milenage; this eUICC does not declare it.
    let mut no_milenage = Euicc::from_pki(&p, Curve::NistP256, Backend::AwsLc, now).unwrap();
    let caps = &mut no_milenage.euicc_info2_template_mut().uicc_capability;
    let kept: Vec<usize> = caps
        .set_bits()
        .into_iter()
        .filter(|b| *b != rsp_asn1::bits::uicc_capability::AKA_MILENAGE)
        .collect();
    *caps = rsp_asn1::bits::NamedBits::from_bits(&kept);
    assert_failed(
        authenticate_with(&server, no_milenage, "ELIG").await,
        "8.2.5",
        "4.3",
    );
    // 8.1/4.8: not enough free memory for the package.
    let mut small = Euicc::from_pki(&p, Curve::NistP256, Backend::AwsLc, now).unwrap();
    small.set_limits(veuicc::Limits {
        max_profiles: 16,
        memory: 100,
    });
    assert_failed(
        authenticate_with(&server, small, "ELIG").await,
        "8.1",
        "4.8",
    );
    // A capable eUICC with room downloads it.
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    lpa.download(Some("ELIG"), None).await.unwrap();
    server.stop().await;
}
