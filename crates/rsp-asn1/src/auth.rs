//! Mutual authentication: EUICCInfo1/2, DeviceInfo, ServerSigned1, AuthenticateServer (ES10b)
//! and the pieces the SM-DP+ verifies in authenticateClient.
//!
//! Tags follow the RSPDefinitions rules: a SEQUENCE with any explicitly tagged component gets no
//! automatic tags, so e.g. `AuthenticateResponseOk` keeps universal `30`/`30` for its
//! certificates, while `DeviceInfo` (no tags written) is auto-tagged `80`/`A1`/`82`.

#[allow(unused_imports)] // the rasn derives call trait methods unqualified
use rasn::{AsnType, Decode, Decoder, Encode, Encoder};

use crate::bits::NamedBits;
use crate::named_integer;
use crate::raw::{Certificate, Extensions, Signed};
use crate::{Octet16, OctetString, SubjectKeyIdentifier, TransactionId, Utf8String, VersionType};

/// `GetEuiccInfo1Request ::= [32] SEQUENCE {}` (`BF20 00`).
#[derive(AsnType, Decode, Encode, Debug, Clone, Default, PartialEq, Eq)]
#[rasn(tag(context, 32))]
pub struct GetEuiccInfo1Request {
    pub extensions: Option<Extensions>,
}

/// `EUICCInfo1` (`BF20`), sent in initiateAuthentication.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 32))]
pub struct EUICCInfo1 {
    /// v2: `svn`; v3 renames it `lowestSvn` (same tag).
    #[rasn(tag(context, 2))]
    pub svn: VersionType,
    #[rasn(tag(context, 9))]
    pub euicc_ci_pkid_list_for_verification: Vec<SubjectKeyIdentifier>,
    #[rasn(tag(context, 10))]
    pub euicc_ci_pkid_list_for_signing: Vec<SubjectKeyIdentifier>,
    /// v3 fields (`B1` …ForSigningV3, `88` euiccRspCapability, `93` highestSvn) land here.
    pub extensions: Option<Extensions>,
}

/// `GetEuiccInfo2Request ::= [34] SEQUENCE {}` (`BF22 00`).
#[derive(AsnType, Decode, Encode, Debug, Clone, Default, PartialEq, Eq)]
#[rasn(tag(context, 34))]
pub struct GetEuiccInfo2Request {
    pub extensions: Option<Extensions>,
}

named_integer!(
    /// `euiccCategory INTEGER {other(0), basicEuicc(1), mediumEuicc(2), contactlessEuicc(3)}`.
    EuiccCategory {
        other = 0,
        basicEuicc = 1,
        mediumEuicc = 2,
        contactlessEuicc = 3,
    }
);

/// `CertificationDataObject` (auto-tagged `80`/`81`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct CertificationDataObject {
    #[rasn(tag(context, 0))]
    pub platform_label: Utf8String,
    #[rasn(tag(context, 1))]
    pub discovery_base_url: Utf8String,
    pub extensions: Option<Extensions>,
}

/// `EUICCInfo2` (`BF22`), inside euiccSigned1.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 34))]
pub struct EUICCInfo2 {
    #[rasn(tag(context, 1))]
    pub profile_version: VersionType,
    #[rasn(tag(context, 2))]
    pub svn: VersionType,
    #[rasn(tag(context, 3))]
    pub euicc_firmware_ver: VersionType,
    #[rasn(tag(context, 4))]
    pub ext_card_resource: OctetString,
    #[rasn(tag(context, 5))]
    pub uicc_capability: NamedBits,
    #[rasn(tag(context, 6))]
    pub ts102241_version: Option<VersionType>,
    #[rasn(tag(context, 7))]
    pub globalplatform_version: Option<VersionType>,
    #[rasn(tag(context, 8))]
    pub rsp_capability: NamedBits,
    #[rasn(tag(context, 9))]
    pub euicc_ci_pkid_list_for_verification: Vec<SubjectKeyIdentifier>,
    #[rasn(tag(context, 10))]
    pub euicc_ci_pkid_list_for_signing: Vec<SubjectKeyIdentifier>,
    #[rasn(tag(context, 11))]
    pub euicc_category: Option<EuiccCategory>,
    #[rasn(tag(context, 25))]
    pub forbidden_profile_policy_rules: Option<NamedBits>,
    /// Untagged in the module: universal `04`.
    pub pp_version: VersionType,
    /// Untagged in the module: universal `0C`.
    pub sas_acreditation_number: Utf8String,
    #[rasn(tag(context, 12))]
    pub certification_data_object: Option<CertificationDataObject>,
    /// v2.5 `8D`: isDiscrete(0), isIntegrated(1), usesRemoteMemory(2).
    #[rasn(tag(context, 13))]
    pub tre_properties: Option<NamedBits>,
    /// v2.5 `8E`: the TRE's Platform_Label (GlobalPlatform DLOA).
    #[rasn(tag(context, 14))]
    pub tre_product_reference: Option<Utf8String>,
    /// v2.5 `AF`.
    #[rasn(tag(context, 15))]
    pub additional_euicc_profile_package_versions: Option<Vec<VersionType>>,
    /// SGP.32 (and SGP.22 v3) `90`: the active IPA; mandatory in SGP.32.
    #[rasn(tag(context, 16))]
    pub ipa_mode: Option<IpaMode>,
    /// v3 `B1`.
    #[rasn(tag(context, 17))]
    pub euicc_ci_pkid_list_for_signing_v3: Option<Vec<SubjectKeyIdentifier>>,
    /// v3 `92`, up to 32 bytes.
    #[rasn(tag(context, 18))]
    pub additional_euicc_info: Option<OctetString>,
    /// v3 `93`.
    #[rasn(tag(context, 19))]
    pub highest_svn: Option<VersionType>,
    /// SGP.32 `B4`; mandatory in SGP.32.
    #[rasn(tag(context, 20))]
    pub iot_specific_info: Option<IoTSpecificInfo>,
    /// Later fields (v3 `95` euiccMinimumSecurityLevel, …), kept as received.
    pub extensions: Option<Extensions>,
}

