//! Durable state: download orders (profiles), ES9+ sessions, counters, notifications.
//!
//! [`Store`] is a trait so another backend (PostgreSQL for several nodes) can stand in; the
//! default is SQLite in WAL mode in the data folder. Every state change that decides who gets a
//! profile is a single compare-and-set statement, so two sessions racing for one profile cannot
//! both win, whatever the interleaving, across threads, processes or restarts.

pub use crate::order_options::OrderOptions;
pub use rsp_asn1::ids::Eid;
pub use rsp_asn1::TransactionId;

#[cfg(feature = "testing")]
pub mod testing;

/// Why the store failed (I/O, a constraint, a corrupt row).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (SQL error, I/O).
    #[error("store: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store cannot be reached now (a database server down or restarting); nothing was
    /// written, and a later call may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store: {0}")]
    Invalid(String),
    #[error("store: {what} {value:?} is already taken")]
    Duplicate { what: &'static str, value: String },
    /// Rows of a batch the store refuses, each with its reason (nothing was written).
    #[error("{}", .0.iter().map(|(r, m)| format!("row {r}: {m}")).collect::<Vec<_>>().join("; "))]
    Rows(Vec<(usize, String)>),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A profile's life, as the operator sees it (the Super SIM ESimProfile statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileStatus {
    New,
    Reserving,
    /// Released: downloadable.
    Available,
    /// A BPP was issued for one eUICC.
    Downloaded,
    Installed,
    Failed,
}

impl ProfileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Reserving => "reserving",
            Self::Available => "available",
            Self::Downloaded => "downloaded",
            Self::Installed => "installed",
            Self::Failed => "failed",
        }
    }

    /// Installed or failed: the order takes no more ES9+ steps, and its BPP is never built
    /// again, so the store erases otSK.DP with the status change.
    pub fn is_closed(self) -> bool {
        matches!(self, Self::Installed | Self::Failed)
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new" => Self::New,
            "reserving" => Self::Reserving,
            "available" => Self::Available,
            "downloaded" => Self::Downloaded,
            "installed" => Self::Installed,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// Status enums print as their stored names.
macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

display_as_str!(ProfileStatus, SessionState, CallbackState, SimStatus);

/// A download order: one personalised profile, for one EID and/or one matching ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub status: ProfileStatus,
    /// The EID the order is for (set at creation, or at binding for a matching-ID order).
    pub eid: Option<Eid>,
    pub matching_id: Option<String>,
    pub confirmation_code: Option<String>,
    pub iccid: Option<String>,
    pub imsi: Option<String>,
    pub template: String,
    pub service_provider_name: String,
    pub profile_name: String,
    /// Unix seconds after which the order can no longer be downloaded.
    pub expires_at: Option<i64>,
    pub max_attempts: i64,
    /// BPPs issued for new bindings so far.
    pub attempts: i64,
    pub bound_txid: Option<TransactionId>,
    /// otPK.EUICC of the current binding (65 bytes).
    pub bound_otpk: Option<Vec<u8>>,
    /// otSK.DP of the current binding: a retry with the same otPK.EUICC reuses it.
    pub bound_otsk: Option<Vec<u8>>,
    /// smdpSign (r‖s) of the BPP issued to `bound_txid`: with the kept keys it rebuilds that
    /// BPP byte for byte for a resend in the same session, so the BPP itself is not stored.
    pub bound_smdp_sign: Option<Vec<u8>>,
    /// CERT.EUICC of the binding, to verify the install notification after the session ends.
    pub euicc_cert: Option<Vec<u8>>,
    pub error_code: Option<i64>,
    pub error_message: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Operator callback for status changes (REST API), and its method (`GET`/`POST`).
    pub callback_url: Option<String>,
    pub callback_method: Option<String>,
    /// The Sim resource created by the reservation (`HS…`).
    pub sim_sid: Option<String>,
    /// Released for download (SGP.22 ES2+ ReleaseProfile); until then ES9+ answers 8.2/1.2.
    pub released: bool,
    /// Metadata, eligibility and policies of the order.
    pub options: OrderOptions,
    /// PPK-ENC ‖ PPK-MAC ‖ initial MCV (48 bytes) of a pre-protected order.
    pub ppk: Option<Vec<u8>>,
    /// The ES2+ profile type of an inventory profile (`smdp inventory add`).
    pub profile_type: Option<String>,
    /// The ES2+ function requester that ordered it (from its client certificate).
    pub requester: Option<String>,
    /// The ES2+ state where the status does not say it: in the inventory, ordered, confirmed
    /// (not released) or cancelled as unavailable; `None` once released (and for REST
    /// orders), where the status says it. See [`Profile::es2_state`].
    pub es2_mark: Option<crate::es2::State>,
}

