//! The embedded SQLite store: one database file in the data folder (WAL), the schema and its
//! migrations, and the triggers that queue a status callback in the status change's own
//! transaction. Implements [`Store`] and [`smdp_core::store::OperatorStore`].
//!
//! Every state change that decides who gets a profile is a single compare-and-set statement,
//! so two sessions racing for one profile cannot both win, whatever the interleaving, across
//! threads, processes or restarts.

mod es2;
mod maintenance;
mod operator;

use std::path::Path;
use std::sync::Mutex;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, Row};
use smdp_core::store::{
    BindFrom, Binding, Eid, FiredFault, NewProfile, NotificationRecord, OrderOptions, Profile,
    ProfileStatus, Result, Session, SessionState, Store, StoreError, TransactionId,
};
use smdp_store_sql::{PROFILE_COLUMNS, SESSION_COLUMNS};

/// What a statement can fail with here, turned into a [`StoreError`] at the trait boundary.
#[derive(Debug)]
pub enum SqlError {
    Sql(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for SqlError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<StoreError> for SqlError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<SqlError> for StoreError {
    fn from(e: SqlError) -> Self {
        use rusqlite::ErrorCode::*;
        match e {
            // What the machine did, not the store: a full disk, a data folder made read-only,
            // an I/O error. The transaction rolled back, so nothing changed, and the same
            // call succeeds once space or permission returns: the callers' "unavailable,
            // try again" (ES9+ 1.2/4.2, REST 503), not an internal error.
            SqlError::Sql(rusqlite::Error::SqliteFailure(f, msg))
                if matches!(
                    f.code,
                    DiskFull | ReadOnly | CannotOpen | SystemIoFailure | DatabaseBusy
                ) =>
            {
                let why = match f.code {
                    DiskFull => "the disk is full".to_string(),
                    ReadOnly => "the data folder is read-only".to_string(),
                    DatabaseBusy => "the database is locked by another process".to_string(),
                    _ => format!("I/O error: {}", msg.unwrap_or_else(|| f.to_string())),
                };
                StoreError::Unavailable(why)
            }
            SqlError::Sql(e) => StoreError::Backend(Box::new(e)),
            SqlError::Store(e) => e,
        }
    }
}

pub type SqlResult<T> = std::result::Result<T, SqlError>;

/// A TEXT column holding a typed identifier by its text form (EID digits, transaction ID in
/// upper-case hex): the records carry the types, the schema stays readable. A value that does
/// not parse is a corrupt row, reported as such.
pub(crate) struct Text<T>(pub T);

impl<T: std::str::FromStr> FromSql for Text<T>
where
    T::Err: std::fmt::Display,
{
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        v.as_str()?
            .parse()
            .map(Text)
            .map_err(|e: T::Err| FromSqlError::Other(e.to_string().into()))
    }
}

impl<T: std::fmt::Display> ToSql for Text<T> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.0.to_string()))
    }
}

/// A nullable typed TEXT column.
pub(crate) fn opt<T: std::str::FromStr>(r: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    Ok(r.get::<_, Option<Text<T>>>(idx)?.map(|t| t.0))
}

