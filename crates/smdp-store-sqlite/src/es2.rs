//! The ES2+ inventory and the functions' compare-and-sets (SGP.22 §5.3): inventory rows are
//! profiles (one row per ICCID from the inventory to installed), marked with the ES2+ state
//! where their status does not say it.

use rusqlite::{params, OptionalExtension};
use smdp_core::es2::State;
use smdp_core::store::{Es2Change, InventoryCount, Profile, Result, StoreError};
use smdp_store_sql::{es2_state_is, inventory_counts, BACK_TO_INVENTORY, PROFILE_COLUMNS};

use crate::{profile_row, SqlError, SqliteStore, Text};

impl SqliteStore {
    pub(crate) fn es2_pick(&self, profile_type: &str) -> Result<Option<Profile>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {PROFILE_COLUMNS} FROM profiles INDEXED BY profiles_inventory \
                 WHERE es2_mark = 'Available' AND profile_type = ?1 ORDER BY id LIMIT 1"
            ))?
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
                Es2Change::Order {
                    requester, eid, ..
                } => tx
                    .prepare_cached(&format!(
                        "UPDATE profiles SET es2_mark = ?2, requester = ?3, eid = ?4, \
                         updated_at = ?5 WHERE id = ?1 AND {from_is}"
                    ))?
                    .execute(params![
                        id,
                        if eid.is_some() { "Linked" } else { "Allocated" },
                        requester,
                        eid.map(Text),
                        now
                    ])?,
                Es2Change::Confirm {
                    eid,
                    matching_id,
                    confirmation_code,
                    release,
                } => tx
                    .prepare_cached(&format!(
                        "UPDATE profiles SET eid = ?2, matching_id = ?3, confirmation_code = ?4, \
                         es2_mark = CASE WHEN ?5 THEN NULL ELSE 'Confirmed' END, \
                         released = ?5, updated_at = ?6, \
                         status = CASE WHEN ?5 THEN 'available' ELSE status END \
                         WHERE id = ?1 AND {from_is}"
                    ))?
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
                    .prepare_cached(&format!(
                        "UPDATE profiles SET es2_mark = NULL, released = TRUE, updated_at = ?2, \
                         status = CASE WHEN status = 'reserving' THEN 'available' ELSE status END \
                         WHERE id = ?1 AND {from_is}"
                    ))?
                    .execute(params![id, now])?,
                Es2Change::Cancel {
                    back_to_inventory: true,
                } => {
                    let n = tx
                        .prepare_cached(&format!(
                            "UPDATE profiles SET {BACK_TO_INVENTORY}, updated_at = ?2 \
                             WHERE id = ?1 AND {from_is}"
                        ))?
                        .execute(params![id, now])?;
                    if n == 1 {
                        // The Sim goes with the order; ordering the profile again makes it anew.
                        tx.prepare_cached(
                            "DELETE FROM sims WHERE sid = (SELECT sim_sid FROM profiles WHERE id = ?1)",
                        )?
                        .execute([id])?;
                    }
                    n
                }
                Es2Change::Cancel {
                    back_to_inventory: false,
                } => tx
                    .prepare_cached(&format!(
                        "UPDATE profiles SET es2_mark = 'Unavailable', status = 'failed', \
                         bound_otsk = NULL, updated_at = ?2, \
                         error_message = 'cancelled by the operator (ES2+ CancelOrder)' \
                         WHERE id = ?1 AND {from_is}"
                    ))?
                    .execute(params![id, now])?,
            };
            if n != 1 {
                return Ok(false);
            }
            if let Es2Change::Order { charge_cents, .. } = change {
                // The Sim and the charge of the order, each once per profile (a profile
                // cancelled back to the inventory and ordered again is charged once).
                tx.prepare_cached(
                    "INSERT INTO sims (sid, account_sid, iccid, status, created_at, updated_at) \
                     SELECT p.sim_sid, p.account_sid, p.iccid, 'new', ?2, ?2 FROM profiles p \
                     WHERE p.id = ?1 AND p.sim_sid IS NOT NULL \
                     AND NOT EXISTS (SELECT 1 FROM sims s WHERE s.sid = p.sim_sid)",
                )?
                .execute(params![id, now])?;
                tx.prepare_cached(
                    "INSERT INTO charges (account_sid, profile_sid, amount_cents, currency, \
                     description, created_at) SELECT account_sid, sid, ?2, 'USD', \
                     'eSIM profile order (ES2+)', ?3 FROM profiles WHERE id = ?1 \
                     ON CONFLICT (profile_sid) DO NOTHING",
                )?
                .execute(params![id, charge_cents, now])?;
            }
            tx.commit()?;
            Ok(true)
        })
    }
}
