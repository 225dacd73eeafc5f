//! SGP.22 5.6.2 ES9+.GetBoundProfilePackage (digest §1.5): euiccSignature2, the confirmation
//! code, the binding (retries and rebinding, SGP.22 3.1.3) and the BPP.

use super::*;

impl Smdp {
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
        // The session's CERT.EUICC was parsed and chain-verified at authenticateClient.
        let key = Cert::public_key_of(euicc_cert).map_err(internal)?;
        let smdp_sig2: [u8; 64] = smdp_sig2.as_slice().try_into().map_err(internal)?;
        verify_euicc_signature(
            &key,
            &input::euicc_signature2(&ok.euicc_signed2, &smdp_sig2),
            ok.euicc_signature2.as_ref(),
            self.backend,
            "euiccSignature2",
            ("euiccSigned2", ok.euicc_signed2.raw()),
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
        let fault = self.fault(
            &profile,
            Some(eid),
            crate::faults::Function::GetBoundProfilePackage,
            &req.transaction_id,
        )?;
        // 4. Confirmation code.
        if let Some(cc) = &profile.confirmation_code {
            let checked =
                self.check_confirmation_code(&session, &profile, cc, signed2.hash_cc.as_ref());
            if let Err(f) = &checked {
                // Notification point 2: a confirmation failure.
                self.progress(
                    &profile,
                    rsp_asn1::es2::NotificationPoint::ConfirmationFailure,
                    Err(f),
                    None,
                );
            }
            checked?;
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
        // The session stays `authenticated`: that a BPP was issued in it is the profile's
        // bound_txid, written by the binding itself (one commit fewer per download).
        // A scripted broken BPP goes out instead of the stored one (which stays intact).
        let broken = match &fault {
            Some(a) if a.is_metadata() => {
                self.rebuild_with_metadata(profile_id, &req.transaction_id, keys, metadata, a)?
            }
            Some(a) => crate::faults::break_bpp(&bpp, a),
            None => None,
        };
        let bpp = broken.unwrap_or(bpp);
        // Notification point 3: the BPP is handed to the LPA.
        self.progress(
            &profile,
            rsp_asn1::es2::NotificationPoint::BppDownload,
            Ok(()),
            None,
        );
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
    pub(super) fn bind(
        &self,
        profile: &Profile,
        txid: &TransactionId,
        keys: &CurveKeys,
        metadata: &[u8],
        otpk: &[u8],
        eid: &Eid,
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
        if profile.eid.as_ref().is_some_and(|e| e != eid) {
            return fail(
                Code::BppRebindingRefused,
                "the profile is bound to another eUICC",
            );
        }
        let retry = profile.kept_binding_for(eid) && profile.bound_otpk.as_deref() == Some(otpk);
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
        // A resend in the session that was issued the BPP: the same keys, metadata and
        // smdpSign rebuild the same bytes (the package is not kept twice).
        if retry
            && profile.status == ProfileStatus::Downloaded
            && profile.bound_txid.as_ref() == Some(txid)
        {
            if let Some(sign) = profile
                .bound_smdp_sign
                .as_deref()
                .and_then(|s| <[u8; 64]>::try_from(s).ok())
            {
                let (bpp, _) =
                    self.build_bpp(profile, txid, keys, metadata, otpk, eid, &ot, Some(sign))?;
                return Ok(bpp);
            }
        }
        let (bpp, smdp_sign) =
            self.build_bpp(profile, txid, keys, metadata, otpk, eid, &ot, None)?;
        let binding = Binding {
            eid: *eid,
            txid: txid.clone(),
            otpk: otpk.to_vec(),
            otsk: ot.scalar().to_vec(),
            smdp_sign: smdp_sign.to_vec(),
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

    /// The BPP of this binding again (same otPK.DP, so the same session keys and BF23) but
    /// around the StoreMetadataRequest a metadata fault makes of `metadata`; `None` when
    /// the fault does not apply.
    fn rebuild_with_metadata(
        &self,
        profile_id: i64,
        txid: &TransactionId,
        keys: &CurveKeys,
        metadata: &[u8],
        action: &crate::faults::Action,
    ) -> Result<Option<Vec<u8>>, Failure> {
        let meta: StoreMetadataRequest = rsp_asn1::decode(metadata).map_err(internal)?;
        let Some(altered) = crate::faults::alter_metadata(&meta, action) else {
            return Ok(None);
        };
        let bound = self
            .store
            .profile(profile_id)?
            .ok_or_else(|| Failure::new(Code::MatchingIdRefused, "the order no longer exists"))?;
        let (Some(otpk), Some(otsk), Some(eid)) = (
            bound.bound_otpk.as_deref(),
            bound.bound_otsk.as_deref(),
            bound.eid.as_ref(),
        ) else {
            return Ok(None);
        };
        let scalar: [u8; 32] = otsk.try_into().map_err(internal)?;
        let ot = EphemeralKey::from_scalar(keys.curve, scalar).map_err(internal)?;
        let altered = rsp_asn1::encode(&altered).map_err(internal)?;
        self.build_bpp(&bound, txid, keys, &altered, otpk, eid, &ot, None)
            .map(|(bpp, _)| Some(bpp))
    }

    pub(super) fn check_confirmation_code(
        &self,
        session: &Session,
        profile: &Profile,
        cc: &str,
        hash_cc: Option<&rsp_asn1::Octet32>,
    ) -> Result<(), Failure> {
        let Some(got) = hash_cc else {
            return fail(Code::ConfirmationCodeMissing, "hashCc missing");
        };
        let txid = session.txid.as_bytes();
        let code = profile
            .options
            .confirmation_code_encoding
            .code_bytes(cc)
            .map_err(internal)?;
        if got.as_bytes() == rsp_auth::sig::hash_cc(&code, txid) {
            return Ok(());
        }
        // Counted with the order (SGP.22 5.6.2 "maximum number of retries" is the order's):
        // a fresh session per guess, or a server restart, does not reset the count. The
        // session stays usable for a retry below the cap (digest §2 step 4).
        let attempts = self
            .store
            .record_cc_failure(profile.id, self.clock.unix())?;
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
    pub(super) fn build_bpp(
        &self,
        profile: &Profile,
        txid: &TransactionId,
        keys: &CurveKeys,
        metadata: &[u8],
        otpk: &[u8],
        eid: &Eid,
        ot: &EphemeralKey,
        smdp_sign: Option<[u8; 64]>,
    ) -> Result<(Vec<u8>, [u8; 64]), Failure> {
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
        let eid_bytes: [u8; 16] = *eid.as_bytes();
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
            smdp_sign,
        })
        .map_err(|e| match e {
            // A bad otPK.EUICC (off the curve) is the eUICC's fault, not ours.
            rsp_bpp::Error::Auth(rsp_auth::Error::Key(_)) => {
                Failure::new(Code::InvalidInput, format!("otPK.EUICC: {e}"))
            }
            other => internal(other),
        })?;
        let sign: [u8; 64] = bpp
            .initialise_secure_channel_request
            .value()
            .smdp_sign
            .as_ref()
            .try_into()
            .map_err(internal)?;
        Ok((rsp_asn1::encode(&bpp).map_err(internal)?, sign))
    }
}
