//! ES9+ JSON bodies (SGP.22 6.5, digest §1): binary fields are standard base64 of complete DER
//! TLVs, `euiccChallenge` is base64 of 16 raw bytes, `transactionId` is upper-case hex.
//!
//! Binary fields are [`Der<T>`]: the JSON layer only checks base64, so that a server can tell
//! malformed JSON from malformed DER and answer each with its own status code. Call
//! [`Der::decode`] for the typed value; [`Der::encode`] makes one to send.

use core::fmt;
use core::marker::PhantomData;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
#[allow(unused_imports)] // the rasn derives call trait methods unqualified
use rasn::{AsnType, Decode, Decoder, Encode, Encoder};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::auth::{AuthenticateServerResponse, EUICCInfo1, ServerSigned1};
use crate::download::StoreMetadataRequest;
use crate::download::{BoundProfilePackage, PrepareDownloadResponse, SmdpSigned2};
use crate::notification::{CancelSessionResponse, PendingNotification};
use crate::raw::Certificate;
use crate::{Error, OctetString, SubjectKeyIdentifier, TransactionId};

/// Paths of the five ES9+ functions.
pub mod path {
    pub const INITIATE_AUTHENTICATION: &str = "/gsma/rsp2/es9plus/initiateAuthentication";
    pub const AUTHENTICATE_CLIENT: &str = "/gsma/rsp2/es9plus/authenticateClient";
    pub const GET_BOUND_PROFILE_PACKAGE: &str = "/gsma/rsp2/es9plus/getBoundProfilePackage";
    pub const HANDLE_NOTIFICATION: &str = "/gsma/rsp2/es9plus/handleNotification";
    pub const CANCEL_SESSION: &str = "/gsma/rsp2/es9plus/cancelSession";
    /// The five, in the order a download uses them.
    pub const ALL: [&str; 5] = [
        INITIATE_AUTHENTICATION,
        AUTHENTICATE_CLIENT,
        GET_BOUND_PROFILE_PACKAGE,
        HANDLE_NOTIFICATION,
        CANCEL_SESSION,
    ];
}

/// Standard alphabet; padding optional on input (some LPAs strip it), always written.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Base64-decodes, ignoring ASCII whitespace (lpac and others wrap long values).
pub fn base64_decode(s: &str) -> Result<Vec<u8>, Error> {
    let compact: String;
    let input = if s.bytes().any(|b| b.is_ascii_whitespace()) {
        compact = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        compact.as_str()
    } else {
        s
    };
    B64.decode(input)
        .map_err(|e| Error::invalid("base64", e.to_string()))
}

/// Base64-encodes with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// The JSON of a getBoundProfilePackage response, byte for byte what serde_json writes, with
/// the BPP's base64 appended straight into the buffer: serde_json would scan its ~70 KB for
/// characters to escape, and the base64 alphabet has none (a twelfth of the server's
/// instructions per download, measured with callgrind).
pub fn bound_profile_package_json(
    r: &GetBoundProfilePackageResponse,
) -> serde_json::Result<Vec<u8>> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Head<'a> {
        header: &'a ResponseHeader,
        transaction_id: &'a TransactionId,
    }
    let bpp = r.bound_profile_package.as_bytes();
    let mut out = Vec::with_capacity(bpp.len() * 4 / 3 + 256);
    serde_json::to_writer(
        &mut out,
        &Head {
            header: &r.header,
            transaction_id: &r.transaction_id,
        },
    )?;
    // `{"header":…,"transactionId":"…"}` → `…,"boundProfilePackage":"<base64>"}`.
    out.pop();
    out.extend_from_slice(b",\"boundProfilePackage\":\"");
    let start = out.len();
    out.resize(start + base64::encoded_len(bpp.len(), true).unwrap_or(0), 0);
    let n = B64
        .encode_slice(bpp, &mut out[start..])
        .map_err(serde::ser::Error::custom)?;
    out.truncate(start + n);
    out.extend_from_slice(b"\"}");
    Ok(out)
}

/// A base64 JSON field holding the complete DER TLV of a `T`.
pub struct Der<T> {
    bytes: Vec<u8>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Der<T> {
    /// Wraps bytes that are already DER (e.g. a [`crate::raw::Signed`] part's raw TLV).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            _t: PhantomData,
        }
    }

    /// The DER bytes as carried.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Takes the DER bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl<T: Encode + Decode> Der<T> {
    /// DER-encodes `value`.
    pub fn encode(value: &T) -> Result<Self, Error> {
        crate::encode(value).map(Self::from_bytes)
    }

    /// Decodes the carried DER as `T` (exactly one TLV, no trailing bytes).
    pub fn decode(&self) -> Result<T, Error> {
        crate::decode(&self.bytes)
    }
}

