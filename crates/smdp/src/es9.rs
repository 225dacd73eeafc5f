//! The five ES9+ functions, following the digest's server-side checklist (§1.5) step by step.
//!
//! Handlers take the parsed JSON request and return the JSON response or a [`Failure`] row of
//! the error table; they do no HTTP. All state is in the [`Store`]; randomness comes from the
//! one seeded-or-not RNG and time from the [`Clock`], so a seeded run replays byte for byte.

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

use crate::clock::Clock;
use crate::order_options::{IconKind, ProfileClassName, Rebinding, Version};
use crate::status::{fail, Code, Failure};
use crate::store::{
    BindFrom, Binding, NotificationRecord, Profile, ProfileStatus, Session, SessionState, Store,
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

    /// Digest §1.5 initiateAuthentication step 1 (SGP.22 5.6.1): the smdpAddress is ours.
    /// The host compares case-insensitively; a port, when given, must be ours (lpac
    /// `-s localhost:8443` and activation codes made from [`Smdp::address`] send it). A bare
    /// host is accepted too: the LPA reached us, through a forwarder on 443.
    pub fn is_our_address(&self, given: &str) -> bool {
        let (host, port) = crate::serve::split_host_port(given);
        let (our_host, our_port) = crate::serve::split_host_port(&self.address);
        host.eq_ignore_ascii_case(our_host)
            && match port {
                None => true,
                Some(p) => p == our_port.unwrap_or("443"),
            }
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
        self.check_eligibility(&profile, &signed1.euicc_info2, &ctx.device_info)?;
        // 9. profileMetadata and smdpSigned2.
        let keys = self.keys_for(&session.ci_pkid)?;
        let metadata = rsp_asn1::encode(&self.metadata(&profile)?).map_err(internal)?;
        // A kept binding for this eUICC: offer its otPK.EUICC back (SGP.22 5.6.2 bppEuiccOtpk),
        // so that an eUICC that kept otSK.EUICC can finish the same binding.
        let retry_otpk = profile
            .bound_otpk
            .clone()
            .filter(|_| profile.kept_binding_for(&eid))
            .map(Into::into);
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
        self.check_order_open(&profile, profile.kept_binding_for(eid))?;
        Ok(profile)
    }

    /// Eligibility (SGP.22 3.1.3 "Eligibility Check"; digest §1.5 authenticateClient step 8),
    /// each failure 8.2.5/4.3 unless noted:
    /// - the package fits the free non-volatile memory in extCardResource (8.1/4.8);
    /// - every mandatory service of the package that UICCCapability can express is set there.
    ///   SGP.22 v2.2–2.4 reserve bits 8 and 9 (v2.5 gives 8 to usim-test-algorithm): such
    ///   eUICCs are not asked for them, so TS.48 test profiles stay eligible on them;
    /// - the order's PPRs are not in forbiddenProfilePolicyRules (SGP.22 2.4a.1);
    /// - a test profile needs rspCapability testProfileSupport;
    /// - the order's device requirements: eUICC SVN, UICC capabilities, and radio
    ///   technologies (with minimum releases) in deviceInfo.deviceCapabilities.
    fn check_eligibility(
        &self,
        p: &Profile,
        info2: &EUICCInfo2,
        device: &DeviceInfo,
    ) -> Result<(), Failure> {
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
        let svn = version(&info2.svn);
        let v25 = svn >= Version([2, 5, 0]);
        let defined = |bit: usize| {
            if v25 {
                bit <= 31
            } else {
                bit <= 25 && bit != 8 && bit != 9
            }
        };
        for service in &header.mandatory_services {
            let Some(bit) = rsp_saip::uicc_capability_bit(service) else {
                continue;
            };
            if defined(bit) && !info2.uicc_capability.is_set(bit) {
                return fail(
                    Code::NoEligibleProfile,
                    format!("the profile needs {service}, the eUICC does not declare it"),
                );
            }
        }
        let o = &p.options;
        if let Some(forbidden) = &info2.forbidden_profile_policy_rules {
            for (bit, name) in [(0, "pprUpdateControl"), (1, "ppr1"), (2, "ppr2")] {
                if o.ppr.bits().contains(&bit) && forbidden.is_set(bit) {
                    return fail(
                        Code::NoEligibleProfile,
                        format!("the profile carries {name}, which the eUICC forbids"),
                    );
                }
            }
        }
        if o.profile_class == Some(ProfileClassName::Test)
            && !info2
                .rsp_capability
                .is_set(rsp_asn1::bits::rsp_capability::TEST_PROFILE_SUPPORT)
        {
            return fail(
                Code::NoEligibleProfile,
                "a test profile, and the eUICC does not declare testProfileSupport",
            );
        }
        let req = &o.requires;
        if let Some(min) = req.min_euicc_svn {
            if svn < min {
                return fail(
                    Code::NoEligibleProfile,
                    format!("the order needs eUICC SVN {min}, the eUICC has {svn}"),
                );
            }
        }
        for name in &req.uicc_capabilities {
            let bit = rsp_saip::uicc_capability_bit(name).ok_or_else(|| {
                Failure::new(Code::ExecutionError, format!("UICC capability {name:?}"))
            })?;
            if !info2.uicc_capability.is_set(bit) {
                return fail(
                    Code::NoEligibleProfile,
                    format!("the order needs UICC capability {name}"),
                );
            }
        }
        let caps = &device.device_capabilities;
        for need in &req.device_capabilities {
            let have = match need.name.as_str() {
                "gsm" => &caps.gsm_supported_release,
                "utran" => &caps.utran_supported_release,
                "cdma2000onex" => &caps.cdma2000onex_supported_release,
                "cdma2000hrpd" => &caps.cdma2000hrpd_supported_release,
                "cdma2000ehrpd" => &caps.cdma2000ehrpd_supported_release,
                "eutran-epc" => &caps.eutran_epc_supported_release,
                "contactless" => &caps.contactless_supported_release,
                "rsp-crl" => &caps.rsp_crl_supported_version,
                "nr-epc" => &caps.nr_epc_supported_release,
                "nr-5gc" => &caps.nr5gc_supported_release,
                "eutran-5gc" => &caps.eutran5gc_supported_release,
                other => return fail(Code::ExecutionError, format!("device capability {other:?}")),
            };
            let ok = match (have, need.min_release) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(v), Some(min)) => version(v) >= min,
            };
            if !ok {
                return fail(
                    Code::NoEligibleProfile,
                    format!(
                        "the order needs device capability {}{}",
                        need.name,
                        need.min_release
                            .map(|m| format!(" release {m} or later"))
                            .unwrap_or_default()
                    ),
                );
            }
        }
        Ok(())
    }

    /// Digest §1.5 authenticateClient step 8: expiry (8.8.5/4.10) and, unless a kept binding
    /// can be retried without a new attempt, the attempts left (8.8.5/6.4).
    fn check_order_open(&self, profile: &Profile, retry_possible: bool) -> Result<(), Failure> {
        if profile.expires_at.is_some_and(|t| t <= self.clock.unix()) {
            return fail(Code::OrderExpired, "the download order has expired");
        }
        if !retry_possible && profile.attempts >= profile.max_attempts {
            return fail(
                Code::MaxDownloadAttempts,
                format!("{} download attempts used", profile.attempts),
            );
        }
        Ok(())
    }

    /// StoreMetadataRequest for the order (SGP.22 5.4.1 / 2.4a.1); encoded once and sent in
    /// both authenticateClient and the BPP (digest §9.3).
    fn metadata(&self, p: &Profile) -> Result<StoreMetadataRequest, Failure> {
        let iccid = p
            .iccid
            .as_deref()
            .ok_or_else(|| Failure::new(Code::ProfileNotReleased, "the profile has no ICCID yet"))
            .and_then(|d| Iccid::from_digits(d).map_err(internal))?;
        let o = &p.options;
        let notifications = match &o.notifications {
            None => vec![NotificationConfigurationInformation {
                profile_management_operation: NamedBits::from_bits(&NOTIFY_OPERATIONS),
                notification_address: self.address.clone(),
                extensions: None,
            }],
            Some(list) => list
                .iter()
                .map(|n| NotificationConfigurationInformation {
                    profile_management_operation: NamedBits::from_bits(&n.operations),
                    notification_address: n.address.clone().unwrap_or_else(|| self.address.clone()),
                    extensions: None,
                })
                .collect(),
        };
        Ok(StoreMetadataRequest {
            iccid,
            service_provider_name: p.service_provider_name.clone(),
            profile_name: p.profile_name.clone(),
            icon_type: o.icon.as_ref().map(|i| match i.kind {
                IconKind::Jpg => IconType::jpg,
                IconKind::Png => IconType::png,
            }),
            icon: o.icon.as_ref().map(|i| i.data.clone().into()),
            profile_class: match o.profile_class {
                None | Some(ProfileClassName::Operational) => ProfileClass::default_operational(),
                Some(ProfileClassName::Test) => ProfileClass::test,
                Some(ProfileClassName::Provisioning) => ProfileClass::provisioning,
            },
            notification_configuration_info: (!notifications.is_empty()).then_some(notifications),
            profile_owner: o.owner.as_ref().map(|w| OperatorId {
                mcc_mnc: w.mcc_mnc_octets().to_vec().into(),
                gid1: w.gid1.clone().map(Into::into),
                gid2: w.gid2.clone().map(Into::into),
                extensions: None,
            }),
            profile_policy_rules: (!o.ppr.is_empty()).then(|| NamedBits::from_bits(&o.ppr.bits())),
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
        // 5–6. Binding (digest §1.5 getBoundProfilePackage step 5; SGP.22 3.1.3, 5.6.2).
        let otpk = signed2.euicc_otpk.as_ref();
        let keys = self.keys_for(&session.ci_pkid)?;
        let bpp = self.bind(
            &profile,
            &req.transaction_id,
            keys,
            metadata,
            otpk,
            eid,
            euicc_cert,
        )?;
        if session.state == SessionState::Authenticated {
            let next = Session {
                state: SessionState::Bound,
                ..session.clone()
            };
            self.store
                .update_session(&next, SessionState::Authenticated)?;
        }
        tracing::info!(txid = %session.txid, %eid, profile = %profile.sid, bytes = bpp.len(), "getBoundProfilePackage");
        Ok(GetBoundProfilePackageResponse {
            header: ResponseHeader::success(),
            transaction_id: req.transaction_id.clone(),
            bound_profile_package: Der::from_bytes(bpp),
        })
    }

    /// Issues the BPP for this session, deciding between a retry and a new binding:
    ///
    /// - the same eUICC with the otPK.EUICC of the kept binding (offered back as
    ///   bppEuiccOtpk): the same otPK.DP, so the same session keys and byte-identical A0–A3
    ///   segments; in the session that was issued it, the stored BPP bytes themselves. BF23
    ///   carries this session's transactionId, which the eUICC checks (SGP.22 5.7.6
    ///   ES8+.InitialiseSecureChannel), so a new session gets a new BF23 around the same keys.
    ///   Not a download attempt.
    /// - the same eUICC with a new otPK.EUICC (it lost its key): a new binding with a fresh
    ///   otPK.DP (rebinding), unless the order refuses rebinding (8.2/3.7).
    /// - a profile already installed, or bound to another eUICC: 8.2/3.7.
    ///
    /// The store's compare-and-set on the state read here makes concurrent sessions bind
    /// exactly once; the losers get 8.2/3.7.
    #[allow(clippy::too_many_arguments)]
    fn bind(
        &self,
        profile: &Profile,
        txid: &TransactionId,
        keys: &CurveKeys,
        metadata: &[u8],
        otpk: &[u8],
        eid: &str,
        euicc_cert: &[u8],
    ) -> Result<Vec<u8>, Failure> {
        match profile.status {
            ProfileStatus::New | ProfileStatus::Reserving => {
                return fail(Code::ProfileNotReleased, "the profile is not released yet")
            }
            ProfileStatus::Installed => {
                return fail(
                    Code::BppRebindingRefused,
                    "the profile is installed already",
                )
            }
            ProfileStatus::Failed => {
                return fail(Code::BppRebindingRefused, "the order is closed (failed)")
            }
            ProfileStatus::Available | ProfileStatus::Downloaded => {}
        }
        if profile.eid.as_deref().is_some_and(|e| e != eid) {
            return fail(
                Code::BppRebindingRefused,
                "the profile is bound to another eUICC",
            );
        }
        let txid_hex = txid.to_hex();
        let retry = profile.kept_binding_for(eid) && profile.bound_otpk.as_deref() == Some(otpk);
        if retry
            && profile.status == ProfileStatus::Downloaded
            && profile.bound_txid.as_deref() == Some(txid_hex.as_str())
        {
            if let Some(b) = self.store.bpp(profile.id)? {
                return Ok(b);
            }
        }
        let ot = if retry {
            let scalar: [u8; 32] = profile
                .bound_otsk
                .as_deref()
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| Failure::new(Code::ExecutionError, "binding keys not kept"))?;
            EphemeralKey::from_scalar(keys.curve, scalar).map_err(internal)?
        } else {
            if profile.bound_otpk.is_some() && profile.options.rebinding == Rebinding::Refused {
                return fail(
                    Code::BppRebindingRefused,
                    "a BPP was issued with another otPK.EUICC and this order refuses rebinding",
                );
            }
            self.check_order_open(profile, false)?;
            self.ephemeral(keys.curve)
        };
        let bpp = self.build_bpp(profile, txid, keys, metadata, otpk, eid, &ot)?;
        let binding = Binding {
            eid: eid.to_string(),
            txid: txid_hex,
            otpk: otpk.to_vec(),
            otsk: ot.scalar().to_vec(),
            bpp: bpp.clone(),
            euicc_cert: euicc_cert.to_vec(),
        };
        let from = BindFrom {
            status: profile.status,
            bound_txid: profile.bound_txid.clone(),
            new_binding: !retry,
        };
        if !self
            .store
            .bind(profile.id, &binding, &from, self.clock.unix())?
        {
            // Another session bound it meanwhile (or the order closed, expired or ran out of
            // attempts at that instant).
            return fail(
                Code::BppRebindingRefused,
                "the profile was bound by another session",
            );
        }
        Ok(bpp)
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
        let code = profile
            .options
            .confirmation_code_encoding
            .code_bytes(cc)
            .map_err(internal)?;
        if got.as_bytes() == rsp_auth::sig::hash_cc(&code, &txid) {
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
        // A pre-protected order (SGP.22 2.5.4): the package under its own PPKs, counter from 1.
        // Protection is deterministic, so the segments are the same bytes for every binding
        // and need not be stored; A2 hands this session the PPKs.
        let ppp = match profile.ppk.as_deref() {
            None => None,
            Some(k) if k.len() == 48 => {
                let part =
                    |i: usize| -> [u8; 16] { k[i * 16..i * 16 + 16].try_into().expect("16") };
                Some(PreProtectedProfile::new(
                    &package,
                    PpkKeys {
                        enc: part(0),
                        mac: part(1),
                        initial_mcv: part(2),
                    },
                    self.engine,
                ))
            }
            Some(k) => return fail(Code::ExecutionError, format!("PPK of {} bytes", k.len())),
        };
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
            profile: match &ppp {
                Some(ppp) => ProfileSource::PreProtected(ppp),
                None => ProfileSource::Plain(&package),
            },
        })
        .map_err(|e| match e {
            // A bad otPK.EUICC (off the curve) is the eUICC's fault, not ours.
            rsp_bpp::Error::Auth(rsp_auth::Error::Key(_)) => {
                Failure::new(Code::InvalidInput, format!("otPK.EUICC: {e}"))
            }
            other => internal(other),
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
                // Any binding's transaction ID: after a rebinding, the eUICC may still report
                // the result of an earlier BPP.
                let profile = self.store.profile_by_binding_txid(&txid)?.ok_or_else(|| {
                    Failure::new(
                        Code::UnknownTransaction,
                        "no download with this transactionId",
                    )
                })?;
                let current = profile.bound_txid.as_deref() == Some(txid.as_str());
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
                        // Installed, whichever binding's BPP it was: the eUICC has the profile.
                        if !self.store.set_status(
                            profile.id,
                            &[ProfileStatus::Downloaded, ProfileStatus::Available],
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
                        // A superseded binding's failure says nothing about the current one.
                        if !current {
                            tracing::info!(%txid, profile = %profile.sid, %reason,
                                "handleNotification: failure of a superseded binding ignored");
                            return Ok(NotificationOutcome::AlreadyRecorded);
                        }
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

    /// SGP.22 5.6.5 ES9+.CancelSession: postponed and timeout put a bound profile back
    /// (`available`, the same eUICC may download again, the binding kept);
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
                // The binding (otPK.EUICC, otSK.DP) is kept: the eUICC comes back with the
                // same otPK and gets the same otPK.DP (SGP.22 3.1.3, 5.6.2).
                if bound_here {
                    self.store.unbind_session(profile_id, txid, now)?;
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
