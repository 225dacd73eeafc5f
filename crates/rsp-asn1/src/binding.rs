//! The ES9+ ASN.1 binding (SGP.22 v3, used by SGP.32 IoT devices): one path, DER in and out.
//!
//! `POST /gsma/rsp2/asn1` with `Content-Type: application/x-gsma-rsp-asn1`. The body is a
//! `RemoteProfileProvisioningRequest` (`A2`, a CHOICE of the five ES9+ requests); the answer
//! is a `RemoteProfileProvisioningResponse`, whose alternatives are each a CHOICE of the
//! function's `…Ok` and an INTEGER error. handleNotification has no response alternative: its
//! answer is an empty body.
//!
//! Both bindings carry the same DER parts (euiccInfo1, authenticateServerResponse, the BPP…),
//! so a binding message decodes into the JSON binding's request types ([`crate::es9`]) and a
//! response is made from the JSON binding's response types. The SM-DP+ therefore runs one
//! code path for both, and both give the same signed bytes. The envelopes are read and
//! written over [`crate::tlv`] rather than rasn because their parts are carried as received,
//! never re-encoded; the parts are decoded (strict DER) where the JSON binding decodes them.
//!
//! **Tagging** (X.680 31.2.7 c): an IMPLICIT tag on a reference to a *tagged* CHOICE replaces
//! that type's outer tag; only an *untagged* CHOICE is tagged explicitly. So
//! `[65] CancelSessionResponseEs9` (itself `[65] CHOICE`) is `BF41 { A0 00 }` inside `A2`, and
//! CancelSessionRequestEs9's automatically tagged `[1] CancelSessionResponse` is
//! `A1 { A0 … }`. Erlang's asn1ct and Python's asn1tools tag such references explicitly and
//! write the tag twice (`BF41 { BF41 { … } }`, erlang/otp#11625); Eclipse TITAN, which the
//! osmo-ttcn3 SM-DP+ suites use, does not. We write the X.680 form and read both: the doubled
//! layer cannot be mistaken for anything else.

use crate::es9::{
    AuthenticateClientRequest, AuthenticateClientResponse, Base64Bytes, CancelSessionRequest, Der,
    GetBoundProfilePackageRequest, GetBoundProfilePackageResponse, HandleNotificationRequest,
    InitiateAuthenticationRequest, InitiateAuthenticationResponse, ResponseHeader,
};
use crate::named_integer;
use crate::tlv::{push_tlv, Tlv};
use crate::TransactionId;
#[allow(unused_imports)] // the rasn derives call trait methods unqualified
use rasn::{AsnType, Decode, Decoder, Encode, Encoder};

/// The one path of the binding.
pub const PATH: &str = "/gsma/rsp2/asn1";
/// Its content type, both ways.
pub const CONTENT_TYPE: &str = "application/x-gsma-rsp-asn1";

/// `[2]` (`A2`): the outer tag of both envelopes.
const ENVELOPE: &[u8] = &[0xA2];

/// The five ES9+ functions, by their binding alternative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    InitiateAuthentication,
    AuthenticateClient,
    GetBoundProfilePackage,
    CancelSession,
    HandleNotification,
}

impl Function {
    /// The function's name as in SGP.22 (and in the JSON binding's path).
    pub fn name(self) -> &'static str {
        match self {
            Self::InitiateAuthentication => "initiateAuthentication",
            Self::AuthenticateClient => "authenticateClient",
            Self::GetBoundProfilePackage => "getBoundProfilePackage",
            Self::CancelSession => "cancelSession",
            Self::HandleNotification => "handleNotification",
        }
    }

    /// The alternative's tag, the same in request and response.
    pub fn tag(self) -> &'static [u8] {
        match self {
            Self::InitiateAuthentication => &[0xBF, 0x39],
            Self::AuthenticateClient => &[0xBF, 0x3B],
            Self::GetBoundProfilePackage => &[0xBF, 0x3A],
            Self::CancelSession => &[0xBF, 0x41],
            Self::HandleNotification => &[0xBF, 0x3D],
        }
    }

    fn from_tag(tag: &[u8]) -> Option<Self> {
        [
            Self::InitiateAuthentication,
            Self::AuthenticateClient,
            Self::GetBoundProfilePackage,
            Self::CancelSession,
            Self::HandleNotification,
        ]
        .into_iter()
        .find(|f| f.tag() == tag)
    }
}

