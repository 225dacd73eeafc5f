//! Identifiers with their own encodings: ICCID (nibble-swapped BCD, Luhn), EID (32 digits,
//! ISO 7064 mod 97-10 check digits), and the SGP.22 4.1 activation code.

use core::fmt;
use core::str::FromStr;

use rasn::types::{Class, Constraints, Identifier, Tag};
use rasn::{AsnType, Decode, Decoder, Encode, Encoder};

use crate::{Error, OctetString};

/// `Iccid ::= [APPLICATION 26] OCTET STRING (SIZE(10))` (`5A`), coded as in EF.ICCID:
/// BCD with the nibbles of each byte swapped, a 19-digit ICCID padded with `F`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Iccid([u8; 10]);

impl Iccid {
    /// From the EF.ICCID / `5A` value bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Error> {
        let arr: [u8; 10] = b
            .try_into()
            .map_err(|_| Error::invalid("iccid", format!("{} bytes, expected 10", b.len())))?;
        Ok(Self(arr))
    }

    /// From 19 or 20 decimal digits, taken as they are (the check digit is not recomputed).
    pub fn from_digits(digits: &str) -> Result<Self, Error> {
        if !(19..=20).contains(&digits.len()) || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return Err(Error::invalid(
                "iccid",
                format!("{digits:?} is not 19 or 20 decimal digits"),
            ));
        }
        let mut nibbles: Vec<u8> = digits.bytes().map(|c| c - b'0').collect();
        nibbles.resize(20, 0xF);
        let mut out = [0u8; 10];
        for (i, pair) in nibbles.chunks(2).enumerate() {
            out[i] = (pair[1] << 4) | pair[0];
        }
        Ok(Self(out))
    }

    /// From the 18 or 19 digits before the check digit, appending the Luhn check digit.
    pub fn with_luhn(payload: &str) -> Result<Self, Error> {
        if !(18..=19).contains(&payload.len()) || !payload.bytes().all(|c| c.is_ascii_digit()) {
            return Err(Error::invalid(
                "iccid",
                format!("{payload:?} is not 18 or 19 decimal digits"),
            ));
        }
        Self::from_digits(&format!("{payload}{}", luhn_check_digit(payload)))
    }

    /// The decimal digits, without `F` padding. Fails if a nibble is not a digit.
    pub fn digits(&self) -> Result<String, Error> {
        let mut s = String::with_capacity(20);
        for (i, b) in self.0.iter().enumerate() {
            for n in [b & 0x0F, b >> 4] {
                match n {
                    0..=9 => s.push(char::from(b'0' + n)),
                    0xF if i == 9 => {}
                    _ => {
                        return Err(Error::invalid(
                            "iccid",
                            format!("{} is not BCD", hex::encode_upper(self.0)),
                        ))
                    }
                }
            }
        }
        Ok(s)
    }

    /// Whether the last digit is the Luhn check digit of the others.
    pub fn luhn_ok(&self) -> bool {
        self.digits().is_ok_and(|d| {
            let (payload, check) = d.split_at(d.len() - 1);
            luhn_check_digit(payload).to_string() == check
        })
    }

    /// The 10 coded bytes.
    pub fn as_bytes(&self) -> &[u8; 10] {
        &self.0
    }
}

/// Luhn check digit of a decimal string (ITU-T E.118 ICCIDs).
pub fn luhn_check_digit(payload: &str) -> u8 {
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = u32::from(c - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl fmt::Debug for Iccid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.digits() {
            Ok(d) => write!(f, "Iccid({d})"),
            Err(_) => write!(f, "Iccid(raw {})", hex::encode_upper(self.0)),
        }
    }
}

impl fmt::Display for Iccid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.digits() {
            Ok(d) => f.write_str(&d),
            Err(_) => f.write_str(&hex::encode_upper(self.0)),
        }
    }
}

impl AsnType for Iccid {
    const TAG: Tag = Tag::new(Class::Application, 26);
}

