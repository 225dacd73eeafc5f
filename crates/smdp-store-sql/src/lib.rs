//! The SQL both store backends speak (`smdp-store-sqlite`, `smdp-store-postgres`): the
//! tables of a store in copy order, and the counts and invariants of `smdp store check`.
//! Written once, in the subset SQLite and PostgreSQL share, so the two checks cannot drift.

/// The checks every backend runs (`smdp store check`): each a name and a query counting the
/// rows that break it. Written in the SQL both backends speak.
pub const INVARIANTS: &[(&str, &str)] = &[
    (
        "orders with an unknown status",
        "SELECT COUNT(*) FROM profiles WHERE status NOT IN \
         ('new', 'reserving', 'available', 'downloaded', 'installed', 'failed')",
    ),
    (
        "reserved orders without a profile package",
        "SELECT COUNT(*) FROM profiles p WHERE p.status IN ('available', 'downloaded') \
         AND NOT EXISTS (SELECT 1 FROM packages k WHERE k.profile_id = p.id)",
    ),
    (
        "downloaded orders without their binding",
        "SELECT COUNT(*) FROM profiles WHERE status = 'downloaded' AND bound_txid IS NULL",
    ),
    (
        "closed orders still holding otSK.DP",
        "SELECT COUNT(*) FROM profiles WHERE status IN ('installed', 'failed') \
         AND bound_otsk IS NOT NULL",
    ),
    (
        "charges for no order",
        "SELECT COUNT(*) FROM charges c \
         WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.sid = c.profile_sid)",
    ),
    (
        "Sims of no order",
        "SELECT COUNT(*) FROM sims s \
         WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.sim_sid = s.sid)",
    ),
    (
        "profiles with an unknown ES2+ state",
        "SELECT COUNT(*) FROM profiles WHERE es2_mark IS NOT NULL AND es2_mark NOT IN \
         ('Available', 'Allocated', 'Linked', 'Confirmed', 'Unavailable')",
    ),
    (
        "ES2+ orders without their function requester",
        "SELECT COUNT(*) FROM profiles WHERE es2_mark IN ('Allocated', 'Linked', 'Confirmed') \
         AND requester IS NULL",
    ),
    (
        "callbacks with an unknown state",
        "SELECT COUNT(*) FROM callbacks WHERE state NOT IN ('pending', 'delivered', 'failed')",
    ),
];

/// The counts `smdp store check` prints: a label and a query.
pub const COUNTS: &[(&str, &str)] = &[
    ("accounts", "SELECT COUNT(*) FROM accounts"),
    ("orders", "SELECT COUNT(*) FROM profiles"),
    (
        "orders new",
        "SELECT COUNT(*) FROM profiles WHERE status = 'new'",
    ),
    (
        "orders reserving",
        "SELECT COUNT(*) FROM profiles WHERE status = 'reserving'",
    ),
    (
        "orders available",
        "SELECT COUNT(*) FROM profiles WHERE status = 'available'",
    ),
    (
        "orders downloaded",
        "SELECT COUNT(*) FROM profiles WHERE status = 'downloaded'",
    ),
    (
        "orders installed",
        "SELECT COUNT(*) FROM profiles WHERE status = 'installed'",
    ),
    (
        "orders failed",
        "SELECT COUNT(*) FROM profiles WHERE status = 'failed'",
    ),
    (
        "inventory not ordered",
        "SELECT COUNT(*) FROM profiles WHERE es2_mark = 'Available'",
    ),
    ("sims", "SELECT COUNT(*) FROM sims"),
    ("charges", "SELECT COUNT(*) FROM charges"),
    ("sessions", "SELECT COUNT(*) FROM sessions"),
    ("notifications", "SELECT COUNT(*) FROM notifications"),
    (
        "callbacks pending",
        "SELECT COUNT(*) FROM callbacks WHERE state = 'pending'",
    ),
    (
        "callbacks delivered",
        "SELECT COUNT(*) FROM callbacks WHERE state = 'delivered'",
    ),
    (
        "callbacks failed",
        "SELECT COUNT(*) FROM callbacks WHERE state = 'failed'",
    ),
];

/// The tables of a store, parents before children (the order a copy writes them in).
pub const TABLES: &[&str] = &[
    "accounts",
    "api_keys",
    "bearer_tokens",
    "oauth_clients",
    "oauth_tokens",
    "profiles",
    "packages",
    "sessions",
    "counters",
    "notifications",
    "network_access_profiles",
    "fleets",
    "sims",
    "callbacks",
    "charges",
    "bindings",
    "meta",
    "fault_log",
];