/// Why binding bytes do not decode: the function, when the alternative could be read (the
/// server then answers with that function's error alternative), and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {msg}", .function.map_or("RemoteProfileProvisioning", Function::name))]
pub struct BindingError {
    pub function: Option<Function>,
    pub msg: String,
}

fn err(function: Option<Function>, msg: impl Into<String>) -> BindingError {
    BindingError {
        function,
        msg: msg.into(),
    }
}

named_integer!(
    /// `InitiateAuthenticationResponse`'s error alternative.
    InitiateAuthenticationError {
        invalidDpAddress = 1,
        euiccVersionNotSupportedByDp = 2,
        ciPKNotSupported = 3,
        /// Not in the v2.5 list (its other error enums end with it): what every failure
        /// without a row of its own gets.
        undefinedError = 127,
    }
);

named_integer!(
    /// `AuthenticateClientResponseEs9`'s error alternative.
    AuthenticateClientError {
        eumCertificateInvalid = 1,
        eumCertificateExpired = 2,
        euiccCertificateInvalid = 3,
        euiccCertificateExpired = 4,
        euiccSignatureInvalid = 5,
        matchingIdRefused = 6,
        eidMismatch = 7,
        noEligibleProfile = 8,
        ciPKUnknown = 9,
        invalidTransactionId = 10,
        insufficientMemory = 11,
        undefinedError = 127,
    }
);

named_integer!(
    /// `GetBoundProfilePackageResponse`'s error alternative.
    GetBoundProfilePackageError {
        euiccSignatureInvalid = 1,
        confirmationCodeMissing = 2,
        confirmationCodeRefused = 3,
        confirmationCodeRetriesExceeded = 4,
        bppRebindingRefused = 5,
        downloadOrderExpired = 6,
        invalidTransactionId = 95,
        undefinedError = 127,
    }
);

named_integer!(
    /// `CancelSessionResponseEs9`'s error alternative.
    CancelSessionError {
        invalidTransactionId = 1,
        euiccSignatureInvalid = 2,
        undefinedError = 127,
    }
);

/// A `RemoteProfileProvisioningRequest`, held as the JSON binding's request (without header:
/// the ASN.1 binding has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    InitiateAuthentication(InitiateAuthenticationRequest),
    AuthenticateClient(AuthenticateClientRequest),
    GetBoundProfilePackage(GetBoundProfilePackageRequest),
    CancelSession(CancelSessionRequest),
    HandleNotification(HandleNotificationRequest),
}

/// A `RemoteProfileProvisioningResponse`: the JSON binding's response, or the error value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    InitiateAuthentication(Result<InitiateAuthenticationResponse, InitiateAuthenticationError>),
    AuthenticateClient(Result<AuthenticateClientResponse, AuthenticateClientError>),
    GetBoundProfilePackage(Result<GetBoundProfilePackageResponse, GetBoundProfilePackageError>),
    /// `cancelSessionOk` is an empty SEQUENCE.
    CancelSession(Result<(), CancelSessionError>),
}