/// A typed TEXT column.
pub(crate) fn req<T: std::str::FromStr>(r: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T::Err: std::fmt::Display,
{
    Ok(r.get::<_, Text<T>>(idx)?.0)
}

/// SQLite in WAL mode: one connection behind a mutex (statements take microseconds; the
/// handlers' crypto dominates).
pub struct SqliteStore {
    /// The one writer (SQLite has one at a time), which also reads when there are no readers.
    conn: Mutex<Connection>,
    synchronous: Synchronous,
    /// WAL readers (a file store only: an in-memory database is one connection): reads run
    /// beside the writer and each other instead of queueing behind one mutex.
    readers: Vec<Mutex<Connection>>,
    next_reader: std::sync::atomic::AtomicUsize,
}

/// Bumped with every schema change (`PRAGMA user_version`); older stores are migrated.
pub const SCHEMA_VERSION: i64 = 16;

/// Version 6 → 7: Network Access Profiles and Fleets; asynchronous Sim status changes and
/// their callbacks (queued by a trigger when a `scheduled` Sim completes, like the profile
/// callbacks, grouped with its profile's for in-order delivery); MILENAGE per account.
const MIGRATE_6_TO_7: &str = "
CREATE TABLE IF NOT EXISTS network_access_profiles (
    id INTEGER PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL REFERENCES accounts(sid),
    unique_name TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (account_sid, unique_name)
);
CREATE TABLE IF NOT EXISTS fleets (
    id INTEGER PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL REFERENCES accounts(sid),
    unique_name TEXT,
    data_enabled INTEGER NOT NULL,
    data_limit INTEGER NOT NULL,
    network_access_profile_sid TEXT NOT NULL REFERENCES network_access_profiles(sid),
    ip_commands_url TEXT,
    ip_commands_method TEXT NOT NULL,
    sms_commands_enabled INTEGER NOT NULL,
    sms_commands_url TEXT,
    sms_commands_method TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (account_sid, unique_name)
);
CREATE INDEX IF NOT EXISTS fleets_nap ON fleets(account_sid, network_access_profile_sid, id);
ALTER TABLE sims ADD COLUMN target_status TEXT;
ALTER TABLE sims ADD COLUMN callback_url TEXT;
ALTER TABLE sims ADD COLUMN callback_method TEXT;
CREATE INDEX IF NOT EXISTS sims_scheduled ON sims(status) WHERE status = 'scheduled';
CREATE INDEX IF NOT EXISTS sims_fleet ON sims(account_sid, fleet_sid, id);
ALTER TABLE callbacks ADD COLUMN subject TEXT NOT NULL DEFAULT 'esim_profile';
ALTER TABLE callbacks ADD COLUMN sim_status TEXT;
ALTER TABLE callbacks ADD COLUMN sim_unique_name TEXT;
ALTER TABLE callbacks ADD COLUMN fleet_sid TEXT;
CREATE TRIGGER IF NOT EXISTS sim_update_callback
AFTER UPDATE OF status ON sims
WHEN OLD.status = 'scheduled' AND NEW.status != 'scheduled' AND OLD.callback_url IS NOT NULL
BEGIN
    INSERT INTO callbacks (profile_id, url, method, esim_profile_sid, account_sid,
        profile_status, sim_sid, iccid, eid, next_attempt_at, created_at, subject, sim_status,
        sim_unique_name, fleet_sid)
    SELECT p.id, OLD.callback_url, COALESCE(OLD.callback_method, 'POST'), p.sid, NEW.account_sid,
        p.status, NEW.sid, NEW.iccid, p.eid, NEW.updated_at, NEW.updated_at, 'sim', NEW.status,
        NEW.unique_name, NEW.fleet_sid
    FROM profiles p WHERE p.sim_sid = NEW.sid LIMIT 1;
END;
ALTER TABLE accounts ADD COLUMN milenage_op BLOB;
ALTER TABLE accounts ADD COLUMN milenage_amf BLOB;
";

/// Version 7 → 8: enable/disable/delete notifications recorded against their profile (found
/// by ICCID on the EID), and looked up by (EID, seqNumber) to drop replays.
const MIGRATE_7_TO_8: &str = "
ALTER TABLE notifications ADD COLUMN profile_id INTEGER REFERENCES profiles(id);
CREATE INDEX IF NOT EXISTS notifications_seq ON notifications(eid, seq_number);
CREATE INDEX IF NOT EXISTS notifications_profile ON notifications(profile_id, id);
UPDATE notifications SET profile_id = (SELECT p.id FROM profiles p
    WHERE p.iccid = notifications.iccid AND p.eid = notifications.eid);
";

/// Version 8 → 9: the log of scripted faults that fired.
const MIGRATE_8_TO_9: &str = "
CREATE TABLE IF NOT EXISTS fault_log (
    id INTEGER PRIMARY KEY,
    profile_id INTEGER NOT NULL REFERENCES profiles(id),
    txid TEXT,
    function TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    fault TEXT NOT NULL,
    fired_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS fault_log_profile ON fault_log(profile_id, id);
CREATE INDEX IF NOT EXISTS fault_log_txid ON fault_log(txid);
";

/// Version 9 → 10: sessions numbered in their server run (scenario faults keyed by session),
/// and the number in the fault log; fixture orders indexed.
const MIGRATE_9_TO_10: &str = "
ALTER TABLE sessions ADD COLUMN number INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fault_log ADD COLUMN session INTEGER;
CREATE INDEX IF NOT EXISTS profiles_fixture ON profiles(json_extract(options, '$.fixture'))
    WHERE json_extract(options, '$.fixture') IS NOT NULL;
";

/// Version 10 → 11: a binding keeps its BPP's smdpSign (64 bytes) instead of the BPP (the
/// size of the profile): a resend is rebuilt from the kept keys byte for byte. A BPP issued
/// by an older version and resent is signed afresh (the eUICC accepts either).
const MIGRATE_10_TO_11: &str = "
ALTER TABLE profiles ADD COLUMN bound_smdp_sign BLOB;
DROP TABLE IF EXISTS bpps;
";

/// Version 11 → 12: Sims found by ICCID through an index (the Sims resource's `Iccid`
/// filter scanned every Sim of the account: 57 µs at 1,000 rows, linear beyond).
const MIGRATE_11_TO_12: &str = "
CREATE INDEX IF NOT EXISTS sims_iccid ON sims(account_sid, iccid);
";

/// Version 12 → 13: wrong confirmation codes are counted per order, not per session, so the
/// cap holds when an LPA opens a new session for each guess (SGP.22 5.6.2: the retry limit is
/// the order's). A session's count becomes its order's.
const MIGRATE_12_TO_13: &str = "
ALTER TABLE profiles ADD COLUMN cc_failures INTEGER NOT NULL DEFAULT 0;
UPDATE profiles SET cc_failures = COALESCE(
    (SELECT MAX(cc_attempts) FROM sessions WHERE sessions.profile_id = profiles.id), 0);
ALTER TABLE sessions DROP COLUMN cc_attempts;
";

/// Version 13 → 14: credentials kept as digests, an auth token with its callback signing key
/// (`smdp_core::credentials`); [`digest_credentials`] converts the secrets held in clear.
const MIGRATE_13_TO_14: &str = "
ALTER TABLE accounts ADD COLUMN signing_key BLOB;
";

/// Version 14 → 15: otSK.DP erased from closed orders (see [`set_status_on`]).
const MIGRATE_14_TO_15: &str = "
UPDATE profiles SET bound_otsk = NULL WHERE status IN ('installed', 'failed');
";

/// Version 15 → 16: the ES2+ inventory (SGP.22 §5.3) in the profiles table: an ICCID's one
/// row goes from the inventory to installed. Its profile type, the function requester that
/// ordered it, and the ES2+ state where the status does not say it.
const MIGRATE_15_TO_16: &str = "
ALTER TABLE profiles ADD COLUMN profile_type TEXT;
ALTER TABLE profiles ADD COLUMN requester TEXT;
ALTER TABLE profiles ADD COLUMN es2_mark TEXT;
CREATE INDEX IF NOT EXISTS profiles_inventory ON profiles(profile_type, id)
    WHERE es2_mark = 'Available';
ALTER TABLE callbacks ADD COLUMN body TEXT;
";

/// The Rust half of migration 13 → 14, in its transaction: every secret still in clear
/// becomes its digest, and each auth token leaves its signing key.
fn digest_credentials(c: &Connection) -> rusqlite::Result<()> {
    use smdp_core::credentials::{digest, HmacSha1Key, DIGEST_PREFIX};
    let clear = format!("substr(?, 1, {}) <> '{DIGEST_PREFIX}'", DIGEST_PREFIX.len());
    let accounts: Vec<(String, String)> = c
        .prepare(&format!(
            "SELECT sid, auth_token FROM accounts WHERE {}",
            clear.replace('?', "auth_token")
        ))?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (sid, token) in accounts {
        c.execute(
            "UPDATE accounts SET auth_token = ?2, signing_key = ?3 WHERE sid = ?1",
            params![
                sid,
                digest(&token),
                HmacSha1Key::new(token.as_bytes()).to_bytes()
            ],
        )?;
    }
    for (table, col) in smdp_store_sql::DIGESTED_SECRETS {
        let secrets: Vec<String> = c
            .prepare(&format!(
                "SELECT {col} FROM {table} WHERE {}",
                clear.replace('?', col)
            ))?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for s in secrets {
            c.execute(
                &format!("UPDATE {table} SET {col} = ?2 WHERE {col} = ?1"),
                params![s, digest(&s)],
            )?;
        }
    }
    Ok(())
}

/// Version 5 → 6: Ki and OPc of pre-installed profiles (reserved ones keep theirs in the
/// package).
const MIGRATE_5_TO_6: &str = "
ALTER TABLE profiles ADD COLUMN ki BLOB;
ALTER TABLE profiles ADD COLUMN opc BLOB;
";

/// Version 4 → 5: OAuth2 client credentials and the access tokens issued under them.
const MIGRATE_4_TO_5: &str = "
CREATE TABLE IF NOT EXISTS oauth_clients (
    client_id TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    account_sid TEXT NOT NULL REFERENCES accounts(sid)
);
CREATE TABLE IF NOT EXISTS oauth_tokens (
    token TEXT PRIMARY KEY,
    account_sid TEXT NOT NULL REFERENCES accounts(sid),
    client_id TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
";

/// Version 3 → 4: leases, so that several workers (threads, processes, nodes) claim work.
const MIGRATE_3_TO_4: &str = "
ALTER TABLE profiles ADD COLUMN lease_owner TEXT;
ALTER TABLE profiles ADD COLUMN lease_until INTEGER;
ALTER TABLE callbacks ADD COLUMN lease_owner TEXT;
ALTER TABLE callbacks ADD COLUMN lease_until INTEGER;
CREATE INDEX IF NOT EXISTS profiles_to_reserve ON profiles(status) WHERE iccid IS NULL;
";

/// Version 2 → 3: release state, order options, PPKs, the binding history, settings.
const MIGRATE_2_TO_3: &str = "
ALTER TABLE profiles ADD COLUMN released INTEGER NOT NULL DEFAULT 1;
ALTER TABLE profiles ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
ALTER TABLE profiles ADD COLUMN ppk BLOB;
-- Every transaction ID a BPP was issued under, so that a late PIR of a superseded binding
-- still finds its order.
CREATE TABLE IF NOT EXISTS bindings (
    txid TEXT PRIMARY KEY,
    profile_id INTEGER NOT NULL REFERENCES profiles(id),
    eid TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT OR IGNORE INTO bindings (txid, profile_id, eid, created_at)
    SELECT bound_txid, id, eid, updated_at FROM profiles
    WHERE bound_txid IS NOT NULL AND eid IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// Version 1 → 2: the operator REST API (accounts, credentials, Sims, charges, callbacks).
const MIGRATE_1_TO_2: &str = "
ALTER TABLE profiles ADD COLUMN callback_url TEXT;
ALTER TABLE profiles ADD COLUMN callback_method TEXT;
ALTER TABLE profiles ADD COLUMN sim_sid TEXT;
CREATE INDEX IF NOT EXISTS profiles_account ON profiles(account_sid, id);
CREATE TABLE IF NOT EXISTS accounts (
    sid TEXT PRIMARY KEY,
    auth_token TEXT NOT NULL,
    friendly_name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    sid TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    account_sid TEXT NOT NULL REFERENCES accounts(sid)
);
CREATE TABLE IF NOT EXISTS bearer_tokens (
    token TEXT PRIMARY KEY,
    account_sid TEXT NOT NULL REFERENCES accounts(sid)
);
CREATE TABLE IF NOT EXISTS sims (
    id INTEGER PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    unique_name TEXT,
    iccid TEXT NOT NULL,
    status TEXT NOT NULL,
    fleet_sid TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (account_sid, unique_name)
);
-- Status callbacks: one row per status change of a profile with a CallbackUrl, written by
-- the same transaction as the change (a trigger, so no code path can forget it), delivered
-- in order per profile by the callback worker.
CREATE TABLE IF NOT EXISTS callbacks (
    id INTEGER PRIMARY KEY,
    profile_id INTEGER NOT NULL REFERENCES profiles(id),
    url TEXT NOT NULL,
    method TEXT NOT NULL,
    esim_profile_sid TEXT NOT NULL,
    account_sid TEXT NOT NULL,
    profile_status TEXT NOT NULL,
    sim_sid TEXT,
    iccid TEXT,
    eid TEXT,
    error_code INTEGER,
    error_message TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_http_status INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS callbacks_due ON callbacks(state, next_attempt_at);
CREATE INDEX IF NOT EXISTS callbacks_profile ON callbacks(profile_id, id);
CREATE TRIGGER IF NOT EXISTS profile_status_callback
AFTER UPDATE OF status ON profiles
WHEN NEW.status != OLD.status AND NEW.callback_url IS NOT NULL
BEGIN
    INSERT INTO callbacks (profile_id, url, method, esim_profile_sid, account_sid,
        profile_status, sim_sid, iccid, eid, error_code, error_message, next_attempt_at,
        created_at)
    VALUES (NEW.id, NEW.callback_url, COALESCE(NEW.callback_method, 'POST'), NEW.sid,
        NEW.account_sid, NEW.status, NEW.sim_sid, NEW.iccid, NEW.eid, NEW.error_code,
        NEW.error_message, NEW.updated_at, NEW.updated_at);
END;
CREATE TABLE IF NOT EXISTS charges (
    id INTEGER PRIMARY KEY,
    account_sid TEXT NOT NULL,
    profile_sid TEXT NOT NULL UNIQUE,
    amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS profiles (
    id INTEGER PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    status TEXT NOT NULL,
    eid TEXT,
    matching_id TEXT UNIQUE,
    confirmation_code TEXT,
    iccid TEXT UNIQUE,
    imsi TEXT,
    template TEXT NOT NULL,
    service_provider_name TEXT NOT NULL,
    profile_name TEXT NOT NULL,
    expires_at INTEGER,
    max_attempts INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    bound_txid TEXT,
    bound_otpk BLOB,
    bound_otsk BLOB,
    euicc_cert BLOB,
    error_code INTEGER,
    error_message TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS profiles_eid ON profiles(eid, status);
-- Large blobs live apart from the rows that change: SQLite rewrites a whole row on UPDATE,
-- and a status change must not copy a 256 KiB package.
CREATE TABLE IF NOT EXISTS packages (
    profile_id INTEGER PRIMARY KEY REFERENCES profiles(id),
    der BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS bpps (
    profile_id INTEGER PRIMARY KEY REFERENCES profiles(id),
    der BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS profiles_bound_txid ON profiles(bound_txid);
CREATE TABLE IF NOT EXISTS sessions (
    txid TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    euicc_challenge BLOB NOT NULL,
    server_challenge BLOB NOT NULL,
    ci_pkid BLOB NOT NULL,
    eid TEXT,
    euicc_cert BLOB,
    profile_id INTEGER,
    smdp_signature2 BLOB,
    metadata BLOB,
    cc_attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions(expires_at);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    eid TEXT NOT NULL,
    iccid TEXT,
    operation TEXT NOT NULL,
    seq_number INTEGER NOT NULL,
    received_at INTEGER NOT NULL
);
";

/// A TEXT column holding one of an enum's names; anything else is a corrupt row.
pub(crate) fn text_enum<T>(
    r: &Row<'_>,
    idx: usize,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = r.get(idx)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("unknown value {text:?}").into(),
        )
    })
}

fn profile_row(r: &Row<'_>) -> rusqlite::Result<Profile> {
    Ok(Profile {
        id: r.get(0)?,
        sid: r.get(1)?,
        account_sid: r.get(2)?,
        status: text_enum(r, 3, ProfileStatus::parse)?,
        eid: opt(r, 4)?,
        matching_id: r.get(5)?,
        confirmation_code: r.get(6)?,
        iccid: r.get(7)?,
        imsi: r.get(8)?,
        template: r.get(9)?,
        service_provider_name: r.get(10)?,
        profile_name: r.get(11)?,
        expires_at: r.get(12)?,
        max_attempts: r.get(13)?,
        attempts: r.get(14)?,
        bound_txid: opt(r, 15)?,
        bound_otpk: r.get(16)?,
        bound_otsk: r.get(17)?,
        euicc_cert: r.get(18)?,
        error_code: r.get(19)?,
        error_message: r.get(20)?,
        created_at: r.get(21)?,
        updated_at: r.get(22)?,
        callback_url: r.get(23)?,
        callback_method: r.get(24)?,
        sim_sid: r.get(25)?,
        released: r.get(26)?,
        options: {
            let text: String = r.get(27)?;
            OrderOptions::from_json(&text).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    27,
                    rusqlite::types::Type::Text,
                    e.to_string().into(),
                )
            })?
        },
        ppk: r.get(28)?,
        bound_smdp_sign: r.get(29)?,
        profile_type: r.get(30)?,
        requester: r.get(31)?,
        es2_mark: match r.get::<_, Option<String>>(32)? {
            None => None,
            Some(_) => Some(text_enum(r, 32, smdp_core::es2::State::parse)?),
        },
    })
}

fn session_row(r: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        txid: req(r, 0)?,
        state: text_enum(r, 1, SessionState::parse)?,
        created_at: r.get(2)?,
        expires_at: r.get(3)?,
        euicc_challenge: r.get(4)?,
        server_challenge: r.get(5)?,
        ci_pkid: r.get(6)?,
        eid: opt(r, 7)?,
        euicc_cert: r.get(8)?,
        profile_id: r.get(9)?,
        smdp_signature2: r.get(10)?,
        metadata: r.get(11)?,
        number: r.get(12)?,
    })
}

fn duplicate(e: rusqlite::Error, p: &NewProfile) -> SqlError {
    if let rusqlite::Error::SqliteFailure(f, Some(msg)) = &e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation {
            let (what, value) = if msg.contains("iccid") {
                ("ICCID", p.iccid.clone())
            } else if msg.contains("matching_id") {
                ("matching ID", p.matching_id.clone())
            } else {
                ("sid", Some(p.sid.clone()))
            };
            return SqlError::Store(StoreError::Duplicate {
                what,
                value: value.unwrap_or_default(),
            });
        }
    }
    SqlError::Sql(e)
}

