//! Issue 18, crash safety: `smdp serve` is killed with SIGKILL at random points while orders
//! are created over REST (with status callbacks) and downloaded by two eUICCs each, restarted
//! on the same data folder, 50 times. After each kill `smdp store check` passes; at the end no
//! acknowledged order is lost, none was served to two eUICCs, each is charged once and
//! installed on its first binder, and every callback arrived, repeats only under its own
//! idempotency token.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rand_core::Rng as _;
use smdp_core::store::{OperatorStore as _, ProfileStatus, Store as _};

use crate::callbacks::Receiver;
use crate::common::*;

const ACCOUNT: &str = "ACcccccccccccccccccccccccccccccccc";
const TOKEN: &str = "crash-test-token";
const KILLS: usize = 50;

fn start(data: &Path) -> ServeProcess {
    let account = format!("{ACCOUNT}:{TOKEN}");
    let args = [
        "--account",
        &account,
        "--reservation-delay-ms",
        "0",
        // The second card of each order asks for a profile bound to the first, again and
        // again: that is what the guess limit counts.
        "--matching-id-guesses",
        "off",
    ];
    ServeProcess::start(data, "warn,smdp_server=info", &args)
}

fn store_check(data: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_smdp"))
        .args(["store", "check", "--data"])
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "store check after a kill: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One order and its two eUICCs.
struct Order {
    sid: String,
    matching_id: Option<String>,
    cards: [Lpa; 2],
    /// The card that got the profile (download through install on the card).
    winner: Option<usize>,
    notified: bool,
}

/// What one step did: progress, nothing to do, or the server is gone.
enum Step {
    Done,
    Idle,
    /// The server is gone (why, for the run that has no kill).
    Down(String),
}

async fn download(lpa: &mut Lpa, matching_id: &str) -> Result<(), lpa::Error> {
    let es9 = lpa::es9::Client::new(lpa::es9::Trust::Roots(vec![lpa.client.root.clone()]))?
        .resolve(&lpa.address, lpa.client.addr);
    let mut card = veuicc::apdu::Card::new(&mut lpa.euicc, &mut lpa.rng);
    card.set_time(Some(lpa.now));
    let mut es10 = lpa::card::Es10::open(lpa::card::VirtualCard { card, state: None })?;
    let order = lpa::download::Order {
        address: lpa.address.clone(),
        matching_id: Some(matching_id.to_string()),
        confirmation_code: None,
    };
    lpa::download::download(&mut es10, &es9, &order, |_| {}).await?;
    es10.close().map(drop)
}

/// Sends the card's pending notifications; true when all were taken.
async fn notify(lpa: &mut Lpa) -> Result<bool, lpa::Error> {
    let es9 = lpa::es9::Client::new(lpa::es9::Trust::Roots(vec![lpa.client.root.clone()]))?
        .resolve(&lpa.address, lpa.client.addr);
    let mut card = veuicc::apdu::Card::new(&mut lpa.euicc, &mut lpa.rng);
    card.set_time(Some(lpa.now));
    let mut es10 = lpa::card::Es10::open(lpa::card::VirtualCard { card, state: None })?;
    let sent = lpa::notifications::process(&mut es10, &es9, true).await?;
    es10.close()?;
    Ok(sent.iter().all(|s| s.outcome.is_ok()))
}

fn transport(e: &lpa::Error) -> bool {
    // Anything but an SGP.22 answer from the server: it died under the call.
    !matches!(e, lpa::Error::Es9 { .. })
}

async fn step(o: &mut Order, rest: &Client, attempt: usize) -> Step {
    let Some(mid) = o.matching_id.clone() else {
        let r = rest
            .try_request(
                "GET",
                &format!("/v1/ESimProfiles/{}", o.sid),
                &[("authorization", &basic_auth(ACCOUNT, TOKEN))],
                Vec::new(),
            )
            .await;
        let Some(r) = r else {
            return Step::Down("GET failed".into());
        };
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        if v["status"] == "available" {
            o.matching_id = v["matching_id"].as_str().map(str::to_string);
            return Step::Done;
        }
        return Step::Idle;
    };
    match o.winner {
        None => {
            // Both cards try, in turn: the first to bind keeps the profile.
            let k = attempt % 2;
            match download(&mut o.cards[k], &mid).await {
                Ok(()) => {
                    o.winner = Some(k);
                    Step::Done
                }
                Err(e) if transport(&e) => Step::Down(e.to_string()),
                // The other card holds the binding (a download interrupted by a kill).
                Err(_) => Step::Idle,
            }
        }
        Some(w) => {
            // The loser is refused for good; the winner's notification goes through.
            match download(&mut o.cards[1 - w], &mid).await {
                Ok(()) => panic!("{} served to a second eUICC", o.sid),
                Err(e) if transport(&e) => return Step::Down(e.to_string()),
                Err(_) => {}
            }
            match notify(&mut o.cards[w]).await {
                Ok(true) => {
                    o.notified = true;
                    Step::Done
                }
                Ok(false) => Step::Down("a notification was not taken".into()),
                Err(e) if transport(&e) => Step::Down(e.to_string()),
                Err(e) => panic!("{}: notification: {e}", o.sid),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_fifty_times_under_load_loses_and_doubles_nothing() {
    let data = scratch_dir("smdp-crash");
    let rx = Receiver::start().await;
    let mut rng = rsp_auth::rng::rng(Some(18));
    let now = std::time::SystemTime::now();
    let cards = EuiccFactory::new_at(now);
    let mut orders: Vec<Order> = Vec::new();
    let mut created = BTreeSet::new();
    let mut kills = 0;
    let mut card_no = 0u32;
    let form = format!("GenerateMatchingId=true&CallbackUrl={}", rx.url());
    for cycle in 0..=KILLS {
        let node = start(&data);
        let (es9, rest) = node.clients();
        for o in &mut orders {
            for c in &mut o.cards {
                c.client = es9.clone();
            }
        }
        let last = cycle == KILLS;
        // Kill at a random point 50–450 ms in (the last run is left to finish).
        let kill_at = tokio::time::Instant::now()
            + Duration::from_millis(50 + u64::from(rng.next_u32() % 400));
        let pid = node.child.id().to_string();
        let killer = (!last).then(|| {
            tokio::spawn(async move {
                tokio::time::sleep_until(kill_at).await;
                let st = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
                assert!(st.success());
            })
        });
        let mut attempt = cycle;
        'work: loop {
            // A few new orders per run; an order is ours once its 201 arrived.
            if orders.len() < 3 * KILLS && (!last || orders.len() < 3) {
                let r = rest
                    .try_request(
                        "POST",
                        "/v1/ESimProfiles",
                        &[
                            ("authorization", &basic_auth(ACCOUNT, TOKEN)),
                            ("content-type", "application/x-www-form-urlencoded"),
                        ],
                        form.clone().into_bytes(),
                    )
                    .await;
                let Some(r) = r else {
                    assert!(!last, "the last run's server is gone");
                    break 'work;
                };
                assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                let sid = v["sid"].as_str().unwrap().to_string();
                created.insert(sid.clone());
                let lpa = |n: u32| {
                    let mut l = Lpa::with_euicc_at(
                        es9.clone(),
                        cards.euicc(&test_eid(n), u64::from(n)),
                        now,
                    );
                    l.rng = rsp_auth::rng::rng(Some(u64::from(n)));
                    l
                };
                orders.push(Order {
                    sid,
                    matching_id: None,
                    cards: [lpa(card_no), lpa(card_no + 1)],
                    winner: None,
                    notified: false,
                });
                card_no += 2;
            }
            let mut busy = false;
            for o in orders.iter_mut().filter(|o| !o.notified) {
                attempt += 1;
                match step(o, &rest, attempt).await {
                    Step::Done => busy = true,
                    Step::Idle => {}
                    Step::Down(why) if last => panic!("{}: {why}", o.sid),
                    Step::Down(_) => break 'work,
                }
            }
            if last && orders.iter().all(|o| o.notified) {
                break;
            }
            if killer.as_ref().is_some_and(|k| k.is_finished()) {
                break;
            }
            if !busy {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if let Some(k) = killer {
            k.await.unwrap();
            node.wait();
            kills += 1;
            store_check(&data);
        } else {
            // Every callback delivered before the final stop. One that a killed process had
            // claimed waits out its lease (60 s: a node cannot tell a dead owner from a slow
            // one), so the wait is longer than a lease.
            let store = smdp_store_sqlite::SqliteStore::open(&data).unwrap();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
            loop {
                let pending: Vec<&String> = created
                    .iter()
                    .filter(|sid| {
                        store
                            .callbacks_for(ACCOUNT, sid)
                            .unwrap()
                            .iter()
                            .any(|c| c.state != smdp_core::store::CallbackState::Delivered)
                    })
                    .collect();
                if pending.is_empty() {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "callbacks still undelivered after 90 s: {pending:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            node.signal("TERM");
            assert!(node.wait().0.success());
        }
    }
    assert_eq!(kills, KILLS);
    store_check(&data);

    let store = smdp_store_sqlite::SqliteStore::open(&data).unwrap();
    let charges = store.charges(ACCOUNT).unwrap();
    let mut charged: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &charges {
        *charged.entry(c.profile_sid.as_str()).or_default() += 1;
    }
    assert!(charged.values().all(|n| *n == 1), "a charge doubled");
    let received = rx.received();
    for o in &orders {
        let p = store
            .profile_with_sid(&o.sid)
            .unwrap()
            .unwrap_or_else(|| panic!("{} lost", o.sid));
        assert_eq!(p.status, ProfileStatus::Installed, "{}", o.sid);
        let w = o.winner.expect("installed");
        assert_eq!(p.eid, Some(o.cards[w].euicc.eid()), "{}", o.sid);
        assert_eq!(
            charged.get(o.sid.as_str()),
            Some(&1),
            "{} charged once",
            o.sid
        );
        // Each status change arrived; a repeat (a delivery the kill kept from being
        // recorded) carries the same token.
        let mut tokens: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for r in received
            .iter()
            .filter(|r| r.fields["ESimProfileSid"] == o.sid)
        {
            tokens
                .entry(r.fields["ESimProfileStatus"].as_str())
                .or_default()
                .insert(r.token.as_str());
        }
        for status in ["available", "downloaded", "installed"] {
            assert_eq!(
                tokens.get(status).map(|t| t.len()),
                Some(1),
                "{}: {status} callbacks {tokens:?}",
                o.sid
            );
        }
    }
    assert_eq!(created.len(), orders.len());
    assert!(orders.len() >= KILLS, "{} orders", orders.len());
    eprintln!(
        "{kills} kills, {} orders, {} callbacks received, {} repeats",
        orders.len(),
        received.len(),
        received.len()
            - received
                .iter()
                .map(|r| r.token.as_str())
                .collect::<BTreeSet<_>>()
                .len()
    );
    let _ = std::fs::remove_dir_all(&data);
}
