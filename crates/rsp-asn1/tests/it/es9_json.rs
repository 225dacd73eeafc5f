//! ES9+ JSON bodies: what real LPAs send is accepted, what we send has the exact shape.

use rsp_asn1::auth::{AuthenticateServerResponse, EUICCInfo1};
use rsp_asn1::es9::*;
use rsp_asn1::{encode, TransactionId, VersionType};
use serde_json::json;

fn euicc_info1() -> EUICCInfo1 {
    EUICCInfo1 {
        svn: VersionType::from_parts(2, 2, 2),
        euicc_ci_pkid_list_for_verification: vec![crate::common::ski(crate::common::NIST_CI)],
        euicc_ci_pkid_list_for_signing: vec![crate::common::ski(crate::common::NIST_CI)],
        extensions: None,
    }
}

#[test]
fn initiate_authentication_as_lpac_sends_it() {
    let info = encode(&euicc_info1()).unwrap();
    let b64 = base64_encode(&info);
    // lpac: no header; pySim/TTCN: a header; some clients wrap base64 or drop padding.
    let bodies = [
        json!({"euiccChallenge": base64_encode(&[0xE1; 16]), "euiccInfo1": b64, "smdpAddress": "testsmdpplus1.example.com"}),
        json!({"header": {"functionRequesterIdentifier": "x", "functionCallIdentifier": "y"},
               "euiccChallenge": base64_encode(&[0xE1; 16]), "euiccInfo1": format!("{}\n{}", &b64[..10], &b64[10..]),
               "smdpAddress": "testsmdpplus1.example.com", "somethingNew": 1}),
        json!({"euiccChallenge": "4eHh4eHh4eHh4eHh4eHh4Q", "euiccInfo1": b64.trim_end_matches('='), "smdpAddress": "testsmdpplus1.example.com"}),
    ];
    for body in bodies {
        let req: InitiateAuthenticationRequest = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(req.euicc_challenge.0, [0xE1; 16], "{body}");
        assert_eq!(req.euicc_info1.decode().unwrap(), euicc_info1());
        assert_eq!(req.smdp_address, "testsmdpplus1.example.com");
    }
}

#[test]
fn success_response_shape() {
    let resp = InitiateAuthenticationResponse {
        header: ResponseHeader::success(),
        transaction_id: crate::common::txid(),
        server_signed1: Der::encode(&crate::common::server_signed1()).unwrap(),
        server_signature1: Der::encode(&Signature(vec![9; 64].into())).unwrap(),
        euicc_ci_pkid_to_be_used: Der::encode(&crate::common::ski(crate::common::NIST_CI)).unwrap(),
        server_certificate: Der::from_bytes(vec![0x30, 0x00]),
    };
    let v = serde_json::to_value(&resp).unwrap();
    assert_eq!(
        v["header"],
        json!({"functionExecutionStatus": {"status": "Executed-Success"}})
    );
    assert_eq!(v["transactionId"], "0123456789ABCDEF0123456789ABCDEF");
    assert!(v["serverSignature1"].as_str().unwrap().starts_with("XzdA"));
    assert_eq!(v["euiccCiPKIdToBeUsed"], "BBT1QXK9+YqV1ly+uIo4ocEdgAqFww==");
    let back: InitiateAuthenticationResponse =
        parse_response(serde_json::to_vec(&v).unwrap().as_slice())
            .unwrap()
            .unwrap();
    assert_eq!(back, resp);
}

#[test]
fn failed_response_shape() {
    let body = HeaderOnlyResponse {
        header: ResponseHeader::failed("8.8.5", "4.10", Some("download order expired".into())),
    };
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({"header": {"functionExecutionStatus": {"status": "Failed",
            "statusCodeData": {"subjectCode": "8.8.5", "reasonCode": "4.10", "message": "download order expired"}}}})
    );
    let parsed = parse_response::<AuthenticateClientResponse>(&serde_json::to_vec(&body).unwrap())
        .unwrap()
        .unwrap_err();
    let scd = parsed.function_execution_status.status_code_data.unwrap();
    assert_eq!(
        (scd.subject_code.as_str(), scd.reason_code.as_str()),
        ("8.8.5", "4.10")
    );
}

#[test]
fn transaction_ids_in_json() {
    let ok: AuthenticateClientRequest = serde_json::from_value(json!({
        "transactionId": "0123456789abcdef0123456789ABCDEF",
        "authenticateServerResponse": base64_encode(&[0xBF, 0x38, 0x05, 0xA1, 0x03, 0x80, 0x01, 0x01])
    }))
    .unwrap();
    assert_eq!(ok.transaction_id, crate::common::txid());
    assert_eq!(
        serde_json::to_value(&ok).unwrap()["transactionId"],
        "0123456789ABCDEF0123456789ABCDEF"
    );
    // The DER inside is checked separately from the JSON: this one lacks the error code.
    assert!(ok.authenticate_server_response.decode().is_err());

    for bad in ["", "0", "XYZ0", "0123456789ABCDEF0123456789ABCDEF00"] {
        let r: Result<AuthenticateClientRequest, _> = serde_json::from_value(json!({
            "transactionId": bad, "authenticateServerResponse": "vzgA"
        }));
        assert!(r.is_err(), "{bad:?} accepted");
    }
    assert_eq!(TransactionId::from_hex("0a").unwrap().to_hex(), "0A");
}

