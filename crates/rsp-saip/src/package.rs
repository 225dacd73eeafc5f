//! A whole profile package: split, validate (digest §6), read the header, list.

use rsp_asn1::tlv::Children;

use crate::pe::{PeKind, ProfileElement};
use crate::Error;

/// `ServicesList` field names in order (automatic tags `80`…), PEDefinitions v3.3.1.
pub const SERVICES: [&str; 30] = [
    "contactless",
    "usim",
    "isim",
    "csim",
    "milenage",
    "tuak128",
    "cave",
    "gba-usim",
    "gba-isim",
    "mbms",
    "eap",
    "javacard",
    "multos",
    "multiple-usim",
    "multiple-isim",
    "multiple-csim",
    "tuak256",
    "usim-test-algorithm",
    "ber-tlv",
    "dfLink",
    "cat-tp",
    "get-identity",
    "profile-a-x25519",
    "profile-b-p256",
    "suciCalculatorApi",
    "dns-resolution",
    "scp11ac",
    "scp11c-authorization-mechanism",
    "s16mode",
    "eaka",
];

/// The `UICCCapability` bit (PEDefinitions, imported by SGP.22 v2.5+; the same numbers in
/// SGP.22 v2.2 except 8 and 9, which it reserves) that stands for a mandatory service: what
/// an SM-DP+ checks in euiccInfo2 for eligibility. `None` for names without one.
pub fn uicc_capability_bit(service: &str) -> Option<usize> {
    Some(match service {
        "contactless" => 0,
        "usim" => 1,
        "isim" => 2,
        "csim" => 3,
        "milenage" => 4,
        "cave" => 5,
        "tuak128" => 6,
        "tuak256" => 7,
        "usim-test-algorithm" => 8,
        "gba-usim" => 10,
        "gba-isim" => 11,
        "mbms" => 12,
        "eap" => 13,
        "javacard" => 14,
        "multos" => 15,
        "multiple-usim" => 16,
        "multiple-isim" => 17,
        "multiple-csim" => 18,
        "ber-tlv" => 19,
        "dfLink" => 20,
        "cat-tp" => 21,
        "get-identity" => 22,
        "profile-a-x25519" => 23,
        "profile-b-p256" => 24,
        "suciCalculatorApi" => 25,
        "dns-resolution" => 26,
        "scp11ac" => 27,
        "scp11c-authorization-mechanism" => 28,
        "s16mode" => 29,
        "eaka" => 30,
        _ => return None,
    })
}

/// What the ProfileHeader (`A0`) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileHeader {
    pub major_version: u8,
    pub minor_version: u8,
    pub profile_type: Option<String>,
    /// The 10 ICCID octets as the header carries them (digits in order, not nibble-swapped).
    pub iccid: [u8; 10],
    /// Names of the eUICC-Mandatory-services present.
    pub mandatory_services: Vec<String>,
    /// eUICC-Mandatory-GFSTEList template OIDs, dotted.
    pub mandatory_gfste: Vec<String>,
}

impl ProfileHeader {
    /// The ICCID digits (trailing `F` padding dropped).
    pub fn iccid_digits(&self) -> String {
        hex::encode_upper(self.iccid)
            .trim_end_matches('F')
            .to_string()
    }
}

/// A parsed profile package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfilePackage {
    pub elements: Vec<ProfileElement>,
}

fn rule(index: usize, pe: &ProfileElement, rule: impl Into<String>) -> Error {
    Error::Rule {
        index,
        pe: pe.kind.name(),
        rule: rule.into(),
    }
}

fn uint(b: &[u8]) -> Option<u64> {
    (!b.is_empty() && b.len() <= 8).then(|| b.iter().fold(0u64, |a, x| (a << 8) | u64::from(*x)))
}

impl ProfilePackage {
    /// Splits a package into its elements; every TLV must be well-formed DER.
    pub fn parse(der: &[u8]) -> Result<Self, Error> {
        let mut elements = Vec::new();
        let mut offset = 0;
        for (index, tlv) in Children::new(der).enumerate() {
            let tlv = tlv.map_err(|e| Error::Malformed {
                index,
                offset,
                msg: e.to_string(),
            })?;
            rsp_asn1::tlv::check_der(tlv.raw).map_err(|e| Error::Malformed {
                index,
                offset,
                msg: e.to_string(),
            })?;
            let pe = ProfileElement::from_tlv(&tlv).map_err(|msg| Error::Malformed {
                index,
                offset,
                msg,
            })?;
            offset += tlv.raw.len();
            elements.push(pe);
        }
        if elements.is_empty() {
            return Err(Error::Malformed {
                index: 0,
                offset: 0,
                msg: "empty profile package".into(),
            });
        }
        Ok(Self { elements })
    }

