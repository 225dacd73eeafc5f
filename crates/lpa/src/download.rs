//! Profile download (SGP.22 3.1.3, the LPA's side of it): GetEuiccChallenge and
//! EUICCInfo1 → initiateAuthentication → AuthenticateServer → authenticateClient →
//! PrepareDownload (hashCc when the SM-DP+ asks for a confirmation code) →
//! getBoundProfilePackage → LoadBoundProfilePackage. Whatever the card answers is forwarded
//! to the SM-DP+, as SGP.22 has it (an eUICC refusal reaches the server inside
//! authenticateClient or getBoundProfilePackage). When the download stops after
//! initiateAuthentication, the session is cancelled on both sides, as lpac does (with the
//! reason that fits, where lpac always says endUserRejection).

use rsp_asn1::es9::{
    path, AuthenticateClientResponse, Base64Bytes, Der, GetBoundProfilePackageResponse,
    InitiateAuthenticationRequest, InitiateAuthenticationResponse,
};
use rsp_asn1::notification::{
    CancelSessionReason, FinalResult, PendingNotification, ProfileInstallationResult,
};
use rsp_asn1::TransactionId;

use crate::card::{Es10, Transport};
use crate::es9::Client;
use crate::Error;

/// What to download.
#[derive(Debug, Clone, Default)]
pub struct Order {
    /// The SM-DP+ (`host[:port]`).
    pub address: String,
    /// The activation code's matching ID; `None` for the default SM-DP+ (by EID).
    pub matching_id: Option<String>,
    /// Typed by the user when the SM-DP+ asks for one.
    pub confirmation_code: Option<String>,
}

impl Order {
    /// From an activation code `LPA:1$address$matching-id[…]` (SGP.22 4.1).
    pub fn from_activation_code(code: &str) -> Result<Self, Error> {
        let ac: rsp_asn1::ids::ActivationCode = code
            .trim()
            .strip_prefix("LPA:")
            .unwrap_or(code.trim())
            .parse()?;
        Ok(Self {
            address: ac.smdp_address.clone(),
            matching_id: (!ac.matching_id.is_empty()).then(|| ac.matching_id.clone()),
            confirmation_code: None,
        })
    }
}

/// Where a download is, for progress output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    InitiateAuthentication,
    AuthenticateClient,
    /// The profile's metadata, as the SM-DP+ announced it.
    Metadata {
        iccid: String,
        service_provider_name: String,
        profile_name: String,
    },
    GetBoundProfilePackage,
    /// Loading a BPP of this many bytes.
    Install {
        bytes: usize,
    },
}

/// A finished download: the card's result.
#[derive(Debug, Clone)]
pub struct Installed {
    pub transaction_id: TransactionId,
    pub iccid: Option<String>,
    pub seq_number: i64,
    pub result: ProfileInstallationResult,
}

/// Runs a download on `card` against the SM-DP+ of `order`.
pub async fn download<T: Transport>(
    card: &mut Es10<T>,
    es9: &Client,
    order: &Order,
    mut progress: impl FnMut(Step),
) -> Result<Installed, Error> {
    let address = order.address.as_str();
    let challenge = card.challenge()?;
    let info1 = card.info1()?;
    progress(Step::InitiateAuthentication);
    let ia: InitiateAuthenticationResponse = es9
        .call(
            "initiateAuthentication",
            address,
            path::INITIATE_AUTHENTICATION,
            &InitiateAuthenticationRequest {
                header: None,
                euicc_challenge: Base64Bytes(challenge.to_vec()),
                euicc_info1: Der::encode(&info1)?,
                smdp_address: address.to_owned(),
                lpa_rsp_capability: None,
            },
        )
        .await?;
    // The card's session carries serverSigned1's transactionId (lpac cancels with that one
    // too): when the JSON one differs (a broken or hostile server), the card still ends its
    // session.
    let txid = rsp_asn1::raw::Signed::<rsp_asn1::auth::ServerSigned1>::from_der(
        ia.server_signed1.as_bytes(),
    )
    .map(|s| s.value().transaction_id.clone())
    .unwrap_or_else(|_| ia.transaction_id.clone());
    match rest(card, es9, order, &ia, &mut progress).await {
        Ok(i) => Ok(i),
        Err(e) => {
            // SGP.22 5.6.5 reasons: missing user input (a confirmation code) is `postponed`,
            // so the order stays downloadable; a network failure is `timeout`; anything
            // else is the LPA giving up on the profile (`endUserRejection`, lpac's only one).
            let reason = match &e {
                Error::Input(_) => CancelSessionReason::postponed,
                Error::Transport { .. } => CancelSessionReason::timeout,
                Error::MetadataMismatch(_) => CancelSessionReason::metadataMismatch,
                _ => CancelSessionReason::endUserRejection,
            };
            cancel(card, es9, address, &txid, reason).await;
            Err(e)
        }
    }
}

