//! `smdp serve`: configuration (flags > environment > TOML file > defaults), startup and
//! graceful shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rsp_auth::pki::Pki;
use rsp_auth::{Backend, Curve};
use serde::Deserialize;

use crate::http::{Limits, ServerHandle};
use smdp_core::clock::Clock;
use smdp_core::es9::{Policy, Smdp};
use smdp_core::store::{OperatorStore, Store};

/// Why the server cannot start: the message names the setting or file at fault.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ServeError(pub(crate) String);

type Result<T> = std::result::Result<T, ServeError>;

/// `anyhow::Context` in small: adds what was being done to any displayable error.
trait Context<T> {
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T>;
    fn context(self, what: &str) -> Result<T>;
}

impl<T, E: std::fmt::Display> Context<T> for std::result::Result<T, E> {
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| ServeError(format!("{}: {e}", what())))
    }
    fn context(self, what: &str) -> Result<T> {
        self.map_err(|e| ServeError(format!("{what}: {e}")))
    }
}

impl<T> Context<T> for Option<T> {
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.ok_or_else(|| ServeError(what()))
    }
    fn context(self, what: &str) -> Result<T> {
        self.ok_or_else(|| ServeError(what.to_string()))
    }
}

macro_rules! bail {
    ($($t:tt)*) => { return Err(ServeError(format!($($t)*))) };
}

macro_rules! from_error {
    ($($t:ty),*) => {$(
        impl From<$t> for ServeError {
            fn from(e: $t) -> Self {
                Self(e.to_string())
            }
        }
    )*};
}

from_error!(
    std::io::Error,
    rustls::Error,
    smdp_core::store::StoreError,
    smdp_core::es9::SetupError,
    smdp_core::template::TemplateError,
    smdp_operator::callbacks::CallbackSetupError,
    rsp_auth::Error
);

