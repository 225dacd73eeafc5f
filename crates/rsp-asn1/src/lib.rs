//! SGP.22 RSPDefinitions (v2.2, tolerant of v2.5/v3 extensions) as Rust types with a DER codec.
//!
//! Every type is hand-written for `rasn` with explicit tags, because the module's tagging rules
//! (AUTOMATIC TAGS switched off by any explicit tag in a SEQUENCE, tagged CHOICEs being
//! EXPLICIT, `SEQUENCE OF [7] OCTET STRING`) are where generated code goes wrong. Each type is
//! pinned by golden-byte tests against independent encoders (Python `asn1tools`, published
//! examples, the SGP.22 vector trace).
//!
//! * [`raw`]: [`Signed<T>`](raw::Signed) keeps the received bytes of signed parts;
//!   [`Extensions`](raw::Extensions) keeps unknown trailing fields.
//! * [`auth`], [`download`], [`notification`], [`es10`]: the ES9+/ES10b/ES10c structures.
//! * [`es9`]: the ES9+ JSON request and response bodies; [`binding`]: the ES9+ ASN.1 binding
//!   (SGP.22 v3 / SGP.32), read into and written from the same types.
//! * [`ids`]: EID (check digits), ICCID (BCD), transaction IDs, and the activation code.
//! * [`tlv`]: a borrowed BER-TLV reader for raw slices, and the strict DER shape check that
//!   [`decode`] applies before rasn.

pub mod auth;
pub mod binding;
pub mod bits;
pub mod download;
pub mod es10;
pub mod es2;
pub mod es9;
pub mod ids;
pub mod inspect;
pub mod notification;
pub mod raw;
pub mod tlv;

pub use rasn;
pub use rasn::types::{BitString, Integer, ObjectIdentifier, OctetString, Utf8String};