/// When a commit reaches the disk (SQLite's `PRAGMA synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Every change the server acknowledges (an order, a status, a binding, a charge, a
    /// callback's delivery) is fsynced before its answer, so it survives a power loss. The
    /// steps of a session in progress (its row, counters) are not: a later fsync carries
    /// them (the WAL is one ordered log), and a power loss in between ends the session,
    /// which the LPA starts again. About two fsyncs per download.
    #[default]
    Full,
    /// No commit waits for the disk: durable across process crashes (the WAL is in the OS
    /// cache), not power loss. For benchmarks and throwaway data.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

impl std::str::FromStr for Synchronous {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "full" => Ok(Self::Full),
            "normal" => Ok(Self::Normal),
            other => Err(format!("SQLite synchronous {other:?}: full or normal")),
        }
    }
}

impl SqliteStore {
    /// Opens (creating) `dir/smdp.sqlite3`, every acknowledged change durable
    /// ([`Synchronous::Full`]).
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with(dir, Synchronous::Full)
    }

    /// Opens (creating) `dir/smdp.sqlite3` with commits reaching the disk as `sync` says.
    pub fn open_with(dir: &Path, sync: Synchronous) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Invalid(format!("creating {}: {e}", dir.display())))?;
        let path = dir.join("smdp.sqlite3");
        let conn = Connection::open(&path).map_err(SqlError::from)?;
        let mut store = Self::init(conn, sync)?;
        // One reader per core (at most four): enough that a read rarely waits.
        let n = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        for _ in 0..n {
            let c = Connection::open(&path).map_err(SqlError::from)?;
            c.busy_timeout(std::time::Duration::from_secs(5))
                .map_err(SqlError::from)?;
            c.pragma_update(None, "query_only", "ON")
                .map_err(SqlError::from)?;
            c.set_prepared_statement_cache_capacity(64);
            store.readers.push(Mutex::new(c));
        }
        Ok(store)
    }

    /// A private in-memory database (tests, benchmarks).
    pub fn in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(SqlError::from)?;
        Ok(Self::init(conn, Synchronous::Normal)?)
    }

    /// Replaces this store's contents with `from`'s, page by page (SQLite's online backup).
    /// For fixtures built once and restored before each case, the fuzz targets' fresh store
    /// per input, instead of running the schema and the setup again.
    pub fn restore_from(&self, from: &SqliteStore) -> Result<()> {
        if std::ptr::eq(self, from) {
            return Ok(());
        }
        let source = from.conn.lock().unwrap_or_else(|p| p.into_inner());
        self.with(|c| {
            Ok(
                rusqlite::backup::Backup::new(&source, c)?.run_to_completion(
                    i32::MAX,
                    std::time::Duration::ZERO,
                    None,
                )?,
            )
        })
    }

    fn init(conn: Connection, synchronous: Synchronous) -> SqlResult<Self> {
        // WAL: readers never block the writer. FULL fsyncs the WAL at each commit (see
        // `Synchronous`; session steps switch to NORMAL in `ephemeral`). The busy timeout
        // lets `smdp profile add` write while a server runs.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", synchronous.pragma())?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Every statement is prepared once: parsing SQL cost more than running it.
        conn.set_prepared_statement_cache_capacity(64);
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let tables: i64 = conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )?;
        // Migration n takes schema n+1 to n+2; a new store runs the base schema and all.
        let migrations = [
            MIGRATE_1_TO_2,
            MIGRATE_2_TO_3,
            MIGRATE_3_TO_4,
            MIGRATE_4_TO_5,
            MIGRATE_5_TO_6,
            MIGRATE_6_TO_7,
            MIGRATE_7_TO_8,
            MIGRATE_8_TO_9,
            MIGRATE_9_TO_10,
            MIGRATE_10_TO_11,
            MIGRATE_11_TO_12,
            MIGRATE_12_TO_13,
            MIGRATE_13_TO_14,
            MIGRATE_14_TO_15,
            MIGRATE_15_TO_16,
        ];
        debug_assert_eq!(migrations.len() as i64 + 1, SCHEMA_VERSION);
        let pending = match (version, tables) {
            (0, 0) => format!("{SCHEMA}{}", migrations.concat()),
            (SCHEMA_VERSION, _) => String::new(),
            (v @ 1..SCHEMA_VERSION, _) => migrations[v as usize - 1..].concat(),
            (v, _) => {
                return Err(SqlError::Store(StoreError::Invalid(format!(
                    "the data folder holds store schema {v}, this smdp speaks {SCHEMA_VERSION}: \
                     move the folder aside (or use the smdp that wrote it)"
                ))))
            }
        };
        if !pending.is_empty() {
            // One transaction: a failure leaves the store as it was (the connection's drop
            // rolls back).
            conn.execute_batch(&format!("BEGIN;{pending}"))?;
            if version < 14 {
                digest_credentials(&conn)?;
            }
            conn.execute_batch("COMMIT;")?;
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
            synchronous,
            readers: Vec::new(),
            next_reader: Default::default(),
        })
    }

    /// Runs the read-only `f` on a reader (a free one if any; the writer without readers).
    /// Each statement reads the latest committed state, so a read after a write sees it.
    pub fn read<T>(&self, f: impl FnOnce(&mut Connection) -> SqlResult<T>) -> Result<T> {
        let n = self.readers.len();
        if n == 0 {
            return self.with(f);
        }
        let start = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % n;
        for i in 0..n {
            if let Ok(mut c) = self.readers[(start + i) % n].try_lock() {
                return f(&mut c).map_err(Into::into);
            }
        }
        let mut c = self.readers[start]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f(&mut c).map_err(Into::into)
    }

    /// Runs `f` on the connection (one caller at a time).
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> SqlResult<T>) -> Result<T> {
        // A panic while holding the lock cannot leave a half-done transaction (rusqlite rolls
        // back on drop), so a poisoned lock is still safe to use.
        let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut c).map_err(Into::into)
    }

    /// [`Self::with`] for a write nobody is told of yet (a session step, a counter): not
    /// fsynced on its own under [`Synchronous::Full`], the next durable commit carries it.
    fn ephemeral<T>(&self, f: impl FnOnce(&mut Connection) -> SqlResult<T>) -> Result<T> {
        if self.synchronous == Synchronous::Normal {
            return self.with(f);
        }
        // Every session step passes here: the two pragmas are prepared once.
        self.with(|c| {
            c.prepare_cached("PRAGMA synchronous = NORMAL")?
                .execute([])?;
            let r = f(c);
            c.prepare_cached("PRAGMA synchronous = FULL")?.execute([])?;
            r
        })
    }

    fn one_profile(&self, clause: &str, p: &dyn rusqlite::ToSql) -> Result<Option<Profile>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {PROFILE_COLUMNS} FROM profiles WHERE {clause}"
            ))?
            .query_row([p], profile_row)
            .optional()?)
        })
    }
}

