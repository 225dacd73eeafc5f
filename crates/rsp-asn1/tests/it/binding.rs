//! The ES9+ ASN.1 binding against asn1tools (`xcheck.py binding`): every message of both
//! directions, built here from the parts the other samples already hold to asn1tools, must be
//! the X.680 encoding byte for byte; asn1tools' own encoding (which doubles the tag of an
//! implicitly tagged reference to a tagged CHOICE) must read back to the same message.

use std::collections::BTreeMap;

use rsp_asn1::binding::*;
use rsp_asn1::es9::{
    AuthenticateClientRequest, AuthenticateClientResponse, Base64Bytes, CancelSessionRequest, Der,
    GetBoundProfilePackageRequest, GetBoundProfilePackageResponse, HandleNotificationRequest,
    InitiateAuthenticationRequest, InitiateAuthenticationResponse, ResponseHeader, Signature,
};

use crate::common::{self, ski, txid, NIST_CI};

#[derive(serde::Deserialize)]
struct Theirs {
    hex: String,
    x680: String,
}

fn asn1tools() -> Option<BTreeMap<String, Theirs>> {
    let out = crate::asn1tools_xcheck::xcheck(&["binding"])?;
    Some(serde_json::from_slice(&out).unwrap())
}

/// The DER of another sample (already held to asn1tools by `asn1tools_xcheck`).
fn part<T>(name: &str) -> Der<T> {
    let s = common::samples()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no sample {name}"));
    Der::from_bytes(s.der)
}

fn cert(rel: &str) -> Der<rsp_asn1::raw::Certificate> {
    Der::from_bytes(common::cert(rel).unwrap().as_der().to_vec())
}

fn signature() -> Der<Signature> {
    Der::encode(&Signature(common::sig())).unwrap()
}

enum Message {
    Request(Request),
    Response(Response),
}

fn messages() -> Vec<(&'static str, Message)> {
    use Message::{Request as Q, Response as R};
    let ok = ResponseHeader::success;
    vec![
        (
            "rppInitiateAuthenticationRequest",
            Q(Request::InitiateAuthentication(
                InitiateAuthenticationRequest {
                    header: None,
                    euicc_challenge: Base64Bytes(vec![0xE1; 16]),
                    euicc_info1: part("euiccInfo1"),
                    smdp_address: "testsmdpplus1.example.com".into(),
                    lpa_rsp_capability: None,
                },
            )),
        ),
        (
            "rppAuthenticateClientRequest",
            Q(Request::AuthenticateClient(AuthenticateClientRequest {
                header: None,
                transaction_id: txid(),
                authenticate_server_response: part("authenticateServerResponseOk"),
            })),
        ),
        (
            "rppGetBoundProfilePackageRequest",
            Q(Request::GetBoundProfilePackage(
                GetBoundProfilePackageRequest {
                    header: None,
                    transaction_id: txid(),
                    prepare_download_response: part("prepareDownloadResponseOk"),
                },
            )),
        ),
        (
            "rppCancelSessionRequest",
            Q(Request::CancelSession(CancelSessionRequest {
                header: None,
                transaction_id: txid(),
                cancel_session_response: part("cancelSessionResponseOk"),
            })),
        ),
        (
            "rppHandleNotificationPir",
            Q(Request::HandleNotification(HandleNotificationRequest {
                header: None,
                pending_notification: part("pendingNotificationPir"),
            })),
        ),
        (
            "rppHandleNotificationOther",
            Q(Request::HandleNotification(HandleNotificationRequest {
                header: None,
                pending_notification: part("pendingNotificationOther"),
            })),
        ),
        (
            "rppInitiateAuthenticationOk",
            R(Response::InitiateAuthentication(Ok(
                InitiateAuthenticationResponse {
                    header: ok(),
                    transaction_id: txid(),
                    server_signed1: part("serverSigned1"),
                    server_signature1: signature(),
                    euicc_ci_pkid_to_be_used: Der::encode(&ski(NIST_CI)).unwrap(),
                    server_certificate: cert("DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der"),
                },
            ))),
        ),
        (
            "rppInitiateAuthenticationError",
            R(Response::InitiateAuthentication(Err(
                InitiateAuthenticationError::ciPKNotSupported,
            ))),
        ),
        (
            "rppAuthenticateClientOk",
            R(Response::AuthenticateClient(Ok(
                AuthenticateClientResponse {
                    header: ok(),
                    transaction_id: txid(),
                    profile_metadata: part("storeMetadataRequestFull"),
                    smdp_signed2: part("smdpSigned2WithOtpk"),
                    smdp_signature2: signature(),
                    smdp_certificate: cert("DPpb/CERT_S_SM_DPpb_ECDSA_NIST.der"),
                },
            ))),
        ),
        (
            "rppAuthenticateClientError",
            R(Response::AuthenticateClient(Err(
                AuthenticateClientError::matchingIdRefused,
            ))),
        ),
        (
            "rppGetBoundProfilePackageOk",
            R(Response::GetBoundProfilePackage(Ok(
                GetBoundProfilePackageResponse {
                    header: ok(),
                    transaction_id: txid(),
                    bound_profile_package: part("boundProfilePackage"),
                },
            ))),
        ),
        (
            "rppGetBoundProfilePackageError",
            R(Response::GetBoundProfilePackage(Err(
                GetBoundProfilePackageError::invalidTransactionId,
            ))),
        ),
        ("rppCancelSessionOk", R(Response::CancelSession(Ok(())))),
        (
            "rppCancelSessionError",
            R(Response::CancelSession(Err(
                CancelSessionError::invalidTransactionId,
            ))),
        ),
    ]
}