    /// The first element of a package (or of a prefix of one that holds it whole): enough
    /// for [`Self::header`] without parsing, or even reading, the rest.
    pub fn parse_first(der: &[u8]) -> Result<Self, Error> {
        let tlv = Children::new(der)
            .next()
            .ok_or_else(|| Error::Malformed {
                index: 0,
                offset: 0,
                msg: "empty profile package".into(),
            })?
            .map_err(|e| Error::Malformed {
                index: 0,
                offset: 0,
                msg: e.to_string(),
            })?;
        rsp_asn1::tlv::check_der(tlv.raw).map_err(|e| Error::Malformed {
            index: 0,
            offset: 0,
            msg: e.to_string(),
        })?;
        let pe = ProfileElement::from_tlv(&tlv).map_err(|msg| Error::Malformed {
            index: 0,
            offset: 0,
            msg,
        })?;
        Ok(Self { elements: vec![pe] })
    }

    /// The package bytes: the elements' TLVs concatenated, as parsed.
    pub fn to_der(&self) -> Vec<u8> {
        self.elements
            .iter()
            .flat_map(|e| e.raw().iter().copied())
            .collect()
    }

    /// Reads the ProfileHeader (the first element).
    pub fn header(&self) -> Result<ProfileHeader, Error> {
        let pe = self.elements.first().ok_or_else(|| Error::Malformed {
            index: 0,
            offset: 0,
            msg: "no elements".into(),
        })?;
        if pe.kind != PeKind::Header {
            return Err(rule(0, pe, "the first element must be the header"));
        }
        let field = |n: u32| pe.field(n);
        let small = |n: u32, what: &str| -> Result<u8, Error> {
            field(n)
                .and_then(|t| uint(t.value))
                .and_then(|v| u8::try_from(v).ok())
                .ok_or_else(|| rule(0, pe, format!("{what} missing or not a small integer")))
        };
        let iccid: [u8; 10] = field(3)
            .and_then(|t| t.value.try_into().ok())
            .ok_or_else(|| rule(0, pe, "iccid missing or not 10 octets"))?;
        let services = field(5).ok_or_else(|| rule(0, pe, "eUICC-Mandatory-services missing"))?;
        let mut mandatory_services = Vec::new();
        for s in services.children() {
            let s = s.map_err(|e| rule(0, pe, e.to_string()))?;
            mandatory_services.push(
                SERVICES
                    .get(s.number as usize)
                    .map_or_else(|| format!("service[{}]", s.number), |n| (*n).to_string()),
            );
        }
        let mut mandatory_gfste = Vec::new();
        if let Some(list) = field(6) {
            for o in list.children() {
                let o = o.map_err(|e| rule(0, pe, e.to_string()))?;
                mandatory_gfste.push(oid_text(o.value));
            }
        }
        Ok(ProfileHeader {
            major_version: small(0, "major-version")?,
            minor_version: small(1, "minor-version")?,
            profile_type: field(2).map(|t| String::from_utf8_lossy(t.value).into_owned()),
            iccid,
            mandatory_services,
            mandatory_gfste,
        })
    }

