//! SGP.22 5.6.4 ES9+.HandleNotification: the install result (PIR) and other notifications.

use super::*;

impl Smdp {
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
                let txid = data.transaction_id.clone();
                // Any binding's transaction ID: after a rebinding, the eUICC may still report
                // the result of an earlier BPP.
                let profile = self.store.profile_by_binding_txid(&txid)?.ok_or_else(|| {
                    Failure::new(
                        Code::UnknownTransaction,
                        "no download with this transactionId",
                    )
                })?;
                let current = profile.bound_txid.as_ref() == Some(&txid);
                // The binding's CERT.EUICC, verified when the profile was bound.
                let key = profile
                    .euicc_cert
                    .as_deref()
                    .ok_or_else(|| Failure::new(Code::UnknownTransaction, "no bound eUICC"))
                    .and_then(|c| Cert::public_key_of(c).map_err(internal))?;
                verify_euicc_signature(
                    &key,
                    input::euicc_sign_pir(&pir.profile_installation_result_data),
                    pir.euicc_sign_pir.as_ref(),
                    self.backend,
                    "euiccSignPIR",
                    (
                        "profileInstallationResultData",
                        pir.profile_installation_result_data.raw(),
                    ),
                )?;
                if let Some(crate::faults::Action::IgnorePir | crate::faults::Action::RefusePir) =
                    self.fault(
                        &profile,
                        profile.eid.as_ref(),
                        crate::faults::Function::HandleNotification,
                        &txid,
                    )?
                {
                    // Ignored (204) or refused (500, the LPA retries): nothing recorded.
                    return Ok(NotificationOutcome::AlreadyRecorded);
                }
                let unix = self.clock.unix();
                let outcome = match &data.final_result {
                    FinalResult::SuccessResult(_) => {
                        // Installed, whichever binding's BPP it was: the eUICC has the profile.
                        if !self.store.set_status_ending_session(
                            &txid,
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
                        self.store.delete_session(&txid)?;
                        let reason = format!(
                            "install failed: bppCommandId {:?}, errorReason {:?}",
                            e.bpp_command_id, e.error_reason
                        );
                        // The card's answer to a broken BPP we sent on purpose: the order
                        // stays downloadable (crate::faults).
                        if current && self.store.fault_fired_in(&txid)? {
                            self.store.unbind_session(profile.id, &txid, unix)?;
                            tracing::info!(%txid, profile = %profile.sid, %reason,
                                "handleNotification: failure after a scripted fault, order kept");
                            return Ok(NotificationOutcome::AlreadyRecorded);
                        }
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
                // Notification point 4: the installation result, with the PIR as received.
                let failed = match &outcome {
                    NotificationOutcome::InstallFailed { reason, .. } => {
                        Some(Failure::new(Code::ExecutionError, reason.clone()))
                    }
                    _ => None,
                };
                // The fields it carries (ICCID, EID, type, requester) are the profile's as read.
                self.progress(
                    &profile,
                    rsp_asn1::es2::NotificationPoint::BppInstallation,
                    failed.as_ref().map_or(Ok(()), Err),
                    Some(req.pending_notification.as_bytes()),
                );
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
                    ("tbsOtherNotification", n.tbs_other_notification.raw()),
                )?;
                let meta = n.tbs_other_notification.value();
                let operation =
                    rsp_asn1::bits::notification_event::names(&meta.profile_management_operation);
                let eid = verified.eid;
                let recorded = self.store.record_notification(&NotificationRecord {
                    eid,
                    iccid: meta.iccid.as_ref().and_then(|i| i.digits().ok()),
                    operation: operation.clone(),
                    seq_number: meta.seq_number,
                    received_at: self.clock.unix(),
                    profile_sid: None,
                })?;
                if !recorded {
                    // SGP.22 5.6.4: the function has no error to answer; a replay of a signed
                    // notification is acknowledged and changes nothing.
                    tracing::info!(%eid, seq = meta.seq_number, "handleNotification: replay ignored");
                    return Ok(NotificationOutcome::AlreadyRecorded);
                }
                tracing::info!(%eid, %operation, seq = meta.seq_number, "handleNotification");
                // Looked up only when some operator is told of progress.
                if !self.es2_endpoints.is_empty() && operation.split('+').any(|o| o == "delete") {
                    // Notification point 5: the profile was deleted from the eUICC.
                    let iccid = meta.iccid.as_ref().and_then(|i| i.digits().ok());
                    if let Some(p) = iccid
                        .map(|i| self.store.profile_by_iccid(&i))
                        .transpose()?
                        .flatten()
                        .filter(|p| p.eid == Some(eid))
                    {
                        self.progress(
                            &p,
                            rsp_asn1::es2::NotificationPoint::Deletion,
                            Ok(()),
                            Some(req.pending_notification.as_bytes()),
                        );
                    }
                }
                Ok(NotificationOutcome::Other { eid, operation })
            }
        }
    }
}
