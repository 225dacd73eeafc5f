//! `smdp store check` and `smdp store copy` (into PostgreSQL) for the PostgreSQL store.

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use smdp_core::store::{Result, StoreError, StoreReport, TableSource, Value};
use smdp_store_sql::{COUNTS, INVARIANTS, TABLES};

use crate::conn::Db as _;
use crate::rows::R;
use crate::{Error, PgStore};

/// One column value for binary COPY, typed as the column is.
fn typed(v: Value, ty: &Type, at: &str) -> R<Box<dyn ToSql + Sync>> {
    let bad = |what: &str| {
        Error::Store(StoreError::Invalid(format!(
            "{at}: {what} for a {ty} column"
        )))
    };
    Ok(match (v, ty) {
        (Value::Null, t) if *t == Type::INT8 => Box::new(None::<i64>),
        (Value::Null, t) if *t == Type::BOOL => Box::new(None::<bool>),
        (Value::Null, t) if *t == Type::BYTEA => Box::new(None::<Vec<u8>>),
        (Value::Null, _) => Box::new(None::<String>),
        (Value::Int(n), t) if *t == Type::INT8 => Box::new(n),
        (Value::Int(n), t) if *t == Type::BOOL => Box::new(n != 0),
        (Value::Int(n), t) if *t == Type::TEXT => Box::new(n.to_string()),
        (Value::Text(s), t) if *t == Type::TEXT => Box::new(s),
        (Value::Text(s), t) if *t == Type::INT8 => Box::new(
            s.parse::<i64>()
                .map_err(|_| bad("text that is not a number"))?,
        ),
        (Value::Blob(b), t) if *t == Type::BYTEA => Box::new(b),
        (Value::Int(_), _) => return Err(bad("an integer")),
        (Value::Text(_), _) => return Err(bad("text")),
        (Value::Blob(_), _) => return Err(bad("a blob")),
    })
}

fn column_type(data_type: &str) -> Option<Type> {
    Some(match data_type {
        "bigint" => Type::INT8,
        "boolean" => Type::BOOL,
        "bytea" => Type::BYTEA,
        "text" => Type::TEXT,
        _ => return None,
    })
}

impl PgStore {
    /// Schema version, counts and the store's invariants (foreign keys are enforced by
    /// PostgreSQL itself).
    pub fn check(&self) -> Result<StoreReport> {
        let schema_version = self.schema_version()?;
        let store = self.url().to_string();
        self.with(|c| {
            let mut count = |sql: &str| -> R<i64> { Ok(c.query_one(sql, &[])?.try_get(0)?) };
            let mut counts = Vec::new();
            for (label, sql) in COUNTS {
                counts.push((label.to_string(), count(sql)?));
            }
            let mut problems = Vec::new();
            for (what, sql) in INVARIANTS {
                let n = count(sql)?;
                if n > 0 {
                    problems.push(format!("{n} {what}"));
                }
            }
            Ok(StoreReport {
                store,
                schema_version,
                counts,
                problems,
            })
        })
    }

    /// Copies every row of `src` (an SQLite store, say) into this store, which must be empty,
    /// in one transaction: all of it or nothing. Row ids are kept, and the id sequences move
    /// past them. Returns the rows copied per table.
    pub fn import_from(&self, src: &(dyn TableSource + Sync)) -> Result<Vec<(String, u64)>> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            let held: i64 = tx
                .query_one(
                    "SELECT (SELECT COUNT(*) FROM accounts) + (SELECT COUNT(*) FROM profiles)",
                    &[],
                )?
                .try_get(0)?;
            if held > 0 {
                return Err(Error::Store(StoreError::Invalid(format!(
                    "{} already holds accounts or orders: copy into an empty store",
                    self.url()
                ))));
            }
            let mut copied = Vec::new();
            for table in TABLES {
                let cols = tx.query(
                    "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 \
                     ORDER BY ordinal_position",
                    &[table],
                )?;
                let mut names = Vec::new();
                let mut types = Vec::new();
                for r in &cols {
                    let (name, ty): (String, String) = (r.try_get(0)?, r.try_get(1)?);
                    types.push(column_type(&ty).ok_or_else(|| {
                        Error::Store(StoreError::Invalid(format!("{table}.{name}: type {ty}")))
                    })?);
                    names.push(name);
                }
                let sink = tx.copy_in(&format!(
                    "COPY {table} ({}) FROM STDIN (FORMAT binary)",
                    names.join(", ")
                ))?;
                let mut w = BinaryCopyInWriter::new(sink, &types);
                let mut n = 0u64;
                let shown = self.url();
                src.scan(table, &names, &mut |row| {
                    let vals = row
                        .into_iter()
                        .zip(&types)
                        .zip(&names)
                        .map(|((v, t), name)| typed(v, t, &format!("{table}.{name}")))
                        .collect::<R<Vec<_>>>()
                        .map_err(|e| e.into_store(shown))?;
                    let refs: Vec<&(dyn ToSql + Sync)> = vals.iter().map(|b| b.as_ref()).collect();
                    w.write(&refs)
                        .map_err(|e| Error::Sql(e).into_store(shown))?;
                    n += 1;
                    Ok(())
                })?;
                w.finish()?;
                copied.push((table.to_string(), n));
            }
            // Identities continue after the copied ids.
            for table in TABLES {
                let has_identity: bool = tx
                    .query_one(
                        "SELECT pg_get_serial_sequence($1, 'id') IS NOT NULL \
                         FROM information_schema.columns WHERE table_schema = current_schema() \
                         AND table_name = $1 AND column_name = 'id'",
                        &[table],
                    )
                    .and_then(|r| r.try_get(0))
                    .unwrap_or(false);
                if has_identity {
                    tx.execute(
                        &format!(
                            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                             GREATEST(COALESCE(MAX(id), 0), 1), MAX(id) IS NOT NULL) FROM {table}"
                        ),
                        &[],
                    )?;
                }
            }
            tx.commit()?;
            Ok(copied)
        })
    }
}
