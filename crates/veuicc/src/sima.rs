//! `EUICCResponse` (PEDefinitions v3.3.1, AUTOMATIC TAGS): the profile package interpreter's
//! answer, carried as simaResponse in the install result (digest §6).
//!
//! `EUICCResponse ::= SEQUENCE { peStatus [0] SEQUENCE OF PEStatus, profileInstallationAborted
//! [1] NULL OPTIONAL, statusMessage [2] UTF8String (SIZE(2..64)) OPTIONAL }`, `PEStatus ::=
//! SEQUENCE { status [0] INTEGER, identification [1] UInt15 OPTIONAL, additional-information
//! [2] UInt8 OPTIONAL, offset [3] UInt31 OPTIONAL }`. A successful install answers
//! `30 07 A0 05 30 03 80 01 00` (one `ok` status).

use rsp_asn1::tlv::{push_tlv, Tlv};

/// Why bytes are not an EUICCResponse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("EUICCResponse: {0}")]
pub struct DecodeError(pub String);

/// `PEStatus.status` values.
pub mod pe_status {
    pub const OK: u32 = 0;
    pub const PE_NOT_SUPPORTED: u32 = 1;
    pub const MEMORY_FAILURE: u32 = 2;
    pub const BAD_VALUES: u32 = 3;
    pub const NOT_ENOUGH_MEMORY: u32 = 4;
    pub const INVALID_REQUEST_FORMAT: u32 = 5;
    pub const INVALID_PARAMETER: u32 = 6;
    pub const RUNTIME_NOT_SUPPORTED: u32 = 7;
    pub const LIB_NOT_SUPPORTED: u32 = 8;
    pub const TEMPLATE_NOT_SUPPORTED: u32 = 9;
    pub const FEATURE_NOT_SUPPORTED: u32 = 10;
    pub const PIN_CODE_MISSING: u32 = 11;
    pub const UNSUPPORTED_PROFILE_VERSION: u32 = 31;
}

/// One `PEStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeStatus {
    pub status: u32,
    /// Identification number of the PE that caused it.
    pub identification: Option<u16>,
    pub additional_information: Option<u8>,
    /// Position within the PE.
    pub offset: Option<u32>,
}

impl PeStatus {
    /// A status with no further fields.
    pub fn new(status: u32) -> Self {
        Self {
            status,
            identification: None,
            additional_information: None,
            offset: None,
        }
    }
}

/// An `EUICCResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EuiccResponse {
    pub pe_status: Vec<PeStatus>,
    pub profile_installation_aborted: bool,
    /// 2..64 characters; longer text is cut when encoding.
    pub status_message: Option<String>,
}

/// Minimal two's-complement contents of a non-negative INTEGER.
fn uint(v: u64) -> Vec<u8> {
    let b = v.to_be_bytes();
    let skip = b.iter().take_while(|x| **x == 0).count().min(7);
    let mut out = b[skip..].to_vec();
    if out[0] & 0x80 != 0 {
        out.insert(0, 0);
    }
    out
}

fn read_uint(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 9 || value[0] & 0x80 != 0 {
        return None;
    }
    let v = value
        .strip_prefix(&[0])
        .filter(|r| !r.is_empty())
        .unwrap_or(value);
    (v.len() <= 8).then(|| v.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)))
}

impl EuiccResponse {
    /// The answer to a profile that installed: one `ok`.
    pub fn success() -> Self {
        Self {
            pe_status: vec![PeStatus::new(pe_status::OK)],
            profile_installation_aborted: false,
            status_message: None,
        }
    }

    /// An aborted installation with one status and a message.
    pub fn aborted(status: PeStatus, message: &str) -> Self {
        Self {
            pe_status: vec![status],
            profile_installation_aborted: true,
            status_message: Some(message.to_owned()),
        }
    }

    /// The answer to a package the interpreter refused: a malformed element is
    /// invalid-request-format at its byte offset, a broken SAIP rule bad-values naming the
    /// element's identification (when `package` parsed).
    pub fn from_saip_error(
        package: Option<&rsp_saip::ProfilePackage>,
        e: &rsp_saip::Error,
    ) -> Self {
        let status = match e {
            rsp_saip::Error::Malformed { offset, .. } => PeStatus {
                offset: u32::try_from(*offset).ok(),
                ..PeStatus::new(pe_status::INVALID_REQUEST_FORMAT)
            },
            rsp_saip::Error::Rule { index, .. } => PeStatus {
                identification: package
                    .and_then(|p| p.elements.get(*index))
                    .and_then(|pe| pe.identification())
                    .and_then(|id| u16::try_from(id).ok()),
                ..PeStatus::new(pe_status::BAD_VALUES)
            },
        };
        Self::aborted(status, &e.to_string())
    }