/// The fields of a SEQUENCE, read in order; unknown trailing fields are skipped
/// (`EXTENSIBILITY IMPLIED`).
struct Fields<'a> {
    function: Function,
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(function: Function, value: &'a [u8]) -> Self {
        Self {
            function,
            rest: value,
        }
    }

    fn peek(&self) -> Result<Option<Tlv<'a>>, BindingError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        Tlv::read(self.rest, 0)
            .map(|(t, _)| Some(t))
            .map_err(|e| err(Some(self.function), e.to_string()))
    }

    fn optional(&mut self, tag: &[u8]) -> Result<Option<Tlv<'a>>, BindingError> {
        match self.peek()? {
            Some(t) if t.tag == tag => {
                self.rest = &self.rest[t.raw.len()..];
                Ok(Some(t))
            }
            _ => Ok(None),
        }
    }

    fn mandatory(&mut self, tag: &[u8], field: &str) -> Result<Tlv<'a>, BindingError> {
        match self.optional(tag)? {
            Some(t) => Ok(t),
            None => Err(err(
                Some(self.function),
                format!("{field} ({}) missing", hex::encode_upper(tag)),
            )),
        }
    }

    /// A mandatory part, carried as its TLV.
    fn der<T>(&mut self, tag: &[u8], field: &str) -> Result<Der<T>, BindingError> {
        self.mandatory(tag, field)
            .map(|t| Der::from_bytes(t.raw.to_vec()))
    }

    fn transaction_id(&mut self) -> Result<TransactionId, BindingError> {
        let t = self.mandatory(&[0x80], "transactionId")?;
        TransactionId::new(t.value).map_err(|e| err(Some(self.function), e.to_string()))
    }
}

