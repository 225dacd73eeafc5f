//! SGP.22 5.6.1 ES9+.InitiateAuthentication (digest §1.5): the address, the eUICC's
//! version and CIs, a new session, serverSigned1 signed with SK.DPauth.

use super::*;

impl Smdp {
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
        // Shedding (the HTTP layer's load monitor) first, before any store work: sessions
        // under way keep the server's time, new ones are told to come back (1.2/4.4, digest
        // §2 "function provider busy").
        if self.is_overloaded() {
            return fail(Code::Busy, "the SM-DP+ is overloaded: try again shortly");
        }
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
            txid: txid.clone(),
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
            number: self.sessions_started.fetch_add(1, Ordering::Relaxed) as i64 + 1,
        })?;
        tracing::info!(%txid, curve = %keys.curve, "initiateAuthentication");
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
}