/// Settings, each optional so that flags, environment and file can be layered.
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// Address and port to listen on [default: 127.0.0.1:8443].
    #[arg(long, env = "SMDP_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The SM-DP+ address (FQDN) LPAs use; it must match smdpAddress [default: localhost].
    #[arg(long, env = "SMDP_ADDRESS")]
    pub address: Option<String>,
    /// Data folder for the SQLite store, created if missing [default: ./data].
    #[arg(long, env = "SMDP_DATA")]
    pub data: Option<PathBuf>,
    /// The store: `sqlite:FOLDER` (or a folder), or `postgres://user@host/db` for several
    /// nodes on one database; overrides --data [default: the SQLite store in --data].
    #[arg(long, env = "SMDP_STORE")]
    pub store: Option<String>,
    /// PKI folder in SGP.26 layout: ours (`certs`) or `../shared/pki/sgp26` [default: certs].
    #[arg(long, env = "SMDP_PKI")]
    pub pki: Option<PathBuf>,
    /// Makes every random value deterministic (transaction IDs, challenges, keys, numbers).
    #[arg(long, env = "SMDP_SEED")]
    pub seed: Option<u64>,
    /// `text` or `json` logs [default: text]; filter with RUST_LOG.
    #[arg(long, env = "SMDP_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Seconds an ES9+ session lives [default: 600].
    #[arg(long, env = "SMDP_SESSION_TTL")]
    pub session_ttl: Option<u64>,
    /// HTTP status of handleNotification's empty answer: 204, or 200 for clients (some
    /// SGP.32 eIMs) that expect it [default: 204].
    #[arg(long, env = "SMDP_NOTIFICATION_STATUS")]
    pub notification_status: Option<u16>,
    /// Live sessions before initiateAuthentication answers busy [default: 10000].
    #[arg(long, env = "SMDP_MAX_SESSIONS")]
    pub max_sessions: Option<u64>,
    /// Failed matching-ID lookups (unknown ID, or an order for another EID) tolerated per
    /// client network and per EID, `FAILURES[/SECONDS]`, before authenticateClient answers
    /// 8.2.6/6.4 until the window ends; `off` counts nothing [default: 10/300].
    #[arg(long, env = "SMDP_MATCHING_ID_GUESSES")]
    pub matching_id_guesses: Option<String>,
    /// When an SQLite store's commits reach the disk: `full` fsyncs every change the server
    /// acknowledges (orders, statuses, bindings, charges, deliveries) before answering, so it
    /// survives a power loss; `normal` survives process crashes only, and is faster
    /// [default: full].
    #[arg(long, env = "SMDP_SQLITE_SYNCHRONOUS")]
    pub sqlite_synchronous: Option<String>,
    /// Connections served at once [default: 1024].
    #[arg(long, env = "SMDP_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Largest request body in bytes [default: 1048576].
    #[arg(long, env = "SMDP_MAX_BODY")]
    pub max_body: Option<usize>,
    /// Shed new ES9+ sessions (1.2/4.4) while requests wait longer than this many
    /// milliseconds to run; 0 never sheds [default: 100].
    #[arg(long, env = "SMDP_SHED_LAG_MS")]
    pub shed_lag_ms: Option<u64>,
    /// Seconds a keep-alive connection may idle [default: 60].
    #[arg(long, env = "SMDP_IDLE_TIMEOUT")]
    pub idle_timeout: Option<u64>,
    /// Where the operator REST API listens: its own listener, plain HTTP on loopback, or
    /// TLS with --rest-tls [default: 127.0.0.1:8080].
    #[arg(long, env = "SMDP_REST_LISTEN")]
    pub rest_listen: Option<SocketAddr>,
    /// Serve the REST listener over TLS (with the DPtls certificate); needed off loopback.
    #[arg(long, env = "SMDP_REST_TLS", num_args = 0..=1, default_missing_value = "true")]
    pub rest_tls: Option<bool>,
    /// Also serve the REST API on the ES9+ TLS listener (off by default: one interface per
    /// listener).
    #[arg(
        long,
        env = "SMDP_REST_ON_ES9_LISTENER",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub rest_on_es9_listener: Option<bool>,
    /// Milliseconds a REST-created profile stays `reserving` [default: 500].
    #[arg(long, env = "SMDP_RESERVATION_DELAY_MS")]
    pub reservation_delay_ms: Option<u64>,
    /// Template for REST-created profiles: `minimal[:size]`, `ts48[:variant]` or a file
    /// [default: minimal].
    #[arg(long, env = "SMDP_TEMPLATE")]
    pub template: Option<String>,
    /// REST accounts to have at startup, `AC…:auth-token` (repeatable; comma-separated in
    /// SMDP_ACCOUNTS); more with `smdp account create`.
    #[arg(long = "account", env = "SMDP_ACCOUNTS", value_delimiter = ',')]
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Cents each imported pre-installed profile is charged; 0 charges nothing [default: 300].
    #[arg(long, env = "SMDP_PREINSTALLED_CHARGE_CENTS")]
    pub preinstalled_charge_cents: Option<u32>,
    /// Seconds an OAuth access token from /api-services/v1/auth/token is valid [default: 3600].
    #[arg(long, env = "SMDP_OAUTH_TOKEN_TTL")]
    pub oauth_token_ttl: Option<u64>,
    /// CA certificates (PEM or DER file) trusted for https callback URLs besides Mozilla's
    /// roots, e.g. a test harness's private CA.
    #[arg(long, env = "SMDP_CALLBACK_CA")]
    pub callback_ca: Option<PathBuf>,
    /// Private networks callback URLs may point to (CIDRs or addresses, comma-separated):
    /// by default only loopback and public addresses; link-local, metadata, multicast and
    /// unspecified addresses never.
    #[arg(
        long = "callback-allow",
        env = "SMDP_CALLBACK_ALLOW",
        value_delimiter = ','
    )]
    #[serde(default)]
    pub callback_allow: Vec<String>,
    /// Scripted faults for every order they name (by matching ID or EID), from a TOML file of
    /// `[[fault]]` tables: `fault = "authenticateClient:status=8.2.6/3.8@1"`, optional
    /// `matching_id`, `eid`.
    #[arg(long, env = "SMDP_SCENARIO")]
    pub scenario: Option<PathBuf>,
    /// Hostile mode for fuzzing LPAs: `SEED[:RATE]` (RATE of the ES9+ answers mutated,
    /// structure-aware, each mutation logged with what reproduces it; default 0.5).
    #[arg(long, env = "SMDP_HOSTILE")]
    pub hostile: Option<String>,
    /// Conformance fixture orders to provision and keep replenished: `sgp23` (the shipped
    /// `fixtures/sgp23.toml`) or a fixture file of the same shape.
    #[arg(long, env = "SMDP_FIXTURES")]
    pub fixtures: Option<String>,
    /// Serve ES2+ (the GSMA operator interface, SGP.22 §5.3) on this address, over TLS that
    /// requires a client certificate chaining to --es2-client-ca [default: off].
    #[arg(long, env = "SMDP_ES2_LISTEN")]
    pub es2_listen: Option<SocketAddr>,
    /// Trust anchors for ES2+ client certificates (PEM with one or more certificates, or
    /// DER) [default: the PKI's Operator/CERT_OPERATOR_CA_ECDSA_NIST.der, which
    /// `smdp pki issue-operator` issues under].
    #[arg(long, env = "SMDP_ES2_CLIENT_CA")]
    pub es2_client_ca: Option<PathBuf>,
    /// Admit ES2+ client certificates that have expired (checked as at their last valid
    /// second): for test certificates such as SGP.26's, never in production.
    #[arg(
        long,
        env = "SMDP_ES2_ALLOW_EXPIRED_CLIENT_CERTS",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub es2_allow_expired_client_certs: Option<bool>,
    /// Where each ES2+ function requester receives HandleDownloadProgressInfo:
    /// `REQUESTER=URL` (repeatable; comma-separated in SMDP_ES2_OPERATORS), e.g.
    /// `test.operator.com=https://bss.example.com/gsma/rsp2/es2plus/handleDownloadProgressInfo`.
    /// Delivered from the callback queue, retried like the REST callbacks.
    #[arg(
        long = "es2-operator",
        env = "SMDP_ES2_OPERATORS",
        value_delimiter = ','
    )]
    #[serde(default)]
    pub es2_operators: Vec<String>,
}