impl Profile {
    /// The profile's ES2+ state (SGP.22 §5.3): one model, of which the REST status is the
    /// other view.
    pub fn es2_state(&self) -> crate::es2::State {
        self.es2_mark.unwrap_or_else(|| {
            crate::es2::State::of_rest(self.status, self.released, self.eid.is_some())
        })
    }

    /// In the inventory, not ordered: no ESimProfile resource shows it.
    pub fn in_inventory(&self) -> bool {
        self.es2_mark == Some(crate::es2::State::Available)
    }

    /// The profile as ES2+ functions see it (`None` without an ICCID: nothing to address).
    pub fn es2_view(&self) -> Option<crate::es2::Es2Profile> {
        Some(crate::es2::Es2Profile {
            iccid: self.iccid.clone()?,
            profile_type: self
                .profile_type
                .clone()
                .unwrap_or_else(|| self.template.clone()),
            state: self.es2_state(),
            requester: self.requester.clone(),
            eid: self.eid,
            matching_id: self.matching_id.clone(),
            confirmation_code: self.confirmation_code.clone(),
        })
    }

    /// A binding kept for `eid`: a BPP was issued to it and not installed, so a retry with the
    /// same otPK.EUICC gets the same otPK.DP (SGP.22 3.1.3).
    pub fn kept_binding_for(&self, eid: &Eid) -> bool {
        self.bound_otpk.is_some()
            && self.eid.as_ref() == Some(eid)
            && matches!(
                self.status,
                ProfileStatus::Available | ProfileStatus::Downloaded
            )
    }
}

/// What a new order holds.
#[derive(Debug, Clone, Default)]
pub struct NewProfile {
    pub sid: String,
    pub account_sid: String,
    pub status: Option<ProfileStatus>,
    pub eid: Option<Eid>,
    pub matching_id: Option<String>,
    pub confirmation_code: Option<String>,
    pub iccid: Option<String>,
    pub imsi: Option<String>,
    pub template: String,
    /// The personalised profile package (SAIP DER).
    pub package: Option<Vec<u8>>,
    pub service_provider_name: String,
    pub profile_name: String,
    pub expires_at: Option<i64>,
    pub max_attempts: i64,
    pub callback_url: Option<String>,
    pub callback_method: Option<String>,
    pub sim_sid: Option<String>,
    /// Held until released (`smdp profile release`, REST `…/Release`).
    pub unreleased: bool,
    pub options: OrderOptions,
    pub ppk: Option<Vec<u8>>,
    /// An inventory profile's ES2+ profile type (with `es2_mark` Available).
    pub profile_type: Option<String>,
    pub es2_mark: Option<crate::es2::State>,
}

/// An ES2+ function's decision, applied by [`OperatorStore::es2_apply`] as one
/// compare-and-set on the state it was made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Es2Change {
    /// DownloadOrder: Available → Allocated (no EID) or Linked. The order's Sim is created
    /// and the order charged once (a profile cancelled back to the inventory and ordered
    /// again is not charged twice).
    Order {
        requester: String,
        eid: Option<Eid>,
        charge_cents: i64,
    },
    /// ConfirmOrder: Allocated/Linked → Confirmed, or Released with `release`. A matching ID
    /// another order holds is [`StoreError::Duplicate`].
    Confirm {
        eid: Option<Eid>,
        matching_id: String,
        confirmation_code: Option<String>,
        release: bool,
    },
    /// ReleaseProfile: Confirmed → Released.
    Release,
    /// CancelOrder: back to the inventory (its order data and Sim gone) or Unavailable.
    Cancel { back_to_inventory: bool },
}

/// How many profiles of one type are in one ES2+ state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryCount {
    pub profile_type: String,
    pub state: crate::es2::State,
    pub count: i64,
}

