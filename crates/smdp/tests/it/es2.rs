//! ES2+ (SGP.22 §5.3) over mutual TLS, with our own operator client
//! (`smdp_operator::es2_client`): every function and every code it can answer, the resend
//! rule, refusals at TLS, and an ES2+ order downloaded by the LPA over ES9+ with its REST view
//! consistent throughout.

use std::time::Duration;

use crate::common::*;
use lpa::download::Order;
use lpa::es9::{Client, Trust};
use rsp_auth::pki::Pki;
use rsp_auth::{Backend, Curve};
use serde_json::{json, Value};
use smdp_operator::es2_client::Es2Client;

const OPERATOR: &str = "test.operator.com";

/// A client certificate for `id` under `ca` (our operator CA by default), as PEM (chain, key).
fn identity(id: &str, ca: Option<&rsp_auth::generate::Issued>) -> (String, String) {
    let ours = rsp_auth::operator::load_ca(&our_pki_dir())
        .unwrap()
        .unwrap();
    let ca = ca.unwrap_or(&ours);
    let c = rsp_auth::operator::issue_client(ca, id, &mut rsp_auth::rng::rng(Some(3))).unwrap();
    (c.cert.to_pem().unwrap(), c.key.to_sec1_pem().unwrap())
}

fn client_as(server: &TestServer, identity: Option<&(String, String)>) -> Es2Client {
    let addr = server.es2_addr.expect("ES2+ served");
    Es2Client::new(
        &addr.to_string(),
        ADDRESS,
        std::slice::from_ref(&server.tls_root),
        identity.map(|(c, k)| (c.as_bytes(), k.as_bytes())),
    )
    .unwrap()
}

fn operator(server: &TestServer, id: &str) -> Es2Client {
    client_as(server, Some(&identity(id, None)))
}

fn header(id: &str) -> Value {
    json!({"functionRequesterIdentifier": id, "functionCallIdentifier": "call-1"})
}

