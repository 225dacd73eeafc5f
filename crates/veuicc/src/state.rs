//! The eUICC's lasting state as a JSON file: identity (CERT.EUICC, CERT.EUM, SK.EUICC), the
//! CIs it trusts, its profiles and pending notifications, and the notification counter. An
//! RSP session is not part of it (a card loses its session on reset too).
//!
//! DER structures are kept as hex of their exact bytes (metadata as the BPP carried it,
//! notifications as signed), so a reloaded card answers byte for byte what it answered before.
//! The file holds the card's private key: it is test material, written owner-only by the CLI.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rsp_asn1::download::{ConfigureISDPRequest, StoreMetadataRequest};
use rsp_asn1::es10::ProfileState;
use rsp_asn1::notification::PendingNotification;
use rsp_asn1::{ObjectIdentifier, OctetTo16};
use rsp_auth::cert::Cert;
use rsp_auth::chain::TrustStore;
use rsp_auth::{Backend, SigningKey};
use serde::{Deserialize, Serialize};

use crate::euicc::{Euicc, EuiccParts, InstalledProfile};
use crate::Error;

/// The `format` of files this version writes and reads.
pub const FORMAT: &str = "smdp-sim veuicc state 1";

/// The file's contents.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CardState {
    pub format: String,
    /// Informational (the certificate is what counts).
    pub eid: String,
    pub euicc_certificate: String,
    pub eum_certificate: String,
    /// SK.EUICC's scalar.
    pub sk_euicc: String,
    pub trusted_cis: Vec<String>,
    pub last_seq_number: i64,
    /// The default SM-DP+ address (ES10a).
    #[serde(default)]
    pub default_dp_address: Option<String>,
    /// Scripted misbehaviour ([`crate::CardFaults`]).
    #[serde(default, skip_serializing_if = "is_default")]
    pub faults: crate::CardFaults,
    /// An SGP.32 IoT eUICC ([`crate::Euicc::make_sgp32`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sgp32: bool,
    pub profiles: Vec<ProfileRecord>,
    pub notifications: Vec<String>,
}

/// One installed profile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProfileRecord {
    /// Informational (the metadata is what counts).
    pub iccid: String,
    pub isdp_aid: String,
    pub enabled: bool,
    /// StoreMetadataRequest DER.
    pub metadata: String,
    /// ConfigureISDPRequest DER.
    pub configure_isdp: String,
    pub smdp_oid: Vec<u32>,
    pub smdp_address: String,
    /// The profile package (SAIP DER).
    pub package: String,
    #[serde(default)]
    pub nickname: Option<String>,
}

fn is_default(f: &crate::CardFaults) -> bool {
    *f == crate::CardFaults::default()
}

fn bad(what: impl std::fmt::Display) -> Error {
    Error::Identity(format!("state file: {what}"))
}

fn unhex(field: &str, s: &str) -> Result<Vec<u8>, Error> {
    hex::decode(s).map_err(|e| bad(format!("{field}: {e}")))
}

impl Euicc {
    /// The card's state, for [`Euicc::from_state`].
    pub fn to_state(&self) -> CardState {
        CardState {
            format: FORMAT.into(),
            eid: self.eid.to_string(),
            euicc_certificate: hex::encode_upper(self.euicc_cert.der()),
            eum_certificate: hex::encode_upper(self.eum_cert.der()),
            sk_euicc: hex::encode_upper(self.sk_euicc.scalar()),
            trusted_cis: self
                .trust_store
                .cis()
                .iter()
                .map(|c| hex::encode_upper(c.der()))
                .collect(),
            last_seq_number: self.last_seq_number,
            default_dp_address: self.default_dp_address.clone(),
            faults: self.faults.clone(),
            sgp32: self.sgp32,
            profiles: self
                .profiles
                .iter()
                .map(|p| ProfileRecord {
                    iccid: p.header.iccid_digits(),
                    isdp_aid: hex::encode_upper(&p.isdp_aid.0),
                    enabled: p.state == ProfileState::enabled,
                    metadata: hex::encode_upper(&p.metadata_der),
                    configure_isdp: hex::encode_upper(
                        rsp_asn1::encode(&p.configure_isdp).unwrap_or_default(),
                    ),
                    smdp_oid: p.smdp_oid.iter().copied().collect(),
                    smdp_address: p.smdp_address.clone(),
                    package: hex::encode_upper(&p.package),
                    nickname: p.nickname.clone(),
                })
                .collect(),
            notifications: self
                .notifications
                .iter()
                .map(|n| hex::encode_upper(rsp_asn1::encode(n).unwrap_or_default()))
                .collect(),
        }
    }

