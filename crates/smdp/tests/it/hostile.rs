//! Hostile mode against our own LPA: with every ES9+ answer mutated (structure-aware), the
//! `lpa` crate and the virtual eUICC never panic, each download ends with the card out of
//! its RSP session, and nothing half-installed is left on the card.

use crate::common::*;
use lpa::card::{Es10, VirtualCard};
use lpa::download::Order;
use lpa::es9::{Client, Trust};
use rsp_auth::pki::Pki;
use rsp_auth::{Backend, Curve};
use veuicc::apdu::Card;
use veuicc::Euicc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lpa_survives_a_hostile_smdp_and_ends_each_session() {
    let server = TestServer::start(Options {
        hostile: Some((11, 1.0)),
        ..Options::default()
    })
    .await;
    let es9 = Client::new(Trust::Roots(vec![server.tls_root.clone()])).unwrap();
    let pki = Pki::load(&our_pki_dir()).unwrap();
    let (mut failed, mut installed) = (0, 0);
    for i in 0..24 {
        let mid = format!("HOSTILE-{i}");
        server.reserve(by_matching_id(&mid));
        let curve = if i % 2 == 0 {
            Curve::NistP256
        } else {
            Curve::BrainpoolP256r1
        };
        let mut card = Card::new(
            Euicc::from_pki(&pki, curve, Backend::AwsLc, server.clock.now()).unwrap(),
            rsp_auth::rng::rng(Some(i)),
        );
        card.set_time(Some(server.clock.now()));
        let mut c = Es10::open(VirtualCard { card, state: None }).unwrap();
        let order = Order {
            address: server.smdp.address.clone(),
            matching_id: Some(mid),
            confirmation_code: None,
        };
        match lpa::download::download(&mut c, &es9, &order, |_| {}).await {
            Ok(_) => installed += 1,
            Err(_) => failed += 1,
        }
        let e = &c.transport.card.euicc;
        assert!(!e.in_session(), "attempt {i}: the card's session ended");
        // Whatever is on the card was installed whole: its package parses and validates.
        for p in e.installed_profiles() {
            rsp_saip::ProfilePackage::parse(&p.package)
                .unwrap()
                .validate()
                .unwrap();
        }
    }
    eprintln!("hostile run: {failed} failed, {installed} installed");
    assert!(
        failed >= 12,
        "the mutations bite: {failed} failed, {installed} installed"
    );
    server.stop().await;
}
