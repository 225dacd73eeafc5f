//! The PostgreSQL store: several `smdp serve` nodes on one database (issue 17).
//!
//! One schema, versioned in `smdp_schema`: a new database gets [`SCHEMA_VERSION`], an older
//! smdp store is migrated forward under an advisory lock (two nodes starting together migrate
//! once), and a newer one, or a database that holds other tables, is refused with a message
//! rather than misread or written into.
//!
//! Calls are synchronous, like the store traits: the `postgres` client runs its own small
//! runtime per connection, which must not be entered from a tokio worker thread, so every
//! call goes through [`off_runtime`].

mod conn;
mod es2;
mod maintenance;
mod operator;
mod rows;
mod schema;
mod store;
pub mod testing;

use std::time::Duration;

use smdp_core::store::{Result, StoreError};

use crate::conn::{Conn, Db as _, Manager};

pub use schema::SCHEMA_VERSION;

/// Key of the advisory lock migrations hold ("smdp-sim" in ASCII).
const MIGRATION_LOCK: i64 = 0x736d_6470_2d73_696d;
/// Key of the advisory lock pre-installed imports hold ("smdp-imp").
pub(crate) const IMPORT_LOCK: i64 = 0x736d_6470_2d69_6d70;

/// Connections one node keeps at most: the server's worker and blocking threads, the two
/// workers, with room to spare.
const POOL_SIZE: u32 = 16;

/// How long a call waits for a connection before it answers "unavailable".
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A store in one PostgreSQL database (its current schema).
pub struct PgStore {
    /// `None` only while dropping (see `Drop`).
    pool: Option<r2d2::Pool<Manager>>,
    /// The URL without its password, for messages.
    shown: String,
}

/// A `postgres` client closes its connection on its own runtime when dropped, which must not
/// happen on a tokio worker either: the pool (and its idle clients) goes off the runtime.
impl Drop for PgStore {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            off_runtime(move || drop(pool));
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("url", &self.shown).finish()
    }
}

/// A backend error as a store error.
fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

