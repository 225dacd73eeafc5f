//! The five ES9+ functions, following the digest's server-side checklist (§1.5) step by step.
//!
//! Handlers take the parsed JSON request and return the JSON response or a [`Failure`] row of
//! the error table; they do no HTTP. All state is in the [`Store`]; randomness comes from the
//! one seeded-or-not RNG and time from the [`Clock`], so a seeded run replays byte for byte.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rsp_asn1::auth::{
    AuthenticateServerResponse, CtxParams1, DeviceInfo, EUICCInfo1, EUICCInfo2, ServerSigned1,
};
use rsp_asn1::bits::NamedBits;
use rsp_asn1::download::{
    BoundProfilePackage, ConfigureISDPRequest, IconType, NotificationConfigurationInformation,
    OperatorId, PrepareDownloadResponse, ProfileClass, SmdpSigned2, StoreMetadataRequest,
};
use rsp_asn1::es9::{
    AuthenticateClientRequest, AuthenticateClientResponse, CancelSessionRequest,
    CancelSessionResponseBody, Der, GetBoundProfilePackageRequest, GetBoundProfilePackageResponse,
    HandleNotificationRequest, InitiateAuthenticationRequest, InitiateAuthenticationResponse,
    ResponseHeader,
};
use rsp_asn1::ids::Iccid;
use rsp_asn1::notification::{
    CancelSessionReason, CancelSessionResponse, FinalResult, PendingNotification,
};
use rsp_asn1::raw::Signed;
use rsp_asn1::{ObjectIdentifier, Octet16, SubjectKeyIdentifier, TransactionId};
use rsp_auth::cert::Cert;
use rsp_auth::ecdh::EphemeralKey;
use rsp_auth::generate::Issued;
use rsp_auth::pki::Pki;
use rsp_auth::rng::Rng;
use rsp_auth::sig::{input, signature_tlv};
use rsp_auth::{Backend, Curve};
use rsp_bpp::bpp::{BppRequest, PpkKeys, PreProtectedProfile, ProfileSource};
use rsp_bpp::Engine;
use rsp_saip::ProfilePackage;

use crate::address::is_address;
use crate::clock::Clock;
use crate::order_options::{IconKind, ProfileClassName, Rebinding, Version};
use crate::status::{fail, Code, Failure};
mod authenticate;
mod bpp;
mod cancel;
mod dispatch;
pub mod guesses;
mod initiate;
mod notification;

pub(crate) use dispatch::parse;
pub use dispatch::{dispatch, dispatch_asn1, dispatch_from, failed_body, Es9Answer};

use crate::store::{
    BindFrom, Binding, Eid, NotificationRecord, Profile, ProfileStatus, Session, SessionState,
    Store,
};

/// The SGP.22 versions this SM-DP+ speaks: an eUICC whose (lowest) SVN has major version 2.
const SUPPORTED_SVN_MAJOR: u8 = 2;
/// CRT host ID in BF23 (1..16 bytes, the SM-DP+'s choice).
const HOST_ID: &[u8] = b"SMDP-SIM";
/// NotificationEvent bits the profile metadata asks to be told about (enable, disable,
/// delete) — the install result always comes to the SM-DP+ of the session.
const NOTIFY_OPERATIONS: [usize; 3] = [1, 2, 3];

/// The SM-DP+ keys under one CI.
pub struct CurveKeys {
    pub curve: Curve,
    pub ci_ski: Vec<u8>,
    /// The SM-DP+ OID: the registeredID in CERT.DPauth's SAN.
    pub oid: ObjectIdentifier,
    /// Index of the curve in the PKI (which owns the keys).
    idx: usize,
}