/// Calls `function` with `body` (a header for `OPERATOR` added unless it has one).
async fn call(c: &Es2Client, function: &str, mut body: Value) -> Value {
    if body.get("header").is_none() {
        body["header"] = header(OPERATOR);
    }
    let r = c
        .call(
            &format!("/gsma/rsp2/es2plus/{function}"),
            body.to_string().as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(
        r.status,
        200,
        "{function}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let ct = r.headers["content-type"].to_str().unwrap();
    assert!(ct.starts_with("application/json"), "{ct}");
    assert!(r.headers["x-admin-protocol"]
        .to_str()
        .unwrap()
        .starts_with("gsma/rsp/v2."));
    r.json()
}

fn ok(v: &Value) {
    assert_eq!(
        v["header"]["functionExecutionStatus"]["status"], "Executed-Success",
        "{v}"
    );
}

fn code(v: &Value) -> String {
    let s = &v["header"]["functionExecutionStatus"];
    assert_eq!(s["status"], "Failed", "{v}");
    format!(
        "{}/{}",
        s["statusCodeData"]["subjectCode"].as_str().unwrap(),
        s["statusCodeData"]["reasonCode"].as_str().unwrap()
    )
}

/// Stocks `n` inventory profiles of type `t` for the account; their ICCIDs.
fn stock(server: &TestServer, account: &str, t: &str, n: usize) -> Vec<String> {
    let mut rng = rsp_auth::rng::rng(None);
    (0..n)
        .map(|_| {
            smdp_core::orders::stock(
                server.store.as_ref(),
                &rsp_saip::NumberPlan::default(),
                None,
                &smdp_core::orders::StockRequest {
                    account_sid: account.into(),
                    profile_type: t.into(),
                    template: smdp_core::template::TemplateSource::Minimal { size: None },
                    max_attempts: 5,
                    service_provider_name: "smdp-sim".into(),
                    profile_name: "ES2+ test profile".into(),
                },
                &mut rng,
                server.clock.unix(),
            )
            .unwrap()
            .iccid
            .unwrap()
        })
        .collect()
}

fn eid(n: u8) -> String {
    rsp_asn1::ids::Eid::with_check_digits(&format!("8904903200000000000000000000{n:02}"))
        .unwrap()
        .to_string()
}

async fn es2_server() -> (TestServer, smdp_operator::accounts::Credentials) {
    let server = TestServer::start(Options {
        es2: Some(es2_on_our_ca()),
        ..Options::default()
    })
    .await;
    let acct = server.account("es2");
    (server, acct)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_answers_each_of_its_codes() {
    let (server, acct) = es2_server().await;
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let tests = stock(&server, &acct.account_sid, "Test", 4);
    let other = stock(&server, &acct.account_sid, "Other", 1);
    let op = operator(&server, OPERATOR);
    // Inventory is no ESimProfile; the account's inventory is counted.
    assert_eq!(
        rest.get("/v1/ESimProfiles").await.1["esim_profiles"],
        json!([])
    );
    assert_eq!(
        rest.get("/v1/Inventory").await.1["inventory"],
        json!([
            {"profile_type": "Other", "state": "Available", "count": 1},
            {"profile_type": "Test", "state": "Available", "count": 4},
        ])
    );
    let stranger = server.account("another");
    let theirs = Rest::basic(server.rest(), &stranger.account_sid, &stranger.auth_token);
    assert_eq!(theirs.get("/v1/Inventory").await.1["inventory"], json!([]));

    // The header: whole, and naming the certificate's requester; the body: JSON.
    let bare = json!({"iccid": tests[0]});
    let mut no_header = bare.clone();
    no_header["header"] = json!({});
    assert_eq!(
        code(&call(&op, "downloadOrder", no_header).await),
        "1.6/2.2"
    );
    let mut impostor = bare.clone();
    impostor["header"] = header("other.operator.com");
    assert_eq!(code(&call(&op, "downloadOrder", impostor).await), "1.1/1.2");
    let r = op
        .call("/gsma/rsp2/es2plus/downloadOrder", b"{not json")
        .await
        .unwrap();
    assert_eq!((r.status, code(&r.json()).as_str()), (200, "1.6/2.1"));
    assert_eq!(
        code(&call(&op, "downloadOrder", json!({"iccid": "89ABC"})).await),
        "1.6/2.1"
    );

    // DownloadOrder.
    assert_eq!(
        code(&call(&op, "downloadOrder", json!({})).await),
        "1.6/2.3"
    );
    assert_eq!(
        code(
            &call(
                &op,
                "downloadOrder",
                json!({"iccid": "8900000000000000000"})
            )
            .await
        ),
        "8.2.1/3.9"
    );
    assert_eq!(
        code(&call(&op, "downloadOrder", json!({"profileType": "Nope"})).await),
        "8.2.5/3.9"
    );
    assert_eq!(
        code(
            &call(
                &op,
                "downloadOrder",
                json!({"iccid": tests[0], "profileType": "Other"})
            )
            .await
        ),
        "8.2.5/3.8"
    );
    // By ICCID without its check digit, F-padded as in EF.ICCID, and empty strings for
    // absent fields, for one EID.
    assert_eq!(tests[0].len(), 20);
    let padded = format!("{}F", &tests[0][..19]);
    let order = json!({"iccid": padded, "eid": eid(1), "profileType": ""});
    let v = call(&op, "downloadOrder", order.clone()).await;
    ok(&v);
    assert_eq!(v["iccid"], tests[0]);
    // The resend rule: the same order again succeeds, another one fails.
    ok(&call(&op, "downloadOrder", order).await);
    assert_eq!(
        code(
            &call(
                &op,
                "downloadOrder",
                json!({"iccid": tests[0], "eid": eid(2)})
            )
            .await
        ),
        "8.2.1/3.3"
    );
    // By type: the oldest of the type, until there is none.
    let v = call(&op, "downloadOrder", json!({"profileType": "Other"})).await;
    assert_eq!(v["iccid"], other[0]);
    assert_eq!(
        code(&call(&op, "downloadOrder", json!({"profileType": "Other"})).await),
        "8.2.5/3.7"
    );
    let v = call(&op, "downloadOrder", json!({"profileType": "Test"})).await;
    assert_eq!(v["iccid"], tests[1]);
    // The REST view: ordered, not yet released.
    let (_, list) = rest.get("/v1/ESimProfiles").await;
    let listed = list["esim_profiles"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|p| p["status"] == "reserving"), "{list}");

    // ConfirmOrder.
    let confirm = |iccid: &str, extra: Value| {
        let mut b = json!({"iccid": iccid, "releaseFlag": true});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    assert_eq!(
        code(&call(&op, "confirmOrder", json!({"iccid": tests[0]})).await),
        "1.6/2.2"
    );
    assert_eq!(
        code(
            &call(
                &op,
                "confirmOrder",
                confirm(&tests[1], json!({"matchingId": ""}))
            )
            .await
        ),
        "8.1.1/2.2"
    );
    assert_eq!(
        code(
            &call(
                &op,
                "confirmOrder",
                confirm(&tests[0], json!({"eid": eid(3)}))
            )
            .await
        ),
        "8.1.1/3.10"
    );
    assert_eq!(
        code(
            &call(
                &op,
                "confirmOrder",
                confirm(&tests[0], json!({"smdsAddress": "smds.example.com"}))
            )
            .await
        ),
        "8.9/5.1"
    );
    assert_eq!(
        code(&call(&op, "confirmOrder", confirm(&tests[2], json!({}))).await),
        "8.2.1/1.2",
        "not ordered"
    );
    let someone = operator(&server, "other.operator.com");
    let mut theirs = confirm(&tests[0], json!({}));
    theirs["header"] = header("other.operator.com");
    assert_eq!(
        code(&call(&someone, "confirmOrder", theirs).await),
        "8.2.1/1.2"
    );
    // Given matching ID, held (releaseFlag false).
    let v = call(
        &op,
        "confirmOrder",
        confirm(
            &tests[0],
            json!({"matchingId": "ES2-MID-1", "releaseFlag": false}),
        ),
    )
    .await;
    ok(&v);
    assert_eq!(v["matchingId"], "ES2-MID-1");
    assert_eq!(v["eid"], eid(1));
    assert_eq!(v["smdpAddress"], server.smdp.address.as_str());
    let held = server.store.profile_by_iccid(&tests[0]).unwrap().unwrap();
    assert_eq!(held.es2_state(), smdp_core::es2::State::Confirmed);
    assert!(!held.released);
    // Confirmed again, the same way: a resend.
    ok(&call(
        &op,
        "confirmOrder",
        confirm(
            &tests[0],
            json!({"matchingId": "ES2-MID-1", "releaseFlag": false}),
        ),
    )
    .await);
    assert_eq!(
        code(
            &call(
                &op,
                "confirmOrder",
                confirm(&tests[1], json!({"matchingId": "ES2-MID-1"}))
            )
            .await
        ),
        "8.2.6/3.3"
    );
    // Absent matching ID: one is made, the order released at once.
    let v = call(
        &op,
        "confirmOrder",
        confirm(&tests[1], json!({"confirmationCode": "1234"})),
    )
    .await;
    ok(&v);
    let made = v["matchingId"].as_str().unwrap();
    assert_eq!(made.len(), 23, "{made}");
    assert!(v.get("eid").is_none(), "{v}");

    // ReleaseProfile.
    assert_eq!(
        code(&call(&op, "releaseProfile", json!({"iccid": other[0]})).await),
        "8.2.1/3.5",
        "ordered, not confirmed"
    );
    assert_eq!(
        code(&call(&op, "releaseProfile", json!({"iccid": tests[3]})).await),
        "8.2.1/3.9",
        "not ordered"
    );
    ok(&call(&op, "releaseProfile", json!({"iccid": tests[0]})).await);
    ok(&call(&op, "releaseProfile", json!({"iccid": tests[0]})).await);
    let sid = held.sid.clone();
    let (_, v) = rest.get(&format!("/v1/ESimProfiles/{sid}")).await;
    assert_eq!(v["status"], "available", "{v}");
    assert_eq!(v["iccid"], tests[0]);
    assert_eq!(v["eid"], eid(1));

    // CancelOrder.
    let cancel = |iccid: &str, m: Option<&str>, to: &str| {
        let mut b = json!({"iccid": iccid, "finalProfileStatusIndicator": to});
        if let Some(m) = m {
            b["matchingId"] = json!(m);
        }
        b
    };
    assert_eq!(
        code(
            &call(
                &op,
                "cancelOrder",
                cancel(&tests[0], Some("WRONG"), "Available")
            )
            .await
        ),
        "8.2.6/3.10"
    );
    assert_eq!(
        code(
            &call(
                &op,
                "cancelOrder",
                cancel("8900000000000000000", None, "Available")
            )
            .await
        ),
        "8.2.1/3.9"
    );
    assert_eq!(
        code(&call(&op, "cancelOrder", json!({"iccid": tests[0]})).await),
        "1.6/2.2"
    );
    ok(&call(
        &op,
        "cancelOrder",
        cancel(&tests[0], Some("ES2-MID-1"), "Available"),
    )
    .await);
    let back = server.store.profile_by_iccid(&tests[0]).unwrap().unwrap();
    assert!(back.in_inventory() && back.matching_id.is_none());
    assert_eq!(
        rest.get(&format!("/v1/ESimProfiles/{sid}")).await.0,
        404,
        "back in the inventory: no ESimProfile"
    );
    ok(&call(&op, "cancelOrder", cancel(&tests[1], None, "Unavailable")).await);
    let gone = server.store.profile_by_iccid(&tests[1]).unwrap().unwrap();
    let (_, v) = rest.get(&format!("/v1/ESimProfiles/{}", gone.sid)).await;
    assert_eq!(v["status"], "failed");
    assert_eq!(
        code(&call(&op, "downloadOrder", json!({"iccid": tests[1]})).await),
        "8.2.1/3.3",
        "unavailable for good"
    );
    // Ordered again after the cancel: charged once per profile.
    ok(&call(&op, "downloadOrder", json!({"iccid": tests[0]})).await);
    let charges = server.store.charges(&acct.account_sid).unwrap();
    assert_eq!(charges.len(), 3, "{charges:?}");
    assert!(charges.iter().all(|c| c.amount_cents == 300));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_operators_of_the_trusted_ca_get_through() {
    let (server, acct) = es2_server().await;
    let tests = stock(&server, &acct.account_sid, "Test", 1);
    let body = json!({"header": header(OPERATOR), "iccid": tests[0]}).to_string();
    let path = "/gsma/rsp2/es2plus/downloadOrder";
    // No certificate, or one from another CA: refused in the handshake.
    let e = client_as(&server, None)
        .call(path, body.as_bytes())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ES2+"), "{e}");
    let stranger_ca = rsp_auth::operator::generate_ca(&mut rsp_auth::rng::rng(Some(8))).unwrap();
    let stranger = identity(OPERATOR, Some(&stranger_ca));
    assert!(client_as(&server, Some(&stranger))
        .call(path, body.as_bytes())
        .await
        .is_err());
    let p = server.store.profile_by_iccid(&tests[0]).unwrap().unwrap();
    assert!(p.in_inventory(), "nothing changed");
    // ES2+ is served on its listener only.
    let es9 = Es2Client::new(
        &server.addr.to_string(),
        ADDRESS,
        std::slice::from_ref(&server.tls_root),
        Some((
            identity(OPERATOR, None).0.as_bytes(),
            identity(OPERATOR, None).1.as_bytes(),
        )),
    )
    .unwrap();
    assert_eq!(es9.call(path, body.as_bytes()).await.unwrap().status, 404);
    // HTTP-level refusals on the ES2+ listener.
    let op = operator(&server, OPERATOR);
    assert_eq!(
        op.call("/gsma/rsp2/es2plus/nothing", b"{}")
            .await
            .unwrap()
            .status,
        404
    );
    ok(&op.call(path, body.as_bytes()).await.unwrap().json());
    server.stop().await;
}

/// SGP.26's operator certificate is self-signed and expired: trusted as its own anchor, and
/// admitted only with the explicit opt-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_self_signed_operator_certificate_needs_the_opt_in() {
    use rsp_auth::generate::{issue_operator, OperatorCert};
    let mut rng = rsp_auth::rng::rng(Some(9));
    let key = rsp_auth::key::SigningKey::generate(Curve::NistP256, &mut rng);
    let t = |y: u64| std::time::UNIX_EPOCH + Duration::from_secs(y);
    let cert = issue_operator(
        OperatorCert::Client,
        &[("CN", "mno.example.com".into())],
        &[],
        (t(1_500_000_000), t(1_600_000_000)),
        &key,
        None,
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        rsp_auth::operator::requester_of_der(cert.der()).as_deref(),
        Some("mno.example.com"),
        "a CN-only certificate names its requester by CN"
    );
    let dir = scratch_dir("es2-expired");
    std::fs::create_dir_all(&dir).unwrap();
    let anchor = dir.join("mno.pem");
    std::fs::write(&anchor, cert.to_pem().unwrap()).unwrap();
    let me = (cert.to_pem().unwrap(), key.to_sec1_pem().unwrap());
    let body = json!({"header": header("mno.example.com"), "profileType": "Nope"}).to_string();
    let path = "/gsma/rsp2/es2plus/downloadOrder";
    for allow in [false, true] {
        let cfg = smdp_server::serve::Es2Config::from_file(
            "127.0.0.1:0".parse().unwrap(),
            &anchor,
            allow,
        )
        .unwrap();
        let server = TestServer::start(Options {
            es2: Some(cfg),
            ..Options::default()
        })
        .await;
        let r = client_as(&server, Some(&me))
            .call(path, body.as_bytes())
            .await;
        if allow {
            assert_eq!(
                code(&r.unwrap().json()),
                "8.2.5/3.9",
                "admitted, then answered"
            );
        } else {
            assert!(r.is_err(), "expired: refused at TLS");
        }
        server.stop().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn card(server: &TestServer) -> crate::lpa::VCard {
    crate::lpa::card(server, &our_pki_dir(), Curve::NistP256)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_es2_order_is_downloaded_by_the_lpa_once_released() {
    let bss = crate::callbacks::Receiver::start().await;
    let server = TestServer::start(Options {
        es2: Some(es2_on_our_ca()),
        es2_endpoints: [(OPERATOR.to_string(), bss.url())].into(),
        ..Options::default()
    })
    .await;
    let acct = server.account("es2");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let iccid = stock(&server, &acct.account_sid, "Test", 1).remove(0);
    let op = operator(&server, OPERATOR);
    let mut c = card(&server);
    let card_eid = c.eid().unwrap().to_string();
    ok(&call(
        &op,
        "downloadOrder",
        json!({"profileType": "Test", "eid": card_eid}),
    )
    .await);
    let v = call(
        &op,
        "confirmOrder",
        json!({"iccid": iccid, "releaseFlag": false, "confirmationCode": "0000"}),
    )
    .await;
    let ac = format!(
        "LPA:1${}${}",
        v["smdpAddress"].as_str().unwrap(),
        v["matchingId"].as_str().unwrap()
    );
    let mut order = Order::from_activation_code(&ac).unwrap();
    order.confirmation_code = Some("0000".into());
    let es9 = Client::new(Trust::Roots(vec![server.tls_root.clone()])).unwrap();
    // Confirmed, not released: ES9+ answers 8.2/1.2.
    let e = lpa::download::download(&mut c, &es9, &order, |_| {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("8.2/1.2"), "{e}");
    let sid = server.store.profile_by_iccid(&iccid).unwrap().unwrap().sid;
    assert_eq!(
        rest.get(&format!("/v1/ESimProfiles/{sid}")).await.1["status"],
        "reserving"
    );
    ok(&call(&op, "releaseProfile", json!({"iccid": iccid})).await);
    assert_eq!(
        rest.get(&format!("/v1/ESimProfiles/{sid}")).await.1["status"],
        "available"
    );
    // Another order, downloaded with a wrong confirmation code: the operator hears of it
    // (notification point 2), and the order fails (our LPA gives up: endUserRejection).
    let iccid2 = stock(&server, &acct.account_sid, "Test", 1).remove(0);
    ok(&call(
        &op,
        "downloadOrder",
        json!({"iccid": iccid2, "eid": card_eid}),
    )
    .await);
    let v2 = call(
        &op,
        "confirmOrder",
        json!({"iccid": iccid2, "releaseFlag": true, "confirmationCode": "1111"}),
    )
    .await;
    let ac2 = format!(
        "LPA:1${}${}",
        v2["smdpAddress"].as_str().unwrap(),
        v2["matchingId"].as_str().unwrap()
    );
    let mut wrong = Order::from_activation_code(&ac2).unwrap();
    wrong.confirmation_code = Some("9999".into());
    let e = lpa::download::download(&mut c, &es9, &wrong, |_| {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("8.2.7/3.8"), "{e}");
    let failed = server.store.profile_by_iccid(&iccid2).unwrap().unwrap();
    assert_eq!(failed.es2_state(), smdp_core::es2::State::Error);
    assert_eq!(
        rest.get(&format!("/v1/ESimProfiles/{}", failed.sid))
            .await
            .1["status"],
        "failed"
    );
    let installed = lpa::download::download(&mut c, &es9, &order, |_| {})
        .await
        .unwrap();
    assert_eq!(installed.iccid.as_deref(), Some(iccid.as_str()));
    lpa::notifications::process(&mut c, &es9, true)
        .await
        .unwrap();
    let p = server.store.profile_by_iccid(&iccid).unwrap().unwrap();
    assert_eq!(p.es2_state(), smdp_core::es2::State::Installed);
    // Deleted on the card: point 5.
    let id = rsp_asn1::es10::ProfileIdentifier::Iccid(
        rsp_asn1::ids::Iccid::from_digits(&iccid).unwrap(),
    );
    c.delete(id).unwrap();
    lpa::notifications::process(&mut c, &es9, true)
        .await
        .unwrap();

    // Every progress info, in order, as SGP.22 §5.3.5 shapes it.
    let got = bss.wait_for(6, None).await;
    let infos: Vec<Value> = got
        .iter()
        .map(|r| {
            assert!(r.content_type.starts_with("application/json"), "{r:?}");
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect();
    // In order per profile (the callback queue's rule); the two profiles' may interleave.
    let points = |of: &str| -> Vec<(i64, String)> {
        infos
            .iter()
            .filter(|v| v["iccid"] == of)
            .map(|v| {
                (
                    v["notificationPointId"].as_i64().unwrap(),
                    v["notificationPointStatus"]["status"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect()
    };
    let s = |p: i64, st: &str| (p, st.to_string());
    assert_eq!(
        points(&iccid2),
        [s(1, "Executed-Success"), s(2, "Failed")],
        "{infos:#?}"
    );
    assert_eq!(
        points(&iccid),
        [
            s(1, "Executed-Success"),
            s(3, "Executed-Success"),
            s(4, "Executed-Success"),
            s(5, "Executed-Success"),
        ],
        "{infos:#?}"
    );
    let refused = infos
        .iter()
        .find(|v| v["notificationPointId"] == 2)
        .unwrap();
    let code_data = &refused["notificationPointStatus"]["statusCodeData"];
    assert_eq!(
        (
            code_data["subjectCode"].as_str(),
            code_data["reasonCode"].as_str()
        ),
        (Some("8.2.7"), Some("3.8"))
    );
    let installation = infos
        .iter()
        .find(|v| v["notificationPointId"] == 4)
        .unwrap();
    for v in &infos {
        assert_eq!(v["eid"], card_eid.as_str());
        assert_eq!(v["profileType"], "Test");
        assert_eq!(
            v["header"]["functionRequesterIdentifier"],
            server.smdp.address.as_str()
        );
        let ts = v["timestamp"].as_str().unwrap();
        assert!(ts.len() == 20 && ts.ends_with('Z'), "{ts}");
    }
    let calls: std::collections::BTreeSet<&str> = infos
        .iter()
        .map(|v| v["header"]["functionCallIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(calls.len(), 6, "one functionCallIdentifier each");
    // The PIR as resultData: it decodes, and its euiccSignPIR verifies under the card's key.
    let pir = rsp_asn1::es9::base64_decode(installation["resultData"].as_str().unwrap()).unwrap();
    let rsp_asn1::notification::PendingNotification::ProfileInstallationResult(pir) =
        rsp_asn1::decode::<rsp_asn1::notification::PendingNotification>(&pir).unwrap()
    else {
        panic!("resultData is not a PIR");
    };
    assert!(matches!(
        pir.profile_installation_result_data.value().final_result,
        rsp_asn1::notification::FinalResult::SuccessResult(_)
    ));
    let pki = Pki::load(&our_pki_dir()).unwrap();
    let euicc = pki
        .by_curve(Curve::NistP256)
        .unwrap()
        .euicc
        .as_ref()
        .unwrap();
    euicc
        .cert
        .public_key()
        .verify_raw(
            rsp_auth::sig::input::euicc_sign_pir(&pir.profile_installation_result_data),
            pir.euicc_sign_pir.as_ref(),
            Backend::AwsLc,
        )
        .expect("euiccSignPIR verifies");
    let (_, v) = rest.get(&format!("/v1/ESimProfiles/{sid}")).await;
    assert_eq!(
        (v["status"].as_str(), v["eid"].as_str()),
        (Some("installed"), Some(card_eid.as_str()))
    );
    // Too late to cancel; a new order of it is refused.
    assert_eq!(
        code(
            &call(
                &op,
                "cancelOrder",
                json!({"iccid": iccid, "finalProfileStatusIndicator": "Available"})
            )
            .await
        ),
        "8.2.1/1.2"
    );
    assert_eq!(
        code(&call(&op, "downloadOrder", json!({"iccid": iccid})).await),
        "8.2.1/3.3"
    );
    server.stop().await;
}

/// A progress info whose delivery failed is retried from the store after a restart, and
/// reaches the operator once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progress_info_retried_across_a_restart_arrives_once() {
    let bss = crate::callbacks::Receiver::start().await;
    bss.answers.lock().unwrap().push_back(500);
    let opts = || Options {
        es2: Some(es2_on_our_ca()),
        es2_endpoints: [(OPERATOR.to_string(), bss.url())].into(),
        ..Options::default()
    };
    let mut server = TestServer::start(opts()).await;
    let acct = server.account("es2");
    let iccid = stock(&server, &acct.account_sid, "Test", 1).remove(0);
    let op = operator(&server, OPERATOR);
    let mut c = card(&server);
    ok(&call(&op, "downloadOrder", json!({"iccid": iccid})).await);
    let v = call(
        &op,
        "confirmOrder",
        json!({"iccid": iccid, "releaseFlag": true}),
    )
    .await;
    let ac = format!(
        "LPA:1${}${}",
        v["smdpAddress"].as_str().unwrap(),
        v["matchingId"].as_str().unwrap()
    );
    let order = Order::from_activation_code(&ac).unwrap();
    let es9 = Client::new(Trust::Roots(vec![server.tls_root.clone()])).unwrap();
    lpa::download::download(&mut c, &es9, &order, |_| {})
        .await
        .unwrap();
    lpa::notifications::process(&mut c, &es9, true)
        .await
        .unwrap();
    // The first attempt fails (HTTP 500); the rest wait behind it, in order, across the
    // restart.
    bss.wait_for(1, None).await;
    server.restart(opts()).await;
    let got = bss.wait_for(4, Some(&server.clock)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        bss.received().len(),
        4,
        "nothing more: {:?}",
        bss.received()
    );
    let infos: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let points: Vec<i64> = infos
        .iter()
        .map(|v| v["notificationPointId"].as_i64().unwrap())
        .collect();
    assert_eq!(
        points,
        [1, 1, 3, 4],
        "the failed one again, then the rest in order"
    );
    assert_eq!(infos[0], infos[1], "the retry is the same progress info");
    let calls: std::collections::BTreeSet<&str> = infos[1..]
        .iter()
        .map(|v| v["header"]["functionCallIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(calls.len(), 3, "each delivered once");
    server.stop().await;
}
