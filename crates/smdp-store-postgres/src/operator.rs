//! [`OperatorStore`] on PostgreSQL: accounts and credentials, the reservation worker's steps,
//! paged listings, Sims, the charge ledger and the callback queue. Every method is one
//! transaction. The workers of every node claim work with a lease taken by
//! `FOR UPDATE SKIP LOCKED`: rows another node is claiming are skipped, not waited for, and a
//! lease that expires (its node died) makes the row claimable again.

use postgres::types::ToSql;
use smdp_core::credentials::{self, HmacSha1Key};
use smdp_core::store::{
    Attempt, CallbackRecord, Charge, Credential, Cursor, Fleet, FleetUpdate, IssuedToken, Lease,
    Milenage, NetworkAccessProfile, NewPreinstalled, OperatorStore, Profile, ProfileFilter,
    Reservation, Result, Sim, SimFilter, SimUpdate, StoreError,
};

use crate::conn::Db as _;
use crate::rows::{
    self, is_unique_violation, CALLBACK_COLUMNS, FLEET_COLUMNS, NAP_COLUMNS, PROFILE_COLUMNS, R,
    SIM_COLUMNS,
};
use crate::{Error, PgStore};

type Param<'a> = &'a (dyn ToSql + Sync);

/// A unique-name violation as [`StoreError::Duplicate`]; anything else as is.
fn duplicate_name(e: postgres::Error, name: Option<&str>) -> Error {
    if is_unique_violation(&e) {
        Error::Store(StoreError::Duplicate {
            what: "unique name",
            value: name.unwrap_or_default().to_string(),
        })
    } else {
        Error::Sql(e)
    }
}

/// `WHERE` clause and its text parameters, numbered from `$1`.
struct Where {
    sql: String,
    args: Vec<String>,
}

impl Where {
    fn account(account: &str) -> Self {
        Self {
            sql: "account_sid = $1".into(),
            args: vec![account.to_string()],
        }
    }

    fn eq(&mut self, col: &str, v: impl Into<String>) {
        self.args.push(v.into());
        self.sql
            .push_str(&format!(" AND {col} = ${}", self.args.len()));
    }

    fn cursor(mut self, cursor: Cursor) -> Self {
        match cursor {
            Cursor::Start => {}
            Cursor::After(id) => self.sql.push_str(&format!(" AND id > {id}")),
            Cursor::Before(id) => self.sql.push_str(&format!(" AND id < {id}")),
        }
        self
    }

    fn params(&self) -> Vec<Param<'_>> {
        self.args.iter().map(|a| a as Param<'_>).collect()
    }
}

fn order(cursor: Cursor) -> &'static str {
    if matches!(cursor, Cursor::Before(_)) {
        "DESC"
    } else {
        "ASC"
    }
}

fn profile_where(account: &str, f: &ProfileFilter, cursor: Cursor) -> Where {
    let mut w = Where::account(account);
    w.sql.push_str(&format!(" AND {}", smdp_store_sql::ORDERED));
    if let Some(e) = &f.eid {
        w.eq("eid", e.to_string());
    }
    if let Some(s) = &f.sim_sid {
        w.eq("sim_sid", s.clone());
    }
    if let Some(s) = f.status {
        w.eq("status", s.as_str());
    }
    w.cursor(cursor)
}

fn sim_where(account: &str, f: &SimFilter, cursor: Cursor) -> Where {
    let mut w = Where::account(account);
    if let Some(s) = f.status {
        w.eq("status", s.as_str());
    }
    if let Some(i) = &f.iccid {
        w.eq("iccid", i.clone());
    }
    if let Some(fl) = &f.fleet_sid {
        w.eq("fleet_sid", fl.clone());
    }
    w.cursor(cursor)
}

fn fleet_where(account: &str, nap: Option<&str>, cursor: Cursor) -> Where {
    let mut w = Where::account(account);
    if let Some(n) = nap {
        w.eq("network_access_profile_sid", n);
    }
    w.cursor(cursor)
}

