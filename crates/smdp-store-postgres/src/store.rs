//! [`Store`] on PostgreSQL: the ES9+ side. The contract is the SQLite store's (the conformance
//! suite runs on both); what differs is how it holds across processes. A single statement
//! here is atomic at READ COMMITTED, and a compare-and-set `UPDATE … WHERE status = …`
//! re-checks its condition on the row's latest version after waiting for a concurrent writer,
//! so two nodes racing for one profile cannot both win. Where a transaction reads before it
//! writes, the read takes the row lock (`FOR UPDATE`).

use crate::conn::Db;
use smdp_core::store::{
    BindFrom, Binding, Eid, FiredFault, NewProfile, NotificationRecord, OrderOptions, Profile,
    ProfileStatus, Result, Session, SessionState, Store, StoreError, TransactionId,
};

use crate::rows::{self, constraint, is_unique_violation, PROFILE_COLUMNS, R, SESSION_COLUMNS};
use crate::{Error, PgStore};

fn one_profile(
    c: &mut impl Db,
    clause: &str,
    p: &(dyn postgres::types::ToSql + Sync),
) -> R<Option<Profile>> {
    c.query_opt(
        &format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE {clause}"),
        &[p],
    )?
    .as_ref()
    .map(rows::profile)
    .transpose()
}

/// The status compare-and-set on `c` (a connection or a transaction).
fn set_status_on(
    c: &mut impl Db,
    id: i64,
    from: &[ProfileStatus],
    to: ProfileStatus,
    error: Option<(i64, &str)>,
    now: i64,
) -> R<bool> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    // A closed order's otSK.DP goes with the same write (see the SQLite store's
    // `set_status_on`).
    let erase = if to.is_closed() {
        ", bound_otsk = NULL"
    } else {
        ""
    };
    let n = c.execute(
        &format!(
            "UPDATE profiles SET status = $2, error_code = $3, error_message = $4, \
             updated_at = $5{erase} WHERE id = $1 AND status = ANY($6)"
        ),
        &[
            &id,
            &to.as_str(),
            &error.map(|e| e.0),
            &error.map(|e| e.1),
            &now,
            &from,
        ],
    )?;
    Ok(n == 1)
}

fn duplicate(e: postgres::Error, p: &NewProfile) -> Error {
    if !is_unique_violation(&e) {
        return Error::Sql(e);
    }
    let c = constraint(&e).unwrap_or_default();
    let (what, value) = if c.contains("iccid") {
        ("ICCID", p.iccid.clone())
    } else if c.contains("matching_id") {
        ("matching ID", p.matching_id.clone())
    } else {
        ("sid", Some(p.sid.clone()))
    };
    Error::Store(StoreError::Duplicate {
        what,
        value: value.unwrap_or_default(),
    })
}