/// Folds a backend's raw count rows (type, mark or status, released, has an EID, count) into
/// counts by ES2+ state, in type then state order.
pub fn inventory_counts(
    rows: Vec<(String, String, bool, bool, i64)>,
) -> Result<Vec<InventoryCount>> {
    let mut out: Vec<InventoryCount> = Vec::new();
    for (profile_type, raw, released, eid, count) in rows {
        let state = crate::es2::State::of_row(&raw, released, eid)
            .ok_or_else(|| StoreError::Invalid(format!("corrupt row: ES2+ state {raw:?}")))?;
        match out
            .iter_mut()
            .find(|c| c.profile_type == profile_type && c.state == state)
        {
            Some(c) => c.count += count,
            None => out.push(InventoryCount {
                profile_type,
                state,
                count,
            }),
        }
    }
    out.sort_by_key(|c| {
        let rank = crate::es2::State::ALL.iter().position(|s| *s == c.state);
        (c.profile_type.clone(), rank)
    });
    Ok(out)
}

/// Where an ES9+ session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// After initiateAuthentication.
    Initiated,
    /// After authenticateClient: the eUICC is known and a profile chosen.
    Authenticated,
    /// After getBoundProfilePackage in stores written before 2026-12-02; sessions now stay
    /// `Authenticated` (the profile's `bound_txid` says a BPP was issued).
    Bound,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initiated => "initiated",
            Self::Authenticated => "authenticated",
            Self::Bound => "bound",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "initiated" => Self::Initiated,
            "authenticated" => Self::Authenticated,
            "bound" => Self::Bound,
            _ => return None,
        })
    }
}

/// One ES9+ session, keyed by its transaction ID (upper-case hex), persisted so that no state
/// lives only in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub txid: TransactionId,
    pub state: SessionState,
    pub created_at: i64,
    pub expires_at: i64,
    pub euicc_challenge: Vec<u8>,
    pub server_challenge: Vec<u8>,
    /// The CI PKID chosen in initiateAuthentication.
    pub ci_pkid: Vec<u8>,
    pub eid: Option<Eid>,
    pub euicc_cert: Option<Vec<u8>>,
    pub profile_id: Option<i64>,
    /// Raw r‖s of smdpSignature2 (the eUICC signs over its TLV).
    pub smdp_signature2: Option<Vec<u8>>,
    /// The StoreMetadataRequest bytes sent in authenticateClient; the BPP carries the same.
    pub metadata: Option<Vec<u8>>,
    /// The session's number in its server run (1, 2, …; a scenario fault can be keyed by
    /// it); 0 for sessions of a store written before numbers were kept.
    pub number: i64,
}

/// What a binding replaces: the profile as the caller read it. [`Store::bind`] succeeds only
/// if the profile is still in exactly this state, so of two sessions that read the same state
/// one wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindFrom {
    pub status: ProfileStatus,
    pub bound_txid: Option<TransactionId>,
    /// A new binding (new otPK.DP) counts as a download attempt; a retry with the kept keys
    /// does not.
    pub new_binding: bool,
}

/// A binding: the BPP issued to one eUICC.
#[derive(Debug, Clone)]
pub struct Binding {
    pub eid: Eid,
    pub txid: TransactionId,
    pub otpk: Vec<u8>,
    pub otsk: Vec<u8>,
    /// smdpSign of the BPP issued (see [`Profile::bound_smdp_sign`]).
    pub smdp_sign: Vec<u8>,
    pub euicc_cert: Vec<u8>,
}

/// A notification other than the install result (enable, disable, delete), as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    pub eid: Eid,
    pub iccid: Option<String>,
    pub operation: String,
    pub seq_number: i64,
    pub received_at: i64,
    /// The order it is about: the profile with this ICCID on this EID, found by the store
    /// when it records the notification (ignored on insert).
    pub profile_sid: Option<String>,
}

/// A scripted fault that fired ([`crate::faults`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredFault {
    pub profile_id: i64,
    /// The session it fired in, and that session's number.
    pub txid: Option<TransactionId>,
    pub session: Option<i64>,
    pub function: String,
    /// Which call of the function for this order (1-based).
    pub attempt: u32,
    /// The fault in its text form.
    pub fault: String,
    pub fired_at: i64,
}