impl<T> Clone for Der<T> {
    fn clone(&self) -> Self {
        Self::from_bytes(self.bytes.clone())
    }
}

impl<T> PartialEq for Der<T> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl<T> Eq for Der<T> {}

impl<T> fmt::Debug for Der<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Der({})", hex::encode_upper(&self.bytes))
    }
}

impl<T> Serialize for Der<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64_encode(&self.bytes))
    }
}

impl<'de, T> Deserialize<'de> for Der<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64_decode(&s)
            .map(Self::from_bytes)
            .map_err(serde::de::Error::custom)
    }
}

/// A base64 JSON field of raw bytes (not a TLV): `euiccChallenge`, v3 `lpaRspCapability`.
#[derive(Clone, PartialEq, Eq)]
pub struct Base64Bytes(pub Vec<u8>);

impl fmt::Debug for Base64Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Base64Bytes({})", hex::encode_upper(&self.0))
    }
}

impl Serialize for Base64Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64_encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64_decode(&s)
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for TransactionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for TransactionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// `[APPLICATION 55] OCTET STRING` (`5F37 40 r‖s`): the JSON signature fields carry this TLV.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(delegate, tag(application, 55))]
pub struct Signature(pub OctetString);

/// Optional request header (SGP.22 6.5.1.3); accepted and otherwise ignored.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RequestHeader {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_requester_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call_identifier: Option<String>,
}

/// `functionExecutionStatus.status`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    #[serde(rename = "Executed-Success")]
    ExecutedSuccess,
    #[serde(rename = "Executed-WithWarning")]
    ExecutedWithWarning,
    #[serde(rename = "Failed")]
    Failed,
    #[serde(rename = "Expired")]
    Expired,
}

/// `statusCodeData`: subject and reason codes as dotted strings (`"8.10.1"`, `"3.9"`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StatusCodeData {
    pub subject_code: String,
    pub reason_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `functionExecutionStatus`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FunctionExecutionStatus {
    pub status: ExecutionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code_data: Option<StatusCodeData>,
}

/// What a (subjectCode, reasonCode) pair means, as the digest's §2 table gives it (the table
/// lpac and euicc-go show their users, with SGP.23's expectations): for an LPA to print next to
/// the codes. `None` for a pair the table does not list.
pub fn status_meaning(subject: &str, reason: &str) -> Option<&'static str> {
    Some(match (subject, reason) {
        ("8.1", "4.8") => "eUICC lacks space for the profile",
        ("8.1", "6.1") => "eUICC signature invalid or serverChallenge mismatch",
        ("8.1.1", "2.2") => "EID missing for this order",
        ("8.1.1", "3.1") => "another EID is already associated with this ICCID",
        ("8.1.1", "3.8") => "EID refused (does not match the order)",
        ("8.1.2", "6.1") => "EUM certificate invalid",
        ("8.1.2", "6.3") => "EUM certificate expired",
        ("8.1.3", "6.1") => "eUICC certificate invalid",
        ("8.1.3", "6.3") => "eUICC certificate expired",
        ("8.2", "1.2") => "profile not yet released",
        ("8.2", "3.7") => "BPP not available for a new binding",
        ("8.2.5", "4.3") => "no eligible profile for this eUICC/device",
        ("8.2.6", "3.8") => "matching ID (AC token / EventID) refused",
        ("8.2.7", "2.2") => "confirmation code missing",
        ("8.2.7", "3.8") => "confirmation code refused",
        ("8.2.7", "6.4") => "confirmation code retries exceeded",
        ("8.8", "3.10") => "SM-DP+ OID invalid",
        ("8.8.1", "3.8") => "invalid SM-DP+ address",
        ("8.8.2", "3.1") => "none of the proposed CI PKIDs is supported",
        ("8.8.3", "3.1") => "specification version not supported",
        ("8.8.4", "3.7") => "no CERT.DPauth under a CI the eUICC can verify",
        ("8.8.5", "4.10") => "download order expired",
        ("8.8.5", "6.4") => "maximum number of download retries exceeded",
        ("8.10.1", "3.9") => "transaction ID unknown",
        ("8.11.1", "3.9") => "the EUM certificate's CI is unknown or not the one requested",
        ("1.6", "2.1") => "invalid function input",
        ("1.6", "2.2") => "mandatory element missing",
        ("1.6", "2.3") => "conditional element missing",
        ("1.2", "4.2") => "execution error at the function provider",
        ("1.2", "4.4") => "function provider busy",
        _ => return None,
    })
}