async fn rest<T: Transport>(
    card: &mut Es10<T>,
    es9: &Client,
    order: &Order,
    ia: &InitiateAuthenticationResponse,
    progress: &mut impl FnMut(Step),
) -> Result<Installed, Error> {
    let address = order.address.as_str();
    let txid = &ia.transaction_id;
    // SGP.22 3.1.2 (digest §9 item 8): serverSigned1.serverAddress must be the SM-DP+ this
    // LPA contacted; the eUICC signs it into euiccSigned1, so a mismatch stops here.
    let signed1: rsp_asn1::raw::Signed<rsp_asn1::auth::ServerSigned1> =
        rsp_asn1::raw::Signed::from_der(ia.server_signed1.as_bytes())?;
    let said = &signed1.value().server_address;
    if !said.eq_ignore_ascii_case(address) {
        return Err(Error::Refused {
            function: "initiateAuthentication",
            detail: format!("serverAddress {said:?} is not the SM-DP+ contacted ({address})"),
        });
    }
    let ctx = veuicc::lpa::ctx_params1(order.matching_id.as_deref(), card.device_info.clone());
    let asr = veuicc::lpa::authenticate_server_request(ia, ctx)?;
    let auth = card.authenticate_server(&asr)?;
    progress(Step::AuthenticateClient);
    let answer: Result<AuthenticateClientResponse, Error> = es9
        .call(
            "authenticateClient",
            address,
            path::AUTHENTICATE_CLIENT,
            &veuicc::lpa::authenticate_client_request(txid, &auth)?,
        )
        .await;
    // The card's refusal went to the SM-DP+ (which answers Failed); the user hears the card's.
    if let rsp_asn1::auth::AuthenticateServerResponse::AuthenticateResponseError(e) = &auth {
        return Err(Error::Refused {
            function: "AuthenticateServer",
            detail: format!("{:?}", e.authenticate_error_code),
        });
    }
    let ac = answer?;
    let meta = ac.profile_metadata.decode()?;
    progress(Step::Metadata {
        iccid: meta.iccid.digits().unwrap_or_default(),
        service_provider_name: meta.service_provider_name.to_string(),
        profile_name: meta.profile_name.to_string(),
    });
    let signed2 = ac.smdp_signed2.decode()?;
    let hash_cc = match (signed2.cc_required_flag, &order.confirmation_code) {
        (false, _) => None,
        (true, Some(cc)) => Some(veuicc::lpa::hash_cc(cc, txid)),
        (true, None) => {
            return Err(Error::Input(
                "the SM-DP+ asks for a confirmation code: give --confirmation-code".into(),
            ))
        }
    };
    let pd = card.prepare_download(&veuicc::lpa::prepare_download_request(&ac, hash_cc)?)?;
    progress(Step::GetBoundProfilePackage);
    let answer: Result<GetBoundProfilePackageResponse, Error> = es9
        .call(
            "getBoundProfilePackage",
            address,
            path::GET_BOUND_PROFILE_PACKAGE,
            &veuicc::lpa::get_bound_profile_package_request(txid, &pd)?,
        )
        .await;
    if let rsp_asn1::download::PrepareDownloadResponse::DownloadResponseError(e) = &pd {
        return Err(Error::Refused {
            function: "PrepareDownload",
            detail: format!("{:?}", e.download_error_code),
        });
    }
    let gb = answer?;
    let bpp = gb.bound_profile_package.as_bytes();
    // Digest §9 item 3: the 88 segments are MACed, not encrypted, so the LPA can hold the
    // StoreMetadataRequest in them against the announced one (a BPP that does not parse is
    // left to the card, which answers for it).
    if let Some(inside) = bpp_metadata(bpp) {
        if inside != ac.profile_metadata.as_bytes() {
            return Err(Error::MetadataMismatch(format!(
                "the BPP's StoreMetadataRequest ({} bytes) is not the profileMetadata announced \
                 in authenticateClient ({} bytes)",
                inside.len(),
                ac.profile_metadata.as_bytes().len()
            )));
        }
    }
    progress(Step::Install { bytes: bpp.len() });
    let pir = card.load_bpp(bpp)?;
    let data = pir.profile_installation_result_data.value();
    let installed = Installed {
        transaction_id: txid.clone(),
        iccid: data
            .notification_metadata
            .iccid
            .as_ref()
            .and_then(|i| i.digits().ok()),
        seq_number: data.notification_metadata.seq_number,
        result: pir.clone(),
    };
    match &data.final_result {
        FinalResult::SuccessResult(_) => Ok(installed),
        FinalResult::ErrorResult(e) => {
            // The failure result is a notification too: the SM-DP+ learns it.
            let _ = es9
                .notify(
                    address,
                    &veuicc::lpa::handle_notification_request(
                        &PendingNotification::ProfileInstallationResult(pir.clone()),
                    )?,
                )
                .await;
            Err(Error::Refused {
                function: "LoadBoundProfilePackage",
                detail: format!(
                    "bppCommandId {:?}, errorReason {:?}",
                    e.bpp_command_id, e.error_reason
                ),
            })
        }
    }
}

/// The StoreMetadataRequest of a BPP: its 88 segments' values without their 8-byte MACs.
fn bpp_metadata(bpp: &[u8]) -> Option<Vec<u8>> {
    let b: rsp_asn1::download::BoundProfilePackage = rsp_asn1::decode(bpp).ok()?;
    let mut out = Vec::new();
    for s in &b.sequence_of88 {
        let v: &[u8] = s.0.as_ref();
        out.extend_from_slice(v.get(..v.len().checked_sub(8)?)?);
    }
    Some(out)
}

/// Best effort: CancelSession on the card, its answer to the SM-DP+.
async fn cancel<T: Transport>(
    card: &mut Es10<T>,
    es9: &Client,
    address: &str,
    txid: &TransactionId,
    reason: CancelSessionReason,
) {
    if let Ok(resp) = card.cancel_session(txid, reason) {
        if let Ok(req) = veuicc::lpa::cancel_session_request(txid, &resp) {
            let _: Result<rsp_asn1::es9::CancelSessionResponseBody, _> = es9
                .call("cancelSession", address, path::CANCEL_SESSION, &req)
                .await;
        }
    }
}
