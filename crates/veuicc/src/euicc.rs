//! The eUICC's identity and lasting state: certificates and key, trusted CIs, EUICCInfo1/2,
//! installed profiles and pending notifications.

use std::time::SystemTime;

use rand_core::CryptoRng;
use rsp_asn1::auth::{EUICCInfo1, EUICCInfo2};
use rsp_asn1::bits::{rsp_capability, uicc_capability, NamedBits};
use rsp_asn1::download::{ConfigureISDPRequest, StoreMetadataRequest};
use rsp_asn1::es10::{ProfileInfo, ProfileState};
use rsp_asn1::ids::{Eid, Iccid};
use rsp_asn1::notification::{DeleteNotificationStatus, NotificationMetadata, PendingNotification};
use rsp_asn1::raw::Certificate;
use rsp_asn1::tlv::push_tlv;
use rsp_asn1::{ObjectIdentifier, OctetTo16, SubjectKeyIdentifier, VersionType};
use rsp_auth::cert::Cert;
use rsp_auth::chain::TrustStore;
use rsp_auth::pki::Pki;
use rsp_auth::{Backend, Curve, PublicKey, SigningKey};
use rsp_bpp::Engine;

use crate::session::{KeptKey, Session};
use crate::Error;

/// The SGP.22 version this eUICC implements (EUICCInfo1/2 `svn`): v2.2.2.
pub const SVN: [u8; 3] = [2, 2, 2];
/// The SAIP profile package version it interprets (EUICCInfo2 `profileVersion`): v2.3.1.
pub const PROFILE_VERSION: [u8; 3] = [2, 3, 1];
/// ISD-P AIDs as commercial eUICCs number them: `…89 00 00 10 00`, `…11 00`, … (byte 13 is
/// 0x10 + slot).
const ISDP_AID_PREFIX: [u8; 12] = [
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89,
];
/// Slots available with that numbering (0x10..=0xFF in byte 13).
const MAX_SLOTS: usize = 0xF0;
/// GSMA's root SM-DS (SGP.22 2.4.2 lets the EUM set it; this is the usual value).
pub const ROOT_DS_ADDRESS: &str = "lpa.ds.gsma.com";
/// One-time keys kept for a retried download (bppEuiccOtpk); older ones are forgotten.
pub(crate) const MAX_KEPT_OT_KEYS: usize = 4;

/// What an eUICC is made of, for [`Euicc::from_parts`].
pub struct EuiccParts {
    /// CERT.EUICC.ECDSA; its subject serialNumber is the EID.
    pub euicc_cert: Cert,
    /// CERT.EUM.ECDSA, the issuer of `euicc_cert`; its AuthorityKeyIdentifier is the CI this
    /// eUICC signs under (euiccCiPKIdListForSigning).
    pub eum_cert: Cert,
    /// SK.EUICC.ECDSA, the key of `euicc_cert`.
    pub sk_euicc: SigningKey,
    /// CIs whose SM-DP+ certificates this eUICC accepts (euiccCiPKIdListForVerification).
    pub trust_store: TrustStore,
}

/// Capacity of the simulated eUICC; reaching it is an install error, as on a real card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Profiles that fit (ISD-P slots), at most 240.
    pub max_profiles: usize,
    /// Non-volatile memory for profile packages, in bytes (reported in extCardResource).
    pub memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_profiles: 16,
            memory: 4 * 1024 * 1024,
        }
    }
}

/// A profile installed by LoadBoundProfilePackage.
#[derive(Debug, Clone)]
pub struct InstalledProfile {
    pub iccid: Iccid,
    pub isdp_aid: OctetTo16,
    /// Disabled after installation (SGP.22: enabling is a separate ES10c command).
    pub state: ProfileState,
    pub metadata: StoreMetadataRequest,
    /// The StoreMetadataRequest TLV as carried in the BPP's `88` segments.
    pub metadata_der: Vec<u8>,
    pub configure_isdp: ConfigureISDPRequest,
    /// OID of the SM-DP+ that installed it (CERT.DPpb); `2.999` for a profile installed at
    /// manufacture ([`crate::profiles::FACTORY_OID`]).
    pub smdp_oid: ObjectIdentifier,
    /// Address of the SM-DP+ that installed it (serverAddress of the session).
    pub smdp_address: String,
    /// The profile package (UPP) as decrypted.
    pub package: Vec<u8>,
    /// Its ProfileHeader, read when the package was validated.
    pub header: rsp_saip::ProfileHeader,
    /// Set by ES10c SetNickname.
    pub nickname: Option<String>,
}

