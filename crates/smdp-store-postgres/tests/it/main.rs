//! The PostgreSQL store against a real server: `DATABASE_URL` names a database whose role may
//! create databases (CI starts a throwaway cluster, `.ci/postgres.sh`); each test gets a
//! fresh database of its own. Without `DATABASE_URL` the tests print a notice and pass
//! locally; in CI (`CI` set) they fail.

use std::sync::atomic::{AtomicUsize, Ordering};

use smdp_store_postgres::{PgStore, SCHEMA_VERSION};

/// A new, empty database on the server of `DATABASE_URL`, dropped when the guard goes.
struct FreshDb {
    admin: String,
    name: String,
    url: String,
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn fresh_db() -> Option<FreshDb> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let Ok(admin) = std::env::var("DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "DATABASE_URL unset in CI: .ci/run starts PostgreSQL and exports it"
        );
        eprintln!("NOTICE: DATABASE_URL unset; skipping a PostgreSQL test");
        return None;
    };
    let name = format!(
        "smdp_t_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("DATABASE_URL");
    // Two statements: one multi-statement query would be one (refused) transaction.
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .expect("drop a leftover test database");
    c.batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    let url = match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("DATABASE_URL has no database name: {admin}"),
    };
    Some(FreshDb { admin, name, url })
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
