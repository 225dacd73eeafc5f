//! The operator side of the store: accounts and credentials, the reservation worker's steps,
//! paged listings, Sims, the charge ledger and the callback queue. Every method is one
//! transaction.

use rusqlite::{params, OptionalExtension, Row};
use smdp_core::credentials::{self, HmacSha1Key};
use smdp_core::store::{
    Attempt, CallbackRecord, CallbackState, CallbackSubject, Charge, Credential, Cursor, Fleet,
    FleetUpdate, IssuedToken, Lease, Milenage, NetworkAccessProfile, NewPreinstalled,
    OperatorStore, Profile, ProfileFilter, ProfileStatus, Reservation, Result, Sim, SimFilter,
    SimStatus, SimUpdate, StoreError,
};

use crate::{opt, profile_row, text_enum, SqlError, SqliteStore};
use smdp_store_sql::{
    CALLBACK_COLUMNS, FLEET_COLUMNS, NAP_COLUMNS, ORDERED, PROFILE_COLUMNS, SIM_COLUMNS,
};

fn callback_row(r: &Row<'_>) -> rusqlite::Result<CallbackRecord> {
    Ok(CallbackRecord {
        id: r.get(0)?,
        profile_id: r.get(1)?,
        subject: match r.get::<_, String>(18)?.as_str() {
            "sim" => CallbackSubject::Sim {
                status: text_enum(r, 19, SimStatus::parse)?,
                unique_name: r.get(20)?,
                fleet_sid: r.get(21)?,
            },
            "es2_progress" => CallbackSubject::Es2Progress {
                body: r.get::<_, Option<String>>(22)?.unwrap_or_default(),
            },
            _ => CallbackSubject::ESimProfile,
        },
        url: r.get(2)?,
        method: r.get(3)?,
        esim_profile_sid: r.get(4)?,
        account_sid: r.get(5)?,
        profile_status: text_enum(r, 6, ProfileStatus::parse)?,
        sim_sid: r.get(7)?,
        iccid: r.get(8)?,
        eid: opt(r, 9)?,
        error_code: r.get(10)?,
        error_message: r.get(11)?,
        state: text_enum(r, 12, CallbackState::parse)?,
        attempts: r.get(13)?,
        next_attempt_at: r.get(14)?,
        last_attempt_at: r.get(15)?,
        last_http_status: r.get(16)?,
        last_error: r.get(17)?,
    })
}

fn sim_row(r: &Row<'_>) -> rusqlite::Result<Sim> {
    Ok(Sim {
        id: r.get(0)?,
        sid: r.get(1)?,
        account_sid: r.get(2)?,
        unique_name: r.get(3)?,
        iccid: r.get(4)?,
        status: text_enum(r, 5, SimStatus::parse)?,
        fleet_sid: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        target_status: match r.get::<_, Option<String>>(9)? {
            None => None,
            Some(_) => Some(text_enum(r, 9, SimStatus::parse)?),
        },
    })
}

/// Two nullable BLOB columns of one row.
type BlobPair = (Option<Vec<u8>>, Option<Vec<u8>>);

