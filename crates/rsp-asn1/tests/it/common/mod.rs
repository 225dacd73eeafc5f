//! Sample values of every RSPDefinitions type, shared by the round-trip, cross-check and
//! malformed-input tests. `tests/asn1tools/xcheck.py` builds the *same* values independently
//! (same names, same contents) with Python asn1tools; the cross-check compares bytes.
#![allow(dead_code)]

use std::path::PathBuf;

use rsp_asn1::auth::*;
use rsp_asn1::bits::NamedBits;
use rsp_asn1::download::*;
use rsp_asn1::es10::*;
use rsp_asn1::ids::Iccid;
use rsp_asn1::notification::*;
use rsp_asn1::raw::{Certificate, Signed};
use rsp_asn1::*;

/// `../shared` (or `RSP_SHARED_DIR`), or `None` with a printed notice (see rsp-shared).
pub fn shared_dir() -> Option<PathBuf> {
    rsp_shared::dir_for_test("rsp-asn1 samples with SGP.26 certificates")
}

pub fn shared_file(rel: &str) -> Option<Vec<u8>> {
    rsp_shared::file_for_test(rel)
}

pub fn cert(rel: &str) -> Option<Certificate> {
    shared_file(&format!("pki/sgp26/{rel}")).map(|b| Certificate::from_der(&b).unwrap())
}

pub const NIST_CI: &str = "F54172BDF98A95D65CBEB88A38A1C11D800A85C3";
pub const BRP_CI: &str = "C0BC70BA36929D43B467FF57570530E57AB8FCD8";

pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}
pub fn ski(s: &str) -> SubjectKeyIdentifier {
    SubjectKeyIdentifier::new(h(s)).unwrap()
}
pub fn txid() -> TransactionId {
    TransactionId::new(h("0123456789ABCDEF0123456789ABCDEF")).unwrap()
}
pub fn o16(b: u8) -> Octet16 {
    Octet16::new(vec![b; 16]).unwrap()
}
pub fn sig() -> OctetString {
    (0u8..64).collect::<Vec<u8>>().into()
}
pub fn otpk(first: u8) -> OctetString {
    let mut v = vec![0x04];
    v.extend((0..64).map(|i| first.wrapping_add(i)));
    v.into()
}
pub fn iccid() -> Iccid {
    Iccid::from_digits("89000123456789012341").unwrap()
}
pub fn oid(arcs: &[u32]) -> ObjectIdentifier {
    ObjectIdentifier::new(arcs.to_vec()).unwrap()
}
pub fn ver(a: u8, b: u8, c: u8) -> VersionType {
    VersionType::from_parts(a, b, c)
}
pub fn bits(n: &[usize]) -> NamedBits {
    NamedBits::from_bits(n)
}

pub fn euicc_info2_full() -> EUICCInfo2 {
    EUICCInfo2 {
        profile_version: ver(2, 3, 0),
        svn: ver(2, 2, 0),
        euicc_firmware_ver: ver(1, 2, 3),
        ext_card_resource: h("810100820400015F90").into(),
        uicc_capability: bits(&[1, 4, 14, 19, 21]),
        ts102241_version: Some(ver(9, 2, 0)),
        globalplatform_version: Some(ver(2, 3, 0)),
        rsp_capability: bits(&[0, 3]),
        euicc_ci_pkid_list_for_verification: vec![ski(NIST_CI), ski(BRP_CI)],
        euicc_ci_pkid_list_for_signing: vec![ski(NIST_CI)],
        euicc_category: Some(EuiccCategory::mediumEuicc),
        forbidden_profile_policy_rules: Some(bits(&[1])),
        pp_version: ver(0, 1, 0),
        sas_acreditation_number: "GI-BA-UP-0419".into(),
        certification_data_object: Some(CertificationDataObject {
            platform_label: "label".into(),
            discovery_base_url: "https://dloa.example".into(),
            extensions: None,
        }),
        tre_properties: None,
        tre_product_reference: None,
        additional_euicc_profile_package_versions: None,
        ipa_mode: None,
        euicc_ci_pkid_list_for_signing_v3: None,
        additional_euicc_info: None,
        highest_svn: None,
        iot_specific_info: None,
        extensions: None,
    }
}