impl PgStore {
    /// One page of `table` in id order (`Before`: the page before, still in ascending order).
    fn page<T: Send>(
        &self,
        table: &str,
        columns: &str,
        w: &Where,
        cursor: Cursor,
        limit: usize,
        f: fn(&postgres::Row) -> R<T>,
    ) -> Result<Vec<T>> {
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE {} ORDER BY id {} LIMIT {limit}",
            w.sql,
            order(cursor)
        );
        let mut rows = self.with(|c| rows::all(c.query(&sql, &w.params())?, f))?;
        if matches!(cursor, Cursor::Before(_)) {
            rows.reverse();
        }
        Ok(rows)
    }

    fn exists(&self, table: &str, w: &Where) -> Result<bool> {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE {})", w.sql);
        self.with(|c| Ok(c.query_one(&sql, &w.params())?.try_get(0)?))
    }

    /// The first row of `table` in `account` whose sid or unique name is `key` (the sid wins).
    fn by_sid_or_name<T: Send>(
        &self,
        table: &str,
        columns: &str,
        account: &str,
        key: &str,
        f: fn(&postgres::Row) -> R<T>,
    ) -> Result<Option<T>> {
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE account_sid = $1 \
             AND (sid = $2 OR unique_name = $2) ORDER BY sid = $2 DESC LIMIT 1"
        );
        self.with(|c| {
            c.query_opt(&sql, &[&account, &key])?
                .as_ref()
                .map(f)
                .transpose()
        })
    }

    fn text_opt(&self, sql: &str, args: &[Param<'_>]) -> Result<Option<String>> {
        self.with(|c| Ok(c.query_opt(sql, args)?.map(|r| r.try_get(0)).transpose()?))
    }

    fn run(&self, sql: &str, args: &[Param<'_>]) -> Result<u64> {
        self.with(|c| Ok(c.execute(sql, args)?))
    }

    /// The account of the row `sql` finds for `id` (columns: kept digest, account), if
    /// `secret` is the one the digest was made from.
    fn kept_secret(&self, sql: &str, id: &str, secret: &str) -> Result<Option<String>> {
        let row = self.with(|c| {
            c.query_opt(sql, &[&id])?
                .map(|r| Ok::<_, Error>((r.try_get::<_, String>(0)?, r.try_get::<_, String>(1)?)))
                .transpose()
        })?;
        Ok(row.and_then(|(kept, acct)| credentials::matches(&kept, secret).then_some(acct)))
    }
}

impl OperatorStore for PgStore {
    // Secrets are kept as digests, an auth token with its callback signing key
    // (smdp_core::credentials); presented ones are compared in constant time.
    fn create_account(&self, sid: &str, token: &str, name: &str, now: i64) -> Result<()> {
        let (digest, key) = (
            credentials::digest(token),
            HmacSha1Key::new(token.as_bytes()).to_bytes(),
        );
        self.with(|c| {
            c.execute(
                "INSERT INTO accounts (sid, auth_token, signing_key, friendly_name, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[&sid, &digest, &key, &name, &now],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::Store(StoreError::Duplicate {
                        what: "account",
                        value: sid.into(),
                    })
                } else {
                    Error::Sql(e)
                }
            })?;
            Ok(())
        })
    }

    fn ensure_account(&self, sid: &str, token: &str, now: i64) -> Result<()> {
        self.run(
            "INSERT INTO accounts (sid, auth_token, signing_key, friendly_name, created_at) \
             VALUES ($1, $2, $3, 'configured', $4) \
             ON CONFLICT (sid) DO UPDATE SET auth_token = EXCLUDED.auth_token, \
             signing_key = EXCLUDED.signing_key",
            &[
                &sid,
                &credentials::digest(token),
                &HmacSha1Key::new(token.as_bytes()).to_bytes(),
                &now,
            ],
        )?;
        Ok(())
    }

    fn add_api_key(&self, sid: &str, secret: &str, account: &str) -> Result<()> {
        self.run(
            "INSERT INTO api_keys (sid, secret, account_sid) VALUES ($1, $2, $3)",
            &[&sid, &credentials::digest(secret), &account],
        )?;
        Ok(())
    }

    fn add_bearer_token(&self, token: &str, account: &str) -> Result<()> {
        self.run(
            "INSERT INTO bearer_tokens (token, account_sid) VALUES ($1, $2)",
            &[&credentials::digest(token), &account],
        )?;
        Ok(())
    }

    fn add_oauth_client(&self, client_id: &str, secret: &str, account_sid: &str) -> Result<()> {
        self.run(
            "INSERT INTO oauth_clients (client_id, secret, account_sid) VALUES ($1, $2, $3)",
            &[&client_id, &credentials::digest(secret), &account_sid],
        )?;
        Ok(())
    }

    fn oauth_client(&self, client_id: &str, secret: &str) -> Result<Option<String>> {
        self.kept_secret(
            "SELECT secret, account_sid FROM oauth_clients WHERE client_id = $1",
            client_id,
            secret,
        )
    }

    fn issue_oauth_token(&self, t: &IssuedToken) -> Result<()> {
        self.run(
            "INSERT INTO oauth_tokens (token, account_sid, client_id, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &credentials::digest(&t.token),
                &t.account_sid,
                &t.client_id,
                &t.issued_at,
                &t.expires_at,
            ],
        )?;
        Ok(())
    }

    fn revoke_oauth_token(&self, token: &str) -> Result<bool> {
        Ok(self.run(
            "UPDATE oauth_tokens SET revoked = TRUE WHERE token = $1",
            &[&credentials::digest(token)],
        )? == 1)
    }

    fn authenticate(&self, cred: &Credential, now: i64) -> Result<Option<String>> {
        match cred {
            Credential::Basic { user, password } if user.starts_with("AC") => self.kept_secret(
                "SELECT auth_token, sid FROM accounts WHERE sid = $1",
                user,
                password,
            ),
            Credential::Basic { user, password } if user.starts_with("SK") => self.kept_secret(
                "SELECT secret, account_sid FROM api_keys WHERE sid = $1",
                user,
                password,
            ),
            Credential::Basic { .. } => Ok(None),
            // A static bearer token, or an OAuth token that is neither expired nor revoked,
            // found by its digest.
            Credential::Bearer(t) => self.text_opt(
                "SELECT account_sid FROM bearer_tokens WHERE token = $1 \
                 UNION ALL SELECT account_sid FROM oauth_tokens \
                 WHERE token = $1 AND NOT revoked AND expires_at > $2 LIMIT 1",
                &[&credentials::digest(t), &now],
            ),
        }
    }

    fn accounts(&self) -> Result<Vec<(String, String)>> {
        self.with(|c| {
            c.query("SELECT sid, friendly_name FROM accounts ORDER BY sid", &[])?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        })
    }

    fn profile_by_sid(&self, account: &str, sid: &str) -> Result<Option<Profile>> {
        let sql = format!(
            "SELECT {PROFILE_COLUMNS} FROM profiles WHERE sid = $1 AND account_sid = $2 AND {}",
            smdp_store_sql::ORDERED
        );
        self.with(|c| {
            c.query_opt(&sql, &[&sid, &account])?
                .as_ref()
                .map(rows::profile)
                .transpose()
        })
    }

    fn list_profiles(
        &self,
        account: &str,
        f: &ProfileFilter,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Vec<Profile>> {
        let w = profile_where(account, f, cursor);
        self.page(
            "profiles",
            PROFILE_COLUMNS,
            &w,
            cursor,
            limit,
            rows::profile,
        )
    }

    fn profiles_beyond(&self, account: &str, f: &ProfileFilter, cursor: Cursor) -> Result<bool> {
        self.exists("profiles", &profile_where(account, f, cursor))
    }

    fn claim_reservations(&self, lease: &Lease, now: i64, limit: usize) -> Result<Vec<Profile>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(|c| {
            let rows = c.query(
                &format!(
                    "UPDATE profiles SET lease_owner = $1, lease_until = $2 \
                     WHERE id IN (SELECT id FROM profiles \
                         WHERE (status = 'new' OR (status = 'reserving' AND iccid IS NULL)) \
                         AND (lease_until IS NULL OR lease_until <= $3) \
                         ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                     RETURNING {PROFILE_COLUMNS}"
                ),
                &[&lease.owner, &lease.until, &now, &limit],
            )?;
            let mut out = rows::all(rows, rows::profile)?;
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
            let mut tx = c.transaction()?;
            // The row lock holds off a release or another node until this commits.
            let Some(row) = tx.query_opt(
                "SELECT account_sid, sid FROM profiles WHERE id = $1 AND status = 'reserving' \
                 AND iccid IS NULL AND lease_owner = $2 FOR UPDATE",
                &[&id, &owner],
            )?
            else {
                return Ok(false);
            };
            let (account, profile_sid): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            tx.execute(
                "UPDATE profiles SET iccid = $2, imsi = $3, sim_sid = $4, ppk = $6, \
                 updated_at = $5, lease_owner = NULL, lease_until = NULL, \
                 status = CASE WHEN released THEN 'available' ELSE 'reserving' END \
                 WHERE id = $1",
                &[&id, &r.iccid, &r.imsi, &r.sim_sid, &now, &r.ppk],
            )?;
            tx.execute(
                "INSERT INTO packages (profile_id, der) VALUES ($1, $2) \
                 ON CONFLICT (profile_id) DO UPDATE SET der = EXCLUDED.der",
                &[&id, &r.package],
            )?;
            tx.execute(
                "INSERT INTO sims (sid, account_sid, iccid, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'new', $4, $4)",
                &[&r.sim_sid, &account, &r.iccid, &now],
            )?;
            tx.execute(
                "INSERT INTO charges (account_sid, profile_sid, amount_cents, currency, \
                 description, created_at) \
                 VALUES ($1, $2, $3, 'USD', 'eSIM profile reservation', $4)",
                &[&account, &profile_sid, &r.charge_cents, &now],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn sim(&self, account: &str, key: &str) -> Result<Option<Sim>> {
        self.by_sid_or_name("sims", SIM_COLUMNS, account, key, rows::sim)
    }

    fn list_sims(
        &self,
        account: &str,
        f: &SimFilter,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Vec<Sim>> {
        let w = sim_where(account, f, cursor);
        self.page("sims", SIM_COLUMNS, &w, cursor, limit, rows::sim)
    }

    fn sims_beyond(&self, account: &str, f: &SimFilter, cursor: Cursor) -> Result<bool> {
        self.exists("sims", &sim_where(account, f, cursor))
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
                .execute(
                    "UPDATE sims SET unique_name = COALESCE($2, unique_name), \
                     fleet_sid = COALESCE($3, fleet_sid), \
                     status = CASE WHEN $4::TEXT IS NULL THEN status ELSE 'scheduled' END, \
                     target_status = COALESCE($4::TEXT, target_status), \
                     callback_url = CASE WHEN $4::TEXT IS NULL THEN callback_url ELSE $5 END, \
                     callback_method = CASE WHEN $4::TEXT IS NULL THEN callback_method \
                         ELSE $6 END, \
                     updated_at = $7 \
                     WHERE id = $1 AND ($4::TEXT IS NULL OR status <> 'scheduled')",
                    &[
                        &id,
                        &u.unique_name,
                        &u.fleet_sid,
                        &target,
                        &url,
                        &method,
                        &now,
                    ],
                )
                .map_err(|e| duplicate_name(e, u.unique_name.as_deref()))?;
            Ok(n == 1)
        })
    }

    fn complete_sim_updates(&self, now: i64) -> Result<Vec<Sim>> {
        self.with(|c| {
            let rows = c.query(
                &format!(
                    "UPDATE sims SET status = target_status, target_status = NULL, \
                     callback_url = NULL, callback_method = NULL, updated_at = $1 \
                     WHERE status = 'scheduled' AND target_status IS NOT NULL \
                     RETURNING {SIM_COLUMNS}"
                ),
                &[&now],
            )?;
            let mut done = rows::all(rows, rows::sim)?;
            done.sort_by_key(|s| s.id);
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
            let row = c
                .query_one(
                    &format!(
                        "INSERT INTO network_access_profiles (sid, account_sid, unique_name, \
                         created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
                         RETURNING {NAP_COLUMNS}"
                    ),
                    &[&sid, &account, &unique_name, &now],
                )
                .map_err(|e| duplicate_name(e, unique_name))?;
            rows::nap(&row)
        })
    }

    fn network_access_profile(
        &self,
        account: &str,
        key: &str,
    ) -> Result<Option<NetworkAccessProfile>> {
        self.by_sid_or_name(
            "network_access_profiles",
            NAP_COLUMNS,
            account,
            key,
            rows::nap,
        )
    }

    fn list_network_access_profiles(
        &self,
        account: &str,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Vec<NetworkAccessProfile>> {
        let w = Where::account(account).cursor(cursor);
        self.page(
            "network_access_profiles",
            NAP_COLUMNS,
            &w,
            cursor,
            limit,
            rows::nap,
        )
    }

    fn network_access_profiles_beyond(&self, account: &str, cursor: Cursor) -> Result<bool> {
        self.exists(
            "network_access_profiles",
            &Where::account(account).cursor(cursor),
        )
    }

    fn insert_fleet(&self, f: &Fleet) -> Result<Fleet> {
        self.with(|c| {
            let row = c
                .query_one(
                    &format!(
                        "INSERT INTO fleets (sid, account_sid, unique_name, data_enabled, \
                         data_limit, network_access_profile_sid, ip_commands_url, \
                         ip_commands_method, sms_commands_enabled, sms_commands_url, \
                         sms_commands_method, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
                         RETURNING {FLEET_COLUMNS}"
                    ),
                    &[
                        &f.sid,
                        &f.account_sid,
                        &f.unique_name,
                        &f.data_enabled,
                        &f.data_limit,
                        &f.network_access_profile_sid,
                        &f.ip_commands_url,
                        &f.ip_commands_method,
                        &f.sms_commands_enabled,
                        &f.sms_commands_url,
                        &f.sms_commands_method,
                        &f.created_at,
                    ],
                )
                .map_err(|e| duplicate_name(e, f.unique_name.as_deref()))?;
            rows::fleet(&row)
        })
    }

    fn fleet(&self, account: &str, key: &str) -> Result<Option<Fleet>> {
        self.by_sid_or_name("fleets", FLEET_COLUMNS, account, key, rows::fleet)
    }

    fn list_fleets(
        &self,
        account: &str,
        nap: Option<&str>,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Vec<Fleet>> {
        let w = fleet_where(account, nap, cursor);
        self.page("fleets", FLEET_COLUMNS, &w, cursor, limit, rows::fleet)
    }

    fn fleets_beyond(&self, account: &str, nap: Option<&str>, cursor: Cursor) -> Result<bool> {
        self.exists("fleets", &fleet_where(account, nap, cursor))
    }

    fn update_fleet(&self, id: i64, u: &FleetUpdate, now: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE fleets SET unique_name = COALESCE($2, unique_name), \
                 network_access_profile_sid = COALESCE($3, network_access_profile_sid), \
                 data_limit = COALESCE($4, data_limit), \
                 ip_commands_url = COALESCE($5, ip_commands_url), \
                 ip_commands_method = COALESCE($6, ip_commands_method), \
                 sms_commands_url = COALESCE($7, sms_commands_url), \
                 sms_commands_method = COALESCE($8, sms_commands_method), \
                 updated_at = $9 WHERE id = $1",
                &[
                    &id,
                    &u.unique_name,
                    &u.network_access_profile_sid,
                    &u.data_limit,
                    &u.ip_commands_url,
                    &u.ip_commands_method,
                    &u.sms_commands_url,
                    &u.sms_commands_method,
                    &now,
                ],
            )
            .map_err(|e| duplicate_name(e, u.unique_name.as_deref()))?;
            Ok(())
        })
    }

    fn milenage(&self, account: &str) -> Result<Milenage> {
        self.with(|c| {
            let row = c.query_opt(
                "SELECT milenage_op, milenage_amf FROM accounts WHERE sid = $1",
                &[&account],
            )?;
            let corrupt = |what: &str| {
                Error::Store(StoreError::Invalid(format!(
                    "account {account}: stored MILENAGE {what} has the wrong length"
                )))
            };
            let mut m = Milenage::default();
            if let Some(row) = row {
                if let Some(op) = row.try_get::<_, Option<Vec<u8>>>(0)? {
                    m.op = Some(op.try_into().map_err(|_| corrupt("OP"))?);
                }
                if let Some(amf) = row.try_get::<_, Option<Vec<u8>>>(1)? {
                    m.amf = amf.try_into().map_err(|_| corrupt("AMF"))?;
                }
            }
            Ok(m)
        })
    }

    fn set_milenage(&self, account: &str, m: &Milenage) -> Result<()> {
        let n = self.run(
            "UPDATE accounts SET milenage_op = $2, milenage_amf = $3 WHERE sid = $1",
            &[
                &account,
                &m.op.as_ref().map(|o| o.to_vec()),
                &m.amf.to_vec(),
            ],
        )?;
        if n == 0 {
            return Err(StoreError::Invalid(format!("no account {account}")));
        }
        Ok(())
    }

    fn preinstalled_keys(&self, profile_id: i64) -> Result<Option<([u8; 16], [u8; 16])>> {
        self.with(|c| {
            let Some(row) =
                c.query_opt("SELECT ki, opc FROM profiles WHERE id = $1", &[&profile_id])?
            else {
                return Ok(None);
            };
            let (ki, opc): (Option<Vec<u8>>, Option<Vec<u8>>) = (row.try_get(0)?, row.try_get(1)?);
            let bad =
                |what: &str| Error::Store(StoreError::Invalid(format!("stored {what} length")));
            Ok(match (ki, opc) {
                (Some(ki), Some(opc)) => Some((
                    ki.try_into().map_err(|_| bad("Ki"))?,
                    opc.try_into().map_err(|_| bad("OPc"))?,
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
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(|c| {
            let mut tx = c.transaction()?;
            // Only the oldest pending callback of each profile is due: while it is leased
            // (being delivered, perhaps by another node) the ones after it wait, so each
            // profile's callbacks go out in order.
            let ids: Vec<i64> = tx
                .query(
                    "UPDATE callbacks SET lease_owner = $1, lease_until = $2 \
                     WHERE id IN (SELECT c.id FROM callbacks c \
                         WHERE c.state = 'pending' AND c.next_attempt_at <= $3 \
                         AND (c.lease_until IS NULL OR c.lease_until <= $3) \
                         AND c.id = (SELECT MIN(id) FROM callbacks \
                                     WHERE profile_id = c.profile_id AND state = 'pending') \
                         ORDER BY c.id LIMIT $4 FOR UPDATE OF c SKIP LOCKED) \
                     RETURNING id",
                    &[&lease.owner, &lease.until, &now, &limit],
                )?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
            let rows = tx.query(
                &format!(
                    "SELECT {CALLBACK_COLUMNS}, a.signing_key FROM callbacks c \
                     JOIN accounts a ON a.sid = c.account_sid WHERE c.id = ANY($1) \
                     ORDER BY c.id"
                ),
                &[&ids],
            )?;
            let out = rows
                .iter()
                .map(|r| {
                    let c = rows::callback(r)?;
                    let key: Option<Vec<u8>> = r.try_get(23)?;
                    let key = key
                        .as_deref()
                        .and_then(HmacSha1Key::from_bytes)
                        .ok_or_else(|| {
                            Error::Store(StoreError::Invalid(format!(
                                "account {}: no signing key",
                                c.account_sid
                            )))
                        })?;
                    Ok((c, key))
                })
                .collect::<R<Vec<_>>>()?;
            tx.commit()?;
            Ok(out)
        })
    }

    fn record_attempt(&self, id: i64, a: &Attempt, owner: &str, now: i64) -> Result<bool> {
        let n = match a {
            Attempt::Delivered { http_status } => self.run(
                "UPDATE callbacks SET state = 'delivered', attempts = attempts + 1, \
                 last_attempt_at = $2, last_http_status = $3, last_error = NULL, \
                 lease_owner = NULL, lease_until = NULL \
                 WHERE id = $1 AND lease_owner = $4",
                &[&id, &now, &i64::from(*http_status), &owner],
            )?,
            Attempt::Failed {
                http_status,
                error,
                next_at,
            } => self.run(
                "UPDATE callbacks SET state = CASE WHEN $5::BIGINT IS NULL THEN 'failed' \
                 ELSE 'pending' END, attempts = attempts + 1, last_attempt_at = $2, \
                 last_http_status = $3, last_error = $4, \
                 next_attempt_at = COALESCE($5::BIGINT, next_attempt_at), \
                 lease_owner = NULL, lease_until = NULL \
                 WHERE id = $1 AND lease_owner = $6",
                &[
                    &id,
                    &now,
                    &http_status.map(i64::from),
                    error,
                    next_at,
                    &owner,
                ],
            )?,
        };
        Ok(n == 1)
    }

    fn callbacks_for(&self, account: &str, profile_sid: &str) -> Result<Vec<CallbackRecord>> {
        let sql = format!(
            "SELECT {CALLBACK_COLUMNS} FROM callbacks c \
             WHERE c.account_sid = $1 AND c.esim_profile_sid = $2 ORDER BY c.id"
        );
        self.with(|c| rows::all(c.query(&sql, &[&account, &profile_sid])?, rows::callback))
    }

    fn import_preinstalled(
        &self,
        account: &str,
        rows: &[NewPreinstalled],
        charge_cents: i64,
        now: i64,
    ) -> Result<Vec<bool>> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            // One import at a time across nodes: two imports of one file must not both find
            // its ICCIDs free (the unique ICCID would then fail the second one as a whole).
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&crate::IMPORT_LOCK])?;
            let mut created = Vec::with_capacity(rows.len());
            let mut problems = Vec::new();
            for r in rows {
                let p = &r.profile;
                let eid = p.eid.to_string();
                let existing = tx.query_opt(
                    "SELECT account_sid, eid, imsi, status FROM profiles WHERE iccid = $1",
                    &[&p.iccid],
                )?;
                if let Some(x) = existing {
                    let (a, e, i, st): (String, Option<String>, Option<String>, String) =
                        (x.try_get(0)?, x.try_get(1)?, x.try_get(2)?, x.try_get(3)?);
                    if a == account
                        && e.as_deref() == Some(eid.as_str())
                        && i.as_deref() == Some(p.imsi.as_str())
                        && st == "installed"
                    {
                        created.push(false);
                    } else {
                        problems.push((p.row, format!("ICCID {} is already in use", p.iccid)));
                    }
                    continue;
                }
                if let Some(name) = &p.sim_unique_name {
                    let taken: bool = tx
                        .query_one(
                            "SELECT EXISTS (SELECT 1 FROM sims \
                             WHERE account_sid = $1 AND unique_name = $2)",
                            &[&account, name],
                        )?
                        .try_get(0)?;
                    if taken {
                        problems.push((p.row, format!("Sim unique name {name:?} is in use")));
                        continue;
                    }
                }
                tx.execute(
                    "INSERT INTO profiles (sid, account_sid, status, eid, iccid, imsi, template, \
                     service_provider_name, profile_name, max_attempts, created_at, updated_at, \
                     sim_sid, released, ki, opc) \
                     VALUES ($1, $2, 'installed', $3, $4, $5, 'pre-installed', $6, \
                     'pre-installed', 0, $7, $7, $8, TRUE, $9, $10)",
                    &[
                        &r.sid,
                        &account,
                        &eid,
                        &p.iccid,
                        &p.imsi,
                        &p.spn.clone().unwrap_or_default(),
                        &now,
                        &r.sim_sid,
                        &p.ki.to_vec(),
                        &p.opc.to_vec(),
                    ],
                )?;
                tx.execute(
                    "INSERT INTO sims (sid, account_sid, unique_name, iccid, status, created_at, \
                     updated_at) VALUES ($1, $2, $3, $4, 'new', $5, $5)",
                    &[&r.sim_sid, &account, &p.sim_unique_name, &p.iccid, &now],
                )?;
                if charge_cents > 0 {
                    tx.execute(
                        "INSERT INTO charges (account_sid, profile_sid, amount_cents, currency, \
                         description, created_at) \
                         VALUES ($1, $2, $3, 'USD', 'pre-installed eSIM profile', $4)",
                        &[&account, &r.sid, &charge_cents, &now],
                    )?;
                }
                created.push(true);
            }
            if !problems.is_empty() {
                // Dropping the transaction rolls every row back.
                return Err(Error::Store(StoreError::Rows(problems)));
            }
            tx.commit()?;
            Ok(created)
        })
    }

    fn charges(&self, account: &str) -> Result<Vec<Charge>> {
        self.with(|c| {
            c.query(
                "SELECT account_sid, profile_sid, amount_cents, currency, description, \
                 created_at FROM charges WHERE account_sid = $1 ORDER BY id",
                &[&account],
            )?
            .iter()
            .map(|r| {
                Ok(Charge {
                    account_sid: r.try_get(0)?,
                    profile_sid: r.try_get(1)?,
                    amount_cents: r.try_get(2)?,
                    currency: r.try_get(3)?,
                    description: r.try_get(4)?,
                    created_at: r.try_get(5)?,
                })
            })
            .collect()
        })
    }
}
