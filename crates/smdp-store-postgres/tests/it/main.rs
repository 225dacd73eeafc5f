//! The PostgreSQL store against a real server: `DATABASE_URL` names a database whose role may
//! create databases (CI starts a throwaway cluster, `.ci/postgres.sh`); each test gets a
//! fresh database of its own. Without `DATABASE_URL` the tests print a notice and pass
//! locally; in CI (`CI` set) they fail.

use std::sync::atomic::{AtomicUsize, Ordering};

use smdp_store_postgres::{PgStore, SCHEMA_VERSION};

use smdp_store_postgres::testing::{admin_url, fresh_db};

/// The store contract, unchanged, on a fresh database per case.
mod conformance {
    use super::*;

    fn make() -> Box<dyn smdp_core::store::OperatorStore> {
        let db = fresh_db().expect("checked by skip_unless");
        let store = PgStore::connect(&db.url).expect("connect");
        // Kept for the store's lifetime; swept by a later run.
        std::mem::forget(db);
        Box::new(store)
    }

    smdp_core::store_conformance_tests!(make, skip_unless super::admin_url().is_some());
}

#[test]
fn a_new_database_gets_the_schema_and_reopens() {
    let Some(db) = fresh_db() else { return };
    let s = PgStore::connect(&db.url).expect("connect");
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    drop(s);
    // A second node (or a restart) finds the schema and leaves it alone.
    let s = PgStore::connect(&db.url).expect("reconnect");
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
}

/// Version 1 counted wrong confirmation codes per session: 2 moves the count to the order.
#[test]
fn a_version_1_store_keeps_its_confirmation_code_count() {
    use smdp_core::store::Store as _;
    let Some(db) = fresh_db() else { return };
    let s = PgStore::connect(&db.url).expect("connect");
    let p = s
        .insert_profile(&smdp_core::store::testing::order("HP1", "1"), 0)
        .unwrap();
    drop(s);
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c.batch_execute(&format!(
        "ALTER TABLE profiles DROP COLUMN cc_failures;
         ALTER TABLE accounts DROP COLUMN signing_key;
         ALTER TABLE sessions ADD COLUMN cc_attempts BIGINT NOT NULL DEFAULT 0;
         INSERT INTO sessions (txid, state, created_at, expires_at, euicc_challenge,
             server_challenge, ci_pkid, profile_id, cc_attempts)
         VALUES ('00', 'authenticated', 0, 99, '\\x00', '\\x00', '\\x00', {}, 2);
         ALTER TABLE profiles DROP COLUMN profile_type, DROP COLUMN requester, DROP COLUMN es2_mark;
         ALTER TABLE callbacks DROP COLUMN body;
         UPDATE smdp_schema SET version = 1;",
        p.id
    ))
    .unwrap();
    let s = PgStore::connect(&db.url).expect("migrate");
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(s.record_cc_failure(p.id, 1).unwrap(), 3);
}

/// Issue 18: no secret is kept in clear, in a new store or in a version 2 one (migrated).
#[test]
fn credentials_are_kept_as_digests_also_after_migrating_a_version_2_store() {
    use smdp_core::store::OperatorStore as _;
    let Some(db) = fresh_db() else { return };
    let s = PgStore::connect(&db.url).expect("connect");
    s.create_account("AC1", "token-1", "one", 0).unwrap();
    drop(s);
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c.batch_execute(
        "UPDATE accounts SET auth_token = 'token-1';
         ALTER TABLE accounts DROP COLUMN signing_key;
         INSERT INTO api_keys VALUES ('SK1', 'key-secret', 'AC1');
         INSERT INTO bearer_tokens VALUES ('bearer-1', 'AC1');
         INSERT INTO oauth_clients VALUES ('client-1', 'client-secret', 'AC1');
         INSERT INTO oauth_tokens VALUES ('oauth-1', 'AC1', 'client-1', 0, 99, FALSE);
         ALTER TABLE profiles DROP COLUMN profile_type, DROP COLUMN requester, DROP COLUMN es2_mark;
         ALTER TABLE callbacks DROP COLUMN body;
         UPDATE smdp_schema SET version = 2;",
    )
    .unwrap();
    let s = PgStore::connect(&db.url).expect("migrate");
    s.create_account("AC2", "token-2", "two", 0).unwrap();
    let kept: Vec<String> = c
        .query(
            "SELECT auth_token FROM accounts UNION ALL SELECT secret FROM api_keys \
             UNION ALL SELECT token FROM bearer_tokens UNION ALL SELECT secret FROM oauth_clients \
             UNION ALL SELECT token FROM oauth_tokens",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kept.len(), 6);
    assert!(kept.iter().all(|k| k.starts_with("sha256:")), "{kept:?}");
    smdp_core::store::testing::migrated_credentials_authenticate(&s);
}

