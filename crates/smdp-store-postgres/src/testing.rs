//! Test support: a fresh database per test on the server `DATABASE_URL` names (CI starts a
//! throwaway cluster, `.ci/postgres.sh`). Without `DATABASE_URL` a test prints a notice and
//! passes locally; with `CI` set it fails.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A new, empty database on the server of `DATABASE_URL`, dropped when the guard goes.
pub struct FreshDb {
    admin: String,
    name: String,
    /// The database's URL.
    pub url: String,
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        crate::off_runtime(|| {
            if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
                let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                let _ = c.batch_execute(&drop);
            }
        })
    }
}

/// `DATABASE_URL`, or `None` after a notice (locally; in CI a missing database fails).
pub fn admin_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "DATABASE_URL unset in CI: .ci/run starts PostgreSQL and exports it"
            );
            eprintln!("NOTICE: DATABASE_URL unset; skipping a PostgreSQL test");
            None
        }
    }
}

/// A new, empty database (callable from async code too).
pub fn fresh_db() -> Option<FreshDb> {
    let admin = admin_url()?;
    Some(crate::off_runtime(|| create(admin)))
}

fn create(admin: String) -> FreshDb {
    static N: AtomicUsize = AtomicUsize::new(0);
    static SWEEP: std::sync::Once = std::sync::Once::new();
    let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("DATABASE_URL");
    // The conformance stores keep their databases (a store has no drop hook): sweep those
    // of test processes that are gone.
    SWEEP.call_once(|| {
        let names: Vec<String> = c
            .query(
                "SELECT datname FROM pg_database WHERE datname LIKE 'smdp\\_t\\_%'",
                &[],
            )
            .expect("list test databases")
            .iter()
            .map(|r| r.get(0))
            .collect();
        for name in names {
            let pid = name.split('_').nth(2).unwrap_or_default();
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    });
    let name = format!(
        "smdp_t_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    // Two statements: one multi-statement query would be one (refused) transaction.
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .expect("drop a leftover test database");
    c.batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    let url = match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("DATABASE_URL has no database name: {admin}"),
    };
    FreshDb { admin, name, url }
}
