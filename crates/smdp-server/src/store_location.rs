//! Which store a node opens: `--store sqlite:FOLDER` (or a folder path: the embedded default,
//! `--data`'s folder) or `--store postgres://user@host/db` (several nodes on one database).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use smdp_core::store::OperatorStore;

use crate::serve::ServeError;

type Result<T> = std::result::Result<T, ServeError>;

macro_rules! bail {
    ($($t:tt)*) => { return Err(ServeError(format!($($t)*))) };
}

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `smdp.sqlite3` in this folder.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (or key=value string).
    Postgres(String),
}

impl std::str::FromStr for StoreLocation {
    type Err = ServeError;

    fn from_str(s: &str) -> Result<Self> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Self::Postgres(s.to_string()));
        }
        let folder = s.strip_prefix("sqlite:").unwrap_or(s);
        if folder.is_empty() {
            bail!("--store {s:?}: give sqlite:FOLDER, a folder, or postgres://…");
        }
        if folder.contains("://") {
            bail!("--store {s:?}: only sqlite: folders and postgres:// URLs are stores");
        }
        Ok(Self::Sqlite(PathBuf::from(folder)))
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(dir) => write!(f, "sqlite:{}", dir.display()),
            Self::Postgres(url) => f.write_str(&smdp_store_postgres::redact(url)),
        }
    }
}

impl StoreLocation {
    /// `--store` when given, else the SQLite store in `--data`'s folder.
    pub fn resolve(store: Option<&str>, data: &Path) -> Result<Self> {
        match store {
            Some(s) => s.parse(),
            None => Ok(Self::Sqlite(data.to_path_buf())),
        }
    }

    /// Opens (creating or migrating) the store, every acknowledged change durable.
    pub fn open(&self) -> Result<Arc<dyn OperatorStore>> {
        self.open_with(smdp_store_sqlite::Synchronous::Full)
    }

    /// [`Self::open`], an SQLite store's commits reaching the disk as `sync` says
    /// (PostgreSQL's commits are its server's business: `synchronous_commit`).
    pub fn open_with(
        &self,
        sync: smdp_store_sqlite::Synchronous,
    ) -> Result<Arc<dyn OperatorStore>> {
        Ok(match self {
            Self::Sqlite(dir) => Arc::new(
                smdp_store_sqlite::SqliteStore::open_with(dir, sync)
                    .map_err(|e| ServeError(format!("store in {}: {e}", dir.display())))?,
            ),
            // The crate's messages name the database (password hidden).
            Self::Postgres(url) => Arc::new(
                smdp_store_postgres::PgStore::connect(url)
                    .map_err(|e| ServeError(e.to_string()))?,
            ),
        })
    }
}

impl StoreLocation {
    /// Opens the store (migrating an older schema) and returns its schema version.
    pub fn migrate(&self) -> Result<i64> {
        let e = |e: smdp_core::store::StoreError| ServeError(format!("{self}: {e}"));
        match self {
            Self::Sqlite(dir) => smdp_store_sqlite::SqliteStore::open(dir)
                .and_then(|s| s.schema_version())
                .map_err(e),
            Self::Postgres(url) => smdp_store_postgres::PgStore::connect(url)
                .and_then(|s| s.schema_version())
                .map_err(e),
        }
    }

    /// `smdp store check`: schema version, counts, integrity.
    pub fn check(&self) -> Result<smdp_core::store::StoreReport> {
        let e = |e: smdp_core::store::StoreError| ServeError(format!("{self}: {e}"));
        match self {
            // Checking is not creating: a folder without a store is an error.
            Self::Sqlite(dir) if !dir.join("smdp.sqlite3").is_file() => {
                bail!("{self}: no store there (no smdp.sqlite3)")
            }
            Self::Sqlite(dir) => smdp_store_sqlite::SqliteStore::open(dir)
                .and_then(|s| s.check(&self.to_string()))
                .map_err(e),
            Self::Postgres(url) => smdp_store_postgres::PgStore::connect(url)
                .and_then(|s| s.check())
                .map_err(e),
        }
    }

    /// `smdp store copy`: every row of this SQLite store into the empty PostgreSQL store
    /// `to`, in one transaction. The rows copied per table.
    pub fn copy_into(&self, to: &StoreLocation) -> Result<Vec<(String, u64)>> {
        let (Self::Sqlite(dir), Self::Postgres(url)) = (self, to) else {
            bail!("store copy goes from an SQLite store (sqlite:FOLDER) into PostgreSQL (postgres://…)");
        };
        if !dir.join("smdp.sqlite3").is_file() {
            bail!("{self}: no store there (no smdp.sqlite3)");
        }
        let from = smdp_store_sqlite::SqliteStore::open(dir)
            .map_err(|e| ServeError(format!("{self}: {e}")))?;
        let into = smdp_store_postgres::PgStore::connect(url)
            .map_err(|e| ServeError(format!("{to}: {e}")))?;
        into.import_from(&from)
            .map_err(|e| ServeError(format!("copying {self} into {to}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_print() {
        assert_eq!(
            "sqlite:./d".parse::<StoreLocation>().unwrap(),
            StoreLocation::Sqlite("./d".into())
        );
        assert_eq!(
            "data".parse::<StoreLocation>().unwrap(),
            StoreLocation::Sqlite("data".into())
        );
        let pg: StoreLocation = "postgres://smdp:pw@127.0.0.1/smdp".parse().unwrap();
        assert_eq!(pg.to_string(), "postgres://smdp:***@127.0.0.1/smdp");
        assert!("mysql://x/y".parse::<StoreLocation>().is_err());
        assert!("sqlite:".parse::<StoreLocation>().is_err());
        assert_eq!(
            StoreLocation::resolve(None, Path::new("d")).unwrap(),
            StoreLocation::Sqlite("d".into())
        );
    }
}
