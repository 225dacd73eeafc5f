//! What an order carries besides its profile package: the SGP.22 profile metadata that goes
//! into the StoreMetadataRequest (SGP.22 5.4.1 / 2.4a.1 for PPRs), the eligibility an eUICC
//! and device must meet (SGP.22 3.1.3, 8.2.5/4.3), and per-order policies (rebinding,
//! pre-protection, how the confirmation code is hashed).
//!
//! Stored as one JSON document per order; every field has a default so that an order written
//! before a field existed reads back as it was made. Every parser here is shared by the CLI
//! flags and the REST parameters, so both accept exactly the same values.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Everything optional an order may say (all defaults: what an order without options gets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrderOptions {
    /// StoreMetadataRequest iconType + icon (at most 1024 bytes).
    pub icon: Option<Icon>,
    /// StoreMetadataRequest profileClass; `None` is SGP.22's DEFAULT operational.
    pub profile_class: Option<ProfileClassName>,
    /// StoreMetadataRequest profilePolicyRules.
    pub ppr: Pprs,
    /// StoreMetadataRequest profileOwner.
    pub owner: Option<ProfileOwner>,
    /// SGP.32 StoreMetadataRequest ecallIndication (9F7B): an emergency-call profile.
    pub ecall_indication: Option<bool>,
    /// SGP.32 StoreMetadataRequest fallbackAllowed (9F67).
    pub fallback_allowed: Option<bool>,
    /// StoreMetadataRequest notificationConfigurationInfo; `None`: enable, disable and delete
    /// are notified to this SM-DP+; `Some(vec![])`: none is asked for.
    pub notifications: Option<Vec<NotificationConfig>>,
    /// What the eUICC and the device must offer (else 8.2.5/4.3 at authenticateClient).
    pub requires: DeviceRequirements,
    /// Whether a new otPK.EUICC may rebind a BPP already issued (SGP.22 3.1.3, 8.2/3.7).
    pub rebinding: Rebinding,
    /// How the confirmation code becomes the bytes hashed into hashCc.
    pub confirmation_code_encoding: CcEncoding,
    /// Serve the profile pre-protected with its own PPKs (SGP.22 2.5.4, A2
    /// ReplaceSessionKeys); the keys are made at reservation.
    pub pre_protected: bool,
    /// Scripted faults ([`crate::faults`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<crate::faults::Fault>,
    /// The conformance fixture this order stands for ([`crate::fixtures`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixture: Option<String>,
}

/// Why an option value is refused; the text names the option and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OptionError(pub String);

fn bad<T>(msg: impl Into<String>) -> Result<T, OptionError> {
    Err(OptionError(msg.into()))
}

/// SGP.22 StoreMetadataRequest: `icon OCTET STRING (SIZE(0..1024))`.
pub const MAX_ICON_BYTES: usize = 1024;

/// `IconType ::= INTEGER {jpg(0), png(1)}` and the icon bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Icon {
    pub kind: IconKind,
    #[serde(with = "hex_bytes")]
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IconKind {
    Jpg,
    Png,
}

impl Icon {
    /// An icon from its bytes: PNG or JPEG by signature, at most 1024 bytes.
    pub fn from_bytes(data: Vec<u8>) -> Result<Self, OptionError> {
        if data.len() > MAX_ICON_BYTES {
            return bad(format!(
                "icon: {} bytes, SGP.22 allows at most {MAX_ICON_BYTES}",
                data.len()
            ));
        }
        let kind = if data.starts_with(b"\x89PNG\r\n\x1a\n") {
            IconKind::Png
        } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
            IconKind::Jpg
        } else {
            return bad("icon: neither PNG nor JPEG (SGP.22 iconType is jpg or png)");
        };
        Ok(Self { kind, data })
    }
}

/// `ProfileClass ::= INTEGER {test(0), provisioning(1), operational(2)}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileClassName {
    Test,
    Provisioning,
    Operational,
}

