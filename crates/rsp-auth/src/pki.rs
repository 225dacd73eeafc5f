//! A whole test PKI on disk, in the SGP.26 folder layout, for the SM-DP+ and the eUICC side.
//!
//! The same loader reads the GSMA SGP.26 test PKI (`../shared/pki/sgp26`) and the project's own
//! `certs/` made by [`Pki::generate`]: one CI per curve, DPauth/DPpb (required), DPtls, and an
//! EUM + eUICC (optional; the virtual eUICC uses them).

use std::path::Path;
use std::time::{Duration, SystemTime};

use rand_core::CryptoRng;
use rsp_asn1::ids::Eid;

use crate::cert::{Cert, Role};
use crate::chain::{ChainError, TrustStore};
use crate::curve::Curve;
use crate::generate::{issue, whole_seconds, Issued, Profile};
use crate::key::{Backend, SigningKey};
use crate::Error;

/// The SM-DP+ OID the SGP.26 test certificates carry (SAN registeredID); ours use it too.
pub const TEST_SMDP_OID: [u32; 3] = [2, 999, 10];

/// Everything issued under one CI.
pub struct CurvePki {
    pub curve: Curve,
    pub ci: Cert,
    /// Present when the CI key is available (ours, SGP.26): needed to issue a fresh DPtls.
    pub ci_key: Option<SigningKey>,
    pub dp_auth: Issued,
    pub dp_pb: Issued,
    pub dp_tls: Option<Issued>,
    pub eum: Option<Cert>,
    pub eum_key: Option<SigningKey>,
    pub euicc: Option<Issued>,
}

impl CurvePki {
    /// The CI's SubjectKeyIdentifier (the euiccCiPKId).
    pub fn ci_ski(&self) -> &[u8] {
        self.ci.subject_key_id.as_deref().unwrap_or_default()
    }

    /// A fresh DPtls under this CI (its key must be loaded) for `hosts`, carrying CERT.DPauth's
    /// SM-DP+ OID (or the SGP.26 test OID if it has none).
    pub fn issue_dptls<R: CryptoRng + ?Sized>(
        &self,
        hosts: &[String],
        not_before: SystemTime,
        not_after: SystemTime,
        rng: &mut R,
    ) -> Result<Issued, Error> {
        let ci_key = self
            .ci_key
            .as_ref()
            .ok_or_else(|| Error::Key(format!("the {} CI key is not loaded", self.curve)))?;
        let ci = Issued {
            cert: self.ci.clone(),
            key: SigningKey::from_scalar(self.curve, &ci_key.scalar())?,
        };
        let oid: Vec<u32> = self
            .dp_auth
            .cert
            .registered_ids
            .first()
            .map(|o| o.iter().copied().collect())
            .unwrap_or_else(|| TEST_SMDP_OID.to_vec());
        issue_tls(&ci, hosts, &oid, not_before, not_after, rng)
    }
}

impl CurvePki {
    /// A fresh eUICC for `eid` under this EUM (its key must be loaded): a new SK.EUICC and its
    /// CERT.EUICC (subject serialNumber = EID), valid as long as CERT.EUM. An EID outside the
    /// EUM's permitted prefixes is refused (the chain would not verify).
    pub fn issue_euicc<R: CryptoRng + ?Sized>(
        &self,
        eid: &Eid,
        rng: &mut R,
    ) -> Result<Issued, Error> {
        self.issue_euicc_with(eid, rng, Backend::RustCrypto)
    }

