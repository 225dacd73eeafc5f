//! The ES2+ inventory and the functions' compare-and-sets (SGP.22 §5.3), as in the SQLite
//! store: inventory rows are profiles, marked with the ES2+ state where their status does not
//! say it. Each change is one `UPDATE … WHERE` on the state it was decided for, re-checked on
//! the latest row version, so of two nodes racing for one profile exactly one wins.

use smdp_core::es2::State;
use smdp_core::store::{Es2Change, InventoryCount, Profile, Result, StoreError};
use smdp_store_sql::{es2_state_is, inventory_counts, BACK_TO_INVENTORY};

use crate::conn::Db as _;
use crate::rows::{self, is_unique_violation, PROFILE_COLUMNS};
use crate::{Error, PgStore};

impl PgStore {
    pub(crate) fn es2_pick(&self, profile_type: &str) -> Result<Option<Profile>> {
        self.with(|c| {
            c.query_opt(
                &format!(
                    "SELECT {PROFILE_COLUMNS} FROM profiles \
                     WHERE es2_mark = 'Available' AND profile_type = $1 ORDER BY id LIMIT 1"
                ),
                &[&profile_type],
            )?
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
                    &format!(
                        "UPDATE profiles SET es2_mark = $2, requester = $3, eid = $4, \
                         updated_at = $5 WHERE id = $1 AND {from_is}"
                    ),
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
                        &format!(
                            "UPDATE profiles SET eid = $2, matching_id = $3, \
                             confirmation_code = $4, \
                             es2_mark = CASE WHEN $5 THEN NULL ELSE 'Confirmed' END, \
                             released = $5, updated_at = $6, \
                             status = CASE WHEN $5 THEN 'available' ELSE status END \
                             WHERE id = $1 AND {from_is}"
                        ),
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
                Es2Change::Release => tx.execute(
                    &format!(
                        "UPDATE profiles SET es2_mark = NULL, released = TRUE, updated_at = $2, \
                         status = CASE WHEN status = 'reserving' THEN 'available' ELSE status END \
                         WHERE id = $1 AND {from_is}"
                    ),
                    &[&id, &now],
                )?,
                Es2Change::Cancel {
                    back_to_inventory: true,
                } => {
                    let n = tx.execute(
                        &format!(
                            "UPDATE profiles SET {BACK_TO_INVENTORY}, updated_at = $2 \
                             WHERE id = $1 AND {from_is}"
                        ),
                        &[&id, &now],
                    )?;
                    if n == 1 {
                        // The Sim goes with the order; ordering the profile again makes it anew.
                        tx.execute(
                            "DELETE FROM sims WHERE sid = (SELECT sim_sid FROM profiles WHERE id = $1)",
                            &[&id],
                        )?;
                    }
                    n
                }
                Es2Change::Cancel {
                    back_to_inventory: false,
                } => tx.execute(
                    &format!(
                        "UPDATE profiles SET es2_mark = 'Unavailable', status = 'failed', \
                         bound_otsk = NULL, updated_at = $2, \
                         error_message = 'cancelled by the operator (ES2+ CancelOrder)' \
                         WHERE id = $1 AND {from_is}"
                    ),
                    &[&id, &now],
                )?,
            };
            if n != 1 {
                return Ok(false);
            }
            if let Es2Change::Order { charge_cents, .. } = change {
                // The Sim and the charge of the order, each once per profile.
                tx.execute(
                    "INSERT INTO sims (sid, account_sid, iccid, status, created_at, updated_at) \
                     SELECT p.sim_sid, p.account_sid, p.iccid, 'new', $2, $2 FROM profiles p \
                     WHERE p.id = $1 AND p.sim_sid IS NOT NULL \
                     AND NOT EXISTS (SELECT 1 FROM sims s WHERE s.sid = p.sim_sid)",
                    &[&id, &now],
                )?;
                tx.execute(
                    "INSERT INTO charges (account_sid, profile_sid, amount_cents, currency, \
                     description, created_at) SELECT account_sid, sid, $2, 'USD', \
                     'eSIM profile order (ES2+)', $3 FROM profiles WHERE id = $1 \
                     ON CONFLICT (profile_sid) DO NOTHING",
                    &[&id, charge_cents, &now],
                )?;
            }
            tx.commit()?;
            Ok(true)
        })
    }
}