impl FromStr for ProfileClassName {
    type Err = OptionError;
    fn from_str(s: &str) -> Result<Self, OptionError> {
        Ok(match s {
            "test" => Self::Test,
            "provisioning" => Self::Provisioning,
            "operational" => Self::Operational,
            _ => {
                return bad(format!(
                    "profile class {s:?}: test, provisioning or operational"
                ))
            }
        })
    }
}

/// `PprIds ::= BIT STRING {pprUpdateControl(0), ppr1(1), ppr2(2)}`: PPR1 "disabling not
/// allowed", PPR2 "deletion not allowed" (SGP.22 2.4a.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pprs {
    pub update_control: bool,
    pub ppr1: bool,
    pub ppr2: bool,
}

impl Pprs {
    /// The set bit numbers (`rsp_asn1::bits::ppr_ids`).
    pub fn bits(&self) -> Vec<usize> {
        use rsp_asn1::bits::ppr_ids;
        [
            (self.update_control, ppr_ids::PPR_UPDATE_CONTROL),
            (self.ppr1, ppr_ids::PPR1),
            (self.ppr2, ppr_ids::PPR2),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, b)| *b)
        .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.bits().is_empty()
    }
}

impl FromStr for Pprs {
    type Err = OptionError;
    /// A comma-separated list of `ppr1`, `ppr2`, `update-control` (or `none`).
    fn from_str(s: &str) -> Result<Self, OptionError> {
        let mut p = Pprs::default();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "ppr1" => p.ppr1 = true,
                "ppr2" => p.ppr2 = true,
                "update-control" | "pprUpdateControl" => p.update_control = true,
                "none" => {}
                _ => return bad(format!("PPR {name:?}: ppr1, ppr2 or update-control")),
            }
        }
        Ok(p)
    }
}

/// `OperatorId`: MCC/MNC (3 digits + 2 or 3) and optional GID1/GID2 (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileOwner {
    pub mcc_mnc: String,
    #[serde(
        default,
        with = "opt_hex_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    pub gid1: Option<Vec<u8>>,
    #[serde(
        default,
        with = "opt_hex_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    pub gid2: Option<Vec<u8>>,
}

impl ProfileOwner {
    /// `mccMnc` as 3 GPP TS 24.008 octets: `MCC2 MCC1 | MNC3 MCC3 | MNC2 MNC1` (MNC3 = F for a
    /// two-digit MNC), e.g. 262/01 → `62 F2 10`.
    pub fn mcc_mnc_octets(&self) -> [u8; 3] {
        let d: Vec<u8> = self.mcc_mnc.bytes().map(|b| b - b'0').collect();
        let mnc3 = d.get(5).copied().unwrap_or(0xF);
        [d[1] << 4 | d[0], mnc3 << 4 | d[2], d[4] << 4 | d[3]]
    }
}

impl FromStr for ProfileOwner {
    type Err = OptionError;
    /// `MCCMNC[:GID1[:GID2]]`, e.g. `310410` or `26201:ff01`.
    fn from_str(s: &str) -> Result<Self, OptionError> {
        let mut parts = s.split(':');
        let mcc_mnc = parts.next().unwrap_or_default().to_string();
        if !(5..=6).contains(&mcc_mnc.len()) || !mcc_mnc.bytes().all(|c| c.is_ascii_digit()) {
            return bad(format!(
                "profile owner {s:?}: MCC and MNC are 5 or 6 digits (then :GID1[:GID2] in hex)"
            ));
        }
        let gid = |g: Option<&str>, what: &str| -> Result<Option<Vec<u8>>, OptionError> {
            match g {
                None | Some("") => Ok(None),
                Some(h) => hex::decode(h)
                    .ok()
                    .filter(|b| !b.is_empty() && b.len() <= 16)
                    .map(Some)
                    .ok_or_else(|| OptionError(format!("{what} {h:?}: 1..16 bytes of hex"))),
            }
        };
        let gid1 = gid(parts.next(), "GID1")?;
        let gid2 = gid(parts.next(), "GID2")?;
        if parts.next().is_some() {
            return bad(format!("profile owner {s:?}: MCCMNC[:GID1[:GID2]]"));
        }
        Ok(Self {
            mcc_mnc,
            gid1,
            gid2,
        })
    }
}