/// The operations the server needs; every method is one transaction.
pub trait Store: Send + Sync {
    fn insert_profile(&self, p: &NewProfile, now: i64) -> Result<Profile>;
    fn profile(&self, id: i64) -> Result<Option<Profile>>;
    fn profile_by_matching_id(&self, matching_id: &str) -> Result<Option<Profile>>;
    /// The order for this EID in the default SM-DP+ use case: one already downloaded to it
    /// first (so that a retry finishes that binding), else the oldest downloadable one.
    fn profile_for_eid(&self, eid: &Eid) -> Result<Option<Profile>>;
    fn profile_by_bound_txid(&self, txid: &TransactionId) -> Result<Option<Profile>>;
    /// The order any BPP with this transaction ID was issued for (current or superseded
    /// binding): a late install notification must still find it.
    fn profile_by_binding_txid(&self, txid: &TransactionId) -> Result<Option<Profile>>;
    /// The personalised profile package of an order.
    fn package(&self, id: i64) -> Result<Option<Vec<u8>>>;
    /// The package's length and at most its first `max` bytes (its ProfileHeader), without
    /// reading the rest: eligibility needs no more.
    fn package_head(&self, id: i64, max: usize) -> Result<Option<(usize, Vec<u8>)>>;
    fn profiles(&self) -> Result<Vec<Profile>>;
    /// At most `limit` profiles with ids above `after`, in id order: a page, for tools that
    /// walk every profile without holding them all.
    fn profiles_after(&self, after: i64, limit: usize) -> Result<Vec<Profile>>;
    /// The profile with this sid, whatever its account.
    fn profile_with_sid(&self, sid: &str) -> Result<Option<Profile>>;
    /// The profile with this ICCID (digits, no F padding), ordered or in the inventory.
    fn profile_by_iccid(&self, iccid: &str) -> Result<Option<Profile>>;
    /// The orders that stand for a conformance fixture (an index, not a scan: the
    /// replenisher asks every second).
    fn fixture_profiles(&self) -> Result<Vec<Profile>>;
    /// Binds the order to one eUICC (`downloaded`, the BPP kept) if it is still as `from`
    /// says (compare-and-set: of concurrent callers that read the same state, exactly one
    /// wins), the EID matches or is unset, the order has not expired and, for a new binding,
    /// attempts are left. Records the transaction ID in the binding history.
    fn bind(&self, id: i64, b: &Binding, from: &BindFrom, now: i64) -> Result<bool>;
    /// Moves a profile from one of `from` to `to` (compare-and-set), recording an error.
    fn set_status(
        &self,
        id: i64,
        from: &[ProfileStatus],
        to: ProfileStatus,
        error: Option<(i64, &str)>,
        now: i64,
    ) -> Result<bool>;
    /// [`Store::set_status`] and the deletion of the session `txid` in one transaction: the
    /// install result ends its session (one commit per download fewer).
    fn set_status_ending_session(
        &self,
        txid: &TransactionId,
        id: i64,
        from: &[ProfileStatus],
        to: ProfileStatus,
        error: Option<(i64, &str)>,
        now: i64,
    ) -> Result<bool>;
    /// A session ended with postponed/timeout: `downloaded` → `available` if `txid` still holds
    /// the binding. The binding (EID, otPK.EUICC, otSK.DP) is kept for a retry.
    fn unbind_session(&self, id: i64, txid: &TransactionId, now: i64) -> Result<bool>;
    /// Releases a held order (ES2+ ReleaseProfile): true if it was held.
    fn release_order(&self, id: i64, now: i64) -> Result<bool>;
    /// A small settings table (e.g. the address the server last served under).
    fn meta(&self, key: &str) -> Result<Option<String>>;
    fn set_meta(&self, key: &str, value: &str) -> Result<()>;
    /// The next value of a named counter (number plans), from 0.
    fn next_serial(&self, name: &str) -> Result<u64>;

    fn insert_session(&self, s: &Session) -> Result<()>;
    /// A session that has not expired at `now`.
    fn session(&self, txid: &TransactionId, now: i64) -> Result<Option<Session>>;
    /// Writes `s` if the stored session is still in `expected` state (no replays).
    fn update_session(&self, s: &Session, expected: SessionState) -> Result<bool>;
    fn delete_session(&self, txid: &TransactionId) -> Result<bool>;
    /// Sessions alive at `now`; expired ones are purged on the way.
    fn active_sessions(&self, now: i64) -> Result<u64>;

