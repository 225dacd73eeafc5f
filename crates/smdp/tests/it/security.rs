//! Security properties of issue 18 that no other file owns: matching-ID guessing limits.

use std::net::IpAddr;
use std::time::Duration;

use rsp_asn1::es9::{self, path, ResponseHeader};
use smdp_core::es9::guesses::GuessLimit;
use smdp_core::es9::{Es9Answer, Policy, Smdp};
use smdp_core::orders::OrderRequest;
use smdp_core::store::ProfileStatus;

use crate::common::*;

/// One ES9+ call in process, as if from `client`.
fn call_from<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
    smdp: &Smdp,
    function: &str,
    req: &Req,
    client: &str,
) -> Result<Resp, ResponseHeader> {
    let ip: IpAddr = client.parse().unwrap();
    let body = serde_json::to_vec(req).unwrap();
    match smdp_core::es9::dispatch_from(smdp, function, &body, Some(ip)) {
        Some(Es9Answer::Json(b)) => es9::parse_response(&b).unwrap(),
        other => panic!("{other:?}"),
    }
}

/// initiateAuthentication and authenticateClient in process from `client`.
fn authenticate_from(
    smdp: &Smdp,
    lpa: &mut Lpa,
    matching_id: &str,
    client: &str,
) -> Result<es9::AuthenticateClientResponse, ResponseHeader> {
    let init = lpa.initiate_request();
    let init = call_from(smdp, path::INITIATE_AUTHENTICATION, &init, client)?;
    let req = lpa.authenticate_client_request(&init, Some(matching_id));
    call_from(smdp, path::AUTHENTICATE_CLIENT, &req, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_id_guessing_is_limited_per_client_and_per_eid_then_recovers() {
    let server = TestServer::start(Options {
        policy: Policy {
            matching_id_guesses: Some(GuessLimit {
                failures: 3,
                window: Duration::from_secs(60),
            }),
            ..Policy::default()
        },
        ..Default::default()
    })
    .await;
    let cards = EuiccFactory::new(&server);
    let first = server.reserve(by_matching_id("RIGHT-1"));
    let bound = server.reserve(OrderRequest {
        eid: Some(test_eid(3)),
        ..by_matching_id("BOUND-1")
    });
    let mut a = Lpa::with_euicc(&server, cards.euicc(&test_eid(1), 1));
    // Over TLS (from loopback): two unknown IDs and an order for another EID are 8.2.6/3.8
    // and 8.1.1/3.8…
    for (mid, code) in [
        ("WRONG-1", "8.2.6"),
        ("WRONG-2", "8.2.6"),
        ("BOUND-1", "8.1.1"),
    ] {
        let init = a.initiate().await.unwrap();
        assert_failed(a.authenticate(&init, Some(mid)).await, code, "3.8");
    }
    // …and then even the right one is refused, 8.2.6/6.4, so a hit cannot be told apart.
    let init = a.initiate().await.unwrap();
    assert_failed(a.authenticate(&init, Some("RIGHT-1")).await, "8.2.6", "6.4");
    // Another eUICC from the same client address: refused for the address.
    let mut b = Lpa::with_euicc(&server, cards.euicc(&test_eid(2), 2));
    let init = b.initiate().await.unwrap();
    assert_failed(b.authenticate(&init, Some("RIGHT-1")).await, "8.2.6", "6.4");
    // The first eUICC from another address: refused for its EID.
    let r = authenticate_from(&server.smdp, &mut a, "RIGHT-1", "192.0.2.7");
    assert_failed(r, "8.2.6", "6.4");
    // The second eUICC from another address has failed nothing: served. A download by EID
    // (no matching ID) is never throttled.
    authenticate_from(&server.smdp, &mut b, "RIGHT-1", "2001:db8::7").unwrap();
    let stats = server.smdp.guess_stats();
    assert_eq!((stats.failed, stats.refused, stats.tracked), (3, 3, 2));
    // The window ends: the first eUICC downloads from loopback again.
    server.clock.advance(Duration::from_secs(60));
    let order = server.reserve(by_matching_id("RIGHT-2"));
    a.download(Some("RIGHT-2"), None).await.unwrap();
    assert_eq!(server.profile(&order).status, ProfileStatus::Installed);
    assert_eq!(server.profile(&first).status, ProfileStatus::Available);
    assert_eq!(server.profile(&bound).status, ProfileStatus::Available);
    server.stop().await;
}