/// A TLV whose contents are exactly one TLV with the same tag (an explicit tag written over a
/// tagged CHOICE, see the module notes) is that inner TLV.
fn undouble(t: Tlv<'_>) -> Tlv<'_> {
    match Tlv::read_exact(t.value) {
        Ok(inner) if t.constructed && inner.tag == t.tag => inner,
        _ => t,
    }
}

/// `tag ‖ length ‖ the contents of tlv`: an implicit retag.
fn retag(tag: &[u8], tlv: &[u8]) -> Result<Vec<u8>, crate::tlv::TlvError> {
    let t = Tlv::read_exact(tlv)?;
    let mut out = Vec::with_capacity(tlv.len() + 2);
    push_tlv(&mut out, tag, t.value);
    Ok(out)
}

/// The outer `A2` and the alternative inside it; any failure here names no function.
fn envelope(der: &[u8]) -> Result<(Function, Tlv<'_>), BindingError> {
    if der.len() > crate::MAX_DER_LEN {
        return Err(err(None, format!("{} bytes is too large", der.len())));
    }
    let outer = Tlv::read_exact(der).map_err(|e| err(None, e.to_string()))?;
    if outer.tag != ENVELOPE {
        return Err(err(
            None,
            format!("tag {} is not A2", hex::encode_upper(outer.tag)),
        ));
    }
    let inner = Tlv::read_exact(outer.value).map_err(|e| err(None, e.to_string()))?;
    let function = Function::from_tag(inner.tag).ok_or_else(|| {
        err(
            None,
            format!("unknown alternative {}", hex::encode_upper(inner.tag)),
        )
    })?;
    // The shape of the whole value (minimal lengths, no indefinite forms) is checked once the
    // function is known, so that a malformed body still gets that function's error.
    crate::tlv::check_der(der).map_err(|e| err(Some(function), e.to_string()))?;
    Ok((function, inner))
}

impl Request {
    /// The function asked for.
    pub fn function(&self) -> Function {
        match self {
            Self::InitiateAuthentication(_) => Function::InitiateAuthentication,
            Self::AuthenticateClient(_) => Function::AuthenticateClient,
            Self::GetBoundProfilePackage(_) => Function::GetBoundProfilePackage,
            Self::CancelSession(_) => Function::CancelSession,
            Self::HandleNotification(_) => Function::HandleNotification,
        }
    }

    /// Reads a `RemoteProfileProvisioningRequest`. The parts it carries are checked for their
    /// tag only; the SM-DP+ decodes them as it does the JSON binding's.
    pub fn from_der(der: &[u8]) -> Result<Self, BindingError> {
        let (function, alt) = envelope(der)?;
        let f = Some(function);
        let mut fields = Fields::new(function, alt.value);
        let request = match function {
            Function::InitiateAuthentication => {
                let challenge = fields.mandatory(&[0x81], "euiccChallenge")?;
                let address = fields.mandatory(&[0x83], "smdpAddress")?;
                let info1 = fields.mandatory(&[0xBF, 0x20], "euiccInfo1")?;
                let smdp_address = String::from_utf8(address.value.to_vec())
                    .map_err(|_| err(f, "smdpAddress is not UTF-8"))?;
                Self::InitiateAuthentication(InitiateAuthenticationRequest {
                    header: None,
                    euicc_challenge: Base64Bytes(challenge.value.to_vec()),
                    euicc_info1: Der::from_bytes(info1.raw.to_vec()),
                    smdp_address,
                    lpa_rsp_capability: None,
                })
            }
            Function::AuthenticateClient => {
                let transaction_id = fields.transaction_id()?;
                let asr = fields.mandatory(&[0xBF, 0x38], "authenticateServerResponse")?;
                Self::AuthenticateClient(AuthenticateClientRequest {
                    header: None,
                    transaction_id,
                    authenticate_server_response: Der::from_bytes(undouble(asr).raw.to_vec()),
                })
            }
            Function::GetBoundProfilePackage => {
                let transaction_id = fields.transaction_id()?;
                let pdr = fields.mandatory(&[0xBF, 0x21], "prepareDownloadResponse")?;
                Self::GetBoundProfilePackage(GetBoundProfilePackageRequest {
                    header: None,
                    transaction_id,
                    prepare_download_response: Der::from_bytes(undouble(pdr).raw.to_vec()),
                })
            }
            Function::CancelSession => {
                let transaction_id = fields.transaction_id()?;
                let csr = fields.mandatory(&[0xA1], "cancelSessionResponse")?;
                // `A1 { A0 … | 81 … }`, or with the doubled tag `A1 { BF41 { … } }`.
                let raw = match Tlv::read_exact(csr.value) {
                    Ok(inner) if inner.tag == [0xBF, 0x41] => inner.raw.to_vec(),
                    _ => retag(&[0xBF, 0x41], csr.raw).map_err(|e| err(f, e.to_string()))?,
                };
                Self::CancelSession(CancelSessionRequest {
                    header: None,
                    transaction_id,
                    cancel_session_response: Der::from_bytes(raw),
                })
            }
            Function::HandleNotification => {
                // `pendingNotification` is an untagged CHOICE, so its automatic `[0]` is
                // explicit: `A0 { BF37 … | 30 … }`. Without the `A0` it is still unambiguous.
                let pending = match fields.optional(&[0xA0])? {
                    Some(a0) => Tlv::read_exact(a0.value).map_err(|e| err(f, e.to_string()))?,
                    None => fields
                        .peek()?
                        .filter(|t| t.tag == [0xBF, 0x37] || t.tag == [0x30])
                        .ok_or_else(|| err(f, "pendingNotification (A0) missing"))?,
                };
                Self::HandleNotification(HandleNotificationRequest {
                    header: None,
                    pending_notification: Der::from_bytes(pending.raw.to_vec()),
                })
            }
        };
        Ok(request)
    }

    /// Writes the `RemoteProfileProvisioningRequest`. The parts are written as they are held;
    /// a part that is not one TLV is an error.
    pub fn to_der(&self) -> Result<Vec<u8>, BindingError> {
        let function = self.function();
        let f = Some(function);
        let tlv_err = |e: crate::tlv::TlvError| err(f, e.to_string());
        let mut v = Vec::new();
        match self {
            Self::InitiateAuthentication(r) => {
                push_tlv(&mut v, &[0x81], &r.euicc_challenge.0);
                push_tlv(&mut v, &[0x83], r.smdp_address.as_bytes());
                Tlv::read_exact(r.euicc_info1.as_bytes()).map_err(tlv_err)?;
                v.extend_from_slice(r.euicc_info1.as_bytes());
            }
            Self::AuthenticateClient(r) => {
                push_tlv(&mut v, &[0x80], r.transaction_id.as_bytes());
                Tlv::read_exact(r.authenticate_server_response.as_bytes()).map_err(tlv_err)?;
                v.extend_from_slice(r.authenticate_server_response.as_bytes());
            }
            Self::GetBoundProfilePackage(r) => {
                push_tlv(&mut v, &[0x80], r.transaction_id.as_bytes());
                Tlv::read_exact(r.prepare_download_response.as_bytes()).map_err(tlv_err)?;
                v.extend_from_slice(r.prepare_download_response.as_bytes());
            }
            Self::CancelSession(r) => {
                push_tlv(&mut v, &[0x80], r.transaction_id.as_bytes());
                let a1 = retag(&[0xA1], r.cancel_session_response.as_bytes()).map_err(tlv_err)?;
                v.extend_from_slice(&a1);
            }
            Self::HandleNotification(r) => {
                Tlv::read_exact(r.pending_notification.as_bytes()).map_err(tlv_err)?;
                push_tlv(&mut v, &[0xA0], r.pending_notification.as_bytes());
            }
        }
        Ok(wrap(function, &v))
    }
}

/// `A2 { <function's tag> { contents } }`.
fn wrap(function: Function, contents: &[u8]) -> Vec<u8> {
    let mut alt = Vec::with_capacity(contents.len() + 4);
    push_tlv(&mut alt, function.tag(), contents);
    let mut out = Vec::with_capacity(alt.len() + 4);
    push_tlv(&mut out, ENVELOPE, &alt);
    out
}

/// An error alternative: `81` INTEGER (the CHOICE's second alternative, automatic `[1]`).
fn push_error(out: &mut Vec<u8>, code: i64) {
    let bytes = code.to_be_bytes();
    // Minimal two's complement: drop a leading byte while the next keeps the sign.
    let mut start = 0;
    while start < 7
        && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xFF && bytes[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    push_tlv(out, &[0x81], &bytes[start..]);
}

fn read_error(function: Function, t: Tlv<'_>) -> Result<i64, BindingError> {
    let v = t.value;
    let minimal = match v {
        [] => false,
        [a, b, ..] => !((*a == 0 && b & 0x80 == 0) || (*a == 0xFF && b & 0x80 != 0)),
        [_] => true,
    };
    if !minimal || v.len() > 8 {
        return Err(err(Some(function), "error INTEGER not in DER form"));
    }
    let fill = if v[0] & 0x80 != 0 { 0xFF } else { 0 };
    let mut b = [fill; 8];
    b[8 - v.len()..].copy_from_slice(v);
    Ok(i64::from_be_bytes(b))
}

/// Appends each part after checking it is one TLV with the tag the binding expects there.
fn push_parts(
    out: &mut Vec<u8>,
    function: Function,
    parts: &[(&[u8], &'static str, &[u8])],
) -> Result<(), BindingError> {
    for (tag, name, der) in parts {
        let t = Tlv::read_exact(der).map_err(|e| err(Some(function), format!("{name}: {e}")))?;
        if t.tag != *tag {
            return Err(err(
                Some(function),
                format!(
                    "{name} has tag {}, expected {}",
                    hex::encode_upper(t.tag),
                    hex::encode_upper(tag)
                ),
            ));
        }
        out.extend_from_slice(der);
    }
    Ok(())
}

impl Response {
    /// The function this answers.
    pub fn function(&self) -> Function {
        match self {
            Self::InitiateAuthentication(_) => Function::InitiateAuthentication,
            Self::AuthenticateClient(_) => Function::AuthenticateClient,
            Self::GetBoundProfilePackage(_) => Function::GetBoundProfilePackage,
            Self::CancelSession(_) => Function::CancelSession,
        }
    }

    /// The error value, when this is an error alternative.
    pub fn error(&self) -> Option<(i64, Option<&'static str>)> {
        match self {
            Self::InitiateAuthentication(Err(e)) => Some((e.0, e.name())),
            Self::AuthenticateClient(Err(e)) => Some((e.0, e.name())),
            Self::GetBoundProfilePackage(Err(e)) => Some((e.0, e.name())),
            Self::CancelSession(Err(e)) => Some((e.0, e.name())),
            _ => None,
        }
    }

    /// Writes the `RemoteProfileProvisioningResponse`.
    pub fn to_der(&self) -> Result<Vec<u8>, BindingError> {
        let function = self.function();
        let mut v = Vec::new();
        // `…Ok` is the CHOICE's first alternative: automatic `[0]`, `A0`.
        let ok = |parts: &[(&[u8], &'static str, &[u8])], txid: &TransactionId| {
            let mut seq = Vec::new();
            push_tlv(&mut seq, &[0x80], txid.as_bytes());
            push_parts(&mut seq, function, parts)?;
            let mut a0 = Vec::new();
            push_tlv(&mut a0, &[0xA0], &seq);
            Ok::<_, BindingError>(a0)
        };
        match self {
            Self::InitiateAuthentication(Ok(r)) => {
                v = ok(
                    &[
                        (&[0x30], "serverSigned1", r.server_signed1.as_bytes()),
                        (
                            &[0x5F, 0x37],
                            "serverSignature1",
                            r.server_signature1.as_bytes(),
                        ),
                        (
                            &[0x04],
                            "euiccCiPKIdToBeUsed",
                            r.euicc_ci_pkid_to_be_used.as_bytes(),
                        ),
                        (
                            &[0x30],
                            "serverCertificate",
                            r.server_certificate.as_bytes(),
                        ),
                    ],
                    &r.transaction_id,
                )?
            }
            Self::AuthenticateClient(Ok(r)) => {
                v = ok(
                    &[
                        (
                            &[0xBF, 0x25],
                            "profileMetaData",
                            r.profile_metadata.as_bytes(),
                        ),
                        (&[0x30], "smdpSigned2", r.smdp_signed2.as_bytes()),
                        (
                            &[0x5F, 0x37],
                            "smdpSignature2",
                            r.smdp_signature2.as_bytes(),
                        ),
                        (&[0x30], "smdpCertificate", r.smdp_certificate.as_bytes()),
                    ],
                    &r.transaction_id,
                )?
            }
            Self::GetBoundProfilePackage(Ok(r)) => {
                v = ok(
                    &[(
                        &[0xBF, 0x36],
                        "boundProfilePackage",
                        r.bound_profile_package.as_bytes(),
                    )],
                    &r.transaction_id,
                )?
            }
            Self::CancelSession(Ok(())) => push_tlv(&mut v, &[0xA0], &[]),
            _ => {
                let (code, _) = self.error().unwrap_or((127, None));
                push_error(&mut v, code);
            }
        }
        Ok(wrap(function, &v))
    }

    /// Reads a `RemoteProfileProvisioningResponse` (both taggings, see the module notes). The
    /// parts are checked for their tag; the JSON types' header reads `Executed-Success`.
    pub fn from_der(der: &[u8]) -> Result<Self, BindingError> {
        let (function, alt) = envelope(der)?;
        let f = Some(function);
        if function == Function::HandleNotification {
            return Err(err(f, "handleNotification has no response alternative"));
        }
        let alt = undouble(alt);
        let choice = Tlv::read_exact(alt.value).map_err(|e| err(f, e.to_string()))?;
        if choice.tag == [0x81] {
            let code = read_error(function, choice)?;
            return Ok(match function {
                Function::InitiateAuthentication => {
                    Self::InitiateAuthentication(Err(InitiateAuthenticationError(code)))
                }
                Function::AuthenticateClient => {
                    Self::AuthenticateClient(Err(AuthenticateClientError(code)))
                }
                Function::GetBoundProfilePackage => {
                    Self::GetBoundProfilePackage(Err(GetBoundProfilePackageError(code)))
                }
                _ => Self::CancelSession(Err(CancelSessionError(code))),
            });
        }
        if choice.tag != [0xA0] {
            return Err(err(
                f,
                format!(
                    "alternative {} is neither A0 nor 81",
                    hex::encode_upper(choice.tag)
                ),
            ));
        }
        let mut fields = Fields::new(function, choice.value);
        let header = ResponseHeader::success();
        if function == Function::CancelSession {
            return Ok(Self::CancelSession(Ok(())));
        }
        let transaction_id = fields.transaction_id()?;
        Ok(match function {
            Function::InitiateAuthentication => {
                Self::InitiateAuthentication(Ok(InitiateAuthenticationResponse {
                    header,
                    transaction_id,
                    server_signed1: fields.der(&[0x30], "serverSigned1")?,
                    server_signature1: fields.der(&[0x5F, 0x37], "serverSignature1")?,
                    euicc_ci_pkid_to_be_used: fields.der(&[0x04], "euiccCiPKIdToBeUsed")?,
                    server_certificate: fields.der(&[0x30], "serverCertificate")?,
                }))
            }
            Function::AuthenticateClient => {
                Self::AuthenticateClient(Ok(AuthenticateClientResponse {
                    header,
                    transaction_id,
                    profile_metadata: fields.der(&[0xBF, 0x25], "profileMetaData")?,
                    smdp_signed2: fields.der(&[0x30], "smdpSigned2")?,
                    smdp_signature2: fields.der(&[0x5F, 0x37], "smdpSignature2")?,
                    smdp_certificate: fields.der(&[0x30], "smdpCertificate")?,
                }))
            }
            Function::GetBoundProfilePackage => {
                Self::GetBoundProfilePackage(Ok(GetBoundProfilePackageResponse {
                    header,
                    transaction_id,
                    bound_profile_package: fields.der(&[0xBF, 0x36], "boundProfilePackage")?,
                }))
            }
            Function::CancelSession | Function::HandleNotification => {
                return Err(err(f, "no such Ok alternative"))
            }
        })
    }
}

macro_rules! request_from {
    ($($t:ident => $v:ident),*) => {$(
        impl From<$t> for Request {
            fn from(r: $t) -> Self {
                Self::$v(r)
            }
        }
    )*};
}
request_from!(
    InitiateAuthenticationRequest => InitiateAuthentication,
    AuthenticateClientRequest => AuthenticateClient,
    GetBoundProfilePackageRequest => GetBoundProfilePackage,
    CancelSessionRequest => CancelSession,
    HandleNotificationRequest => HandleNotification
);

/// A JSON binding response type that a binding response answers with, for a client that
/// speaks either binding through one typed call.
pub trait Answer: Sized {
    /// The response, or the error alternative's value and name; `None` when `r` answers
    /// another function.
    fn from_response(r: Response) -> Option<Result<Self, (i64, Option<&'static str>)>>;
}

macro_rules! answer {
    ($($t:ident => $v:ident),*) => {$(
        impl Answer for $t {
            fn from_response(r: Response) -> Option<Result<Self, (i64, Option<&'static str>)>> {
                match r {
                    Response::$v(Ok(v)) => Some(Ok(v)),
                    Response::$v(Err(e)) => Some(Err((e.0, e.name()))),
                    _ => None,
                }
            }
        }
    )*};
}
answer!(
    InitiateAuthenticationResponse => InitiateAuthentication,
    AuthenticateClientResponse => AuthenticateClient,
    GetBoundProfilePackageResponse => GetBoundProfilePackage
);

impl Answer for crate::es9::CancelSessionResponseBody {
    fn from_response(r: Response) -> Option<Result<Self, (i64, Option<&'static str>)>> {
        match r {
            Response::CancelSession(Ok(())) => Some(Ok(Self {
                header: ResponseHeader::success(),
            })),
            Response::CancelSession(Err(e)) => Some(Err((e.0, e.name()))),
            _ => None,
        }
    }
}
