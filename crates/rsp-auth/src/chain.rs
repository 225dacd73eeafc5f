//! Certificate chains checked by SGP.22 rules, not generic RFC 5280 path validation.
//!
//! RFC 5280 validators reject the SGP.26 eUICC chain: the EUM certificate carries a critical
//! nameConstraints whose directoryName holds only an EID prefix, which generic name matching
//! does not satisfy. SGP.22 instead links CI → EUM → eUICC by key identifiers and checks the
//! EID (subject serialNumber) against the EUM's permitted prefixes. Every failure names the
//! certificate and the rule; the SM-DP+ maps it to its ES9+ status code in its one error table
//! (`smdp_core::status`), so this crate stays a plain domain error.

use std::time::SystemTime;

use rsp_asn1::ids::Eid;
use x509_cert::ext::pkix::KeyUsages;

use crate::cert::{Cert, Role, Validity};
use crate::key::{Backend, PublicKey};

/// Which certificate of a chain failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Ci,
    Eum,
    Euicc,
    /// An SM-DP+ (or SM-DS) certificate of this role.
    Server(Role),
}

/// The SGP.22 rule a certificate broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The issuing CI (by AuthorityKeyIdentifier) is not trusted, or not the one requested.
    UnknownCi,
    /// AKI missing or not the issuer's SKI, or issuer DN not the issuer's subject.
    Linkage,
    /// The issuer's signature does not verify.
    Signature,
    NotYetValid,
    Expired,
    /// The role policy OID (2.23.146.1.2.1.x) is missing or wrong.
    Policy,
    /// Key usage or basic constraints do not fit the role.
    Usage,
    /// The key is on another curve than its CI.
    Curve,
    /// The EID (subject serialNumber) is missing, not 32 digits, or has wrong check digits.
    EidFormat,
    /// The EID is outside the EUM's permitted prefixes.
    EidOutsideRange,
    /// A critical extension this checker does not know.
    UnknownCriticalExtension,
    /// A required field (SKI, SAN registeredID) is missing.
    Missing,
}

/// A chain check failure: which certificate, which rule, and the details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{which:?} certificate ({subject}): {rule:?}: {detail}")]
pub struct ChainError {
    pub which: Which,
    pub rule: Rule,
    pub subject: String,
    pub detail: String,
}

impl ChainError {
    fn new(which: Which, rule: Rule, cert: &Cert, detail: impl Into<String>) -> Self {
        Self {
            which,
            rule,
            subject: cert.subject.clone(),
            detail: detail.into(),
        }
    }
}

/// An eUICC whose chain verified: its EID and key, and the CI it chains to.
#[derive(Debug, Clone)]
pub struct VerifiedEuicc {
    pub eid: Eid,
    pub public_key: PublicKey,
    pub ci_ski: Vec<u8>,
}

/// An SM-DP+ certificate that verified.
#[derive(Debug, Clone)]
pub struct VerifiedServer {
    pub public_key: PublicKey,
    pub ci_ski: Vec<u8>,
    /// SAN registeredID: the SM-DP+ OID.
    pub oid: Option<rsp_asn1::ObjectIdentifier>,
    pub dns_names: Vec<String>,
}

/// Trusted CIs (one per curve, or several), by SubjectKeyIdentifier.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    cis: Vec<Cert>,
    /// EUM certificates whose CI signature verified (SHA-256 of the CI's and the EUM's DER):
    /// every eUICC of an EUM presents the same CERT.EUM, so a server checks that signature
    /// once, not at every download. Only the signature is remembered: dates, role, usage and
    /// critical extensions are checked at every use. Bounded; shared by clones.
    verified_eums: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<[u8; 32]>>>,
}

/// How many verified CERT.EUMs a trust store remembers.
const VERIFIED_EUMS: usize = 64;

impl TrustStore {
    /// Trusts `cis` after checking each is a self-signed SGP.22 CI certificate with an SKI,
    /// valid at `at`. Build it once (the self-signature checks cost ~0.6 ms for two CIs): the
    /// verify functions check the CI's validity again at their own time.
    pub fn new(cis: Vec<Cert>, at: SystemTime) -> Result<Self, ChainError> {
        for ci in &cis {
            let w = Which::Ci;
            if ci.subject_key_id.is_none() {
                return Err(ChainError::new(
                    w,
                    Rule::Missing,
                    ci,
                    "no SubjectKeyIdentifier",
                ));
            }
            if !ci.is_self_issued() {
                return Err(ChainError::new(w, Rule::Linkage, ci, "not self-issued"));
            }
            ci.verify_signed_by(ci.public_key(), Backend::RustCrypto)
                .map_err(|e| ChainError::new(w, Rule::Signature, ci, e.to_string()))?;
            validity(w, ci, at)?;
            if ci.role() != Some(Role::Ci) {
                return Err(ChainError::new(
                    w,
                    Rule::Policy,
                    ci,
                    "not the CI policy 2.23.146.1.2.1.0",
                ));
            }
            if !ci.has_key_usage(KeyUsages::KeyCertSign) {
                return Err(ChainError::new(w, Rule::Usage, ci, "no keyCertSign"));
            }
        }
        Ok(Self {
            cis,
            verified_eums: Default::default(),
        })
    }

