//! Scripted faults, seen from the LPA: each fault kind makes the `lpa` crate (driving the
//! virtual eUICC through APDUs) see exactly the scripted failure, fires for its order only,
//! is logged with its attempt and session, and leaves the order downloadable afterwards.

use std::time::Duration;

use crate::common::*;
use lpa::card::{Es10, VirtualCard};
use lpa::download::Order;
use lpa::es9::{Client, Trust};
use rsp_auth::pki::Pki;
use rsp_auth::{Backend, Curve};
use serde_json::Value;
use veuicc::apdu::Card;
use veuicc::Euicc;

type VCard = Es10<VirtualCard<rsp_auth::rng::Rng>>;

fn card(server: &TestServer) -> VCard {
    let pki = Pki::load(&our_pki_dir()).unwrap();
    let mut c = Card::new(
        Euicc::from_pki(&pki, Curve::NistP256, Backend::AwsLc, server.clock.now()).unwrap(),
        rsp_auth::rng::rng(Some(8)),
    );
    c.set_time(Some(server.clock.now()));
    Es10::open(VirtualCard {
        card: c,
        state: None,
    })
    .unwrap()
}

/// An order with `faults`, reserved: (sid, its activation-code order).
async fn order(server: &TestServer, rest: &Rest, faults: &str) -> (String, Order) {
    let (s, v) = rest
        .create(&[("GenerateMatchingId", "true"), ("Faults", faults)])
        .await;
    assert_eq!(s, 201, "{v}");
    let v = reserved(rest, v["sid"].as_str().unwrap()).await;
    let mut o = Order::from_activation_code(v["activation_code"].as_str().unwrap()).unwrap();
    o.address = server.smdp.address.clone();
    (v["sid"].as_str().unwrap().to_string(), o)
}

