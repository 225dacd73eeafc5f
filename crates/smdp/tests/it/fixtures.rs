//! The SGP.23 conformance fixtures (`fixtures/sgp23.toml`): every fixture order answers the
//! code its name promises to an SGP.26 eUICC driven by the `lpa` crate; consumed orders are
//! replenished by the server, and a reset restores the initial state.

use std::time::Duration;

use crate::common::*;
use lpa::card::{Es10, VirtualCard};
use lpa::download::Order;
use lpa::es9::{Client, Trust};
use rsp_auth::pki::Pki;
use rsp_auth::{Backend, Curve};
use smdp_core::store::ProfileStatus;
use veuicc::apdu::Card;
use veuicc::Euicc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sgp23_fixture_answers_as_named_and_replenishes() {
    let Some(sgp26) = sgp26_dir() else { return };
    let fixtures = smdp_server::serve::load_fixtures("sgp23").unwrap();
    let server = TestServer::start(Options {
        pki: sgp26.clone(),
        fixtures: Some(fixtures.clone()),
        ..Options::default()
    })
    .await;
    let pki = Pki::load(&sgp26).unwrap();
    let mut card = Card::new(
        Euicc::from_pki(&pki, Curve::NistP256, Backend::AwsLc, server.clock.now()).unwrap(),
        rsp_auth::rng::rng(Some(23)),
    );
    card.set_time(Some(server.clock.now()));
    assert_eq!(
        card.euicc.eid().to_string(),
        "89049032123451234512345678901235"
    );
    let mut c = Es10::open(VirtualCard { card, state: None }).unwrap();
    let es9 = Client::new(Trust::Roots(vec![server.tls_root.clone()])).unwrap();
    let order = |mid: Option<&str>, cc: Option<&str>| Order {
        address: server.smdp.address.clone(),
        matching_id: mid.map(str::to_owned),
        confirmation_code: cc.map(str::to_owned),
    };
    let cases: [(Option<&str>, Option<&str>, Option<&str>); 12] = [
        (Some("TEST123"), Some("12345678"), None),
        (Some("AC_NOT_RELEASED"), None, Some("8.2/1.2")),
        (Some("AC_WITH_CC"), Some("11223344"), None),
        (Some("AC_NO_CC"), None, None),
        (Some("AC_NO_ELIGIBLE"), None, Some("8.2.5/4.3")),
        (Some("AC_EXPIRED"), None, Some("8.8.5/4.10")),
        (Some("AC_MAX_RETRIES"), None, Some("8.8.5/6.4")),
        (Some("AC_RESTRICTED_EID"), None, Some("8.1.1/3.8")),
        (Some("AC_OTHER_EID"), None, Some("8.1.1/3.8")),
        (Some("MATCHING_ID_1"), None, None),
        (Some("CC_REQUIRED_TEST"), Some("12345678"), None),
        // The default SM-DP+: by EID, the order made for it (not MATCHING_ID_1's).
        (None, None, None),
    ];
    for (mid, cc, want) in cases {
        let r = lpa::download::download(&mut c, &es9, &order(mid, cc), |_| {}).await;
        match (want, r) {
            (None, Ok(_)) => {}
            (Some(code), Err(e)) => assert!(e.to_string().contains(code), "{mid:?}: {e}"),
            (want, r) => panic!("{mid:?}: wanted {want:?}, got {r:?}"),
        }
    }
    lpa::notifications::process(&mut c, &es9, true)
        .await
        .unwrap();
    // AC_WITH_CC without its code: the LPA must ask for it.
    let e = lpa::download::download(&mut c, &es9, &order(Some("AC_NO_CC"), None), |_| {})
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("matching ID"),
        "AC_NO_CC is consumed now: {e}"
    );

    // Consumed orders come back, with fresh ICCIDs; the consumed ones keep theirs.
    let first = server
        .store
        .profiles()
        .unwrap()
        .into_iter()
        .find(|p| p.options.fixture.as_deref() == Some("TEST123"))
        .unwrap();
    let mut again = None;
    for _ in 0..300 {
        again = server
            .store
            .profile_by_matching_id("TEST123")
            .unwrap()
            .filter(|p| p.status == ProfileStatus::Available);
        if again.is_some() {
            break;
        }
        server.clock.advance(Duration::from_millis(100));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = again.expect("TEST123 replenished");
    assert_ne!(again.iccid, first.iccid);
    assert_eq!(server.profile(&first).status, ProfileStatus::Installed);
    lpa::download::download(
        &mut c,
        &es9,
        &order(Some("TEST123"), Some("12345678")),
        |_| {},
    )
    .await
    .unwrap();
    let e = lpa::download::download(&mut c, &es9, &order(Some("AC_MAX_RETRIES"), None), |_| {})
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("8.8.5/6.4"),
        "still used up by design: {e}"
    );

    // Reset: every live fixture order ends, and a fresh set is provisioned (by this call
    // or by the server's replenishing worker, whichever runs first).
    let before = server.store.profiles().unwrap().len();
    let n = smdp_core::fixtures::reset(server.store.as_ref(), server.clock.unix()).unwrap();
    assert!(n >= 10, "{n}");
    // Three provisioners at once (two here, the server's worker): each fixture once.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                smdp_core::fixtures::provision(
                    server.store.as_ref(),
                    &fixtures,
                    &rsp_saip::NumberPlan::default(),
                    None,
                    &mut rsp_auth::rng::rng(None),
                    server.clock.unix(),
                )
                .unwrap()
            });
        }
    });
    let all = server.store.profiles().unwrap();
    assert!(all.len() >= before + fixtures.orders.len());
    for f in &fixtures.orders {
        let live = all
            .iter()
            .filter(|p| p.options.fixture.as_deref() == Some(f.name.as_str()))
            .filter(|p| p.status != ProfileStatus::Failed && p.status != ProfileStatus::Installed)
            .count();
        assert_eq!(live, 1, "{}: live again after the reset, once", f.name);
    }

    // The same over REST: list, reset (provisioned within the call), list again.
    let acct = server.account("fixtures");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let (code, listed) = rest.get("/v1/Fixtures").await;
    assert_eq!(code, 200, "{listed}");
    let items = listed["fixtures"].as_array().unwrap().clone();
    assert_eq!(items.len(), fixtures.orders.len());
    let test123 = items.iter().find(|f| f["name"] == "TEST123").unwrap();
    assert_eq!(test123["matching_id"], "TEST123");
    assert_eq!(test123["status"], "available", "{test123}");
    let (code, done) = rest.send("POST", "/v1/Fixtures/Reset", &[]).await;
    assert_eq!(code, 200, "{done}");
    assert_eq!(done["reset"], fixtures.orders.len(), "{done}");
    let (_, after) = rest.get("/v1/Fixtures").await;
    assert_eq!(after["fixtures"], done["fixtures"]);
    for (old, new) in items.iter().zip(after["fixtures"].as_array().unwrap()) {
        assert_ne!(old["esim_profile_sid"], new["esim_profile_sid"], "{new}");
        assert_ne!(new["status"], "failed", "{new}");
    }
    // The reset order still downloads.
    lpa::download::download(
        &mut c,
        &es9,
        &order(Some("TEST123"), Some("12345678")),
        |_| {},
    )
    .await
    .unwrap();
    let (code, _) = rest.send("GET", "/v1/Fixtures/Reset", &[]).await;
    assert_eq!(code, 405);
    let stranger = Rest::basic(server.rest(), &acct.account_sid, "wrong");
    assert_eq!(stranger.get("/v1/Fixtures").await.0, 401);
    server.stop().await;
}

/// A server without fixtures has no fixtures resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fixtures_no_fixtures_resource() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("nofixtures");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let (code, body) = rest.send("POST", "/v1/Fixtures/Reset", &[]).await;
    assert_eq!(code, 404, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("--fixtures"),
        "{body}"
    );
    server.stop().await;
}