    /// Checks the SAIP structure rules (digest §6): header first, mf second, end last; at most
    /// one of each singleton element; identifications unique; option templates only with their
    /// base NAA; mandatory services backed by elements (NAA PEs, an akaParameter with the
    /// algorithm the service names).
    pub fn validate(&self) -> Result<ProfileHeader, Error> {
        use PeKind::*;
        let header = self.header()?;
        let last = self.elements.len() - 1;
        for (i, pe) in self.elements.iter().enumerate() {
            match (i, pe.kind) {
                (0, Header) => {}
                (0, _) => return Err(rule(0, pe, "the first element must be the header")),
                (_, Header) => {
                    return Err(rule(
                        i,
                        pe,
                        "duplicate header (only the first element may be one)",
                    ))
                }
                (1, Mf) => {}
                (1, _) => return Err(rule(1, pe, "the second element must be mf")),
                (_, Mf) => {
                    return Err(rule(
                        i,
                        pe,
                        "duplicate mf (only the second element may be one)",
                    ))
                }
                (i, End) if i != last => return Err(rule(i, pe, "end before the last element")),
                _ => {}
            }
        }
        if self.elements[last].kind != End {
            return Err(rule(
                last,
                &self.elements[last],
                "the last element must be end",
            ));
        }
        let singletons = [
            Cd, Telecom, Usim, OptUsim, Isim, OptIsim, Csim, OptCsim, Phonebook, GsmAccess, Df5gs,
            DfSaip, DfSnpn, Df5gprose, Eap,
        ];
        for kind in singletons {
            let mut at = self
                .elements
                .iter()
                .enumerate()
                .filter(|(_, p)| p.kind == kind);
            if let (Some(_), Some((j, p))) = (at.next(), at.next()) {
                return Err(rule(j, p, format!("more than one {} element", kind.name())));
            }
        }
        let mut ids = std::collections::HashMap::new();
        for (i, pe) in self.elements.iter().enumerate() {
            if let Some(id) = pe.identification() {
                if let Some(first) = ids.insert(id, i) {
                    return Err(rule(
                        i,
                        pe,
                        format!("identification {id} already used by element #{first}"),
                    ));
                }
            }
        }
        let has = |k: PeKind| self.elements.iter().any(|p| p.kind == k);
        let needs = [
            (OptUsim, Usim),
            (GsmAccess, Usim),
            (Phonebook, Usim),
            (Df5gs, Usim),
            (DfSaip, Usim),
            (OptIsim, Isim),
            (OptCsim, Csim),
        ];
        for (opt, base) in needs {
            if let Some((i, p)) = self
                .elements
                .iter()
                .enumerate()
                .find(|(_, p)| p.kind == opt)
            {
                if !has(base) {
                    return Err(rule(
                        i,
                        p,
                        format!("{} without {}", opt.name(), base.name()),
                    ));
                }
            }
        }
        let hdr_pe = &self.elements[0];
        let algorithms: Vec<u64> = self
            .elements
            .iter()
            .filter(|p| p.kind == AkaParameter)
            .filter_map(aka_algorithm_id)
            .collect();
        for s in &header.mandatory_services {
            let missing = match s.as_str() {
                "usim" => (!has(Usim)).then_some("a usim element"),
                "isim" => (!has(Isim)).then_some("an isim element"),
                "csim" => (!has(Csim)).then_some("a csim element"),
                "milenage" => (!algorithms.contains(&1))
                    .then_some("an akaParameter with algorithmID milenage(1)"),
                "tuak128" | "tuak256" => {
                    (!algorithms.contains(&2)).then_some("an akaParameter with algorithmID tuak(2)")
                }
                "usim-test-algorithm" => (!algorithms.contains(&3))
                    .then_some("an akaParameter with algorithmID usim-test-algorithm(3)"),
                _ => None,
            };
            if let Some(m) = missing {
                return Err(rule(0, hdr_pe, format!("mandatory service {s} needs {m}")));
            }
        }
        Ok(header)
    }

    /// A readable listing: one line per element, then the header's values.
    pub fn listing(&self) -> String {
        let mut out = String::new();
        let mut offset = 0;
        for (i, pe) in self.elements.iter().enumerate() {
            let id = pe
                .identification()
                .map_or_else(String::new, |id| format!(" id {id}"));
            let extra = match pe.kind {
                PeKind::AkaParameter => {
                    aka_algorithm_id(pe).map_or_else(String::new, |a| format!(" algorithmID {a}"))
                }
                PeKind::Other(n) => format!(" (tag number {n})"),
                _ => String::new(),
            };
            out.push_str(&format!(
                "#{i:<3} {:<22} {:>6} bytes at {offset:>6}{id}{extra}\n",
                pe.kind.name(),
                pe.raw().len()
            ));
            offset += pe.raw().len();
        }
        if let Ok(h) = self.header() {
            out.push_str(&format!(
                "header: version {}.{}, type {:?}, ICCID {}\n  mandatory services: {}\n  templates: {}\n",
                h.major_version,
                h.minor_version,
                h.profile_type.as_deref().unwrap_or("-"),
                h.iccid_digits(),
                h.mandatory_services.join(", "),
                h.mandatory_gfste.join(", ")
            ));
        }
        let v = self.values();
        let show = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "values: EF.ICCID {}, IMSI {}, SPN {}\n",
            show(&v.ef_iccid),
            show(&v.imsi),
            v.spn
                .as_ref()
                .map_or_else(|| "-".into(), |s| format!("{s:?}"))
        ));
        for (i, (ki, opc)) in v.aka.iter().enumerate() {
            out.push_str(&format!(
                "  akaParameter {i}: Ki {} OPc {}\n",
                hex::encode_upper(ki),
                hex::encode_upper(opc)
            ));
        }
        out
    }
}

/// `algoConfiguration` → `algoParameter` → `algorithmID` (`A1 { A1 { 80 id … } }`).
fn aka_algorithm_id(pe: &ProfileElement) -> Option<u64> {
    let conf = pe.field(1)?;
    let param = conf
        .children()
        .filter_map(Result::ok)
        .find(|t| t.tag == [0xA1])?;
    let id = param
        .children()
        .filter_map(Result::ok)
        .find(|t| t.tag == [0x80])?;
    uint(id.value)
}

/// Dotted text of OBJECT IDENTIFIER contents octets.
fn oid_text(b: &[u8]) -> String {
    let mut arcs = Vec::new();
    let mut acc: u64 = 0;
    for &x in b {
        acc = (acc << 7) | u64::from(x & 0x7F);
        if x & 0x80 == 0 {
            if arcs.is_empty() {
                let (a, r) = if acc < 80 {
                    (acc / 40, acc % 40)
                } else {
                    (2, acc - 80)
                };
                arcs.push(a);
                arcs.push(r);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}