#[test]
fn malformed_bodies_give_errors_naming_the_problem() {
    let cases = [
        (
            json!({"transactionId": "01", "authenticateServerResponse": "***"}),
            "base64",
        ),
        (
            json!({"transactionId": "01", "authenticateServerResponse": 7}),
            "invalid type",
        ),
        (json!({"transactionId": "01"}), "authenticateServerResponse"),
        (
            json!({"transactionId": "0", "authenticateServerResponse": "vzgA"}),
            "transactionId",
        ),
    ];
    for (body, needle) in cases {
        let err = serde_json::from_value::<AuthenticateClientRequest>(body.clone()).unwrap_err();
        assert!(err.to_string().contains(needle), "{body}: {err}");
    }
    let der: Der<AuthenticateServerResponse> = Der::from_bytes(vec![0xBF, 0x38, 0x80, 0x00, 0x00]);
    let e = der.decode().unwrap_err().to_string();
    assert!(
        e.contains("AuthenticateServerResponse") && e.contains("indefinite"),
        "{e}"
    );
}

#[test]
fn every_body_round_trips() {
    let txid = crate::common::txid();
    let pdr = rsp_asn1::download::PrepareDownloadResponse::DownloadResponseError(
        rsp_asn1::download::PrepareDownloadResponseError {
            transaction_id: txid.clone(),
            download_error_code: rsp_asn1::download::DownloadErrorCode::undefinedError,
            extensions: None,
        },
    );
    let bodies: Vec<serde_json::Value> = vec![
        serde_json::to_value(GetBoundProfilePackageRequest {
            header: None,
            transaction_id: txid.clone(),
            prepare_download_response: Der::encode(&pdr).unwrap(),
        })
        .unwrap(),
        serde_json::to_value(GetBoundProfilePackageResponse {
            header: ResponseHeader::success(),
            transaction_id: txid.clone(),
            bound_profile_package: Der::encode(&crate::common::bpp(true)).unwrap(),
        })
        .unwrap(),
        serde_json::to_value(AuthenticateClientResponse {
            header: ResponseHeader::success(),
            transaction_id: txid.clone(),
            profile_metadata: Der::encode(&crate::common::store_metadata_full()).unwrap(),
            smdp_signed2: Der::encode(&crate::common::smdp_signed2(true, true)).unwrap(),
            smdp_signature2: Der::encode(&Signature(vec![1; 64].into())).unwrap(),
            smdp_certificate: Der::from_bytes(vec![0x30, 0x00]),
        })
        .unwrap(),
        serde_json::to_value(HandleNotificationRequest {
            header: None,
            pending_notification: Der::encode(
                &rsp_asn1::notification::PendingNotification::ProfileInstallationResult(
                    crate::common::pir(true),
                ),
            )
            .unwrap(),
        })
        .unwrap(),
        serde_json::to_value(CancelSessionRequest {
            header: None,
            transaction_id: txid.clone(),
            cancel_session_response: Der::encode(
                &rsp_asn1::notification::CancelSessionResponse::CancelSessionResponseError(
                    rsp_asn1::notification::CancelSessionResponseError::undefinedError,
                ),
            )
            .unwrap(),
        })
        .unwrap(),
        serde_json::to_value(CancelSessionResponseBody {
            header: ResponseHeader::success(),
        })
        .unwrap(),
    ];
    let gbpp: GetBoundProfilePackageRequest = serde_json::from_value(bodies[0].clone()).unwrap();
    assert_eq!(gbpp.prepare_download_response.decode().unwrap(), pdr);
    let bpp: GetBoundProfilePackageResponse = serde_json::from_value(bodies[1].clone()).unwrap();
    assert_eq!(
        bpp.bound_profile_package.decode().unwrap(),
        crate::common::bpp(true)
    );
    let ac: AuthenticateClientResponse = serde_json::from_value(bodies[2].clone()).unwrap();
    assert_eq!(
        ac.profile_metadata.decode().unwrap(),
        crate::common::store_metadata_full()
    );
    let hn: HandleNotificationRequest = serde_json::from_value(bodies[3].clone()).unwrap();
    assert!(hn.pending_notification.decode().is_ok());
    let cs: CancelSessionRequest = serde_json::from_value(bodies[4].clone()).unwrap();
    assert!(cs.cancel_session_response.decode().is_ok());
    let csr: CancelSessionResponseBody = serde_json::from_value(bodies[5].clone()).unwrap();
    assert_eq!(csr.header, ResponseHeader::success());
    // SGP.22 6.5.2.10: a successful cancelSession answers the header alone.
    assert_eq!(
        bodies[5],
        serde_json::json!({"header": {"functionExecutionStatus": {"status": "Executed-Success"}}})
    );
    // pySim echoes the transaction ID; a client still reads that answer.
    let pysim = serde_json::json!({"header": bodies[5]["header"], "transactionId": txid.to_hex()});
    assert!(serde_json::from_value::<CancelSessionResponseBody>(pysim).is_ok());
    assert!(
        bodies[0].get("header").is_none(),
        "absent request header must not be sent"
    );
}

/// The hand-spliced getBoundProfilePackage JSON is serde_json's, byte for byte, at every size
/// (the base64 padding cases included).
#[test]
fn bound_profile_package_json_is_serde_json_byte_for_byte() {
    for len in [0usize, 1, 2, 3, 100, 1021, 70_000] {
        let r = GetBoundProfilePackageResponse {
            header: ResponseHeader::success(),
            transaction_id: crate::common::txid(),
            bound_profile_package: Der::from_bytes((0..len).map(|i| (i * 7) as u8).collect()),
        };
        assert_eq!(
            bound_profile_package_json(&r).unwrap(),
            serde_json::to_vec(&r).unwrap(),
            "{len}"
        );
    }
}
