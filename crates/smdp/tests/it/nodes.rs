//! Two `smdp serve` nodes on one PostgreSQL database (issue 17): no ES9+ session, order or
//! notification lives in one node's memory, so an LPA may reach either node for each call.
//! Skipped locally without `DATABASE_URL`; CI starts PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

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

/// A TCP proxy to PostgreSQL that can cut every connection (as a database restart or a
/// network partition does) and let them through again.
struct Proxy {
    port: u16,
    open: Arc<std::sync::atomic::AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    fn start(upstream: String) -> Self {
        use std::net::{Shutdown, TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let conns: Arc<std::sync::Mutex<Vec<TcpStream>>> = Arc::default();
        let (o, c) = (open.clone(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !o.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let pipe = |mut from: TcpStream, mut to: TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    })
                };
                let mut all = c.lock().unwrap();
                all.push(client.try_clone().unwrap());
                all.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Self { port, open, conns }
    }

    /// Every connection drops, and new ones are closed as they arrive.
    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn resume(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_is_an_es9_error_and_a_503_then_the_node_reconnects() {
    let Some(db) = fresh_db() else { return };
    // postgres://user@host:port/db → the same through the proxy.
    let (head, rest) = db.url.split_once('@').expect("user@host in DATABASE_URL");
    let (upstream, dbname) = rest.split_once('/').expect("/database");
    let proxy = Proxy::start(upstream.to_string());
    let url = format!("{head}@127.0.0.1:{}/{dbname}", proxy.port);
    let store: Arc<dyn OperatorStore> = Arc::new(PgStore::connect(&url).expect("connect"));
    let a = TestServer::start_on(Options::default(), store).await;
    let acct = a.account("outage");
    let rest_a = Rest::basic(a.rest(), &acct.account_sid, &acct.auth_token);
    let p = a.reserve(by_matching_id("OUTAGE-1"));

    proxy.cut();
    let mut lpa = Lpa::new(&a, &our_pki_dir(), Curve::NistP256);
    let e = lpa.initiate().await.expect_err("no store, no session");
    assert_eq!(codes(&e), ("1.2".into(), "4.2".into()), "{e:?}");
    let (s, v) = rest_a.get("/v1/ESimProfiles").await;
    assert_eq!((s, v["code"].as_u64()), (503, Some(20503)), "{v}");

    // The database is back: the node reconnects by itself and nothing was half-written.
    proxy.resume();
    assert_eq!(a.profile(&p).status, ProfileStatus::Available);
    let (s, v) = rest_a.get("/v1/ESimProfiles").await;
    assert_eq!(s, 200, "{v}");
    lpa.download(Some("OUTAGE-1"), None)
        .await
        .expect("download after the outage");
    assert_eq!(a.profile(&p).status, ProfileStatus::Installed);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlite_store_copied_into_postgres_serves_on() {
    let Some(db) = fresh_db() else { return };
    let dir = std::env::temp_dir().join(format!("smdp-copy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // A store with history: a finished download (its binding), an order waiting, a
    // REST order with its Sim, charge and queued callbacks.
    let sqlite: Arc<dyn OperatorStore> =
        Arc::new(smdp_store_sqlite::SqliteStore::open(&dir).unwrap());
    let one = TestServer::start_on(Options::default(), sqlite.clone()).await;
    let done = one.reserve(by_matching_id("COPY-1"));
    let waiting = one.reserve(by_matching_id("COPY-2"));
    let mut lpa = Lpa::new(&one, &our_pki_dir(), Curve::NistP256);
    lpa.download(Some("COPY-1"), None).await.unwrap();
    let acct = one.account("copy");
    let rest = Rest::basic(one.rest(), &acct.account_sid, &acct.auth_token);
    let (_, v) = rest
        .create(&[
            ("GenerateMatchingId", "true"),
            ("CallbackUrl", "http://127.0.0.1:9/cb"),
        ])
        .await;
    let rest_sid = v["sid"].as_str().unwrap().to_string();
    reserved(&rest, &rest_sid).await;
    one.stop().await;

    let copied = smdp_server::StoreLocation::Sqlite(dir.clone())
        .copy_into(&smdp_server::StoreLocation::Postgres(db.url.clone()))
        .expect("copy");
    let rows = |table: &str| copied.iter().find(|(t, _)| t == table).map(|(_, n)| *n);
    assert_eq!(
        [
            "profiles",
            "packages",
            "bindings",
            "sims",
            "charges",
            "callbacks"
        ]
        .map(rows),
        [3, 3, 1, 1, 1, 2].map(Some),
        "{copied:?}"
    );

    let again = smdp_server::StoreLocation::Sqlite(dir.clone())
        .copy_into(&smdp_server::StoreLocation::Postgres(db.url.clone()))
        .expect_err("a second copy");
    assert!(
        again.to_string().contains("copy into an empty store"),
        "{again}"
    );
    let report = smdp_server::StoreLocation::Postgres(db.url.clone())
        .check()
        .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(
        report.counts.contains(&("orders installed".into(), 1)),
        "{:?}",
        report.counts
    );
    let pg: Arc<dyn OperatorStore> = Arc::new(PgStore::connect(&db.url).unwrap());
    assert_eq!(pg.profiles().unwrap(), sqlite.profiles().unwrap());
    assert_eq!(pg.notifications().unwrap(), sqlite.notifications().unwrap());
    assert_eq!(
        pg.charges(&acct.account_sid).unwrap(),
        sqlite.charges(&acct.account_sid).unwrap()
    );
    assert_eq!(
        pg.callbacks_for(&acct.account_sid, &rest_sid).unwrap(),
        sqlite.callbacks_for(&acct.account_sid, &rest_sid).unwrap()
    );
    for p in sqlite.profiles().unwrap() {
        assert_eq!(
            pg.package(p.id).unwrap(),
            sqlite.package(p.id).unwrap(),
            "{}",
            p.sid
        );
    }
    assert_eq!(
        pg.profile(done.id).unwrap().unwrap().status,
        ProfileStatus::Installed
    );

    // The copy serves: the waiting order downloads, and new orders get new ids and numbers.
    // (Another seed: the same seed would hand out the first server's transaction IDs again.)
    let node = TestServer::start_on(
        Options {
            seed: Some(2),
            ..Options::default()
        },
        pg.clone(),
    )
    .await;
    let mut lpa = Lpa::new(&node, &our_pki_dir(), Curve::NistP256);
    lpa.download(Some("COPY-2"), None)
        .await
        .expect("download from the copy");
    assert_eq!(node.profile(&waiting).status, ProfileStatus::Installed);
    // The copied account works, and a new order continues the ids and the number plan.
    let rest = Rest::basic(node.rest(), &acct.account_sid, &acct.auth_token);
    let (s, v) = rest.create(&[("GenerateMatchingId", "true")]).await;
    assert_eq!(s, 201, "{v}");
    let v = reserved(&rest, v["sid"].as_str().unwrap()).await;
    let fresh = pg
        .profile_with_sid(v["sid"].as_str().unwrap())
        .unwrap()
        .unwrap();
    for p in sqlite.profiles().unwrap() {
        assert!(
            p.id < fresh.id && p.iccid != fresh.iccid,
            "{p:?} / {fresh:?}"
        );
    }
    node.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `smdp serve --store postgres://…` as a process: its ES9+ and REST addresses, its log.
struct Node {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    drain: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Node {
    fn start(store: &str) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_smdp"))
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--rest-listen",
                "127.0.0.1:0",
            ])
            .args(["--log-format", "json", "--reservation-delay-ms", "0"])
            .args(["--shed-lag-ms", "0"])
            .env("SMDP_STORE", store)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("node exited").unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
            if let Some(l) = v["fields"]["listen"].as_str() {
                break l.parse().unwrap();
            }
        };
        let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect());
        Self {
            child,
            addr,
            drain: Some(drain),
        }
    }

    /// SIGKILL: the node dies without a word, mid-whatever.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        if let Some(d) = self.drain.take() {
            let _ = d.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_on_one_database_and_one_dies() {
    let Some(db) = fresh_db() else { return };
    let (a, b) = (Node::start(&db.url), Node::start(&db.url));
    let pki = rsp_auth::pki::Pki::load(&our_pki_dir()).unwrap();
    let root = our_nist_root();
    let add = |mid: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_smdp"))
            .args(["profile", "add", "--matching-id", mid, "--store", &db.url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let card = || {
        veuicc::Euicc::from_pki(
            &pki,
            Curve::NistP256,
            rsp_auth::Backend::AwsLc,
            std::time::SystemTime::now(),
        )
        .unwrap()
    };
    let lpa_on = |addr| Lpa {
        euicc: card(),
        client: Client::new(addr, &root),
        rng: rsp_auth::rng::rng(None),
        now: std::time::SystemTime::now(),
        address: ADDRESS.into(),
    };
    // Each ES9+ call of one download on the other process.
    add("PROC-1");
    let mut lpa = lpa_on(a.addr);
    let init = lpa.initiate().await.expect("initiateAuthentication on A");
    lpa.client = Client::new(b.addr, &root);
    let auth = lpa.authenticate(&init, Some("PROC-1")).await.expect("on B");
    lpa.client = Client::new(a.addr, &root);
    let bpp = lpa.get_bpp(&auth, None).await.expect("on A");
    lpa.client = Client::new(b.addr, &root);
    lpa.install(&bpp).await;

    // A dies in the middle of a session begun on it; B finishes that session.
    add("PROC-2");
    let mut lpa = lpa_on(a.addr);
    let init = lpa.initiate().await.expect("initiateAuthentication on A");
    a.kill();
    lpa.client = Client::new(b.addr, &root);
    let auth = lpa.authenticate(&init, Some("PROC-2")).await.expect("on B");
    let bpp = lpa.get_bpp(&auth, None).await.expect("on B");
    lpa.install(&bpp).await;

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smdp"))
        .args(["profile", "list", "--store", &db.url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("installed").count(), 2, "{text}");
    b.kill();
}

/// Issue 18: 1,000 LPAs race for 100 profiles on one node with a data-folder SQLite store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_lpas_race_for_a_hundred_profiles_on_sqlite() {
    let dir = scratch_dir("smdp-race");
    let store = Arc::new(smdp_store_sqlite::SqliteStore::open(&dir).unwrap());
    let a = TestServer::start_on(Options::default(), store).await;
    race(&[&a], 100, 10).await;
    a.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 18: 1,000 LPAs spread over two nodes race for 100 profiles on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_lpas_on_two_nodes_race_for_a_hundred_profiles() {
    let Some(db) = fresh_db() else { return };
    let (a, b) = two_nodes(&db.url).await;
    race(&[&a, &b], 100, 10).await;
}

/// `per` LPAs for each of `profiles` profiles, spread over `nodes`: half the profiles by
/// matching ID (`per` eUICCs each), half by EID (`per` instances of the EID's card each),
/// rebinding refused; each LPA initiates on one node and authenticates on the next, then all
/// ask for the BPP at once. Every profile is bound exactly once, every loser hears 8.2/3.7,
/// the REST view of each profile (on the last node) agrees with the database, and each
/// profile was charged once.
async fn race(nodes: &[&TestServer], profiles: u32, per: u32) {
    use rsp_asn1::es9::{path, GetBoundProfilePackageResponse};
    let a = nodes[0];
    let b = nodes[nodes.len() - 1];
    let acct = a.account("race");
    let rest = Rest::basic(a.rest(), &acct.account_sid, &acct.auth_token);
    let cards = EuiccFactory::new(a);
    let (eid, card) = (test_eid, |e: &_, seed| cards.euicc(e, seed));
    // The orders, through A's REST API; available once either node's worker reserved them.
    let mut orders = Vec::new(); // (sid, Some(matching ID) | None for by-EID, the EID for by-EID)
    for k in 0..profiles {
        let form: Vec<(&str, String)> = if k < profiles / 2 {
            vec![("GenerateMatchingId", "true".into())]
        } else {
            vec![("Eid", eid(k).to_string())]
        };
        let mut form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form.push(("AllowRebinding", "false"));
        let (s, v) = rest.create(&form).await;
        assert_eq!(s, 201, "{v}");
        let v = reserved(&rest, v["sid"].as_str().unwrap()).await;
        assert_eq!(v["status"], "available", "{v}");
        orders.push((
            v["sid"].as_str().unwrap().to_string(),
            v["matching_id"].as_str().map(str::to_string),
            k,
        ));
    }
    let mut racers = Vec::new();
    for (i, (sid, mid, k)) in orders.iter().enumerate() {
        for j in 0..per {
            let n = i as u32 * per + j;
            let e = if mid.is_some() {
                eid(100_000 + n)
            } else {
                eid(*k)
            };
            let node = nodes[n as usize % nodes.len()];
            let mut lpa = Lpa::with_euicc(node, card(&e, u64::from(n)));
            racers.push(tokio::spawn({
                let other = nodes[(n as usize + 1) % nodes.len()].client();
                let mid = mid.clone();
                let sid = sid.clone();
                async move {
                    let init = lpa.initiate().await.expect("initiateAuthentication");
                    let first = std::mem::replace(&mut lpa.client, other);
                    let auth = lpa
                        .authenticate(&init, mid.as_deref())
                        .await
                        .expect("authenticateClient");
                    lpa.client = first;
                    (sid, lpa, auth)
                }
            }));
        }
    }
    let mut ready = Vec::new();
    for r in racers {
        ready.push(r.await.unwrap());
    }
    // All at once: getBoundProfilePackage on the node each began on.
    let barrier = Arc::new(tokio::sync::Barrier::new(ready.len()));
    let mut asks = Vec::new();
    for (sid, mut lpa, auth) in ready {
        let req = lpa.get_bpp_request(&auth, None);
        let barrier = barrier.clone();
        asks.push(tokio::spawn(async move {
            barrier.wait().await;
            let r = lpa
                .client
                .call::<_, GetBoundProfilePackageResponse>(path::GET_BOUND_PROFILE_PACKAGE, &req)
                .await;
            (sid, lpa, r)
        }));
    }
    let mut winners: std::collections::BTreeMap<String, String> = Default::default();
    let mut losers = 0;
    for t in asks {
        let (sid, mut lpa, r) = t.await.unwrap();
        match r {
            Ok(bpp) => {
                assert!(
                    winners.insert(sid.clone(), lpa.eid()).is_none(),
                    "{sid} bound twice"
                );
                lpa.install(&bpp).await;
            }
            Err(h) => {
                assert_eq!(codes(&h), ("8.2".into(), "3.7".into()), "{sid}: {h:?}");
                losers += 1;
            }
        }
    }
    assert_eq!(
        (winners.len(), losers),
        (profiles as usize, (profiles * (per - 1)) as usize)
    );
    // The database and the REST view (on B) agree: installed on the winner's EID.
    for (sid, _, _) in &orders {
        let p = a.store.profile_with_sid(sid).unwrap().unwrap();
        assert_eq!(p.status, ProfileStatus::Installed, "{sid}");
        assert_eq!(
            p.eid.map(|e| e.to_string()).as_ref(),
            winners.get(sid),
            "{sid}"
        );
        let (s, v) = Rest::basic(b.rest(), &acct.account_sid, &acct.auth_token)
            .get(&format!("/v1/ESimProfiles/{sid}"))
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["status"], "installed", "{v}");
        assert_eq!(
            v["eid"].as_str(),
            winners.get(sid).map(String::as_str),
            "{v}"
        );
        assert_eq!(p.attempts, 1, "{sid}: one binding");
    }
    let charges = a.store.charges(&acct.account_sid).unwrap();
    assert_eq!(charges.len(), profiles as usize, "one charge per profile");
}

/// `(order, status)` of each callback a receiver answered, in arrival order.
fn deliveries(rx: &crate::callbacks::Receiver) -> Vec<(String, String)> {
    rx.received()
        .iter()
        .map(|r| {
            (
                r.fields["ESimProfileSid"].clone(),
                r.fields["ESimProfileStatus"].clone(),
            )
        })
        .collect()
}

/// Each order's status changes, in order, exactly once.
fn once_in_order(got: &[(String, String)], sids: &[String], statuses: &[&str]) {
    for sid in sids {
        let mine: Vec<&str> = got
            .iter()
            .filter(|(s, _)| s == sid)
            .map(|(_, st)| st.as_str())
            .collect();
        assert_eq!(mine, statuses, "{sid}: {got:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_nodes_each_callback_arrives_once_in_order_signed() {
    let Some(db) = fresh_db() else { return };
    let (a, b) = two_nodes(&db.url).await;
    let rx = crate::callbacks::Receiver::start().await;
    let acct = a.account("callbacks");
    let mut sids = Vec::new();
    for (i, node) in [&a, &b].into_iter().cycle().take(10).enumerate() {
        let rest = Rest::basic(node.rest(), &acct.account_sid, &acct.auth_token);
        let form = [("GenerateMatchingId", "true"), ("CallbackUrl", &rx.url())];
        let (s, v) = rest.create(&form).await;
        assert_eq!(s, 201, "{i}: {v}");
        sids.push(v["sid"].as_str().unwrap().to_string());
    }
    let got = rx.wait_for(20, None).await;
    // Both workers deliver; each change once, in order, signed with the account's token.
    once_in_order(&deliveries(&rx), &sids, &["reserving", "available"]);
    assert_eq!(got.len(), 20);
    for r in &got {
        crate::callbacks::check_signed(r, &acct.auth_token);
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_delivery_leaves_its_callback_to_the_other_after_the_lease() {
    let Some(db) = fresh_db() else { return };
    let rx = crate::callbacks::Receiver::start().await;
    rx.stall_next
        .store(true, std::sync::atomic::Ordering::SeqCst);
    // Node A on a runtime of its own, so that it can die at once, as under kill -9: its
    // tasks stop where they are, nothing is cleaned up, its leases stay in the database.
    let url = db.url.clone();
    let (rt_a, a) = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let store: Arc<dyn OperatorStore> = Arc::new(PgStore::connect(&url).unwrap());
        let a = rt.block_on(TestServer::start_on(Options::default(), store));
        (rt, a)
    })
    .join()
    .unwrap();
    let acct = a.account("killed");
    let rest_a = Rest::basic(a.rest(), &acct.account_sid, &acct.auth_token);
    let form = [("GenerateMatchingId", "true"), ("CallbackUrl", &rx.url())];
    let (s, v) = rest_a.create(&form).await;
    assert_eq!(s, 201, "{v}");
    let sid = v["sid"].as_str().unwrap().to_string();
    // A sends the first callback and hangs on it; then A dies.
    for _ in 0..400 {
        if !rx.stalled.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let held = rx.stalled.lock().unwrap().clone();
    assert_eq!(held.len(), 1, "A's delivery is in flight");
    rt_a.shutdown_background();
    std::mem::forget(a);

    // B comes up on the same database: A's lease holds it off, then B delivers.
    let store: Arc<dyn OperatorStore> = Arc::new(PgStore::connect(&db.url).unwrap());
    let b = TestServer::start_on(
        Options {
            seed: Some(2),
            ..Options::default()
        },
        store,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        rx.received().is_empty(),
        "not before A's lease expires: {:?}",
        deliveries(&rx)
    );
    let got = rx.wait_for(2, Some(&b.clock)).await;
    once_in_order(
        &deliveries(&rx),
        std::slice::from_ref(&sid),
        &["reserving", "available"],
    );
    assert_eq!(
        held[0].fields["ESimProfileStatus"], got[0].fields["ESimProfileStatus"],
        "B delivered what A held"
    );
    for r in &got {
        crate::callbacks::check_signed(r, &acct.auth_token);
    }
    b.stop().await;
}