/// One NotificationConfigurationInformation: operations and where to send them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationConfig {
    /// NotificationEvent bit numbers (install 0, enable 1, disable 2, delete 3).
    pub operations: Vec<usize>,
    /// FQDN; `None` is this SM-DP+'s address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl FromStr for NotificationConfig {
    type Err = OptionError;
    /// `enable,disable,delete[@address]`.
    fn from_str(s: &str) -> Result<Self, OptionError> {
        let (ops, address) = match s.split_once('@') {
            Some((o, a)) if !a.is_empty() && !a.contains(['$', '/', ' ']) => (o, Some(a.into())),
            Some(_) => return bad(format!("notification {s:?}: the address is a host name")),
            None => (s, None),
        };
        let mut operations = Vec::new();
        for op in ops.split(',').map(str::trim) {
            let bit = match op {
                "install" => 0,
                "enable" => 1,
                "disable" => 2,
                "delete" => 3,
                _ => {
                    return bad(format!(
                        "notification operation {op:?}: install, enable, disable or delete"
                    ))
                }
            };
            if !operations.contains(&bit) {
                operations.push(bit);
            }
        }
        operations.sort_unstable();
        Ok(Self {
            operations,
            address,
        })
    }
}

/// An SGP.22 VersionType (`major.minor.revision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Version(pub [u8; 3]);

impl FromStr for Version {
    type Err = OptionError;
    fn from_str(s: &str) -> Result<Self, OptionError> {
        let parts: Vec<&str> = s.split('.').collect();
        let mut v = [0u8; 3];
        if parts.is_empty() || parts.len() > 3 {
            return bad(format!("version {s:?}: major.minor.revision"));
        }
        for (i, p) in parts.iter().enumerate() {
            v[i] = p
                .parse()
                .ok()
                .filter(|_| p.bytes().all(|c| c.is_ascii_digit()))
                .ok_or_else(|| OptionError(format!("version {s:?}: major.minor.revision")))?;
        }
        Ok(Self(v))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0[0], self.0[1], self.0[2])
    }
}

/// Eligibility (SGP.22 3.1.3 "Eligibility Check", 8.2.5/4.3): what euiccInfo2 and deviceInfo
/// must show for this order, beyond what the package itself mandates (checked always).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceRequirements {
    /// The eUICC's SVN (euiccInfo2.svn) at least this.
    pub min_euicc_svn: Option<Version>,
    /// UICCCapability names (`rsp_saip::uicc_capability_bit`), e.g. `javacard`, `ber-tlv`.
    pub uicc_capabilities: Vec<String>,
    /// DeviceCapabilities names: `gsm`, `utran`, `cdma2000onex`, `cdma2000hrpd`,
    /// `cdma2000ehrpd`, `eutran-epc`, `contactless`, `rsp-crl`, `nr-epc`, `nr-5gc`,
    /// `eutran-5gc`; each optionally `name>=release` (e.g. `nr-5gc>=15`).
    pub device_capabilities: Vec<DeviceCapability>,
}

/// A radio technology the device must support, optionally from a minimum release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceCapability {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_release: Option<Version>,
}

/// The DeviceCapabilities field names (SGP.22 DeviceInfo), in ASN.1 order.
pub const DEVICE_CAPABILITIES: [&str; 11] = [
    "gsm",
    "utran",
    "cdma2000onex",
    "cdma2000hrpd",
    "cdma2000ehrpd",
    "eutran-epc",
    "contactless",
    "rsp-crl",
    "nr-epc",
    "nr-5gc",
    "eutran-5gc",
];

