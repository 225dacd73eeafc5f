//! Personalising a template: ICCID (header and EF.ICCID), IMSI (EF.IMSI), Ki/OPc (every
//! akaParameter), service provider name (EF.SPN).
//!
//! A value of the template's length is written in place, so every other byte of the package
//! stays as it was. A value of another length (a file content the template leaves to a fill
//! pattern, say) rewrites the lengths of the enclosing TLVs, nothing else.

use core::ops::Range;

use rsp_asn1::ids::Iccid;
use rsp_asn1::tlv::{push_tlv, Children, Tlv};

use crate::package::ProfilePackage;
use crate::pe::PeKind;
use crate::Error;

/// The values one reserved profile gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Personalisation {
    /// 19 or 20 digits (the last a Luhn check digit, see [`Iccid::with_luhn`]).
    pub iccid: Option<String>,
    /// 15 digits (MCC, MNC, MSIN).
    pub imsi: Option<String>,
    pub ki: Option<[u8; 16]>,
    pub opc: Option<[u8; 16]>,
    /// Service provider name for EF.SPN (GSM default alphabet, or UCS2 when needed).
    pub spn: Option<String>,
}

/// The personalised values a package holds, as read back from its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileValues {
    pub header_iccid: Option<String>,
    pub ef_iccid: Option<String>,
    pub imsi: Option<String>,
    pub spn: Option<String>,
    /// (Ki, OPc) of each akaParameter with an algoParameter.
    pub aka: Vec<([u8; 16], [u8; 16])>,
}

/// The range of the value of the TLV reached by following `path` (tag bytes) from `raw`.
fn value_range(raw: &[u8], path: &[&[u8]]) -> Option<Range<usize>> {
    let mut tlv = Tlv::read_exact(raw).ok()?;
    for tag in path {
        tlv = tlv
            .children()
            .filter_map(Result::ok)
            .find(|t| t.tag == *tag)?;
    }
    let start = tlv.value.as_ptr() as usize - raw.as_ptr() as usize;
    Some(start..start + tlv.value.len())
}

/// Rebuilds `tlv` with the value of the TLV at `path` replaced by `edit(old value)`; every
/// enclosing length is recomputed, every other byte copied. `None` if the path is missing.
fn rebuild(
    tlv: &Tlv<'_>,
    path: &[&[u8]],
    edit: &mut dyn FnMut(&[u8]) -> Vec<u8>,
) -> Option<Vec<u8>> {
    let value = match path.split_first() {
        None => edit(tlv.value),
        Some((tag, rest)) => {
            let mut value = Vec::with_capacity(tlv.value.len() + 16);
            let mut found = false;
            for child in tlv.children() {
                let child = child.ok()?;
                if !found && child.tag == *tag {
                    value.extend(rebuild(&child, rest, edit)?);
                    found = true;
                } else {
                    value.extend_from_slice(child.raw);
                }
            }
            if !found {
                return None;
            }
            value
        }
    };
    let mut out = Vec::with_capacity(value.len() + 6);
    push_tlv(&mut out, tlv.tag, &value);
    Some(out)
}

/// A `File` value (`SEQUENCE OF CHOICE { doNotCreate, fileDescriptor A1, fillFileOffset 82,
/// fillFileContent 83 }`) with its fill commands replaced by one `fillFileContent` at offset 0.
fn with_content(file: &[u8], content: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Children::new(file)
        .filter_map(Result::ok)
        .filter(|t| t.tag != [0x82] && t.tag != [0x83])
        .flat_map(|t| t.raw.iter().copied())
        .collect();
    push_tlv(&mut out, &[0x83], content);
    out
}

/// Contents a `File` value gives its EF from offset 0: the first `fillFileContent` before any
/// offset, else the FCP's fill pattern (last byte repeated, TS 102 222) up to `len` bytes.
fn file_content(file: &[u8], len: usize) -> Option<Vec<u8>> {
    let children: Vec<Tlv<'_>> = Children::new(file).filter_map(Result::ok).collect();
    if let Some(c) = children
        .iter()
        .take_while(|t| t.tag != [0x82])
        .find(|t| t.tag == [0x83])
    {
        return Some(c.value.to_vec());
    }
    let fcp = children.iter().find(|t| t.tag == [0xA1])?;
    let prop = fcp
        .children()
        .filter_map(Result::ok)
        .find(|t| t.tag == [0xA5])?;
    let pattern = prop
        .children()
        .filter_map(Result::ok)
        .find(|t| t.tag == [0xC1])?;
    let last = *pattern.value.last()?;
    let mut v = pattern.value.to_vec();
    v.resize(len.max(v.len()), last);
    v.truncate(len);
    Some(v)
}

