//! The RSP session: ES10b AuthenticateServer, PrepareDownload, LoadBoundProfilePackage and
//! CancelSession, each checking what the server sent before signing anything.

use std::time::SystemTime;

use rand_core::CryptoRng;
use rsp_asn1::auth::{
    AuthenticateErrorCode, AuthenticateResponseError, AuthenticateResponseOk,
    AuthenticateServerRequest, AuthenticateServerResponse, EuiccSigned1,
};
use rsp_asn1::bits::{notification_event, NamedBits};
use rsp_asn1::download::{
    BoundProfilePackage, DownloadErrorCode, EUICCSigned2, PrepareDownloadRequest,
    PrepareDownloadResponse, PrepareDownloadResponseError, PrepareDownloadResponseOk,
    StoreMetadataRequest,
};
use rsp_asn1::es10::ProfileState;
use rsp_asn1::ids::Iccid;
use rsp_asn1::notification::{
    BppCommandId, CancelSessionReason, CancelSessionResponse, CancelSessionResponseError,
    CancelSessionResponseOk, ErrorReason, ErrorResult, EuiccCancelSessionSigned, FinalResult,
    NotificationMetadata, PendingNotification, ProfileInstallationResult,
    ProfileInstallationResultData, SuccessResult,
};
use rsp_asn1::raw::Signed;
use rsp_asn1::{ObjectIdentifier, Octet32, TransactionId};
use rsp_auth::cert::{Cert, Role};
use rsp_auth::chain::{ChainError, Rule};
use rsp_auth::ecdh::EphemeralKey;
use rsp_auth::sig::{input, raw_signature};
use rsp_auth::{Curve, PublicKey};
use rsp_bpp::bpp::{unwrap, UnwrapContext, UnwrapError, Unwrapped};

use crate::euicc::{Euicc, InstalledProfile, MAX_KEPT_OT_KEYS};
use crate::sima::{pe_status, EuiccResponse, PeStatus};
use crate::{lpa, Error};

/// The ongoing RSP session, from a successful AuthenticateServer to the end of the download.
pub(crate) struct Session {
    pub(crate) transaction_id: TransactionId,
    /// serverAddress of serverSigned1: where the install notification goes.
    pub(crate) server_address: String,
    /// The SM-DP+ OID of CERT.DPauth (EuiccCancelSessionSigned, and CERT.DPpb must match).
    pub(crate) smdp_oid: ObjectIdentifier,
    /// Input of smdpSignature2.
    pub(crate) euicc_signature1: [u8; 64],
    pub(crate) stage: Stage,
}

pub(crate) enum Stage {
    Authenticated,
    Prepared(Box<Prepared>),
    /// LoadBoundProfilePackage failed: only CancelSession (loadBppExecutionError) is left.
    LoadFailed,
}

pub(crate) struct Prepared {
    /// PK.DPpb from the verified CERT.DPpb: checks smdpSign in the BPP.
    dp_pb_key: PublicKey,
    /// The SM-DP+ OID of CERT.DPpb: smdpOid of the install result.
    dp_pb_oid: ObjectIdentifier,
    ot_key: KeptKey,
}

impl Prepared {
    pub(crate) fn ot_scalar(&self) -> [u8; 32] {
        self.ot_key.scalar
    }
}

/// A one-time ECKA key pair held as its scalar (EphemeralKey is not Clone and a kept key must
/// outlive the session for a retry with bppEuiccOtpk).
#[derive(Clone)]
pub(crate) struct KeptKey {
    curve: Curve,
    scalar: [u8; 32],
    public: [u8; 65],
}

impl KeptKey {
    fn new(k: &EphemeralKey) -> Self {
        Self {
            curve: k.curve(),
            scalar: *k.scalar(),
            public: *k.public_point(),
        }
    }

    fn key(&self) -> Result<EphemeralKey, rsp_auth::Error> {
        EphemeralKey::from_scalar(self.curve, self.scalar)
    }
}

/// A refused LoadBoundProfilePackage, as the errorResult reports it.
struct InstallFailure {
    bpp_command_id: BppCommandId,
    error_reason: ErrorReason,
    sima_response: Option<EuiccResponse>,
    /// Known once StoreMetadata was processed.
    iccid: Option<Iccid>,
    detail: String,
}

impl InstallFailure {
    fn new(
        bpp_command_id: BppCommandId,
        error_reason: ErrorReason,
        iccid: Option<Iccid>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            bpp_command_id,
            error_reason,
            sima_response: None,
            iccid,
            detail: detail.into(),
        }
    }

    fn with_sima(mut self, response: EuiccResponse) -> Self {
        self.sima_response = Some(response);
        self
    }
}