/// [`euicc_info2_full`] with every v2.5 field (`8D`, `8E`, `AF`).
pub fn euicc_info2_v25() -> EUICCInfo2 {
    EUICCInfo2 {
        profile_version: ver(2, 3, 1),
        svn: ver(2, 5, 0),
        tre_properties: Some(bits(&[1, 2])),
        tre_product_reference: Some("TRE-PLATFORM-1".into()),
        additional_euicc_profile_package_versions: Some(vec![ver(3, 1, 0), ver(3, 2, 0)]),
        ..euicc_info2_full()
    }
}

/// An SGP.32 v1.2 IoT eUICC's EUICCInfo2: the v2.5 fields and every SGP.32 one (`90`, `B1`,
/// `92`, `93`, `B4`), one CI for each list.
pub fn euicc_info2_sgp32() -> EUICCInfo2 {
    EUICCInfo2 {
        svn: ver(2, 5, 0),
        euicc_ci_pkid_list_for_verification: vec![ski(NIST_CI)],
        euicc_ci_pkid_list_for_signing: vec![ski(NIST_CI)],
        euicc_category: Some(EuiccCategory::basicEuicc),
        ipa_mode: Some(IpaMode::ipad),
        euicc_ci_pkid_list_for_signing_v3: Some(vec![ski(NIST_CI)]),
        additional_euicc_info: Some(h("0102030405").into()),
        highest_svn: Some(ver(3, 1, 0)),
        iot_specific_info: Some(IoTSpecificInfo {
            iot_version: vec![ver(1, 2, 0)],
            ecall_supported: Some(()),
            fallback_supported: Some(()),
            extensions: None,
        }),
        ..euicc_info2_v25()
    }
}

pub fn euicc_info2_min() -> EUICCInfo2 {
    EUICCInfo2 {
        profile_version: ver(2, 1, 0),
        svn: ver(2, 2, 0),
        euicc_firmware_ver: ver(1, 0, 0),
        ext_card_resource: h("8101008204000100").into(),
        uicc_capability: bits(&[1, 4]),
        ts102241_version: None,
        globalplatform_version: None,
        rsp_capability: bits(&[]),
        euicc_ci_pkid_list_for_verification: vec![ski(NIST_CI)],
        euicc_ci_pkid_list_for_signing: vec![ski(NIST_CI)],
        euicc_category: None,
        forbidden_profile_policy_rules: None,
        pp_version: ver(0, 0, 1),
        sas_acreditation_number: "".into(),
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
    }
}

pub fn device_info() -> DeviceInfo {
    DeviceInfo {
        tac: h("35290611").into(),
        device_capabilities: DeviceCapabilities {
            gsm_supported_release: Some(ver(8, 0, 0)),
            utran_supported_release: Some(ver(9, 0, 0)),
            eutran_epc_supported_release: Some(ver(15, 0, 0)),
            nr5gc_supported_release: Some(ver(15, 0, 0)),
            ..Default::default()
        },
        imei: Some(h("3529061100000001").into()),
        extensions: None,
    }
}

/// [`device_info`]'s capabilities with the v2.5 fields, and no IMEI.
pub fn device_info_v25() -> DeviceInfo {
    let mut d = device_info();
    d.imei = None;
    d.device_capabilities.lpa_svn = Some(ver(2, 5, 0));
    d.device_capabilities.cat_supported_classes = Some(BitString::from_vec(vec![0xA0, 0x00]));
    d.device_capabilities.euicc_form_factor_type = Some(2.into());
    d.device_capabilities.device_additional_feature_support =
        Some(DeviceAdditionalFeatureSupport {
            nai_support: Some(ver(1, 0, 0)),
            extensions: None,
        });
    d
}

/// What an SGP.32 IoT device sends: a TAC, empty capabilities, no IMEI.
pub fn device_info_iot() -> DeviceInfo {
    DeviceInfo {
        tac: h("35290611").into(),
        device_capabilities: DeviceCapabilities::default(),
        imei: None,
        extensions: None,
    }
}

pub fn ctx_params1(matching_id: Option<&str>) -> CtxParams1 {
    CtxParams1::CtxParamsForCommonAuthentication(CtxParamsForCommonAuthentication {
        matching_id: matching_id.map(Into::into),
        device_info: device_info(),
        extensions: None,
    })
}