/// EF.IMSI content: length, then digits BCD with swapped nibbles; the first byte carries the
/// first digit and the parity/type nibble (`9` for an odd digit count, `1` for even).
pub fn encode_ef_imsi(imsi: &str) -> Result<Vec<u8>, String> {
    if !(6..=15).contains(&imsi.len()) || !imsi.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("IMSI {imsi:?} is not 6..15 digits"));
    }
    let d: Vec<u8> = imsi.bytes().map(|c| c - b'0').collect();
    let odd = d.len() % 2 == 1;
    let mut nibbles = vec![if odd { 0x9 } else { 0x1 }];
    nibbles.extend(&d);
    if nibbles.len() % 2 == 1 {
        nibbles.push(0xF);
    }
    let mut out = vec![(nibbles.len() / 2) as u8];
    out.extend(nibbles.chunks(2).map(|p| (p[1] << 4) | p[0]));
    Ok(out)
}

/// Reads EF.IMSI content back to digits.
pub fn decode_ef_imsi(b: &[u8]) -> Option<String> {
    let (&len, rest) = b.split_first()?;
    let rest = rest.get(..len as usize)?;
    let mut nibbles: Vec<u8> = rest.iter().flat_map(|x| [x & 0x0F, x >> 4]).collect();
    let odd = nibbles.first()? & 0x8 != 0;
    nibbles.remove(0);
    if !odd {
        nibbles.pop();
    }
    nibbles
        .iter()
        .map(|n| (*n <= 9).then(|| char::from(b'0' + n)))
        .collect()
}

/// GSM 03.38 default alphabet (TS 23.038 §6.2.1), code point → character; `0x1B` (escape to
/// the extension table) is not a character.
const GSM_DEFAULT: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// EF.SPN display condition written by [`encode_ef_spn`]: b1 = 1, as in the TS.48 profiles.
pub const SPN_DISPLAY_CONDITION: u8 = 0x01;

/// EF.SPN content (TS 31.102 §4.2.12): display condition, then 16 bytes of name — the SMS
/// default alphabet with b8 = 0, or UCS2 (`80` + UTF-16BE, TS 31.102 Annex A) for characters
/// outside it — padded with `FF`.
pub fn encode_ef_spn(name: &str) -> Result<[u8; 17], String> {
    let gsm: Option<Vec<u8>> = name
        .chars()
        .map(|c| {
            (c != '\u{1B}')
                .then(|| GSM_DEFAULT.iter().position(|g| *g == c))
                .flatten()
                .map(|p| p as u8)
        })
        .collect();
    let bytes = match gsm {
        Some(b) => b,
        None => {
            let mut b = vec![0x80];
            b.extend(name.encode_utf16().flat_map(u16::to_be_bytes));
            b
        }
    };
    if bytes.len() > 16 {
        return Err(format!(
            "service provider name {name:?} needs {} bytes, EF.SPN holds 16",
            bytes.len()
        ));
    }
    let mut out = [0xFF; 17];
    out[0] = SPN_DISPLAY_CONDITION;
    out[1..1 + bytes.len()].copy_from_slice(&bytes);
    Ok(out)
}