    /// `issued_by` for a CERT.EUM, remembered when it verified.
    fn eum_issued_by(&self, eum: &Cert, ci: &Cert, backend: Backend) -> Result<(), ChainError> {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(ci.der());
        h.update(eum.der());
        let key: [u8; 32] = h.finalize().into();
        let known = || self.verified_eums.lock().unwrap_or_else(|p| p.into_inner());
        if known().contains(&key) {
            return Ok(());
        }
        issued_by(Which::Eum, eum, ci, backend)?;
        let mut k = known();
        if k.len() == VERIFIED_EUMS {
            k.pop_front();
        }
        k.push_back(key);
        Ok(())
    }

    /// The trusted CI certificates.
    pub fn cis(&self) -> &[Cert] {
        &self.cis
    }

    /// The CI whose SKI is `ski`.
    pub fn ci(&self, ski: &[u8]) -> Option<&Cert> {
        self.cis
            .iter()
            .find(|c| c.subject_key_id.as_deref() == Some(ski))
    }

    /// CI → EUM → eUICC. `expected_ci` is the CI PKID the SM-DP+ chose in
    /// initiateAuthentication: the EUM must chain to it (else 8.11.1/3.9).
    pub fn verify_euicc(
        &self,
        eum: &Cert,
        euicc: &Cert,
        at: SystemTime,
        expected_ci: Option<&[u8]>,
        backend: Backend,
    ) -> Result<VerifiedEuicc, ChainError> {
        let w = Which::Eum;
        let aki = eum
            .authority_key_id
            .as_deref()
            .ok_or_else(|| ChainError::new(w, Rule::Linkage, eum, "no AuthorityKeyIdentifier"))?;
        let ci = self.ci(aki).ok_or_else(|| {
            ChainError::new(
                w,
                Rule::UnknownCi,
                eum,
                format!("issued by unknown CI {}", hex::encode_upper(aki)),
            )
        })?;
        // The store may be long-lived (a server's): the CI's own dates are checked at `at`.
        validity(Which::Ci, ci, at)?;
        if let Some(want) = expected_ci {
            if want != aki {
                return Err(ChainError::new(
                    w,
                    Rule::UnknownCi,
                    eum,
                    format!(
                        "issued by CI {}, not the requested {}",
                        hex::encode_upper(aki),
                        hex::encode_upper(want)
                    ),
                ));
            }
        }
        self.eum_issued_by(eum, ci, backend)?;
        validity(w, eum, at)?;
        role(w, eum, Role::Eum)?;
        if !eum.has_key_usage(KeyUsages::KeyCertSign) {
            return Err(ChainError::new(w, Rule::Usage, eum, "no keyCertSign"));
        }
        if !eum.basic_constraints.as_ref().is_some_and(|b| b.ca) {
            return Err(ChainError::new(
                w,
                Rule::Usage,
                eum,
                "not a CA (basicConstraints)",
            ));
        }
        critical(w, eum)?;

        let w = Which::Euicc;
        let aki = euicc
            .authority_key_id
            .as_deref()
            .ok_or_else(|| ChainError::new(w, Rule::Linkage, euicc, "no AuthorityKeyIdentifier"))?;
        if eum.subject_key_id.as_deref() != Some(aki) {
            return Err(ChainError::new(
                w,
                Rule::Linkage,
                euicc,
                "AuthorityKeyIdentifier is not the EUM's key",
            ));
        }
        issued_by(w, euicc, eum, backend)?;
        validity(w, euicc, at)?;
        role(w, euicc, Role::Euicc)?;
        if !euicc.has_key_usage(KeyUsages::DigitalSignature) {
            return Err(ChainError::new(
                w,
                Rule::Usage,
                euicc,
                "no digitalSignature",
            ));
        }
        critical(w, euicc)?;
        let sn = euicc.subject_serial_number.as_deref().ok_or_else(|| {
            ChainError::new(w, Rule::EidFormat, euicc, "no subject serialNumber (EID)")
        })?;
        let eid = Eid::parse_unchecked(sn)
            .map_err(|e| ChainError::new(w, Rule::EidFormat, euicc, e.to_string()))?;
        // Range before check digits: an EID from another issuer's range is reported as such.
        match &eum.permitted_eid_prefixes {
            Some(prefixes) if !prefixes.iter().any(|p| sn.starts_with(p.as_str())) => {
                return Err(ChainError::new(
                    w,
                    Rule::EidOutsideRange,
                    euicc,
                    format!("EID {sn} is outside the EUM's permitted {prefixes:?}"),
                ));
            }
            _ => {}
        }
        if !eid.check_digits_ok() {
            return Err(ChainError::new(
                w,
                Rule::EidFormat,
                euicc,
                format!("EID {sn} has wrong check digits"),
            ));
        }
        Ok(VerifiedEuicc {
            eid,
            public_key: euicc.public_key().clone(),
            ci_ski: ci.subject_key_id.clone().unwrap_or_default(),
        })
    }