/// The status compare-and-set on `c` (a connection or a transaction).
///
/// A closed order (installed or failed) is never bound again, so its otSK.DP goes with the
/// same write: the key that opens the BPP's session keys is kept only while a resend of the
/// BPP may need it (SGP.22 §3.1.3, getBoundProfilePackage retries).
fn set_status_on(
    c: &Connection,
    id: i64,
    from: &[ProfileStatus],
    to: ProfileStatus,
    error: Option<(i64, &str)>,
    now: i64,
) -> SqlResult<bool> {
    let from: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let n = c
        .prepare_cached(&format!(
            "UPDATE profiles SET status = ?2, error_code = ?3, error_message = ?4, \
                     updated_at = ?5{} WHERE id = ?1 AND status IN ({})",
            if to.is_closed() {
                ", bound_otsk = NULL"
            } else {
                ""
            },
            from.join(", ")
        ))?
        .execute(params![
            id,
            to.as_str(),
            error.map(|e| e.0),
            error.map(|e| e.1),
            now
        ])?;
    Ok(n == 1)
}

impl Store for SqliteStore {
    fn insert_profile(&self, p: &NewProfile, now: i64) -> Result<Profile> {
        let id = self.with(|c| {
            let tx = c.transaction()?;
            tx.prepare_cached(
                "INSERT INTO profiles (sid, account_sid, status, eid, matching_id, \
                 confirmation_code, iccid, imsi, template, service_provider_name, \
                 profile_name, expires_at, max_attempts, created_at, updated_at, \
                 callback_url, callback_method, sim_sid, released, options, ppk, \
                 profile_type, es2_mark) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, \
                 ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
            )?
            .execute(params![
                p.sid,
                p.account_sid,
                p.status.unwrap_or(ProfileStatus::Available).as_str(),
                p.eid.map(Text),
                p.matching_id,
                p.confirmation_code,
                p.iccid,
                p.imsi,
                p.template,
                p.service_provider_name,
                p.profile_name,
                p.expires_at,
                p.max_attempts,
                now,
                p.callback_url,
                p.callback_method,
                p.sim_sid,
                !p.unreleased,
                p.options.to_json(),
                p.ppk,
                p.profile_type,
                p.es2_mark.map(|m| m.as_str())
            ])
            .map_err(|e| duplicate(e, p))?;
            let id = tx.last_insert_rowid();
            if let Some(der) = &p.package {
                tx.prepare_cached("INSERT INTO packages (profile_id, der) VALUES (?1, ?2)")?
                    .execute(params![id, der])?;
            }
            tx.commit()?;
            Ok(id)
        })?;
        self.profile(id)?
            .ok_or_else(|| StoreError::Invalid("inserted profile vanished".into()))
    }