    /// Queues an ES2+ HandleDownloadProgressInfo (`body`, JSON) for profile `id` to `url`, on
    /// the callback queue: durable, retried and delivered in order with the profile's other
    /// callbacks.
    fn queue_es2_progress(&self, id: i64, url: &str, body: &str, now: i64) -> Result<()>;
    /// Records an enable/disable/delete notification against the profile with its ICCID on
    /// its EID (if any). False, and nothing recorded, when this eUICC's notification with this
    /// seqNumber was recorded already (a replay: seqNumbers are eUICC-global, SGP.22 5.7.20).
    fn record_notification(&self, n: &NotificationRecord) -> Result<bool>;
    fn notifications(&self) -> Result<Vec<NotificationRecord>>;
    /// The notifications recorded against one profile, oldest first.
    fn notifications_for(&self, profile_id: i64) -> Result<Vec<NotificationRecord>>;

    /// Frees the order's matching ID (a consumed fixture hands it to its replacement): the
    /// order keeps everything else. False if no such order.
    fn retire_matching_id(&self, id: i64, now: i64) -> Result<bool>;
    /// Replaces the order's fault plan (its other options unchanged); false if no such order.
    /// Counts one wrong confirmation code against order `id` and returns its count so far.
    /// The count is the order's, not a session's: a new session per guess, or a restart,
    /// does not reset it.
    fn record_cc_failure(&self, id: i64, now: i64) -> Result<i64>;
    fn set_faults(&self, id: i64, faults: &[crate::faults::Fault]) -> Result<bool>;
    fn record_fault(&self, f: &FiredFault) -> Result<()>;
    /// The faults that fired for one profile, oldest first.
    fn faults_fired(&self, profile_id: i64) -> Result<Vec<FiredFault>>;
    /// Whether a scripted fault fired in this session.
    fn fault_fired_in(&self, txid: &TransactionId) -> Result<bool>;
}

// ------------------------------------------------------------------ the operator side

/// Credentials from an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `AC…:auth token` or `SK…:secret`.
    Basic { user: String, password: String },
    /// A bearer token (KORE style).
    Bearer(String),
}

/// Where a page starts: after or before a row id (opaque page tokens carry these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    Start,
    After(i64),
    Before(i64),
}

/// ESimProfile list filters.
#[derive(Debug, Clone, Default)]
pub struct ProfileFilter {
    pub eid: Option<Eid>,
    pub sim_sid: Option<String>,
    pub status: Option<ProfileStatus>,
}

/// A Sim resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sim {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub unique_name: Option<String>,
    pub iccid: String,
    /// `scheduled` while a status change completes (see [`OperatorStore::complete_sim_updates`]).
    pub status: SimStatus,
    /// The status a `scheduled` Sim moves to.
    pub target_status: Option<SimStatus>,
    pub fleet_sid: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Sim list filters.
#[derive(Debug, Clone, Default)]
pub struct SimFilter {
    pub status: Option<SimStatus>,
    pub iccid: Option<String>,
    pub fleet_sid: Option<String>,
}

/// A Super SIM `NetworkAccessProfile`: which networks a Fleet's SIMs may use. The simulator
/// keeps its identity only (no network is simulated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAccessProfile {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub unique_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A Super SIM `Fleet`: settings shared by the Sims assigned to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub unique_name: Option<String>,
    pub data_enabled: bool,
    /// Megabytes per Sim per billing period, 1..=2,000,000.
    pub data_limit: i64,
    pub network_access_profile_sid: String,
    pub ip_commands_url: Option<String>,
    pub ip_commands_method: String,
    pub sms_commands_enabled: bool,
    pub sms_commands_url: Option<String>,
    pub sms_commands_method: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What [`OperatorStore::update_fleet`] may change (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct FleetUpdate {
    pub unique_name: Option<String>,
    pub network_access_profile_sid: Option<String>,
    pub data_limit: Option<i64>,
    pub ip_commands_url: Option<String>,
    pub ip_commands_method: Option<String>,
    pub sms_commands_url: Option<String>,
    pub sms_commands_method: Option<String>,
}

/// An asynchronous Sim status change: the Sim is `scheduled` until it completes, then
/// `callback_url` (if any) is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledStatus {
    pub status: SimStatus,
    pub callback_url: Option<String>,
    pub callback_method: String,
}