/// An order with `fault`, and a first download that fails with `seen` and installs nothing:
/// the order's sid and activation-code order, and the card.
async fn first_attempt_fails(
    server: &TestServer,
    rest: &Rest,
    es9: &Client,
    fault: &str,
    seen: &str,
) -> (String, Order, VCard) {
    let (sid, o) = order(server, rest, fault).await;
    let mut c = card(server);
    let e = lpa::download::download(&mut c, es9, &o, |_| {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains(seen), "{fault}: {e}");
    assert!(c.profiles().unwrap().is_empty(), "{fault}");
    (sid, o, c)
}

async fn status(rest: &Rest, sid: &str) -> String {
    rest.get(&format!("/v1/ESimProfiles/{sid}")).await.1["status"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn wait_status(rest: &Rest, sid: &str, want: &str) {
    for _ in 0..300 {
        if status(rest, sid).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{sid} never {want}: {}", status(rest, sid).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_is_what_the_lpa_sees_and_the_order_survives_it() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("faults");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let es9 = Client::new(Trust::Roots(vec![server.tls_root.clone()])).unwrap();
    let cases: [(&str, &str); 12] = [
        (
            "authenticateClient:status=8.2.7/6.4@1",
            "authenticateClient: 8.2.7/6.4",
        ),
        ("authenticateClient:http=503@1", "HTTP 503"),
        (
            "authenticateClient:drop-before@1",
            "authenticateClient: connection error",
        ),
        (
            "authenticateClient:drop-after@1",
            "authenticateClient: connection error",
        ),
        ("getBoundProfilePackage:truncate@1", "not an ES9+ response"),
        (
            "getBoundProfilePackage:flip-mac=1@1",
            "errorReason scp03tSecurityError",
        ),
        (
            "getBoundProfilePackage:truncate-segment=1@1",
            "LoadBoundProfilePackage: the eUICC refused",
        ),
        (
            "getBoundProfilePackage:oversize-segment=1@1",
            "errorReason scp03tStructureError",
        ),
        (
            "getBoundProfilePackage:wrong-bf23-signature@1",
            "bppCommandId initialiseSecureChannel(0), errorReason invalidSignature",
        ),
        // The LPA holds the BPP's StoreMetadataRequest against the announced one.
        (
            "getBoundProfilePackage:metadata-mismatch@1",
            "getBoundProfilePackage: the BPP's StoreMetadataRequest",
        ),
        (
            "getBoundProfilePackage:wrong-metadata-iccid@1",
            "getBoundProfilePackage: the BPP's StoreMetadataRequest",
        ),
        // Announced and packaged alike: only the card sees it against the ProfileHeader.
        (
            "authenticateClient:wrong-metadata-iccid@1",
            "bppCommandId loadProfileElements(5), errorReason installFailedDueToDataMismatch",
        ),
    ];
    for (fault, seen) in cases {
        let (sid, o, mut c) = first_attempt_fails(&server, &rest, &es9, fault, seen).await;
        // Another order, without faults, is not touched meanwhile.
        let (other, oo) = order(&server, &rest, "").await;
        let mut c2 = card(&server);
        lpa::download::download(&mut c2, &es9, &oo, |_| {})
            .await
            .unwrap();
        lpa::notifications::process(&mut c2, &es9, true)
            .await
            .unwrap();
        wait_status(&rest, &other, "installed").await;
        // The faulted order is still downloadable: the fault fired once (@1).
        assert_eq!(status(&rest, &sid).await, "available", "{fault}");
        lpa::download::download(&mut c, &es9, &o, |_| {})
            .await
            .unwrap_or_else(|e| panic!("{fault}: second attempt: {e}"));
        lpa::notifications::process(&mut c, &es9, true)
            .await
            .unwrap();
        wait_status(&rest, &sid, "installed").await;
        // What fired, and where.
        let (_, f) = rest.get(&format!("/v1/ESimProfiles/{sid}/Faults")).await;
        assert_eq!(f["faults"], serde_json::json!([fault]), "{f}");
        let fired = f["fired"].as_array().unwrap();
        assert_eq!(fired.len(), 1, "{fault}: {f}");
        assert_eq!(fired[0]["fault"], fault);
        assert_eq!(fired[0]["attempt"], 1);
        assert_eq!(fired[0]["transaction_id"].as_str().unwrap().len(), 32);
    }
    server.stop().await;
}

/// Segment faults past the first segment, on a profile of several 86 segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_faults_on_a_multi_segment_package() {
    let server = TestServer::start(Options {
        template: "minimal:4k".into(),
        ..Options::default()
    })
    .await;
    let acct = server.account("segments");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let es9 = Client::new(Trust::Roots(vec![server.tls_root.clone()])).unwrap();
    for (fault, seen) in [
        // The MAC chain runs across segments: the second segment first fails its MAC.
        (
            "getBoundProfilePackage:reorder@1",
            "errorReason scp03tSecurityError",
        ),
        (
            "getBoundProfilePackage:flip-mac=3@1",
            "errorReason scp03tSecurityError",
        ),
        (
            "getBoundProfilePackage:truncate-segment=2@1",
            "LoadBoundProfilePackage: the eUICC refused",
        ),
    ] {
        let (sid, o, mut c) = first_attempt_fails(&server, &rest, &es9, fault, seen).await;
        assert_eq!(status(&rest, &sid).await, "available", "{fault}");
        lpa::download::download(&mut c, &es9, &o, |_| {})
            .await
            .unwrap_or_else(|e| panic!("{fault}: second attempt: {e}"));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delays_pir_faults_and_the_faults_resource() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("faults2");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let es9 = Client::new(Trust::Roots(vec![server.tls_root.clone()])).unwrap();

    // A delay slows the answer and changes nothing else.
    let (sid, o) = order(&server, &rest, "getBoundProfilePackage:delay=400").await;
    let mut c = card(&server);
    let t = std::time::Instant::now();
    lpa::download::download(&mut c, &es9, &o, |_| {})
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(400));
    // refuse-pir: the LPA keeps the notification and delivers it on the next run.
    rest.send(
        "POST",
        &format!("/v1/ESimProfiles/{sid}/Faults"),
        &[("Faults", "handleNotification:refuse-pir@1")],
    )
    .await;
    let sent = lpa::notifications::process(&mut c, &es9, true)
        .await
        .unwrap();
    assert!(
        sent[0].outcome.as_ref().unwrap_err().contains("HTTP 500"),
        "{sent:?}"
    );
    assert_eq!(status(&rest, &sid).await, "downloaded");
    let sent = lpa::notifications::process(&mut c, &es9, true)
        .await
        .unwrap();
    assert!(sent[0].outcome.is_ok());
    wait_status(&rest, &sid, "installed").await;

    // ignore-pir: answered 204, recorded nothing: the order stays downloaded.
    let (sid, o) = order(&server, &rest, "handleNotification:ignore-pir").await;
    let mut c = card(&server);
    lpa::download::download(&mut c, &es9, &o, |_| {})
        .await
        .unwrap();
    let sent = lpa::notifications::process(&mut c, &es9, true)
        .await
        .unwrap();
    assert!(sent[0].outcome.is_ok());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(status(&rest, &sid).await, "downloaded");

    // The resource: bad plans are refused and change nothing; POST replaces the plan.
    let (_, f0) = rest.get(&format!("/v1/ESimProfiles/{sid}/Faults")).await;
    for bad in [
        "authenticateClient:flip-mac=1",
        "initiateAuthentication:delay=5",
        "authenticateClient:status=7.7/7.7",
        "nonsense",
    ] {
        let (s, v) = rest
            .send(
                "POST",
                &format!("/v1/ESimProfiles/{sid}/Faults"),
                &[("Faults", bad)],
            )
            .await;
        assert_eq!((s, v["code"].as_u64()), (400, Some(20001)), "{bad}: {v}");
        let (s, v) = rest
            .create(&[("GenerateMatchingId", "true"), ("Faults", bad)])
            .await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
    let (_, f1) = rest.get(&format!("/v1/ESimProfiles/{sid}/Faults")).await;
    assert_eq!(f0, f1);
    let (s, f) = rest
        .send(
            "POST",
            &format!("/v1/ESimProfiles/{sid}/Faults"),
            &[(
                "Faults",
                "cancelSession:http=500, authenticateClient:delay=10@2",
            )],
        )
        .await;
    assert_eq!(s, 200, "{f}");
    assert_eq!(
        f["faults"],
        serde_json::json!(["cancelSession:http=500", "authenticateClient:delay=10@2"])
    );
    assert_eq!(
        f["fired"].as_array().unwrap().len(),
        1,
        "the ignore-pir that fired: {f}"
    );
    let (s, f) = rest
        .send(
            "POST",
            &format!("/v1/ESimProfiles/{sid}/Faults"),
            &[("Faults", "")],
        )
        .await;
    assert_eq!((s, f["faults"].clone()), (200, Value::Array(vec![])));
    // Another account's order is not found.
    let other = server.account("other");
    let rest2 = Rest::basic(server.rest(), &other.account_sid, &other.auth_token);
    let (s, _) = rest2.get(&format!("/v1/ESimProfiles/{sid}/Faults")).await;
    assert_eq!(s, 404);
    server.stop().await;
}

/// The SM-DP+ against a card that misbehaves on purpose (`veuicc fault`): each misbehaviour
/// gets the answer SGP.22 gives it, and the order is failed only when the card reports an
/// install failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smdp_answers_a_misbehaving_card() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("cards");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let es9 = Client::new(Trust::Roots(vec![server.tls_root.clone()])).unwrap();
    let cases: [(veuicc::CardFaults, &str, &str); 4] = [
        (
            veuicc::CardFaults {
                refuse_authenticate_server: Some(6),
                ..Default::default()
            },
            "AuthenticateServer: the eUICC refused: euiccChallengeMismatch",
            "available",
        ),
        (
            veuicc::CardFaults {
                corrupt_signatures: true,
                ..Default::default()
            },
            "authenticateClient: 8.1/6.1",
            "available",
        ),
        (
            veuicc::CardFaults {
                free_memory: Some(100),
                ..Default::default()
            },
            "authenticateClient: 8.1/4.8",
            "available",
        ),
        (
            veuicc::CardFaults {
                install_error: Some((5, 12)),
                ..Default::default()
            },
            "errorReason installFailedDueToPEProcessingError",
            "failed",
        ),
    ];
    for (faults, seen, after) in cases {
        let (sid, o) = order(&server, &rest, "").await;
        let mut c = card(&server);
        c.transport.card.euicc.set_faults(faults.clone());
        let e = lpa::download::download(&mut c, &es9, &o, |_| {})
            .await
            .unwrap_err();
        assert!(e.to_string().contains(seen), "{faults:?}: {e}");
        assert!(c.profiles().unwrap().is_empty());
        wait_status(&rest, &sid, after).await;
        if after == "failed" {
            let (_, v) = rest.get(&format!("/v1/ESimProfiles/{sid}")).await;
            assert!(
                v["error_message"]
                    .as_str()
                    .unwrap()
                    .contains("installFailedDueToPEProcessingError"),
                "{v}"
            );
        } else {
            // The same card, healed, downloads the order.
            c.transport
                .card
                .euicc
                .set_faults(veuicc::CardFaults::default());
            lpa::download::download(&mut c, &es9, &o, |_| {})
                .await
                .unwrap();
        }
    }
    server.stop().await;
}

/// A scenario file's faults hit the orders they name, by matching ID, by the EID that
/// downloads or by the session's number, and no others; wrong-smdp-signature2 is refused by
/// the card.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_faults_by_matching_id_eid_and_session() {
    let pki = Pki::load(&our_pki_dir()).unwrap();
    let eid = our_nist_eid();
    let scenario: smdp_core::faults::Scenario = toml::from_str(&format!(
        "[[fault]]\nfault = \"authenticateClient:status=8.2.6/3.8@1\"\nmatching_id = \"SCN-1\"\n\
         [[fault]]\nfault = \"authenticateClient:wrong-smdp-signature2@2\"\neid = \"{eid}\"\n\
         [[fault]]\nfault = \"getBoundProfilePackage:flip-mac=1\"\nsession = 4\n"
    ))
    .unwrap();
    assert!(toml::from_str::<smdp_core::faults::Scenario>(
        "[[fault]]\nfault = \"authenticateClient:flip-mac=1\"\n"
    )
    .is_err());
    assert!(toml::from_str::<smdp_core::faults::Scenario>(
        "[[fault]]\nfault = \"authenticateClient:drop-before\"\nsession = 0\n"
    )
    .is_err());
    let server = TestServer::start(Options {
        scenario: scenario.faults,
        ..Options::default()
    })
    .await;
    let es9 = Client::new(Trust::Roots(vec![server.tls_root.clone()])).unwrap();
    let order = |mid: &str| Order {
        address: server.smdp.address.clone(),
        matching_id: Some(mid.into()),
        confirmation_code: None,
    };
    for mid in ["SCN-1", "SCN-2"] {
        server.reserve(by_matching_id(mid));
    }
    // Our NIST card (the scenario's EID): SCN-1 answers the status, then the signature fault.
    let mut c = card(&server);
    let e = lpa::download::download(&mut c, &es9, &order("SCN-1"), |_| {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("8.2.6/3.8"), "{e}");
    let e = lpa::download::download(&mut c, &es9, &order("SCN-1"), |_| {})
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("PrepareDownload: the eUICC refused: invalidSignature"),
        "{e}"
    );
    lpa::download::download(&mut c, &es9, &order("SCN-1"), |_| {})
        .await
        .unwrap();
    // A brainpool card (another EID) downloads SCN-2, but the server's fourth session
    // carries the session-keyed fault; the fifth does not.
    let mut b = Card::new(
        Euicc::from_pki(
            &pki,
            Curve::BrainpoolP256r1,
            Backend::AwsLc,
            server.clock.now(),
        )
        .unwrap(),
        rsp_auth::rng::rng(Some(9)),
    );
    b.set_time(Some(server.clock.now()));
    let mut b = Es10::open(VirtualCard {
        card: b,
        state: None,
    })
    .unwrap();
    let e = lpa::download::download(&mut b, &es9, &order("SCN-2"), |_| {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("scp03tSecurityError"), "{e}");
    lpa::download::download(&mut b, &es9, &order("SCN-2"), |_| {})
        .await
        .unwrap();
    let scn2 = server
        .smdp
        .store
        .profile_by_matching_id("SCN-2")
        .unwrap()
        .unwrap();
    let fired = server.smdp.store.faults_fired(scn2.id).unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].session, Some(4));
    assert_eq!(fired[0].fault, "getBoundProfilePackage:flip-mac=1");
    server.stop().await;
}