/// Limits and policies.
#[derive(Debug, Clone)]
pub struct Policy {
    /// How long an ES9+ session lives after initiateAuthentication.
    pub session_ttl: Duration,
    /// initiateAuthentication is refused (1.2/4.4) beyond this many live sessions.
    pub max_sessions: u64,
    /// Wrong confirmation codes tolerated per order (over all its sessions) before 8.2.7/6.4.
    pub max_cc_attempts: i64,
    /// Failed matching-ID lookups tolerated per client network and per EID before 8.2.6/6.4
    /// ([`guesses`]); `None` counts nothing.
    pub matching_id_guesses: Option<guesses::GuessLimit>,
    /// The HTTP status of handleNotification's empty answer: 204 (SGP.22 6.5.2.4, digest
    /// §1.2), or 200 for clients (some eIMs, SGP.32) that expect it.
    pub notification_status: u16,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(600),
            max_sessions: 10_000,
            max_cc_attempts: 3,
            matching_id_guesses: Some(guesses::GuessLimit::default()),
            notification_status: 204,
        }
    }
}

/// Why an SM-DP+ cannot be built from a PKI.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("PKI: {0}")]
    Pki(String),
}

/// The SM-DP+: its address, keys, store, RNG and clock.
pub struct Smdp {
    pub address: String,
    pki: Pki,
    /// The CIs, checked once at startup (each use re-checks the CI's dates).
    trust: rsp_auth::chain::TrustStore,
    curves: Vec<CurveKeys>,
    pub store: Arc<dyn Store>,
    rng: Mutex<Rng>,
    pub clock: Clock,
    backend: Backend,
    engine: Engine,
    pub policy: Policy,
    /// Hostile mode: a share of the answers mutated ([`crate::hostile`]).
    pub hostile: Option<crate::hostile::Hostile>,
    /// Server-wide scripted faults by matching ID or EID (`smdp serve --scenario`).
    pub scenario: Vec<crate::faults::ScenarioFault>,
    /// Sessions this server started (their numbers, for scenario faults keyed by session).
    sessions_started: AtomicU64,
    /// Failed matching-ID lookups of this node, per client network and EID.
    guesses: guesses::Guesses,
    /// Set while the server is behind (the HTTP layer's monitor): new sessions are refused.
    overloaded: std::sync::atomic::AtomicBool,
    /// The HandleDownloadProgressInfo endpoint of each ES2+ function requester.
    pub es2_endpoints: std::collections::HashMap<String, String>,
}

/// What a notification did (the HTTP answer is 204 whatever it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationOutcome {
    Installed {
        profile_sid: String,
    },
    InstallFailed {
        profile_sid: String,
        reason: String,
    },
    /// A PIR for a profile whose result is already recorded (a replay).
    AlreadyRecorded,
    Other {
        eid: Eid,
        operation: String,
    },
}

impl Smdp {
    /// `pki` must hold DPauth and DPpb (with keys) for every CI it lists.
    pub fn new(
        address: impl Into<String>,
        pki: Pki,
        store: Arc<dyn Store>,
        rng: Rng,
        clock: Clock,
        backend: Backend,
        policy: Policy,
    ) -> Result<Self, SetupError> {
        let mut curves = Vec::new();
        for (idx, c) in pki.curves.iter().enumerate() {
            let oid = c
                .dp_auth
                .cert
                .registered_ids
                .first()
                .cloned()
                .ok_or_else(|| {
                    SetupError::Pki(format!("CERT.DPauth ({}) has no SM-DP+ OID", c.curve))
                })?;
            curves.push(CurveKeys {
                curve: c.curve,
                ci_ski: c.ci_ski().to_vec(),
                oid,
                idx,
            });
        }
        if curves.is_empty() {
            return Err(SetupError::Pki("the PKI has no CI".into()));
        }
        let trust = pki
            .trust_store(clock.now())
            .map_err(|e| SetupError::Pki(e.to_string()))?;
        Ok(Self {
            address: address.into(),
            pki,
            trust,
            curves,
            store,
            rng: Mutex::new(rng),
            clock,
            backend,
            engine: Engine::Auto,
            policy,
            hostile: None,
            scenario: Vec::new(),
            sessions_started: AtomicU64::new(0),
            guesses: guesses::Guesses::default(),
            overloaded: Default::default(),
            es2_endpoints: Default::default(),
        })
    }

    /// Whether initiateAuthentication sheds new sessions (1.2/4.4).
    pub fn is_overloaded(&self) -> bool {
        self.overloaded.load(Ordering::Relaxed)
    }