impl Settings {
    /// `self` where set, else `other`.
    fn or(self, other: Settings) -> Settings {
        Settings {
            listen: self.listen.or(other.listen),
            address: self.address.or(other.address),
            data: self.data.or(other.data),
            store: self.store.or(other.store),
            pki: self.pki.or(other.pki),
            seed: self.seed.or(other.seed),
            log_format: self.log_format.or(other.log_format),
            session_ttl: self.session_ttl.or(other.session_ttl),
            notification_status: self.notification_status.or(other.notification_status),
            max_sessions: self.max_sessions.or(other.max_sessions),
            matching_id_guesses: self.matching_id_guesses.or(other.matching_id_guesses),
            sqlite_synchronous: self.sqlite_synchronous.or(other.sqlite_synchronous),
            max_connections: self.max_connections.or(other.max_connections),
            max_body: self.max_body.or(other.max_body),
            idle_timeout: self.idle_timeout.or(other.idle_timeout),
            shed_lag_ms: self.shed_lag_ms.or(other.shed_lag_ms),
            rest_listen: self.rest_listen.or(other.rest_listen),
            rest_tls: self.rest_tls.or(other.rest_tls),
            rest_on_es9_listener: self.rest_on_es9_listener.or(other.rest_on_es9_listener),
            reservation_delay_ms: self.reservation_delay_ms.or(other.reservation_delay_ms),
            callback_ca: self.callback_ca.or(other.callback_ca),
            callback_allow: if self.callback_allow.is_empty() {
                other.callback_allow
            } else {
                self.callback_allow
            },
            fixtures: self.fixtures.or(other.fixtures),
            es2_listen: self.es2_listen.or(other.es2_listen),
            es2_operators: if self.es2_operators.is_empty() {
                other.es2_operators
            } else {
                self.es2_operators
            },
            es2_client_ca: self.es2_client_ca.or(other.es2_client_ca),
            es2_allow_expired_client_certs: self
                .es2_allow_expired_client_certs
                .or(other.es2_allow_expired_client_certs),
            hostile: self.hostile.or(other.hostile),
            scenario: self.scenario.or(other.scenario),
            oauth_token_ttl: self.oauth_token_ttl.or(other.oauth_token_ttl),
            preinstalled_charge_cents: self
                .preinstalled_charge_cents
                .or(other.preinstalled_charge_cents),
            template: self.template.or(other.template),
            accounts: if self.accounts.is_empty() {
                other.accounts
            } else {
                self.accounts
            },
        }
    }

    /// Flags and environment over the TOML file (if any).
    pub fn layered(self, file: Option<&Path>) -> Result<Settings> {
        let Some(path) = file else { return Ok(self) };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        let from_file: Settings =
            toml::from_str(&text).with_context(|| format!("config {}", path.display()))?;
        Ok(self.or(from_file))
    }
}

/// Everything resolved, defaults applied.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub address: String,
    pub data: PathBuf,
    /// Where the store is (`data`'s SQLite store unless `--store` says otherwise).
    pub store: crate::StoreLocation,
    pub sqlite_synchronous: smdp_store_sqlite::Synchronous,
    pub pki: PathBuf,
    pub seed: Option<u64>,
    pub json_logs: bool,
    pub policy: Policy,
    pub limits: Limits,
    /// The REST API's own listener; TLS when `rest_tls` (plain HTTP only on loopback).
    pub rest_listen: SocketAddr,
    pub rest_tls: bool,
    /// Also serve REST on the ES9+ listener.
    pub rest_on_es9: bool,
    pub reservation_delay: Duration,
    pub template: smdp_core::template::TemplateSource,
    /// (AccountSid, AuthToken) pairs ensured at startup.
    pub accounts: Vec<(String, String)>,
    /// Extra trust anchors (DER) for https callbacks.
    pub callback_roots: Vec<Vec<u8>>,
    /// Where callbacks may go (`--callback-allow` widens it to private networks).
    pub callback_egress: smdp_operator::egress::EgressPolicy,
    /// How long issued OAuth access tokens are valid.
    pub oauth_token_ttl: Duration,
    /// What each imported pre-installed profile is charged.
    pub preinstalled_charge_cents: u32,
    /// Fixture orders kept provisioned.
    pub fixtures: Option<smdp_core::fixtures::FixtureFile>,
    /// Hostile mode's (seed, rate).
    pub hostile: Option<(u64, f64)>,
    /// Server-wide scripted faults.
    pub scenario: Vec<smdp_core::faults::ScenarioFault>,
    /// The ES2+ listener, if served.
    pub es2: Option<Es2Config>,
    /// HandleDownloadProgressInfo endpoints by function requester.
    pub es2_endpoints: std::collections::HashMap<String, String>,
}