/// A misbehaving card on purpose, for testing an SM-DP+ against it (kept in the state
/// file). Codes are SGP.22's integer values.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CardFaults {
    /// AuthenticateServer answers this AuthenticateErrorCode (e.g. 2 invalidSignature,
    /// 6 euiccChallengeMismatch, 127 undefinedError) whatever the server sent.
    pub refuse_authenticate_server: Option<i64>,
    /// LoadBoundProfilePackage ends at once in a signed errorResult with this
    /// (bppCommandId, errorReason), e.g. (5, 12) loadProfileElements /
    /// installFailedDueToPEProcessingError.
    pub install_error: Option<(i64, i64)>,
    /// Every signature the card makes has one bit flipped.
    pub corrupt_signatures: bool,
    /// Free profile memory reported and enforced, in bytes (instead of the card's limit).
    pub free_memory: Option<usize>,
}

/// A virtual eUICC. See the crate documentation for the download flow.
pub struct Euicc {
    pub(crate) eid: Eid,
    pub(crate) euicc_cert: Cert,
    pub(crate) eum_cert: Cert,
    pub(crate) euicc_certificate: Certificate,
    pub(crate) eum_certificate: Certificate,
    pub(crate) sk_euicc: SigningKey,
    /// The CI of the eUICC's own chain: the one PKID it can sign with.
    pub(crate) signing_ci: SubjectKeyIdentifier,
    pub(crate) trust_store: TrustStore,
    pub(crate) backend: Backend,
    pub(crate) engine: Engine,
    pub(crate) info2: EUICCInfo2,
    pub(crate) limits: Limits,
    /// The last GetEUICCChallenge answer, consumed by the next AuthenticateServer.
    pub(crate) challenge: Option<[u8; 16]>,
    pub(crate) session: Option<Session>,
    /// otSK/otPK.EUICC of bindings that did not end in an installed profile, newest last.
    pub(crate) kept_ot_keys: Vec<KeptKey>,
    /// The last notification seqNumber handed out (eUICC-global).
    pub(crate) last_seq_number: i64,
    pub(crate) profiles: Vec<InstalledProfile>,
    pub(crate) notifications: Vec<PendingNotification>,
    pub(crate) last_error: Option<String>,
    /// The default SM-DP+ address (ES10a; lpac's `profile download` without `-s` uses it).
    pub(crate) default_dp_address: Option<String>,
    /// The root SM-DS address (SGP.22 2.4.2: set at manufacture).
    pub(crate) root_ds_address: String,
    /// The BF36 segments of a LoadBoundProfilePackage in progress (APDU level).
    pub(crate) bpp: Option<crate::es10::BppAssembly>,
    pub(crate) faults: CardFaults,
    /// An SGP.32 IoT eUICC ([`Euicc::make_sgp32`]).
    pub(crate) sgp32: bool,
}

impl core::fmt::Debug for Euicc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Euicc")
            .field("eid", &self.eid)
            .field("curve", &self.curve())
            .field("profiles", &self.profiles.len())
            .field("notifications", &self.notifications.len())
            .field(
                "session",
                &self.session.as_ref().map(|s| s.transaction_id.to_hex()),
            )
            .finish()
    }
}

fn identity(msg: impl Into<String>) -> Error {
    Error::Identity(msg.into())
}