    fn profile(&self, id: i64) -> Result<Option<Profile>> {
        self.one_profile("id = ?1", &id)
    }

    fn profile_by_matching_id(&self, matching_id: &str) -> Result<Option<Profile>> {
        self.one_profile("matching_id = ?1", &matching_id)
    }

    fn profile_for_eid(&self, eid: &Eid) -> Result<Option<Profile>> {
        let eid = eid.to_string();
        // Downloadable before held (so that a held order answers 8.2/1.2 only when nothing
        // else is there), a default-SM-DP+ order (no matching ID) before an activation-code
        // one bound to the same EID, a kept binding first (a retry finishes it), the oldest.
        self.one_profile(
            "eid = ?1 AND status IN ('new', 'reserving', 'available', 'downloaded') \
             ORDER BY status IN ('new', 'reserving'), matching_id IS NOT NULL, \
             bound_otpk IS NULL, id LIMIT 1",
            &eid,
        )
    }

    fn profile_by_bound_txid(&self, txid: &TransactionId) -> Result<Option<Profile>> {
        self.one_profile("bound_txid = ?1", &txid.to_hex())
    }

    fn profile_by_binding_txid(&self, txid: &TransactionId) -> Result<Option<Profile>> {
        self.one_profile(
            "id = (SELECT profile_id FROM bindings WHERE txid = ?1)",
            &txid.to_hex(),
        )
    }

    fn package_head(&self, id: i64, max: usize) -> Result<Option<(usize, Vec<u8>)>> {
        self.read(|c| {
            // length() of a blob is read from its record header, not its overflow pages.
            let len: Option<i64> = c
                .prepare_cached("SELECT length(der) FROM packages WHERE profile_id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?;
            let Some(len) = len else { return Ok(None) };
            let len = usize::try_from(len).unwrap_or(0);
            let blob = c.blob_open(rusqlite::MAIN_DB, "packages", "der", id, true)?;
            let mut head = vec![0u8; len.min(max)];
            blob.read_at_exact(&mut head, 0)?;
            Ok(Some((len, head)))
        })
    }

    fn package(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT der FROM packages WHERE profile_id = ?1")?
                    .query_row([id], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    fn profiles(&self) -> Result<Vec<Profile>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {PROFILE_COLUMNS} FROM profiles ORDER BY id"
            ))?;
            let rows = st.query_map([], profile_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn profiles_after(&self, after: i64, limit: usize) -> Result<Vec<Profile>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {PROFILE_COLUMNS} FROM profiles WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))?;
            let rows = st.query_map(
                params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
                profile_row,
            )?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn profile_with_sid(&self, sid: &str) -> Result<Option<Profile>> {
        self.one_profile("sid = ?1", &sid)
    }

    fn profile_by_iccid(&self, iccid: &str) -> Result<Option<Profile>> {
        self.one_profile("iccid = ?1", &iccid)
    }

    fn queue_es2_progress(&self, id: i64, url: &str, body: &str, now: i64) -> Result<()> {
        let sql = smdp_store_sql::queue_es2_progress(["?1", "?2", "?3", "?4"]);
        self.with(|c| {
            c.prepare_cached(&sql)?
                .execute(params![id, url, body, now])?;
            Ok(())
        })
    }

