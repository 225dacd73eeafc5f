//! The ES9+ ASN.1 binding (`POST /gsma/rsp2/asn1`) over TLS on loopback: downloads on both
//! curves with the `lpa` crate speaking DER, the same session over both bindings signing the
//! same bytes, and bad bodies answered with the right error alternative (never a 500).

use crate::common::*;
use crate::lpa::{card, card_with};
use lpa::download::Order;
use lpa::es9::{Binding, Client, Trust};
use lpa::record::{Event, Recording};
use rsp_asn1::binding::{self, Function, Request, Response};
use rsp_asn1::es9::{self as json, Der};
use rsp_auth::{Backend, Curve};

fn client(server: &TestServer, binding: Binding) -> Client {
    Client::new(Trust::Roots(vec![server.tls_root.clone()]))
        .unwrap()
        .binding(binding)
}

/// The error a refusal reads as over `binding`: the JSON codes or the binding's value.
fn refusal(e: &lpa::Error) -> String {
    match e {
        lpa::Error::Es9 {
            function,
            subject,
            reason,
            ..
        } => format!("{function} {subject}/{reason}"),
        lpa::Error::Es9Asn1 { function, name, .. } => {
            format!("{function} {}", name.unwrap_or("unnamed"))
        }
        other => panic!("not a refusal: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_over_the_asn1_binding_on_both_curves() {
    for b in [Binding::Json, Binding::Asn1] {
        let server = TestServer::start(Options::default()).await;
        let acct = server.account("asn1");
        let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
        let es9 = client(&server, b);
        let expect = |e: &lpa::Error, json: &str, asn1: &str| {
            let want = if b == Binding::Json { json } else { asn1 };
            assert_eq!(refusal(e), want, "{b:?}");
        };
        let order = |code: &str| {
            let rest = &rest;
            let code = code.to_string();
            async move {
                let (_, v) = rest
                    .create(&[("GenerateMatchingId", "true"), ("ConfirmationCode", "1234")])
                    .await;
                let v = reserved(rest, v["sid"].as_str().unwrap()).await;
                let ac = format!("LPA:{}", v["activation_code"].as_str().unwrap());
                let mut order = Order::from_activation_code(&ac).unwrap();
                order.confirmation_code = Some(code);
                (v["sid"].as_str().unwrap().to_string(), v, order)
            }
        };
        for curve in [Curve::NistP256, Curve::BrainpoolP256r1] {
            let mut c = card(&server, &our_pki_dir(), curve);
            // A wrong code: getBoundProfilePackage's confirmationCodeRefused (the LPA then
            // cancels the session, which closes the order).
            let (_, _, wrong) = order("9999").await;
            let e = lpa::download::download(&mut c, &es9, &wrong, |_| {})
                .await
                .unwrap_err();
            expect(
                &e,
                "getBoundProfilePackage 8.2.7/3.8",
                "getBoundProfilePackage confirmationCodeRefused",
            );
            let (sid, v, order) = order("1234").await;
            let installed = lpa::download::download(&mut c, &es9, &order, |_| {})
                .await
                .unwrap();
            assert_eq!(installed.iccid.as_deref(), v["iccid"].as_str());
            // handleNotification over the binding: no response alternative, an empty 204.
            let sent = lpa::notifications::process(&mut c, &es9, true)
                .await
                .unwrap();
            assert!(sent.iter().all(|s| s.outcome.is_ok()), "{sent:?}");
            let v = rest.get(&format!("/v1/ESimProfiles/{sid}")).await.1;
            assert_eq!(v["status"], "installed", "{v}");
            // The matching ID is used up: authenticateClient's matchingIdRefused.
            let mut again = card(&server, &our_pki_dir(), curve);
            let e = lpa::download::download(&mut again, &es9, &order, |_| {})
                .await
                .unwrap_err();
            expect(
                &e,
                "authenticateClient 8.2.6/3.8",
                "authenticateClient matchingIdRefused",
            );
        }
        // By EID, from the card's default SM-DP+.
        let mut c = card(&server, &our_pki_dir(), Curve::NistP256);
        let eid = c.eid().unwrap();
        let (_, v) = rest.create(&[("Eid", &eid.to_string())]).await;
        let v = reserved(&rest, v["sid"].as_str().unwrap()).await;
        let order = Order {
            address: server.smdp.address.clone(),
            ..Order::default()
        };
        let installed = lpa::download::download(&mut c, &es9, &order, |_| {})
            .await
            .unwrap();
        assert_eq!(installed.iccid.as_deref(), v["iccid"].as_str());
        server.stop().await;
    }
}

/// The ES9+ parts of a recorded session, whichever binding carried them: each request's
/// and response's DER parts in order.
fn parts(events: &[Event]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut push = |name: &str, bytes: &[u8]| out.push((name.to_string(), bytes.to_vec()));
    for e in events {
        let Event::Es9(x) = e else { continue };
        if x.path == binding::PATH {
            match Request::from_der(&x.request_body).unwrap() {
                Request::InitiateAuthentication(r) => {
                    push("euiccChallenge", &r.euicc_challenge.0);
                    push("euiccInfo1", r.euicc_info1.as_bytes());
                }
                Request::AuthenticateClient(r) => push(
                    "authenticateServerResponse",
                    r.authenticate_server_response.as_bytes(),
                ),
                Request::GetBoundProfilePackage(r) => push(
                    "prepareDownloadResponse",
                    r.prepare_download_response.as_bytes(),
                ),
                Request::CancelSession(r) => push(
                    "cancelSessionResponse",
                    r.cancel_session_response.as_bytes(),
                ),
                Request::HandleNotification(r) => {
                    push("pendingNotification", r.pending_notification.as_bytes())
                }
            }
            if x.response_body.is_empty() {
                continue;
            }
            match Response::from_der(&x.response_body).unwrap() {
                Response::InitiateAuthentication(Ok(r)) => {
                    push("serverSigned1", r.server_signed1.as_bytes());
                    push("serverSignature1", r.server_signature1.as_bytes());
                    push("serverCertificate", r.server_certificate.as_bytes());
                }
                Response::AuthenticateClient(Ok(r)) => {
                    push("profileMetadata", r.profile_metadata.as_bytes());
                    push("smdpSigned2", r.smdp_signed2.as_bytes());
                    push("smdpSignature2", r.smdp_signature2.as_bytes());
                }
                Response::GetBoundProfilePackage(Ok(r)) => {
                    push("boundProfilePackage", r.bound_profile_package.as_bytes())
                }
                other => panic!("{other:?}"),
            }
            continue;
        }
        let body: serde_json::Value = serde_json::from_slice(&x.request_body).unwrap();
        let b64 =
            |v: &serde_json::Value, k: &str| json::base64_decode(v[k].as_str().unwrap()).unwrap();
        for k in [
            "euiccChallenge",
            "euiccInfo1",
            "authenticateServerResponse",
            "prepareDownloadResponse",
            "cancelSessionResponse",
            "pendingNotification",
        ] {
            if body.get(k).is_some() {
                push(k, &b64(&body, k));
            }
        }
        if x.response_body.is_empty() {
            continue;
        }
        let resp: serde_json::Value = serde_json::from_slice(&x.response_body).unwrap();
        for k in [
            "serverSigned1",
            "serverSignature1",
            "serverCertificate",
            "profileMetadata",
            "smdpSigned2",
            "smdpSignature2",
            "boundProfilePackage",
        ] {
            if resp.get(k).is_some() {
                push(k, &b64(&resp, k));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_over_each_binding_signs_the_same_bytes() {
    let mut sessions = Vec::new();
    for b in [Binding::Json, Binding::Asn1] {
        // Two servers with the same seed and clock, one card of the same seed: the same
        // session, byte for byte, if the binding changes nothing but the envelope.
        // The address is fixed (not the random port) because serverSigned1 carries it.
        const AT: &str = "localhost:8443";
        let server = TestServer::start(Options {
            address: AT.into(),
            ..Options::default()
        })
        .await;
        let acct = server.account("same");
        let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
        // RFC 6979 signatures on the card too, so that its answers repeat.
        let mut c = card_with(
            &server,
            &our_pki_dir(),
            Curve::NistP256,
            Backend::RustCrypto,
        );
        let (_, v) = rest.create(&[("Eid", &c.eid().unwrap().to_string())]).await;
        reserved(&rest, v["sid"].as_str().unwrap()).await;
        let recording = Recording::default();
        let es9 = client(&server, b)
            .resolve(AT, server.addr)
            .record(recording.clone());
        c.record(recording.clone());
        let order = Order {
            address: AT.into(),
            ..Order::default()
        };
        lpa::download::download(&mut c, &es9, &order, |_| {})
            .await
            .unwrap();
        lpa::notifications::process(&mut c, &es9, true)
            .await
            .unwrap();
        sessions.push(parts(&recording.events()));
        server.stop().await;
    }
    let names: Vec<&str> = sessions[0].iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "euiccChallenge",
            "euiccInfo1",
            "serverSigned1",
            "serverSignature1",
            "serverCertificate",
            "authenticateServerResponse",
            "profileMetadata",
            "smdpSigned2",
            "smdpSignature2",
            "prepareDownloadResponse",
            "boundProfilePackage",
            "pendingNotification",
        ]
    );
    for ((name, a), (_, b)) in sessions[0].iter().zip(&sessions[1]) {
        assert_eq!(hex::encode_upper(a), hex::encode_upper(b), "{name} differs");
    }
    assert_eq!(sessions[0].len(), sessions[1].len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_binding_bodies_get_an_error_alternative_or_a_400_never_a_500() {
    let server = TestServer::start(Options::default()).await;
    let es9 = client(&server, Binding::Asn1);
    let address = server.smdp.address.clone();
    let post = |body: Vec<u8>, content_type: &'static str| {
        let es9 = es9.clone();
        let address = address.clone();
        async move {
            es9.post_as("test", &address, binding::PATH, content_type, body)
                .await
                .unwrap()
        }
    };
    let der = binding::CONTENT_TYPE;
    // Not an envelope at all: no function to answer for.
    for body in [
        b"".to_vec(),
        b"{}".to_vec(),
        vec![0xA2, 0x03, 0xBF, 0x3C, 0x00],
    ] {
        let (status, text) = post(body, der).await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(&text));
    }
    // JSON sent to the binding's path.
    let (status, _) = post(b"{}".to_vec(), "application/json").await;
    assert_eq!(status, 415);
    let error = |(status, body): (u16, Vec<u8>)| {
        assert_eq!(status, 200);
        Response::from_der(&body).unwrap().error().unwrap()
    };
    // initiateAuthentication with an empty body, with a non-DER length, with bad euiccInfo1.
    assert_eq!(
        error(post(vec![0xA2, 0x03, 0xBF, 0x39, 0x00], der).await).0,
        127
    );
    let ia = |info1: Vec<u8>, address: &str| {
        Request::InitiateAuthentication(json::InitiateAuthenticationRequest {
            header: None,
            euicc_challenge: json::Base64Bytes(vec![7; 16]),
            euicc_info1: Der::from_bytes(info1),
            smdp_address: address.into(),
            lpa_rsp_capability: None,
        })
        .to_der()
        .unwrap()
    };
    assert_eq!(
        error(post(ia(vec![0xBF, 0x20, 0x00], &address), der).await).0,
        127
    );
    // A well-formed request for another SM-DP+: invalidDpAddress(1).
    let c = card(&server, &our_pki_dir(), Curve::NistP256);
    let info1 = rsp_asn1::encode(&c.transport.card.euicc.euicc_info1()).unwrap();
    assert_eq!(
        error(post(ia(info1.clone(), "other.example.com"), der).await),
        (1, Some("invalidDpAddress"))
    );
    // authenticateClient / getBoundProfilePackage / cancelSession of an unknown transaction.
    let txid = rsp_asn1::TransactionId::new(vec![0x42; 16]).unwrap();
    let asr = Der::from_bytes(vec![0xBF, 0x38, 0x00]);
    let unknown = [
        (
            Request::AuthenticateClient(json::AuthenticateClientRequest {
                header: None,
                transaction_id: txid.clone(),
                authenticate_server_response: asr,
            }),
            Function::AuthenticateClient,
        ),
        (
            Request::CancelSession(json::CancelSessionRequest {
                header: None,
                transaction_id: txid.clone(),
                cancel_session_response: Der::from_bytes(vec![0xBF, 0x41, 0x03, 0x81, 0x01, 0x05]),
            }),
            Function::CancelSession,
        ),
    ];
    for (req, function) in unknown {
        let (code, _) = error(post(req.to_der().unwrap(), der).await);
        // Malformed inner DER or an unknown transaction: never a 500, always the function's
        // own alternative with a value from its list.
        let listed = match function {
            Function::AuthenticateClient => binding::AuthenticateClientError(code).name().is_some(),
            _ => binding::CancelSessionError(code).name().is_some(),
        };
        assert!(listed, "{function:?}: {code}");
    }
    // handleNotification with garbage inside: still an empty 204.
    let (status, body) = post(vec![0xA2, 0x05, 0xBF, 0x3D, 0x02, 0xA0, 0x00], der).await;
    assert_eq!((status, body.len()), (204, 0));
    server.stop().await;
}