type Refusal<C> = (C, String);

/// AuthenticateErrorCode for a CERT.DPauth that does not verify: an issuing CI outside
/// euiccCiPKIdListForVerification is ciPKUnknown, a missing SM-DP+ OID (SAN registeredID)
/// invalidOid, anything else invalidCertificate.
fn dp_auth_code(e: &ChainError) -> AuthenticateErrorCode {
    match e.rule {
        Rule::UnknownCi => AuthenticateErrorCode::ciPKUnknown,
        Rule::Missing => AuthenticateErrorCode::invalidOid,
        _ => AuthenticateErrorCode::invalidCertificate,
    }
}

impl Euicc {
    /// ES10b AuthenticateServer. Checks, in SGP.22 order: CERT.DPauth chains to a CI this eUICC
    /// trusts (`invalidCertificate`; `ciPKUnknown` for an unknown CI; `invalidOid` without an
    /// SM-DP+ OID), serverSignature1 over the received serverSigned1 (`invalidSignature`), the
    /// euiccChallenge echo (`euiccChallengeMismatch`; `noSessionContext` when no challenge was
    /// asked for), euiccCiPKIdToBeUsed is the CI it signs under (`ciPKUnknown`). Then it signs
    /// euiccSigned1 {transactionId, serverAddress, serverChallenge, euiccInfo2, ctxParams1} and
    /// opens the session.
    ///
    /// The challenge is single-use: a refused request needs a new GetEUICCChallenge. Any
    /// previous session ends here.
    pub fn authenticate_server(
        &mut self,
        req: &AuthenticateServerRequest,
        now: SystemTime,
    ) -> AuthenticateServerResponse {
        let challenge = self.challenge.take();
        self.session = None;
        let scripted = self.faults.refuse_authenticate_server.map(|c| {
            (
                AuthenticateErrorCode(c),
                "scripted refusal (card faults)".to_string(),
            )
        });
        let checked = match scripted {
            Some(refusal) => Err(refusal),
            None => self.authenticate_server_checked(req, challenge, now),
        };
        match checked {
            Ok(ok) => AuthenticateServerResponse::AuthenticateResponseOk(Box::new(ok)),
            Err((code, detail)) => {
                self.refuse("AuthenticateServer", format_args!("{code:?}: {detail}"));
                AuthenticateServerResponse::AuthenticateResponseError(AuthenticateResponseError {
                    transaction_id: req.server_signed1.transaction_id.clone(),
                    authenticate_error_code: code,
                    extensions: None,
                })
            }
        }
    }

    fn authenticate_server_checked(
        &mut self,
        req: &AuthenticateServerRequest,
        challenge: Option<[u8; 16]>,
        now: SystemTime,
    ) -> Result<AuthenticateResponseOk, Refusal<AuthenticateErrorCode>> {
        use AuthenticateErrorCode as E;
        let cert = Cert::from_der(req.server_certificate.as_der())
            .map_err(|e| (E::invalidCertificate, format!("CERT.DPauth: {e}")))?;
        let server = self
            .trust_store
            .verify_server(&cert, Role::DpAuth, now, self.backend)
            .map_err(|e| (dp_auth_code(&e), e.to_string()))?;
        let smdp_oid = server
            .oid
            .clone()
            .ok_or_else(|| (E::invalidOid, "CERT.DPauth has no SM-DP+ OID".to_string()))?;

        raw_signature(&req.server_signature1)
            .and_then(|sig| {
                server.public_key.verify_raw(
                    input::server_signature1(&req.server_signed1),
                    &sig,
                    self.backend,
                )
            })
            .map_err(|e| (E::invalidSignature, format!("serverSignature1: {e}")))?;

        let signed1 = req.server_signed1.value();
        match challenge {
            None => {
                return Err((
                    E::noSessionContext,
                    "no euiccChallenge outstanding (GetEUICCChallenge first)".into(),
                ))
            }
            Some(c) if c != signed1.euicc_challenge.as_bytes() => {
                return Err((
                    E::euiccChallengeMismatch,
                    format!(
                        "euiccChallenge {} is not the one issued, {}",
                        hex::encode_upper(signed1.euicc_challenge.as_bytes()),
                        hex::encode_upper(c)
                    ),
                ))
            }
            Some(_) => {}
        }

        if req.euicc_ci_pkid_to_be_used != self.signing_ci {
            return Err((
                E::ciPKUnknown,
                format!(
                    "euiccCiPKIdToBeUsed {} is not the CI of this eUICC's chain",
                    hex::encode_upper(req.euicc_ci_pkid_to_be_used.as_bytes())
                ),
            ));
        }

        let undefined = |e: &dyn core::fmt::Display| (E::undefinedError, e.to_string());
        let euicc_signed1 = Signed::new(EuiccSigned1 {
            transaction_id: signed1.transaction_id.clone(),
            server_address: signed1.server_address.clone(),
            server_challenge: signed1.server_challenge.clone(),
            euicc_info2: self.euicc_info2(),
            ctx_params1: req.ctx_params1.clone(),
            extensions: None,
        })
        .map_err(|e| undefined(&e))?;
        let euicc_signature1 = self
            .sign(input::euicc_signature1(&euicc_signed1))
            .map_err(|e| undefined(&e))?;
        self.session = Some(Session {
            transaction_id: signed1.transaction_id.clone(),
            server_address: signed1.server_address.clone(),
            smdp_oid,
            euicc_signature1,
            stage: Stage::Authenticated,
        });
        Ok(AuthenticateResponseOk {
            euicc_signed1,
            euicc_signature1: euicc_signature1.to_vec().into(),
            euicc_certificate: self.euicc_certificate.clone(),
            eum_certificate: self.eum_certificate.clone(),
            extensions: None,
        })
    }