/// The ES2+ listener: where, and whom it admits.
#[derive(Debug, Clone)]
pub struct Es2Config {
    pub listen: SocketAddr,
    /// Trust anchors (DER) client certificates must chain to.
    pub anchors: Vec<Vec<u8>>,
    /// Admit expired client certificates (test certificates).
    pub allow_expired: bool,
}

impl Es2Config {
    /// ES2+ on `listen` for the clients of the PKI's operator CA (`smdp pki issue-operator`).
    pub fn for_pki(listen: SocketAddr, pki: &Path) -> Result<Self> {
        Self::from_file(listen, &pki.join(rsp_auth::operator::CA_CERT), false)
    }

    /// ES2+ on `listen` for the clients of the trust anchors in `file` (PEM or DER).
    pub fn from_file(listen: SocketAddr, file: &Path, allow_expired: bool) -> Result<Self> {
        let bytes = std::fs::read(file).with_context(|| {
            format!(
                "ES2+ client trust anchors {} (make one with `smdp pki generate`, or give \
                 --es2-client-ca)",
                file.display()
            )
        })?;
        let anchors = crate::es2::read_anchors(&bytes)
            .map_err(|e| ServeError(format!("{}: {e}", file.display())))?;
        crate::es2::client_verifier(&anchors, allow_expired).map_err(ServeError)?;
        Ok(Self {
            listen,
            anchors,
            allow_expired,
        })
    }
}

/// A fixture file by name (`sgp23`) or path, parsed and checked.
pub fn load_fixtures(name_or_path: &str) -> Result<smdp_core::fixtures::FixtureFile> {
    let text = match name_or_path {
        "sgp23" => smdp_core::fixtures::SGP23.to_string(),
        path => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
    };
    let file: smdp_core::fixtures::FixtureFile =
        toml::from_str(&text).with_context(|| format!("fixture file {name_or_path}"))?;
    file.check()
        .with_context(|| format!("fixture file {name_or_path}"))?;
    Ok(file)
}

