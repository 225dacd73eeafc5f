//! What a recorded session is made from: everything that, with this code, determines every
//! byte of it.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use rsp_auth::Curve;
use serde_json::{json, Value};
use smdp_core::template::TemplateSource;

/// 2026-08-01T00:00:00Z, the recorder's fixed clock: inside our PKI's validity (2025–2054)
/// and SGP.26's (its DPtls certificates run from 2026-07-21 to 2027-02-06).
pub const DEFAULT_TIME: i64 = 1_785_542_400;

/// Whose certificates and keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PkiChoice {
    /// The project's PKI, made from seed 1 (what `certs/` holds, `smdp pki generate --seed 1`).
    Ours,
    /// The GSMA SGP.26 test PKI from the shared folder (`pki/sgp26`).
    Sgp26,
    /// A PKI folder in the SGP.26 layout.
    Dir(PathBuf),
}

impl std::str::FromStr for PkiChoice {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "ours" => Self::Ours,
            "sgp26" => Self::Sgp26,
            dir => Self::Dir(dir.into()),
        })
    }
}

impl std::fmt::Display for PkiChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ours => f.write_str("ours"),
            Self::Sgp26 => f.write_str("sgp26"),
            Self::Dir(d) => write!(f, "{}", d.display()),
        }
    }
}

/// One session's parameters (`smdp record`'s options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// The SM-DP+ runs as `smdp serve --seed N` on a fresh store; the virtual eUICC draws
    /// from seed N+1 and the order's numbers and matching ID from N+2.
    pub seed: u64,
    pub pki: PkiChoice,
    pub curve: Curve,
    /// The order's confirmation code (SGP.22 3.1.3.2): the LPA types it, the eUICC hashes it.
    pub confirmation_code: Option<String>,
    /// A pre-protected profile: the BPP carries ReplaceSessionKeys (A2) and the profile is
    /// protected with PPKs (SGP.22 §2.5.4).
    pub ppk: bool,
    pub profile: TemplateSource,
    /// Unix seconds of the fixed clock both sides use.
    pub time: i64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            seed: 1,
            pki: PkiChoice::Ours,
            curve: Curve::NistP256,
            confirmation_code: None,
            ppk: false,
            profile: TemplateSource::Minimal { size: None },
            time: DEFAULT_TIME,
        }
    }
}

/// `nist` or `brp`, as on the command line.
pub fn curve_name(c: Curve) -> &'static str {
    match c {
        Curve::NistP256 => "nist",
        Curve::BrainpoolP256r1 => "brp",
    }
}

pub fn parse_curve(s: &str) -> Result<Curve> {
    match s {
        "nist" => Ok(Curve::NistP256),
        "brp" => Ok(Curve::BrainpoolP256r1),
        other => bail!("curve {other:?}: nist or brp"),
    }
}

impl Params {
    /// The `smdp record` command that makes this session.
    pub fn command_line(&self) -> String {
        let mut c = format!(
            "smdp record --seed {} --pki {} --curve {}",
            self.seed,
            self.pki,
            curve_name(self.curve)
        );
        if let Some(cc) = &self.confirmation_code {
            c += &format!(" --confirmation-code {cc}");
        }
        if self.ppk {
            c += " --ppk";
        }
        c += &format!(" --profile {}", self.profile);
        if self.time != DEFAULT_TIME {
            c += &format!(" --time {}", self.time);
        }
        c
    }

    pub fn to_json(&self) -> Value {
        json!({
            "seed": self.seed,
            "pki": self.pki.to_string(),
            "curve": curve_name(self.curve),
            "confirmationCode": self.confirmation_code,
            "ppk": self.ppk,
            "profile": self.profile.to_string(),
            "time": self.time,
            "timeIso": smdp_core::clock::iso8601(self.time),
        })
    }

    /// The parameters of a session file (its `parameters` object).
    pub fn from_json(v: &Value) -> Result<Self> {
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .with_context(|| format!("parameters.{k} is missing or not a string"))
        };
        Ok(Self {
            seed: v
                .get("seed")
                .and_then(Value::as_u64)
                .context("parameters.seed is missing or not a number")?,
            pki: s("pki")?.parse().unwrap_or(PkiChoice::Ours),
            curve: parse_curve(s("curve")?)?,
            confirmation_code: v
                .get("confirmationCode")
                .and_then(Value::as_str)
                .map(str::to_owned),
            ppk: v.get("ppk").and_then(Value::as_bool).unwrap_or(false),
            profile: s("profile")?.parse()?,
            time: v
                .get("time")
                .and_then(Value::as_i64)
                .context("parameters.time is missing or not a number")?,
        })
    }
}