impl Decode for Iccid {
    fn decode_with_tag_and_constraints<D: Decoder>(
        decoder: &mut D,
        tag: Tag,
        constraints: &Constraints,
    ) -> Result<Self, D::Error> {
        let b = OctetString::decode_with_tag_and_constraints(decoder, tag, constraints)?;
        let arr: [u8; 10] = b.as_ref().try_into().map_err(|_| {
            rasn::de::Error::custom(
                format!("iccid: {} bytes, expected 10", b.len()),
                decoder.codec(),
            )
        })?;
        Ok(Self(arr))
    }
}

impl Encode for Iccid {
    fn encode_with_tag_and_constraints<'b, E: Encoder<'b>>(
        &self,
        encoder: &mut E,
        tag: Tag,
        constraints: &Constraints,
        identifier: Identifier,
    ) -> Result<(), E::Error> {
        encoder.encode_octet_string(tag, constraints, &self.0, identifier)?;
        Ok(())
    }
}

/// An eUICC identifier: 32 decimal digits, 16 bytes on the wire (hex of the digits, no swap),
/// the last two digits an ISO 7064 mod 97-10 check (the number mod 97 is 1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Eid([u8; 16]);

impl Eid {
    /// Parses 32 digits and checks the check digits.
    pub fn parse(digits: &str) -> Result<Self, Error> {
        let eid = Self::parse_unchecked(digits)?;
        if !eid.check_digits_ok() {
            return Err(Error::invalid(
                "eid",
                format!("{digits} has wrong check digits"),
            ));
        }
        Ok(eid)
    }

    /// Parses 32 digits without checking the check digits (e.g. to report a bad one).
    pub fn parse_unchecked(digits: &str) -> Result<Self, Error> {
        if digits.len() != 32 || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return Err(Error::invalid(
                "eid",
                format!("{digits:?} is not 32 decimal digits"),
            ));
        }
        let mut out = [0u8; 16];
        hex::decode_to_slice(digits, &mut out).map_err(|e| Error::invalid("eid", e.to_string()))?;
        Ok(Self(out))
    }

    /// From the 16 wire bytes; every nibble must be a decimal digit.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Error> {
        let arr: [u8; 16] = b
            .try_into()
            .map_err(|_| Error::invalid("eid", format!("{} bytes, expected 16", b.len())))?;
        Self::parse_unchecked(&hex::encode(arr))
    }

    /// Completes 30 digits (or 32 whose last two are ignored) with the check digits.
    pub fn with_check_digits(prefix: &str) -> Result<Self, Error> {
        let body = match prefix.len() {
            30 => prefix,
            32 => &prefix[..30],
            n => {
                return Err(Error::invalid(
                    "eid",
                    format!("{n} digits, expected 30 or 32"),
                ))
            }
        };
        if !body.bytes().all(|c| c.is_ascii_digit()) {
            return Err(Error::invalid("eid", format!("{body:?} is not decimal")));
        }
        let check = 98 - mod97(&format!("{body}00"));
        Self::parse_unchecked(&format!("{body}{check:02}"))
    }

    /// Whether the 32-digit number mod 97 equals 1.
    pub fn check_digits_ok(&self) -> bool {
        mod97(&self.digits()) == 1
    }

    /// The 32 digits.
    pub fn digits(&self) -> String {
        hex::encode(self.0)
    }

    /// The 16 wire bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

fn mod97(digits: &str) -> u32 {
    digits
        .bytes()
        .fold(0u32, |acc, c| (acc * 10 + u32::from(c - b'0')) % 97)
}

impl fmt::Debug for Eid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Eid({})", self.digits())
    }
}

impl fmt::Display for Eid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.digits())
    }
}

impl FromStr for Eid {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

/// SGP.22 4.1 activation code: `1$<SM-DP+ address>$<AC token>[$<SM-DP+ OID>[$<CC flag>]]`,
/// shown in a QR code with the prefix `LPA:`.
///
/// Fields past the CC flag (v3 additions) are kept so a code prints back as it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationCode {
    /// FQDN of the SM-DP+ (a `:port` suffix is allowed for test setups).
    pub smdp_address: String,
    /// Sent verbatim as `ctxParams1.matchingId`; may be empty.
    pub matching_id: String,
    /// SM-DP+ OID; `Some("")` when the field is present but empty.
    pub smdp_oid: Option<String>,
    /// Confirmation code required flag: `Some(true)` for `1`, `Some(false)` for `0`.
    pub confirmation_code_required: Option<bool>,
    /// Further `$`-separated fields, verbatim.
    pub extra: Vec<String>,
}