/// The MILENAGE settings an account's new profiles get (3GPP TS 35.206): OPc is derived from
/// OP and each Ki when OP is set (random otherwise); AMF is what the core network uses.
pub use rsp_saip::milenage::MilenageConfig as Milenage;

/// One line of an account's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub account_sid: String,
    pub profile_sid: String,
    pub amount_cents: i64,
    pub currency: String,
    pub description: String,
    pub created_at: i64,
}

/// What the reservation worker allocated for a profile.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub iccid: String,
    pub imsi: String,
    pub package: Vec<u8>,
    pub sim_sid: String,
    pub charge_cents: i64,
    /// PPK-ENC ‖ PPK-MAC ‖ initial MCV for a pre-protected order.
    pub ppk: Option<Vec<u8>>,
}

/// What [`OperatorStore::update_sim`] may change (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct SimUpdate {
    pub unique_name: Option<String>,
    pub fleet_sid: Option<String>,
    /// A status change, completed later by [`OperatorStore::complete_sim_updates`].
    pub schedule: Option<ScheduledStatus>,
}

/// What a queued callback is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackSubject {
    /// An ESimProfile status change (the profile fields of the record).
    ESimProfile,
    /// A Sim's asynchronous update finished: its status then, name and fleet.
    Sim {
        status: SimStatus,
        unique_name: Option<String>,
        fleet_sid: Option<String>,
    },
    /// An ES2+ HandleDownloadProgressInfo to the operator that ordered the profile (SGP.22
    /// §5.3.5): this JSON body, POSTed, 204 expected.
    Es2Progress { body: String },
}

/// Where a status callback's delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackState {
    Pending,
    Delivered,
    /// Given up after the last attempt.
    Failed,
}

impl CallbackState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// A Super SIM `Sim` resource's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimStatus {
    New,
    Ready,
    Active,
    Inactive,
    Scheduled,
}

impl SimStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Ready => "ready",
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Scheduled => "scheduled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new" => Self::New,
            "ready" => Self::Ready,
            "active" => Self::Active,
            "inactive" => Self::Inactive,
            "scheduled" => Self::Scheduled,
            _ => return None,
        })
    }
}

/// One status callback: what it carries and how its delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRecord {
    pub id: i64,
    /// Callbacks of one profile (and of its Sim) are delivered in order.
    pub profile_id: i64,
    pub subject: CallbackSubject,
    pub url: String,
    pub method: String,
    pub esim_profile_sid: String,
    pub account_sid: String,
    pub profile_status: ProfileStatus,
    pub sim_sid: Option<String>,
    pub iccid: Option<String>,
    pub eid: Option<Eid>,
    pub error_code: Option<i64>,
    pub error_message: Option<String>,
    pub state: CallbackState,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_http_status: Option<i64>,
    pub last_error: Option<String>,
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered {
        http_status: u16,
    },
    /// Retry at `next_at`, or give up when `next_at` is `None`.
    Failed {
        http_status: Option<u16>,
        error: String,
        next_at: Option<i64>,
    },
}

/// An OAuth2 access token as issued (client credentials grant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub account_sid: String,
    pub client_id: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// A pre-installed profile to record, with the sids the caller drew for it.
#[derive(Debug, Clone)]
pub struct NewPreinstalled {
    pub sid: String,
    pub sim_sid: String,
    pub profile: crate::import::PreinstalledProfile,
}

/// A worker's claim on a piece of work: who holds it and until when (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until: i64,
}