    /// Set by whatever watches the server's load; sessions under way are not affected.
    pub fn set_overloaded(&self, on: bool) {
        self.overloaded.store(on, Ordering::Relaxed);
    }

    /// This node's matching-ID guess counts (zero when the limit is off).
    pub fn guess_stats(&self) -> guesses::GuessStats {
        match &self.policy.matching_id_guesses {
            Some(limit) => self.guesses.stats(limit, self.clock.unix()),
            None => guesses::GuessStats::default(),
        }
    }

    /// Server-wide scripted faults ([`crate::faults::ScenarioFault`]).
    /// Reports ES2+ orders' progress to these endpoints, by function requester.
    pub fn with_es2_endpoints(mut self, e: std::collections::HashMap<String, String>) -> Self {
        self.es2_endpoints = e;
        self
    }

    pub fn with_scenario(mut self, s: Vec<crate::faults::ScenarioFault>) -> Self {
        self.scenario = s;
        self
    }

    /// Turns hostile mode on ([`crate::hostile`]).
    pub fn with_hostile(mut self, h: crate::hostile::Hostile) -> Self {
        self.hostile = Some(h);
        self
    }

    pub fn curves(&self) -> &[CurveKeys] {
        &self.curves
    }

    pub fn dp_auth(&self, k: &CurveKeys) -> &Issued {
        &self.pki.curves[k.idx].dp_auth
    }

    pub fn dp_pb(&self, k: &CurveKeys) -> &Issued {
        &self.pki.curves[k.idx].dp_pb
    }

    /// Digest §1.5 initiateAuthentication step 1 (SGP.22 5.6.1): see [`is_address`].
    pub fn is_our_address(&self, given: &str) -> bool {
        is_address(given, &self.address)
    }

    fn keys_for(&self, ci_ski: &[u8]) -> Result<&CurveKeys, Failure> {
        self.curves
            .iter()
            .find(|c| c.ci_ski == ci_ski)
            .ok_or_else(|| Failure::new(Code::ExecutionError, "session CI no longer configured"))
    }

    /// The scripted fault of this call of `function` for `profile`, if its plan has one: the
    /// call is counted per order and function, the fault logged with its session, and its
    /// transport part handed to the dispatcher. `Err` when the fault is an answer in itself
    /// (a status, or a drop before anything is done).
    pub(crate) fn fault(
        &self,
        profile: &Profile,
        eid: Option<&Eid>,
        function: crate::faults::Function,
        txid: &TransactionId,
    ) -> Result<Option<crate::faults::Action>, Failure> {
        use crate::faults::{select, set_transport, Action};
        // Every download asks: answer the common case (no faults anywhere) without
        // allocating.
        if profile.options.faults.is_empty() && self.scenario.is_empty() {
            return Ok(None);
        }
        // The order's own plan, then the scenario's faults for its matching ID or EID.
        let mut plan = profile.options.faults.clone();
        let eid = eid.or(profile.eid.as_ref());
        // The session's number, read only when a fault may need it.
        let mut number = None;
        let mut session_number = || -> Result<Option<i64>, Failure> {
            if number.is_none() {
                number = Some(
                    self.store
                        .session(txid, self.clock.unix())?
                        .map(|s| s.number),
                );
            }
            Ok(number.flatten())
        };
        for s in &self.scenario {
            let n = match s.session {
                Some(_) => session_number()?,
                None => None,
            };
            if s.applies_to(profile.matching_id.as_deref(), eid, n) {
                plan.push(s.fault.clone());
            }
        }
        let plan = &plan;
        if !plan.iter().any(|f| f.function == function) {
            return Ok(None);
        }
        let n = self
            .store
            .next_serial(&format!("fault:{}:{}", profile.id, function.as_str()))?;
        let attempt = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let Some(f) = select(plan, function, attempt) else {
            return Ok(None);
        };
        self.store.record_fault(&crate::store::FiredFault {
            profile_id: profile.id,
            txid: Some(txid.clone()),
            session: session_number()?,
            function: function.as_str().into(),
            attempt,
            fault: f.to_string(),
            fired_at: self.clock.unix(),
        })?;
        // The session's trace: this line (with the transactionId every ES9+ log line of
        // the session carries) and the fault log row.
        tracing::info!(profile = %profile.sid, %txid, fault = %f, attempt, "scripted fault");
        if let Some(t) = f.action.transport() {
            set_transport(t);
        }
        match &f.action {
            Action::Status { subject, reason } => {
                let code = Code::from_codes(subject, reason).unwrap_or(Code::ExecutionError);
                Err(Failure::new(code, format!("scripted fault {f}")))
            }
            Action::DropBefore => Err(Failure::new(Code::ExecutionError, "scripted drop")),
            a => Ok(Some(a.clone())),
        }
    }