impl Euicc {
    /// The eUICC of `curve` in a PKI folder (SGP.26 layout: `eUICC/`, `EUM/`). It trusts every
    /// CI of the folder to verify servers, and checks its own chain at `now`.
    pub fn from_pki(
        pki: &Pki,
        curve: Curve,
        backend: Backend,
        now: SystemTime,
    ) -> Result<Self, Error> {
        let c = pki
            .by_curve(curve)
            .ok_or_else(|| identity(format!("the PKI has no {curve} CI")))?;
        let euicc = c
            .euicc
            .as_ref()
            .ok_or_else(|| identity(format!("the PKI has no {curve} eUICC certificate and key")))?;
        let eum = c
            .eum
            .as_ref()
            .ok_or_else(|| identity(format!("the PKI has no {curve} EUM certificate")))?;
        let trust_store = pki.trust_store(now)?;
        trust_store.verify_euicc(eum, &euicc.cert, now, Some(c.ci_ski()), backend)?;
        // SigningKey is not Clone: rebuild it from its scalar.
        let sk_euicc = SigningKey::from_scalar(curve, &euicc.key.scalar())?;
        Self::from_parts(
            EuiccParts {
                euicc_cert: euicc.cert.clone(),
                eum_cert: eum.clone(),
                sk_euicc,
                trust_store,
            },
            backend,
        )
    }

    /// An eUICC from explicit parts. The key must be the eUICC certificate's, the EID (subject
    /// serialNumber) valid, and the EUM its issuer by key identifier; the chain itself is not
    /// re-verified (the CI of the eUICC's own chain need not be in `trust_store`).
    pub fn from_parts(parts: EuiccParts, backend: Backend) -> Result<Self, Error> {
        let EuiccParts {
            euicc_cert,
            eum_cert,
            sk_euicc,
            trust_store,
        } = parts;
        if sk_euicc.public_key() != euicc_cert.public_key() {
            return Err(identity("SK.EUICC is not the key of CERT.EUICC"));
        }
        let sn = euicc_cert
            .subject_serial_number
            .as_deref()
            .ok_or_else(|| identity("CERT.EUICC has no subject serialNumber (EID)"))?;
        let eid = Eid::parse(sn)?;
        if euicc_cert.authority_key_id.is_none()
            || euicc_cert.authority_key_id != eum_cert.subject_key_id
        {
            return Err(identity(
                "CERT.EUICC is not issued by CERT.EUM (key identifiers)",
            ));
        }
        let signing_ci = eum_cert
            .authority_key_id
            .clone()
            .ok_or_else(|| identity("CERT.EUM has no AuthorityKeyIdentifier (CI PKID)"))?;
        let signing_ci = SubjectKeyIdentifier::new(signing_ci)?;
        let verification: Vec<SubjectKeyIdentifier> = trust_store
            .cis()
            .iter()
            .filter_map(|c| c.subject_key_id.clone())
            .map(SubjectKeyIdentifier::new)
            .collect::<Result<_, _>>()?;
        let info2 = default_euicc_info2(verification, vec![signing_ci.clone()]);
        Ok(Self {
            eid,
            euicc_certificate: Certificate::from_der(euicc_cert.der())?,
            eum_certificate: Certificate::from_der(eum_cert.der())?,
            euicc_cert,
            eum_cert,
            sk_euicc,
            signing_ci,
            trust_store,
            backend,
            engine: Engine::default(),
            info2,
            limits: Limits::default(),
            challenge: None,
            session: None,
            kept_ot_keys: Vec::new(),
            last_seq_number: 0,
            profiles: Vec::new(),
            notifications: Vec::new(),
            last_error: None,
            default_dp_address: None,
            root_ds_address: ROOT_DS_ADDRESS.into(),
            bpp: None,
            faults: CardFaults::default(),
            sgp32: false,
        })
    }

    /// Makes this an SGP.32 v1.2 IoT eUICC: EUICCInfo2 carries `ipaMode` (IPAd) and
    /// `iotSpecificInfo` (SGP.32 1.2, eCall and fallback supported), the SVN is SGP.22 v2.5
    /// (what SGP.32 v1.2 builds on), the category is basicEuicc, and the CI list for
    /// verification is trimmed to the CI of the card's own chain, as constrained cards do.
    /// Kept in the state file.
    pub fn make_sgp32(&mut self) {
        use rsp_asn1::auth::{EuiccCategory, IoTSpecificInfo, IpaMode};
        let info = &mut self.info2;
        info.svn = VersionType::from_parts(2, 5, 0);
        info.euicc_category = Some(EuiccCategory::basicEuicc);
        info.euicc_ci_pkid_list_for_verification = vec![self.signing_ci.clone()];
        info.ipa_mode = Some(IpaMode::ipad);
        info.iot_specific_info = Some(IoTSpecificInfo {
            iot_version: vec![VersionType::from_parts(1, 2, 0)],
            ecall_supported: Some(()),
            fallback_supported: Some(()),
            extensions: None,
        });
        self.sgp32 = true;
    }