pub fn server_signed1() -> ServerSigned1 {
    ServerSigned1 {
        transaction_id: txid(),
        euicc_challenge: o16(0xE1),
        server_address: "testsmdpplus1.example.com".into(),
        server_challenge: o16(0x5C),
        extensions: None,
    }
}

pub fn euicc_signed1() -> EuiccSigned1 {
    EuiccSigned1 {
        transaction_id: txid(),
        server_address: "testsmdpplus1.example.com".into(),
        server_challenge: o16(0x5C),
        euicc_info2: euicc_info2_min(),
        ctx_params1: ctx_params1(Some("04386-AGYFT-A74Y8-3F815")),
        extensions: None,
    }
}

pub fn smdp_signed2(cc: bool, with_otpk: bool) -> SmdpSigned2 {
    SmdpSigned2 {
        transaction_id: txid(),
        cc_required_flag: cc,
        bpp_euicc_otpk: with_otpk.then(|| otpk(1)),
        extensions: None,
    }
}

pub fn store_metadata_full() -> StoreMetadataRequest {
    StoreMetadataRequest {
        iccid: iccid(),
        service_provider_name: "GSMA Test".into(),
        profile_name: "Test Profile".into(),
        icon_type: Some(IconType::png),
        icon: Some(h("89504E470D0A1A0A").into()),
        profile_class: ProfileClass::test,
        notification_configuration_info: Some(vec![
            NotificationConfigurationInformation {
                profile_management_operation: bits(&[1, 2, 3]),
                notification_address: "smdp.example.com".into(),
                extensions: None,
            },
            NotificationConfigurationInformation {
                profile_management_operation: bits(&[0]),
                notification_address: "smdp.example.com".into(),
                extensions: None,
            },
        ]),
        profile_owner: Some(OperatorId {
            mcc_mnc: h("00F110").into(),
            gid1: Some(h("01").into()),
            gid2: Some(h("02").into()),
            extensions: None,
        }),
        profile_policy_rules: Some(bits(&[1, 2])),
        ecall_indication: None,
        fallback_allowed: None,
        extensions: None,
    }
}

pub fn store_metadata_min() -> StoreMetadataRequest {
    StoreMetadataRequest {
        iccid: iccid(),
        service_provider_name: "Op".into(),
        profile_name: "P".into(),
        icon_type: None,
        icon: None,
        profile_class: ProfileClass::operational,
        notification_configuration_info: None,
        profile_owner: None,
        profile_policy_rules: None,
        ecall_indication: None,
        fallback_allowed: None,
        extensions: None,
    }
}

pub fn isc_request() -> InitialiseSecureChannelRequest {
    InitialiseSecureChannelRequest {
        remote_op_id: RemoteOpId::installBoundProfilePackage,
        transaction_id: txid(),
        control_ref_template: ControlRefTemplate {
            key_type: Octet1::new(vec![0x88]).unwrap(),
            key_len: Octet1::new(vec![0x10]).unwrap(),
            host_id: OctetTo16::new(h("8080808080808080")).unwrap(),
            extensions: None,
        },
        smdp_otpk: otpk(0x40),
        smdp_sign: sig(),
        extensions: None,
    }
}

pub fn bpp(with_ppk: bool) -> BoundProfilePackage {
    BoundProfilePackage {
        initialise_secure_channel_request: Signed::new(isc_request()).unwrap(),
        first_sequence_of87: vec![Segment87(
            h("F6FE031E4B9CFE87C8E1E62F3FDE85C49412D7722A6A2D89").into(),
        )],
        sequence_of88: vec![
            Segment88(vec![0x88; 40].into()),
            Segment88(vec![0x89; 200].into()),
        ],
        second_sequence_of87: with_ppk.then(|| vec![Segment87(vec![0x87; 72].into())]),
        sequence_of86: vec![
            Segment86(vec![0x86; 1016].into()),
            Segment86(vec![0x66; 24].into()),
        ],
        extensions: None,
    }
}

pub fn notification_metadata(seq: i64, op: usize) -> NotificationMetadata {
    NotificationMetadata {
        seq_number: seq,
        profile_management_operation: bits(&[op]),
        notification_address: "smdp.example.com".into(),
        iccid: Some(iccid()),
        extensions: None,
    }
}

