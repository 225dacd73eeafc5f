//! LPA-side glue between ES9+ (JSON bodies from `rsp_asn1::es9`) and the ES10b functions of
//! [`Euicc`]: what an LPA does between the SM-DP+ and the eUICC, so a test can run a whole
//! download against a real server with this crate alone.
//!
//! Signed parts received from the server are taken as raw bytes ([`Signed::from_der`]) and
//! passed on unchanged; nothing is re-encoded.

use rand_core::CryptoRng;
use rsp_asn1::auth::{
    AuthenticateServerRequest, AuthenticateServerResponse, CtxParams1,
    CtxParamsForCommonAuthentication, DeviceCapabilities, DeviceInfo,
};
use rsp_asn1::download::{PrepareDownloadRequest, PrepareDownloadResponse};
use rsp_asn1::es9::{
    AuthenticateClientRequest, AuthenticateClientResponse, Base64Bytes, CancelSessionRequest, Der,
    GetBoundProfilePackageRequest, HandleNotificationRequest, InitiateAuthenticationRequest,
    InitiateAuthenticationResponse,
};
use rsp_asn1::notification::{CancelSessionResponse, PendingNotification};
use rsp_asn1::raw::Signed;
use rsp_asn1::{Octet32, TransactionId, VersionType};

use crate::{Error, Euicc};

/// `hashCc` over the code's bytes as typed and the raw transaction ID octets (digest §4.3;
/// [`rsp_auth::sig::hash_cc`]).
pub fn hash_cc(confirmation_code: &str, transaction_id: &TransactionId) -> Octet32 {
    let h = rsp_auth::sig::hash_cc(confirmation_code.as_bytes(), transaction_id.as_bytes());
    Octet32(h.to_vec().into())
}

/// A DeviceInfo like a current phone's: a TAC, and LTE/5G releases 15.
pub fn default_device_info() -> DeviceInfo {
    let v = VersionType::from_parts;
    DeviceInfo {
        tac: vec![0x35, 0x29, 0x06, 0x11].into(),
        device_capabilities: DeviceCapabilities {
            gsm_supported_release: Some(v(8, 0, 0)),
            utran_supported_release: Some(v(8, 0, 0)),
            eutran_epc_supported_release: Some(v(15, 0, 0)),
            nr_epc_supported_release: Some(v(15, 0, 0)),
            nr5gc_supported_release: Some(v(15, 0, 0)),
            eutran5gc_supported_release: Some(v(15, 0, 0)),
            ..DeviceCapabilities::default()
        },
        imei: None,
        extensions: None,
    }
}

/// What an SGP.32 IoT device (its IPA) sends: a TAC and nothing else, no radio
/// capabilities and no IMEI. The SM-DP+ must not require what it leaves out.
pub fn iot_device_info() -> DeviceInfo {
    DeviceInfo {
        tac: vec![0x35, 0x29, 0x06, 0x11].into(),
        device_capabilities: DeviceCapabilities::default(),
        imei: None,
        extensions: None,
    }
}

/// ctxParams1 for a download: the activation code's matching ID (or `None` for the default
/// SM-DP+ / SM-DS case) and the device.
pub fn ctx_params1(matching_id: Option<&str>, device_info: DeviceInfo) -> CtxParams1 {
    CtxParams1::CtxParamsForCommonAuthentication(CtxParamsForCommonAuthentication {
        matching_id: matching_id.map(str::to_owned),
        device_info,
        extensions: None,
    })
}

/// ES9+ initiateAuthentication request: a fresh euiccChallenge (GetEUICCChallenge) and
/// EUICCInfo1 from `euicc`.
pub fn initiate_authentication<R: CryptoRng + ?Sized>(
    euicc: &mut Euicc,
    smdp_address: &str,
    rng: &mut R,
) -> Result<InitiateAuthenticationRequest, Error> {
    let challenge = euicc.get_euicc_challenge(rng);
    Ok(InitiateAuthenticationRequest {
        header: None,
        euicc_challenge: Base64Bytes(challenge.to_vec()),
        euicc_info1: Der::encode(&euicc.euicc_info1())?,
        smdp_address: smdp_address.to_owned(),
        lpa_rsp_capability: None,
    })
}

/// ES10b AuthenticateServerRequest from the initiateAuthentication response, with the
/// received serverSigned1 bytes kept as they are.
pub fn authenticate_server_request(
    resp: &InitiateAuthenticationResponse,
    ctx_params1: CtxParams1,
) -> Result<AuthenticateServerRequest, Error> {
    Ok(AuthenticateServerRequest {
        server_signed1: Signed::from_der(resp.server_signed1.as_bytes())?,
        server_signature1: resp.server_signature1.decode()?.0,
        euicc_ci_pkid_to_be_used: resp.euicc_ci_pkid_to_be_used.decode()?,
        server_certificate: resp.server_certificate.decode()?,
        ctx_params1,
        extensions: None,
    })
}

/// ES9+ authenticateClient request carrying the eUICC's answer.
pub fn authenticate_client_request(
    transaction_id: &TransactionId,
    response: &AuthenticateServerResponse,
) -> Result<AuthenticateClientRequest, Error> {
    Ok(AuthenticateClientRequest {
        header: None,
        transaction_id: transaction_id.clone(),
        authenticate_server_response: Der::encode(response)?,
    })
}

/// ES10b PrepareDownloadRequest from the authenticateClient response. `hash_cc` is what the
/// LPA computed from the user's confirmation code ([`hash_cc`]), if the server asked for one.
pub fn prepare_download_request(
    resp: &AuthenticateClientResponse,
    hash_cc: Option<Octet32>,
) -> Result<PrepareDownloadRequest, Error> {
    Ok(PrepareDownloadRequest {
        smdp_signed2: Signed::from_der(resp.smdp_signed2.as_bytes())?,
        smdp_signature2: resp.smdp_signature2.decode()?.0,
        hash_cc,
        smdp_certificate: resp.smdp_certificate.decode()?,
        extensions: None,
    })
}

/// ES9+ getBoundProfilePackage request carrying the eUICC's answer.
pub fn get_bound_profile_package_request(
    transaction_id: &TransactionId,
    response: &PrepareDownloadResponse,
) -> Result<GetBoundProfilePackageRequest, Error> {
    Ok(GetBoundProfilePackageRequest {
        header: None,
        transaction_id: transaction_id.clone(),
        prepare_download_response: Der::encode(response)?,
    })
}

/// ES9+ handleNotification request for a pending notification.
pub fn handle_notification_request(
    notification: &PendingNotification,
) -> Result<HandleNotificationRequest, Error> {
    Ok(HandleNotificationRequest {
        header: None,
        pending_notification: Der::encode(notification)?,
    })
}

/// ES9+ cancelSession request carrying the eUICC's answer.
pub fn cancel_session_request(
    transaction_id: &TransactionId,
    response: &CancelSessionResponse,
) -> Result<CancelSessionRequest, Error> {
    Ok(CancelSessionRequest {
        header: None,
        transaction_id: transaction_id.clone(),
        cancel_session_response: Der::encode(response)?,
    })
}