    /// Whether this is an SGP.32 IoT eUICC ([`Euicc::make_sgp32`]).
    pub fn is_sgp32(&self) -> bool {
        self.sgp32
    }

    /// Uses `engine` for the BPP's AES (default: AES-NI where available).
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// Sets the capacity (profiles, memory); `max_profiles` is capped at 240.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = Limits {
            max_profiles: limits.max_profiles.min(MAX_SLOTS),
            ..limits
        };
    }

    /// The EUICCInfo2 sent in euiccSigned1, to change what this eUICC claims (versions,
    /// capabilities, PKID lists). `extCardResource` is filled in from the installed profiles
    /// each time it is sent.
    pub fn euicc_info2_template_mut(&mut self) -> &mut EUICCInfo2 {
        &mut self.info2
    }

    /// The EID.
    pub fn eid(&self) -> Eid {
        self.eid
    }

    /// The curve of the eUICC's own chain.
    pub fn curve(&self) -> Curve {
        self.euicc_cert.curve()
    }

    /// CERT.EUICC.ECDSA.
    pub fn euicc_certificate(&self) -> &Cert {
        &self.euicc_cert
    }

    /// CERT.EUM.ECDSA.
    pub fn eum_certificate(&self) -> &Cert {
        &self.eum_cert
    }

    /// PK.EUICC.ECDSA: what the SM-DP+ verifies euiccSignature1/2 and euiccSignPIR with.
    pub fn public_key(&self) -> &PublicKey {
        self.sk_euicc.public_key()
    }

    /// The CIs this eUICC accepts servers under.
    pub fn trust_store(&self) -> &TrustStore {
        &self.trust_store
    }

    /// Why the last refused command was refused (the error alternatives carry only a code).
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    pub(crate) fn refuse(&mut self, what: &str, detail: impl core::fmt::Display) {
        let msg = format!("{what}: {detail}");
        tracing::debug!(eid = %self.eid, "{msg}");
        self.last_error = Some(msg);
    }

    /// ES10b GetEUICCChallenge: 16 random bytes the next AuthenticateServer must echo. Any
    /// ongoing RSP session is abandoned.
    pub fn get_euicc_challenge<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> [u8; 16] {
        let mut c = [0u8; 16];
        rng.fill_bytes(&mut c);
        self.challenge = Some(c);
        self.session = None;
        c
    }

    /// ES10b GetEUICCInfo1: the SVN and the CI PKIDs for verification (trusted CIs) and for
    /// signing (the CI of the eUICC's own chain).
    pub fn euicc_info1(&self) -> EUICCInfo1 {
        EUICCInfo1 {
            svn: self.info2.svn.clone(),
            euicc_ci_pkid_list_for_verification: self
                .info2
                .euicc_ci_pkid_list_for_verification
                .clone(),
            euicc_ci_pkid_list_for_signing: self.info2.euicc_ci_pkid_list_for_signing.clone(),
            extensions: None,
        }
    }

    /// ES10b GetEUICCInfo2, with extCardResource showing the installed profiles and free memory.
    pub fn euicc_info2(&self) -> EUICCInfo2 {
        let mut info = self.info2.clone();
        info.ext_card_resource = self.ext_card_resource().into();
        info
    }

    /// ETSI TS 102 226 extended card resources: `81` installed applications, `82` free
    /// non-volatile memory, `83` free volatile memory.
    fn ext_card_resource(&self) -> Vec<u8> {
        let apps = u8::try_from(self.profiles.len()).unwrap_or(u8::MAX);
        let free = u32::try_from(self.free_memory()).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(13);
        push_tlv(&mut out, &[0x81], &[apps]);
        push_tlv(&mut out, &[0x82], &free.to_be_bytes());
        push_tlv(&mut out, &[0x83], &0x4000u16.to_be_bytes());
        out
    }

    /// Bytes of profile memory still free.
    pub fn free_memory(&self) -> usize {
        if let Some(m) = self.faults.free_memory {
            return m;
        }
        let used: usize = self.profiles.iter().map(|p| p.package.len()).sum();
        self.limits.memory.saturating_sub(used)
    }

    /// The installed profiles, in installation order.
    pub fn installed_profiles(&self) -> &[InstalledProfile] {
        &self.profiles
    }

    /// ES10c GetProfilesInfo: one ProfileInfo per installed profile (all fields).
    pub fn profile_info_list(&self) -> Vec<ProfileInfo> {
        self.profiles
            .iter()
            .map(|p| ProfileInfo {
                iccid: Some(p.iccid.clone()),
                isdp_aid: Some(p.isdp_aid.clone()),
                profile_state: Some(p.state),
                service_provider_name: Some(p.metadata.service_provider_name.clone()),
                profile_name: Some(p.metadata.profile_name.clone()),
                profile_nickname: p.nickname.clone(),
                icon_type: p.metadata.icon_type,
                icon: p.metadata.icon.clone(),
                profile_class: Some(p.metadata.profile_class),
                notification_configuration_info: p.metadata.notification_configuration_info.clone(),
                profile_owner: p.metadata.profile_owner.clone(),
                dp_proprietary_data: p.configure_isdp.dp_proprietary_data.clone(),
                profile_policy_rules: p.metadata.profile_policy_rules.clone(),
                ..ProfileInfo::default()
            })
            .collect()
    }

    /// otSK.EUICC of the session waiting for its BPP (between PrepareDownload and the end of
    /// LoadBoundProfilePackage): what a simulated card may show and a real one never does,
    /// so that a recorded session carries the eUICC-side secret `smdp verify-bpp` needs.
    pub fn session_otsk(&self) -> Option<[u8; 32]> {
        match &self.session.as_ref()?.stage {
            crate::session::Stage::Prepared(p) => Some(p.ot_scalar()),
            _ => None,
        }
    }

    /// Whether an RSP session is open (AuthenticateServer succeeded and neither a result nor a
    /// cancel has ended it).
    pub fn in_session(&self) -> bool {
        self.session.is_some()
    }

    /// The scripted misbehaviour of this card.
    pub fn faults(&self) -> &CardFaults {
        &self.faults
    }

    pub fn set_faults(&mut self, faults: CardFaults) {
        self.faults = faults;
    }

    /// SK.EUICC's signature, with a bit flipped when the card is scripted to corrupt them.
    pub(crate) fn sign(&self, msg: &[u8]) -> Result<rsp_auth::RawSignature, rsp_auth::Error> {
        let mut sig = self.sk_euicc.sign_raw(msg, self.backend)?;
        if self.faults.corrupt_signatures {
            sig[0] ^= 0x01;
        }
        Ok(sig)
    }

    /// The default SM-DP+ address (ES10a GetEuiccConfiguredAddresses).
    pub fn default_dp_address(&self) -> Option<&str> {
        self.default_dp_address.as_deref()
    }

    /// Sets the default SM-DP+ address (ES10a SetDefaultDpAddress; `None` clears it).
    pub fn set_default_dp_address(&mut self, address: Option<String>) {
        self.default_dp_address = address;
    }

    /// The pending notifications, oldest first.
    pub fn pending_notifications(&self) -> &[PendingNotification] {
        &self.notifications
    }

    /// ES10b ListNotification: the metadata of every pending notification.
    pub fn list_notifications(&self) -> Vec<NotificationMetadata> {
        self.notifications
            .iter()
            .map(|n| notification_metadata(n).clone())
            .collect()
    }

    /// ES10b RetrieveNotificationsList by seqNumber.
    pub fn retrieve_notification(&self, seq_number: i64) -> Option<&PendingNotification> {
        self.notifications
            .iter()
            .find(|n| notification_metadata(n).seq_number == seq_number)
    }

    /// ES10b RemoveNotificationFromList (NotificationSent): `ok`, or `nothingToDelete` for an
    /// unknown seqNumber.
    pub fn remove_notification(&mut self, seq_number: i64) -> DeleteNotificationStatus {
        let before = self.notifications.len();
        self.notifications
            .retain(|n| notification_metadata(n).seq_number != seq_number);
        if self.notifications.len() < before {
            DeleteNotificationStatus::ok
        } else {
            DeleteNotificationStatus::nothingToDelete
        }
    }

    pub(crate) fn next_seq_number(&self) -> i64 {
        self.last_seq_number.saturating_add(1)
    }

    /// The AID of the first free ISD-P slot, or `None` when the eUICC is full.
    pub(crate) fn free_isdp_aid(&self) -> Option<OctetTo16> {
        (0..self.limits.max_profiles.min(MAX_SLOTS))
            .map(isdp_aid)
            .find(|aid| !self.profiles.iter().any(|p| &p.isdp_aid == aid))
    }
}