    /// A card from its state file: the identity checked as [`Euicc::from_parts`] does, the
    /// trusted CIs valid at `now`, every structure decoded (a file that does not decode is an
    /// error naming the field, and no card).
    pub fn from_state(s: &CardState, backend: Backend, now: SystemTime) -> Result<Self, Error> {
        if s.format != FORMAT {
            return Err(bad(format!(
                "format {:?}, this veuicc reads {FORMAT:?}",
                s.format
            )));
        }
        let euicc_cert = Cert::from_der(&unhex("euicc_certificate", &s.euicc_certificate)?)?;
        let eum_cert = Cert::from_der(&unhex("eum_certificate", &s.eum_certificate)?)?;
        let sk_euicc = SigningKey::from_scalar(
            euicc_cert.public_key().curve(),
            &unhex("sk_euicc", &s.sk_euicc)?,
        )?;
        let cis = s
            .trusted_cis
            .iter()
            .map(|c| Ok(Cert::from_der(&unhex("trusted_cis", c)?)?))
            .collect::<Result<Vec<_>, Error>>()?;
        let trust_store = TrustStore::new(cis, now)?;
        let mut card = Self::from_parts(
            EuiccParts {
                euicc_cert,
                eum_cert,
                sk_euicc,
                trust_store,
            },
            backend,
        )?;
        card.last_seq_number = s.last_seq_number;
        card.default_dp_address = s.default_dp_address.clone();
        card.faults = s.faults.clone();
        if s.sgp32 {
            card.make_sgp32();
        }
        for (i, p) in s.profiles.iter().enumerate() {
            let field = |f: &str| format!("profiles[{i}].{f}");
            let metadata_der = unhex(&field("metadata"), &p.metadata)?;
            let metadata: StoreMetadataRequest = rsp_asn1::decode(&metadata_der)
                .map_err(|e| bad(format!("{}: {e}", field("metadata"))))?;
            let configure_isdp: ConfigureISDPRequest =
                rsp_asn1::decode(&unhex(&field("configure_isdp"), &p.configure_isdp)?)
                    .map_err(|e| bad(format!("{}: {e}", field("configure_isdp"))))?;
            let package = unhex(&field("package"), &p.package)?;
            let header = rsp_saip::ProfilePackage::parse(&package)
                .and_then(|pp| pp.header())
                .map_err(|e| bad(format!("{}: {e}", field("package"))))?;
            let aid = unhex(&field("isdp_aid"), &p.isdp_aid)?;
            if !(5..=16).contains(&aid.len()) {
                return Err(bad(format!("{}: 5 to 16 bytes", field("isdp_aid"))));
            }
            let smdp_oid = ObjectIdentifier::new(p.smdp_oid.clone())
                .ok_or_else(|| bad(format!("{}: not a valid OID", field("smdp_oid"))))?;
            card.profiles.push(InstalledProfile {
                iccid: metadata.iccid.clone(),
                isdp_aid: OctetTo16(aid.into()),
                state: if p.enabled {
                    ProfileState::enabled
                } else {
                    ProfileState::disabled
                },
                metadata,
                metadata_der,
                configure_isdp,
                smdp_oid,
                smdp_address: p.smdp_address.clone(),
                package,
                header,
                nickname: p.nickname.clone(),
            });
        }
        if card
            .profiles
            .iter()
            .filter(|p| p.state == ProfileState::enabled)
            .count()
            > 1
        {
            return Err(bad("more than one enabled profile"));
        }
        for (i, n) in s.notifications.iter().enumerate() {
            let der = unhex(&format!("notifications[{i}]"), n)?;
            let n: PendingNotification =
                rsp_asn1::decode(&der).map_err(|e| bad(format!("notifications[{i}]: {e}")))?;
            card.notifications.push(n);
        }
        Ok(card)
    }
}

/// A card bound to its state file: read at start (a corrupt or foreign file is an error,
/// never a fresh card), written atomically (beside, then renamed) and owner-only (it holds
/// SK.EUICC), and only when the state changed.
pub struct StateFile {
    pub path: PathBuf,
    /// What the file holds now.
    saved: String,
}

fn io(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::State(format!("{what} {}: {e}", path.display()))
}

impl StateFile {
    /// Loads the card from `path`; certificates are checked at `now`.
    pub fn load(path: &Path, backend: Backend, now: SystemTime) -> Result<(Self, Euicc), Error> {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, "reading", e))?;
        let state: CardState =
            serde_json::from_str(&text).map_err(|e| io(path, "not a veuicc state file:", e))?;
        let card = Euicc::from_state(&state, backend, now)
            .map_err(|e| Error::State(format!("{}: {e}", path.display())))?;
        let saved = serde_json::to_string_pretty(&card.to_state()).unwrap_or_default();
        Ok((
            Self {
                path: path.to_path_buf(),
                saved,
            },
            card,
        ))
    }

    /// Writes `card` to a new file at `path`; an existing file is not overwritten.
    pub fn create(path: &Path, card: &Euicc) -> Result<Self, Error> {
        if path.exists() {
            return Err(Error::State(format!(
                "{} exists: not overwriting a card",
                path.display()
            )));
        }
        let mut f = Self {
            path: path.to_path_buf(),
            saved: String::new(),
        };
        f.save(card)?;
        Ok(f)
    }

    /// Writes the card if its state changed since the last write.
    pub fn save(&mut self, card: &Euicc) -> Result<(), Error> {
        use std::io::Write as _;
        let json = serde_json::to_string_pretty(&card.to_state())
            .map_err(|e| Error::State(e.to_string()))?;
        if json == self.saved {
            return Ok(());
        }
        let tmp = self.path.with_extension("tmp");
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        o.open(&tmp)
            .and_then(|mut f| f.write_all(json.as_bytes()).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| io(&self.path, "writing", e))?;
        self.saved = json;
        Ok(())
    }
}
