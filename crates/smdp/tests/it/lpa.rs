//! The `lpa` crate against the SM-DP+ over TLS on loopback, driving the virtual eUICC through
//! APDUs (lpac's framing): downloads by matching ID, by EID (the card's default SM-DP+), with
//! a confirmation code, on both curves, with our PKI and SGP.26; notifications processed until
//! the REST resource reads `installed`; enable/disable/delete notifications recorded.

use std::time::Duration;

use crate::common::*;
use lpa::card::{Es10, VirtualCard};
use lpa::download::Order;
use lpa::es9::{Client, Trust};
use rsp_asn1::es10::{ProfileIdentifier, ProfileState};
use rsp_asn1::ids::Iccid;
use rsp_auth::pki::Pki;
use rsp_auth::{Backend, Curve};
use veuicc::apdu::Card;
use veuicc::Euicc;

pub(crate) type VCard = Es10<VirtualCard<rsp_auth::rng::Rng>>;

/// A virtual eUICC of `pki` on `curve`, at the server's time.
pub(crate) fn card(server: &TestServer, pki: &std::path::Path, curve: Curve) -> VCard {
    card_with(server, pki, curve, Backend::AwsLc)
}

/// [`card`] signing with `backend`.
pub(crate) fn card_with(
    server: &TestServer,
    pki: &std::path::Path,
    curve: Curve,
    backend: Backend,
) -> VCard {
    let pki = Pki::load(pki).unwrap();
    let mut c = Card::new(
        Euicc::from_pki(&pki, curve, backend, server.clock.now()).unwrap(),
        rsp_auth::rng::rng(Some(5)),
    );
    c.set_time(Some(server.clock.now()));
    Es10::open(VirtualCard {
        card: c,
        state: None,
    })
    .unwrap()
}

fn client(server: &TestServer) -> Client {
    Client::new(Trust::Roots(vec![server.tls_root.clone()])).unwrap()
}

