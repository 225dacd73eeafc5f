//! Values that keep the exact bytes they were decoded from.
//!
//! SGP.22 signatures are computed over DER TLVs *as sent*. Re-encoding a decoded structure can
//! give different bytes (a DEFAULT value written explicitly, v3 extension fields we do not
//! model), so every signed part is held as [`Signed<T>`]: the decoded value plus the raw TLV.
//! [`Certificate`] keeps an X.509 certificate as opaque DER (parsed by `x509-cert` elsewhere),
//! and [`Extensions`] swallows unknown trailing fields of `EXTENSIBILITY IMPLIED` types.

use core::fmt;
use core::ops::Deref;

use rasn::types::{Any, Constraints, Tag};
use rasn::{AsnType, Decode, Decoder, Encode, Encoder};

/// Writes already-encoded TLV bytes unchanged (an untagged open type in BER/DER).
fn write_raw<'b, E: Encoder<'b>>(encoder: &mut E, tlv: &[u8]) -> Result<(), E::Error> {
    encoder.encode_any(
        Tag::EOC,
        &Any::new(tlv.to_vec()),
        rasn::types::Identifier::EMPTY,
    )?;
    Ok(())
}

/// A decoded value together with the exact TLV bytes it came from.
///
/// Decoding reads one complete TLV, keeps its bytes, then decodes `T` from them with DER.
/// Encoding writes the kept bytes unchanged, so what was signed is what goes on the wire.
/// Build a new one with [`Signed::new`], which encodes `T` exactly once.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed<T> {
    raw: Vec<u8>,
    value: T,
}

impl<T: Encode + Decode> Signed<T> {
    /// Encodes `value` with DER once; the result is both the wire form and the signed form.
    pub fn new(value: T) -> Result<Self, crate::Error> {
        let raw = crate::encode(&value)?;
        Ok(Self { raw, value })
    }

    /// Decodes one complete TLV of `T`, keeping `raw` as given (see [`crate::decode`]: the
    /// shape must be DER, the contents only need to decode).
    pub fn from_der(raw: &[u8]) -> Result<Self, crate::Error>
    where
        T: AsnType,
    {
        crate::decode::<Self>(raw)
    }
}

impl<T> Signed<T> {
    /// The TLV exactly as received (or as first encoded): the input of the signature.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The decoded value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// Splits into the raw TLV and the decoded value.
    pub fn into_parts(self) -> (Vec<u8>, T) {
        (self.raw, self.value)
    }
}

impl<T> Deref for Signed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: AsnType> AsnType for Signed<T> {
    const TAG: Tag = T::TAG;
}

impl<T: AsnType + Decode> Decode for Signed<T> {
    fn decode_with_tag_and_constraints<D: Decoder>(
        decoder: &mut D,
        tag: Tag,
        _: &Constraints,
    ) -> Result<Self, D::Error> {
        // Signed parts always carry their own tag; an implicit retag would make the
        // kept bytes differ from what `T` decodes, so refuse it outright.
        if tag != T::TAG {
            return Err(rasn::de::Error::custom(
                "signed value used with an implicit tag",
                decoder.codec(),
            ));
        }
        // With `Tag::EOC` the BER/DER decoder returns the whole TLV whatever its tag.
        let raw = decoder.decode_any(Tag::EOC)?.into_bytes();
        let value = rasn::der::decode::<T>(&raw)
            .map_err(|e| rasn::de::Error::custom(e, decoder.codec()))?;
        Ok(Self { raw, value })
    }
}

impl<T: AsnType> Encode for Signed<T> {
    fn encode_with_tag_and_constraints<'b, E: Encoder<'b>>(
        &self,
        encoder: &mut E,
        _tag: Tag,
        _: &Constraints,
        _: rasn::types::Identifier,
    ) -> Result<(), E::Error> {
        write_raw(encoder, &self.raw)
    }
}

/// An X.509 `Certificate` kept as its DER bytes (`30 …`).
///
/// rsp-asn1 only checks that it is one SEQUENCE TLV; `rsp-auth` parses it with `x509-cert`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Certificate(Vec<u8>);

impl Certificate {
    /// Wraps DER bytes after checking they form exactly one SEQUENCE TLV.
    pub fn from_der(der: &[u8]) -> Result<Self, crate::Error> {
        crate::decode::<Self>(der)
    }

    /// The certificate's DER encoding.
    pub fn as_der(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Certificate({} bytes)", self.0.len())
    }
}

impl AsnType for Certificate {
    const TAG: Tag = Tag::SEQUENCE;
}

impl Decode for Certificate {
    fn decode_with_tag_and_constraints<D: Decoder>(
        decoder: &mut D,
        tag: Tag,
        _: &Constraints,
    ) -> Result<Self, D::Error> {
        let raw = decoder.decode_any(Tag::EOC)?.into_bytes();
        // Check the outer tag and that the TLV is a constructed SEQUENCE with contents.
        let expected = if tag == Tag::SEQUENCE { 0x30 } else { 0 };
        if raw.first() != Some(&expected) || raw.len() < 2 {
            return Err(rasn::de::Error::custom(
                "certificate is not a DER SEQUENCE",
                decoder.codec(),
            ));
        }
        Ok(Self(raw))
    }
}

impl Encode for Certificate {
    fn encode_with_tag_and_constraints<'b, E: Encoder<'b>>(
        &self,
        encoder: &mut E,
        _tag: Tag,
        _: &Constraints,
        _: rasn::types::Identifier,
    ) -> Result<(), E::Error> {
        write_raw(encoder, &self.0)
    }
}

/// Unknown fields at the end of an extensible SEQUENCE, kept as raw TLVs.
///
/// RSPDefinitions is `EXTENSIBILITY IMPLIED`: v2.5/v3 peers append fields a v2.2 decoder does
/// not know. They are kept (not dropped) so that a decoded value re-encodes to the same bytes.
/// Use it as the last field, as `Option<Extensions>` with no tag.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Extensions(Vec<Vec<u8>>);

impl Extensions {
    /// The unknown TLVs in order of arrival.
    pub fn tlvs(&self) -> &[Vec<u8>] {
        &self.0
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(hex::encode_upper))
            .finish()
    }
}

impl AsnType for Extensions {
    // EOC is the "any tag" marker: the decoder's optional check lets every TLV through.
    const TAG: Tag = Tag::EOC;
}

impl Decode for Extensions {
    fn decode_with_tag_and_constraints<D: Decoder>(
        decoder: &mut D,
        _: Tag,
        _: &Constraints,
    ) -> Result<Self, D::Error> {
        let mut tlvs = Vec::new();
        while let Some(any) = decoder.decode_optional_with_tag::<Any>(Tag::EOC)? {
            tlvs.push(any.into_bytes());
        }
        Ok(Self(tlvs))
    }
}

impl Encode for Extensions {
    fn encode_with_tag_and_constraints<'b, E: Encoder<'b>>(
        &self,
        encoder: &mut E,
        _tag: Tag,
        _: &Constraints,
        _: rasn::types::Identifier,
    ) -> Result<(), E::Error> {
        self.0.iter().try_for_each(|tlv| write_raw(encoder, tlv))
    }
}