    /// ES10b PrepareDownload. Needs an authenticated session (`noSessionContext`). Checks
    /// CERT.DPpb chains to a trusted CI and carries the SM-DP+ OID of CERT.DPauth
    /// (`invalidCertificate`), smdpSignature2 over smdpSigned2 ‖ `5F37 40 ‖ euiccSignature1`
    /// (`invalidSignature`), and that smdpSigned2's transactionId is the session's
    /// (`invalidTransactionId`).
    ///
    /// otPK.EUICC is fresh on the curve of CERT.DPpb, unless smdpSigned2.bppEuiccOtpk names a
    /// key this eUICC kept from an earlier binding (a retried download): then that key is used
    /// again. When ccRequiredFlag is set, euiccSigned2 carries hashCc: computed from
    /// `confirmation_code` when given (what an LPA does with the code the user typed, digest
    /// §4.3), else `req.hashCc` as the LPA sent it (omitted if absent, for the server to refuse).
    pub fn prepare_download<R: CryptoRng + ?Sized>(
        &mut self,
        req: &PrepareDownloadRequest,
        confirmation_code: Option<&str>,
        rng: &mut R,
        now: SystemTime,
    ) -> PrepareDownloadResponse {
        let session_txid = self
            .session
            .as_ref()
            .filter(|s| matches!(s.stage, Stage::Authenticated | Stage::Prepared(_)))
            .map(|s| s.transaction_id.clone());
        let (txid, result) = match session_txid {
            Some(txid) => (
                txid,
                self.prepare_download_checked(req, confirmation_code, rng, now),
            ),
            None => (
                req.smdp_signed2.transaction_id.clone(),
                Err((
                    DownloadErrorCode::noSessionContext,
                    "no authenticated RSP session".into(),
                )),
            ),
        };
        match result {
            Ok(ok) => PrepareDownloadResponse::DownloadResponseOk(Box::new(ok)),
            Err((code, detail)) => {
                self.refuse("PrepareDownload", format_args!("{code:?}: {detail}"));
                PrepareDownloadResponse::DownloadResponseError(PrepareDownloadResponseError {
                    transaction_id: txid,
                    download_error_code: code,
                    extensions: None,
                })
            }
        }
    }

