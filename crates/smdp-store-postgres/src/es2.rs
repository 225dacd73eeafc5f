//! The ES2+ inventory and the functions' compare-and-sets (SGP.22 §5.3), with the SQLite
//! store's statements (`smdp_store_sql::es2`): inventory rows are profiles, marked with the
//! ES2+ state where their status does not say it. Each change is one `UPDATE … WHERE` on the
//! state it was decided for, re-checked on the latest row version, so of two nodes racing
//! for one profile exactly one wins.

use smdp_core::es2::State;
use smdp_core::store::{Es2Change, InventoryCount, Profile, Result, StoreError};
use smdp_store_sql::{dollar, es2, es2_state_is, inventory_counts};

use crate::conn::Db as _;
use crate::rows::{self, is_unique_violation};
use crate::{Error, PgStore};

impl PgStore {
    pub(crate) fn es2_pick(&self, profile_type: &str) -> Result<Option<Profile>> {
        self.with(|c| {
            c.query_opt(&dollar(&es2::pick()), &[&profile_type])?
                .as_ref()
                .map(rows::profile)
                .transpose()
        })
    }

    pub(crate) fn es2_counts(&self, account: Option<&str>) -> Result<Vec<InventoryCount>> {
        let sql = inventory_counts(account.map(|_| "$1"));
        let rows = self.with(|c| {
            let params: Vec<&(dyn postgres::types::ToSql + Sync)> = match &account {
                Some(a) => vec![a],
                None => Vec::new(),
            };
            c.query(&sql, &params)?
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get(0)?,
                        r.try_get(1)?,
                        r.try_get(2)?,
                        r.try_get(3)?,
                        r.try_get(4)?,
                    ))
                })
                .collect::<std::result::Result<Vec<_>, Error>>()
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
            let mut tx = c.transaction()?;
            let n = match change {
                Es2Change::Order { requester, eid, .. } => tx.execute(
                    &dollar(&es2::order(from_is)),
                    &[
                        &id,
                        &if eid.is_some() { "Linked" } else { "Allocated" },
                        requester,
                        &eid.map(|e| e.to_string()),
                        &now,
                    ],
                )?,
                Es2Change::Confirm {
                    eid,
                    matching_id,
                    confirmation_code,
                    release,
                } => tx
                    .execute(
                        &dollar(&es2::confirm(from_is)),
                        &[
                            &id,
                            &eid.map(|e| e.to_string()),
                            matching_id,
                            confirmation_code,
                            release,
                            &now,
                        ],
                    )
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            Error::Store(StoreError::Duplicate {
                                what: "matching ID",
                                value: matching_id.clone(),
                            })
                        } else {
                            e.into()
                        }
                    })?,
                Es2Change::Release => tx.execute(&dollar(&es2::release(from_is)), &[&id, &now])?,
                Es2Change::Cancel {
                    back_to_inventory: true,
                } => {
                    let n =
                        tx.execute(&dollar(&es2::cancel_to_inventory(from_is)), &[&id, &now])?;
                    if n == 1 {
                        tx.execute(&dollar(es2::DELETE_SIM), &[&id])?;
                    }
                    n
                }
                Es2Change::Cancel {
                    back_to_inventory: false,
                } => tx.execute(&dollar(&es2::cancel_unavailable(from_is)), &[&id, &now])?,
            };
            if n != 1 {
                return Ok(false);
            }
            if let Es2Change::Order { charge_cents, .. } = change {
                // The Sim and the charge of the order, each once per profile.
                tx.execute(&dollar(es2::ORDER_SIM), &[&id, &now])?;
                tx.execute(&dollar(es2::ORDER_CHARGE), &[&id, charge_cents, &now])?;
            }
            tx.commit()?;
            Ok(true)
        })
    }
}