fn isdp_aid(slot: usize) -> OctetTo16 {
    let mut aid = ISDP_AID_PREFIX.to_vec();
    // slot < MAX_SLOTS, so 0x10 + slot fits a byte.
    aid.extend([0x00, 0x00, 0x10u8.wrapping_add(slot as u8), 0x00]);
    OctetTo16(aid.into())
}

/// The NotificationMetadata of a pending notification.
pub(crate) fn notification_metadata(n: &PendingNotification) -> &NotificationMetadata {
    match n {
        PendingNotification::ProfileInstallationResult(pir) => {
            &pir.profile_installation_result_data
                .value()
                .notification_metadata
        }
        PendingNotification::OtherSignedNotification(o) => o.tbs_other_notification.value(),
    }
}

/// What a v2.2 consumer eUICC with a USIM/ISIM/CSIM-capable Java Card OS reports.
fn default_euicc_info2(
    verification: Vec<SubjectKeyIdentifier>,
    signing: Vec<SubjectKeyIdentifier>,
) -> EUICCInfo2 {
    use uicc_capability as u;
    let v = |b: [u8; 3]| VersionType::from_parts(b[0], b[1], b[2]);
    EUICCInfo2 {
        profile_version: v(PROFILE_VERSION),
        svn: v(SVN),
        euicc_firmware_ver: v([1, 0, 0]),
        ext_card_resource: Vec::new().into(),
        uicc_capability: NamedBits::from_bits(&[
            u::USIM_SUPPORT,
            u::ISIM_SUPPORT,
            u::CSIM_SUPPORT,
            u::AKA_MILENAGE,
            u::AKA_TUAK128,
            u::GBA_AUTHEN_USIM,
            u::GBA_AUTHEN_ISIM,
            u::EAP_CLIENT,
            u::JAVACARD,
            u::MULTIPLE_USIM_SUPPORT,
            u::MULTIPLE_ISIM_SUPPORT,
            u::BER_TLV_FILE_SUPPORT,
            u::DF_LINK_SUPPORT,
            u::CAT_TP,
            u::GET_IDENTITY,
            u::PROFILE_A_X25519,
            u::PROFILE_B_P256,
            u::SUCI_CALCULATOR_API,
        ]),
        ts102241_version: Some(v([9, 2, 0])),
        globalplatform_version: Some(v([2, 3, 0])),
        rsp_capability: NamedBits::from_bits(&[
            rsp_capability::ADDITIONAL_PROFILE,
            rsp_capability::TEST_PROFILE_SUPPORT,
        ]),
        euicc_ci_pkid_list_for_verification: verification,
        euicc_ci_pkid_list_for_signing: signing,
        euicc_category: None,
        forbidden_profile_policy_rules: None,
        pp_version: v([0, 0, 1]),
        sas_acreditation_number: "smdp-sim-veuicc".into(),
        certification_data_object: None,
        tre_properties: None,
        tre_product_reference: None,
        additional_euicc_profile_package_versions: None,
        ipa_mode: None,
        euicc_ci_pkid_list_for_signing_v3: None,
        additional_euicc_info: None,
        highest_svn: None,
        iot_specific_info: None,
        extensions: None,
    }
}