impl Store for PgStore {
    fn insert_profile(&self, p: &NewProfile, now: i64) -> Result<Profile> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO profiles (sid, account_sid, status, eid, matching_id, \
                         confirmation_code, iccid, imsi, template, service_provider_name, \
                         profile_name, expires_at, max_attempts, created_at, updated_at, \
                         callback_url, callback_method, sim_sid, released, options, ppk, \
                         profile_type, es2_mark) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
                         $14, $15, $16, $17, $18, $19, $20, $21, $22) RETURNING {PROFILE_COLUMNS}"
                    ),
                    &[
                        &p.sid,
                        &p.account_sid,
                        &p.status.unwrap_or(ProfileStatus::Available).as_str(),
                        &p.eid.map(|e| e.to_string()),
                        &p.matching_id,
                        &p.confirmation_code,
                        &p.iccid,
                        &p.imsi,
                        &p.template,
                        &p.service_provider_name,
                        &p.profile_name,
                        &p.expires_at,
                        &p.max_attempts,
                        &now,
                        &p.callback_url,
                        &p.callback_method,
                        &p.sim_sid,
                        &!p.unreleased,
                        &p.options.to_json(),
                        &p.ppk,
                        &p.profile_type,
                        &p.es2_mark.map(|m| m.as_str()),
                    ],
                )
                .map_err(|e| duplicate(e, p))?;
            let profile = rows::profile(&row)?;
            if let Some(der) = &p.package {
                tx.execute(
                    "INSERT INTO packages (profile_id, der) VALUES ($1, $2)",
                    &[&profile.id, der],
                )?;
            }
            tx.commit()?;
            Ok(profile)
        })
    }

    fn profile(&self, id: i64) -> Result<Option<Profile>> {
        self.with(|c| one_profile(c, "id = $1", &id))
    }

    fn profile_by_matching_id(&self, matching_id: &str) -> Result<Option<Profile>> {
        self.with(|c| one_profile(c, "matching_id = $1", &matching_id))
    }

    fn profile_for_eid(&self, eid: &Eid) -> Result<Option<Profile>> {
        let eid = eid.to_string();
        // The SQLite store's order: downloadable before held, a default-SM-DP+ order before
        // an activation-code one, a kept binding first, the oldest (false sorts first).
        self.with(|c| {
            one_profile(
                c,
                "eid = $1 AND status IN ('new', 'reserving', 'available', 'downloaded') \
                 ORDER BY status IN ('new', 'reserving'), matching_id IS NOT NULL, \
                 bound_otpk IS NULL, id LIMIT 1",
                &eid,
            )
        })
    }

    fn profile_by_bound_txid(&self, txid: &TransactionId) -> Result<Option<Profile>> {
        let txid = txid.to_hex();
        self.with(|c| one_profile(c, "bound_txid = $1", &txid))
    }

    fn profile_by_binding_txid(&self, txid: &TransactionId) -> Result<Option<Profile>> {
        let txid = txid.to_hex();
        self.with(|c| {
            one_profile(
                c,
                "id = (SELECT profile_id FROM bindings WHERE txid = $1)",
                &txid,
            )
        })
    }

    fn package_head(&self, id: i64, max: usize) -> Result<Option<(usize, Vec<u8>)>> {
        // substring() of a bytea reads only the chunks of the TOASTed value it needs.
        let max = i64::try_from(max)
            .unwrap_or(i64::MAX)
            .min(i64::from(i32::MAX));
        self.with(|c| {
            let Some(row) = c.query_opt(
                "SELECT octet_length(der)::BIGINT, substring(der FROM 1 FOR $2::INTEGER) \
                 FROM packages WHERE profile_id = $1",
                &[&id, &(max as i32)],
            )?
            else {
                return Ok(None);
            };
            let len: i64 = row.try_get(0)?;
            Ok(Some((usize::try_from(len).unwrap_or(0), row.try_get(1)?)))
        })
    }

    fn package(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.with(|c| {
            Ok(
                c.query_opt("SELECT der FROM packages WHERE profile_id = $1", &[&id])?
                    .map(|r| r.try_get(0))
                    .transpose()?,
            )
        })
    }

    fn profiles(&self) -> Result<Vec<Profile>> {
        self.with(|c| {
            let rows = c.query(
                &format!("SELECT {PROFILE_COLUMNS} FROM profiles ORDER BY id"),
                &[],
            )?;
            rows::all(rows, rows::profile)
        })
    }

    fn profiles_after(&self, after: i64, limit: usize) -> Result<Vec<Profile>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(|c| {
            let rows = c.query(
                &format!(
                    "SELECT {PROFILE_COLUMNS} FROM profiles WHERE id > $1 ORDER BY id LIMIT $2"
                ),
                &[&after, &limit],
            )?;
            rows::all(rows, rows::profile)
        })
    }

    fn profile_with_sid(&self, sid: &str) -> Result<Option<Profile>> {
        self.with(|c| one_profile(c, "sid = $1", &sid))
    }

    fn profile_by_iccid(&self, iccid: &str) -> Result<Option<Profile>> {
        self.with(|c| one_profile(c, "iccid = $1", &iccid))
    }

    fn queue_es2_progress(&self, id: i64, url: &str, body: &str, now: i64) -> Result<()> {
        let sql = smdp_store_sql::queue_es2_progress(["$1", "$2", "$3", "$4"]);
        self.with(|c| {
            c.execute(&sql, &[&id, &url, &body, &now])?;
            Ok(())
        })
    }

    fn fixture_profiles(&self) -> Result<Vec<Profile>> {
        self.with(|c| {
            let rows = c.query(
                &format!(
                    "SELECT {PROFILE_COLUMNS} FROM profiles \
                     WHERE options::jsonb ->> 'fixture' IS NOT NULL ORDER BY id"
                ),
                &[],
            )?;
            rows::all(rows, rows::profile)
        })
    }

    fn bind(&self, id: i64, b: &Binding, from: &BindFrom, now: i64) -> Result<bool> {
        let eid = b.eid.to_string();
        let txid = b.txid.to_hex();
        let from_txid = from.bound_txid.as_ref().map(TransactionId::to_hex);
        let new_binding = i64::from(from.new_binding);
        self.with(|c| {
            let mut tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE profiles SET status = 'downloaded', eid = $2, bound_txid = $3, \
                 bound_otpk = $4, bound_otsk = $5, euicc_cert = $6, \
                 attempts = attempts + $10::BIGINT, updated_at = $7, bound_smdp_sign = $11 \
                 WHERE id = $1 AND status = $8 AND bound_txid IS NOT DISTINCT FROM $9 \
                 AND (eid IS NULL OR eid = $2) AND released \
                 AND ($10::BIGINT = 0 OR attempts < max_attempts) \
                 AND (expires_at IS NULL OR expires_at > $7)",
                &[
                    &id,
                    &eid,
                    &txid,
                    &b.otpk,
                    &b.otsk,
                    &b.euicc_cert,
                    &now,
                    &from.status.as_str(),
                    &from_txid,
                    &new_binding,
                    &b.smdp_sign,
                ],
            )?;
            if n != 1 {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO bindings (txid, profile_id, eid, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (txid) DO NOTHING",
                &[&txid, &id, &eid, &now],
            )?;
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
            let mut tx = c.transaction()?;
            tx.execute("DELETE FROM sessions WHERE txid = $1", &[&txid])?;
            let changed = set_status_on(&mut tx, id, from, to, error, now)?;
            tx.commit()?;
            Ok(changed)
        })
    }

    fn unbind_session(&self, id: i64, txid: &TransactionId, now: i64) -> Result<bool> {
        let txid = txid.to_hex();
        self.with(|c| {
            Ok(c.execute(
                "UPDATE profiles SET status = 'available', updated_at = $3 \
                 WHERE id = $1 AND status = 'downloaded' AND bound_txid = $2",
                &[&id, &txid, &now],
            )? == 1)
        })
    }

    fn release_order(&self, id: i64, now: i64) -> Result<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE profiles SET released = TRUE, updated_at = $2, es2_mark = NULL, \
                 status = CASE WHEN status = 'reserving' AND iccid IS NOT NULL \
                 THEN 'available' ELSE status END \
                 WHERE id = $1 AND NOT released \
                 AND (es2_mark IS NULL OR es2_mark = 'Confirmed')",
                &[&id, &now],
            )? == 1)
        })
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.with(|c| {
            Ok(
                c.query_opt("SELECT value FROM meta WHERE key = $1", &[&key])?
                    .map(|r| r.try_get(0))
                    .transpose()?,
            )
        })
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&key, &value],
            )?;
            Ok(())
        })
    }

    fn next_serial(&self, name: &str) -> Result<u64> {
        // One statement: the upsert locks the counter's row, so each value goes out once
        // whichever nodes ask at the same time.
        self.with(|c| {
            let v: i64 = c
                .query_one(
                    "INSERT INTO counters (name, value) VALUES ($1, 1) \
                     ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 \
                     RETURNING value - 1",
                    &[&name],
                )?
                .try_get(0)?;
            u64::try_from(v)
                .map_err(|_| Error::Store(StoreError::Invalid(format!("counter {name} is {v}"))))
        })
    }

    fn insert_session(&self, s: &Session) -> Result<()> {
        self.with(|c| {
            c.execute(
                &format!(
                    "INSERT INTO sessions ({SESSION_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                ),
                &[
                    &s.txid.to_hex(),
                    &s.state.as_str(),
                    &s.created_at,
                    &s.expires_at,
                    &s.euicc_challenge,
                    &s.server_challenge,
                    &s.ci_pkid,
                    &s.eid.map(|e| e.to_string()),
                    &s.euicc_cert,
                    &s.profile_id,
                    &s.smdp_signature2,
                    &s.metadata,
                    &s.number,
                ],
            )?;
            Ok(())
        })
    }

    fn session(&self, txid: &TransactionId, now: i64) -> Result<Option<Session>> {
        let txid = txid.to_hex();
        self.with(|c| {
            c.query_opt(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE txid = $1 AND expires_at > $2"
                ),
                &[&txid, &now],
            )?
            .as_ref()
            .map(rows::session)
            .transpose()
        })
    }

    fn update_session(&self, s: &Session, expected: SessionState) -> Result<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE sessions SET state = $2, eid = $3, euicc_cert = $4, profile_id = $5, \
                 smdp_signature2 = $6, metadata = $7 \
                 WHERE txid = $1 AND state = $8",
                &[
                    &s.txid.to_hex(),
                    &s.state.as_str(),
                    &s.eid.map(|e| e.to_string()),
                    &s.euicc_cert,
                    &s.profile_id,
                    &s.smdp_signature2,
                    &s.metadata,
                    &expected.as_str(),
                ],
            )? == 1)
        })
    }

    fn delete_session(&self, txid: &TransactionId) -> Result<bool> {
        let txid = txid.to_hex();
        self.with(|c| Ok(c.execute("DELETE FROM sessions WHERE txid = $1", &[&txid])? == 1))
    }

    fn active_sessions(&self, now: i64) -> Result<u64> {
        self.with(|c| {
            c.execute("DELETE FROM sessions WHERE expires_at <= $1", &[&now])?;
            let n: i64 = c
                .query_one("SELECT COUNT(*) FROM sessions", &[])?
                .try_get(0)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn record_notification(&self, n: &NotificationRecord) -> Result<bool> {
        // Once per (EID, sequence number): the unique index decides between two nodes.
        let eid = n.eid.to_string();
        self.with(|c| {
            Ok(c.execute(
                "INSERT INTO notifications (eid, iccid, operation, seq_number, received_at, \
                 profile_id) \
                 VALUES ($1, $2, $3, $4, $5, \
                    (SELECT id FROM profiles WHERE iccid = $2 AND eid = $1)) \
                 ON CONFLICT (eid, seq_number) DO NOTHING",
                &[&eid, &n.iccid, &n.operation, &n.seq_number, &n.received_at],
            )? == 1)
        })
    }

    fn notifications(&self) -> Result<Vec<NotificationRecord>> {
        self.notification_rows("", &[])
    }

    fn notifications_for(&self, profile_id: i64) -> Result<Vec<NotificationRecord>> {
        self.notification_rows("WHERE n.profile_id = $1", &[&profile_id])
    }

    fn retire_matching_id(&self, id: i64, now: i64) -> Result<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE profiles SET matching_id = NULL, updated_at = $2 WHERE id = $1",
                &[&id, &now],
            )? == 1)
        })
    }

    fn record_cc_failure(&self, id: i64, now: i64) -> Result<i64> {
        self.with(|c| {
            c.query_opt(
                "UPDATE profiles SET cc_failures = cc_failures + 1, updated_at = $2 \
                 WHERE id = $1 RETURNING cc_failures",
                &[&id, &now],
            )?
            .map(|r| r.try_get(0))
            .transpose()?
            .ok_or_else(|| Error::Store(StoreError::Invalid(format!("no order {id}"))))
        })
    }

    fn set_faults(&self, id: i64, faults: &[smdp_core::faults::Fault]) -> Result<bool> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            let Some(row) = tx.query_opt(
                "SELECT options FROM profiles WHERE id = $1 FOR UPDATE",
                &[&id],
            )?
            else {
                return Ok(false);
            };
            let text: String = row.try_get(0)?;
            let mut options = OrderOptions::from_json(&text)
                .map_err(|e| Error::Store(StoreError::Invalid(e.to_string())))?;
            options.faults = faults.to_vec();
            tx.execute(
                "UPDATE profiles SET options = $2 WHERE id = $1",
                &[&id, &options.to_json()],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn record_fault(&self, f: &FiredFault) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO fault_log (profile_id, txid, function, attempt, fault, fired_at, \
                 session) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &f.profile_id,
                    &f.txid.as_ref().map(TransactionId::to_hex),
                    &f.function,
                    &i64::from(f.attempt),
                    &f.fault,
                    &f.fired_at,
                    &f.session,
                ],
            )?;
            Ok(())
        })
    }

    fn faults_fired(&self, profile_id: i64) -> Result<Vec<FiredFault>> {
        self.with(|c| {
            let rows = c.query(
                "SELECT profile_id, txid, function, attempt, fault, fired_at, session \
                 FROM fault_log WHERE profile_id = $1 ORDER BY id",
                &[&profile_id],
            )?;
            rows.iter()
                .map(|r| {
                    let attempt: i64 = r.try_get(3)?;
                    Ok(FiredFault {
                        profile_id: r.try_get(0)?,
                        txid: rows::opt(r, 1)?,
                        function: r.try_get(2)?,
                        attempt: u32::try_from(attempt).map_err(|_| {
                            Error::Store(StoreError::Invalid(format!(
                                "corrupt row: fault attempt {attempt}"
                            )))
                        })?,
                        fault: r.try_get(4)?,
                        fired_at: r.try_get(5)?,
                        session: r.try_get(6)?,
                    })
                })
                .collect()
        })
    }

    fn fault_fired_in(&self, txid: &TransactionId) -> Result<bool> {
        let txid = txid.to_hex();
        self.with(|c| {
            Ok(c.query_one(
                "SELECT EXISTS (SELECT 1 FROM fault_log WHERE txid = $1)",
                &[&txid],
            )?
            .try_get(0)?)
        })
    }
}

impl PgStore {
    fn notification_rows(
        &self,
        filter: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<NotificationRecord>> {
        self.with(|c| {
            let rows = c.query(
                &format!(
                    "SELECT n.eid, n.iccid, n.operation, n.seq_number, n.received_at, p.sid \
                     FROM notifications n LEFT JOIN profiles p ON p.id = n.profile_id {filter} \
                     ORDER BY n.id"
                ),
                args,
            )?;
            rows.iter()
                .map(|r| {
                    Ok(NotificationRecord {
                        eid: rows::req(r, 0)?,
                        iccid: r.try_get(1)?,
                        operation: r.try_get(2)?,
                        seq_number: r.try_get(3)?,
                        received_at: r.try_get(4)?,
                        profile_sid: r.try_get(5)?,
                    })
                })
                .collect()
        })
    }
}
