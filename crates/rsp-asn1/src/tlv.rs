//! A BER-TLV reader over borrowed bytes that hands out raw slices, and a strict DER shape check.
//!
//! rasn decodes the typed values; this module is for what rasn does not do: slicing the exact
//! bytes of a TLV (signature inputs, BPP segments as STORE DATA blocks) and refusing encodings
//! DER forbids but a lenient decoder would accept (non-minimal lengths and tag numbers,
//! indefinite lengths), so that a value has exactly one accepted encoding.

use core::fmt;

/// Maximum nesting of constructed TLVs accepted by [`check_der`]; RSPDefinitions values nest
/// fewer than 12 deep, certificates about 10.
pub const MAX_DEPTH: usize = 32;

/// Why bytes are not a well-formed TLV.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    #[error("truncated: {0} missing at offset {1}")]
    Truncated(&'static str, usize),
    #[error("indefinite length at offset {0} (not DER)")]
    IndefiniteLength(usize),
    #[error("length at offset {0} not in minimal form (not DER)")]
    NonMinimalLength(usize),
    #[error("length at offset {0} does not fit in memory")]
    LengthTooLarge(usize),
    #[error("tag number at offset {0} not in minimal form (not DER)")]
    NonMinimalTag(usize),
    #[error("tag number at offset {0} too large")]
    TagTooLarge(usize),
    #[error("nesting deeper than {MAX_DEPTH} at offset {0}")]
    TooDeep(usize),
    #[error("{0} bytes after the value")]
    TrailingData(usize),
}

/// Tag class bits of the first identifier octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Universal,
    Application,
    Context,
    Private,
}

/// One TLV as it appears in the input.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The identifier octets (`BF 38`, `5F 37`, `30`), for matching against constants.
    pub tag: &'a [u8],
    pub class: Class,
    pub constructed: bool,
    pub number: u32,
    /// Tag, length and value: the bytes a signature covers.
    pub raw: &'a [u8],
    /// The contents octets.
    pub value: &'a [u8],
}

impl fmt::Debug for Tlv<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tlv({} len {})",
            hex::encode_upper(self.tag),
            self.value.len()
        )
    }
}

impl<'a> Tlv<'a> {
    /// Reads one definite-length TLV from the front of `input` (`base` is `input`'s offset in
    /// the whole message, for error positions). Lengths must be minimal (DER).
    pub fn read(input: &'a [u8], base: usize) -> Result<(Self, &'a [u8]), TlvError> {
        let first = *input.first().ok_or(TlvError::Truncated("tag", base))?;
        let class = match first >> 6 {
            0 => Class::Universal,
            1 => Class::Application,
            2 => Class::Context,
            _ => Class::Private,
        };
        let constructed = first & 0x20 != 0;
        let mut i = 1;
        let number = if first & 0x1F != 0x1F {
            u32::from(first & 0x1F)
        } else {
            let mut n: u32 = 0;
            loop {
                let b = *input.get(i).ok_or(TlvError::Truncated("tag", base + i))?;
                if n == 0 && b == 0x80 {
                    return Err(TlvError::NonMinimalTag(base + i));
                }
                if n > (u32::MAX >> 7) {
                    return Err(TlvError::TagTooLarge(base + i));
                }
                n = (n << 7) | u32::from(b & 0x7F);
                i += 1;
                if b & 0x80 == 0 {
                    break;
                }
            }
            if n < 0x1F {
                return Err(TlvError::NonMinimalTag(base + 1));
            }
            n
        };
        let tag_len = i;
        let l0 = *input
            .get(i)
            .ok_or(TlvError::Truncated("length", base + i))?;
        i += 1;
        let len = match l0 {
            0..=0x7F => usize::from(l0),
            0x80 => return Err(TlvError::IndefiniteLength(base + tag_len)),
            0xFF => return Err(TlvError::LengthTooLarge(base + tag_len)),
            _ => {
                let n = usize::from(l0 & 0x7F);
                if n > core::mem::size_of::<usize>() {
                    return Err(TlvError::LengthTooLarge(base + tag_len));
                }
                let bytes = input
                    .get(i..i + n)
                    .ok_or(TlvError::Truncated("length", base + i))?;
                if bytes[0] == 0 {
                    return Err(TlvError::NonMinimalLength(base + tag_len));
                }
                let len = bytes.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b));
                if len < 0x80 {
                    return Err(TlvError::NonMinimalLength(base + tag_len));
                }
                i += n;
                len
            }
        };
        let end = i
            .checked_add(len)
            .ok_or(TlvError::LengthTooLarge(base + tag_len))?;
        if end > input.len() {
            return Err(TlvError::Truncated("value", base + input.len()));
        }
        let tlv = Tlv {
            tag: &input[..tag_len],
            class,
            constructed,
            number,
            raw: &input[..end],
            value: &input[i..end],
        };
        Ok((tlv, &input[end..]))
    }

    /// Reads exactly one TLV: trailing bytes are an error.
    pub fn read_exact(input: &'a [u8]) -> Result<Self, TlvError> {
        let (tlv, rest) = Self::read(input, 0)?;
        if !rest.is_empty() {
            return Err(TlvError::TrailingData(rest.len()));
        }
        Ok(tlv)
    }

    /// The TLVs inside a constructed value, in order.
    pub fn children(&self) -> Children<'a> {
        Children {
            rest: self.value,
            offset: 0,
        }
    }
}