/// The response header every ES9+ JSON response carries.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResponseHeader {
    pub function_execution_status: FunctionExecutionStatus,
}

impl ResponseHeader {
    /// `Executed-Success`.
    pub fn success() -> Self {
        Self {
            function_execution_status: FunctionExecutionStatus {
                status: ExecutionStatus::ExecutedSuccess,
                status_code_data: None,
            },
        }
    }

    /// `Failed` with subject/reason codes.
    pub fn failed(subject: &str, reason: &str, message: Option<String>) -> Self {
        Self {
            function_execution_status: FunctionExecutionStatus {
                status: ExecutionStatus::Failed,
                status_code_data: Some(StatusCodeData {
                    subject_code: subject.to_owned(),
                    reason_code: reason.to_owned(),
                    subject_identifier: None,
                    message,
                }),
            },
        }
    }
}

/// A header-only response: what every function answers when it fails.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct HeaderOnlyResponse {
    pub header: ResponseHeader,
}

/// Parses a response body: the typed response on success (or warning), the header on
/// `Failed`/`Expired`.
pub fn parse_response<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<Result<T, ResponseHeader>, serde_json::Error> {
    let head: HeaderOnlyResponse = serde_json::from_slice(body)?;
    match head.header.function_execution_status.status {
        ExecutionStatus::ExecutedSuccess | ExecutionStatus::ExecutedWithWarning => {
            serde_json::from_slice(body).map(Ok)
        }
        ExecutionStatus::Failed | ExecutionStatus::Expired => Ok(Err(head.header)),
    }
}

/// initiateAuthentication request.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InitiateAuthenticationRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<RequestHeader>,
    /// 16 raw bytes (not a TLV).
    pub euicc_challenge: Base64Bytes,
    pub euicc_info1: Der<EUICCInfo1>,
    pub smdp_address: String,
    /// v3 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lpa_rsp_capability: Option<Base64Bytes>,
}

/// initiateAuthentication response.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InitiateAuthenticationResponse {
    pub header: ResponseHeader,
    pub transaction_id: TransactionId,
    pub server_signed1: Der<ServerSigned1>,
    pub server_signature1: Der<Signature>,
    /// `04 14 <CI SKI>`.
    #[serde(rename = "euiccCiPKIdToBeUsed")]
    pub euicc_ci_pkid_to_be_used: Der<SubjectKeyIdentifier>,
    pub server_certificate: Der<Certificate>,
}

/// authenticateClient request.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticateClientRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<RequestHeader>,
    pub transaction_id: TransactionId,
    pub authenticate_server_response: Der<AuthenticateServerResponse>,
}

/// authenticateClient response.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticateClientResponse {
    pub header: ResponseHeader,
    pub transaction_id: TransactionId,
    pub profile_metadata: Der<StoreMetadataRequest>,
    pub smdp_signed2: Der<SmdpSigned2>,
    pub smdp_signature2: Der<Signature>,
    pub smdp_certificate: Der<Certificate>,
}

/// getBoundProfilePackage request.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GetBoundProfilePackageRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<RequestHeader>,
    pub transaction_id: TransactionId,
    pub prepare_download_response: Der<PrepareDownloadResponse>,
}

/// getBoundProfilePackage response.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GetBoundProfilePackageResponse {
    pub header: ResponseHeader,
    pub transaction_id: TransactionId,
    pub bound_profile_package: Der<BoundProfilePackage>,
}

/// handleNotification request; the success answer is HTTP 204 with no body.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HandleNotificationRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<RequestHeader>,
    pub pending_notification: Der<PendingNotification>,
}

/// cancelSession request.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CancelSessionRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<RequestHeader>,
    pub transaction_id: TransactionId,
    pub cancel_session_response: Der<CancelSessionResponse>,
}

/// cancelSession response: the header alone (SGP.22 6.5.2.10). pySim also echoes the
/// transaction ID, which strict clients refuse: not sent, and ignored when a server sends it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CancelSessionResponseBody {
    pub header: ResponseHeader,
}
