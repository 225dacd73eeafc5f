//! Profile element kinds (the `ProfileElement` CHOICE, automatic tags `A0`…`BF21`).

use rsp_asn1::tlv::{Class, Tlv};

/// A `ProfileElement` alternative, by its context tag number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeKind {
    Header,
    GenericFileManagement,
    PinCodes,
    PukCodes,
    AkaParameter,
    CdmaParameter,
    SecurityDomain,
    Rfm,
    Application,
    NonStandard,
    End,
    Mf,
    Cd,
    Telecom,
    Usim,
    OptUsim,
    Isim,
    OptIsim,
    Phonebook,
    GsmAccess,
    Csim,
    OptCsim,
    Eap,
    Df5gs,
    DfSaip,
    DfSnpn,
    Df5gprose,
    Iot,
    OptIot,
    /// rfu1..rfu5 (11..15) or a tag from a newer PEDefinitions: kept, not interpreted.
    Other(u32),
}

impl PeKind {
    /// From the context tag number of the CHOICE alternative.
    pub fn from_number(n: u32) -> Self {
        use PeKind::*;
        match n {
            0 => Header,
            1 => GenericFileManagement,
            2 => PinCodes,
            3 => PukCodes,
            4 => AkaParameter,
            5 => CdmaParameter,
            6 => SecurityDomain,
            7 => Rfm,
            8 => Application,
            9 => NonStandard,
            10 => End,
            16 => Mf,
            17 => Cd,
            18 => Telecom,
            19 => Usim,
            20 => OptUsim,
            21 => Isim,
            22 => OptIsim,
            23 => Phonebook,
            24 => GsmAccess,
            25 => Csim,
            26 => OptCsim,
            27 => Eap,
            28 => Df5gs,
            29 => DfSaip,
            30 => DfSnpn,
            31 => Df5gprose,
            32 => Iot,
            33 => OptIot,
            other => Other(other),
        }
    }

    /// The ASN.1 alternative name (as in value notation).
    pub fn name(self) -> &'static str {
        use PeKind::*;
        match self {
            Header => "header",
            GenericFileManagement => "genericFileManagement",
            PinCodes => "pinCodes",
            PukCodes => "pukCodes",
            AkaParameter => "akaParameter",
            CdmaParameter => "cdmaParameter",
            SecurityDomain => "securityDomain",
            Rfm => "rfm",
            Application => "application",
            NonStandard => "nonStandard",
            End => "end",
            Mf => "mf",
            Cd => "cd",
            Telecom => "telecom",
            Usim => "usim",
            OptUsim => "opt-usim",
            Isim => "isim",
            OptIsim => "opt-isim",
            Phonebook => "phonebook",
            GsmAccess => "gsm-access",
            Csim => "csim",
            OptCsim => "opt-csim",
            Eap => "eap",
            Df5gs => "df-5gs",
            DfSaip => "df-saip",
            DfSnpn => "df-snpn",
            Df5gprose => "df-5gprose",
            Iot => "iot",
            OptIot => "opt-iot",
            Other(_) => "unknown",
        }
    }
}

/// One profile element: its kind and its TLV exactly as in the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileElement {
    pub kind: PeKind,
    raw: Vec<u8>,
}

impl ProfileElement {
    /// From one TLV; it must be a constructed context-specific tag (a CHOICE alternative).
    pub fn from_tlv(tlv: &Tlv<'_>) -> Result<Self, String> {
        if tlv.class != Class::Context || !tlv.constructed {
            return Err(format!(
                "tag {} is not a ProfileElement alternative",
                hex::encode_upper(tlv.tag)
            ));
        }
        Ok(Self {
            kind: PeKind::from_number(tlv.number),
            raw: tlv.raw.to_vec(),
        })
    }

    /// The element's TLV.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Replaces the TLV (personalisation; the kind is unchanged).
    pub(crate) fn set_raw(&mut self, raw: Vec<u8>) {
        self.raw = raw;
    }

    /// The TLVs inside the element.
    pub fn fields(&self) -> Vec<Tlv<'_>> {
        Tlv::read_exact(&self.raw)
            .map(|t| t.children().filter_map(Result::ok).collect())
            .unwrap_or_default()
    }

    /// The first field with context tag number `n`.
    pub fn field(&self, n: u32) -> Option<Tlv<'_>> {
        self.fields()
            .into_iter()
            .find(|t| t.class == Class::Context && t.number == n)
    }

    /// `PEHeader.identification` (`A0 { 80 mandated?, 81 identification }`), for every element
    /// but the ProfileHeader.
    pub fn identification(&self) -> Option<u64> {
        if self.kind == PeKind::Header {
            return None;
        }
        let hdr = self.field(0)?;
        let id = hdr
            .children()
            .filter_map(Result::ok)
            .find(|t| t.tag == [0x81])?;
        (id.value.len() <= 8 && !id.value.is_empty())
            .then(|| id.value.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)))
    }
}
