//! The five ES9+ functions, following the digest's server-side checklist (§1.5) step by step.
//!
//! Handlers take the parsed JSON request and return the JSON response or a [`Failure`] row of
//! the error table; they do no HTTP. All state is in the [`Store`]; randomness comes from the
//! one seeded-or-not RNG and time from the [`Clock`], so a seeded run replays byte for byte.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rsp_asn1::auth::{
    AuthenticateServerResponse, CtxParams1, EUICCInfo1, EUICCInfo2, ServerSigned1,
};
use rsp_asn1::bits::NamedBits;
use rsp_asn1::download::{
    BoundProfilePackage, ConfigureISDPRequest, NotificationConfigurationInformation,
    PrepareDownloadResponse, ProfileClass, SmdpSigned2, StoreMetadataRequest,
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
use rsp_bpp::bpp::{BppRequest, ProfileSource};
use rsp_bpp::Engine;
use rsp_saip::ProfilePackage;
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::status::{fail, Code, Failure};
use crate::store::{
    Binding, NotificationRecord, Profile, ProfileStatus, Session, SessionState, Store,
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
    /// Wrong confirmation codes tolerated per session before 8.2.7/6.4.
    pub max_cc_attempts: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(600),
            max_sessions: 10_000,
            max_cc_attempts: 3,
        }
    }
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
        eid: String,
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
    ) -> anyhow::Result<Self> {
        let mut curves = Vec::new();
        for (idx, c) in pki.curves.iter().enumerate() {
            let oid = c
                .dp_auth
                .cert
                .registered_ids
                .first()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("CERT.DPauth ({}) has no SM-DP+ OID", c.curve))?;
            curves.push(CurveKeys {
                curve: c.curve,
                ci_ski: c.ci_ski().to_vec(),
                oid,
                idx,
            });
        }
        anyhow::ensure!(!curves.is_empty(), "the PKI has no CI");
        let trust = pki.trust_store(clock.now())?;
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
        })
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

    /// Our address, case-insensitively, optionally with a `:port` suffix (test setups such
    /// as lpac `-s localhost:8443` send the port).
    pub fn is_our_address(&self, given: &str) -> bool {
        let host = match given.rsplit_once(':') {
            Some((h, port)) if !port.is_empty() && port.bytes().all(|c| c.is_ascii_digit()) => h,
            _ => given,
        };
        host.eq_ignore_ascii_case(&self.address)
    }

    fn keys_for(&self, ci_ski: &[u8]) -> Result<&CurveKeys, Failure> {
        self.curves
            .iter()
            .find(|c| c.ci_ski == ci_ski)
            .ok_or_else(|| Failure::new(Code::ExecutionError, "session CI no longer configured"))
    }

    /// The one randomness source (seeded with `--seed`), for everything the server draws.
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
            .session(&txid.to_hex(), self.clock.unix())?
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

    // ---------------------------------------------------------------- initiateAuthentication

    pub fn initiate_authentication(
        &self,
        req: &InitiateAuthenticationRequest,
    ) -> Result<InitiateAuthenticationResponse, Failure> {
        // 1. Our address, case-insensitively.
        if !self.is_our_address(&req.smdp_address) {
            return fail(
                Code::InvalidSmdpAddress,
                format!("smdpAddress {:?} is not this SM-DP+", req.smdp_address),
            );
        }
        // 2. The challenge is 16 raw bytes.
        let euicc_challenge: [u8; 16] =
            req.euicc_challenge.0.as_slice().try_into().map_err(|_| {
                Failure::new(
                    Code::InvalidInput,
                    format!(
                        "euiccChallenge is {} bytes, not 16",
                        req.euicc_challenge.0.len()
                    ),
                )
            })?;
        // 3. EUICCInfo1 and its version.
        let info1: EUICCInfo1 = req
            .euicc_info1
            .decode()
            .map_err(|e| Failure::new(Code::InvalidInput, format!("euiccInfo1: {e}")))?;
        let svn = info1.svn.0.as_ref();
        if svn.first() != Some(&SUPPORTED_SVN_MAJOR) {
            return fail(
                Code::SvnNotSupported,
                format!("eUICC SVN {} not supported (2.x only)", info1.svn),
            );
        }
        // 4. A CI the eUICC signs with that we hold, and that it can verify us under.
        let signing: Vec<&[u8]> = info1
            .euicc_ci_pkid_list_for_signing
            .iter()
            .map(|k| k.as_bytes())
            .collect();
        let candidates: Vec<&CurveKeys> = signing
            .iter()
            .filter_map(|ski| self.curves.iter().find(|c| c.ci_ski == *ski))
            .collect();
        if candidates.is_empty() {
            return fail(
                Code::CiPkidNotSupported,
                "none of euiccCiPKIdListForSigning is a CI of this SM-DP+",
            );
        }
        let keys = candidates
            .into_iter()
            .find(|c| {
                info1
                    .euicc_ci_pkid_list_for_verification
                    .iter()
                    .any(|k| k.as_bytes() == c.ci_ski.as_slice())
            })
            .ok_or_else(|| {
                Failure::new(
                    Code::NoDpAuthForEuicc,
                    "no CERT.DPauth under a CI in euiccCiPKIdListForVerification",
                )
            })?;
        // Capacity before any state is written.
        let now = self.clock.unix();
        if self.store.active_sessions(now)? >= self.policy.max_sessions {
            return fail(Code::Busy, "too many live sessions");
        }
        // 5. Session.
        let txid = TransactionId::new(self.random::<16>().to_vec())
            .map_err(|e| Failure::new(Code::ExecutionError, e.to_string()))?;
        let server_challenge = self.random::<16>();
        // 6. serverSigned1, signed exactly as sent.
        let signed1 = ServerSigned1 {
            transaction_id: txid.clone(),
            euicc_challenge: octet16(&euicc_challenge)?,
            // The address as the LPA used it (with a test port, if any): the eUICC and LPA
            // compare against that.
            server_address: req.smdp_address.clone(),
            server_challenge: octet16(&server_challenge)?,
            extensions: None,
        };
        let signed1 = Signed::new(signed1).map_err(internal)?;
        let sig = self
            .dp_auth(keys)
            .key
            .sign_raw(input::server_signature1(&signed1), self.backend)
            .map_err(internal)?;
        self.store.insert_session(&Session {
            txid: txid.to_hex(),
            state: SessionState::Initiated,
            created_at: now,
            expires_at: now + self.policy.session_ttl.as_secs() as i64,
            euicc_challenge: euicc_challenge.to_vec(),
            server_challenge: server_challenge.to_vec(),
            ci_pkid: keys.ci_ski.clone(),
            eid: None,
            euicc_cert: None,
            profile_id: None,
            smdp_signature2: None,
            metadata: None,
            cc_attempts: 0,
        })?;
        tracing::info!(txid = %txid.to_hex(), curve = %keys.curve, "initiateAuthentication");
        // 7. Response.
        Ok(InitiateAuthenticationResponse {
            header: ResponseHeader::success(),
            transaction_id: txid,
            server_signed1: Der::from_bytes(signed1.raw().to_vec()),
            server_signature1: Der::from_bytes(signature_tlv(&sig)),
            euicc_ci_pkid_to_be_used: Der::encode(
                &SubjectKeyIdentifier::new(keys.ci_ski.clone()).map_err(internal)?,
            )
            .map_err(internal)?,
            server_certificate: Der::from_bytes(self.dp_auth(keys).cert.der().to_vec()),
        })
    }

    // ---------------------------------------------------------------- authenticateClient

    pub fn authenticate_client(
        &self,
        req: &AuthenticateClientRequest,
    ) -> Result<AuthenticateClientResponse, Failure> {
        let now = self.clock.now();
        // 1. The session.
        let session = self.live_session(&req.transaction_id, &[SessionState::Initiated])?;
        let resp = req.authenticate_server_response.decode().map_err(|e| {
            Failure::new(
                Code::InvalidInput,
                format!("authenticateServerResponse: {e}"),
            )
        })?;
        // 2. An error from the eUICC ends the session.
        let ok = match resp {
            AuthenticateServerResponse::AuthenticateResponseOk(ok) => ok,
            AuthenticateServerResponse::AuthenticateResponseError(e) => {
                self.store.delete_session(&session.txid)?;
                return fail(
                    Code::EuiccSignatureInvalid,
                    format!(
                        "the eUICC refused the server: authenticateErrorCode {:?}",
                        e.authenticate_error_code
                    ),
                );
            }
        };
        // 3–4. Certificates and chain, to the CI chosen in initiateAuthentication.
        let euicc_cert = Cert::from_der(ok.euicc_certificate.as_der()).map_err(|e| Failure {
            code: Code::EuiccSignatureInvalid,
            message: format!("eUICC certificate: {e}"),
            codes: Some(("8.1.3", "6.1")),
        })?;
        let eum_cert = Cert::from_der(ok.eum_certificate.as_der()).map_err(|e| Failure {
            code: Code::EuiccSignatureInvalid,
            message: format!("EUM certificate: {e}"),
            codes: Some(("8.1.2", "6.1")),
        })?;
        let verified = self.trust.verify_euicc(
            &eum_cert,
            &euicc_cert,
            now,
            Some(&session.ci_pkid),
            self.backend,
        )?;
        // 5. euiccSignature1 over the euiccSigned1 bytes as received.
        verify_euicc_signature(
            &verified.public_key,
            input::euicc_signature1(&ok.euicc_signed1),
            ok.euicc_signature1.as_ref(),
            self.backend,
            "euiccSignature1",
        )?;
        // 6. What the eUICC signed matches the session.
        let signed1 = ok.euicc_signed1.value();
        if signed1.transaction_id != req.transaction_id {
            return fail(
                Code::UnknownTransaction,
                "euiccSigned1 carries another transactionId",
            );
        }
        if signed1.server_challenge.as_bytes() != session.server_challenge.as_slice() {
            return fail(Code::EuiccSignatureInvalid, "serverChallenge mismatch");
        }
        if !self.is_our_address(&signed1.server_address) {
            return fail(
                Code::InvalidSmdpAddress,
                format!("euiccSigned1.serverAddress {:?}", signed1.server_address),
            );
        }
        // 7. The EID (checked against the EUM's range by the chain rules).
        let eid = verified.eid.digits();
        // 8. The order: by matching ID, or by EID (default SM-DP+) when it is empty.
        let CtxParams1::CtxParamsForCommonAuthentication(ctx) = &signed1.ctx_params1;
        let matching_id = ctx.matching_id.as_deref().unwrap_or("");
        let profile = self.select_profile(matching_id, &eid)?;
        self.check_eligibility(&profile, &signed1.euicc_info2)?;
        // 9. profileMetadata and smdpSigned2.
        let keys = self.keys_for(&session.ci_pkid)?;
        let metadata = rsp_asn1::encode(&self.metadata(&profile)?).map_err(internal)?;
        let retry_otpk = match (&profile.status, &profile.bound_otpk) {
            (ProfileStatus::Downloaded, Some(otpk)) => Some(otpk.clone().into()),
            _ => None,
        };
        let signed2 = Signed::new(SmdpSigned2 {
            transaction_id: req.transaction_id.clone(),
            cc_required_flag: profile.confirmation_code.is_some(),
            bpp_euicc_otpk: retry_otpk,
            extensions: None,
        })
        .map_err(internal)?;
        let euicc_sig1: [u8; 64] = ok.euicc_signature1.as_ref().try_into().map_err(|_| {
            Failure::new(
                Code::EuiccSignatureInvalid,
                "euiccSignature1 is not 64 bytes",
            )
        })?;
        let sig2 = self
            .dp_pb(keys)
            .key
            .sign_raw(&input::smdp_signature2(&signed2, &euicc_sig1), self.backend)
            .map_err(internal)?;
        let next = Session {
            state: SessionState::Authenticated,
            eid: Some(eid.clone()),
            euicc_cert: Some(ok.euicc_certificate.as_der().to_vec()),
            profile_id: Some(profile.id),
            smdp_signature2: Some(sig2.to_vec()),
            metadata: Some(metadata.clone()),
            ..session
        };
        if !self.store.update_session(&next, SessionState::Initiated)? {
            return fail(
                Code::UnknownTransaction,
                "session already past authenticateClient",
            );
        }
        tracing::info!(txid = %next.txid, %eid, profile = %profile.sid, "authenticateClient");
        Ok(AuthenticateClientResponse {
            header: ResponseHeader::success(),
            transaction_id: req.transaction_id.clone(),
            profile_metadata: Der::from_bytes(metadata),
            smdp_signed2: Der::from_bytes(signed2.raw().to_vec()),
            smdp_signature2: Der::from_bytes(signature_tlv(&sig2)),
            smdp_certificate: Der::from_bytes(self.dp_pb(keys).cert.der().to_vec()),
        })
    }

    /// Digest §1.5 authenticateClient step 8.
    fn select_profile(&self, matching_id: &str, eid: &str) -> Result<Profile, Failure> {
        let profile = if matching_id.is_empty() {
            self.store
                .profile_for_eid(eid)?
                .ok_or_else(|| Failure::new(Code::EidRefused, format!("no order for EID {eid}")))?
        } else {
            self.store
                .profile_by_matching_id(matching_id)?
                .ok_or_else(|| {
                    Failure::new(
                        Code::MatchingIdRefused,
                        format!("unknown matching ID {matching_id:?}"),
                    )
                })?
        };
        if let Some(bound) = &profile.eid {
            if bound != eid {
                return fail(Code::EidRefused, "the order is for another EID");
            }
        }
        match profile.status {
            ProfileStatus::New | ProfileStatus::Reserving => {
                return fail(Code::ProfileNotReleased, "the profile is not released yet")
            }
            ProfileStatus::Installed | ProfileStatus::Failed => {
                return fail(
                    Code::MatchingIdRefused,
                    format!("the order is closed ({})", profile.status.as_str()),
                )
            }
            ProfileStatus::Available | ProfileStatus::Downloaded => {}
        }
        self.check_order_open(&profile)?;
        Ok(profile)
    }

    /// Eligibility (digest §1.5 authenticateClient step 8): every mandatory service of the
    /// package that the eUICC's UICCCapability can express must be set there (8.2.5/4.3), and
    /// the package must fit the free non-volatile memory the eUICC reports in
    /// extCardResource (8.1/4.8). SGP.22 v2.2–2.4 reserve bits 8 and 9 (v2.5 gives 8 to
    /// usim-test-algorithm): such eUICCs are not asked for them, so TS.48 test profiles stay
    /// eligible on them.
    fn check_eligibility(&self, p: &Profile, info2: &EUICCInfo2) -> Result<(), Failure> {
        let package = self
            .store
            .package(p.id)?
            .ok_or_else(|| Failure::new(Code::ProfileNotReleased, "no profile package"))?;
        if let Some(free) = free_non_volatile_memory(info2.ext_card_resource.as_ref()) {
            if package.len() as u64 > free {
                return fail(
                    Code::InsufficientMemory,
                    format!(
                        "the profile needs {} bytes, the eUICC has {free}",
                        package.len()
                    ),
                );
            }
        }
        let header = ProfilePackage::parse(&package)
            .and_then(|pkg| pkg.header())
            .map_err(internal)?;
        let svn = info2.svn.0.as_ref();
        let v25 = svn.first().copied().unwrap_or(0) > 2
            || (svn.first() == Some(&2) && svn.get(1).copied().unwrap_or(0) >= 5);
        for service in &header.mandatory_services {
            let Some(bit) = rsp_saip::uicc_capability_bit(service) else {
                continue;
            };
            let defined = if v25 {
                bit <= 31
            } else {
                bit <= 25 && bit != 8 && bit != 9
            };
            if defined && !info2.uicc_capability.is_set(bit) {
                return fail(
                    Code::NoEligibleProfile,
                    format!("the profile needs {service}, the eUICC does not declare it"),
                );
            }
        }
        Ok(())
    }

    fn check_order_open(&self, profile: &Profile) -> Result<(), Failure> {
        if profile.expires_at.is_some_and(|t| t <= self.clock.unix()) {
            return fail(Code::OrderExpired, "the download order has expired");
        }
        if profile.status == ProfileStatus::Available && profile.attempts >= profile.max_attempts {
            return fail(
                Code::MaxDownloadAttempts,
                format!("{} download attempts used", profile.attempts),
            );
        }
        Ok(())
    }

    /// StoreMetadataRequest for the order; encoded once and sent in both authenticateClient
    /// and the BPP (digest §9.3).
    fn metadata(&self, p: &Profile) -> Result<StoreMetadataRequest, Failure> {
        let iccid = p
            .iccid
            .as_deref()
            .ok_or_else(|| Failure::new(Code::ProfileNotReleased, "the profile has no ICCID yet"))
            .and_then(|d| Iccid::from_digits(d).map_err(internal))?;
        Ok(StoreMetadataRequest {
            iccid,
            service_provider_name: p.service_provider_name.clone(),
            profile_name: p.profile_name.clone(),
            icon_type: None,
            icon: None,
            profile_class: ProfileClass::default_operational(),
            notification_configuration_info: Some(vec![NotificationConfigurationInformation {
                profile_management_operation: NamedBits::from_bits(&NOTIFY_OPERATIONS),
                notification_address: self.address.clone(),
                extensions: None,
            }]),
            profile_owner: None,
            profile_policy_rules: None,
            extensions: None,
        })
    }

    // ---------------------------------------------------------------- getBoundProfilePackage

    pub fn get_bound_profile_package(
        &self,
        req: &GetBoundProfilePackageRequest,
    ) -> Result<GetBoundProfilePackageResponse, Failure> {
        // 1. The session (a retry within the session is allowed).
        let session = self.live_session(
            &req.transaction_id,
            &[SessionState::Authenticated, SessionState::Bound],
        )?;
        let resp = req.prepare_download_response.decode().map_err(|e| {
            Failure::new(Code::InvalidInput, format!("prepareDownloadResponse: {e}"))
        })?;
        let ok = match resp {
            PrepareDownloadResponse::DownloadResponseOk(ok) => ok,
            PrepareDownloadResponse::DownloadResponseError(e) => {
                return fail(
                    Code::EuiccSignatureInvalid,
                    format!(
                        "the eUICC refused: downloadErrorCode {:?}",
                        e.download_error_code
                    ),
                )
            }
        };
        // 2. euiccSignature2 over euiccSigned2 ‖ the smdpSignature2 TLV we sent.
        let (euicc_cert, smdp_sig2, metadata, eid, profile_id) = match (
            &session.euicc_cert,
            &session.smdp_signature2,
            &session.metadata,
            &session.eid,
            session.profile_id,
        ) {
            (Some(c), Some(s), Some(m), Some(e), Some(p)) => (c, s, m, e, p),
            _ => {
                return fail(
                    Code::UnknownTransaction,
                    "session has no authenticated eUICC",
                )
            }
        };
        let cert = Cert::from_der(euicc_cert).map_err(internal)?;
        let smdp_sig2: [u8; 64] = smdp_sig2.as_slice().try_into().map_err(internal)?;
        verify_euicc_signature(
            cert.public_key(),
            &input::euicc_signature2(&ok.euicc_signed2, &smdp_sig2),
            ok.euicc_signature2.as_ref(),
            self.backend,
            "euiccSignature2",
        )?;
        // 3. Same transaction.
        let signed2 = ok.euicc_signed2.value();
        if signed2.transaction_id != req.transaction_id {
            return fail(
                Code::UnknownTransaction,
                "euiccSigned2 carries another transactionId",
            );
        }
        let profile = self
            .store
            .profile(profile_id)?
            .ok_or_else(|| Failure::new(Code::MatchingIdRefused, "the order no longer exists"))?;
        // 4. Confirmation code.
        if let Some(cc) = &profile.confirmation_code {
            self.check_confirmation_code(&session, &profile, cc, signed2.hash_cc.as_ref())?;
        }
        // 5–6. Binding: same otPK → same keys (and the same BPP in this session); a new otPK
        // needs a downloadable order.
        let otpk = signed2.euicc_otpk.as_ref();
        let keys = self.keys_for(&session.ci_pkid)?;
        let txid = session.txid.clone();
        let bpp = match profile.status {
            ProfileStatus::Downloaded
                if profile.eid.as_deref() == Some(eid.as_str())
                    && profile.bound_otpk.as_deref() == Some(otpk) =>
            {
                self.rebound_bpp(&profile, &req.transaction_id, keys, metadata, otpk, eid)?
            }
            ProfileStatus::Downloaded | ProfileStatus::Installed | ProfileStatus::Failed => {
                return fail(
                    Code::BppRebindingRefused,
                    "the profile is bound already; no new binding",
                )
            }
            ProfileStatus::New | ProfileStatus::Reserving => {
                return fail(Code::ProfileNotReleased, "the profile is not released yet")
            }
            ProfileStatus::Available => {
                self.check_order_open(&profile)?;
                let ot = self.ephemeral(keys.curve);
                let bpp = self.build_bpp(
                    &profile,
                    &req.transaction_id,
                    keys,
                    metadata,
                    otpk,
                    eid,
                    &ot,
                )?;
                let binding = Binding {
                    eid: eid.clone(),
                    txid: txid.clone(),
                    otpk: otpk.to_vec(),
                    otsk: ot.scalar().to_vec(),
                    bpp: bpp.clone(),
                    euicc_cert: euicc_cert.clone(),
                };
                if !self.store.bind(profile.id, &binding, self.clock.unix())? {
                    // Another session won the race (or the order closed meanwhile).
                    return fail(
                        Code::BppRebindingRefused,
                        "the profile was bound by another session",
                    );
                }
                bpp
            }
        };
        if session.state == SessionState::Authenticated {
            let next = Session {
                state: SessionState::Bound,
                ..session.clone()
            };
            self.store
                .update_session(&next, SessionState::Authenticated)?;
        }
        tracing::info!(%txid, %eid, profile = %profile.sid, bytes = bpp.len(), "getBoundProfilePackage");
        Ok(GetBoundProfilePackageResponse {
            header: ResponseHeader::success(),
            transaction_id: req.transaction_id.clone(),
            bound_profile_package: Der::from_bytes(bpp),
        })
    }

    fn check_confirmation_code(
        &self,
        session: &Session,
        profile: &Profile,
        cc: &str,
        hash_cc: Option<&rsp_asn1::Octet32>,
    ) -> Result<(), Failure> {
        let Some(got) = hash_cc else {
            return fail(Code::ConfirmationCodeMissing, "hashCc missing");
        };
        let txid = hex::decode(&session.txid).map_err(internal)?;
        if got.as_bytes() == hash_cc_for(cc, &txid) {
            return Ok(());
        }
        let attempts = session.cc_attempts + 1;
        let next = Session {
            cc_attempts: attempts,
            ..session.clone()
        };
        self.store.update_session(&next, session.state)?;
        if attempts >= self.policy.max_cc_attempts {
            // The order is closed: codes are not to be guessed one session after another.
            self.store.delete_session(&session.txid)?;
            self.store.set_status(
                profile.id,
                &[ProfileStatus::Available],
                ProfileStatus::Failed,
                Some((0, "confirmation code retries exceeded")),
                self.clock.unix(),
            )?;
            return fail(
                Code::ConfirmationCodeRetriesExceeded,
                format!("{attempts} wrong confirmation codes"),
            );
        }
        fail(Code::ConfirmationCodeRefused, "wrong confirmation code")
    }

    /// The BPP for an existing binding: stored as issued in this session, or rebuilt with the
    /// kept otSK.DP for a new session (same session keys, new transaction ID).
    fn rebound_bpp(
        &self,
        profile: &Profile,
        txid: &TransactionId,
        keys: &CurveKeys,
        metadata: &[u8],
        otpk: &[u8],
        eid: &str,
    ) -> Result<Vec<u8>, Failure> {
        if profile.bound_txid.as_deref() == Some(txid.to_hex().as_str()) {
            if let Some(b) = self.store.bpp(profile.id)? {
                return Ok(b);
            }
        }
        let scalar: [u8; 32] = profile
            .bound_otsk
            .as_deref()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| Failure::new(Code::BppRebindingRefused, "binding keys not kept"))?;
        let ot = EphemeralKey::from_scalar(keys.curve, scalar).map_err(internal)?;
        let bpp = self.build_bpp(profile, txid, keys, metadata, otpk, eid, &ot)?;
        if !self
            .store
            .rebind_session(profile.id, &txid.to_hex(), &bpp, self.clock.unix())?
        {
            return fail(Code::BppRebindingRefused, "the binding changed meanwhile");
        }
        Ok(bpp)
    }

    #[allow(clippy::too_many_arguments)]
    fn build_bpp(
        &self,
        profile: &Profile,
        txid: &TransactionId,
        keys: &CurveKeys,
        metadata: &[u8],
        otpk: &[u8],
        eid: &str,
        ot: &EphemeralKey,
    ) -> Result<Vec<u8>, Failure> {
        let package = self
            .store
            .package(profile.id)?
            .ok_or_else(|| Failure::new(Code::ProfileNotReleased, "no profile package"))?;
        let eid_bytes: [u8; 16] = hex::decode(eid)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Failure::new(Code::ExecutionError, "EID is not 32 digits"))?;
        let bpp: BoundProfilePackage = rsp_bpp::bpp::build(&BppRequest {
            transaction_id: txid.clone(),
            host_id: HOST_ID,
            eid: eid_bytes,
            smdp_ot_key: ot,
            euicc_otpk: otpk,
            dp_pb_key: &self.dp_pb(keys).key,
            backend: self.backend,
            engine: self.engine,
            configure_isdp: &ConfigureISDPRequest {
                dp_proprietary_data: None,
                extensions: None,
            },
            store_metadata_der: metadata,
            profile: ProfileSource::Plain(&package),
        })
        .map_err(|e| {
            // A bad otPK.EUICC (off the curve) is the eUICC's fault, not ours.
            Failure::new(Code::InvalidInput, format!("cannot bind: {e}"))
        })?;
        rsp_asn1::encode(&bpp).map_err(internal)
    }

    // ---------------------------------------------------------------- handleNotification

    pub fn handle_notification(
        &self,
        req: &HandleNotificationRequest,
    ) -> Result<NotificationOutcome, Failure> {
        let pending = req
            .pending_notification
            .decode()
            .map_err(|e| Failure::new(Code::InvalidInput, format!("pendingNotification: {e}")))?;
        let now = self.clock.now();
        match pending {
            PendingNotification::ProfileInstallationResult(pir) => {
                let data = pir.profile_installation_result_data.value();
                let txid = data.transaction_id.to_hex();
                let profile = self.store.profile_by_bound_txid(&txid)?.ok_or_else(|| {
                    Failure::new(
                        Code::UnknownTransaction,
                        "no download with this transactionId",
                    )
                })?;
                let cert = profile
                    .euicc_cert
                    .as_deref()
                    .ok_or_else(|| Failure::new(Code::UnknownTransaction, "no bound eUICC"))
                    .and_then(|c| Cert::from_der(c).map_err(internal))?;
                verify_euicc_signature(
                    cert.public_key(),
                    input::euicc_sign_pir(&pir.profile_installation_result_data),
                    pir.euicc_sign_pir.as_ref(),
                    self.backend,
                    "euiccSignPIR",
                )?;
                self.store.delete_session(&txid)?;
                let unix = self.clock.unix();
                let outcome = match &data.final_result {
                    FinalResult::SuccessResult(_) => {
                        if !self.store.set_status(
                            profile.id,
                            &[ProfileStatus::Downloaded],
                            ProfileStatus::Installed,
                            None,
                            unix,
                        )? {
                            return Ok(NotificationOutcome::AlreadyRecorded);
                        }
                        NotificationOutcome::Installed {
                            profile_sid: profile.sid.clone(),
                        }
                    }
                    FinalResult::ErrorResult(e) => {
                        let reason = format!(
                            "install failed: bppCommandId {:?}, errorReason {:?}",
                            e.bpp_command_id, e.error_reason
                        );
                        if !self.store.set_status(
                            profile.id,
                            &[ProfileStatus::Downloaded],
                            ProfileStatus::Failed,
                            Some((e.error_reason.0, &reason)),
                            unix,
                        )? {
                            return Ok(NotificationOutcome::AlreadyRecorded);
                        }
                        NotificationOutcome::InstallFailed {
                            profile_sid: profile.sid.clone(),
                            reason,
                        }
                    }
                };
                tracing::info!(%txid, profile = %profile.sid, ?outcome, "handleNotification");
                Ok(outcome)
            }
            PendingNotification::OtherSignedNotification(n) => {
                let euicc = Cert::from_der(n.euicc_certificate.as_der()).map_err(internal_input)?;
                let eum = Cert::from_der(n.eum_certificate.as_der()).map_err(internal_input)?;
                let verified = self
                    .trust
                    .verify_euicc(&eum, &euicc, now, None, self.backend)?;
                verify_euicc_signature(
                    &verified.public_key,
                    input::euicc_notification(&n.tbs_other_notification),
                    n.euicc_notification_signature.as_ref(),
                    self.backend,
                    "euiccNotificationSignature",
                )?;
                let meta = n.tbs_other_notification.value();
                let operation = ["install", "enable", "disable", "delete"]
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| meta.profile_management_operation.is_set(*i))
                    .map(|(_, n)| *n)
                    .collect::<Vec<_>>()
                    .join("+");
                let eid = verified.eid.digits();
                self.store.record_notification(&NotificationRecord {
                    eid: eid.clone(),
                    iccid: meta.iccid.as_ref().and_then(|i| i.digits().ok()),
                    operation: operation.clone(),
                    seq_number: meta.seq_number,
                    received_at: self.clock.unix(),
                })?;
                tracing::info!(%eid, %operation, seq = meta.seq_number, "handleNotification");
                Ok(NotificationOutcome::Other { eid, operation })
            }
        }
    }

    // ---------------------------------------------------------------- cancelSession

    pub fn cancel_session(
        &self,
        req: &CancelSessionRequest,
    ) -> Result<CancelSessionResponseBody, Failure> {
        let session = self.live_session(
            &req.transaction_id,
            &[
                SessionState::Initiated,
                SessionState::Authenticated,
                SessionState::Bound,
            ],
        )?;
        let resp = req
            .cancel_session_response
            .decode()
            .map_err(|e| Failure::new(Code::InvalidInput, format!("cancelSessionResponse: {e}")))?;
        let done = |this: &Self| -> Result<CancelSessionResponseBody, Failure> {
            this.store.delete_session(&session.txid)?;
            tracing::info!(txid = %session.txid, "cancelSession");
            Ok(CancelSessionResponseBody {
                header: ResponseHeader::success(),
                transaction_id: Some(req.transaction_id.clone()),
            })
        };
        let ok = match resp {
            // The eUICC had no session: nothing signed, nothing to verify.
            CancelSessionResponse::CancelSessionResponseError(_) => return done(self),
            CancelSessionResponse::CancelSessionResponseOk(ok) => ok,
        };
        // Before authenticateClient the eUICC's key is unknown; cancelling only ends the
        // session then, so there is nothing to protect.
        let Some(cert) = &session.euicc_cert else {
            return done(self);
        };
        let cert = Cert::from_der(cert).map_err(internal)?;
        verify_euicc_signature(
            cert.public_key(),
            input::euicc_cancel_session(&ok.euicc_cancel_session_signed),
            ok.euicc_cancel_session_signature.as_ref(),
            self.backend,
            "euiccCancelSessionSignature",
        )?;
        let signed = ok.euicc_cancel_session_signed.value();
        let keys = self.keys_for(&session.ci_pkid)?;
        if signed.smdp_oid != keys.oid {
            return fail(
                Code::SmdpOidInvalid,
                format!("smdpOid {} is not ours", signed.smdp_oid),
            );
        }
        if signed.transaction_id != req.transaction_id {
            return fail(
                Code::UnknownTransaction,
                "euiccCancelSessionSigned carries another transactionId",
            );
        }
        if let Some(id) = session.profile_id {
            self.apply_cancel_reason(id, &session.txid, signed.reason)?;
        }
        done(self)
    }

    /// postponed and timeout put a bound profile back (the same eUICC may download again);
    /// any other reason (end-user rejection, PPR not allowed, metadata mismatch, load error,
    /// undefined) closes the order as failed — SGP.22's "Error" state for the order, which
    /// the operator must re-issue. Our reading of SGP.22 §3.1.3; the digest leaves it open.
    fn apply_cancel_reason(
        &self,
        profile_id: i64,
        txid: &str,
        reason: CancelSessionReason,
    ) -> Result<(), Failure> {
        let Some(p) = self.store.profile(profile_id)? else {
            return Ok(());
        };
        let bound_here =
            p.status == ProfileStatus::Downloaded && p.bound_txid.as_deref() == Some(txid);
        let now = self.clock.unix();
        match reason {
            CancelSessionReason::postponed | CancelSessionReason::timeout => {
                if bound_here {
                    self.store.release(profile_id, now)?;
                }
            }
            other => {
                let from: &[ProfileStatus] = if bound_here {
                    &[ProfileStatus::Downloaded]
                } else {
                    &[ProfileStatus::Available]
                };
                self.store.set_status(
                    profile_id,
                    from,
                    ProfileStatus::Failed,
                    Some((other.0, &format!("session cancelled: {other:?}"))),
                    now,
                )?;
            }
        }
        Ok(())
    }
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
fn verify_euicc_signature(
    key: &rsp_auth::PublicKey,
    msg: &[u8],
    sig: &[u8],
    backend: Backend,
    what: &str,
) -> Result<(), Failure> {
    key.verify_raw(msg, sig, backend)
        .map_err(|e| Failure::new(Code::EuiccSignatureInvalid, format!("{what}: {e}")))
}

/// `SHA256(SHA256(code) ‖ transactionId)` (digest §4.3).
pub fn hash_cc_for(code: &str, txid: &[u8]) -> [u8; 32] {
    let inner = Sha256::digest(code.as_bytes());
    let mut h = Sha256::new();
    h.update(inner);
    h.update(txid);
    h.finalize().into()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Digest §4.3: the code as typed, hashed, then with the raw transaction ID bytes.
    #[test]
    fn confirmation_code_hash() {
        let txid = [0x12u8; 16];
        let inner = Sha256::digest(b"12345678");
        let want: [u8; 32] = Sha256::digest([inner.as_slice(), &txid].concat()).into();
        assert_eq!(hash_cc_for("12345678", &txid), want);
        assert_ne!(hash_cc_for("12345679", &txid), want);
    }
}