    fn prepare_download_checked<R: CryptoRng + ?Sized>(
        &mut self,
        req: &PrepareDownloadRequest,
        confirmation_code: Option<&str>,
        rng: &mut R,
        now: SystemTime,
    ) -> Result<PrepareDownloadResponseOk, Refusal<DownloadErrorCode>> {
        use DownloadErrorCode as E;
        let Some(session) = &self.session else {
            return Err((E::noSessionContext, "no RSP session".into()));
        };
        let cert = Cert::from_der(req.smdp_certificate.as_der())
            .map_err(|e| (E::invalidCertificate, format!("CERT.DPpb: {e}")))?;
        let server = self
            .trust_store
            .verify_server(&cert, Role::DpPb, now, self.backend)
            .map_err(|e| (E::invalidCertificate, e.to_string()))?;
        let dp_pb_oid = match server.oid.clone() {
            Some(oid) if oid == session.smdp_oid => oid,
            other => {
                return Err((
                    E::invalidCertificate,
                    format!(
                        "CERT.DPpb SM-DP+ OID {other:?} is not CERT.DPauth's {}",
                        session.smdp_oid
                    ),
                ))
            }
        };

        let smdp_signature2 = raw_signature(&req.smdp_signature2)
            .and_then(|sig| {
                server
                    .public_key
                    .verify_raw(
                        &input::smdp_signature2(&req.smdp_signed2, &session.euicc_signature1),
                        &sig,
                        self.backend,
                    )
                    .map(|()| sig)
            })
            .map_err(|e| (E::invalidSignature, format!("smdpSignature2: {e}")))?;

        let signed2 = req.smdp_signed2.value();
        if signed2.transaction_id != session.transaction_id {
            return Err((
                E::invalidTransactionId,
                format!(
                    "smdpSigned2 transactionId {} is not the session's {}",
                    signed2.transaction_id.to_hex(),
                    session.transaction_id.to_hex()
                ),
            ));
        }

        let hash_cc: Option<Octet32> = if signed2.cc_required_flag {
            match confirmation_code {
                Some(cc) => Some(lpa::hash_cc(cc, &session.transaction_id)),
                None => req.hash_cc.clone(),
            }
        } else {
            None
        };

        let curve = server.public_key.curve();
        let retry = signed2.bpp_euicc_otpk.as_deref().and_then(|otpk| {
            self.kept_ot_keys
                .iter()
                .find(|k| k.curve == curve && k.public.as_slice() == otpk)
                .cloned()
        });
        let ot_key = match retry {
            Some(k) => k,
            None => KeptKey::new(&EphemeralKey::generate(curve, rng)),
        };

        let undefined = |e: &dyn core::fmt::Display| (E::undefinedError, e.to_string());
        let euicc_signed2 = Signed::new(EUICCSigned2 {
            transaction_id: session.transaction_id.clone(),
            euicc_otpk: ot_key.public.to_vec().into(),
            hash_cc,
            extensions: None,
        })
        .map_err(|e| undefined(&e))?;
        let euicc_signature2 = self
            .sign(&input::euicc_signature2(&euicc_signed2, &smdp_signature2))
            .map_err(|e| undefined(&e))?;

        // Keep the key until a profile is installed with it, for a retry in a later session.
        self.kept_ot_keys.retain(|k| k.public != ot_key.public);
        self.kept_ot_keys.push(ot_key.clone());
        if self.kept_ot_keys.len() > MAX_KEPT_OT_KEYS {
            self.kept_ot_keys.remove(0);
        }
        if let Some(s) = &mut self.session {
            s.stage = Stage::Prepared(Box::new(Prepared {
                dp_pb_key: server.public_key,
                dp_pb_oid,
                ot_key,
            }));
        }
        Ok(PrepareDownloadResponseOk {
            euicc_signed2,
            euicc_signature2: euicc_signature2.to_vec().into(),
            extensions: None,
        })
    }