fn nap_row(r: &Row<'_>) -> rusqlite::Result<NetworkAccessProfile> {
    Ok(NetworkAccessProfile {
        id: r.get(0)?,
        sid: r.get(1)?,
        account_sid: r.get(2)?,
        unique_name: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

fn fleet_row(r: &Row<'_>) -> rusqlite::Result<Fleet> {
    Ok(Fleet {
        id: r.get(0)?,
        sid: r.get(1)?,
        account_sid: r.get(2)?,
        unique_name: r.get(3)?,
        data_enabled: r.get(4)?,
        data_limit: r.get(5)?,
        network_access_profile_sid: r.get(6)?,
        ip_commands_url: r.get(7)?,
        ip_commands_method: r.get(8)?,
        sms_commands_enabled: r.get(9)?,
        sms_commands_url: r.get(10)?,
        sms_commands_method: r.get(11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
    })
}

/// A unique-name constraint violation as [`StoreError::Duplicate`]; anything else as is.
fn duplicate_name(e: rusqlite::Error, name: Option<&str>) -> SqlError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            SqlError::Store(StoreError::Duplicate {
                what: "unique name",
                value: name.unwrap_or_default().to_string(),
            })
        }
        e => SqlError::Sql(e),
    }
}

/// `WHERE` clause and parameters of a fleet listing.
fn fleet_where(account: &str, nap: Option<&str>, cursor: Cursor) -> (String, Vec<String>) {
    let mut sql = String::from("account_sid = ?1");
    let mut args = vec![account.to_string()];
    if let Some(n) = nap {
        args.push(n.into());
        sql.push_str(" AND network_access_profile_sid = ?2");
    }
    cursor_clause(cursor, &mut sql);
    (sql, args)
}

/// `WHERE` clause and parameters for a profile listing.
fn profile_where(account: &str, f: &ProfileFilter, cursor: Cursor) -> (String, Vec<String>) {
    let mut sql = format!("account_sid = ?1 AND {ORDERED}");
    let mut args = vec![account.to_string()];
    let add = |col: &str, v: String, sql: &mut String, args: &mut Vec<String>| {
        args.push(v);
        sql.push_str(&format!(" AND {col} = ?{}", args.len()));
    };
    if let Some(e) = &f.eid {
        add("eid", e.to_string(), &mut sql, &mut args);
    }
    if let Some(s) = &f.sim_sid {
        add("sim_sid", s.clone(), &mut sql, &mut args);
    }
    if let Some(s) = f.status {
        add("status", s.as_str().into(), &mut sql, &mut args);
    }
    cursor_clause(cursor, &mut sql);
    (sql, args)
}

fn cursor_clause(cursor: Cursor, sql: &mut String) {
    match cursor {
        Cursor::Start => {}
        Cursor::After(id) => sql.push_str(&format!(" AND id > {id}")),
        Cursor::Before(id) => sql.push_str(&format!(" AND id < {id}")),
    }
}

fn order(cursor: Cursor) -> &'static str {
    if matches!(cursor, Cursor::Before(_)) {
        "DESC"
    } else {
        "ASC"
    }
}