named_integer!(
    /// SGP.32 `IpaMode ::= INTEGER {ipad(0), ipae(1)}`: the IPA in the device or in the eUICC.
    IpaMode { ipad = 0, ipae = 1 }
);

/// SGP.32 `IoTSpecificInfo` (auto-tagged `A0` iotVersion, `81`/`82` NULL flags).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct IoTSpecificInfo {
    /// The SGP.32 versions the eUICC supports (at least one).
    #[rasn(tag(context, 0))]
    pub iot_version: Vec<VersionType>,
    /// Present: the eUICC supports the emergency (eCall) profile mechanism.
    #[rasn(tag(context, 1))]
    pub ecall_supported: Option<()>,
    /// Present: the eUICC supports the fallback mechanism.
    #[rasn(tag(context, 2))]
    pub fallback_supported: Option<()>,
    /// Later flags (`83` fallbackAllowedUpdateSupported, …).
    pub extensions: Option<Extensions>,
}

/// `DeviceCapabilities`: highest release per radio technology, auto-tagged `80`…`8A`.
#[derive(AsnType, Decode, Encode, Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceCapabilities {
    #[rasn(tag(context, 0))]
    pub gsm_supported_release: Option<VersionType>,
    #[rasn(tag(context, 1))]
    pub utran_supported_release: Option<VersionType>,
    #[rasn(tag(context, 2))]
    pub cdma2000onex_supported_release: Option<VersionType>,
    #[rasn(tag(context, 3))]
    pub cdma2000hrpd_supported_release: Option<VersionType>,
    #[rasn(tag(context, 4))]
    pub cdma2000ehrpd_supported_release: Option<VersionType>,
    #[rasn(tag(context, 5))]
    pub eutran_epc_supported_release: Option<VersionType>,
    #[rasn(tag(context, 6))]
    pub contactless_supported_release: Option<VersionType>,
    #[rasn(tag(context, 7))]
    pub rsp_crl_supported_version: Option<VersionType>,
    #[rasn(tag(context, 8))]
    pub nr_epc_supported_release: Option<VersionType>,
    #[rasn(tag(context, 9))]
    pub nr5gc_supported_release: Option<VersionType>,
    #[rasn(tag(context, 10))]
    pub eutran5gc_supported_release: Option<VersionType>,
    /// v2.5 (`8B`…`AE`): named in v2.5 but "not defined in this version of SGP.22".
    #[rasn(tag(context, 11))]
    pub lpa_svn: Option<VersionType>,
    /// An unnamed BIT STRING: its trailing zero bits are part of the value.
    #[rasn(tag(context, 12))]
    pub cat_supported_classes: Option<crate::BitString>,
    #[rasn(tag(context, 13))]
    pub euicc_form_factor_type: Option<crate::Integer>,
    #[rasn(tag(context, 14))]
    pub device_additional_feature_support: Option<DeviceAdditionalFeatureSupport>,
    pub extensions: Option<Extensions>,
}

/// v2.5 `DeviceAdditionalFeatureSupport` (auto-tagged `80` naiSupport).
#[derive(AsnType, Decode, Encode, Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceAdditionalFeatureSupport {
    /// The device supports Network Access Identifiers.
    #[rasn(tag(context, 0))]
    pub nai_support: Option<VersionType>,
    pub extensions: Option<Extensions>,
}