/// Runs `f`, which blocks on the network, where blocking is allowed: on a multi-threaded
/// tokio worker the worker hands its tasks over first (`block_in_place`); on a current-thread
/// runtime, which cannot, `f` runs on a scoped thread of its own; elsewhere directly.
pub fn off_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::CurrentThread) => std::thread::scope(|s| {
            s.spawn(f)
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        }),
        Ok(_) => tokio::task::block_in_place(f),
        Err(_) => f(),
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/database`, or key=value
    /// pairs), then creates or migrates the schema.
    pub fn connect(url: &str) -> Result<Self> {
        let shown = redact(url);
        let config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("{shown}: {e}")))?;
        let manager = Manager { config };
        // Each connection is checked as it leaves the pool (one empty query): one the server
        // dropped (a restart, a failover) is replaced before a request uses it, rather than
        // failing that request. A call that loses its connection midway is not retried: its
        // transaction is rolled back, and a commit whose answer was lost cannot be told from
        // one that never happened.
        let pool = off_runtime(|| {
            r2d2::Pool::builder()
                .max_size(POOL_SIZE)
                .min_idle(Some(1))
                .connection_timeout(CONNECT_TIMEOUT)
                .test_on_check_out(true)
                .build(manager)
        })
        .map_err(|e| StoreError::Invalid(format!("cannot reach PostgreSQL at {shown}: {e}")))?;
        let store = Self {
            pool: Some(pool),
            shown,
        };
        store.migrate()?;
        Ok(store)
    }

    /// The database, as given (password hidden).
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// Runs `f` on a pooled connection.
    pub(crate) fn with<R: Send>(
        &self,
        f: impl FnOnce(&mut Conn) -> std::result::Result<R, Error> + Send,
    ) -> Result<R> {
        off_runtime(|| {
            let pool = self
                .pool
                .as_ref()
                .ok_or_else(|| StoreError::Invalid(format!("store {} is closing", self.shown)))?;
            let mut c = pool.get().map_err(|e| {
                StoreError::Unavailable(format!("PostgreSQL at {}: {e}", self.shown))
            })?;
            f(&mut c).map_err(|e| e.into_store(&self.shown))
        })
    }

    /// The schema version of the database.
    pub fn schema_version(&self) -> Result<i64> {
        self.with(|c| {
            Ok(c.query_one("SELECT version FROM smdp_schema", &[])?
                .try_get(0)?)
        })
    }

    fn migrate(&self) -> Result<()> {
        let shown = self.shown.clone();
        self.with(move |c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            let versioned = tx
                .query_opt(
                    "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() \
                     AND tablename = 'smdp_schema'",
                    &[],
                )?
                .is_some();
            if !versioned {
                let tables: i64 = tx
                    .query_one(
                        "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()",
                        &[],
                    )?
                    .try_get(0)?;
                if tables > 0 {
                    return Err(Error::Store(StoreError::Invalid(format!(
                        "{shown} holds {tables} tables but no smdp store: refusing to write \
                         into it (give smdp a database of its own)"
                    ))));
                }
                tx.batch_execute(schema::SCHEMA)?;
                tx.batch_execute("CREATE TABLE smdp_schema (version BIGINT NOT NULL)")?;
                tx.execute(
                    "INSERT INTO smdp_schema (version) VALUES ($1)",
                    &[&SCHEMA_VERSION],
                )?;
            } else {
                let version: i64 = tx
                    .query_one("SELECT version FROM smdp_schema", &[])?
                    .try_get(0)?;
                if !(1..=SCHEMA_VERSION).contains(&version) {
                    return Err(Error::Store(StoreError::Invalid(format!(
                        "{shown} holds smdp store schema version {version}; this smdp reads \
                         versions 1 to {SCHEMA_VERSION}: use the smdp that wrote it, or a \
                         newer one"
                    ))));
                }
                for m in &schema::MIGRATIONS[(version - 1) as usize..] {
                    tx.batch_execute(m)?;
                }
                if version < 3 {
                    digest_credentials(&mut tx)?;
                }
                tx.execute("UPDATE smdp_schema SET version = $1", &[&SCHEMA_VERSION])?;
            }
            tx.commit()?;
            Ok(())
        })
    }
}

/// The Rust half of migration 2 → 3, in its transaction: every secret still in clear becomes
/// its digest, and each auth token leaves its signing key.
fn digest_credentials(tx: &mut conn::Tx<'_>) -> std::result::Result<(), postgres::Error> {
    use conn::Db as _;
    use smdp_core::credentials::{digest, HmacSha1Key, DIGEST_PREFIX};
    let clear = |col: &str| format!("left({col}, {}) <> '{DIGEST_PREFIX}'", DIGEST_PREFIX.len());
    let accounts = tx.query(
        &format!(
            "SELECT sid, auth_token FROM accounts WHERE {}",
            clear("auth_token")
        ),
        &[],
    )?;
    for r in accounts {
        let (sid, token): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        tx.execute(
            "UPDATE accounts SET auth_token = $2, signing_key = $3 WHERE sid = $1",
            &[
                &sid,
                &digest(&token),
                &HmacSha1Key::new(token.as_bytes()).to_bytes(),
            ],
        )?;
    }
    for (table, col) in smdp_store_sql::DIGESTED_SECRETS {
        let rows = tx.query(
            &format!("SELECT {col} FROM {table} WHERE {}", clear(col)),
            &[],
        )?;
        for r in rows {
            let s: String = r.try_get(0)?;
            tx.execute(
                &format!("UPDATE {table} SET {col} = $2 WHERE {col} = $1"),
                &[&s, &digest(&s)],
            )?;
        }
    }
    Ok(())
}

/// What a call on a connection can fail with.
#[derive(Debug)]
pub(crate) enum Error {
    Sql(postgres::Error),
    Store(StoreError),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        Self::Sql(e)
    }
}

impl Error {
    pub(crate) fn into_store(self, shown: &str) -> StoreError {
        match self {
            Self::Sql(e) if lost_connection(&e) => {
                StoreError::Unavailable(format!("PostgreSQL at {shown}: {e}"))
            }
            Self::Sql(e) => backend(e),
            Self::Store(e) => e,
        }
    }
}

/// Whether `e` means the server is out of reach (not that the statement was wrong): a closed
/// or failed connection, or the SQLSTATEs of a server that is shutting down or full.
fn lost_connection(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // No SQLSTATE: I/O (the socket) fails, or a value did not convert (our bug, not the
        // network's).
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
        Some(c) => {
            c.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::TOO_MANY_CONNECTIONS,
                ]
                .contains(c)
        }
    }
}