/// The operator API's storage, over the same backend as [`Store`].
pub trait OperatorStore: Store {
    fn create_account(
        &self,
        sid: &str,
        auth_token: &str,
        friendly_name: &str,
        now: i64,
    ) -> Result<()>;
    fn add_api_key(&self, sid: &str, secret: &str, account_sid: &str) -> Result<()>;
    /// Creates the account, or sets its auth token if it exists (configured accounts).
    fn ensure_account(&self, sid: &str, auth_token: &str, now: i64) -> Result<()>;
    fn add_bearer_token(&self, token: &str, account_sid: &str) -> Result<()>;
    /// An OAuth2 client (KORE-style client credentials) of the account.
    fn add_oauth_client(&self, client_id: &str, secret: &str, account_sid: &str) -> Result<()>;
    /// The account of an OAuth2 client whose secret matches.
    fn oauth_client(&self, client_id: &str, secret: &str) -> Result<Option<String>>;
    /// Records an access token issued to a client, valid until `expires_at`.
    fn issue_oauth_token(&self, t: &IssuedToken) -> Result<()>;
    /// Revokes an issued access token (RFC 7009): true if it existed.
    fn revoke_oauth_token(&self, token: &str) -> Result<bool>;
    /// The account these credentials belong to, if they are valid at `now` (an issued OAuth
    /// token that expired or was revoked is not).
    fn authenticate(&self, c: &Credential, now: i64) -> Result<Option<String>>;
    fn accounts(&self) -> Result<Vec<(String, String)>>;

