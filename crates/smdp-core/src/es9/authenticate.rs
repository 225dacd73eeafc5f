//! SGP.22 5.6.3 ES9+.AuthenticateClient (digest §1.5): the eUICC chain and euiccSignature1,
//! the order (by matching ID or EID), eligibility (SGP.22 3.1.3), profile metadata and
//! smdpSigned2 signed with SK.DPpb.

use super::*;

impl Smdp {
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
        let euicc_cert = Cert::from_der(ok.euicc_certificate.as_der()).map_err(|e| {
            Failure::new(
                Code::EuiccCertificateInvalid,
                format!("eUICC certificate: {e}"),
            )
        })?;
        let eum_cert = Cert::from_der(ok.eum_certificate.as_der()).map_err(|e| {
            Failure::new(Code::EumCertificateInvalid, format!("EUM certificate: {e}"))
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
            ("euiccSigned1", ok.euicc_signed1.raw()),
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
        let eid = verified.eid;
        // 8. The order: by matching ID, or by EID (default SM-DP+) when it is empty.
        let CtxParams1::CtxParamsForCommonAuthentication(ctx) = &signed1.ctx_params1;
        let matching_id = ctx.matching_id.as_deref().unwrap_or("");
        let profile = self.select_profile(matching_id, &eid)?;
        let fault = self.fault(
            &profile,
            Some(&eid),
            crate::faults::Function::AuthenticateClient,
            &req.transaction_id,
        )?;
        // Notification point 1 (SGP.22 §5.3.5): the eligibility and retry-limit check.
        let eligible = self.check_eligibility(&profile, &signed1.euicc_info2, &ctx.device_info);
        self.progress(
            &profile,
            rsp_asn1::es2::NotificationPoint::EligibilityCheck,
            eligible.as_ref().map(|_| ()),
            None,
        );
        eligible?;
        // 9. profileMetadata and smdpSigned2.
        let keys = self.keys_for(&session.ci_pkid)?;
        let mut meta = self.metadata(&profile)?;
        if let Some(a @ crate::faults::Action::WrongMetadataIccid) = &fault {
            // Scripted: this session announces, and its BPP carries, another ICCID.
            meta = crate::faults::alter_metadata(&meta, a).unwrap_or(meta);
        }
        let metadata = rsp_asn1::encode(&meta).map_err(internal)?;
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
            eid: Some(eid),
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
        // A scripted wrong smdpSignature2: sent, while the session keeps the real one.
        let mut sig2 = sig2;
        if fault == Some(crate::faults::Action::WrongSmdpSignature2) {
            sig2[0] ^= 0x01;
        }
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
    pub(super) fn select_profile(&self, matching_id: &str, eid: &Eid) -> Result<Profile, Failure> {
        let profile = if matching_id.is_empty() {
            self.store
                .profile_for_eid(eid)?
                .ok_or_else(|| Failure::new(Code::EidRefused, format!("no order for EID {eid}")))?
        } else {
            self.profile_by_matching_id(matching_id, eid)?
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

    /// The order of a matching ID, with guessing limited per client network and per EID
    /// ([`super::guesses`]): an unknown matching ID, or an order for another EID, is a failed
    /// guess; past the limit every lookup is refused (8.2.6/6.4), right or wrong.
    fn profile_by_matching_id(&self, matching_id: &str, eid: &Eid) -> Result<Profile, Failure> {
        use super::guesses::Guesser;
        let unknown = || {
            Failure::new(
                Code::MatchingIdRefused,
                format!("unknown matching ID {matching_id:?}"),
            )
        };
        let Some(limit) = &self.policy.matching_id_guesses else {
            return self
                .store
                .profile_by_matching_id(matching_id)?
                .ok_or_else(unknown);
        };
        let now = self.clock.unix();
        let client = super::dispatch::client();
        let mut who = vec![Guesser::Eid(*eid)];
        who.extend(client.map(Guesser::network));
        if let Some(g) = self.guesses.over(limit, &who, now) {
            tracing::warn!(guesser = %g, "matching-ID lookup refused: too many failed guesses");
            return fail(
                Code::MatchingIdRetriesExceeded,
                format!("too many unknown matching IDs from this {g}: try again later"),
            );
        }
        let found = self.store.profile_by_matching_id(matching_id)?;
        let guessed = match &found {
            None => true,
            Some(p) => p.eid.is_some_and(|bound| bound != *eid),
        };
        if guessed {
            let n = self.guesses.fail(limit, &who, now);
            if n == limit.failures {
                tracing::warn!(%eid, ?client, failures = n, "matching-ID guess limit reached");
            } else {
                tracing::info!(%eid, ?client, failures = n, "failed matching-ID lookup");
            }
        }
        found.ok_or_else(unknown)
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
    pub(super) fn check_eligibility(
        &self,
        p: &Profile,
        info2: &EUICCInfo2,
        device: &DeviceInfo,
    ) -> Result<(), Failure> {
        // The length and the ProfileHeader (the first element: a few hundred bytes) are all
        // eligibility reads of the package; the whole of it is read once, for the BPP.
        const HEAD: usize = 4096;
        let (len, head) = self
            .store
            .package_head(p.id, HEAD)?
            .ok_or_else(|| Failure::new(Code::ProfileNotReleased, "no profile package"))?;
        if let Some(free) = free_non_volatile_memory(info2.ext_card_resource.as_ref()) {
            if len as u64 > free {
                return fail(
                    Code::InsufficientMemory,
                    format!("the profile needs {len} bytes, the eUICC has {free}"),
                );
            }
        }
        let header = match ProfilePackage::parse_first(&head).and_then(|pkg| pkg.header()) {
            Ok(h) => h,
            // A header longer than the head read: read it all.
            Err(_) if len > HEAD => {
                let all = self
                    .store
                    .package(p.id)?
                    .ok_or_else(|| Failure::new(Code::ProfileNotReleased, "no profile package"))?;
                ProfilePackage::parse_first(&all)
                    .and_then(|pkg| pkg.header())
                    .map_err(internal)?
            }
            Err(e) => return Err(internal(e)),
        };
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
    pub(super) fn check_order_open(
        &self,
        profile: &Profile,
        retry_possible: bool,
    ) -> Result<(), Failure> {
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
    pub(super) fn metadata(&self, p: &Profile) -> Result<StoreMetadataRequest, Failure> {
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
            ecall_indication: o.ecall_indication,
            fallback_allowed: o.fallback_allowed,
            extensions: None,
        })
    }
}