impl Config {
    pub fn from_settings(s: Settings) -> Result<Self> {
        let json_logs = match s.log_format.as_deref().unwrap_or("text") {
            "text" => false,
            "json" => true,
            other => bail!("log format {other:?}: text or json"),
        };
        // Unset settings take the one default of each (Limits::default, Policy::default).
        let (dl, dp) = (Limits::default(), Policy::default());
        let limits = Limits {
            max_body: s.max_body.unwrap_or(dl.max_body),
            max_connections: s.max_connections.unwrap_or(dl.max_connections),
            idle_timeout: s
                .idle_timeout
                .map(Duration::from_secs)
                .unwrap_or(dl.idle_timeout),
            shed_lag: match s.shed_lag_ms {
                None => dl.shed_lag,
                Some(0) => None,
                Some(ms) => Some(Duration::from_millis(ms)),
            },
            ..dl
        };
        let notification_status = match s.notification_status {
            None => dp.notification_status,
            Some(n @ (200 | 204)) => n,
            Some(n) => bail!("--notification-status {n}: 200 or 204"),
        };
        let policy = Policy {
            notification_status,
            session_ttl: s
                .session_ttl
                .map(Duration::from_secs)
                .unwrap_or(dp.session_ttl),
            max_sessions: s.max_sessions.unwrap_or(dp.max_sessions),
            matching_id_guesses: match s.matching_id_guesses.as_deref() {
                None => dp.matching_id_guesses,
                Some("off") => None,
                Some(v) => Some(v.parse().map_err(ServeError)?),
            },
            ..dp
        };
        let data = s.data.unwrap_or_else(smdp_core::orders::default_data_dir);
        let address = s.address.unwrap_or_else(|| "localhost".into());
        if address.is_empty() || address.contains(['$', '/', ' ']) {
            bail!("SM-DP+ address {address:?} is not a host name");
        }
        let template: smdp_core::template::TemplateSource =
            s.template.as_deref().unwrap_or("minimal").parse()?;
        let rest_listen = s
            .rest_listen
            .unwrap_or_else(|| "127.0.0.1:8080".parse().expect("literal"));
        let rest_tls = s.rest_tls.unwrap_or(false);
        if !rest_tls && !rest_listen.ip().is_loopback() {
            bail!(
                "the REST API on {rest_listen} would be plain HTTP off loopback: \
                 add --rest-tls, or listen on 127.0.0.1"
            );
        }
        let mut accounts = Vec::new();
        for a in &s.accounts {
            let (sid, token) = a
                .split_once(':')
                .filter(|(sid, t)| {
                    sid.len() == 34
                        && sid.starts_with("AC")
                        && sid[2..].bytes().all(|c| c.is_ascii_hexdigit())
                        && !t.is_empty()
                })
                .with_context(|| format!("account {a:?}: expected AC<32 hex>:<auth token>"))?;
            accounts.push((sid.to_string(), token.to_string()));
        }
        let callback_roots = match &s.callback_ca {
            Some(path) => smdp_operator::callbacks::load_roots(path)?,
            None => Vec::new(),
        };
        let callback_egress = smdp_operator::egress::EgressPolicy::parse_allow(&s.callback_allow)
            .and_then(smdp_operator::egress::EgressPolicy::new)
            .map_err(|e| ServeError(e.0))?;
        let oauth_token_ttl = Duration::from_secs(s.oauth_token_ttl.unwrap_or(3600));
        if oauth_token_ttl.is_zero() {
            bail!("--oauth-token-ttl must be at least 1 second");
        }
        let fixtures = s.fixtures.as_deref().map(load_fixtures).transpose()?;
        let hostile = s
            .hostile
            .as_deref()
            .map(|h| {
                h.parse::<smdp_core::hostile::Hostile>()
                    .map(|h| (h.seed, h.rate))
                    .map_err(ServeError)
            })
            .transpose()?;
        let scenario = match &s.scenario {
            None => Vec::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<smdp_core::faults::Scenario>(&text)
                    .with_context(|| format!("scenario {}", path.display()))?
                    .faults
            }
        };
        let pki = s.pki.unwrap_or_else(|| PathBuf::from("certs"));
        let es2 = match s.es2_listen {
            None => None,
            Some(listen) => {
                let file = s
                    .es2_client_ca
                    .clone()
                    .unwrap_or_else(|| pki.join(rsp_auth::operator::CA_CERT));
                let allow = s.es2_allow_expired_client_certs.unwrap_or(false);
                Some(Es2Config::from_file(listen, &file, allow)?)
            }
        };
        let mut es2_endpoints = std::collections::HashMap::new();
        for o in &s.es2_operators {
            let Some((id, url)) = o.split_once('=') else {
                bail!("--es2-operator {o:?}: REQUESTER=URL");
            };
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                bail!("--es2-operator {o:?}: the URL must be http(s)://…");
            }
            es2_endpoints.insert(id.trim().to_string(), url.trim().to_string());
        }
        Ok(Self {
            es2,
            es2_endpoints,
            scenario,
            hostile,
            fixtures,
            accounts,
            callback_roots,
            callback_egress,
            oauth_token_ttl,
            preinstalled_charge_cents: s
                .preinstalled_charge_cents
                .unwrap_or(smdp_operator::rest::PROFILE_CHARGE_CENTS as u32),
            rest_listen,
            rest_tls,
            rest_on_es9: s.rest_on_es9_listener.unwrap_or(false),
            reservation_delay: Duration::from_millis(s.reservation_delay_ms.unwrap_or(500)),
            template,
            listen: s
                .listen
                .unwrap_or_else(|| "127.0.0.1:8443".parse().expect("literal")),
            address,
            store: crate::StoreLocation::resolve(s.store.as_deref(), &data)?,
            sqlite_synchronous: match s.sqlite_synchronous.as_deref() {
                None => Default::default(),
                Some(v) => v.parse().map_err(ServeError)?,
            },
            data,
            pki,
            seed: s.seed,
            json_logs,
            policy,
            limits,
        })
    }
}

/// Logs to stderr, filtered by RUST_LOG (default `info`).
pub fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if json {
        b.json().try_init()
    } else {
        b.try_init()
    };
}

/// The DPtls to serve: the PKI's if it is valid now and names `address`; otherwise a fresh one
/// issued under the CI (its key must be in the PKI folder). rustls has no brainpool, so TLS
/// always uses the NIST CI's certificate. Returns (certificate DER, key PEM).
pub fn dptls(
    pki: &Pki,
    address: &str,
    now: SystemTime,
    seed: Option<u64>,
) -> Result<(Vec<u8>, String)> {
    let c = pki
        .by_curve(Curve::NistP256)
        .context("the PKI has no NIST P-256 CI (TLS needs one)")?;
    let fits = |t: &&rsp_auth::generate::Issued| {
        t.cert.valid_at(now).is_ok()
            && (t
                .cert
                .dns_names
                .iter()
                .any(|d| d.eq_ignore_ascii_case(address))
                || address.parse::<std::net::IpAddr>().is_ok())
    };
    if let Some(t) = c.dp_tls.as_ref().filter(fits) {
        return Ok((t.cert.der().to_vec(), t.key.to_sec1_pem()?));
    }
    let mut hosts = vec![address.to_string()];
    for h in ["localhost", "127.0.0.1"] {
        if !hosts.iter().any(|x| x == h) {
            hosts.push(h.into());
        }
    }
    tracing::info!(?hosts, "issuing a fresh DPtls under the CI");
    let fresh = c
        .issue_dptls(
            &hosts,
            now - Duration::from_secs(3600),
            now + Duration::from_secs(365 * 86_400),
            &mut rsp_auth::rng::rng(seed),
        )
        .context("no DPtls valid now for this address, and none can be issued")?;
    Ok((fresh.cert.der().to_vec(), fresh.key.to_sec1_pem()?))
}