impl FromStr for DeviceCapability {
    type Err = OptionError;
    fn from_str(s: &str) -> Result<Self, OptionError> {
        let (name, min) = match s.split_once(">=") {
            Some((n, v)) => (n.trim(), Some(v.trim().parse::<Version>()?)),
            None => (s.trim(), None),
        };
        if !DEVICE_CAPABILITIES.contains(&name) {
            return bad(format!(
                "device capability {name:?}: one of {}",
                DEVICE_CAPABILITIES.join(", ")
            ));
        }
        Ok(Self {
            name: name.into(),
            min_release: min,
        })
    }
}

/// A UICCCapability name, checked against the names SGP.22/PEDefinitions give the bits.
pub fn parse_uicc_capability(s: &str) -> Result<String, OptionError> {
    match rsp_saip::uicc_capability_bit(s) {
        Some(_) => Ok(s.to_string()),
        None => bad(format!(
            "UICC capability {s:?}: a UICCCapability name such as usim, isim, javacard, ber-tlv"
        )),
    }
}

/// May a new otPK.EUICC rebind the profile (a new BPP for the same eUICC)?
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rebinding {
    /// What SGP.23 suites expect of an SM-DP+ by default.
    #[default]
    Allowed,
    /// A new otPK.EUICC after a BPP was issued gets 8.2/3.7.
    Refused,
}

/// How the confirmation code text becomes the bytes of `SHA256(SHA256(code) ‖ txid)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CcEncoding {
    /// The code's ASCII bytes, as typed: what lpac and other LPAs hash (SGP.22 digest §4.3).
    #[default]
    Ascii,
    /// The code hex-decoded first: what the osmo-ttcn3 SGP.23 suite and its pySim fork do.
    Hex,
}

impl FromStr for CcEncoding {
    type Err = OptionError;
    fn from_str(s: &str) -> Result<Self, OptionError> {
        match s {
            "ascii" => Ok(Self::Ascii),
            "hex" => Ok(Self::Hex),
            _ => bad(format!("confirmation code encoding {s:?}: ascii or hex")),
        }
    }
}

impl CcEncoding {
    /// The bytes the code stands for; a `hex` code must be an even number of hex digits.
    pub fn code_bytes(self, code: &str) -> Result<Vec<u8>, OptionError> {
        match self {
            Self::Ascii => Ok(code.as_bytes().to_vec()),
            Self::Hex => hex::decode(code).map_err(|_| {
                OptionError(format!(
                    "confirmation code {code:?} is not hex (the order hashes it hex-decoded)"
                ))
            }),
        }
    }
}

impl OrderOptions {
    /// Checks the cross-field rules; every value was already checked by its parser.
    pub fn validate(&self) -> Result<(), OptionError> {
        if let Some(i) = &self.icon {
            if i.data.len() > MAX_ICON_BYTES {
                return bad(format!(
                    "icon: {} bytes, at most {MAX_ICON_BYTES}",
                    i.data.len()
                ));
            }
        }
        for c in &self.requires.uicc_capabilities {
            parse_uicc_capability(c)?;
        }
        for c in &self.requires.device_capabilities {
            if !DEVICE_CAPABILITIES.contains(&c.name.as_str()) {
                return bad(format!("device capability {:?}", c.name));
            }
        }
        for n in self.notifications.iter().flatten() {
            if n.operations.is_empty() || n.operations.iter().any(|b| *b > 3) {
                return bad("notification operations are install, enable, disable, delete");
            }
        }
        Ok(())
    }