    /// ES10b LoadBoundProfilePackage (the whole BPP at once). Unwraps it with the session's
    /// otSK.EUICC (smdpSign, every segment MAC, decryption; rsp_bpp), checks the profile
    /// (StoreMetadata ICCID new on this eUICC and equal to the package header's, package parses
    /// and passes the SAIP rules, room left) and installs it, Disabled.
    ///
    /// Either way the result is a signed ProfileInstallationResult (success, or errorResult with
    /// bppCommandId and errorReason), also queued as a pending notification to the session's
    /// SM-DP+. Success ends the session; after a failure only CancelSession is left. `Err` only
    /// when there is no prepared session (the LPA skipped PrepareDownload) or signing fails.
    pub fn load_bound_profile_package(
        &mut self,
        bpp: &BoundProfilePackage,
    ) -> Result<ProfileInstallationResult, Error> {
        const NOT_PREPARED: Error =
            Error::NoSession("LoadBoundProfilePackage needs a PrepareDownload in this session");
        let Some(session) = self.session.take() else {
            return Err(NOT_PREPARED);
        };
        let Stage::Prepared(prepared) = &session.stage else {
            self.session = Some(session);
            return Err(NOT_PREPARED);
        };
        let result = self.load_checked(&session, prepared, bpp);
        let (iccid, final_result) = match &result {
            Ok(p) => (
                Some(p.iccid.clone()),
                FinalResult::SuccessResult(SuccessResult {
                    aid: p.isdp_aid.0.clone(),
                    sima_response: EuiccResponse::success().to_der().into(),
                    extensions: None,
                }),
            ),
            Err(f) => (
                f.iccid.clone(),
                FinalResult::ErrorResult(ErrorResult {
                    bpp_command_id: f.bpp_command_id,
                    error_reason: f.error_reason,
                    sima_response: f.sima_response.as_ref().map(|r| r.to_der().into()),
                    extensions: None,
                }),
            ),
        };
        let seq_number = self.next_seq_number();
        let signed = Signed::new(ProfileInstallationResultData {
            transaction_id: session.transaction_id.clone(),
            notification_metadata: NotificationMetadata {
                seq_number,
                profile_management_operation: NamedBits::from_bits(&[notification_event::INSTALL]),
                notification_address: session.server_address.clone(),
                iccid,
                extensions: None,
            },
            smdp_oid: Some(prepared.dp_pb_oid.clone()),
            final_result,
            extensions: None,
        })
        .map_err(Error::from)
        .and_then(|d| {
            let sig = self.sign(input::euicc_sign_pir(&d))?;
            Ok((d, sig))
        });
        let (data, sig) = match signed {
            Ok(x) => x,
            Err(e) => {
                self.session = Some(session);
                return Err(e);
            }
        };
        let pir = ProfileInstallationResult {
            profile_installation_result_data: data,
            euicc_sign_pir: sig.to_vec().into(),
            extensions: None,
        };
        self.last_seq_number = seq_number;
        self.notifications
            .push(PendingNotification::ProfileInstallationResult(pir.clone()));
        match result {
            Ok(profile) => {
                let used = prepared.ot_key.public;
                self.kept_ot_keys.retain(|k| k.public != used);
                self.profiles.push(profile);
            }
            Err(f) => {
                self.refuse(
                    "LoadBoundProfilePackage",
                    format_args!("{:?} {:?}: {}", f.bpp_command_id, f.error_reason, f.detail),
                );
                self.session = Some(Session {
                    stage: Stage::LoadFailed,
                    ..session
                });
            }
        }
        Ok(pir)
    }

    fn load_checked(
        &self,
        session: &Session,
        p: &Prepared,
        bpp: &BoundProfilePackage,
    ) -> Result<InstalledProfile, InstallFailure> {
        use BppCommandId as C;
        use ErrorReason as R;
        if let Some((cmd, reason)) = self.faults.install_error {
            return Err(InstallFailure::new(
                C(cmd),
                R(reason),
                None,
                "scripted install error (card faults)",
            ));
        }
        let ot = p.ot_key.key().map_err(|e| {
            InstallFailure::new(
                C::initialiseSecureChannel,
                R::installFailedDueToUnknownError,
                None,
                e.to_string(),
            )
        })?;
        let u: Unwrapped = unwrap(
            bpp,
            &UnwrapContext {
                euicc_ot_key: &ot,
                eid: *self.eid.as_bytes(),
                dp_pb_key: &p.dp_pb_key,
                transaction_id: &session.transaction_id,
                backend: self.backend,
                engine: self.engine,
            },
        )
        .map_err(|e| unwrap_failure(bpp, e))?;
        let iccid = u.store_metadata.iccid.clone();
        let fail = |cmd, reason, detail: String| {
            InstallFailure::new(cmd, reason, Some(iccid.clone()), detail)
        };

        if self.profiles.iter().any(|p| p.iccid == iccid) {
            return Err(fail(
                C::storeMetadata,
                R::installFailedDueToIccidAlreadyExistsOnEuicc,
                format!("ICCID {iccid} is already installed"),
            ));
        }
        let Some(isdp_aid) = self.free_isdp_aid() else {
            return Err(fail(
                C::configureISDP,
                R::installFailedDueToInsufficientMemoryForProfile,
                format!("all {} ISD-P slots are in use", self.profiles.len()),
            ));
        };

        let package = rsp_saip::ProfilePackage::parse(&u.profile).map_err(|e| {
            fail(
                C::loadProfileElements,
                R::installFailedDueToPEProcessingError,
                format!("profile package: {e}"),
            )
            .with_sima(EuiccResponse::from_saip_error(None, &e))
        })?;
        let header = package.validate().map_err(|e| {
            fail(
                C::loadProfileElements,
                R::installFailedDueToPEProcessingError,
                format!("profile package: {e}"),
            )
            .with_sima(EuiccResponse::from_saip_error(Some(&package), &e))
        })?;
        let metadata_iccid = iccid.digits().unwrap_or_else(|_| iccid.to_string());
        if header.iccid_digits() != metadata_iccid {
            return Err(fail(
                C::loadProfileElements,
                R::installFailedDueToDataMismatch,
                format!(
                    "ProfileHeader ICCID {} is not StoreMetadata's {metadata_iccid}",
                    header.iccid_digits()
                ),
            )
            .with_sima(EuiccResponse::aborted(
                PeStatus::new(pe_status::BAD_VALUES),
                "ICCID differs from the metadata",
            )));
        }
        if u.profile.len() > self.free_memory() {
            return Err(fail(
                C::loadProfileElements,
                R::installFailedDueToInsufficientMemoryForProfile,
                format!(
                    "{} bytes of profile, {} free",
                    u.profile.len(),
                    self.free_memory()
                ),
            )
            .with_sima(EuiccResponse::aborted(
                PeStatus::new(pe_status::NOT_ENOUGH_MEMORY),
                "not enough memory",
            )));
        }
        Ok(InstalledProfile {
            iccid,
            isdp_aid,
            state: ProfileState::disabled,
            metadata: u.store_metadata,
            metadata_der: u.store_metadata_der,
            configure_isdp: u.configure_isdp,
            smdp_oid: p.dp_pb_oid.clone(),
            smdp_address: session.server_address.clone(),
            package: u.profile,
            header,
            nickname: None,
        })
    }

