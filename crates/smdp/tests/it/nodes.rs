//! Two `smdp serve` nodes on one PostgreSQL database (issue 17): no ES9+ session, order or
//! notification lives in one node's memory, so an LPA may reach either node for each call.
//! Skipped locally without `DATABASE_URL`; CI starts PostgreSQL.

use std::sync::Arc;

use rsp_auth::Curve;
use smdp_core::store::{OperatorStore, ProfileStatus};
use smdp_store_postgres::testing::fresh_db;
use smdp_store_postgres::PgStore;

use crate::common::*;

/// Nodes A and B on one fresh database, with different seeds (their transaction IDs and
/// keys must not coincide, as on two machines).
async fn two_nodes(url: &str) -> (TestServer, TestServer) {
    let node = |seed| {
        let store: Arc<dyn OperatorStore> = Arc::new(PgStore::connect(url).expect("connect"));
        TestServer::start_on(
            Options {
                seed: Some(seed),
                ..Options::default()
            },
            store,
        )
    };
    let a = node(1).await;
    let b = node(2).await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_lpa_alternating_between_nodes_downloads() {
    let Some(db) = fresh_db() else { return };
    let (a, b) = two_nodes(&db.url).await;
    for (i, mid) in ["NODES-1", "NODES-2"].into_iter().enumerate() {
        let p = a.reserve(by_matching_id(mid));
        let mut lpa = Lpa::new(&a, &our_pki_dir(), Curve::NistP256);
        // The first download starts on A, the second on B; every call goes to the other node.
        let (first, second) = if i == 0 { (&a, &b) } else { (&b, &a) };
        lpa.client = first.client();
        let init = lpa.initiate().await.expect("initiateAuthentication");
        lpa.client = second.client();
        let auth = lpa
            .authenticate(&init, Some(mid))
            .await
            .expect("authenticateClient on the other node");
        lpa.client = first.client();
        let bpp = lpa
            .get_bpp(&auth, None)
            .await
            .expect("getBoundProfilePackage");
        lpa.client = second.client();
        lpa.install(&bpp).await;
        for node in [&a, &b] {
            assert_eq!(node.profile(&p).status, ProfileStatus::Installed, "{mid}");
        }
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_made_on_one_node_downloads_through_the_other() {
    let Some(db) = fresh_db() else { return };
    let (a, b) = two_nodes(&db.url).await;
    let acct = a.account("nodes");
    let rest_a = Rest::basic(a.rest(), &acct.account_sid, &acct.auth_token);
    let rest_b = Rest::basic(b.rest(), &acct.account_sid, &acct.auth_token);
    let (s, v) = rest_a.create(&[("GenerateMatchingId", "true")]).await;
    assert_eq!(s, 201, "{v}");
    let sid = v["sid"].as_str().unwrap().to_string();
    // Either node's reservation worker may take it; B sees it available.
    let v = reserved(&rest_b, &sid).await;
    assert_eq!(v["status"], "available", "{v}");
    let mid = v["matching_id"].as_str().unwrap().to_string();
    let mut lpa = Lpa::new(&b, &our_pki_dir(), Curve::NistP256);
    lpa.client = b.client();
    lpa.download(Some(&mid), None)
        .await
        .expect("download through B");
    let (s, v) = rest_a.get(&format!("/v1/ESimProfiles/{sid}")).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("installed")), "{v}");
    // Reserved once, charged once, whichever node did it.
    let charges = a.store.charges(&acct.account_sid).unwrap();
    assert_eq!(charges.len(), 1, "{charges:?}");
    a.stop().await;
    b.stop().await;
}
