//! Personalising a template: ICCID (header and EF.ICCID), IMSI (EF.IMSI), Ki/OPc (every
//! akaParameter). Values are written in place at the same length, so every other byte of the
//! package stays as it was and no TLV length changes.

use core::ops::Range;

use rsp_asn1::ids::Iccid;
use rsp_asn1::tlv::Tlv;

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

    fn write(
        &mut self,
        index: usize,
        path: &[&[u8]],
        value: &[u8],
        what: &str,
    ) -> Result<(), Error> {
        let pe = &self.elements[index];
        let err = |rule: String| Error::Rule {
            index,
            pe: pe.kind.name(),
            rule,
        };
        let r = value_range(pe.raw(), path).ok_or_else(|| err(format!("{what} not found")))?;
        if r.len() != value.len() {
            return Err(err(format!(
                "{what} is {} bytes in the template, the new value {} (in-place only)",
                r.len(),
                value.len()
            )));
        }
        self.elements[index].raw_mut()[r].copy_from_slice(value);
        Ok(())
    }

    /// The IMSI in EF.IMSI of the usim element.
    pub fn imsi(&self) -> Option<String> {
        let pe = self.elements.iter().find(|p| p.kind == PeKind::Usim)?;
        let r = value_range(pe.raw(), &[&[0xA3], &[0x83]])?;
        decode_ef_imsi(&pe.raw()[r])
    }

    /// EF.ICCID content of the mf element.
    pub fn ef_iccid(&self) -> Option<Iccid> {
        let pe = self.elements.iter().find(|p| p.kind == PeKind::Mf)?;
        let r = value_range(pe.raw(), &[&[0xA4], &[0x83]])?;
        Iccid::from_bytes(&pe.raw()[r]).ok()
    }

    /// (Ki, OPc) of every akaParameter element with an algoParameter.
    pub fn aka_keys(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.elements
            .iter()
            .filter(|p| p.kind == PeKind::AkaParameter)
            .filter_map(|p| {
                let k = value_range(p.raw(), &[&[0xA1], &[0xA1], &[0x82]])?;
                let o = value_range(p.raw(), &[&[0xA1], &[0xA1], &[0x83]])?;
                Some((p.raw()[k].to_vec(), p.raw()[o].to_vec()))
            })
            .collect()
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
            let ef = Iccid::from_digits(digits).map_err(|e| bad(e.to_string()))?;
            // The header carries the digits in order, padded with F (not nibble-swapped).
            let plain = hex::decode(format!("{digits:F<20}")).map_err(|e| bad(e.to_string()))?;
            self.write(0, &[&[0x83]], &plain, "header iccid")?;
            let mf = self.element_index(PeKind::Mf)?;
            self.write(mf, &[&[0xA4], &[0x83]], ef.as_bytes(), "EF.ICCID content")?;
        }
        if let Some(imsi) = &p.imsi {
            let content = encode_ef_imsi(imsi).map_err(bad)?;
            let usim = self.element_index(PeKind::Usim)?;
            self.write(usim, &[&[0xA3], &[0x83]], &content, "EF.IMSI content")?;
        }
        let akas: Vec<usize> = (0..self.elements.len())
            .filter(|i| self.elements[*i].kind == PeKind::AkaParameter)
            .collect();
        for i in akas {
            if let Some(ki) = &p.ki {
                self.write(i, &[&[0xA1], &[0xA1], &[0x82]], ki, "akaParameter key")?;
            }
            if let Some(opc) = &p.opc {
                self.write(i, &[&[0xA1], &[0xA1], &[0x83]], opc, "akaParameter opc")?;
            }
        }
        Ok(())
    }
}