    pub fn rng(&self) -> std::sync::MutexGuard<'_, Rng> {
        self.rng.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn random<const N: usize>(&self) -> [u8; N] {
        let mut b = [0u8; N];
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        rand_core::Rng::fill_bytes(&mut *rng, &mut b);
        b
    }

    fn ephemeral(&self, curve: Curve) -> EphemeralKey {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        EphemeralKey::generate(curve, &mut *rng)
    }

    fn live_session(
        &self,
        txid: &TransactionId,
        step: &[SessionState],
    ) -> Result<Session, Failure> {
        let s = self
            .store
            .session(txid, self.clock.unix())?
            .ok_or_else(|| {
                Failure::new(Code::UnknownTransaction, "unknown or expired transactionId")
            })?;
        if !step.contains(&s.state) {
            return fail(
                Code::UnknownTransaction,
                format!("transactionId is not at this step (session {:?})", s.state),
            );
        }
        Ok(s)
    }
}

/// A VersionType as comparable numbers (a malformed one reads as 0.0.0).
fn version(v: &rsp_asn1::VersionType) -> Version {
    let b = v.0.as_ref();
    Version([
        b.first().copied().unwrap_or(0),
        b.get(1).copied().unwrap_or(0),
        b.get(2).copied().unwrap_or(0),
    ])
}

/// The `82` (free non-volatile memory) value of ETSI TS 102 226 extended card resources.
fn free_non_volatile_memory(ext: &[u8]) -> Option<u64> {
    rsp_asn1::tlv::Children::new(ext)
        .filter_map(Result::ok)
        .find(|t| t.tag == [0x82])
        .filter(|t| !t.value.is_empty() && t.value.len() <= 8)
        .map(|t| t.value.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)))
}

/// Verifies an eUICC signature (raw r‖s) over `msg`: 8.1/6.1 otherwise.
///
/// `signed` names the signed structure and gives its TLV as received. A relay that decodes
/// and re-encodes what the eUICC signed (an eIM dropping a field it does not know, SGP.32)
/// breaks the signature without any key being wrong, so the failure names the structure and
/// the SHA-256 of the bytes that arrived: compared with the eUICC's own, it tells a relay
/// problem from a key problem.
fn verify_euicc_signature(
    key: &rsp_auth::PublicKey,
    msg: &[u8],
    sig: &[u8],
    backend: Backend,
    what: &str,
    (structure, received): (&str, &[u8]),
) -> Result<(), Failure> {
    key.verify_raw(msg, sig, backend).map_err(|e| {
        let digest = hex::encode_upper(<sha2::Sha256 as sha2::Digest>::digest(received));
        tracing::warn!(
            signature = what,
            structure,
            bytes = received.len(),
            sha256 = %digest,
            error = %e,
            "eUICC signature does not verify over the structure as received \
             (re-encoded by a relay, or another key)"
        );
        Failure::new(
            Code::EuiccSignatureInvalid,
            format!(
                "{what} over {structure} as received ({} bytes, SHA-256 {digest}): {e}",
                received.len()
            ),
        )
    })
}

fn octet16(b: &[u8; 16]) -> Result<Octet16, Failure> {
    Octet16::new(b.to_vec()).map_err(internal)
}

fn internal(e: impl std::fmt::Display) -> Failure {
    tracing::error!(error = %e, "internal error");
    Failure::new(Code::ExecutionError, e.to_string())
}

fn internal_input(e: impl std::fmt::Display) -> Failure {
    Failure::new(Code::InvalidInput, e.to_string())
}
