//! Benchmarks live in `benches/`; this library only builds their inputs.

use rsp_asn1::auth::*;
use rsp_asn1::bits::NamedBits;
use rsp_asn1::download::*;
use rsp_asn1::raw::{Certificate, Signed};
use rsp_asn1::*;

fn ski(b: u8) -> SubjectKeyIdentifier {
    SubjectKeyIdentifier::new(vec![b; 20]).expect("20 bytes")
}

/// A BoundProfilePackage whose profile part is `profile_len` bytes cut into 1020-byte `86`
/// segments (1008-byte bodies with MAC), the shape rsp-bpp produces.
pub fn bpp(profile_len: usize) -> BoundProfilePackage {
    let isc = InitialiseSecureChannelRequest {
        remote_op_id: RemoteOpId::installBoundProfilePackage,
        transaction_id: TransactionId::new(vec![7; 16]).expect("16 bytes"),
        control_ref_template: ControlRefTemplate {
            key_type: Octet1::new(vec![0x88]).expect("1 byte"),
            key_len: Octet1::new(vec![0x10]).expect("1 byte"),
            host_id: OctetTo16::new(vec![0x80; 8]).expect("8 bytes"),
            extensions: None,
        },
        smdp_otpk: vec![4; 65].into(),
        smdp_sign: vec![5; 64].into(),
        extensions: None,
    };
    let segments = profile_len.div_ceil(1007);
    BoundProfilePackage {
        initialise_secure_channel_request: Signed::new(isc).expect("encodes"),
        first_sequence_of87: vec![Segment87(vec![0x87; 24].into())],
        sequence_of88: vec![Segment88(vec![0x88; 120].into())],
        second_sequence_of87: None,
        sequence_of86: (0..segments)
            .map(|_| Segment86(vec![0x86; 1016].into()))
            .collect(),
        extensions: None,
    }
}

/// An authenticateClient body's BF38 with certificate-sized placeholders (real certificates
/// are ~550 bytes; the codec keeps them opaque, so their content does not matter here).
pub fn authenticate_server_response() -> AuthenticateServerResponse {
    let cert = || {
        let mut der = vec![0x30, 0x82, 0x02, 0x20, 0x04, 0x82, 0x02, 0x1C];
        der.extend(vec![0xAA; 0x21C]);
        Certificate::from_der(&der).expect("one SEQUENCE")
    };
    let info2 = EUICCInfo2 {
        profile_version: VersionType::from_parts(2, 3, 0),
        svn: VersionType::from_parts(2, 2, 0),
        euicc_firmware_ver: VersionType::from_parts(1, 0, 0),
        ext_card_resource: vec![0x81, 1, 0].into(),
        uicc_capability: NamedBits::from_bits(&[1, 4, 14]),
        ts102241_version: None,
        globalplatform_version: None,
        rsp_capability: NamedBits::from_bits(&[0, 3]),
        euicc_ci_pkid_list_for_verification: vec![ski(1), ski(2)],
        euicc_ci_pkid_list_for_signing: vec![ski(1)],
        euicc_category: None,
        forbidden_profile_policy_rules: None,
        pp_version: VersionType::from_parts(0, 1, 0),
        sas_acreditation_number: "GI-BA-UP-0419".into(),
        certification_data_object: None,
        tre_properties: None,
        tre_product_reference: None,
        additional_euicc_profile_package_versions: None,
        ipa_mode: None,
        euicc_ci_pkid_list_for_signing_v3: None,
        additional_euicc_info: None,
        highest_svn: None,
        iot_specific_info: None,
        extensions: None,
    };
    let signed1 = EuiccSigned1 {
        transaction_id: TransactionId::new(vec![7; 16]).expect("16 bytes"),
        server_address: "testsmdpplus1.example.com".into(),
        server_challenge: Octet16::new(vec![9; 16]).expect("16 bytes"),
        euicc_info2: info2,
        ctx_params1: CtxParams1::CtxParamsForCommonAuthentication(
            CtxParamsForCommonAuthentication {
                matching_id: Some("04386-AGYFT-A74Y8-3F815".into()),
                device_info: DeviceInfo {
                    tac: vec![0x35, 0x29, 0x06, 0x11].into(),
                    device_capabilities: DeviceCapabilities::default(),
                    imei: None,
                    extensions: None,
                },
                extensions: None,
            },
        ),
        extensions: None,
    };
    AuthenticateServerResponse::AuthenticateResponseOk(Box::new(AuthenticateResponseOk {
        euicc_signed1: Signed::new(signed1).expect("encodes"),
        euicc_signature1: vec![1; 64].into(),
        euicc_certificate: cert(),
        eum_certificate: cert(),
        extensions: None,
    }))
}