    /// ES10b CancelSession: signs euiccCancelSessionSigned {transactionId, smdpOid of
    /// CERT.DPauth, reason} and ends the session. An unknown transactionId (or no session) is
    /// the `invalidTransactionId` error alternative. A kept otPK.EUICC survives, so the
    /// download can be retried with bppEuiccOtpk.
    pub fn cancel_session(
        &mut self,
        transaction_id: &TransactionId,
        reason: CancelSessionReason,
    ) -> CancelSessionResponse {
        let Some(session) = self
            .session
            .take_if(|s| &s.transaction_id == transaction_id)
        else {
            self.refuse(
                "CancelSession",
                format_args!("no session with transactionId {}", transaction_id.to_hex()),
            );
            return CancelSessionResponse::CancelSessionResponseError(
                CancelSessionResponseError::invalidTransactionId,
            );
        };
        let signed = Signed::new(EuiccCancelSessionSigned {
            transaction_id: session.transaction_id.clone(),
            smdp_oid: session.smdp_oid.clone(),
            reason,
            extensions: None,
        });
        let signed = signed.map_err(|e| e.to_string()).and_then(|s| {
            self.sign(input::euicc_cancel_session(&s))
                .map(|sig| (s, sig))
                .map_err(|e| e.to_string())
        });
        match signed {
            Ok((s, sig)) => {
                CancelSessionResponse::CancelSessionResponseOk(CancelSessionResponseOk {
                    euicc_cancel_session_signed: s,
                    euicc_cancel_session_signature: sig.to_vec().into(),
                    extensions: None,
                })
            }
            Err(e) => {
                self.refuse("CancelSession", &e);
                self.session = Some(session);
                CancelSessionResponse::CancelSessionResponseError(
                    CancelSessionResponseError::undefinedError,
                )
            }
        }
    }
}

/// The errorResult for an unwrap failure. A failure after StoreMetadata still names the
/// ICCID: the `88` segments are plaintext and their MACs verified before the failing one.
fn unwrap_failure(bpp: &BoundProfilePackage, e: UnwrapError) -> InstallFailure {
    let after_metadata = matches!(
        e.bpp_command_id,
        BppCommandId::replaceSessionKeys | BppCommandId::loadProfileElements
    );
    let iccid = after_metadata
        .then(|| metadata_from_segments(bpp))
        .flatten()
        .map(|m| m.iccid);
    InstallFailure::new(e.bpp_command_id, e.error_reason, iccid, e.to_string())
}

/// StoreMetadataRequest from the `88` segments: each is plaintext ‖ 8-byte C-MAC.
fn metadata_from_segments(bpp: &BoundProfilePackage) -> Option<StoreMetadataRequest> {
    let mut md = Vec::new();
    for s in &bpp.sequence_of88 {
        md.extend_from_slice(s.0.get(..s.0.len().checked_sub(8)?)?);
    }
    rsp_asn1::decode(&md).ok()
}
