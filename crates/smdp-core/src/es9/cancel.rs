//! SGP.22 5.6.5 ES9+.CancelSession: the eUICC's signed cancellation and what its reason does
//! to the order.

use super::*;

impl Smdp {
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
        let key = Cert::public_key_of(cert).map_err(internal)?;
        verify_euicc_signature(
            &key,
            input::euicc_cancel_session(&ok.euicc_cancel_session_signed),
            ok.euicc_cancel_session_signature.as_ref(),
            self.backend,
            "euiccCancelSessionSignature",
            (
                "euiccCancelSessionSigned",
                ok.euicc_cancel_session_signed.raw(),
            ),
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
            let Some(profile) = self.store.profile(id)? else {
                return done(self);
            };
            self.fault(
                &profile,
                session.eid.as_ref(),
                crate::faults::Function::CancelSession,
                &req.transaction_id,
            )?;
            // After a scripted fault the LPA's cancel is the fault's echo: the order stays
            // downloadable whatever the reason (crate::faults).
            let reason = if self.store.fault_fired_in(&session.txid)? {
                CancelSessionReason::postponed
            } else {
                signed.reason
            };
            self.apply_cancel_reason(id, &session.txid, reason)?;
        }
        done(self)
    }

    /// SGP.22 5.6.5 ES9+.CancelSession: postponed and timeout put a bound profile back
    /// (`available`, the same eUICC may download again, the binding kept);
    /// any other reason (end-user rejection, PPR not allowed, metadata mismatch, load error,
    /// undefined) closes the order as failed — SGP.22's "Error" state for the order, which
    /// the operator must re-issue. Our reading of SGP.22 §3.1.3; the digest leaves it open.
    pub(super) fn apply_cancel_reason(
        &self,
        profile_id: i64,
        txid: &TransactionId,
        reason: CancelSessionReason,
    ) -> Result<(), Failure> {
        let Some(p) = self.store.profile(profile_id)? else {
            return Ok(());
        };
        let bound_here =
            p.status == ProfileStatus::Downloaded && p.bound_txid.as_ref() == Some(txid);
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
