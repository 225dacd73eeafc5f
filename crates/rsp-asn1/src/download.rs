//! Profile download: SmdpSigned2, PrepareDownload (ES10b), StoreMetadataRequest and the
//! Bound Profile Package with the commands it carries.

#[allow(unused_imports)] // the rasn derives call trait methods unqualified
use rasn::{AsnType, Decode, Decoder, Encode, Encoder};

use crate::bits::NamedBits;
use crate::ids::Iccid;
use crate::named_integer;
use crate::raw::{Certificate, Extensions, Signed};
use crate::{ObjectIdentifier, Octet1, Octet32, OctetString, OctetTo16, TransactionId, Utf8String};

/// `SmdpSigned2` (`30 { 80 txid, 01 ccRequiredFlag, 5F49 bppEuiccOtpk? }`), signed with SK.DPpb.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct SmdpSigned2 {
    #[rasn(tag(context, 0))]
    pub transaction_id: TransactionId,
    pub cc_required_flag: bool,
    /// otPK.EUICC already used for a binding of this profile (retry after interruption).
    #[rasn(tag(application, 73))]
    pub bpp_euicc_otpk: Option<OctetString>,
    /// v3: `05 rpmPending`.
    pub extensions: Option<Extensions>,
}

/// `PrepareDownloadRequest` (`BF21`), ES10b from the LPA to the eUICC.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 33))]
pub struct PrepareDownloadRequest {
    pub smdp_signed2: Signed<SmdpSigned2>,
    #[rasn(tag(application, 55))]
    pub smdp_signature2: OctetString,
    pub hash_cc: Option<Octet32>,
    pub smdp_certificate: Certificate,
    pub extensions: Option<Extensions>,
}

/// `EUICCSigned2` (`30 { 80 txid, 5F49 euiccOtpk, 04 hashCc? }`), signed by the eUICC.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct EUICCSigned2 {
    #[rasn(tag(context, 0))]
    pub transaction_id: TransactionId,
    /// otPK.EUICC.ECKA, uncompressed point `04‖X‖Y`.
    #[rasn(tag(application, 73))]
    pub euicc_otpk: OctetString,
    pub hash_cc: Option<Octet32>,
    /// v3: additionalInformation.
    pub extensions: Option<Extensions>,
}

/// `PrepareDownloadResponseOk`.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct PrepareDownloadResponseOk {
    pub euicc_signed2: Signed<EUICCSigned2>,
    #[rasn(tag(application, 55))]
    pub euicc_signature2: OctetString,
    pub extensions: Option<Extensions>,
}

named_integer!(
    /// `DownloadErrorCode`.
    DownloadErrorCode {
        invalidCertificate = 1,
        invalidSignature = 2,
        unsupportedCurve = 3,
        noSessionContext = 4,
        invalidTransactionId = 5,
        undefinedError = 127,
    }
);

/// `PrepareDownloadResponseError` (`80` txid, `02` code).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct PrepareDownloadResponseError {
    #[rasn(tag(context, 0))]
    pub transaction_id: TransactionId,
    pub download_error_code: DownloadErrorCode,
    pub extensions: Option<Extensions>,
}

/// `PrepareDownloadResponse ::= [33] CHOICE` (`BF21 { A0 … | A1 … }`), what
/// getBoundProfilePackage carries.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(choice, tag(explicit(context, 33)))]
pub enum PrepareDownloadResponse {
    #[rasn(tag(context, 0))]
    DownloadResponseOk(Box<PrepareDownloadResponseOk>),
    #[rasn(tag(context, 1))]
    DownloadResponseError(PrepareDownloadResponseError),
}

named_integer!(
    /// `IconType ::= INTEGER {jpg(0), png(1)}`.
    IconType { jpg = 0, png = 1 }
);

named_integer!(
    /// `ProfileClass ::= INTEGER {test(0), provisioning(1), operational(2)}`.
    ProfileClass {
        test = 0,
        provisioning = 1,
        operational = 2,
    }
);

impl ProfileClass {
    /// StoreMetadataRequest's `DEFAULT operational`: DER omits the field at this value.
    pub fn default_operational() -> Self {
        Self::operational
    }
}

