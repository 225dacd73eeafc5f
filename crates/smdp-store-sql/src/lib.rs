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