    fn fixture_profiles(&self) -> Result<Vec<Profile>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {PROFILE_COLUMNS} FROM profiles INDEXED BY profiles_fixture \
                 WHERE json_extract(options, '$.fixture') IS NOT NULL ORDER BY id"
            ))?;
            let rows = st.query_map([], profile_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn bind(&self, id: i64, b: &Binding, from: &BindFrom, now: i64) -> Result<bool> {
        self.with(|c| {
            let tx = c.transaction()?;
            let n = tx
                .prepare_cached(
                    "UPDATE profiles SET status = 'downloaded', eid = ?2, bound_txid = ?3, \
                     bound_otpk = ?4, bound_otsk = ?5, euicc_cert = ?6, \
                     attempts = attempts + ?10, updated_at = ?7, bound_smdp_sign = ?11 \
                     WHERE id = ?1 AND status = ?8 AND bound_txid IS ?9 \
                     AND (eid IS NULL OR eid = ?2) AND released \
                     AND (?10 = 0 OR attempts < max_attempts) \
                     AND (expires_at IS NULL OR expires_at > ?7)",
                )?
                .execute(params![
                    id,
                    Text(b.eid),
                    b.txid.to_hex(),
                    b.otpk,
                    b.otsk,
                    b.euicc_cert,
                    now,
                    from.status.as_str(),
                    from.bound_txid.as_ref().map(TransactionId::to_hex),
                    i64::from(from.new_binding),
                    b.smdp_sign
                ])?;
            if n != 1 {
                return Ok(false);
            }
            tx.prepare_cached(
                "INSERT INTO bindings (txid, profile_id, eid, created_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT(txid) DO NOTHING",
            )?
            .execute(params![b.txid.to_hex(), id, Text(b.eid), now])?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn set_status(
        &self,
        id: i64,
        from: &[ProfileStatus],
        to: ProfileStatus,
        error: Option<(i64, &str)>,
        now: i64,
    ) -> Result<bool> {
        self.with(|c| set_status_on(c, id, from, to, error, now))
    }

    fn set_status_ending_session(
        &self,
        txid: &TransactionId,
        id: i64,
        from: &[ProfileStatus],
        to: ProfileStatus,
        error: Option<(i64, &str)>,
        now: i64,
    ) -> Result<bool> {
        let txid = txid.to_hex();
        self.with(|c| {
            let tx = c.transaction()?;
            tx.prepare_cached("DELETE FROM sessions WHERE txid = ?1")?
                .execute([&txid])?;
            let changed = set_status_on(&tx, id, from, to, error, now)?;
            tx.commit()?;
            Ok(changed)
        })
    }

    fn unbind_session(&self, id: i64, txid: &TransactionId, now: i64) -> Result<bool> {
        let txid = txid.to_hex();
        self.with(|c| {
            let n = c
                .prepare_cached(
                    "UPDATE profiles SET status = 'available', updated_at = ?3 \
                     WHERE id = ?1 AND status = 'downloaded' AND bound_txid = ?2",
                )?
                .execute(params![id, txid, now])?;
            Ok(n == 1)
        })
    }

    fn release_order(&self, id: i64, now: i64) -> Result<bool> {
        // A held order that is reserved already becomes available now; one still being
        // reserved becomes available when the reservation completes.
        self.with(|c| {
            let n = c
                .prepare_cached(
                    "UPDATE profiles SET released = 1, updated_at = ?2, es2_mark = NULL, \
                     status = CASE WHEN status = 'reserving' AND iccid IS NOT NULL \
                     THEN 'available' ELSE status END \
                     WHERE id = ?1 AND NOT released \
                     AND (es2_mark IS NULL OR es2_mark = 'Confirmed')",
                )?
                .execute(params![id, now])?;
            Ok(n == 1)
        })
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
                .query_row([key], |r| r.get(0))
                .optional()?)
        })
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, value])?;
            Ok(())
        })
    }

    fn next_serial(&self, name: &str) -> Result<u64> {
        self.ephemeral(|c| {
            let v: i64 = c
                .prepare_cached(
                    "INSERT INTO counters (name, value) VALUES (?1, 1) \
                 ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value - 1",
                )?
                .query_row([name], |r| r.get(0))?;
            Ok(u64::try_from(v)
                .map_err(|_| StoreError::Invalid(format!("counter {name} is {v}")))?)
        })
    }

    fn insert_session(&self, s: &Session) -> Result<()> {
        self.ephemeral(|c| {
            c.prepare_cached(&format!(
                "INSERT INTO sessions ({SESSION_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))?
            .execute(params![
                s.txid.to_hex(),
                s.state.as_str(),
                s.created_at,
                s.expires_at,
                s.euicc_challenge,
                s.server_challenge,
                s.ci_pkid,
                s.eid.map(Text),
                s.euicc_cert,
                s.profile_id,
                s.smdp_signature2,
                s.metadata,
                s.number
            ])?;
            Ok(())
        })
    }

    fn session(&self, txid: &TransactionId, now: i64) -> Result<Option<Session>> {
        let txid = txid.to_hex();
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE txid = ?1 AND expires_at > ?2"
            ))?
            .query_row(params![txid, now], session_row)
            .optional()?)
        })
    }

    fn update_session(&self, s: &Session, expected: SessionState) -> Result<bool> {
        self.ephemeral(|c| {
            let n = c
                .prepare_cached(
                    "UPDATE sessions SET state = ?2, eid = ?3, euicc_cert = ?4, profile_id = ?5, \
                 smdp_signature2 = ?6, metadata = ?7 \
                 WHERE txid = ?1 AND state = ?8",
                )?
                .execute(params![
                    s.txid.to_hex(),
                    s.state.as_str(),
                    s.eid.map(Text),
                    s.euicc_cert,
                    s.profile_id,
                    s.smdp_signature2,
                    s.metadata,
                    expected.as_str()
                ])?;
            Ok(n == 1)
        })
    }

    fn delete_session(&self, txid: &TransactionId) -> Result<bool> {
        let txid = txid.to_hex();
        self.ephemeral(|c| {
            Ok(c.prepare_cached("DELETE FROM sessions WHERE txid = ?1")?
                .execute([txid])?
                == 1)
        })
    }

    fn active_sessions(&self, now: i64) -> Result<u64> {
        self.ephemeral(|c| {
            c.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
                .execute([now])?;
            let n: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM sessions")?
                .query_row([], |r| r.get(0))?;
            Ok(n as u64)
        })
    }

    fn record_notification(&self, n: &NotificationRecord) -> Result<bool> {
        self.with(|c| {
            let inserted = c
                .prepare_cached(
                    "INSERT INTO notifications (eid, iccid, operation, seq_number, received_at, \
                     profile_id) \
                     SELECT ?1, ?2, ?3, ?4, ?5, \
                        (SELECT id FROM profiles WHERE iccid = ?2 AND eid = ?1) \
                     WHERE NOT EXISTS (SELECT 1 FROM notifications \
                        WHERE eid = ?1 AND seq_number = ?4)",
                )?
                .execute(params![
                    Text(n.eid),
                    n.iccid,
                    n.operation,
                    n.seq_number,
                    n.received_at
                ])?;
            Ok(inserted == 1)
        })
    }

    fn notifications(&self) -> Result<Vec<NotificationRecord>> {
        self.notification_rows("", &[])
    }

    fn notifications_for(&self, profile_id: i64) -> Result<Vec<NotificationRecord>> {
        self.notification_rows("WHERE n.profile_id = ?1", &[&profile_id])
    }

    fn retire_matching_id(&self, id: i64, now: i64) -> Result<bool> {
        self.with(|c| {
            Ok(c.prepare_cached(
                "UPDATE profiles SET matching_id = NULL, updated_at = ?2 WHERE id = ?1",
            )?
            .execute(params![id, now])?
                == 1)
        })
    }

    fn record_cc_failure(&self, id: i64, now: i64) -> Result<i64> {
        self.with(|c| {
            c.prepare_cached(
                "UPDATE profiles SET cc_failures = cc_failures + 1, updated_at = ?2 \
                 WHERE id = ?1 RETURNING cc_failures",
            )?
            .query_row(params![id, now], |r| r.get(0))
            .optional()?
            .ok_or_else(|| SqlError::Store(StoreError::Invalid(format!("no order {id}"))))
        })
    }

    fn set_faults(&self, id: i64, faults: &[smdp_core::faults::Fault]) -> Result<bool> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let text: Option<String> = tx
                .prepare_cached("SELECT options FROM profiles WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?;
            let Some(text) = text else {
                return Ok(false);
            };
            let mut options =
                OrderOptions::from_json(&text).map_err(|e| StoreError::Invalid(e.to_string()))?;
            options.faults = faults.to_vec();
            tx.prepare_cached("UPDATE profiles SET options = ?2 WHERE id = ?1")?
                .execute(params![id, options.to_json()])?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn record_fault(&self, f: &FiredFault) -> Result<()> {
        self.ephemeral(|c| {
            c.prepare_cached(
                "INSERT INTO fault_log (profile_id, txid, function, attempt, fault, fired_at, \
                 session) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                f.profile_id,
                f.txid.as_ref().map(|t| Text(t.clone())),
                f.function,
                f.attempt,
                f.fault,
                f.fired_at,
                f.session
            ])?;
            Ok(())
        })
    }

    fn faults_fired(&self, profile_id: i64) -> Result<Vec<FiredFault>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT profile_id, txid, function, attempt, fault, fired_at, session \
                 FROM fault_log \
                 WHERE profile_id = ?1 ORDER BY id",
            )?;
            let rows = st.query_map([profile_id], |r| {
                Ok(FiredFault {
                    profile_id: r.get(0)?,
                    txid: opt(r, 1)?,
                    function: r.get(2)?,
                    attempt: r.get(3)?,
                    fault: r.get(4)?,
                    fired_at: r.get(5)?,
                    session: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn fault_fired_in(&self, txid: &TransactionId) -> Result<bool> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT EXISTS (SELECT 1 FROM fault_log WHERE txid = ?1)")?
                    .query_row([Text(txid.clone())], |r| r.get(0))?,
            )
        })
    }
}