/// `NotificationConfigurationInformation` (auto-tagged `80` operations, `81` address).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct NotificationConfigurationInformation {
    /// `NotificationEvent` bits, see [`crate::bits::notification_event`].
    #[rasn(tag(context, 0))]
    pub profile_management_operation: NamedBits,
    /// FQDN the eUICC's notifications for these operations go to.
    #[rasn(tag(context, 1))]
    pub notification_address: Utf8String,
    pub extensions: Option<Extensions>,
}

/// `OperatorId` (auto-tagged `80` mccMnc, `81` gid1, `82` gid2).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct OperatorId {
    /// MCC/MNC as in 3GPP TS 24.008 (3 octets).
    #[rasn(tag(context, 0))]
    pub mcc_mnc: OctetString,
    #[rasn(tag(context, 1))]
    pub gid1: Option<OctetString>,
    #[rasn(tag(context, 2))]
    pub gid2: Option<OctetString>,
    pub extensions: Option<Extensions>,
}

/// `StoreMetadataRequest` (`BF25`): the profile metadata, sent in authenticateClient and again,
/// byte-identical, in the BPP's `88` segments.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 37))]
pub struct StoreMetadataRequest {
    pub iccid: Iccid,
    #[rasn(tag(context, 17))]
    pub service_provider_name: Utf8String,
    #[rasn(tag(context, 18))]
    pub profile_name: Utf8String,
    #[rasn(tag(context, 19))]
    pub icon_type: Option<IconType>,
    /// At most 1024 bytes; only with `icon_type`.
    #[rasn(tag(context, 20))]
    pub icon: Option<OctetString>,
    /// DEFAULT operational (SGP.22 v2.1+): not encoded when operational.
    #[rasn(tag(context, 21), default = "ProfileClass::default_operational")]
    pub profile_class: ProfileClass,
    #[rasn(tag(context, 22))]
    pub notification_configuration_info: Option<Vec<NotificationConfigurationInformation>>,
    #[rasn(tag(context, 23))]
    pub profile_owner: Option<OperatorId>,
    /// `PprIds` bits, see [`crate::bits::ppr_ids`].
    #[rasn(tag(context, 25))]
    pub profile_policy_rules: Option<NamedBits>,
    /// SGP.32 `9F7B`: the profile is an emergency-call (eCall) profile.
    ///
    /// v2.5's `BF22`/`BF23` serviceSpecificData… come before this field in the SEQUENCE; they
    /// are not modelled, so a request carrying them keeps them, and everything after them,
    /// in `extensions` (the bytes are kept either way).
    #[rasn(tag(context, 123))]
    pub ecall_indication: Option<bool>,
    /// SGP.32 `9F67`: the eUICC may fall back from this profile.
    #[rasn(tag(context, 103))]
    pub fallback_allowed: Option<bool>,
    /// v2.5 `BF22`/`BF23` serviceSpecificData…, SGP.32 `BF64` iotSpecificMetadata, later.
    pub extensions: Option<Extensions>,
}

/// `UpdateMetadataRequest` (`BF2A`).
#[derive(AsnType, Decode, Encode, Debug, Clone, Default, PartialEq, Eq)]
#[rasn(tag(context, 42))]
pub struct UpdateMetadataRequest {
    #[rasn(tag(context, 17))]
    pub service_provider_name: Option<Utf8String>,
    #[rasn(tag(context, 18))]
    pub profile_name: Option<Utf8String>,
    #[rasn(tag(context, 19))]
    pub icon_type: Option<IconType>,
    #[rasn(tag(context, 20))]
    pub icon: Option<OctetString>,
    #[rasn(tag(context, 25))]
    pub profile_policy_rules: Option<NamedBits>,
    pub extensions: Option<Extensions>,
}

/// `ControlRefTemplate` (`80` keyType, `81` keyLen, `84` hostId) inside `A6`.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct ControlRefTemplate {
    /// GlobalPlatform key type; AES is `88`.
    #[rasn(tag(context, 0))]
    pub key_type: Octet1,
    /// Key length in bytes; SGP.22 uses `10` (16).
    #[rasn(tag(context, 1))]
    pub key_len: Octet1,
    #[rasn(tag(context, 4))]
    pub host_id: OctetTo16,
    pub extensions: Option<Extensions>,
}