/// A codec error: what failed and where, never a panic.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The bytes are not a valid DER encoding of the expected type.
    #[error("DER decode of {ty}: {msg}")]
    Decode { ty: &'static str, msg: String },
    /// The value cannot be encoded (e.g. a size constraint is violated).
    #[error("DER encode of {ty}: {msg}")]
    Encode { ty: &'static str, msg: String },
    /// A field value is outside what SGP.22 allows (size, format, check digit).
    #[error("invalid {field}: {msg}")]
    Invalid { field: &'static str, msg: String },
}

impl Error {
    pub(crate) fn invalid(field: &'static str, msg: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            msg: msg.into(),
        }
    }
}

/// Largest DER input any decoder here accepts. A BPP of a 1 MB profile is ~1.05 MB; anything
/// beyond this is refused before parsing so hostile lengths cannot drive allocation.
pub const MAX_DER_LEN: usize = 8 * 1024 * 1024;

fn short_type_name<T>() -> &'static str {
    let full = core::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

/// Decodes exactly one DER value of `T`; trailing bytes are an error.
///
/// Strict: the input must be the DER encoding of the value it decodes to. rasn's DER mode
/// accepts some BER leniencies (non-minimal lengths, primitive explicit tags, DEFAULT values
/// written out, trailing zero bits in named BIT STRINGs), so the shape is checked first
/// ([`tlv::check_der`]) and the value is re-encoded and compared last. Parts kept raw
/// ([`raw::Signed`], [`raw::Extensions`], [`raw::Certificate`]) re-encode as received, so a
/// peer's quirks inside a signed part are tolerated: the signature covers them.
pub fn decode<T: rasn::Decode + rasn::Encode>(der: &[u8]) -> Result<T, Error> {
    let ty = short_type_name::<T>();
    if der.len() > MAX_DER_LEN {
        return Err(Error::Decode {
            ty,
            msg: format!("input of {} bytes exceeds {MAX_DER_LEN}", der.len()),
        });
    }
    tlv::check_der(der).map_err(|e| Error::Decode {
        ty,
        msg: e.to_string(),
    })?;
    let value = rasn::der::decode::<T>(der).map_err(|e| Error::Decode {
        ty,
        msg: e.to_string(),
    })?;
    let canonical = encode(&value)?;
    if canonical != der {
        let at = canonical
            .iter()
            .zip(der)
            .position(|(a, b)| a != b)
            .unwrap_or(canonical.len().min(der.len()));
        return Err(Error::Decode {
            ty,
            msg: format!("not DER: the value's DER encoding differs from the input at offset {at}"),
        });
    }
    Ok(value)
}

/// Encodes `value` with DER.
pub fn encode<T: rasn::Encode>(value: &T) -> Result<Vec<u8>, Error> {
    rasn::der::encode(value).map_err(|e| Error::Encode {
        ty: short_type_name::<T>(),
        msg: e.to_string(),
    })
}

/// Declares an `INTEGER { name(n), … }` type: a newtype over the integer so unknown values
/// (from newer peers) still decode, with the named values as associated constants.
macro_rules! named_integer {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:expr),* $(,)? }) => {
        $(#[$meta])*
        #[derive(rasn::AsnType, rasn::Encode, rasn::Decode, Clone, Copy, PartialEq, Eq, Hash)]
        #[rasn(delegate)]
        pub struct $name(pub i64);

        #[allow(non_upper_case_globals)]
        impl $name {
            $($(#[$vmeta])* pub const $variant: Self = Self($value);)*

            /// The ASN.1 name of this value, if it is a named one.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($variant)),)*
                    _ => None,
                }
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}({})", n, self.0),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }
    };
}
pub(crate) use named_integer;

/// Declares a fixed-size OCTET STRING newtype whose size is checked on decode and on creation.
macro_rules! sized_octets {
    ($(#[$meta:meta])* $name:ident, $min:expr, $max:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $crate::OctetString);

        impl $name {
            /// Wraps `bytes` after checking the SIZE constraint.
            pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, $crate::Error> {
                let bytes: Vec<u8> = bytes.into();
                if !($min..=$max).contains(&bytes.len()) {
                    return Err($crate::Error::invalid(
                        stringify!($name),
                        format!("{} bytes, expected {}..={}", bytes.len(), $min, $max),
                    ));
                }
                Ok(Self(bytes.into()))
            }

            /// The octets.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}({})", stringify!($name), hex::encode_upper(&self.0))
            }
        }

        impl rasn::AsnType for $name {
            const TAG: rasn::types::Tag = rasn::types::Tag::OCTET_STRING;
        }

        impl rasn::Decode for $name {
            fn decode_with_tag_and_constraints<D: rasn::Decoder>(
                decoder: &mut D,
                tag: rasn::types::Tag,
                constraints: &rasn::types::Constraints,
            ) -> Result<Self, D::Error> {
                let bytes = <$crate::OctetString as rasn::Decode>::decode_with_tag_and_constraints(
                    decoder, tag, constraints,
                )?;
                if !($min..=$max).contains(&bytes.len()) {
                    return Err(rasn::de::Error::custom(
                        format!(
                            "{}: {} bytes, expected {}..={}",
                            stringify!($name),
                            bytes.len(),
                            $min,
                            $max
                        ),
                        decoder.codec(),
                    ));
                }
                Ok(Self(bytes))
            }
        }

        impl rasn::Encode for $name {
            fn encode_with_tag_and_constraints<'b, E: rasn::Encoder<'b>>(
                &self,
                encoder: &mut E,
                tag: rasn::types::Tag,
                constraints: &rasn::types::Constraints,
                identifier: rasn::types::Identifier,
            ) -> Result<(), E::Error> {
                self.0
                    .encode_with_tag_and_constraints(encoder, tag, constraints, identifier)
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use sized_octets;

sized_octets!(
    /// `VersionType ::= OCTET STRING (SIZE(3))`: major, minor, revision (`02 02 00` = v2.2.0).
    VersionType,
    3,
    3
);
sized_octets!(
    /// `TransactionId ::= OCTET STRING (SIZE(1..16))`; ES9+ JSON carries it as upper-case hex.
    TransactionId,
    1,
    16
);
sized_octets!(
    /// `Octet16`: challenges, EID value.
    Octet16,
    16,
    16
);
sized_octets!(
    /// `Octet32`: hashCc.
    Octet32,
    32,
    32
);
sized_octets!(
    /// `SubjectKeyIdentifier` (RFC 5280): SGP.22 CI PKIDs are 20-byte SHA-1 key identifiers,
    /// but any non-empty size decodes.
    SubjectKeyIdentifier,
    1,
    64
);
sized_octets!(
    /// `OctetTo16 ::= OCTET STRING (SIZE(1..16))`: AIDs, host ID.
    OctetTo16,
    1,
    16
);
sized_octets!(
    /// `Octet1`.
    Octet1,
    1,
    1
);

impl VersionType {
    /// `major.minor.revision`.
    pub fn from_parts(major: u8, minor: u8, revision: u8) -> Self {
        Self(vec![major, minor, revision].into())
    }
}

impl core::fmt::Display for VersionType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let b = &self.0;
        write!(f, "{}.{}.{}", b[0], b[1], b[2])
    }
}

/// Upper-case hex, the ES9+ JSON form (logs, store keys).
impl core::fmt::Display for TransactionId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl core::str::FromStr for TransactionId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::from_hex(s)
    }
}

impl TransactionId {
    /// Upper-case hex, the ES9+ JSON form.
    pub fn to_hex(&self) -> String {
        hex::encode_upper(&self.0)
    }

    /// Parses the ES9+ JSON form; hex digits of either case are accepted.
    pub fn from_hex(s: &str) -> Result<Self, Error> {
        let bytes = hex::decode(s).map_err(|e| Error::invalid("transactionId", e.to_string()))?;
        Self::new(bytes)
    }
}