    /// CI → DPauth / DPpb / DPtls (or SM-DS) certificate of `role`.
    pub fn verify_server(
        &self,
        cert: &Cert,
        role_wanted: Role,
        at: SystemTime,
        backend: Backend,
    ) -> Result<VerifiedServer, ChainError> {
        let w = Which::Server(role_wanted);
        let aki = cert
            .authority_key_id
            .as_deref()
            .ok_or_else(|| ChainError::new(w, Rule::Linkage, cert, "no AuthorityKeyIdentifier"))?;
        let ci = self.ci(aki).ok_or_else(|| {
            ChainError::new(
                w,
                Rule::UnknownCi,
                cert,
                format!("issued by unknown CI {}", hex::encode_upper(aki)),
            )
        })?;
        // The store may be long-lived (a server's): the CI's own dates are checked at `at`.
        validity(Which::Ci, ci, at)?;
        issued_by(w, cert, ci, backend)?;
        validity(w, cert, at)?;
        role(w, cert, role_wanted)?;
        if !cert.has_key_usage(KeyUsages::DigitalSignature) {
            return Err(ChainError::new(w, Rule::Usage, cert, "no digitalSignature"));
        }
        critical(w, cert)?;
        let oid = cert.registered_ids.first().cloned();
        if oid.is_none() && matches!(role_wanted, Role::DpAuth | Role::DpPb) {
            return Err(ChainError::new(
                w,
                Rule::Missing,
                cert,
                "no SAN registeredID (SM-DP+ OID)",
            ));
        }
        Ok(VerifiedServer {
            public_key: cert.public_key().clone(),
            ci_ski: ci.subject_key_id.clone().unwrap_or_default(),
            oid,
            dns_names: cert.dns_names.clone(),
        })
    }
}

fn issued_by(w: Which, child: &Cert, parent: &Cert, backend: Backend) -> Result<(), ChainError> {
    if !child.issuer_is(parent) {
        return Err(ChainError::new(
            w,
            Rule::Linkage,
            child,
            format!("issuer {} is not {}", child.issuer, parent.subject),
        ));
    }
    if child.curve() != parent.curve() {
        return Err(ChainError::new(
            w,
            Rule::Curve,
            child,
            format!("key on {}, issuer on {}", child.curve(), parent.curve()),
        ));
    }
    child
        .verify_signed_by(parent.public_key(), backend)
        .map_err(|e| ChainError::new(w, Rule::Signature, child, e.to_string()))
}

fn validity(w: Which, c: &Cert, at: SystemTime) -> Result<(), ChainError> {
    c.valid_at(at).map_err(|v| match v {
        Validity::Expired => ChainError::new(w, Rule::Expired, c, "notAfter has passed"),
        Validity::NotYetValid => {
            ChainError::new(w, Rule::NotYetValid, c, "notBefore is in the future")
        }
    })
}

fn role(w: Which, c: &Cert, want: Role) -> Result<(), ChainError> {
    match c.role() {
        Some(r) if r == want => Ok(()),
        other => Err(ChainError::new(
            w,
            Rule::Policy,
            c,
            format!(
                "policy role {other:?}, expected {want:?} ({})",
                want.policy_oid()
            ),
        )),
    }
}

fn critical(w: Which, c: &Cert) -> Result<(), ChainError> {
    match c.unknown_critical.first() {
        Some(oid) => Err(ChainError::new(
            w,
            Rule::UnknownCriticalExtension,
            c,
            oid.to_string(),
        )),
        None => Ok(()),
    }
}
