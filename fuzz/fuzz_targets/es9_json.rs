#![no_main]
//! ES9+ JSON request bodies: JSON, base64 and the DER inside.
use libfuzzer_sys::fuzz_target;
use rsp_asn1::es9::*;
fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<InitiateAuthenticationRequest>(data) {
        let _ = r.euicc_info1.decode();
    }
    if let Ok(r) = serde_json::from_slice::<AuthenticateClientRequest>(data) {
        let _ = r.authenticate_server_response.decode();
    }
    if let Ok(r) = serde_json::from_slice::<GetBoundProfilePackageRequest>(data) {
        let _ = r.prepare_download_response.decode();
    }
    if let Ok(r) = serde_json::from_slice::<HandleNotificationRequest>(data) {
        let _ = r.pending_notification.decode();
    }
    if let Ok(r) = serde_json::from_slice::<CancelSessionRequest>(data) {
        let _ = r.cancel_session_response.decode();
        let back = serde_json::to_vec(&r).unwrap();
        let again: CancelSessionRequest = serde_json::from_slice(&back).unwrap();
        assert_eq!(again, r);
    }
});