/// The rustls configuration (TLS 1.3 and 1.2, aws-lc) around [`dptls`].
pub fn tls_config(
    pki: &Pki,
    address: &str,
    now: SystemTime,
    seed: Option<u64>,
) -> Result<Arc<rustls::ServerConfig>> {
    tls_config_with(pki, address, now, seed, None)
}

/// [`tls_config`], requiring a client certificate that `clients` accepts (ES2+).
pub fn tls_config_with(
    pki: &Pki,
    address: &str,
    now: SystemTime,
    seed: Option<u64>,
    clients: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
) -> Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = dptls(pki, address, now, seed)?;
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).context("DPtls key")?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let builder = match clients {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder.with_single_cert(vec![CertificateDer::from(cert)], key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Resumption for LPAs that reconnect every call (lpac): stateless tickets (keys rotated
    // by rustls, per process), and a session cache for TLS 1.2 clients without tickets.
    cfg.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()?;
    cfg.session_storage = rustls::server::ServerSessionMemoryCache::new(16_384);
    Ok(Arc::new(cfg))
}

/// Builds the SM-DP+ from a config.
pub fn build(
    cfg: &Config,
    store: Arc<dyn Store>,
    clock: Clock,
) -> Result<(Arc<Smdp>, Arc<rustls::ServerConfig>)> {
    let pki = Pki::load(&cfg.pki).with_context(|| format!("PKI {}", cfg.pki.display()))?;
    let tls = tls_config(&pki, split_host_port(&cfg.address).0, clock.now(), cfg.seed)?;
    // Seeded runs sign with RustCrypto (RFC 6979) so that signatures replay too.
    let backend = if cfg.seed.is_some() {
        Backend::RustCrypto
    } else {
        Backend::AwsLc
    };
    // A seeded server replays byte for byte from a fresh store. Each later start on the
    // same store (a restart, or another node) draws another stream, numbered by the store:
    // the same stream again would repeat the transaction IDs of sessions still stored.
    let seed = match cfg.seed {
        Some(seed) => {
            let run = store.next_serial("seeded-run")?;
            Some(seed ^ run.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        }
        None => None,
    };
    let smdp = Smdp::new(
        cfg.address.clone(),
        pki,
        store,
        rsp_auth::rng::rng(seed),
        clock,
        backend,
        cfg.policy.clone(),
    )?;
    let smdp = smdp
        .with_scenario(cfg.scenario.clone())
        .with_es2_endpoints(cfg.es2_endpoints.clone());
    let smdp = match &cfg.hostile {
        Some(h) => {
            tracing::warn!(
                seed = h.0,
                rate = h.1,
                "hostile mode: answers will be mutated"
            );
            smdp.with_hostile(smdp_core::hostile::Hostile::new(h.0, h.1))
        }
        None => smdp,
    };
    Ok((Arc::new(smdp), tls))
}

/// A running SM-DP+: the ES9+ and REST listeners and the reservation worker.
pub struct Running {
    pub smdp: Arc<Smdp>,
    pub operator: Arc<smdp_operator::rest::Operator>,
    /// The ES9+ TLS listener, the REST listener, then the ES2+ one (if served).
    pub handles: Vec<ServerHandle>,
    stop: tokio::sync::watch::Sender<bool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// The TLS listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.handles[0].addr
    }

    /// The REST listener's address.
    pub fn rest_addr(&self) -> SocketAddr {
        self.handles[1].addr
    }

    /// The ES2+ listener's address, if served.
    pub fn es2_addr(&self) -> Option<SocketAddr> {
        self.handles.get(2).map(|h| h.addr)
    }

    /// Stops the worker and the listeners gracefully.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        for h in self.handles {
            h.shutdown(grace).await;
        }
        for w in self.workers {
            let _ = tokio::time::timeout(grace, w).await;
        }
    }
}

pub use smdp_core::address::{smdp_address, split_host_port};

/// This process's name in the leases its workers take: unique per process and start, so two
/// nodes (or a restarted one) never mistake each other's claims.
fn node_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    // Nodes started in one process (tests) are told apart by a counter.
    static STARTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("node-{}-{nanos:x}-{n}", std::process::id())
}

/// Store key of the address the server last served under (`smdp profile add` prints
/// activation codes with it).
pub const ADDRESS_META: &str = "smdp-address";

