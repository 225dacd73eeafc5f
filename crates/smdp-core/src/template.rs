//! Profile templates the server personalises: the generated minimal USIM (any size), the
//! GSMA TS.48 test profiles from the shared folder (read at run time, never committed), or a
//! SAIP file of the operator's own.

use std::path::{Path, PathBuf};

use rsp_saip::{MinimalUsim, ProfilePackage};

/// Why a template cannot be named or loaded.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{0}")]
    Invalid(String),
    #[error("{what}: {source}")]
    Saip {
        what: String,
        #[source]
        source: rsp_saip::Error,
    },
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, TemplateError>;

/// The TS.48 v7 variants in `profiles/ts48/` of the shared folder.
pub const TS48_VARIANTS: [&str; 4] = [
    "SAIP2.3_NoBERTLV",
    "SAIP2.3_NoBERTLV_NoRAMRFM",
    "SAIP2.3_BERTLV_SUCI",
    "SAIP2.3_BERTLV_SUCI_NoRAMRFM",
];

/// Where a template comes from, as written on the command line or in the config:
/// `minimal`, `minimal:<bytes>`, `ts48`, `ts48:<variant>`, or a path to a DER file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    Minimal { size: Option<usize> },
    Ts48 { variant: String },
    File(PathBuf),
}

impl std::str::FromStr for TemplateSource {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.split_once(':') {
            None if s == "minimal" => Self::Minimal { size: None },
            None if s == "ts48" => Self::Ts48 {
                variant: TS48_VARIANTS[0].into(),
            },
            Some(("minimal", size)) => Self::Minimal {
                size: Some(parse_size(size)?),
            },
            Some(("ts48", v)) => {
                let v = v.trim_start_matches("ts48-v7-");
                if !TS48_VARIANTS.contains(&v) {
                    return Err(TemplateError::Invalid(format!(
                        "unknown TS.48 variant {v:?}; one of {TS48_VARIANTS:?}"
                    )));
                }
                Self::Ts48 { variant: v.into() }
            }
            _ => Self::File(PathBuf::from(s)),
        })
    }
}

impl std::fmt::Display for TemplateSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Minimal { size: None } => f.write_str("minimal"),
            Self::Minimal { size: Some(n) } => write!(f, "minimal:{n}"),
            Self::Ts48 { variant } => write!(f, "ts48:{variant}"),
            Self::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// `65536`, `64k`, `64KiB`, `1m`: bytes.
pub fn parse_size(s: &str) -> Result<usize> {
    rsp_saip::generate::parse_size(s).map_err(TemplateError::Invalid)
}

impl TemplateSource {
    /// Loads and validates the template. `shared` is the shared folder (for `ts48`).
    pub fn load(&self, shared: Option<&Path>) -> Result<ProfilePackage> {
        let pkg = match self {
            Self::Minimal { size } => MinimalUsim {
                target_size: *size,
                ..Default::default()
            }
            .build()
            .map_err(|source| TemplateError::Saip {
                what: format!("template {self}"),
                source,
            })?,
            Self::Ts48 { variant } => {
                let dir = shared.ok_or_else(|| {
                    TemplateError::Invalid(
                        "the TS.48 templates live in the shared folder: set RSP_SHARED_DIR".into(),
                    )
                })?;
                let path = dir.join(format!("profiles/ts48/ts48-v7-{variant}.der"));
                read(&path)?
            }
            Self::File(path) => read(path)?,
        };
        pkg.validate().map_err(|source| TemplateError::Saip {
            what: format!("template {self} breaks a SAIP rule"),
            source,
        })?;
        Ok(pkg)
    }
}

fn read(path: &Path) -> Result<ProfilePackage> {
    let der = std::fs::read(path).map_err(|source| TemplateError::Io {
        path: path.display().to_string(),
        source,
    })?;
    ProfilePackage::parse(&der).map_err(|source| TemplateError::Saip {
        what: format!("{} is not a SAIP package", path.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print() {
        for s in [
            "minimal",
            "minimal:65536",
            "ts48:SAIP2.3_BERTLV_SUCI",
            "x/y.der",
        ] {
            assert_eq!(s.parse::<TemplateSource>().unwrap().to_string(), s);
        }
        assert_eq!(
            "minimal:64k".parse::<TemplateSource>().unwrap(),
            TemplateSource::Minimal { size: Some(65536) }
        );
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert!("ts48:nope".parse::<TemplateSource>().is_err());
        assert!("minimal:lots".parse::<TemplateSource>().is_err());
    }

    #[test]
    fn minimal_loads_at_a_size() {
        let t: TemplateSource = "minimal:16k".parse().unwrap();
        assert_eq!(t.load(None).unwrap().to_der().len(), 16384);
        assert!("ts48"
            .parse::<TemplateSource>()
            .unwrap()
            .load(None)
            .is_err());
    }
}