    /// [`Self::issue_euicc`] with CERT.EUICC signed by `backend`: aws-lc for load runs that
    /// manufacture an eUICC per session (its signature is randomised, so the same seed no
    /// longer gives the same certificate).
    pub fn issue_euicc_with<R: CryptoRng + ?Sized>(
        &self,
        eid: &Eid,
        rng: &mut R,
        backend: Backend,
    ) -> Result<Issued, Error> {
        let (Some(eum), Some(eum_key)) = (&self.eum, &self.eum_key) else {
            return Err(Error::Key(format!(
                "the {} EUM certificate and key are not loaded",
                self.curve
            )));
        };
        let digits = eid.to_string();
        if let Some(prefixes) = &eum.permitted_eid_prefixes {
            if !prefixes.iter().any(|p| digits.starts_with(p.as_str())) {
                return Err(Error::Certificate(format!(
                    "EID {digits} is outside the EUM's permitted prefixes {prefixes:?}"
                )));
            }
        }
        let issuer = Issued {
            cert: eum.clone(),
            key: SigningKey::from_scalar(self.curve, &eum_key.scalar())?,
        };
        let key = SigningKey::generate(self.curve, rng);
        let org = eum
            .subject_organization
            .clone()
            .unwrap_or_else(|| "smdp-sim Test EUM".into());
        let cert = crate::generate::issue_with(
            &euicc_profile(eum.not_before, eum.not_after, org, eid, self.curve),
            &key,
            Some(&issuer),
            rng,
            backend,
        )?;
        Ok(Issued { cert, key })
    }
}

/// CERT.EUICC's profile (SGP.22 4.5.2.1.0.2): the EUM's organisation, the EID as subject
/// serialNumber.
fn euicc_profile(
    not_before: SystemTime,
    not_after: SystemTime,
    org: String,
    eid: &Eid,
    curve: Curve,
) -> Profile {
    Profile {
        role: Role::Euicc,
        subject: vec![
            ("C", "XZ".into()),
            ("O", org),
            ("serialNumber", eid.to_string()),
            ("CN", format!("smdp-sim eUICC {}", curve.file_tag())),
        ],
        not_before,
        not_after,
        registered_id: None,
        dns_names: Vec::new(),
        eid_prefix: None,
    }
}

/// A loaded or generated PKI.
pub struct Pki {
    pub curves: Vec<CurvePki>,
}

/// Choices for [`Pki::generate`].
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub curves: Vec<Curve>,
    /// DPtls SAN entries: DNS names, or IP addresses.
    pub hosts: Vec<String>,
    pub smdp_oid: Vec<u32>,
    /// EID prefix the EUM may issue (nameConstraints).
    pub eid_prefix: String,
    pub not_before: SystemTime,
    /// Validity of every certificate.
    pub lifetime: Duration,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            curves: Curve::ALL.to_vec(),
            hosts: vec!["localhost".into(), "127.0.0.1".into()],
            smdp_oid: TEST_SMDP_OID.to_vec(),
            eid_prefix: "89001012".into(),
            // Seeded runs must not depend on the clock: a fixed start, 30 years of validity.
            not_before: SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600), // 2025-01-01
            lifetime: Duration::from_secs(30 * 365 * 86_400),
        }
    }
}

pub(crate) struct Files {
    pub(crate) cert: String,
    pub(crate) key: String,
}

fn files(dir: &str, cert: &str, key: &str, c: Curve) -> Files {
    let t = c.file_tag();
    Files {
        cert: format!("{dir}/{}", cert.replace("{}", t)),
        key: format!("{dir}/{}", key.replace("{}", t)),
    }
}

fn ci_files(c: Curve) -> Files {
    files(
        "CertificateIssuer",
        "CERT_CI_ECDSA_{}.der",
        "SK_CI_ECDSA_{}.pem",
        c,
    )
}
fn eum_files(c: Curve) -> Files {
    files("EUM", "CERT_EUM_ECDSA_{}.der", "SK_EUM_ECDSA_{}.pem", c)
}
fn euicc_files(c: Curve) -> Files {
    files(
        "eUICC",
        "CERT_EUICC_ECDSA_{}.der",
        "SK_EUICC_ECDSA_{}.pem",
        c,
    )
}
fn dpauth_files(c: Curve) -> Files {
    files(
        "DPauth",
        "CERT_S_SM_DPauth_ECDSA_{}.der",
        "SK_S_SM_DPauth_ECDSA_{}.pem",
        c,
    )
}
fn dppb_files(c: Curve) -> Files {
    files(
        "DPpb",
        "CERT_S_SM_DPpb_ECDSA_{}.der",
        "SK_S_SM_DPpb_ECDSA_{}.pem",
        c,
    )
}
/// Ours is `CERT_S_SM_DP_TLS_*`; SGP.26 re-issued theirs as `CERT_S_SM_DP_VARO_TLS_*`.
fn dptls_files(c: Curve) -> [Files; 2] {
    [
        files(
            "DPtls",
            "CERT_S_SM_DP_TLS_{}.der",
            "SK_S_SM_DP_TLS_{}.pem",
            c,
        ),
        files(
            "DPtls",
            "CERT_S_SM_DP_VARO_TLS_{}.der",
            "SK_S_SM_DP_TLS_{}.pem",
            c,
        ),
    ]
}