/// The name in EF.SPN content (either coding), `FF` padding dropped.
pub fn decode_ef_spn(b: &[u8]) -> Option<String> {
    let name = b.get(1..)?;
    let end = name.iter().position(|x| *x == 0xFF).unwrap_or(name.len());
    let name = &name[..end];
    if let Some(ucs2) = name.strip_prefix(&[0x80]) {
        let units: Vec<u16> = ucs2
            .chunks_exact(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
            .collect();
        return String::from_utf16(&units).ok();
    }
    name.iter()
        .map(|x| {
            GSM_DEFAULT
                .get(usize::from(*x))
                .copied()
                .filter(|c| *c != '\u{1B}')
        })
        .collect()
}

/// Tag paths of the personalised values: element kind, path inside the element.
const EF_ICCID: (PeKind, &[&[u8]]) = (PeKind::Mf, &[&[0xA4]]);
const EF_IMSI: (PeKind, &[&[u8]]) = (PeKind::Usim, &[&[0xA3]]);
const EF_SPN: (PeKind, &[&[u8]]) = (PeKind::Usim, &[&[0xAD]]);
const AKA_KEY: &[&[u8]] = &[&[0xA1], &[0xA1], &[0x82]];
const AKA_OPC: &[&[u8]] = &[&[0xA1], &[0xA1], &[0x83]];
/// EF.IMSI is 9 bytes (TS 31.102 §4.2.2); shorter IMSIs are padded with `FF`.
const EF_IMSI_LEN: usize = 9;

impl ProfilePackage {
    fn element_index(&self, kind: PeKind) -> Result<usize, Error> {
        self.elements
            .iter()
            .position(|p| p.kind == kind)
            .ok_or_else(|| Error::Rule {
                index: 0,
                pe: kind.name(),
                rule: format!("no {} element to personalise", kind.name()),
            })
    }

    /// Replaces the value at `path` in element `index` by `edit(old value)`.
    fn edit(
        &mut self,
        index: usize,
        path: &[&[u8]],
        what: &str,
        mut edit: impl FnMut(&[u8]) -> Vec<u8>,
    ) -> Result<(), Error> {
        let pe = &self.elements[index];
        let err = |rule: String| Error::Rule {
            index,
            pe: pe.kind.name(),
            rule,
        };
        let tlv = Tlv::read_exact(pe.raw()).map_err(|e| err(e.to_string()))?;
        let raw = rebuild(&tlv, path, &mut edit).ok_or_else(|| err(format!("{what} not found")))?;
        self.elements[index].set_raw(raw);
        Ok(())
    }

    /// A value of fixed length (Ki, OPc, the header ICCID): same length as the template's.
    fn write_fixed(
        &mut self,
        index: usize,
        path: &[&[u8]],
        value: &[u8],
        what: &str,
    ) -> Result<(), Error> {
        let pe = &self.elements[index];
        let r = value_range(pe.raw(), path).ok_or_else(|| Error::Rule {
            index,
            pe: pe.kind.name(),
            rule: format!("{what} not found"),
        })?;
        if r.len() != value.len() {
            return Err(Error::Rule {
                index,
                pe: pe.kind.name(),
                rule: format!(
                    "{what} is {} bytes in the template, the new value {}",
                    r.len(),
                    value.len()
                ),
            });
        }
        self.edit(index, path, what, |_| value.to_vec())
    }

    /// The `File` value of an EF of a template element.
    fn file(&self, (kind, path): (PeKind, &[&[u8]])) -> Option<&[u8]> {
        let pe = self.elements.iter().find(|p| p.kind == kind)?;
        let r = value_range(pe.raw(), path)?;
        Some(&pe.raw()[r])
    }

    fn set_file(
        &mut self,
        (kind, path): (PeKind, &[&[u8]]),
        content: &[u8],
        what: &str,
    ) -> Result<(), Error> {
        let i = self.element_index(kind)?;
        self.edit(i, path, what, |file| with_content(file, content))
    }

    /// The IMSI in EF.IMSI of the usim element.
    pub fn imsi(&self) -> Option<String> {
        decode_ef_imsi(&file_content(self.file(EF_IMSI)?, EF_IMSI_LEN)?)
    }

    /// EF.ICCID content of the mf element.
    pub fn ef_iccid(&self) -> Option<Iccid> {
        Iccid::from_bytes(&file_content(self.file(EF_ICCID)?, 10)?).ok()
    }

    /// The service provider name in EF.SPN of the usim element.
    pub fn spn(&self) -> Option<String> {
        decode_ef_spn(&file_content(self.file(EF_SPN)?, 17)?)
    }

    /// (Ki, OPc) of every akaParameter element with an algoParameter of 16-byte keys.
    pub fn aka_keys(&self) -> Vec<([u8; 16], [u8; 16])> {
        self.elements
            .iter()
            .filter(|p| p.kind == PeKind::AkaParameter)
            .filter_map(|p| {
                let k = value_range(p.raw(), AKA_KEY)?;
                let o = value_range(p.raw(), AKA_OPC)?;
                Some((p.raw()[k].try_into().ok()?, p.raw()[o].try_into().ok()?))
            })
            .collect()
    }

    /// Everything personalisation sets, read back from the bytes.
    pub fn values(&self) -> ProfileValues {
        ProfileValues {
            header_iccid: self.header().ok().map(|h| h.iccid_digits()),
            ef_iccid: self.ef_iccid().and_then(|i| i.digits().ok()),
            imsi: self.imsi(),
            spn: self.spn(),
            aka: self.aka_keys(),
        }
    }

    /// Writes the given values into the package; on any error the package is unchanged.
    pub fn personalise(&mut self, p: &Personalisation) -> Result<(), Error> {
        let mut work = self.clone();
        work.personalise_in_place(p)?;
        *self = work;
        Ok(())
    }

    fn personalise_in_place(&mut self, p: &Personalisation) -> Result<(), Error> {
        let bad = |rule: String| Error::Rule {
            index: 0,
            pe: "header",
            rule,
        };
        if let Some(digits) = &p.iccid {
            let ef = crate::generate::luhn_checked(digits)?;
            // The header carries the digits in order, padded with F (not nibble-swapped).
            let plain = hex::decode(format!("{digits:F<20}")).map_err(|e| bad(e.to_string()))?;
            self.write_fixed(0, &[&[0x83]], &plain, "header iccid")?;
            self.set_file(EF_ICCID, ef.as_bytes(), "EF.ICCID")?;
        }
        if let Some(imsi) = &p.imsi {
            let mut content = encode_ef_imsi(imsi).map_err(bad)?;
            content.resize(EF_IMSI_LEN, 0xFF);
            self.set_file(EF_IMSI, &content, "EF.IMSI")?;
        }
        if let Some(spn) = &p.spn {
            let content = encode_ef_spn(spn).map_err(bad)?;
            self.set_file(EF_SPN, &content, "EF.SPN")?;
        }
        let akas: Vec<usize> = (0..self.elements.len())
            .filter(|i| self.elements[*i].kind == PeKind::AkaParameter)
            .collect();
        for i in akas {
            if let Some(ki) = &p.ki {
                self.write_fixed(i, AKA_KEY, ki, "akaParameter key")?;
            }
            if let Some(opc) = &p.opc {
                self.write_fixed(i, AKA_OPC, opc, "akaParameter opc")?;
            }
        }
        Ok(())
    }
}