impl SqliteStore {
    fn notification_rows(
        &self,
        filter: &str,
        args: &[&dyn ToSql],
    ) -> Result<Vec<NotificationRecord>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT n.eid, n.iccid, n.operation, n.seq_number, n.received_at, p.sid \
                 FROM notifications n LEFT JOIN profiles p ON p.id = n.profile_id {filter} \
                 ORDER BY n.id"
            ))?;
            let rows = st.query_map(args, |r| {
                Ok(NotificationRecord {
                    eid: req(r, 0)?,
                    iccid: r.get(1)?,
                    operation: r.get(2)?,
                    seq_number: r.get(3)?,
                    received_at: r.get(4)?,
                    profile_sid: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    smdp_core::store_conformance_tests!(|| -> Box<dyn smdp_core::store::OperatorStore> {
        Box::new(SqliteStore::in_memory().unwrap())
    });

    /// `smdp store copy` reads the tables of smdp_store_sql::TABLES: that must be every table.
    #[test]
    fn the_copy_order_names_every_table() {
        let s = SqliteStore::in_memory().unwrap();
        let mut tables: Vec<String> = s
            .with(|c| {
                let mut st = c.prepare(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite_%'",
                )?;
                let rows = st.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
            })
            .unwrap();
        tables.sort();
        let mut listed: Vec<&str> = smdp_store_sql::TABLES.to_vec();
        listed.sort();
        assert_eq!(tables, listed);
    }

    /// A restore replaces everything the store held with the template's rows, and the two
    /// stay apart afterwards.
    #[test]
    fn a_restore_copies_the_template_and_only_it() {
        use smdp_core::store::{Store as _, StoreError};
        let template = SqliteStore::in_memory().unwrap();
        let t = template
            .insert_profile(&smdp_core::store::testing::order("HPt", "1"), 1)
            .unwrap();
        let s = SqliteStore::in_memory().unwrap();
        s.insert_profile(&smdp_core::store::testing::order("HPs", "2"), 1)
            .unwrap();
        s.restore_from(&template).unwrap();
        assert_eq!(s.profile_with_sid("HPt").unwrap().unwrap().id, t.id);
        assert!(s.profile_with_sid("HPs").unwrap().is_none());
        // Writes after the restore reach one store only (the prepared statements of the
        // restored connection are valid again).
        s.insert_profile(&smdp_core::store::testing::order("HPu", "3"), 2)
            .unwrap();
        assert!(template.profile_with_sid("HPu").unwrap().is_none());
        assert!(matches!(
            s.insert_profile(&smdp_core::store::testing::order("HPt", "4"), 2),
            Err(StoreError::Duplicate { .. })
        ));
        s.restore_from(&template).unwrap();
        assert!(s.profile_with_sid("HPu").unwrap().is_none());
        s.restore_from(&s).unwrap();
    }

    /// The same contract on a data folder: reads go to the WAL readers, writes to the
    /// writer, and every read sees the writes before it.
    mod file_backed {
        use super::*;

        fn fresh() -> Box<dyn smdp_core::store::OperatorStore> {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "smdp-store-{}-{}",
                std::process::id(),
                N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let s = SqliteStore::open(&dir).unwrap();
            assert!(!s.readers.is_empty());
            Box::new(s)
        }

        smdp_core::store_conformance_tests!(fresh);

        #[test]
        fn readers_refuse_writes() {
            let dir = std::env::temp_dir().join(format!("smdp-ro-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let s = SqliteStore::open(&dir).unwrap();
            let e = s
                .read(|c| Ok(c.execute("DELETE FROM profiles", [])?))
                .unwrap_err();
            assert!(
                e.to_string().contains("readonly") || e.to_string().contains("read"),
                "{e}"
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    use smdp_core::store::testing::order;

    #[test]
    fn a_version_1_store_is_migrated() {
        let dir = std::env::temp_dir().join(format!("smdp-v1-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let c = Connection::open(dir.join("smdp.sqlite3")).unwrap();
        c.execute_batch(SCHEMA).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        drop(c);
        let s = SqliteStore::open(&dir).unwrap();
        let p = s.insert_profile(&order("HP1", "1"), 0).unwrap();
        assert_eq!(p.callback_url, None);
        let v: i64 = s
            .with(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Schema 12 counted wrong confirmation codes per session: 13 moves the count to the
    /// order, so an order with two wrong codes in a live session keeps them.
    #[test]
    fn a_version_12_store_keeps_its_confirmation_code_count() {
        let dir = std::env::temp_dir().join(format!("smdp-v12-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = SqliteStore::open(&dir).unwrap();
        let p = s.insert_profile(&order("HP1", "1"), 0).unwrap();
        drop(s);
        let c = Connection::open(dir.join("smdp.sqlite3")).unwrap();
        c.execute_batch(&format!(
            "ALTER TABLE profiles DROP COLUMN cc_failures;
             ALTER TABLE accounts DROP COLUMN signing_key;
             ALTER TABLE sessions ADD COLUMN cc_attempts INTEGER NOT NULL DEFAULT 0;
             INSERT INTO sessions (txid, state, created_at, expires_at, euicc_challenge,
                 server_challenge, ci_pkid, profile_id, cc_attempts)
             VALUES ('00', 'authenticated', 0, 99, x'00', x'00', x'00', {}, 2);
             DROP INDEX profiles_inventory;
             ALTER TABLE profiles DROP COLUMN profile_type;
             ALTER TABLE profiles DROP COLUMN requester;
             ALTER TABLE profiles DROP COLUMN es2_mark;
             ALTER TABLE callbacks DROP COLUMN body;
             PRAGMA user_version = 12;",
            p.id
        ))
        .unwrap();
        drop(c);
        let s = SqliteStore::open(&dir).unwrap();
        assert_eq!(s.record_cc_failure(p.id, 1).unwrap(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Issue 18: no secret is kept in clear, in a new store or in one from before digests
    /// (schema 13), which is migrated and still lets the same credentials in.
    #[test]
    fn credentials_are_kept_as_digests_also_after_migrating_a_version_13_store() {
        use smdp_core::store::OperatorStore as _;
        let dir = std::env::temp_dir().join(format!("smdp-v13-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = SqliteStore::open(&dir).unwrap();
        s.create_account("AC1", "token-1", "one", 0).unwrap();
        drop(s);
        let c = Connection::open(dir.join("smdp.sqlite3")).unwrap();
        c.execute_batch(
            "UPDATE accounts SET auth_token = 'token-1';
             ALTER TABLE accounts DROP COLUMN signing_key;
             INSERT INTO api_keys VALUES ('SK1', 'key-secret', 'AC1');
             INSERT INTO bearer_tokens VALUES ('bearer-1', 'AC1');
             INSERT INTO oauth_clients VALUES ('client-1', 'client-secret', 'AC1');
             INSERT INTO oauth_tokens VALUES ('oauth-1', 'AC1', 'client-1', 0, 99, 0);
             DROP INDEX profiles_inventory;
             ALTER TABLE profiles DROP COLUMN profile_type;
             ALTER TABLE profiles DROP COLUMN requester;
             ALTER TABLE profiles DROP COLUMN es2_mark;
             ALTER TABLE callbacks DROP COLUMN body;
             PRAGMA user_version = 13;",
        )
        .unwrap();
        drop(c);
        let s = SqliteStore::open(&dir).unwrap();
        s.create_account("AC2", "token-2", "two", 0).unwrap();
        let kept: Vec<String> = s
            .with(|c| {
                let mut st = c.prepare(
                    "SELECT auth_token FROM accounts UNION ALL SELECT secret FROM api_keys \
                     UNION ALL SELECT token FROM bearer_tokens \
                     UNION ALL SELECT secret FROM oauth_clients \
                     UNION ALL SELECT token FROM oauth_tokens",
                )?;
                let rows = st.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .unwrap();
        assert_eq!(kept.len(), 6);
        assert!(kept.iter().all(|k| k.starts_with("sha256:")), "{kept:?}");
        smdp_core::store::testing::migrated_credentials_authenticate(&s);
        let key: Vec<u8> = s
            .with(|c| {
                Ok(c.query_row(
                    "SELECT signing_key FROM accounts WHERE sid = 'AC1'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        let key = smdp_core::credentials::HmacSha1Key::from_bytes(&key).unwrap();
        let expected = smdp_core::credentials::HmacSha1Key::new(b"token-1");
        assert_eq!(key.mac([b"m".as_slice()]), expected.mac([b"m".as_slice()]));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Issue 18: a data folder's writer fsyncs acknowledged changes (FULL) and stays FULL
    /// around the session steps it writes with NORMAL; `normal` is NORMAL throughout.
    #[test]
    fn acknowledged_changes_are_synchronous_full() {
        let dir = std::env::temp_dir().join(format!("smdp-sync-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let level = |s: &SqliteStore| -> i64 {
            s.with(|c| Ok(c.pragma_query_value(None, "synchronous", |r| r.get(0))?))
                .unwrap()
        };
        let s = SqliteStore::open(&dir).unwrap();
        assert_eq!(level(&s), 2, "FULL");
        s.next_serial("n").unwrap();
        assert_eq!(s.active_sessions(0).unwrap(), 0);
        assert_eq!(level(&s), 2, "FULL again after a session step");
        drop(s);
        let s = SqliteStore::open_with(&dir, Synchronous::Normal).unwrap();
        assert_eq!(level(&s), 1, "NORMAL");
        s.next_serial("n").unwrap();
        assert_eq!(level(&s), 1);
        assert_eq!("full".parse(), Ok(Synchronous::Full));
        assert!("off".parse::<Synchronous>().is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Issue 18: a full disk (the database capped with max_page_count, which fails the same
    /// way) refuses writes as "unavailable" with nothing half-written, and the store works
    /// again once there is room.
    #[test]
    fn a_full_disk_refuses_writes_cleanly_and_recovers() {
        use smdp_core::store::OperatorStore as _;
        let dir = std::env::temp_dir().join(format!("smdp-full-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = SqliteStore::open(&dir).unwrap();
        s.create_account("AC0", "t", "zero", 0).unwrap();
        s.insert_profile(&order("HP1", "1"), 0).unwrap();
        let pages: i64 = s
            .with(|c| Ok(c.pragma_query_value(None, "page_count", |r| r.get(0))?))
            .unwrap();
        s.with(|c| Ok(c.pragma_update(None, "max_page_count", pages)?))
            .unwrap();
        // A large package cannot fit: refused, and neither the order nor its package exists.
        let big = NewProfile {
            package: Some(vec![0x30; 512 * 1024]),
            ..order("HP2", "2")
        };
        let e = s.insert_profile(&big, 1).unwrap_err();
        assert!(
            matches!(&e, StoreError::Unavailable(why) if why.contains("disk is full")),
            "{e}"
        );
        assert!(s.profile_with_sid("HP2").unwrap().is_none());
        assert_eq!(s.profiles().unwrap().len(), 1);
        // Room again: the same write goes through.
        s.with(|c| Ok(c.pragma_update(None, "max_page_count", 1_073_741_823)?))
            .unwrap();
        s.insert_profile(&big, 2).unwrap();
        assert_eq!(s.profiles().unwrap().len(), 2);
        // A database that cannot be written (query_only fails as a read-only file does; root
        // ignores file modes, so a test cannot chmod): the same, and back.
        s.with(|c| Ok(c.pragma_update(None, "query_only", true)?))
            .unwrap();
        let e = s.insert_profile(&order("HP3", "3"), 3).unwrap_err();
        assert!(
            matches!(&e, StoreError::Unavailable(why) if why.contains("read-only")),
            "{e}"
        );
        s.with(|c| Ok(c.pragma_update(None, "query_only", false)?))
            .unwrap();
        s.insert_profile(&order("HP3", "3"), 4).unwrap();
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn fixture_orders_are_found_by_index_not_by_scan() {
        let s = SqliteStore::in_memory().unwrap();
        let plan: Vec<String> = s
            .with(|c| {
                let mut st = c.prepare(
                    "EXPLAIN QUERY PLAN SELECT id FROM profiles INDEXED BY profiles_fixture \
                     WHERE json_extract(options, '$.fixture') IS NOT NULL ORDER BY id",
                )?;
                let rows = st.query_map([], |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .unwrap();
        assert!(
            plan.iter().any(|l| l.contains("profiles_fixture")),
            "{plan:?}"
        );
    }

    #[test]
    fn a_store_of_another_schema_is_refused_not_misread() {
        let dir = std::env::temp_dir().join(format!("smdp-schema-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        SqliteStore::open(&dir).unwrap();
        SqliteStore::open(&dir).unwrap(); // reopening is fine
        let c = Connection::open(dir.join("smdp.sqlite3")).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        let e = SqliteStore::open(&dir).err().unwrap();
        assert!(e.to_string().contains("schema 99"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Two processes on one database file (two connections here, one per thread) race to
    /// claim the same orders: every order is claimed exactly once.
    #[test]
    fn two_connections_claim_disjoint_reservations() {
        use smdp_core::store::{Lease, OperatorStore as _};
        let dir = std::env::temp_dir().join(format!("smdp-claims-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = SqliteStore::open(&dir).unwrap();
        for i in 0..60 {
            s.insert_profile(
                &NewProfile {
                    status: Some(ProfileStatus::New),
                    iccid: None,
                    ..order(&format!("HP{i}"), "")
                },
                0,
            )
            .unwrap();
        }
        let workers: Vec<_> = ["A", "B", "C"]
            .into_iter()
            .map(|name| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    let s = SqliteStore::open(&dir).unwrap();
                    let lease = Lease {
                        owner: name.into(),
                        until: 1000,
                    };
                    let mut got = Vec::new();
                    loop {
                        let batch = s.claim_reservations(&lease, 1, 3).unwrap();
                        if batch.is_empty() {
                            return got;
                        }
                        got.extend(batch.into_iter().map(|p| p.id));
                    }
                })
            })
            .collect();
        let mut all: Vec<i64> = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        all.sort_unstable();
        let before = all.len();
        all.dedup();
        assert_eq!(before, all.len(), "an order was claimed twice");
        assert_eq!(all.len(), 60, "every order was claimed");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