/// Iterator over consecutive TLVs; stops at the first malformed one, yielding its error.
pub struct Children<'a> {
    rest: &'a [u8],
    offset: usize,
}

impl<'a> Children<'a> {
    /// Iterates the TLVs concatenated in `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            offset: 0,
        }
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Tlv<'a>, TlvError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match Tlv::read(self.rest, self.offset) {
            Ok((tlv, rest)) => {
                self.offset += tlv.raw.len();
                self.rest = rest;
                Some(Ok(tlv))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Checks that `input` is exactly one TLV whose constructed parts are, recursively, well-formed
/// DER TLVs: definite minimal lengths, minimal tag numbers, depth ≤ [`MAX_DEPTH`].
pub fn check_der(input: &[u8]) -> Result<(), TlvError> {
    let (tlv, rest) = Tlv::read(input, 0)?;
    if !rest.is_empty() {
        return Err(TlvError::TrailingData(rest.len()));
    }
    check_children(&tlv, 0, 1)
}

fn check_children(tlv: &Tlv<'_>, offset: usize, depth: usize) -> Result<(), TlvError> {
    if !tlv.constructed {
        return Ok(());
    }
    if depth > MAX_DEPTH {
        return Err(TlvError::TooDeep(offset));
    }
    let value_offset = offset + (tlv.raw.len() - tlv.value.len());
    let mut rest = tlv.value;
    let mut pos = value_offset;
    while !rest.is_empty() {
        let (child, r) = Tlv::read(rest, pos)?;
        check_children(&child, pos, depth + 1)?;
        pos += child.raw.len();
        rest = r;
    }
    Ok(())
}

/// Appends a DER length (`xx`, `81 xx`, `82 xx xx`, …).
pub fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.push(0x80 | (bytes.len() - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// Appends `tag ‖ length ‖ value`.
pub fn push_tlv(out: &mut Vec<u8>, tag: &[u8], value: &[u8]) {
    out.extend_from_slice(tag);
    push_length(out, value.len());
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_two_byte_tags_and_long_lengths() {
        let mut v = Vec::new();
        push_tlv(&mut v, &[0xBF, 0x36], &[0xAA; 300]);
        let t = Tlv::read_exact(&v).unwrap();
        assert_eq!(t.tag, [0xBF, 0x36]);
        assert_eq!(
            (t.class, t.constructed, t.number),
            (Class::Context, true, 54)
        );
        assert_eq!(&v[..4], [0xBF, 0x36, 0x82, 0x01]);
        assert_eq!(t.value.len(), 300);
    }

    #[test]
    fn lengths_are_minimal() {
        for (len, enc) in [
            (0usize, &[0x00][..]),
            (0x7F, &[0x7F]),
            (0x80, &[0x81, 0x80]),
            (0xFF, &[0x81, 0xFF]),
            (0x100, &[0x82, 0x01, 0x00]),
            (0x1_0000, &[0x83, 0x01, 0x00, 0x00]),
        ] {
            let mut out = Vec::new();
            push_length(&mut out, len);
            assert_eq!(out, enc, "{len}");
        }
    }

    #[test]
    fn rejects_what_der_forbids() {
        let cases: &[(&[u8], TlvError)] = &[
            (&[0x30, 0x80, 0x00, 0x00], TlvError::IndefiniteLength(1)),
            (&[0x04, 0x81, 0x01, 0x00], TlvError::NonMinimalLength(1)),
            (
                &[0x04, 0x82, 0x00, 0x01, 0x00],
                TlvError::NonMinimalLength(1),
            ),
            (&[0xBF, 0x80, 0x01, 0x00], TlvError::NonMinimalTag(1)),
            (&[0x9F, 0x05, 0x00], TlvError::NonMinimalTag(1)),
            (&[0x04, 0x02, 0x00], TlvError::Truncated("value", 3)),
            (&[0x04], TlvError::Truncated("length", 1)),
            (&[0x04, 0x00, 0x00], TlvError::TrailingData(1)),
            (&[0x30, 0x02, 0x04, 0x81], TlvError::Truncated("length", 4)),
            (
                &[0x04, 0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0],
                TlvError::LengthTooLarge(1),
            ),
        ];
        for (bytes, err) in cases {
            assert_eq!(check_der(bytes), Err(err.clone()), "{}", hex::encode(bytes));
        }
    }

    #[test]
    fn depth_is_bounded() {
        let mut der = vec![0x05, 0x00];
        for _ in 0..MAX_DEPTH {
            let mut o = vec![0x30];
            push_length(&mut o, der.len());
            o.extend(der);
            der = o;
        }
        assert!(check_der(&der).is_ok());
        let mut o = vec![0x30];
        push_length(&mut o, der.len());
        o.extend(der);
        assert!(matches!(check_der(&o), Err(TlvError::TooDeep(_))));
    }

    #[test]
    fn children_walk_in_order() {
        let v = [0x30, 0x06, 0x80, 0x01, 0x01, 0x81, 0x01, 0x02];
        let t = Tlv::read_exact(&v).unwrap();
        let kids: Vec<_> = t.children().map(|c| c.unwrap().raw).collect();
        assert_eq!(kids, [&v[2..5], &v[5..8]]);
    }
}