named_integer!(
    /// `RemoteOpId ::= [2] INTEGER {installBoundProfilePackage(1)}`.
    RemoteOpId { installBoundProfilePackage = 1 }
);

/// `InitialiseSecureChannelRequest` (`BF23`), the first part of the BPP.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 35))]
pub struct InitialiseSecureChannelRequest {
    #[rasn(tag(context, 2))]
    pub remote_op_id: RemoteOpId,
    #[rasn(tag(context, 0))]
    pub transaction_id: TransactionId,
    #[rasn(tag(context, 6))]
    pub control_ref_template: ControlRefTemplate,
    /// otPK.DP.ECKA, uncompressed point.
    #[rasn(tag(application, 73))]
    pub smdp_otpk: OctetString,
    /// smdpSign over the preceding TLVs ‖ `5F49` otPK.EUICC (digest §4.1).
    #[rasn(tag(application, 55))]
    pub smdp_sign: OctetString,
    pub extensions: Option<Extensions>,
}

/// `ConfigureISDPRequest` (`BF24`); empty is `BF24 00`.
#[derive(AsnType, Decode, Encode, Debug, Clone, Default, PartialEq, Eq)]
#[rasn(tag(context, 36))]
pub struct ConfigureISDPRequest {
    #[rasn(tag(context, 24))]
    pub dp_proprietary_data: Option<DpProprietaryData>,
    pub extensions: Option<Extensions>,
}

/// `DpProprietaryData` (`B8 { 80 dpOid, … }`); the SM-DP+ may append its own data objects.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct DpProprietaryData {
    #[rasn(tag(context, 0))]
    pub dp_oid: ObjectIdentifier,
    pub extensions: Option<Extensions>,
}

/// `ReplaceSessionKeysRequest` (`BF26 { 80 initialMCV, 81 ppkEnc, 82 ppkCmac }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 38))]
pub struct ReplaceSessionKeysRequest {
    #[rasn(tag(context, 0))]
    pub initial_mac_chaining_value: OctetString,
    #[rasn(tag(context, 1))]
    pub ppk_enc: OctetString,
    #[rasn(tag(context, 2))]
    pub ppk_cmac: OctetString,
    pub extensions: Option<Extensions>,
}

/// One `87` segment: encrypted and MACed (ConfigureISDP, ReplaceSessionKeys).
#[derive(AsnType, Decode, Encode, Clone, PartialEq, Eq)]
#[rasn(delegate, tag(context, 7))]
pub struct Segment87(pub OctetString);

/// One `88` segment: MAC only (StoreMetadata).
#[derive(AsnType, Decode, Encode, Clone, PartialEq, Eq)]
#[rasn(delegate, tag(context, 8))]
pub struct Segment88(pub OctetString);

/// One `86` segment: encrypted and MACed profile data.
#[derive(AsnType, Decode, Encode, Clone, PartialEq, Eq)]
#[rasn(delegate, tag(context, 6))]
pub struct Segment86(pub OctetString);

macro_rules! segment_debug {
    ($($t:ident),*) => {$(
        impl core::fmt::Debug for $t {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}({} bytes)", stringify!($t), self.0.len())
            }
        }
    )*};
}
segment_debug!(Segment86, Segment87, Segment88);

/// `BoundProfilePackage` (`BF36`).
///
/// The BF23 part is kept as received: the eUICC verifies smdpSign over its inner TLVs.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 54))]
pub struct BoundProfilePackage {
    #[rasn(tag(context, 35))]
    pub initialise_secure_channel_request: Signed<InitialiseSecureChannelRequest>,
    /// `A0`: ConfigureISDPRequest segments.
    #[rasn(tag(context, 0))]
    pub first_sequence_of87: Vec<Segment87>,
    /// `A1`: StoreMetadataRequest segments.
    #[rasn(tag(context, 1))]
    pub sequence_of88: Vec<Segment88>,
    /// `A2`: ReplaceSessionKeysRequest segments, when the profile is pre-protected (PPK).
    #[rasn(tag(context, 2))]
    pub second_sequence_of87: Option<Vec<Segment87>>,
    /// `A3`: profile package segments.
    #[rasn(tag(context, 3))]
    pub sequence_of86: Vec<Segment86>,
    pub extensions: Option<Extensions>,
}