/// Reads and parses `dir/rel`; a missing file is `None`, anything else wrong is an error
/// naming the file.
fn read_opt<T>(
    dir: &Path,
    rel: &str,
    parse: impl Fn(&[u8]) -> Result<T, Error>,
) -> Result<Option<T>, Error> {
    let p = dir.join(rel);
    match std::fs::read(&p) {
        Ok(bytes) => parse(&bytes)
            .map(Some)
            .map_err(|e| Error::Io(format!("{}: {e}", p.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io(format!("{}: {e}", p.display()))),
    }
}

fn read_cert(dir: &Path, rel: &str) -> Result<Option<Cert>, Error> {
    read_opt(dir, rel, Cert::from_der)
}

fn read_key(dir: &Path, rel: &str) -> Result<Option<SigningKey>, Error> {
    read_opt(dir, rel, |b| {
        let pem = std::str::from_utf8(b).map_err(|_| Error::Key("PEM file is not text".into()))?;
        SigningKey::from_pem(pem)
    })
}

pub(crate) fn read_pair(dir: &Path, f: &Files) -> Result<Option<Issued>, Error> {
    match (read_cert(dir, &f.cert)?, read_key(dir, &f.key)?) {
        (Some(cert), Some(key)) => {
            if key.public_key() != cert.public_key() {
                return Err(Error::Key(format!(
                    "{} does not hold the key of {}",
                    f.key, f.cert
                )));
            }
            Ok(Some(Issued { cert, key }))
        }
        (Some(_), None) => Err(Error::Io(format!("{} without its key {}", f.cert, f.key))),
        _ => Ok(None),
    }
}

impl Pki {
    /// Loads every curve whose CI certificate is in `dir` (SGP.26 layout).
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let mut curves = Vec::new();
        for curve in Curve::ALL {
            let Some(ci) = read_cert(dir, &ci_files(curve).cert)? else {
                continue;
            };
            let ci_key = read_key(dir, &ci_files(curve).key)?;
            let need = |f: Files, what: &str| {
                read_pair(dir, &f)?.ok_or_else(|| {
                    Error::Io(format!("{}: {what} {} missing", dir.display(), f.cert))
                })
            };
            let dp_auth = need(dpauth_files(curve), "DPauth")?;
            let dp_pb = need(dppb_files(curve), "DPpb")?;
            let mut dp_tls = None;
            for f in dptls_files(curve) {
                if let Some(p) = read_pair(dir, &f)? {
                    dp_tls = Some(p);
                    break;
                }
            }
            let eum = read_cert(dir, &eum_files(curve).cert)?;
            let eum_key = read_key(dir, &eum_files(curve).key)?;
            let euicc = read_pair(dir, &euicc_files(curve))?;
            curves.push(CurvePki {
                curve,
                ci,
                ci_key,
                dp_auth,
                dp_pb,
                dp_tls,
                eum,
                eum_key,
                euicc,
            });
        }
        if curves.is_empty() {
            return Err(Error::Io(format!(
                "{}: no CertificateIssuer/CERT_CI_ECDSA_{{NIST,BRP}}.der",
                dir.display()
            )));
        }
        Ok(Self { curves })
    }

    /// The CIs as a trust store.
    pub fn trust_store(&self, at: SystemTime) -> Result<TrustStore, ChainError> {
        TrustStore::new(self.curves.iter().map(|c| c.ci.clone()).collect(), at)
    }

    /// The curve PKI under the CI with SubjectKeyIdentifier `ski`.
    pub fn by_ci(&self, ski: &[u8]) -> Option<&CurvePki> {
        self.curves.iter().find(|c| c.ci_ski() == ski)
    }

    /// The curve PKI for `curve`.
    pub fn by_curve(&self, curve: Curve) -> Option<&CurvePki> {
        self.curves.iter().find(|c| c.curve == curve)
    }

    /// Checks every chain at `at` and describes each certificate; the first failure is returned.
    pub fn check(&self, at: SystemTime) -> Result<Vec<String>, ChainError> {
        let store = self.trust_store(at)?;
        let mut report = Vec::new();
        for c in &self.curves {
            let ski = hex::encode_upper(c.ci_ski());
            report.push(format!("{}: CI {} (SKI {ski})", c.curve, c.ci.subject));
            for (issued, role) in [
                (Some(&c.dp_auth), Role::DpAuth),
                (Some(&c.dp_pb), Role::DpPb),
                (c.dp_tls.as_ref(), Role::DpTls),
            ] {
                let Some(i) = issued else { continue };
                let v = store.verify_server(&i.cert, role, at, Backend::AwsLc)?;
                report.push(format!(
                    "{}: {role:?} {} oid {} dns {:?} ok",
                    c.curve,
                    i.cert.subject,
                    v.oid.map(|o| o.to_string()).unwrap_or_else(|| "-".into()),
                    v.dns_names
                ));
            }
            if let (Some(eum), Some(euicc)) = (&c.eum, &c.euicc) {
                let v =
                    store.verify_euicc(eum, &euicc.cert, at, Some(c.ci_ski()), Backend::AwsLc)?;
                report.push(format!(
                    "{}: eUICC EID {} under {} ok",
                    c.curve, v.eid, eum.subject
                ));
            }
        }
        Ok(report)
    }

    /// Generates a complete PKI (CI, EUM, eUICC, DPauth, DPpb, DPtls per curve). With a seeded
    /// `rng` the result is identical on every run.
    pub fn generate<R: CryptoRng + ?Sized>(
        opts: &GenerateOptions,
        rng: &mut R,
    ) -> Result<Self, Error> {
        let nb = whole_seconds(opts.not_before);
        let na = nb + opts.lifetime;
        let mut curves = Vec::new();
        for &curve in &opts.curves {
            let t = curve.file_tag();
            let prof = |role: Role, subject: Vec<(&'static str, String)>| Profile {
                role,
                subject,
                not_before: nb,
                not_after: na,
                registered_id: None,
                dns_names: Vec::new(),
                eid_prefix: None,
            };
            let ci_key = SigningKey::generate(curve, rng);
            let ci_cert = issue(
                &Profile {
                    registered_id: Some(vec![2, 999, 1]),
                    ..prof(
                        Role::Ci,
                        vec![
                            ("C", "XZ".into()),
                            ("O", "smdp-sim".into()),
                            ("OU", "TESTCERT".into()),
                            ("CN", format!("smdp-sim Test CI {t}")),
                        ],
                    )
                },
                &ci_key,
                None,
                rng,
            )?;
            let ci = Issued {
                cert: ci_cert,
                key: ci_key,
            };

            let eum_key = SigningKey::generate(curve, rng);
            let eum_org = "smdp-sim Test EUM".to_string();
            let eum_cert = issue(
                &Profile {
                    registered_id: Some(vec![2, 999, 5]),
                    eid_prefix: Some(opts.eid_prefix.clone()),
                    ..prof(
                        Role::Eum,
                        vec![
                            ("C", "XZ".into()),
                            ("O", eum_org.clone()),
                            ("CN", format!("smdp-sim EUM {t}")),
                        ],
                    )
                },
                &eum_key,
                Some(&ci),
                rng,
            )?;
            let eum = Issued {
                cert: eum_cert,
                key: eum_key,
            };

            let eid = default_eid(&opts.eid_prefix, curve)?;
            let euicc_key = SigningKey::generate(curve, rng);
            let euicc_cert = issue(
                &euicc_profile(nb, na, eum_org, &eid, curve),
                &euicc_key,
                Some(&eum),
                rng,
            )?;

            let dp = |role: Role, cn: &str, rng: &mut R| -> Result<Issued, Error> {
                let key = SigningKey::generate(curve, rng);
                let cert = issue(
                    &Profile {
                        registered_id: Some(opts.smdp_oid.clone()),
                        ..prof(role, vec![("O", "smdp-sim".into()), ("CN", cn.to_string())])
                    },
                    &key,
                    Some(&ci),
                    rng,
                )?;
                Ok(Issued { cert, key })
            };
            let dp_auth = dp(Role::DpAuth, "smdp-sim SM-DP+ auth", rng)?;
            let dp_pb = dp(Role::DpPb, "smdp-sim SM-DP+ pb", rng)?;
            let dp_tls = issue_tls(&ci, &opts.hosts, &opts.smdp_oid, nb, na, rng)?;
            curves.push(CurvePki {
                curve,
                ci_key: Some(ci.key),
                ci: ci.cert,
                dp_auth,
                dp_pb,
                dp_tls: Some(dp_tls),
                eum: Some(eum.cert),
                eum_key: Some(eum.key),
                euicc: Some(Issued {
                    cert: euicc_cert,
                    key: euicc_key,
                }),
            });
        }
        Ok(Self { curves })
    }

    /// Writes every certificate (DER) and key (SEC1 PEM) in the SGP.26 layout under `dir`.
    pub fn write(&self, dir: &Path) -> Result<Vec<String>, Error> {
        let mut written = Vec::new();
        let mut put = |rel: &str, bytes: &[u8]| -> Result<(), Error> {
            let p = dir.join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| Error::Io(format!("{}: {e}", parent.display())))?;
            }
            std::fs::write(&p, bytes).map_err(|e| Error::Io(format!("{}: {e}", p.display())))?;
            written.push(rel.to_string());
            Ok(())
        };
        for c in &self.curves {
            let f = ci_files(c.curve);
            put(&f.cert, c.ci.der())?;
            if let Some(k) = &c.ci_key {
                put(&f.key, k.to_sec1_pem()?.as_bytes())?;
            }
            let pairs = [
                (dpauth_files(c.curve), Some(&c.dp_auth)),
                (dppb_files(c.curve), Some(&c.dp_pb)),
                (euicc_files(c.curve), c.euicc.as_ref()),
            ];
            for (f, issued) in pairs {
                if let Some(i) = issued {
                    put(&f.cert, i.cert.der())?;
                    put(&f.key, i.key.to_sec1_pem()?.as_bytes())?;
                }
            }
            if let Some(i) = &c.dp_tls {
                let [f, _] = dptls_files(c.curve);
                put(&f.cert, i.cert.der())?;
                put(&f.key, i.key.to_sec1_pem()?.as_bytes())?;
            }
            let f = eum_files(c.curve);
            if let Some(e) = &c.eum {
                put(&f.cert, e.der())?;
            }
            if let Some(k) = &c.eum_key {
                put(&f.key, k.to_sec1_pem()?.as_bytes())?;
            }
        }
        Ok(written)
    }
}