    /// JSON for the store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("options serialise")
    }

    /// From the store's JSON.
    pub fn from_json(s: &str) -> Result<Self, OptionError> {
        serde_json::from_str(s).map_err(|e| OptionError(format!("order options: {e}")))
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode_upper(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

mod opt_hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => s.serialize_str(&hex::encode_upper(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| hex::decode(s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3GPP TS 24.008 10.5.1.3: 262/01 is `62 F2 10`, 310/410 is `13 00 14`.
    #[test]
    fn mcc_mnc_octets() {
        let o: ProfileOwner = "26201".parse().unwrap();
        assert_eq!(o.mcc_mnc_octets(), [0x62, 0xF2, 0x10]);
        let o: ProfileOwner = "310410:ff01:02".parse().unwrap();
        assert_eq!(o.mcc_mnc_octets(), [0x13, 0x00, 0x14]);
        assert_eq!(o.gid1.as_deref(), Some(&[0xFF, 0x01][..]));
        assert_eq!(o.gid2.as_deref(), Some(&[0x02][..]));
        for bad in ["2620", "2620123", "26a01", "26201:xyz", "26201:01:02:03"] {
            assert!(bad.parse::<ProfileOwner>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parsers_take_what_they_document_and_refuse_the_rest() {
        let p: Pprs = "ppr1,ppr2".parse().unwrap();
        assert_eq!(p.bits(), vec![1, 2]);
        assert!("ppr3".parse::<Pprs>().is_err());
        let n: NotificationConfig = "delete,enable@dp.example.com".parse().unwrap();
        assert_eq!(n.operations, vec![1, 3]);
        assert_eq!(n.address.as_deref(), Some("dp.example.com"));
        assert!("reboot".parse::<NotificationConfig>().is_err());
        assert!("enable@".parse::<NotificationConfig>().is_err());
        assert_eq!("2.2".parse::<Version>().unwrap(), Version([2, 2, 0]));
        assert!("2.x".parse::<Version>().is_err());
        assert!("+2".parse::<Version>().is_err());
        let c: DeviceCapability = "nr-5gc>=15".parse().unwrap();
        assert_eq!(c.min_release, Some(Version([15, 0, 0])));
        assert!("wifi".parse::<DeviceCapability>().is_err());
        assert!(parse_uicc_capability("javacard").is_ok());
        assert!(parse_uicc_capability("teleport").is_err());
        assert_eq!(CcEncoding::Hex.code_bytes("0102").unwrap(), vec![1, 2]);
        assert!(CcEncoding::Hex.code_bytes("12345").is_err());
        assert_eq!(CcEncoding::Ascii.code_bytes("12").unwrap(), b"12".to_vec());
    }

    #[test]
    fn icons_are_png_or_jpeg_up_to_1024_bytes() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.resize(1024, 0);
        assert_eq!(Icon::from_bytes(png.clone()).unwrap().kind, IconKind::Png);
        png.push(0);
        assert!(Icon::from_bytes(png).is_err());
        assert_eq!(
            Icon::from_bytes(vec![0xFF, 0xD8, 0xFF, 0xE0]).unwrap().kind,
            IconKind::Jpg
        );
        assert!(Icon::from_bytes(b"GIF89a".to_vec()).is_err());
    }

    #[test]
    fn options_round_trip_through_json_and_old_rows_read_as_defaults() {
        let o = OrderOptions {
            icon: Some(Icon::from_bytes(vec![0xFF, 0xD8, 0xFF]).unwrap()),
            profile_class: Some(ProfileClassName::Test),
            ppr: "ppr1".parse().unwrap(),
            owner: Some("310410:ff".parse().unwrap()),
            ecall_indication: Some(true),
            fallback_allowed: Some(false),
            notifications: Some(vec!["enable".parse().unwrap()]),
            requires: DeviceRequirements {
                min_euicc_svn: Some(Version([2, 2, 0])),
                uicc_capabilities: vec!["javacard".into()],
                device_capabilities: vec!["nr-5gc".parse().unwrap()],
            },
            rebinding: Rebinding::Refused,
            confirmation_code_encoding: CcEncoding::Hex,
            pre_protected: true,
            faults: crate::faults::parse_list("getBoundProfilePackage:flip-mac=2@1").unwrap(),
            fixture: Some("TEST123".into()),
        };
        assert_eq!(OrderOptions::from_json(&o.to_json()).unwrap(), o);
        assert_eq!(
            OrderOptions::from_json("{}").unwrap(),
            OrderOptions::default()
        );
        assert!(OrderOptions::from_json("{\"bogus\":1}").is_err());
    }
}