/// Starts everything for `cfg` on the current tokio runtime, over `store` (any backend).
pub async fn start_with(
    cfg: &Config,
    store: Arc<dyn OperatorStore>,
    clock: Clock,
) -> Result<Running> {
    // Bind first: the SM-DP+ address carries the listener's port.
    let es9_listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    let address = smdp_address(&cfg.address, es9_listener.local_addr()?.port());
    let cfg = &Config {
        address,
        ..cfg.clone()
    };
    smdp_core::store::Store::set_meta(store.as_ref(), ADDRESS_META, &cfg.address)?;
    let (smdp, tls) = build(cfg, store.clone() as Arc<dyn Store>, clock.clone())?;
    for (sid, token) in &cfg.accounts {
        smdp_core::store::OperatorStore::ensure_account(store.as_ref(), sid, token, clock.unix())?;
    }
    let wake = Arc::new(tokio::sync::Notify::new());
    let operator = Arc::new(smdp_operator::rest::Operator {
        smdp: smdp.clone(),
        store,
        wake: {
            let wake = wake.clone();
            Arc::new(move || wake.notify_one())
        },
        template: cfg.template.to_string(),
        max_attempts: 5,
        public_url: None,
        node: node_name(),
        token_ttl: cfg.oauth_token_ttl.as_secs() as i64,
        preinstalled_charge_cents: i64::from(cfg.preinstalled_charge_cents),
        fixtures: cfg.fixtures.clone(),
        egress: cfg.callback_egress.clone(),
    });
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let workers = vec![
        tokio::spawn(smdp_operator::reservation::run(
            operator.clone(),
            smdp_operator::reservation::Settings {
                plan: rsp_saip::NumberPlan::default(),
                shared: rsp_shared::dir(),
                delay: cfg.reservation_delay,
            },
            wake,
            stop_rx.clone(),
        )),
        tokio::spawn(smdp_operator::callbacks::run(
            operator.clone(),
            smdp_operator::callbacks::Client::new(&cfg.callback_roots, operator.egress.clone())?,
            Duration::from_millis(200),
            stop_rx.clone(),
        )),
    ];
    let mut workers = workers;
    if let Some(threshold) = cfg.limits.shed_lag {
        workers.push(tokio::spawn(crate::http::watch_load(
            smdp.clone(),
            threshold,
            stop_rx.clone(),
        )));
    }
    if let Some(file) = cfg.fixtures.clone() {
        // Provisioned before the listeners open, then kept replenished every second.
        let created = smdp_core::fixtures::provision(
            smdp.store.as_ref(),
            &file,
            &rsp_saip::NumberPlan::default(),
            rsp_shared::dir().as_deref(),
            &mut *smdp.rng(),
            clock.unix(),
        )
        .context("provisioning fixtures")?;
        tracing::info!(
            orders = file.orders.len(),
            created = created.len(),
            "fixtures"
        );
        workers.push(tokio::spawn(replenish_fixtures(
            smdp.clone(),
            file,
            stop_rx,
        )));
    }
    // One interface per listener: ES9+ on its TLS listener, the operator API on its own
    // (and on the ES9+ listener only when asked).
    let es9_services = crate::http::Services {
        es9: Some(smdp.clone()),
        rest: cfg.rest_on_es9.then(|| operator.clone()),
        es2: None,
    };
    let rest_services = crate::http::Services {
        rest: Some(operator.clone()),
        ..Default::default()
    };
    let mut handles = vec![crate::http::serve_listener(
        es9_services,
        Some(tls.clone()),
        es9_listener,
        cfg.limits.clone(),
    )?];
    handles.push(
        crate::http::start_services(
            rest_services,
            cfg.rest_tls.then_some(tls),
            cfg.rest_listen,
            cfg.limits.clone(),
        )
        .await
        .with_context(|| format!("listening on {}", cfg.rest_listen))?,
    );
    if let Some(e) = &cfg.es2 {
        let verifier =
            crate::es2::client_verifier(&e.anchors, e.allow_expired).map_err(ServeError)?;
        let pki = Pki::load(&cfg.pki).with_context(|| format!("PKI {}", cfg.pki.display()))?;
        let host = split_host_port(&cfg.address).0;
        let tls = tls_config_with(&pki, host, clock.now(), cfg.seed, Some(verifier))?;
        let es2 = Arc::new(smdp_core::es2::Es2 {
            smdp: smdp.clone(),
            store: operator.store.clone(),
            charge_cents: smdp_operator::rest::PROFILE_CHARGE_CENTS,
        });
        let services = crate::http::Services {
            es2: Some(es2),
            ..Default::default()
        };
        let handle = crate::http::start_services(services, Some(tls), e.listen, cfg.limits.clone())
            .await
            .with_context(|| format!("listening on {} (ES2+)", e.listen))?;
        tracing::info!(addr = %handle.addr, "ES2+ (mutual TLS)");
        handles.push(handle);
    }
    Ok(Running {
        smdp,
        operator,
        handles,
        stop,
        workers,
    })
}

/// Starts everything for `cfg` with its store.
pub async fn start(cfg: &Config, clock: Clock) -> Result<Running> {
    let store = cfg.store.open_with(cfg.sqlite_synchronous)?;
    start_with(cfg, store, clock).await
}