/// (table, column) of every secret kept as a digest besides `accounts.auth_token` (which
/// also leaves a signing key): the migration to digests converts each.
pub const DIGESTED_SECRETS: &[(&str, &str)] = &[
    ("api_keys", "secret"),
    ("bearer_tokens", "token"),
    ("oauth_clients", "secret"),
    ("oauth_tokens", "token"),
];

// The column lists the row mappers of both stores index by position.

/// Columns of a profile row, in the order both stores' row mappers read them.
pub const PROFILE_COLUMNS: &str =
    "id, sid, account_sid, status, eid, matching_id, confirmation_code, \
    iccid, imsi, template, service_provider_name, profile_name, expires_at, max_attempts, \
    attempts, bound_txid, bound_otpk, bound_otsk, euicc_cert, error_code, error_message, \
    created_at, updated_at, callback_url, callback_method, sim_sid, released, options, ppk, \
    bound_smdp_sign, profile_type, requester, es2_mark";

/// Profiles that are orders, not inventory nobody has ordered: what the REST API shows.
pub const ORDERED: &str = "COALESCE(es2_mark, '') <> 'Available'";

/// The condition a profile row in the ES2+ state named `state` meets (SGP.22 §5.3), for the
/// states ES2+ functions act on: the compare-and-set of `es2_apply`. The mark says the
/// states the status cannot (inventory, ordered, confirmed); a REST order held unreleased
/// (no mark) is confirmed, and a released one is marked no more.
pub fn es2_state_is(state: &str) -> Option<&'static str> {
    Some(match state {
        "Available" => "es2_mark = 'Available'",
        "Allocated" => "es2_mark = 'Allocated'",
        "Linked" => "es2_mark = 'Linked'",
        "Confirmed" => {
            "(es2_mark = 'Confirmed' OR (es2_mark IS NULL AND status IN ('new', 'reserving') \
             AND NOT released AND iccid IS NOT NULL))"
        }
        "Released" => "(es2_mark IS NULL AND status = 'available')",
        _ => return None,
    })
}