pub fn pir(success: bool) -> ProfileInstallationResult {
    let final_result = if success {
        FinalResult::SuccessResult(SuccessResult {
            aid: h("A0000005591010FFFFFFFF8900001000").into(),
            sima_response: h("3007A00530038001 00").into(),
            extensions: None,
        })
    } else {
        FinalResult::ErrorResult(ErrorResult {
            bpp_command_id: BppCommandId::loadProfileElements,
            error_reason: ErrorReason::scp03tSecurityError,
            sima_response: Some(h("3003A00100").into()),
            extensions: None,
        })
    };
    ProfileInstallationResult {
        profile_installation_result_data: Signed::new(ProfileInstallationResultData {
            transaction_id: txid(),
            notification_metadata: notification_metadata(1, 0),
            smdp_oid: Some(oid(&[2, 999, 10])),
            final_result,
            extensions: None,
        })
        .unwrap(),
        euicc_sign_pir: sig(),
        extensions: None,
    }
}

pub fn profile_info_full() -> ProfileInfo {
    ProfileInfo {
        iccid: Some(iccid()),
        isdp_aid: Some(OctetTo16::new(h("A0000005591010FFFFFFFF8900001000")).unwrap()),
        profile_state: Some(ProfileState::enabled),
        profile_nickname: Some("work".into()),
        service_provider_name: Some("GSMA Test".into()),
        profile_name: Some("Test Profile".into()),
        icon_type: Some(IconType::jpg),
        icon: Some(h("FFD8FFE0").into()),
        profile_class: Some(ProfileClass::operational),
        notification_configuration_info: Some(vec![NotificationConfigurationInformation {
            profile_management_operation: bits(&[1, 2, 3]),
            notification_address: "smdp.example.com".into(),
            extensions: None,
        }]),
        profile_owner: Some(OperatorId {
            mcc_mnc: h("00F110").into(),
            gid1: None,
            gid2: None,
            extensions: None,
        }),
        dp_proprietary_data: Some(DpProprietaryData {
            dp_oid: oid(&[2, 999, 10]),
            extensions: None,
        }),
        profile_policy_rules: Some(bits(&[2])),
        ref_ar_do: Some(vec![RefArDo {
            ref_do: RefDo {
                device_app_id_ref_do: vec![0xAB; 20].into(),
                pkg_ref_do: Some(b"com.example".to_vec().into()),
                extensions: None,
            },
            ar_do: ArDo {
                perm_ar_do: h("0000000000000001").into(),
                extensions: None,
            },
            extensions: None,
        }]),
        extensions: None,
    }
}

/// Decodes bytes as a sample's type and does something with the value.
pub type DecodeFn<R> = Box<dyn Fn(&[u8]) -> Result<R, Error>>;

/// One sample: its name (shared with xcheck.py), ASN.1 type name, our DER, and functions
/// that decode bytes as that type (re-encoding them / comparing to the sample value).
pub struct Sample {
    pub name: &'static str,
    pub asn1_type: &'static str,
    pub der: Vec<u8>,
    pub reencode: DecodeFn<Vec<u8>>,
    pub equals_value: DecodeFn<bool>,
    /// Whether the type ends in an `extensions` field (unknown trailing TLVs are kept).
    pub extensible: bool,
}

fn sample<T>(name: &'static str, asn1_type: &'static str, value: T, extensible: bool) -> Sample
where
    T: rasn::Encode + rasn::Decode + PartialEq + 'static,
{
    let der = encode(&value).unwrap_or_else(|e| panic!("{name}: {e}"));
    Sample {
        name,
        asn1_type,
        der,
        reencode: Box::new(|b| encode(&decode::<T>(b)?)),
        equals_value: Box::new(move |b| Ok(decode::<T>(b)? == value)),
        extensible,
    }
}

