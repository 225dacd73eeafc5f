//! `smdp store check` and the source side of `smdp store copy` for the SQLite store.

use rusqlite::types::ValueRef;
use smdp_core::store::{Result, StoreReport, TableSource, Value};
use smdp_store_sql::{COUNTS, INVARIANTS, TABLES};

use crate::{SqlError, SqliteStore};

impl SqliteStore {
    /// The schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64> {
        self.read(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
    }

    /// Schema version, counts, SQLite's own integrity and foreign-key checks, and the
    /// store's invariants.
    pub fn check(&self, shown: &str) -> Result<StoreReport> {
        let schema_version = self.schema_version()?;
        self.read(|c| {
            let count = |sql: &str| -> std::result::Result<i64, SqlError> {
                Ok(c.query_row(sql, [], |r| r.get(0))?)
            };
            let mut counts = Vec::new();
            for (label, sql) in COUNTS {
                counts.push((label.to_string(), count(sql)?));
            }
            let mut problems = Vec::new();
            let integrity: Vec<String> = c
                .prepare("PRAGMA integrity_check")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            if integrity != ["ok"] {
                problems.extend(integrity.into_iter().map(|m| format!("integrity: {m}")));
            }
            let fks: Vec<(String, i64, String)> = c
                .prepare("PRAGMA foreign_key_check")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (table, rowid, parent) in fks {
                problems.push(format!(
                    "{table} row {rowid} refers to a missing {parent} row"
                ));
            }
            for (what, sql) in INVARIANTS {
                let n = count(sql)?;
                if n > 0 {
                    problems.push(format!("{n} {what}"));
                }
            }
            Ok(StoreReport {
                store: shown.to_string(),
                schema_version,
                counts,
                problems,
            })
        })
    }
}

impl TableSource for SqliteStore {
    fn scan(
        &self,
        table: &str,
        columns: &[String],
        row: &mut dyn FnMut(Vec<Value>) -> Result<()>,
    ) -> Result<()> {
        if !TABLES.contains(&table) {
            return Err(smdp_core::store::StoreError::Invalid(format!(
                "no table {table:?} in a store"
            )));
        }
        let sql = format!("SELECT {} FROM {table} ORDER BY rowid", columns.join(", "));
        self.read(|c| {
            let mut st = c.prepare(&sql)?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let mut values = Vec::with_capacity(columns.len());
                for (i, column) in columns.iter().enumerate() {
                    values.push(match r.get_ref(i)? {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(n) => Value::Int(n),
                        ValueRef::Text(t) => Value::Text(
                            std::str::from_utf8(t)
                                .map_err(|_| {
                                    smdp_core::store::StoreError::Invalid(format!(
                                        "{table}.{column}: text that is not UTF-8"
                                    ))
                                })?
                                .to_string(),
                        ),
                        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                        ValueRef::Real(x) => Value::Text(x.to_string()),
                    });
                }
                row(values)?;
            }
            Ok(())
        })
    }
}