#[test]
fn every_binding_message_is_the_x680_encoding_and_reads_asn1tools_own() {
    let Some(theirs) = asn1tools() else {
        return;
    };
    let ours = messages();
    let mut failures = Vec::new();
    for (name, m) in &ours {
        let Some(t) = theirs.get(*name) else {
            failures.push(format!("{name}: missing from xcheck.py"));
            continue;
        };
        let x680 = hex::decode(&t.x680).unwrap();
        let doubled = hex::decode(&t.hex).unwrap();
        let (der, read_x680, read_doubled) = match m {
            Message::Request(r) => (
                r.to_der().unwrap(),
                Request::from_der(&x680).map(|v| &v == r),
                Request::from_der(&doubled).map(|v| &v == r),
            ),
            Message::Response(r) => (
                r.to_der().unwrap(),
                Response::from_der(&x680).map(|v| &v == r),
                Response::from_der(&doubled).map(|v| &v == r),
            ),
        };
        if der != x680 {
            failures.push(format!(
                "{name}:\n  X.680     {}\n  rsp-asn1  {}",
                t.x680,
                hex::encode_upper(&der)
            ));
        }
        for (form, read) in [("X.680", read_x680), ("asn1tools", read_doubled)] {
            match read {
                Ok(true) => {}
                Ok(false) => failures.push(format!("{name}: the {form} form reads differently")),
                Err(e) => failures.push(format!("{name}: the {form} form: {e}")),
            }
        }
    }
    for name in theirs.keys() {
        if !ours.iter().any(|(n, _)| n == name) {
            failures.push(format!("{name}: in xcheck.py but not here"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The forms differ where X.680 says they must: 11 of the 14 messages.
    let differ = theirs.values().filter(|t| t.hex != t.x680).count();
    assert_eq!(differ, 11);
}

#[test]
fn bad_binding_bodies_name_the_function_when_they_can() {
    let function = |der: &[u8]| Request::from_der(der).unwrap_err().function;
    // Not an envelope, an unknown alternative, trailing bytes: no function to answer for.
    assert_eq!(function(b""), None);
    assert_eq!(function(&[0x30, 0x00]), None);
    assert_eq!(function(&[0xA2, 0x03, 0xBF, 0x3C, 0x00]), None);
    assert_eq!(function(&[0xA2, 0x03, 0xBF, 0x39, 0x00, 0x00]), None);
    assert_eq!(function(&[0xA2, 0x04, 0xBF, 0x39, 0x01]), None);
    // The alternative is readable: its function answers, whatever is wrong inside.
    let ia = Some(Function::InitiateAuthentication);
    assert_eq!(function(&[0xA2, 0x03, 0xBF, 0x39, 0x00]), ia);
    // A non-minimal length inside (`81 81 10`: DER says `81 10`).
    let mut long = vec![0xA2, 0x17, 0xBF, 0x39, 0x14, 0x81, 0x81, 0x10];
    long.extend([0xE1; 16]);
    long.extend([0x83, 0x00]);
    long[1] = (long.len() - 2) as u8;
    long[4] = (long.len() - 5) as u8;
    assert_eq!(function(&long), ia);
    let ac = |body: &[u8]| {
        let mut v = vec![0xBF, 0x3B, body.len() as u8];
        v.extend(body);
        let mut der = vec![0xA2, v.len() as u8];
        der.extend(v);
        Request::from_der(&der).unwrap_err()
    };
    let e = ac(&[0x80, 0x01, 0x01]);
    assert_eq!(e.function, Some(Function::AuthenticateClient));
    assert!(e.msg.contains("authenticateServerResponse"), "{e}");
    let e = ac(&[
        0x80, 0x11, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C,
        0x0D, 0x0E, 0x0F, 0x10,
    ]);
    assert!(e.msg.contains("TransactionId"), "{e}");
    // Responses: a handleNotification "response", an error INTEGER not in DER form.
    let e = Response::from_der(&[0xA2, 0x03, 0xBF, 0x3D, 0x00]).unwrap_err();
    assert_eq!(e.function, Some(Function::HandleNotification));
    let e =
        Response::from_der(&[0xA2, 0x07, 0xBF, 0x3B, 0x04, 0x81, 0x02, 0x00, 0x06]).unwrap_err();
    assert!(e.msg.contains("INTEGER"), "{e}");
}

#[test]
fn error_values_round_trip_at_every_size() {
    for code in [0, 1, 95, 127, 128, 255, 256, -1, -129, i64::MAX, i64::MIN] {
        let r = Response::GetBoundProfilePackage(Err(GetBoundProfilePackageError(code)));
        let der = r.to_der().unwrap();
        assert_eq!(Response::from_der(&der).unwrap(), r, "{code}: {der:02X?}");
    }
}