    /// DER encoding.
    pub fn to_der(&self) -> Vec<u8> {
        let mut list = Vec::new();
        for s in &self.pe_status {
            let mut fields = Vec::new();
            push_tlv(&mut fields, &[0x80], &uint(s.status.into()));
            if let Some(v) = s.identification {
                push_tlv(&mut fields, &[0x81], &uint(v.into()));
            }
            if let Some(v) = s.additional_information {
                push_tlv(&mut fields, &[0x82], &uint(v.into()));
            }
            if let Some(v) = s.offset {
                push_tlv(&mut fields, &[0x83], &uint(v.into()));
            }
            push_tlv(&mut list, &[0x30], &fields);
        }
        let mut body = Vec::new();
        push_tlv(&mut body, &[0xA0], &list);
        if self.profile_installation_aborted {
            push_tlv(&mut body, &[0x81], &[]);
        }
        if let Some(m) = &self.status_message {
            let cut: String = m.chars().take(64).collect();
            // SIZE(2..64): pad a one-character message rather than drop it.
            let m = if cut.chars().count() < 2 {
                format!("{cut:<2}")
            } else {
                cut
            };
            push_tlv(&mut body, &[0x82], m.as_bytes());
        }
        let mut out = Vec::new();
        push_tlv(&mut out, &[0x30], &body);
        out
    }

    /// Decodes an EUICCResponse; unknown fields (extensibility) are skipped.
    pub fn from_der(der: &[u8]) -> Result<Self, DecodeError> {
        let bad = |what: &str| DecodeError(what.to_owned());
        let tlv = |e: rsp_asn1::tlv::TlvError| DecodeError(e.to_string());
        let outer = Tlv::read_exact(der).map_err(tlv)?;
        if outer.tag != [0x30] {
            return Err(bad("not a SEQUENCE"));
        }
        let mut out = Self {
            pe_status: Vec::new(),
            profile_installation_aborted: false,
            status_message: None,
        };
        for field in outer.children() {
            let field = field.map_err(tlv)?;
            match field.tag {
                [0xA0] => {
                    for st in field.children() {
                        let st = st.map_err(tlv)?;
                        let mut s = PeStatus::new(u32::MAX);
                        let mut has_status = false;
                        for f in st.children() {
                            let f = f.map_err(tlv)?;
                            let v = read_uint(f.value);
                            match f.tag {
                                [0x80] => {
                                    s.status =
                                        v.and_then(|v| u32::try_from(v).ok()).ok_or_else(|| {
                                            bad("PEStatus.status is not a small INTEGER")
                                        })?;
                                    has_status = true;
                                }
                                [0x81] => s.identification = v.and_then(|v| v.try_into().ok()),
                                [0x82] => {
                                    s.additional_information = v.and_then(|v| v.try_into().ok())
                                }
                                [0x83] => s.offset = v.and_then(|v| v.try_into().ok()),
                                _ => {}
                            }
                        }
                        if !has_status {
                            return Err(bad("PEStatus without status"));
                        }
                        out.pe_status.push(s);
                    }
                }
                [0x81] => out.profile_installation_aborted = true,
                [0x82] => {
                    out.status_message = Some(String::from_utf8_lossy(field.value).into_owned())
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_is_the_common_encoding() {
        assert_eq!(
            hex::encode_upper(EuiccResponse::success().to_der()),
            "3007A00530038001 00".replace(' ', "")
        );
    }

    #[test]
    fn round_trip() {
        let r = EuiccResponse {
            pe_status: vec![
                PeStatus {
                    status: pe_status::BAD_VALUES,
                    identification: Some(300),
                    additional_information: Some(0xFF),
                    offset: Some(70_000),
                },
                PeStatus::new(pe_status::UNSUPPORTED_PROFILE_VERSION),
            ],
            profile_installation_aborted: true,
            status_message: Some("x".repeat(80)),
        };
        let back = EuiccResponse::from_der(&r.to_der()).unwrap();
        assert_eq!(back.pe_status, r.pe_status);
        assert!(back.profile_installation_aborted);
        assert_eq!(back.status_message.unwrap().len(), 64);
        assert!(EuiccResponse::from_der(&[0x30, 0x03, 0xA0, 0x01]).is_err());
        assert!(EuiccResponse::from_der(&[0x31, 0x00]).is_err());
        assert_eq!(uint(0), [0]);
        assert_eq!(uint(0x80), [0, 0x80]);
        assert_eq!(read_uint(&[0, 0x80]), Some(0x80));
        assert_eq!(read_uint(&[0x80]), None);
    }
}