/// The eUICC EID of a generated PKI: the EUM prefix, a curve-specific body, check digits.
pub fn default_eid(prefix: &str, curve: Curve) -> Result<Eid, Error> {
    let body = match curve {
        Curve::NistP256 => "0000000000000000000001",
        Curve::BrainpoolP256r1 => "0000000000000000000002",
    };
    let mut digits = format!("{prefix}{body}");
    digits.truncate(30);
    while digits.len() < 30 {
        digits.push('0');
    }
    Eid::with_check_digits(&digits).map_err(|e| Error::Certificate(e.to_string()))
}

/// Issues a DPtls certificate under `ci` for `hosts` (DNS names or IP addresses) with the
/// SM-DP+ OID: a fresh one for any host name, also under the SGP.26 CI whose shipped TLS
/// certificates expire in February 2027.
pub fn issue_tls<R: CryptoRng + ?Sized>(
    ci: &Issued,
    hosts: &[String],
    smdp_oid: &[u32],
    not_before: SystemTime,
    not_after: SystemTime,
    rng: &mut R,
) -> Result<Issued, Error> {
    let key = SigningKey::generate(ci.key.curve(), rng);
    let cn = hosts.first().cloned().unwrap_or_else(|| "smdp-sim".into());
    let cert = issue(
        &Profile {
            role: Role::DpTls,
            subject: vec![("O", "smdp-sim".into()), ("CN", cn)],
            not_before: whole_seconds(not_before),
            not_after: whole_seconds(not_after),
            registered_id: Some(smdp_oid.to_vec()),
            dns_names: hosts.to_vec(),
            eid_prefix: None,
        },
        &key,
        Some(ci),
        rng,
    )?;
    Ok(Issued { cert, key })
}
