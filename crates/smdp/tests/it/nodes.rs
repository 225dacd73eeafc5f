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