    fn profile_by_sid(&self, account_sid: &str, sid: &str) -> Result<Option<Profile>>;
    /// Up to `limit` profiles of the account in id order from the cursor (ascending; for
    /// `Before`, the `limit` just before it, still returned ascending).
    fn list_profiles(
        &self,
        account_sid: &str,
        f: &ProfileFilter,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Vec<Profile>>;
    /// Whether the account has a matching profile beyond `id` in the given direction.
    fn profiles_beyond(&self, account_sid: &str, f: &ProfileFilter, cursor: Cursor)
        -> Result<bool>;
    /// Claims up to `limit` orders that wait for the reservation worker (`new`, or
    /// `reserving` without numbers: a worker stopped halfway), oldest first, whose lease is
    /// free or expired at `now`: each is leased to `lease.owner` until `lease.until`. MUST be
    /// one atomic step: of concurrent claimers (threads, processes, nodes) each order goes to
    /// one, so each is reserved once whichever workers run; a claimer that dies gives its
    /// orders back when the lease expires.
    fn claim_reservations(&self, lease: &Lease, now: i64, limit: usize) -> Result<Vec<Profile>>;
    /// `reserving` → `available` (or held `reserving` when not released) with the numbers,
    /// package, Sim and charge, in one transaction, if `owner` still holds the lease; else
    /// nothing changes and the answer is false.
    fn complete_reservation(&self, id: i64, r: &Reservation, owner: &str, now: i64)
        -> Result<bool>;

    fn sim(&self, account_sid: &str, sid_or_unique_name: &str) -> Result<Option<Sim>>;
    fn list_sims(
        &self,
        account_sid: &str,
        f: &SimFilter,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Vec<Sim>>;
    fn sims_beyond(&self, account_sid: &str, f: &SimFilter, cursor: Cursor) -> Result<bool>;
    /// Applies the update in one statement. With a `schedule`, the Sim becomes `scheduled`
    /// only if it is not already (a compare-and-set): false, and nothing changed, if it is.
    /// A unique name in use is [`StoreError::Duplicate`].
    fn update_sim(&self, id: i64, u: &SimUpdate, now: i64) -> Result<bool>;
    /// Completes every `scheduled` Sim (status := its target) and queues its callback in the
    /// same transaction; the Sims completed. Atomic: each change completes once, whichever
    /// nodes call it.
    fn complete_sim_updates(&self, now: i64) -> Result<Vec<Sim>>;

    fn insert_network_access_profile(
        &self,
        sid: &str,
        account_sid: &str,
        unique_name: Option<&str>,
        now: i64,
    ) -> Result<NetworkAccessProfile>;
    fn network_access_profile(
        &self,
        account_sid: &str,
        sid_or_unique_name: &str,
    ) -> Result<Option<NetworkAccessProfile>>;
    fn list_network_access_profiles(
        &self,
        account_sid: &str,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Vec<NetworkAccessProfile>>;
    fn network_access_profiles_beyond(&self, account_sid: &str, cursor: Cursor) -> Result<bool>;

    /// A unique name in use is [`StoreError::Duplicate`].
    fn insert_fleet(&self, f: &Fleet) -> Result<Fleet>;
    fn fleet(&self, account_sid: &str, sid_or_unique_name: &str) -> Result<Option<Fleet>>;
    /// The account's fleets, optionally only those on one network access profile (sid).
    fn list_fleets(
        &self,
        account_sid: &str,
        nap_sid: Option<&str>,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Vec<Fleet>>;
    fn fleets_beyond(
        &self,
        account_sid: &str,
        nap_sid: Option<&str>,
        cursor: Cursor,
    ) -> Result<bool>;
    /// A unique name in use is [`StoreError::Duplicate`].
    fn update_fleet(&self, id: i64, u: &FleetUpdate, now: i64) -> Result<()>;

    /// The account's MILENAGE settings (the defaults until set).
    fn milenage(&self, account_sid: &str) -> Result<Milenage>;
    fn set_milenage(&self, account_sid: &str, m: &Milenage) -> Result<()>;
    /// Ki and OPc recorded for a pre-installed profile (reserved ones keep them in the package).
    fn preinstalled_keys(&self, profile_id: i64) -> Result<Option<([u8; 16], [u8; 16])>>;

    fn charges(&self, account_sid: &str) -> Result<Vec<Charge>>;

    /// Records a batch of pre-installed profiles (`installed`, each with its Sim and, when
    /// `charge_cents > 0`, its charge) in one transaction: all or nothing. A row whose ICCID is
    /// already this account's installed profile for the same EID and IMSI is left as it is
    /// (so a re-run changes nothing) and answered `false`; an ICCID or Sim unique name in use
    /// otherwise refuses the whole batch with [`StoreError::Rows`] naming every such row.
    fn import_preinstalled(
        &self,
        account_sid: &str,
        rows: &[NewPreinstalled],
        charge_cents: i64,
        now: i64,
    ) -> Result<Vec<bool>>;

    /// The oldest inventory profile of this type that nobody has ordered.
    fn inventory_pick(&self, profile_type: &str) -> Result<Option<Profile>>;
    /// Inventory profiles (those with a profile type) counted by type and ES2+ state: of
    /// one account, or of all.
    fn inventory_counts(&self, account_sid: Option<&str>) -> Result<Vec<InventoryCount>>;
    /// Applies an ES2+ decision to profile `id` if it is still in `from` (compare-and-set:
    /// of concurrent callers that read the same state, exactly one wins); false, and nothing
    /// changed, otherwise. `from` is one of Available, Allocated, Linked, Confirmed,
    /// Released (the states ES2+ functions act on).
    fn es2_apply(
        &self,
        id: i64,
        from: crate::es2::State,
        change: &Es2Change,
        now: i64,
    ) -> Result<bool>;

    /// Claims pending callbacks due at `now`, only the oldest pending one of each profile
    /// (in-order delivery) and only while its lease is free or expired, each leased to
    /// `lease.owner`; with the account's auth token (the signing key). MUST be atomic like
    /// [`OperatorStore::claim_reservations`]: each callback is delivered by one worker at a
    /// time, in order per profile, whichever nodes run.
    fn claim_due_callbacks(
        &self,
        lease: &Lease,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(CallbackRecord, crate::credentials::HmacSha1Key)>>;
    /// Records a delivery attempt and frees the lease, if `owner` still holds it (else false,
    /// nothing recorded: another worker took it over).
    fn record_attempt(&self, id: i64, a: &Attempt, owner: &str, now: i64) -> Result<bool>;
    fn callbacks_for(&self, account_sid: &str, profile_sid: &str) -> Result<Vec<CallbackRecord>>;
}

// ------------------------------------------------------------------ maintenance

/// What `smdp store check` found in a store.
#[derive(Debug, Clone, Default)]
pub struct StoreReport {
    /// `sqlite:FOLDER` or the PostgreSQL URL (password hidden).
    pub store: String,
    pub schema_version: i64,
    /// Row counts: tables, and orders and callbacks by state.
    pub counts: Vec<(String, i64)>,
    /// Broken invariants (empty: the store is sound).
    pub problems: Vec<String>,
}

/// A column value in a backend-neutral form (for `smdp store copy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// A store whose rows can be read table by table (the source of `smdp store copy`).
pub trait TableSource {
    /// Calls `row` with each row of `table`'s `columns`, in row-id order.
    fn scan(
        &self,
        table: &str,
        columns: &[String],
        row: &mut dyn FnMut(Vec<Value>) -> Result<()>,
    ) -> Result<()>;
}