async fn status(rest: &Rest, sid: &str, want: &str) -> serde_json::Value {
    let mut v = serde_json::Value::Null;
    for _ in 0..300 {
        v = rest.get(&format!("/v1/ESimProfiles/{sid}")).await.1;
        if v["status"] == want {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{sid} never reached {want}: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_by_matching_id_and_by_eid_with_a_confirmation_code_on_both_curves() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("lpa");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let es9 = client(&server);
    for curve in [Curve::NistP256, Curve::BrainpoolP256r1] {
        let mut c = card(&server, &our_pki_dir(), curve);
        // By matching ID, with a confirmation code: the activation code from the REST API.
        let (_, v) = rest
            .create(&[("GenerateMatchingId", "true"), ("ConfirmationCode", "4711")])
            .await;
        let v = reserved(&rest, v["sid"].as_str().unwrap()).await;
        let ac = format!("LPA:{}", v["activation_code"].as_str().unwrap());
        let mut order = Order::from_activation_code(&ac).unwrap();
        assert_eq!(order.address, server.smdp.address);
        // Without the code the SM-DP+'s ccRequiredFlag stops the download, cancelled on both
        // sides: the order stays available.
        let e = lpa::download::download(&mut c, &es9, &order, |_| {})
            .await
            .unwrap_err();
        assert!(e.to_string().contains("confirmation code"), "{e}");
        assert_eq!(
            status(&rest, v["sid"].as_str().unwrap(), "available").await["status"],
            "available"
        );
        order.confirmation_code = Some("4711".into());
        let mut steps = Vec::new();
        let installed = lpa::download::download(&mut c, &es9, &order, |s| steps.push(s))
            .await
            .unwrap();
        assert_eq!(installed.iccid.as_deref(), v["iccid"].as_str());
        assert!(steps
            .iter()
            .any(|s| matches!(s, lpa::download::Step::Install { .. })));
        assert_eq!(c.profiles().unwrap().len(), 1);
        let sent = lpa::notifications::process(&mut c, &es9, true)
            .await
            .unwrap();
        assert_eq!(sent.len(), 1);
        assert!(sent[0].outcome.is_ok(), "{sent:?}");
        assert_eq!(sent[0].operation, "install");
        status(&rest, v["sid"].as_str().unwrap(), "installed").await;
        assert!(
            c.list_notifications().unwrap().is_empty(),
            "removed once delivered"
        );

        // By EID, from the card's default SM-DP+.
        let eid = c.eid().unwrap();
        c.transport
            .card
            .euicc
            .set_default_dp_address(Some(server.smdp.address.clone()));
        let (_, v) = rest.create(&[("Eid", &eid.to_string())]).await;
        let v = reserved(&rest, v["sid"].as_str().unwrap()).await;
        let order = Order {
            address: c
                .configured_addresses()
                .unwrap()
                .default_dp_address
                .unwrap(),
            ..Order::default()
        };
        let installed = lpa::download::download(&mut c, &es9, &order, |_| {})
            .await
            .unwrap();
        assert_eq!(installed.iccid.as_deref(), v["iccid"].as_str());
        lpa::notifications::process(&mut c, &es9, true)
            .await
            .unwrap();
        status(&rest, v["sid"].as_str().unwrap(), "installed").await;

        // Enable, disable, delete: each notification reaches the profile.
        let iccid = Iccid::from_digits(v["iccid"].as_str().unwrap()).unwrap();
        let id = || ProfileIdentifier::Iccid(iccid.clone());
        c.enable(id()).unwrap();
        assert!(c
            .profiles()
            .unwrap()
            .iter()
            .any(|p| p.iccid.as_ref() == Some(&iccid)
                && p.profile_state == Some(ProfileState::enabled)));
        c.disable(id()).unwrap();
        let refused = c.disable(id()).unwrap_err();
        assert!(
            refused.to_string().contains("profileNotInDisabledState"),
            "{refused}"
        );
        c.delete(id()).unwrap();
        let sent = lpa::notifications::process(&mut c, &es9, true)
            .await
            .unwrap();
        let ops: Vec<&str> = sent.iter().map(|s| s.operation.as_str()).collect();
        assert_eq!(ops, ["enable", "disable", "delete"]);
        let (_, n) = rest
            .get(&format!(
                "/v1/ESimProfiles/{}/Notifications",
                v["sid"].as_str().unwrap()
            ))
            .await;
        let ops: Vec<&str> = n["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["operation"].as_str().unwrap())
            .collect();
        assert_eq!(ops, ["enable", "disable", "delete"], "{n}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es9_failures_carry_their_codes_and_meaning() {
    let server = TestServer::start(Options::default()).await;
    let es9 = client(&server);
    let mut c = card(&server, &our_pki_dir(), Curve::NistP256);
    let order = Order {
        address: server.smdp.address.clone(),
        matching_id: Some("NO-SUCH-ORDER".into()),
        confirmation_code: None,
    };
    let e = lpa::download::download(&mut c, &es9, &order, |_| {})
        .await
        .unwrap_err();
    match &e {
        lpa::Error::Es9 {
            function,
            subject,
            reason,
            meaning,
            ..
        } => {
            assert_eq!(*function, "authenticateClient");
            assert_eq!((subject.as_str(), reason.as_str()), ("8.2.6", "3.8"));
            assert_eq!(*meaning, Some("matching ID (AC token / EventID) refused"));
        }
        other => panic!("{other:?}"),
    }
    assert!(c.profiles().unwrap().is_empty());
    // A TLS certificate that does not chain to the given CA is refused before any ES9+.
    let other = Client::new(Trust::Roots(vec![Pki::load(&our_pki_dir())
        .unwrap()
        .by_curve(Curve::BrainpoolP256r1)
        .unwrap()
        .ci
        .der()
        .to_vec()]))
    .unwrap();
    let e = lpa::download::download(&mut c, &other, &order, |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, lpa::Error::Transport { .. }), "{e:?}");
    assert!(e.to_string().contains("TLS"), "{e}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sgp26_cards_download_on_both_curves() {
    let Some(sgp26) = sgp26_dir() else { return };
    let server = TestServer::start(Options {
        pki: sgp26.clone(),
        ..Options::default()
    })
    .await;
    let es9 = client(&server);
    for curve in [Curve::NistP256, Curve::BrainpoolP256r1] {
        let mut c = card(&server, &sgp26, curve);
        let mid = format!("SGP26-{curve:?}").to_uppercase();
        server.reserve(by_matching_id(&mid));
        let order = Order {
            address: server.smdp.address.clone(),
            matching_id: Some(mid),
            confirmation_code: None,
        };
        lpa::download::download(&mut c, &es9, &order, |_| {})
            .await
            .unwrap();
        let sent = lpa::notifications::process(&mut c, &es9, true)
            .await
            .unwrap();
        assert!(sent.iter().all(|s| s.outcome.is_ok()), "{sent:?}");
    }
    server.stop().await;
}

/// A hostile (or misconfigured) SM-DP+ in front of the real one: it forwards each ES9+ call
/// (naming the real SM-DP+ as smdpAddress) and lets `mutate` tamper with the JSON answer.
struct Hostile {
    address: String,
}

type Mutation = std::sync::Arc<dyn Fn(&str, &mut serde_json::Value) + Send + Sync>;

impl Hostile {
    async fn start(server: &TestServer, mutate: Mutation) -> Self {
        use http_body_util::{BodyExt, Full};
        let pki = Pki::load(&our_pki_dir()).unwrap();
        let tls =
            smdp_server::serve::tls_config(&pki, "localhost", server.clock.now(), Some(3)).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
        let upstream = server.smdp.address.clone();
        let es9 = client(server);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, es9, upstream, mutate) = (
                    acceptor.clone(),
                    es9.clone(),
                    upstream.clone(),
                    mutate.clone(),
                );
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (es9, upstream, mutate) =
                                (es9.clone(), upstream.clone(), mutate.clone());
                            async move {
                                let path = req.uri().path().to_string();
                                let body = req.into_body().collect().await.unwrap().to_bytes();
                                let mut v: serde_json::Value =
                                    serde_json::from_slice(&body).unwrap();
                                if v.get("smdpAddress").is_some() {
                                    v["smdpAddress"] = upstream.clone().into();
                                }
                                let (status, body) = es9
                                    .post(
                                        "proxy",
                                        &upstream,
                                        &path,
                                        serde_json::to_vec(&v).unwrap(),
                                    )
                                    .await
                                    .unwrap();
                                let body = match serde_json::from_slice::<serde_json::Value>(&body)
                                {
                                    Ok(mut v) => {
                                        mutate(&path, &mut v);
                                        serde_json::to_vec(&v).unwrap()
                                    }
                                    Err(_) => body,
                                };
                                let mut resp =
                                    hyper::Response::new(Full::new(bytes::Bytes::from(body)));
                                *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                                resp.headers_mut()
                                    .insert("content-type", "application/json".parse().unwrap());
                                Ok::<_, std::convert::Infallible>(resp)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        Self { address }
    }
}

/// Flips one bit of the base64 DER field `key` at byte `at` from its end.
fn flip(v: &mut serde_json::Value, key: &str, at: usize) {
    let mut der = rsp_asn1::es9::base64_decode(v[key].as_str().unwrap()).unwrap();
    let i = der.len() - at;
    der[i] ^= 0x01;
    v[key] = rsp_asn1::es9::base64_encode(&der).into();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_smdp_is_refused_by_the_lpa_and_the_card_and_installs_nothing() {
    let server = TestServer::start(Options::default()).await;
    let es9 = client(&server);
    let cases: Vec<(&str, Mutation, &str)> = vec![
        // The proxy's own address is not the serverAddress the real SM-DP+ signs.
        (
            "serverAddress",
            std::sync::Arc::new(|_: &str, _: &mut serde_json::Value| {}),
            "serverAddress \"localhost",
        ),
        (
            "serverSignature1",
            std::sync::Arc::new(|p: &str, v: &mut serde_json::Value| {
                if p.ends_with("initiateAuthentication") {
                    flip(v, "serverSignature1", 3);
                }
            }),
            "AuthenticateServer: the eUICC refused: invalidSignature",
        ),
        (
            "smdpSignature2",
            std::sync::Arc::new(|p: &str, v: &mut serde_json::Value| {
                if p.ends_with("authenticateClient") {
                    flip(v, "smdpSignature2", 3);
                }
            }),
            "PrepareDownload: the eUICC refused: invalidSignature",
        ),
        (
            "a BPP segment's MAC",
            std::sync::Arc::new(|p: &str, v: &mut serde_json::Value| {
                if p.ends_with("getBoundProfilePackage") {
                    flip(v, "boundProfilePackage", 2);
                }
            }),
            "errorReason scp03tSecurityError",
        ),
    ];
    for (i, (what, mutate, refused_by)) in cases.into_iter().enumerate() {
        let hostile = Hostile::start(&server, mutate).await;
        let mid = format!("HOSTILE-{i}");
        let p = server.reserve(by_matching_id(&mid));
        let mut c = card(&server, &our_pki_dir(), Curve::NistP256);
        // The serverAddress case calls the proxy by its own address; the others call it by
        // the real SM-DP+'s name (a DNS entry pointing at the proxy), so only the tampering
        // differs from a good download.
        let (address, client) = if i == 0 {
            (hostile.address.clone(), es9.clone())
        } else {
            let to = hostile.address.parse().unwrap();
            (
                server.smdp.address.clone(),
                es9.clone().resolve(&server.smdp.address, to),
            )
        };
        let order = Order {
            address,
            matching_id: Some(mid),
            confirmation_code: None,
        };
        let e = lpa::download::download(&mut c, &client, &order, |_| {})
            .await
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains(refused_by), "{what}: {text}");
        assert!(
            c.profiles().unwrap().is_empty(),
            "{what}: nothing installed"
        );
        assert!(
            c.transport.card.euicc.installed_profiles().is_empty(),
            "{what}: no half-installed profile"
        );
        // The order is still there to download from the real SM-DP+ (or failed with a
        // reason), never installed.
        let after = server.profile(&p);
        assert_ne!(
            after.status,
            smdp_core::store::ProfileStatus::Installed,
            "{what}"
        );
    }
    server.stop().await;
}