impl OperatorStore for SqliteStore {
    // Secrets are kept as digests, an auth token with its callback signing key
    // (smdp_core::credentials); presented ones are compared in constant time.
    fn create_account(&self, sid: &str, token: &str, name: &str, now: i64) -> Result<()> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO accounts (sid, auth_token, signing_key, friendly_name, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                sid,
                credentials::digest(token),
                HmacSha1Key::new(token.as_bytes()).to_bytes(),
                name,
                now
            ])
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    SqlError::Store(StoreError::Duplicate {
                        what: "account",
                        value: sid.into(),
                    })
                }
                e => SqlError::Sql(e),
            })?;
            Ok(())
        })
    }

    fn ensure_account(&self, sid: &str, token: &str, now: i64) -> Result<()> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO accounts (sid, auth_token, signing_key, friendly_name, created_at) \
                 VALUES (?1, ?2, ?3, 'configured', ?4) \
                 ON CONFLICT(sid) DO UPDATE SET auth_token = excluded.auth_token, \
                 signing_key = excluded.signing_key",
            )?
            .execute(params![
                sid,
                credentials::digest(token),
                HmacSha1Key::new(token.as_bytes()).to_bytes(),
                now
            ])?;
            Ok(())
        })
    }

    fn add_api_key(&self, sid: &str, secret: &str, account: &str) -> Result<()> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO api_keys (sid, secret, account_sid) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![sid, credentials::digest(secret), account])?;
            Ok(())
        })
    }

    fn add_bearer_token(&self, token: &str, account: &str) -> Result<()> {
        self.with(|c| {
            c.prepare_cached("INSERT INTO bearer_tokens (token, account_sid) VALUES (?1, ?2)")?
                .execute(params![credentials::digest(token), account])?;
            Ok(())
        })
    }

    fn add_oauth_client(&self, client_id: &str, secret: &str, account_sid: &str) -> Result<()> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO oauth_clients (client_id, secret, account_sid) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![client_id, credentials::digest(secret), account_sid])?;
            Ok(())
        })
    }

    fn oauth_client(&self, client_id: &str, secret: &str) -> Result<Option<String>> {
        self.with(|c| {
            let row: Option<(String, String)> = c
                .prepare_cached(
                    "SELECT secret, account_sid FROM oauth_clients WHERE client_id = ?1",
                )?
                .query_row([client_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            Ok(row.and_then(|(kept, acct)| credentials::matches(&kept, secret).then_some(acct)))
        })
    }

    fn issue_oauth_token(&self, t: &IssuedToken) -> Result<()> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO oauth_tokens (token, account_sid, client_id, issued_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                credentials::digest(&t.token),
                t.account_sid,
                t.client_id,
                t.issued_at,
                t.expires_at
            ])?;
            Ok(())
        })
    }

    fn revoke_oauth_token(&self, token: &str) -> Result<bool> {
        self.with(|c| {
            Ok(
                c.prepare_cached("UPDATE oauth_tokens SET revoked = 1 WHERE token = ?1")?
                    .execute([credentials::digest(token)])?
                    == 1,
            )
        })
    }

    fn authenticate(&self, cred: &Credential, now: i64) -> Result<Option<String>> {
        self.with(|c| {
            let kept = |sql: &str, user: &str| -> rusqlite::Result<Option<(String, String)>> {
                c.prepare_cached(sql)?
                    .query_row([user], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            };
            let found = match cred {
                Credential::Basic { user, password } => {
                    let row = if user.starts_with("AC") {
                        kept("SELECT auth_token, sid FROM accounts WHERE sid = ?1", user)?
                    } else if user.starts_with("SK") {
                        kept(
                            "SELECT secret, account_sid FROM api_keys WHERE sid = ?1",
                            user,
                        )?
                    } else {
                        None
                    };
                    row.and_then(|(k, acct)| credentials::matches(&k, password).then_some(acct))
                }
                // A static bearer token, or an OAuth token that is neither expired nor revoked,
                // found by its digest.
                Credential::Bearer(t) => c
                    .prepare_cached(
                        "SELECT account_sid FROM bearer_tokens WHERE token = ?1 \
                         UNION ALL SELECT account_sid FROM oauth_tokens \
                         WHERE token = ?1 AND NOT revoked AND expires_at > ?2 LIMIT 1",
                    )?
                    .query_row(params![credentials::digest(t), now], |r| r.get(0))
                    .optional()?,
            };
            Ok(found)
        })
    }

    fn accounts(&self) -> Result<Vec<(String, String)>> {
        self.with(|c| {
            let mut st =
                c.prepare_cached("SELECT sid, friendly_name FROM accounts ORDER BY sid")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn profile_by_sid(&self, account: &str, sid: &str) -> Result<Option<Profile>> {
        self.with(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {PROFILE_COLUMNS} FROM profiles WHERE sid = ?1 AND account_sid = ?2 \
                 AND {ORDERED}"
            ))?
            .query_row(params![sid, account], profile_row)
            .optional()?)
        })
    }

    fn list_profiles(
        &self,
        account: &str,
        f: &ProfileFilter,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Vec<Profile>> {
        let (clause, args) = profile_where(account, f, cursor);
        let sql = format!(
            "SELECT {PROFILE_COLUMNS} FROM profiles WHERE {clause} ORDER BY id {} LIMIT {limit}",
            order(cursor)
        );
        let mut rows = self.with(|c| {
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(args.iter()), profile_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        if matches!(cursor, Cursor::Before(_)) {
            rows.reverse();
        }
        Ok(rows)
    }

    fn profiles_beyond(&self, account: &str, f: &ProfileFilter, cursor: Cursor) -> Result<bool> {
        let (clause, args) = profile_where(account, f, cursor);
        self.with(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM profiles WHERE {clause})"
            ))?
            .query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?)
        })
    }

    fn claim_reservations(&self, lease: &Lease, now: i64, limit: usize) -> Result<Vec<Profile>> {
        self.with(|c| {
            // IMMEDIATE: the write lock is taken before the read, so two processes cannot
            // both read the same free rows.
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let ids: Vec<i64> = tx
                .prepare_cached(
                    "UPDATE profiles SET lease_owner = ?1, lease_until = ?2 \
                     WHERE id IN (SELECT id FROM profiles \
                         WHERE (status = 'new' OR (status = 'reserving' AND iccid IS NULL)) \
                         AND (lease_until IS NULL OR lease_until <= ?3) ORDER BY id LIMIT ?4) \
                     RETURNING id",
                )?
                .query_map(params![lease.owner, lease.until, now, limit as i64], |r| {
                    r.get(0)
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut out = Vec::with_capacity(ids.len());
            {
                let mut st = tx.prepare_cached(&format!(
                    "SELECT {PROFILE_COLUMNS} FROM profiles WHERE id = ?1"
                ))?;
                for id in ids {
                    out.push(st.query_row([id], profile_row)?);
                }
            }
            tx.commit()?;
            out.sort_by_key(|p| p.id);
            Ok(out)
        })
    }

    fn complete_reservation(
        &self,
        id: i64,
        r: &Reservation,
        owner: &str,
        now: i64,
    ) -> Result<bool> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let account: Option<(String, String)> = tx
                .prepare_cached(
                    "SELECT account_sid, sid FROM profiles WHERE id = ?1 AND status = 'reserving' \
                     AND iccid IS NULL AND lease_owner = ?2",
                )?
                .query_row(params![id, owner], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            let Some((account, profile_sid)) = account else {
                return Ok(false);
            };
            tx.prepare_cached(
                "UPDATE profiles SET iccid = ?2, imsi = ?3, sim_sid = ?4, ppk = ?6, \
                 updated_at = ?5, lease_owner = NULL, lease_until = NULL, \
                 status = CASE WHEN released THEN 'available' ELSE 'reserving' END \
                 WHERE id = ?1",
            )?
            .execute(params![id, r.iccid, r.imsi, r.sim_sid, now, r.ppk])?;
            tx.prepare_cached("INSERT OR REPLACE INTO packages (profile_id, der) VALUES (?1, ?2)")?
                .execute(params![id, r.package])?;
            tx.prepare_cached(
                "INSERT INTO sims (sid, account_sid, iccid, status, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, 'new', ?4, ?4)",
            )?
            .execute(params![r.sim_sid, account, r.iccid, now])?;
            tx.prepare_cached(
                "INSERT INTO charges (account_sid, profile_sid, amount_cents, currency, \
                 description, created_at) VALUES (?1, ?2, ?3, 'USD', 'eSIM profile reservation', ?4)",
            )?
            .execute(params![account, profile_sid, r.charge_cents, now])?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn sim(&self, account: &str, key: &str) -> Result<Option<Sim>> {
        self.with(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {SIM_COLUMNS} FROM sims WHERE account_sid = ?1 \
                 AND (sid = ?2 OR unique_name = ?2) ORDER BY sid = ?2 DESC LIMIT 1"
            ))?
            .query_row(params![account, key], sim_row)
            .optional()?)
        })
    }

    fn list_sims(
        &self,
        account: &str,
        f: &SimFilter,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Vec<Sim>> {
        let (clause, args) = sim_where(account, f, cursor);
        let sql = format!(
            "SELECT {SIM_COLUMNS} FROM sims WHERE {clause} ORDER BY id {} LIMIT {limit}",
            order(cursor)
        );
        let mut rows = self.with(|c| {
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(args.iter()), sim_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        if matches!(cursor, Cursor::Before(_)) {
            rows.reverse();
        }
        Ok(rows)
    }

    fn sims_beyond(&self, account: &str, f: &SimFilter, cursor: Cursor) -> Result<bool> {
        let (clause, args) = sim_where(account, f, cursor);
        self.with(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM sims WHERE {clause})"
            ))?
            .query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?)
        })
    }

    fn update_sim(&self, id: i64, u: &SimUpdate, now: i64) -> Result<bool> {
        let (target, url, method) = match &u.schedule {
            Some(s) => (
                Some(s.status.as_str()),
                s.callback_url.clone(),
                Some(s.callback_method.clone()),
            ),
            None => (None, None, None),
        };
        self.with(|c| {
            let n = c
                .prepare_cached(
                    "UPDATE sims SET unique_name = COALESCE(?2, unique_name), \
                     fleet_sid = COALESCE(?3, fleet_sid), \
                     status = CASE WHEN ?4 IS NULL THEN status ELSE 'scheduled' END, \
                     target_status = COALESCE(?4, target_status), \
                     callback_url = CASE WHEN ?4 IS NULL THEN callback_url ELSE ?5 END, \
                     callback_method = CASE WHEN ?4 IS NULL THEN callback_method ELSE ?6 END, \
                     updated_at = ?7 \
                     WHERE id = ?1 AND (?4 IS NULL OR status != 'scheduled')",
                )?
                .execute(params![
                    id,
                    u.unique_name,
                    u.fleet_sid,
                    target,
                    url,
                    method,
                    now
                ])
                .map_err(|e| duplicate_name(e, u.unique_name.as_deref()))?;
            Ok(n == 1)
        })
    }

    fn complete_sim_updates(&self, now: i64) -> Result<Vec<Sim>> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let done = tx
                .prepare_cached(&format!(
                    "UPDATE sims SET status = target_status, target_status = NULL, \
                     callback_url = NULL, callback_method = NULL, updated_at = ?1 \
                     WHERE status = 'scheduled' AND target_status IS NOT NULL \
                     RETURNING {SIM_COLUMNS}"
                ))?
                .query_map([now], sim_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            tx.commit()?;
            Ok(done)
        })
    }

    fn insert_network_access_profile(
        &self,
        sid: &str,
        account: &str,
        unique_name: Option<&str>,
        now: i64,
    ) -> Result<NetworkAccessProfile> {
        self.with(|c| {
            c.prepare_cached(&format!(
                "INSERT INTO network_access_profiles (sid, account_sid, unique_name, created_at, \
                 updated_at) VALUES (?1, ?2, ?3, ?4, ?4) RETURNING {NAP_COLUMNS}"
            ))?
            .query_row(params![sid, account, unique_name, now], nap_row)
            .map_err(|e| duplicate_name(e, unique_name))
        })
    }

    fn network_access_profile(
        &self,
        account: &str,
        key: &str,
    ) -> Result<Option<NetworkAccessProfile>> {
        self.with(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {NAP_COLUMNS} FROM network_access_profiles WHERE account_sid = ?1 \
                 AND (sid = ?2 OR unique_name = ?2) ORDER BY sid = ?2 DESC LIMIT 1"
            ))?
            .query_row(params![account, key], nap_row)
            .optional()?)
        })
    }

    fn list_network_access_profiles(
        &self,
        account: &str,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Vec<NetworkAccessProfile>> {
        let mut clause = String::from("account_sid = ?1");
        cursor_clause(cursor, &mut clause);
        let sql = format!(
            "SELECT {NAP_COLUMNS} FROM network_access_profiles WHERE {clause} \
             ORDER BY id {} LIMIT {limit}",
            order(cursor)
        );
        let mut rows = self.with(|c| {
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map([account], nap_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        if matches!(cursor, Cursor::Before(_)) {
            rows.reverse();
        }
        Ok(rows)
    }

    fn network_access_profiles_beyond(&self, account: &str, cursor: Cursor) -> Result<bool> {
        let mut clause = String::from("account_sid = ?1");
        cursor_clause(cursor, &mut clause);
        self.with(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM network_access_profiles WHERE {clause})"
            ))?
            .query_row([account], |r| r.get(0))?)
        })
    }

    fn insert_fleet(&self, f: &Fleet) -> Result<Fleet> {
        self.with(|c| {
            c.prepare_cached(&format!(
                "INSERT INTO fleets (sid, account_sid, unique_name, data_enabled, data_limit, \
                 network_access_profile_sid, ip_commands_url, ip_commands_method, \
                 sms_commands_enabled, sms_commands_url, sms_commands_method, created_at, \
                 updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12) \
                 RETURNING {FLEET_COLUMNS}"
            ))?
            .query_row(
                params![
                    f.sid,
                    f.account_sid,
                    f.unique_name,
                    f.data_enabled,
                    f.data_limit,
                    f.network_access_profile_sid,
                    f.ip_commands_url,
                    f.ip_commands_method,
                    f.sms_commands_enabled,
                    f.sms_commands_url,
                    f.sms_commands_method,
                    f.created_at
                ],
                fleet_row,
            )
            .map_err(|e| duplicate_name(e, f.unique_name.as_deref()))
        })
    }

    fn fleet(&self, account: &str, key: &str) -> Result<Option<Fleet>> {
        self.with(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {FLEET_COLUMNS} FROM fleets WHERE account_sid = ?1 \
                 AND (sid = ?2 OR unique_name = ?2) ORDER BY sid = ?2 DESC LIMIT 1"
            ))?
            .query_row(params![account, key], fleet_row)
            .optional()?)
        })
    }

    fn list_fleets(
        &self,
        account: &str,
        nap: Option<&str>,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Vec<Fleet>> {
        let (clause, args) = fleet_where(account, nap, cursor);
        let sql = format!(
            "SELECT {FLEET_COLUMNS} FROM fleets WHERE {clause} ORDER BY id {} LIMIT {limit}",
            order(cursor)
        );
        let mut rows = self.with(|c| {
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(args.iter()), fleet_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        if matches!(cursor, Cursor::Before(_)) {
            rows.reverse();
        }
        Ok(rows)
    }

    fn fleets_beyond(&self, account: &str, nap: Option<&str>, cursor: Cursor) -> Result<bool> {
        let (clause, args) = fleet_where(account, nap, cursor);
        self.with(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM fleets WHERE {clause})"
            ))?
            .query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?)
        })
    }

    fn update_fleet(&self, id: i64, u: &FleetUpdate, now: i64) -> Result<()> {
        self.with(|c| {
            c.prepare_cached(
                "UPDATE fleets SET unique_name = COALESCE(?2, unique_name), \
                 network_access_profile_sid = COALESCE(?3, network_access_profile_sid), \
                 data_limit = COALESCE(?4, data_limit), \
                 ip_commands_url = COALESCE(?5, ip_commands_url), \
                 ip_commands_method = COALESCE(?6, ip_commands_method), \
                 sms_commands_url = COALESCE(?7, sms_commands_url), \
                 sms_commands_method = COALESCE(?8, sms_commands_method), \
                 updated_at = ?9 WHERE id = ?1",
            )?
            .execute(params![
                id,
                u.unique_name,
                u.network_access_profile_sid,
                u.data_limit,
                u.ip_commands_url,
                u.ip_commands_method,
                u.sms_commands_url,
                u.sms_commands_method,
                now
            ])
            .map_err(|e| duplicate_name(e, u.unique_name.as_deref()))?;
            Ok(())
        })
    }

    fn milenage(&self, account: &str) -> Result<Milenage> {
        self.with(|c| {
            let row: Option<BlobPair> = c
                .prepare_cached("SELECT milenage_op, milenage_amf FROM accounts WHERE sid = ?1")?
                .query_row([account], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let corrupt = |what: &str| {
                SqlError::Store(StoreError::Invalid(format!(
                    "account {account}: stored MILENAGE {what} has the wrong length"
                )))
            };
            let mut m = Milenage::default();
            if let Some((op, amf)) = row {
                if let Some(op) = op {
                    m.op = Some(op.try_into().map_err(|_| corrupt("OP"))?);
                }
                if let Some(amf) = amf {
                    m.amf = amf.try_into().map_err(|_| corrupt("AMF"))?;
                }
            }
            Ok(m)
        })
    }

    fn set_milenage(&self, account: &str, m: &Milenage) -> Result<()> {
        self.with(|c| {
            let n = c
                .prepare_cached(
                    "UPDATE accounts SET milenage_op = ?2, milenage_amf = ?3 WHERE sid = ?1",
                )?
                .execute(params![
                    account,
                    m.op.as_ref().map(|o| o.to_vec()),
                    m.amf.to_vec()
                ])?;
            if n == 0 {
                return Err(SqlError::Store(StoreError::Invalid(format!(
                    "no account {account}"
                ))));
            }
            Ok(())
        })
    }

    fn preinstalled_keys(&self, profile_id: i64) -> Result<Option<([u8; 16], [u8; 16])>> {
        self.with(|c| {
            let row: Option<BlobPair> = c
                .prepare_cached("SELECT ki, opc FROM profiles WHERE id = ?1")?
                .query_row([profile_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            Ok(match row {
                Some((Some(ki), Some(opc))) => Some((
                    ki.try_into()
                        .map_err(|_| StoreError::Invalid("stored Ki length".into()))?,
                    opc.try_into()
                        .map_err(|_| StoreError::Invalid("stored OPc length".into()))?,
                )),
                _ => None,
            })
        })
    }

    fn inventory_pick(&self, profile_type: &str) -> Result<Option<Profile>> {
        self.es2_pick(profile_type)
    }

    fn inventory_counts(
        &self,
        account_sid: Option<&str>,
    ) -> Result<Vec<smdp_core::store::InventoryCount>> {
        self.es2_counts(account_sid)
    }

    fn es2_apply(
        &self,
        id: i64,
        from: smdp_core::es2::State,
        change: &smdp_core::store::Es2Change,
        now: i64,
    ) -> Result<bool> {
        self.es2_change(id, from, change, now)
    }

    fn claim_due_callbacks(
        &self,
        lease: &Lease,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(CallbackRecord, HmacSha1Key)>> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let ids: Vec<i64> = tx
                .prepare_cached(
                    "UPDATE callbacks SET lease_owner = ?1, lease_until = ?2 \
                     WHERE id IN (SELECT c.id FROM callbacks c \
                         WHERE c.state = 'pending' AND c.next_attempt_at <= ?3 \
                         AND (c.lease_until IS NULL OR c.lease_until <= ?3) \
                         AND c.id = (SELECT MIN(id) FROM callbacks \
                                     WHERE profile_id = c.profile_id AND state = 'pending') \
                         ORDER BY c.id LIMIT ?4) \
                     RETURNING id",
                )?
                .query_map(params![lease.owner, lease.until, now, limit as i64], |r| {
                    r.get(0)
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut out = Vec::with_capacity(ids.len());
            {
                let mut st = tx.prepare_cached(&format!(
                    "SELECT {CALLBACK_COLUMNS}, a.signing_key FROM callbacks c \
                     JOIN accounts a ON a.sid = c.account_sid WHERE c.id = ?1"
                ))?;
                for id in ids {
                    let (c, key) = st.query_row([id], |r| {
                        Ok((callback_row(r)?, r.get::<_, Option<Vec<u8>>>(23)?))
                    })?;
                    let key = key
                        .as_deref()
                        .and_then(HmacSha1Key::from_bytes)
                        .ok_or_else(|| {
                            StoreError::Invalid(format!(
                                "account {}: no signing key",
                                c.account_sid
                            ))
                        })?;
                    out.push((c, key));
                }
            }
            tx.commit()?;
            out.sort_by_key(|(c, _)| c.id);
            Ok(out)
        })
    }

    fn record_attempt(&self, id: i64, a: &Attempt, owner: &str, now: i64) -> Result<bool> {
        self.with(|c| {
            let n = match a {
                Attempt::Delivered { http_status } => c
                    .prepare_cached(
                        "UPDATE callbacks SET state = 'delivered', attempts = attempts + 1, \
                         last_attempt_at = ?2, last_http_status = ?3, last_error = NULL, \
                         lease_owner = NULL, lease_until = NULL \
                         WHERE id = ?1 AND lease_owner = ?4",
                    )?
                    .execute(params![id, now, http_status, owner])?,
                Attempt::Failed {
                    http_status,
                    error,
                    next_at,
                } => c
                    .prepare_cached(
                        "UPDATE callbacks SET state = CASE WHEN ?5 IS NULL THEN 'failed' \
                         ELSE 'pending' END, attempts = attempts + 1, last_attempt_at = ?2, \
                         last_http_status = ?3, last_error = ?4, \
                         next_attempt_at = COALESCE(?5, next_attempt_at), \
                         lease_owner = NULL, lease_until = NULL \
                         WHERE id = ?1 AND lease_owner = ?6",
                    )?
                    .execute(params![id, now, http_status, error, next_at, owner])?,
            };
            Ok(n == 1)
        })
    }

    fn callbacks_for(&self, account: &str, profile_sid: &str) -> Result<Vec<CallbackRecord>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {CALLBACK_COLUMNS} FROM callbacks c \
                 WHERE c.account_sid = ?1 AND c.esim_profile_sid = ?2 ORDER BY c.id"
            ))?;
            let rows = st.query_map(params![account, profile_sid], callback_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn import_preinstalled(
        &self,
        account: &str,
        rows: &[NewPreinstalled],
        charge_cents: i64,
        now: i64,
    ) -> Result<Vec<bool>> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut created = Vec::with_capacity(rows.len());
            let mut problems = Vec::new();
            for r in rows {
                let p = &r.profile;
                let eid = p.eid.to_string();
                let existing: Option<(String, Option<String>, Option<String>, String)> = tx
                    .prepare_cached(
                        "SELECT account_sid, eid, imsi, status FROM profiles WHERE iccid = ?1",
                    )?
                    .query_row([&p.iccid], |x| {
                        Ok((x.get(0)?, x.get(1)?, x.get(2)?, x.get(3)?))
                    })
                    .optional()?;
                match existing {
                    Some((a, e, i, st))
                        if a == account
                            && e.as_deref() == Some(eid.as_str())
                            && i.as_deref() == Some(p.imsi.as_str())
                            && st == "installed" =>
                    {
                        created.push(false);
                        continue;
                    }
                    Some(_) => {
                        problems.push((p.row, format!("ICCID {} is already in use", p.iccid)));
                        continue;
                    }
                    None => {}
                }
                if let Some(name) = &p.sim_unique_name {
                    let taken: bool = tx
                        .prepare_cached(
                            "SELECT EXISTS (SELECT 1 FROM sims \
                             WHERE account_sid = ?1 AND unique_name = ?2)",
                        )?
                        .query_row(params![account, name], |x| x.get(0))?;
                    if taken {
                        problems.push((p.row, format!("Sim unique name {name:?} is in use")));
                        continue;
                    }
                }
                tx.prepare_cached(
                    "INSERT INTO profiles (sid, account_sid, status, eid, iccid, imsi, template, \
                     service_provider_name, profile_name, max_attempts, created_at, updated_at, \
                     sim_sid, released, ki, opc) \
                     VALUES (?1, ?2, 'installed', ?3, ?4, ?5, 'pre-installed', ?6, \
                     'pre-installed', 0, ?7, ?7, ?8, 1, ?9, ?10)",
                )?
                .execute(params![
                    r.sid,
                    account,
                    eid,
                    p.iccid,
                    p.imsi,
                    p.spn.clone().unwrap_or_default(),
                    now,
                    r.sim_sid,
                    p.ki.to_vec(),
                    p.opc.to_vec()
                ])?;
                tx.prepare_cached(
                    "INSERT INTO sims (sid, account_sid, unique_name, iccid, status, created_at, \
                     updated_at) VALUES (?1, ?2, ?3, ?4, 'new', ?5, ?5)",
                )?
                .execute(params![
                    r.sim_sid,
                    account,
                    p.sim_unique_name,
                    p.iccid,
                    now
                ])?;
                if charge_cents > 0 {
                    tx.prepare_cached(
                        "INSERT INTO charges (account_sid, profile_sid, amount_cents, currency, \
                         description, created_at) \
                         VALUES (?1, ?2, ?3, 'USD', 'pre-installed eSIM profile', ?4)",
                    )?
                    .execute(params![account, r.sid, charge_cents, now])?;
                }
                created.push(true);
            }
            if !problems.is_empty() {
                // Dropping the transaction rolls every row back.
                return Err(SqlError::Store(StoreError::Rows(problems)));
            }
            tx.commit()?;
            Ok(created)
        })
    }

    fn charges(&self, account: &str) -> Result<Vec<Charge>> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT account_sid, profile_sid, amount_cents, currency, description, created_at \
                 FROM charges WHERE account_sid = ?1 ORDER BY id",
            )?;
            let rows = st.query_map([account], |r| {
                Ok(Charge {
                    account_sid: r.get(0)?,
                    profile_sid: r.get(1)?,
                    amount_cents: r.get(2)?,
                    currency: r.get(3)?,
                    description: r.get(4)?,
                    created_at: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

fn sim_where(account: &str, f: &SimFilter, cursor: Cursor) -> (String, Vec<String>) {
    let mut sql = String::from("account_sid = ?1");
    let mut args = vec![account.to_string()];
    if let Some(s) = f.status {
        args.push(s.as_str().into());
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    if let Some(i) = &f.iccid {
        args.push(i.clone());
        sql.push_str(&format!(" AND iccid = ?{}", args.len()));
    }
    if let Some(fl) = &f.fleet_sid {
        args.push(fl.clone());
        sql.push_str(&format!(" AND fleet_sid = ?{}", args.len()));
    }
    cursor_clause(cursor, &mut sql);
    (sql, args)
}