#[test]
fn nodes_starting_together_migrate_once() {
    let Some(db) = fresh_db() else { return };
    let versions: Vec<i64> = std::thread::scope(|s| {
        let nodes: Vec<_> = (0..4)
            .map(|_| s.spawn(|| PgStore::connect(&db.url).map(|p| p.schema_version())))
            .collect();
        nodes
            .into_iter()
            .map(|n| n.join().unwrap().expect("connect").expect("version"))
            .collect()
    });
    assert_eq!(versions, vec![SCHEMA_VERSION; 4]);
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let rows: i64 = c
        .query_one("SELECT COUNT(*) FROM smdp_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
}

#[test]
fn another_schema_version_or_a_foreign_database_is_refused() {
    let Some(db) = fresh_db() else { return };
    PgStore::connect(&db.url).expect("connect");
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c.execute(
        "UPDATE smdp_schema SET version = $1",
        &[&(SCHEMA_VERSION + 1)],
    )
    .unwrap();
    let e = PgStore::connect(&db.url).unwrap_err().to_string();
    assert!(
        e.contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
        "{e}"
    );
    // Nothing was changed by the refusal.
    let v: i64 = c
        .query_one("SELECT version FROM smdp_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, SCHEMA_VERSION + 1);

    let Some(other) = fresh_db() else { return };
    let mut c = postgres::Client::connect(&other.url, postgres::NoTls).unwrap();
    c.batch_execute("CREATE TABLE customers (id BIGINT)")
        .unwrap();
    let e = PgStore::connect(&other.url).unwrap_err().to_string();
    assert!(e.contains("no smdp store"), "{e}");
    let tables: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "nothing created beside the foreign table");
}

#[test]
fn an_unreachable_server_is_a_clear_error_with_the_password_hidden() {
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://smdp:secret@127.0.0.1:{port}/smdp?connect_timeout=2");
    let e = PgStore::connect(&url).unwrap_err().to_string();
    assert!(e.contains("cannot reach PostgreSQL"), "{e}");
    assert!(!e.contains("secret"), "{e}");
    assert!(e.contains("smdp:***@"), "{e}");
}

#[test]
fn calls_from_async_code_do_not_enter_the_clients_runtime() {
    let Some(db) = fresh_db() else { return };
    let s = std::sync::Arc::new(PgStore::connect(&db.url).expect("connect"));
    // A multi-threaded runtime (the server's) and a current-thread one (#[tokio::test]).
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let s2 = s.clone();
    assert_eq!(
        multi
            .block_on(async move { tokio::spawn(async move { s2.schema_version() }).await })
            .unwrap()
            .unwrap(),
        SCHEMA_VERSION
    );
    let current = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(
        current.block_on(async { s.schema_version() }).unwrap(),
        SCHEMA_VERSION
    );
}

/// Several nodes on one database, as separate processes would be (each store has its own
/// pool, so its own sessions): every guarantee of the contract holds between them.
mod nodes {
    use super::*;
    use smdp_core::store::testing::order;
    use smdp_core::store::{
        Attempt, BindFrom, Binding, Eid, Lease, NewProfile, OperatorStore, ProfileStatus,
        Reservation, Store, TransactionId,
    };
    use std::collections::{BTreeMap, BTreeSet};

    const NODES: usize = 4;

    fn nodes(url: &str) -> Vec<PgStore> {
        (0..NODES)
            .map(|_| PgStore::connect(url).expect("connect"))
            .collect()
    }

    /// Runs `f(node index, node)` on every node at once.
    fn race<T: Send>(nodes: &[PgStore], f: impl Fn(usize, &PgStore) -> T + Sync) -> Vec<T> {
        std::thread::scope(|s| {
            let f = &f;
            let running: Vec<_> = nodes
                .iter()
                .enumerate()
                .map(|(i, n)| s.spawn(move || f(i, n)))
                .collect();
            running.into_iter().map(|r| r.join().unwrap()).collect()
        })
    }

    #[test]
    fn each_order_is_reserved_once_and_charged_once() {
        let Some(db) = fresh_db() else { return };
        let nodes = nodes(&db.url);
        nodes[0].create_account("AC0", "t", "test", 0).unwrap();
        for i in 0..200 {
            nodes[0]
                .insert_profile(
                    &NewProfile {
                        status: Some(ProfileStatus::New),
                        iccid: None,
                        ..order(&format!("HP{i}"), "")
                    },
                    0,
                )
                .unwrap();
        }
        // Every node's reservation worker: claim a few, reserve them, repeat.
        let claimed = race(&nodes, |i, n| {
            let owner = format!("node{i}");
            let mut mine = Vec::new();
            loop {
                let lease = Lease {
                    owner: owner.clone(),
                    until: 1_000,
                };
                let batch = n.claim_reservations(&lease, 10, 7).unwrap();
                if batch.is_empty() {
                    return mine;
                }
                for p in batch {
                    assert!(n
                        .set_status(
                            p.id,
                            &[ProfileStatus::New],
                            ProfileStatus::Reserving,
                            None,
                            11
                        )
                        .unwrap());
                    let serial = n.next_serial("iccid").unwrap();
                    let r = Reservation {
                        iccid: format!("8901{serial:015}"),
                        imsi: format!("00101{serial:010}"),
                        package: vec![0xA0, 0],
                        sim_sid: format!("HS{serial}"),
                        charge_cents: 300,
                        ppk: None,
                    };
                    assert!(n.complete_reservation(p.id, &r, &owner, 12).unwrap());
                    mine.push(p.sid);
                }
            }
        });
        let all: Vec<&String> = claimed.iter().flatten().collect();
        let unique: BTreeSet<&String> = all.iter().copied().collect();
        assert_eq!(all.len(), 200, "each order reserved by exactly one node");
        assert_eq!(unique.len(), 200);
        assert!(
            claimed.iter().filter(|c| !c.is_empty()).count() > 1,
            "the work was shared: {:?}",
            claimed.iter().map(Vec::len).collect::<Vec<_>>()
        );
        assert_eq!(
            nodes[1].charges("AC0").unwrap().len(),
            200,
            "charged once each"
        );
        let iccids: BTreeSet<String> = nodes[2]
            .profiles()
            .unwrap()
            .into_iter()
            .map(|p| {
                assert_eq!(p.status, ProfileStatus::Available);
                p.iccid.unwrap()
            })
            .collect();
        assert_eq!(iccids.len(), 200, "each number handed out once");
    }

    #[test]
    fn one_binding_wins_and_counters_never_repeat() {
        let Some(db) = fresh_db() else { return };
        let nodes = nodes(&db.url);
        let mut ids = Vec::new();
        for i in 0..20 {
            ids.push(
                nodes[0]
                    .insert_profile(&order(&format!("HP{i}"), &format!("{i}")), 0)
                    .unwrap()
                    .id,
            );
        }
        let eid =
            |i: usize| Eid::with_check_digits(&format!("89049032123451234512340{i:07}")).unwrap();
        let won = race(&nodes, |i, n| {
            ids.iter()
                .filter(|&&id| {
                    let b = Binding {
                        eid: eid(i),
                        txid: TransactionId::new(vec![i as u8 + 1; 16]).unwrap(),
                        otpk: vec![4; 65],
                        otsk: vec![1; 32],
                        smdp_sign: vec![0x5A; 64],
                        euicc_cert: vec![0x30, 0],
                    };
                    let from = BindFrom {
                        status: ProfileStatus::Available,
                        bound_txid: None,
                        new_binding: true,
                    };
                    n.bind(id, &b, &from, 5).unwrap()
                })
                .count()
        });
        assert_eq!(
            won.iter().sum::<usize>(),
            ids.len(),
            "one winner per profile: {won:?}"
        );
        let serials = race(&nodes, |_, n| {
            (0..100)
                .map(|_| n.next_serial("plan").unwrap())
                .collect::<Vec<_>>()
        });
        let all: BTreeSet<u64> = serials.iter().flatten().copied().collect();
        assert_eq!(all, (0..400).collect(), "every number once, none skipped");
    }

    #[test]
    fn callbacks_go_out_once_and_in_order_per_profile() {
        let Some(db) = fresh_db() else { return };
        let nodes = nodes(&db.url);
        nodes[0].create_account("AC0", "t", "test", 0).unwrap();
        let statuses = [
            ProfileStatus::Downloaded,
            ProfileStatus::Installed,
            ProfileStatus::Failed,
        ];
        for i in 0..30 {
            let p = nodes[0]
                .insert_profile(
                    &NewProfile {
                        callback_url: Some("http://127.0.0.1:9/cb".into()),
                        callback_method: Some("POST".into()),
                        ..order(&format!("HP{i}"), &format!("{i}"))
                    },
                    0,
                )
                .unwrap();
            let mut from = ProfileStatus::Available;
            for (k, &to) in statuses.iter().enumerate() {
                assert!(nodes[0]
                    .set_status(p.id, &[from], to, None, k as i64)
                    .unwrap());
                from = to;
            }
        }
        // Every node's callback worker; a delivery is recorded with the lease it came with.
        // The ticket is taken while the lease is held: the next callback of that profile
        // cannot be claimed before this one is recorded, so tickets give the delivery order.
        let ticket = AtomicUsize::new(0);
        let delivered = race(&nodes, |i, n| {
            let owner = format!("node{i}");
            let mut mine = Vec::new();
            let mut idle = 0;
            while idle < 3 {
                let lease = Lease {
                    owner: owner.clone(),
                    until: 1_000,
                };
                let due = n.claim_due_callbacks(&lease, 10, 5).unwrap();
                if due.is_empty() {
                    idle += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue;
                }
                idle = 0;
                for (cb, key) in due {
                    let signed = |k: &smdp_core::credentials::HmacSha1Key| k.mac([b"u".as_slice()]);
                    let t_key = smdp_core::credentials::HmacSha1Key::new(b"t");
                    assert_eq!(signed(&key), signed(&t_key), "the account's key");
                    let t = ticket.fetch_add(1, Ordering::SeqCst);
                    let ok = n
                        .record_attempt(cb.id, &Attempt::Delivered { http_status: 204 }, &owner, 11)
                        .unwrap();
                    assert!(ok, "the lease holder records its delivery");
                    mine.push((cb.esim_profile_sid, t, cb.profile_status));
                }
            }
            mine
        });
        let mut per_profile: BTreeMap<String, Vec<(usize, ProfileStatus)>> = BTreeMap::new();
        let mut count = 0;
        for (sid, t, status) in delivered.into_iter().flatten() {
            per_profile.entry(sid).or_default().push((t, status));
            count += 1;
        }
        assert_eq!(count, 90, "each callback delivered once");
        for (sid, mut got) in per_profile {
            got.sort_by_key(|g| g.0);
            assert_eq!(
                got.iter().map(|g| g.1).collect::<Vec<_>>(),
                statuses,
                "{sid}"
            );
        }
    }
}

#[test]
fn check_reports_counts_and_broken_invariants() {
    use smdp_core::store::{NewProfile, Store};
    let Some(db) = fresh_db() else { return };
    let s = PgStore::connect(&db.url).expect("connect");
    s.insert_profile(
        &NewProfile {
            package: Some(vec![0xA0, 0]),
            ..smdp_core::store::testing::order("HP1", "1")
        },
        0,
    )
    .unwrap();
    let r = s.check().unwrap();
    assert_eq!(r.schema_version, SCHEMA_VERSION);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert!(
        r.counts.contains(&("orders available".into(), 1)),
        "{:?}",
        r.counts
    );
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c.batch_execute("DELETE FROM packages").unwrap();
    let r = s.check().unwrap();
    assert_eq!(r.problems, ["1 reserved orders without a profile package"]);
}

/// `smdp store copy` writes the tables of smdp_store_sql::TABLES: that must be every table.
#[test]
fn the_copy_order_names_every_table() {
    let Some(db) = fresh_db() else { return };
    PgStore::connect(&db.url).expect("connect");
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let mut tables: Vec<String> = c
        .query(
            "SELECT tablename::TEXT FROM pg_tables WHERE schemaname = current_schema() \
             AND tablename <> 'smdp_schema'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    tables.sort();
    let mut listed: Vec<&str> = smdp_store_sql::TABLES.to_vec();
    listed.sort();
    assert_eq!(tables, listed);
}