impl ActivationCode {
    /// The common form `1$address$matching id`.
    pub fn new(smdp_address: impl Into<String>, matching_id: impl Into<String>) -> Self {
        Self {
            smdp_address: smdp_address.into(),
            matching_id: matching_id.into(),
            smdp_oid: None,
            confirmation_code_required: None,
            extra: Vec::new(),
        }
    }

    /// Parses the text of a QR code, with or without the `LPA:` prefix.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let body = s.strip_prefix("LPA:").unwrap_or(s);
        let mut fields = body.split('$');
        let format = fields.next().unwrap_or_default();
        if format != "1" {
            return Err(Error::invalid(
                "activation code",
                format!("format {format:?}, only \"1\" is defined"),
            ));
        }
        let smdp_address = fields
            .next()
            .ok_or_else(|| Error::invalid("activation code", "missing SM-DP+ address"))?;
        check_address(smdp_address)?;
        let matching_id = fields
            .next()
            .ok_or_else(|| Error::invalid("activation code", "missing AC token field"))?;
        check_field("AC token", matching_id)?;
        let smdp_oid = fields.next().map(str::to_owned);
        if let Some(oid) = smdp_oid.as_deref().filter(|o| !o.is_empty()) {
            if oid.parse::<OidArcs>().is_err() {
                return Err(Error::invalid(
                    "activation code",
                    format!("SM-DP+ OID {oid:?} is not dotted decimal"),
                ));
            }
        }
        let confirmation_code_required = match fields.next() {
            None => None,
            Some("1") => Some(true),
            Some("0") => Some(false),
            Some(other) => {
                return Err(Error::invalid(
                    "activation code",
                    format!("confirmation code flag {other:?}, expected 0 or 1"),
                ))
            }
        };
        let extra: Vec<String> = fields.map(str::to_owned).collect();
        for f in &extra {
            check_field("field", f)?;
        }
        Ok(Self {
            smdp_address: smdp_address.to_owned(),
            matching_id: matching_id.to_owned(),
            smdp_oid,
            confirmation_code_required,
            extra,
        })
    }

    /// The QR code text: `LPA:` followed by the code.
    pub fn to_qr_text(&self) -> String {
        format!("LPA:{self}")
    }
}

impl fmt::Display for ActivationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1${}${}", self.smdp_address, self.matching_id)?;
        let cc = self
            .confirmation_code_required
            .map(|b| if b { "1" } else { "0" });
        if self.smdp_oid.is_some() || cc.is_some() || !self.extra.is_empty() {
            write!(f, "${}", self.smdp_oid.as_deref().unwrap_or(""))?;
        }
        if cc.is_some() || !self.extra.is_empty() {
            write!(f, "${}", cc.unwrap_or(""))?;
        }
        for e in &self.extra {
            write!(f, "${e}")?;
        }
        Ok(())
    }
}

impl FromStr for ActivationCode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

fn check_field(what: &str, s: &str) -> Result<(), Error> {
    if let Some(c) = s.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(Error::invalid(
            "activation code",
            format!("{what} {s:?} contains {c:?}"),
        ));
    }
    Ok(())
}

fn check_address(s: &str) -> Result<(), Error> {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(Error::invalid(
            "activation code",
            format!("SM-DP+ address {s:?} is not an FQDN"),
        ));
    }
    if let Some(p) = port {
        if p.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(Error::invalid(
                "activation code",
                format!("SM-DP+ address {s:?} has an invalid port"),
            ));
        }
    }
    Ok(())
}

/// Dotted-decimal OID text, validated by parsing its arcs.
struct OidArcs;

impl FromStr for OidArcs {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let arcs: Vec<u64> = s
            .split('.')
            .map(|a| a.parse::<u64>().map_err(|_| ()))
            .collect::<Result<_, _>>()?;
        if arcs.len() < 2 || arcs[0] > 2 {
            return Err(());
        }
        Ok(Self)
    }
}
