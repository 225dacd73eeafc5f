//! The ES2+ inventory and the functions' compare-and-sets (SGP.22 §5.3): inventory rows are
//! profiles (one row per ICCID from the inventory to installed), marked with the ES2+ state
//! where their status does not say it. The statements are `smdp_store_sql::es2`'s, shared
//! with PostgreSQL.

use rusqlite::{params, OptionalExtension};
use smdp_core::es2::State;
use smdp_core::store::{Es2Change, InventoryCount, Profile, Result, StoreError};
use smdp_store_sql::{es2, es2_state_is, inventory_counts};

use crate::{profile_row, SqlError, SqliteStore, Text};

impl SqliteStore {
    pub(crate) fn es2_pick(&self, profile_type: &str) -> Result<Option<Profile>> {
        self.read(|c| {
            Ok(c.prepare_cached(&es2::pick())?
                .query_row([profile_type], profile_row)
                .optional()?)
        })
    }

    pub(crate) fn es2_counts(&self, account: Option<&str>) -> Result<Vec<InventoryCount>> {
        let sql = inventory_counts(account.map(|_| "?1"));
        let rows: Vec<(String, String, bool, bool, i64)> = self.read(|c| {
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(account), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        smdp_core::store::inventory_counts(rows)
    }

    pub(crate) fn es2_change(
        &self,
        id: i64,
        from: State,
        change: &Es2Change,
        now: i64,
    ) -> Result<bool> {
        let Some(from_is) = es2_state_is(from.as_str()) else {
            return Err(StoreError::Invalid(format!(
                "ES2+ functions do not act on {from} profiles"
            )));
        };
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let n = match change {
                Es2Change::Order { requester, eid, .. } => {
                    tx.prepare_cached(&es2::order(from_is))?.execute(params![
                        id,
                        if eid.is_some() { "Linked" } else { "Allocated" },
                        requester,
                        eid.map(Text),
                        now
                    ])?
                }
                Es2Change::Confirm {
                    eid,
                    matching_id,
                    confirmation_code,
                    release,
                } => tx
                    .prepare_cached(&es2::confirm(from_is))?
                    .execute(params![
                        id,
                        eid.map(Text),
                        matching_id,
                        confirmation_code,
                        release,
                        now
                    ])
                    .map_err(|e| match &e {
                        rusqlite::Error::SqliteFailure(f, Some(m))
                            if f.code == rusqlite::ErrorCode::ConstraintViolation
                                && m.contains("matching_id") =>
                        {
                            SqlError::Store(StoreError::Duplicate {
                                what: "matching ID",
                                value: matching_id.clone(),
                            })
                        }
                        _ => SqlError::Sql(e),
                    })?,
                Es2Change::Release => tx
                    .prepare_cached(&es2::release(from_is))?
                    .execute(params![id, now])?,
                Es2Change::Cancel {
                    back_to_inventory: true,
                } => {
                    let n = tx
                        .prepare_cached(&es2::cancel_to_inventory(from_is))?
                        .execute(params![id, now])?;
                    if n == 1 {
                        tx.prepare_cached(es2::DELETE_SIM)?.execute([id])?;
                    }
                    n
                }
                Es2Change::Cancel {
                    back_to_inventory: false,
                } => tx
                    .prepare_cached(&es2::cancel_unavailable(from_is))?
                    .execute(params![id, now])?,
            };
            if n != 1 {
                return Ok(false);
            }
            if let Es2Change::Order { charge_cents, .. } = change {
                // The Sim and the charge of the order, each once per profile.
                tx.prepare_cached(es2::ORDER_SIM)?
                    .execute(params![id, now])?;
                tx.prepare_cached(es2::ORDER_CHARGE)?
                    .execute(params![id, charge_cents, now])?;
            }
            tx.commit()?;
            Ok(true)
        })
    }
}