/// `?N` parameters as PostgreSQL's `$N`: the statements below are written once, in SQLite's
/// spelling (they hold no other `?`).
pub fn dollar(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// The statements of `es2_apply` and the inventory (`?N` parameters; [`dollar`] for
/// PostgreSQL). Each change is one `UPDATE … WHERE id = ?1 AND <from>` on the state it was
/// decided for ([`es2_state_is`]); the parameters are listed with each.
pub mod es2 {
    use super::{BACK_TO_INVENTORY, PROFILE_COLUMNS};

    /// The oldest inventory profile of type ?1.
    pub fn pick() -> String {
        format!(
            "SELECT {PROFILE_COLUMNS} FROM profiles WHERE es2_mark = 'Available' \
             AND profile_type = ?1 ORDER BY id LIMIT 1"
        )
    }

    /// DownloadOrder: ?1 id, ?2 mark (Allocated/Linked), ?3 requester, ?4 EID, ?5 now.
    pub fn order(from: &str) -> String {
        format!(
            "UPDATE profiles SET es2_mark = ?2, requester = ?3, eid = ?4, updated_at = ?5 \
             WHERE id = ?1 AND {from}"
        )
    }

    /// The order's Sim, made once (?1 id, ?2 now).
    pub const ORDER_SIM: &str = "INSERT INTO sims (sid, account_sid, iccid, status, \
        created_at, updated_at) SELECT p.sim_sid, p.account_sid, p.iccid, 'new', ?2, ?2 \
        FROM profiles p WHERE p.id = ?1 AND p.sim_sid IS NOT NULL \
        AND NOT EXISTS (SELECT 1 FROM sims s WHERE s.sid = p.sim_sid)";

    /// The order's charge, once per profile (?1 id, ?2 cents, ?3 now).
    pub const ORDER_CHARGE: &str = "INSERT INTO charges (account_sid, profile_sid, \
        amount_cents, currency, description, created_at) SELECT account_sid, sid, ?2, 'USD', \
        'eSIM profile order (ES2+)', ?3 FROM profiles WHERE id = ?1 \
        ON CONFLICT (profile_sid) DO NOTHING";

    /// ConfirmOrder: ?1 id, ?2 EID, ?3 matching ID, ?4 confirmation code, ?5 release, ?6 now.
    pub fn confirm(from: &str) -> String {
        format!(
            "UPDATE profiles SET eid = ?2, matching_id = ?3, confirmation_code = ?4, \
             es2_mark = CASE WHEN ?5 THEN NULL ELSE 'Confirmed' END, released = ?5, \
             updated_at = ?6, status = CASE WHEN ?5 THEN 'available' ELSE status END \
             WHERE id = ?1 AND {from}"
        )
    }

    /// ReleaseProfile: ?1 id, ?2 now.
    pub fn release(from: &str) -> String {
        format!(
            "UPDATE profiles SET es2_mark = NULL, released = TRUE, updated_at = ?2, \
             status = CASE WHEN status = 'reserving' THEN 'available' ELSE status END \
             WHERE id = ?1 AND {from}"
        )
    }

    /// CancelOrder back to the inventory: ?1 id, ?2 now; then [`DELETE_SIM`].
    pub fn cancel_to_inventory(from: &str) -> String {
        format!("UPDATE profiles SET {BACK_TO_INVENTORY}, updated_at = ?2 WHERE id = ?1 AND {from}")
    }

    /// The Sim goes with the order (?1 id); ordering the profile again makes it anew.
    pub const DELETE_SIM: &str =
        "DELETE FROM sims WHERE sid = (SELECT sim_sid FROM profiles WHERE id = ?1)";

    /// CancelOrder as Unavailable: ?1 id, ?2 now.
    pub fn cancel_unavailable(from: &str) -> String {
        format!(
            "UPDATE profiles SET es2_mark = 'Unavailable', status = 'failed', \
             bound_otsk = NULL, updated_at = ?2, \
             error_message = 'cancelled by the operator (ES2+ CancelOrder)' \
             WHERE id = ?1 AND {from}"
        )
    }
}

/// What CancelOrder back to the inventory resets: the order's data, its binding and its
/// counters (the ICCID, numbers and package stay).
pub const BACK_TO_INVENTORY: &str = "es2_mark = 'Available', requester = NULL, eid = NULL, \
    matching_id = NULL, confirmation_code = NULL, status = 'reserving', released = FALSE, \
    bound_txid = NULL, bound_otpk = NULL, bound_otsk = NULL, bound_smdp_sign = NULL, \
    euicc_cert = NULL, attempts = 0, cc_failures = 0, error_code = NULL, error_message = NULL";

/// Inventory profiles counted by type and raw state (the mark, else the status), of every
/// account, or of the account in the parameter `account` (`?1` / `$1`).
pub fn inventory_counts(account: Option<&str>) -> String {
    format!(
        "SELECT profile_type, COALESCE(es2_mark, status), released, eid IS NOT NULL, \
         COUNT(*) FROM profiles WHERE profile_type IS NOT NULL{} \
         GROUP BY profile_type, COALESCE(es2_mark, status), released, eid IS NOT NULL \
         ORDER BY profile_type",
        account.map_or(String::new(), |p| format!(" AND account_sid = {p}"))
    )
}

/// Columns of an ES9+ session row.
pub const SESSION_COLUMNS: &str = "txid, state, created_at, expires_at, euicc_challenge, \
    server_challenge, ci_pkid, eid, euicc_cert, profile_id, smdp_signature2, metadata, number";

/// Columns of a callback row (table alias `c`).
pub const CALLBACK_COLUMNS: &str = "c.id, c.profile_id, c.url, c.method, c.esim_profile_sid, \
    c.account_sid, c.profile_status, c.sim_sid, c.iccid, c.eid, c.error_code, c.error_message, \
    c.state, c.attempts, c.next_attempt_at, c.last_attempt_at, c.last_http_status, c.last_error, \
    c.subject, c.sim_status, c.sim_unique_name, c.fleet_sid, c.body";

/// Queues an ES2+ progress info for a profile ($1/?1 profile id, 2 URL, 3 body, 4 now), with
/// the profile's fields as of now.
pub fn queue_es2_progress(p: [&str; 4]) -> String {
    format!(
        "INSERT INTO callbacks (profile_id, url, method, esim_profile_sid, account_sid, \
         profile_status, sim_sid, iccid, eid, next_attempt_at, created_at, subject, body) \
         SELECT id, {1}, 'POST', sid, account_sid, status, sim_sid, iccid, eid, {3}, {3}, \
         'es2_progress', {2} FROM profiles WHERE id = {0}",
        p[0], p[1], p[2], p[3]
    )
}

/// Columns of a Sim row.
pub const SIM_COLUMNS: &str = "id, sid, account_sid, unique_name, iccid, status, fleet_sid, \
    created_at, updated_at, target_status";

/// Columns of a Network Access Profile row.
pub const NAP_COLUMNS: &str = "id, sid, account_sid, unique_name, created_at, updated_at";

/// Columns of a Fleet row.
pub const FLEET_COLUMNS: &str = "id, sid, account_sid, unique_name, data_enabled, data_limit, \
    network_access_profile_sid, ip_commands_url, ip_commands_method, sms_commands_enabled, \
    sms_commands_url, sms_commands_method, created_at, updated_at";

#[cfg(test)]
mod tests {
    #[test]
    fn dollar_renumbers_parameters_only() {
        assert_eq!(
            super::dollar("a = ?1 AND b = ?12 AND c = '?'"),
            "a = $1 AND b = $12 AND c = '?'"
        );
    }
}