/// Re-creates consumed fixture orders, once a second, until `stop`.
async fn replenish_fixtures(
    smdp: Arc<Smdp>,
    file: smdp_core::fixtures::FixtureFile,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
        let (smdp, file) = (smdp.clone(), file.clone());
        let done = tokio::task::spawn_blocking(move || {
            smdp_core::fixtures::provision(
                smdp.store.as_ref(),
                &file,
                &rsp_saip::NumberPlan::default(),
                rsp_shared::dir().as_deref(),
                &mut *smdp.rng(),
                smdp.clock.unix(),
            )
        })
        .await;
        match done {
            Ok(Ok(created)) if !created.is_empty() => {
                tracing::info!(?created, "fixtures replenished")
            }
            Ok(Err(e)) => tracing::error!(error = %e, "fixtures"),
            _ => {}
        }
    }
}

/// `smdp serve`: runs until Ctrl-C or SIGTERM, then shuts down gracefully.
pub fn run(cfg: Config) -> Result<()> {
    init_logging(cfg.json_logs);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let running = start(&cfg, Clock::System).await?;
        let curves: Vec<String> = running
            .smdp
            .curves()
            .iter()
            .map(|c| c.curve.to_string())
            .collect();
        tracing::info!(
            listen = %running.addr(),
            rest_listen = %running.rest_addr(),
            address = %running.smdp.address,
            store = %cfg.store,
            pki = %cfg.pki.display(),
            ?curves,
            "SM-DP+ serving ES9+ at https://{}/gsma/rsp2/es9plus/",
            running.smdp.address
        );
        shutdown_signal().await;
        tracing::info!("shutting down");
        running.shutdown(Duration::from_secs(10)).await;
        Ok(())
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_and_defaults_fill_the_rest() {
        let dir = std::env::temp_dir().join(format!("smdp-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("smdp.toml");
        std::fs::write(
            &file,
            "address = \"smdp.example.com\"\nlisten = \"0.0.0.0:9443\"\nsession-ttl = 30\n",
        )
        .unwrap();
        let flags = Settings {
            listen: Some("127.0.0.1:1".parse().unwrap()),
            ..Default::default()
        };
        let cfg = Config::from_settings(flags.layered(Some(&file)).unwrap()).unwrap();
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:1", "flag wins");
        assert_eq!(cfg.address, "smdp.example.com", "file fills");
        assert_eq!(cfg.policy.session_ttl, Duration::from_secs(30));
        assert_eq!(cfg.pki, PathBuf::from("certs"), "default");
        std::fs::write(&file, "adress = \"typo\"\n").unwrap();
        let e = Settings::default().layered(Some(&file)).unwrap_err();
        assert!(format!("{e:#}").contains("unknown field"), "{e:#}");
        assert!(Config::from_settings(Settings {
            log_format: Some("xml".into()),
            ..Default::default()
        })
        .is_err());
        // --callback-ca: DER or PEM certificates, refused at startup when unusable.
        let ci = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../certs/CertificateIssuer/CERT_CI_ECDSA_NIST.der");
        let ca = |path: &Path| {
            Config::from_settings(Settings {
                callback_ca: Some(path.to_path_buf()),
                ..Default::default()
            })
        };
        let der = std::fs::read(&ci).unwrap();
        assert_eq!(ca(&ci).unwrap().callback_roots, vec![der.clone()]);
        let pem = dir.join("ca.pem");
        let block = |d: &[u8]| {
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                rsp_asn1::es9::base64_encode(d)
            )
        };
        std::fs::write(&pem, block(&der) + &block(&der)).unwrap();
        assert_eq!(ca(&pem).unwrap().callback_roots.len(), 2);
        for junk in [
            &b""[..],
            b"-----BEGIN NOTHING-----\n",
            b"\x30\x03\x02\x01\x00",
        ] {
            std::fs::write(&pem, junk).unwrap();
            assert!(ca(&pem).is_err(), "{junk:?}");
        }
        assert!(ca(&dir.join("missing.pem")).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn tls_is_issued_fresh_when_the_shipped_dptls_does_not_fit() {
        let pki = Pki::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs")).unwrap();
        let now = SystemTime::now();
        // Our DPtls names localhost: served as shipped.
        let shipped = pki
            .by_curve(Curve::NistP256)
            .unwrap()
            .dp_tls
            .as_ref()
            .unwrap();
        let (der, _) = dptls(&pki, "localhost", now, Some(1)).unwrap();
        assert_eq!(der, shipped.cert.der());
        // Another address, or a time after the shipped one expires: a fresh one under the CI.
        let (der, _) = dptls(&pki, "smdp.example.com", now, Some(1)).unwrap();
        let fresh = rsp_auth::cert::Cert::from_der(&der).unwrap();
        assert!(fresh.dns_names.iter().any(|d| d == "smdp.example.com"));
        assert_eq!(fresh.authority_key_id, shipped.cert.authority_key_id);
        let later = shipped.cert.not_after + Duration::from_secs(86_400);
        let (der, _) = dptls(&pki, "localhost", later, Some(1)).unwrap();
        assert!(rsp_auth::cert::Cert::from_der(&der)
            .unwrap()
            .valid_at(later)
            .is_ok());
        tls_config(&pki, "localhost", now, Some(1)).unwrap();
    }
}