/// Every sample; those that need SGP.26 certificates only when `../shared` is there.
pub fn samples() -> Vec<Sample> {
    let mut v = vec![
        sample(
            "getEuiccInfo1Request",
            "GetEuiccInfo1Request",
            GetEuiccInfo1Request::default(),
            true,
        ),
        sample(
            "getEuiccInfo2Request",
            "GetEuiccInfo2Request",
            GetEuiccInfo2Request::default(),
            true,
        ),
        sample(
            "euiccInfo1",
            "EUICCInfo1",
            EUICCInfo1 {
                svn: ver(2, 2, 0),
                euicc_ci_pkid_list_for_verification: vec![ski(NIST_CI), ski(BRP_CI)],
                euicc_ci_pkid_list_for_signing: vec![ski(NIST_CI)],
                extensions: None,
            },
            true,
        ),
        sample("euiccInfo2Full", "EUICCInfo2", euicc_info2_full(), true),
        sample("euiccInfo2Min", "EUICCInfo2", euicc_info2_min(), true),
        sample("euiccInfo2V25", "EUICCInfo2", euicc_info2_v25(), true),
        sample("euiccInfo2Sgp32", "EUICCInfo2", euicc_info2_sgp32(), true),
        sample("deviceInfo", "DeviceInfo", device_info(), true),
        sample("deviceInfoV25", "DeviceInfo", device_info_v25(), true),
        sample("deviceInfoIot", "DeviceInfo", device_info_iot(), true),
        sample(
            "storeMetadataRequestSgp32",
            "StoreMetadataRequest",
            StoreMetadataRequest {
                ecall_indication: Some(true),
                fallback_allowed: Some(false),
                ..store_metadata_min()
            },
            true,
        ),
        sample("serverSigned1", "ServerSigned1", server_signed1(), true),
        sample(
            "ctxParams1WithMatchingId",
            "CtxParams1",
            ctx_params1(Some("04386-AGYFT-A74Y8-3F815")),
            false,
        ),
        sample("ctxParams1Default", "CtxParams1", ctx_params1(None), false),
        sample("euiccSigned1", "EuiccSigned1", euicc_signed1(), true),
        sample(
            "authenticateServerResponseError",
            "AuthenticateServerResponse",
            AuthenticateServerResponse::AuthenticateResponseError(AuthenticateResponseError {
                transaction_id: txid(),
                authenticate_error_code: AuthenticateErrorCode::ciPKUnknown,
                extensions: None,
            }),
            false,
        ),
        sample(
            "smdpSigned2",
            "SmdpSigned2",
            smdp_signed2(false, false),
            true,
        ),
        sample(
            "smdpSigned2WithOtpk",
            "SmdpSigned2",
            smdp_signed2(true, true),
            true,
        ),
        sample(
            "prepareDownloadResponseOk",
            "PrepareDownloadResponse",
            PrepareDownloadResponse::DownloadResponseOk(Box::new(PrepareDownloadResponseOk {
                euicc_signed2: Signed::new(EUICCSigned2 {
                    transaction_id: txid(),
                    euicc_otpk: otpk(0x20),
                    hash_cc: Some(Octet32::new(vec![0xCC; 32]).unwrap()),
                    extensions: None,
                })
                .unwrap(),
                euicc_signature2: sig(),
                extensions: None,
            })),
            false,
        ),
        sample(
            "prepareDownloadResponseError",
            "PrepareDownloadResponse",
            PrepareDownloadResponse::DownloadResponseError(PrepareDownloadResponseError {
                transaction_id: txid(),
                download_error_code: DownloadErrorCode::invalidTransactionId,
                extensions: None,
            }),
            false,
        ),
        sample(
            "storeMetadataRequestFull",
            "StoreMetadataRequest",
            store_metadata_full(),
            true,
        ),
        sample(
            "storeMetadataRequestMin",
            "StoreMetadataRequest",
            store_metadata_min(),
            true,
        ),
        sample(
            "updateMetadataRequest",
            "UpdateMetadataRequest",
            UpdateMetadataRequest {
                profile_name: Some("Renamed".into()),
                profile_policy_rules: Some(bits(&[0])),
                ..Default::default()
            },
            true,
        ),
        sample(
            "initialiseSecureChannelRequest",
            "InitialiseSecureChannelRequest",
            isc_request(),
            true,
        ),
        sample(
            "configureISDPRequestEmpty",
            "ConfigureISDPRequest",
            ConfigureISDPRequest::default(),
            true,
        ),
        sample(
            "configureISDPRequest",
            "ConfigureISDPRequest",
            ConfigureISDPRequest {
                dp_proprietary_data: Some(DpProprietaryData {
                    dp_oid: oid(&[2, 999, 10]),
                    extensions: None,
                }),
                extensions: None,
            },
            true,
        ),
        sample(
            "replaceSessionKeysRequest",
            "ReplaceSessionKeysRequest",
            ReplaceSessionKeysRequest {
                initial_mac_chaining_value: h("000102030405060708090a0b0c0d0e0f").into(),
                ppk_enc: h("010102030405060708090a0b0c0d0e0f").into(),
                ppk_cmac: h("020102030405060708090a0b0c0d0e0f").into(),
                extensions: None,
            },
            true,
        ),
        sample(
            "boundProfilePackage",
            "BoundProfilePackage",
            bpp(false),
            true,
        ),
        sample(
            "boundProfilePackagePpk",
            "BoundProfilePackage",
            bpp(true),
            true,
        ),
        sample(
            "notificationMetadata",
            "NotificationMetadata",
            notification_metadata(42, 3),
            true,
        ),
        sample(
            "profileInstallationResultSuccess",
            "ProfileInstallationResult",
            pir(true),
            true,
        ),
        sample(
            "profileInstallationResultError",
            "ProfileInstallationResult",
            pir(false),
            true,
        ),
        sample(
            "pendingNotificationPir",
            "PendingNotification",
            PendingNotification::ProfileInstallationResult(pir(true)),
            false,
        ),
        sample(
            "cancelSessionRequest",
            "CancelSessionRequest",
            CancelSessionRequest {
                transaction_id: txid(),
                reason: CancelSessionReason::metadataMismatch,
                extensions: None,
            },
            true,
        ),
        sample(
            "cancelSessionResponseOk",
            "CancelSessionResponse",
            CancelSessionResponse::CancelSessionResponseOk(CancelSessionResponseOk {
                euicc_cancel_session_signed: Signed::new(EuiccCancelSessionSigned {
                    transaction_id: txid(),
                    smdp_oid: oid(&[2, 999, 10]),
                    reason: CancelSessionReason::endUserRejection,
                    extensions: None,
                })
                .unwrap(),
                euicc_cancel_session_signature: sig(),
                extensions: None,
            }),
            false,
        ),
        sample(
            "cancelSessionResponseError",
            "CancelSessionResponse",
            CancelSessionResponse::CancelSessionResponseError(
                CancelSessionResponseError::invalidTransactionId,
            ),
            false,
        ),
        sample(
            "listNotificationRequest",
            "ListNotificationRequest",
            ListNotificationRequest {
                profile_management_operation: Some(bits(&[0])),
                extensions: None,
            },
            true,
        ),
        sample(
            "listNotificationRequestEmpty",
            "ListNotificationRequest",
            ListNotificationRequest::default(),
            true,
        ),
        sample(
            "listNotificationResponse",
            "ListNotificationResponse",
            ListNotificationResponse::NotificationMetadataList(vec![
                notification_metadata(1, 0),
                notification_metadata(2, 2),
            ]),
            false,
        ),
        sample(
            "listNotificationResponseError",
            "ListNotificationResponse",
            ListNotificationResponse::ListNotificationsResultError(
                ListNotificationsResultError::undefinedError,
            ),
            false,
        ),
        sample(
            "retrieveNotificationsListRequestSeq",
            "RetrieveNotificationsListRequest",
            RetrieveNotificationsListRequest {
                search_criteria: Some(RetrieveSearchCriteria::SeqNumber(5)),
                extensions: None,
            },
            true,
        ),
        sample(
            "retrieveNotificationsListRequestOp",
            "RetrieveNotificationsListRequest",
            RetrieveNotificationsListRequest {
                search_criteria: Some(RetrieveSearchCriteria::ProfileManagementOperation(bits(&[
                    3,
                ]))),
                extensions: None,
            },
            true,
        ),
        sample(
            "retrieveNotificationsListResponse",
            "RetrieveNotificationsListResponse",
            RetrieveNotificationsListResponse::NotificationList(vec![
                PendingNotification::ProfileInstallationResult(pir(true)),
                PendingNotification::ProfileInstallationResult(pir(false)),
            ]),
            false,
        ),
        sample(
            "retrieveNotificationsListResponseError",
            "RetrieveNotificationsListResponse",
            RetrieveNotificationsListResponse::NotificationsListResultError(
                NotificationsListResultError::noResultAvailable,
            ),
            false,
        ),
        sample(
            "notificationSentRequest",
            "NotificationSentRequest",
            NotificationSentRequest {
                seq_number: 7,
                extensions: None,
            },
            true,
        ),
        sample(
            "notificationSentResponse",
            "NotificationSentResponse",
            NotificationSentResponse {
                delete_notification_status: DeleteNotificationStatus::ok,
                extensions: None,
            },
            true,
        ),
        sample(
            "profileInfoListRequest",
            "ProfileInfoListRequest",
            ProfileInfoListRequest {
                search_criteria: Some(ProfileInfoSearchCriteria::Iccid(iccid())),
                tag_list: Some(h("5A4F9F7090919295").into()),
                extensions: None,
            },
            true,
        ),
        sample(
            "profileInfoListRequestEmpty",
            "ProfileInfoListRequest",
            ProfileInfoListRequest::default(),
            true,
        ),
        sample(
            "profileInfoListResponse",
            "ProfileInfoListResponse",
            ProfileInfoListResponse::ProfileInfoListOk(vec![
                profile_info_full(),
                ProfileInfo {
                    iccid: Some(iccid()),
                    profile_state: Some(ProfileState::disabled),
                    ..Default::default()
                },
            ]),
            false,
        ),
        sample(
            "profileInfoListResponseError",
            "ProfileInfoListResponse",
            ProfileInfoListResponse::ProfileInfoListError(
                ProfileInfoListError::incorrectInputValues,
            ),
            false,
        ),
        sample(
            "getEuiccDataRequest",
            "GetEuiccDataRequest",
            GetEuiccDataRequest {
                tag_list: Octet1::new(vec![0x5A]).unwrap(),
                extensions: None,
            },
            true,
        ),
        sample(
            "getEuiccDataResponse",
            "GetEuiccDataResponse",
            GetEuiccDataResponse {
                eid_value: Octet16::new(h("89049032123451234512345678901235")).unwrap(),
                extensions: None,
            },
            true,
        ),
        sample(
            "getEuiccChallengeRequest",
            "GetEuiccChallengeRequest",
            GetEuiccChallengeRequest::default(),
            true,
        ),
        sample(
            "getEuiccChallengeResponse",
            "GetEuiccChallengeResponse",
            GetEuiccChallengeResponse {
                euicc_challenge: o16(0xE1),
                extensions: None,
            },
            true,
        ),
        sample(
            "euiccConfiguredAddressesRequest",
            "EuiccConfiguredAddressesRequest",
            EuiccConfiguredAddressesRequest::default(),
            true,
        ),
        sample(
            "euiccConfiguredAddressesResponse",
            "EuiccConfiguredAddressesResponse",
            EuiccConfiguredAddressesResponse {
                default_dp_address: Some("testsmdpplus1.example.com".into()),
                root_ds_address: "lpa.ds.gsma.com".into(),
                extensions: None,
            },
            true,
        ),
        sample(
            "euiccConfiguredAddressesResponseNoDp",
            "EuiccConfiguredAddressesResponse",
            EuiccConfiguredAddressesResponse {
                default_dp_address: None,
                root_ds_address: "lpa.ds.gsma.com".into(),
                extensions: None,
            },
            true,
        ),
        sample(
            "enableProfileRequest",
            "EnableProfileRequest",
            EnableProfileRequest {
                profile_identifier: ProfileIdentifier::Iccid(iccid()),
                refresh_flag: true,
                extensions: None,
            },
            true,
        ),
        sample(
            "disableProfileRequest",
            "DisableProfileRequest",
            DisableProfileRequest {
                profile_identifier: ProfileIdentifier::IsdpAid(
                    OctetTo16::new(h("A0000005591010FFFFFFFF8900001000")).unwrap(),
                ),
                refresh_flag: false,
                extensions: None,
            },
            true,
        ),
        sample(
            "deleteProfileRequest",
            "DeleteProfileRequest",
            DeleteProfileRequest(ProfileIdentifier::Iccid(iccid())),
            false,
        ),
        sample(
            "enableProfileResponse",
            "EnableProfileResponse",
            EnableProfileResponse {
                enable_result: ProfileOperationResult::ok,
                extensions: None,
            },
            true,
        ),
        sample(
            "disableProfileResponse",
            "DisableProfileResponse",
            DisableProfileResponse {
                disable_result: ProfileOperationResult::catBusy,
                extensions: None,
            },
            true,
        ),
        sample(
            "deleteProfileResponse",
            "DeleteProfileResponse",
            DeleteProfileResponse {
                delete_result: ProfileOperationResult::disallowedByPolicy,
                extensions: None,
            },
            true,
        ),
        sample(
            "setNicknameRequest",
            "SetNicknameRequest",
            SetNicknameRequest {
                iccid: iccid(),
                profile_nickname: "Reise".into(),
                extensions: None,
            },
            true,
        ),
        sample(
            "setNicknameResponse",
            "SetNicknameResponse",
            SetNicknameResponse {
                set_nickname_result: SetNicknameResult::iccidNotFound,
                extensions: None,
            },
            true,
        ),
        sample(
            "euiccMemoryResetRequest",
            "EuiccMemoryResetRequest",
            EuiccMemoryResetRequest {
                reset_options: bits(&[0, 2]),
                extensions: None,
            },
            true,
        ),
        sample(
            "euiccMemoryResetResponse",
            "EuiccMemoryResetResponse",
            EuiccMemoryResetResponse {
                reset_result: ResetResult::nothingToDelete,
                extensions: None,
            },
            true,
        ),
        sample(
            "setDefaultDpAddressRequest",
            "SetDefaultDpAddressRequest",
            SetDefaultDpAddressRequest {
                default_dp_address: "testsmdpplus1.example.com".into(),
                extensions: None,
            },
            true,
        ),
        sample(
            "setDefaultDpAddressResponse",
            "SetDefaultDpAddressResponse",
            SetDefaultDpAddressResponse {
                set_default_dp_address_result: SetDefaultDpAddressResult::ok,
                extensions: None,
            },
            true,
        ),
        sample(
            "getRatRequest",
            "GetRatRequest",
            GetRatRequest::default(),
            true,
        ),
        sample(
            "getRatResponse",
            "GetRatResponse",
            GetRatResponse {
                rat: vec![ProfilePolicyAuthorisationRule {
                    ppr_ids: bits(&[1, 2]),
                    allowed_operators: vec![OperatorId {
                        mcc_mnc: h("00F110").into(),
                        gid1: None,
                        gid2: Some(h("FF").into()),
                        extensions: None,
                    }],
                    ppr_flags: bits(&[0]),
                    extensions: None,
                }],
                extensions: None,
            },
            true,
        ),
    ];
    if let (Some(dpauth), Some(dppb), Some(euicc), Some(eum)) = (
        cert("DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der"),
        cert("DPpb/CERT_S_SM_DPpb_ECDSA_NIST.der"),
        cert("eUICC/CERT_EUICC_ECDSA_NIST.der"),
        cert("EUM/CERT_EUM_ECDSA_NIST.der"),
    ) {
        v.extend([
            sample(
                "authenticateServerRequest",
                "AuthenticateServerRequest",
                AuthenticateServerRequest {
                    server_signed1: Signed::new(server_signed1()).unwrap(),
                    server_signature1: sig(),
                    euicc_ci_pkid_to_be_used: ski(NIST_CI),
                    server_certificate: dpauth,
                    ctx_params1: ctx_params1(Some("04386-AGYFT-A74Y8-3F815")),
                    extensions: None,
                },
                true,
            ),
            sample(
                "authenticateServerResponseOk",
                "AuthenticateServerResponse",
                AuthenticateServerResponse::AuthenticateResponseOk(Box::new(
                    AuthenticateResponseOk {
                        euicc_signed1: Signed::new(euicc_signed1()).unwrap(),
                        euicc_signature1: sig(),
                        euicc_certificate: euicc.clone(),
                        eum_certificate: eum.clone(),
                        extensions: None,
                    },
                )),
                false,
            ),
            sample(
                "prepareDownloadRequest",
                "PrepareDownloadRequest",
                PrepareDownloadRequest {
                    smdp_signed2: Signed::new(smdp_signed2(true, false)).unwrap(),
                    smdp_signature2: sig(),
                    hash_cc: Some(Octet32::new(vec![0xCC; 32]).unwrap()),
                    smdp_certificate: dppb,
                    extensions: None,
                },
                true,
            ),
            sample(
                "pendingNotificationOther",
                "PendingNotification",
                PendingNotification::OtherSignedNotification(OtherSignedNotification {
                    tbs_other_notification: Signed::new(notification_metadata(9, 1)).unwrap(),
                    euicc_notification_signature: sig(),
                    euicc_certificate: euicc,
                    eum_certificate: eum,
                    extensions: None,
                }),
                false,
            ),
        ]);
    }
    v
}