/// `DeviceInfo` (auto-tagged `80` tac, `A1` capabilities, `82` imei).
///
/// `tac` is `Octet4` in SGP.22; it is kept as plain octets because some LPAs send other sizes
/// and the SM-DP+ only logs it.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    #[rasn(tag(context, 0))]
    pub tac: OctetString,
    #[rasn(tag(context, 1))]
    pub device_capabilities: DeviceCapabilities,
    #[rasn(tag(context, 2))]
    pub imei: Option<OctetString>,
    pub extensions: Option<Extensions>,
}

/// `CtxParamsForCommonAuthentication` (auto-tagged `80` matchingId, `A1` deviceInfo).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct CtxParamsForCommonAuthentication {
    /// Activation code token or SM-DS event ID; absent or empty means "default SM-DP+".
    #[rasn(tag(context, 0))]
    pub matching_id: Option<Utf8String>,
    #[rasn(tag(context, 1))]
    pub device_info: DeviceInfo,
    pub extensions: Option<Extensions>,
}

/// `CtxParams1 ::= CHOICE { ctxParamsForCommonAuthentication }` (auto-tagged `A0`).
///
/// v3 adds `A1`…`A3` alternatives (device change, profile recovery, push registration); those
/// are refused by decoding, which the SM-DP+ reports as an unsupported context.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(choice)]
pub enum CtxParams1 {
    #[rasn(tag(context, 0))]
    CtxParamsForCommonAuthentication(CtxParamsForCommonAuthentication),
}

/// `ServerSigned1` (`30`), signed by the SM-DP+ with SK.DPauth.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct ServerSigned1 {
    #[rasn(tag(context, 0))]
    pub transaction_id: TransactionId,
    #[rasn(tag(context, 1))]
    pub euicc_challenge: Octet16,
    #[rasn(tag(context, 3))]
    pub server_address: Utf8String,
    #[rasn(tag(context, 4))]
    pub server_challenge: Octet16,
    /// v3: `A5` sessionContext, `86` serverRspCapability.
    pub extensions: Option<Extensions>,
}

/// `AuthenticateServerRequest` (`BF38`), ES10b from the LPA to the eUICC.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 56))]
pub struct AuthenticateServerRequest {
    pub server_signed1: Signed<ServerSigned1>,
    #[rasn(tag(application, 55))]
    pub server_signature1: OctetString,
    pub euicc_ci_pkid_to_be_used: SubjectKeyIdentifier,
    pub server_certificate: Certificate,
    pub ctx_params1: CtxParams1,
    pub extensions: Option<Extensions>,
}

/// `EuiccSigned1` (`30`), signed by the eUICC; verified over its received bytes.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct EuiccSigned1 {
    #[rasn(tag(context, 0))]
    pub transaction_id: TransactionId,
    #[rasn(tag(context, 3))]
    pub server_address: Utf8String,
    #[rasn(tag(context, 4))]
    pub server_challenge: Octet16,
    #[rasn(tag(context, 34))]
    pub euicc_info2: EUICCInfo2,
    pub ctx_params1: CtxParams1,
    pub extensions: Option<Extensions>,
}

/// `AuthenticateResponseOk`: euiccSigned1, its signature, and the eUICC and EUM certificates.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct AuthenticateResponseOk {
    pub euicc_signed1: Signed<EuiccSigned1>,
    #[rasn(tag(application, 55))]
    pub euicc_signature1: OctetString,
    pub euicc_certificate: Certificate,
    /// v3 calls this `nextCertInChain`; v3 `A0 otherCertsInChain` goes to `extensions`.
    pub eum_certificate: Certificate,
    pub extensions: Option<Extensions>,
}

named_integer!(
    /// `AuthenticateErrorCode`.
    AuthenticateErrorCode {
        invalidCertificate = 1,
        invalidSignature = 2,
        unsupportedCurve = 3,
        noSessionContext = 4,
        invalidOid = 5,
        euiccChallengeMismatch = 6,
        ciPKUnknown = 7,
        undefinedError = 127,
    }
);

/// `AuthenticateResponseError` (`80` transactionId, `02` code).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct AuthenticateResponseError {
    #[rasn(tag(context, 0))]
    pub transaction_id: TransactionId,
    pub authenticate_error_code: AuthenticateErrorCode,
    pub extensions: Option<Extensions>,
}

/// `AuthenticateServerResponse ::= [56] CHOICE` (`BF38 { A0 … | A1 … }`), what
/// authenticateClient carries.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(choice, tag(explicit(context, 56)))]
pub enum AuthenticateServerResponse {
    #[rasn(tag(context, 0))]
    AuthenticateResponseOk(Box<AuthenticateResponseOk>),
    #[rasn(tag(context, 1))]
    AuthenticateResponseError(AuthenticateResponseError),
}
