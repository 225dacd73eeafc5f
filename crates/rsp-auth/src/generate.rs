//! Issuing certificates with the SGP.22 certificate profiles (as the SGP.26 samples show them).
//!
//! The tbsCertificate is assembled from DER pieces here rather than through a generic builder:
//! the profiles need exact control (PrintableString serialNumber EIDs, nameConstraints holding
//! an EID prefix, registeredIDs under 2.999 that const-oid cannot encode), and the output must
//! be byte-for-byte reproducible from a seed. Every certificate made here is parsed back with
//! x509-cert and checked by [`crate::chain`] in the tests.

use std::time::{Duration, SystemTime};

use const_oid::ObjectIdentifier;
use der::Encode as _;
use rand_core::CryptoRng;
use rsp_asn1::bits::NamedBits;
use rsp_asn1::tlv::push_tlv;
use sha2::Digest as _;

use crate::cert::{oid_to_content, Cert, Role, OID_ECDSA_WITH_SHA256, OID_EC_PUBLIC_KEY};
use crate::curve::Curve;
use crate::key::{Backend, PublicKey, SigningKey};
use crate::Error;

/// A certificate with its private key: what can issue (CI, EUM) or sign (DPauth, eUICC, …).
pub struct Issued {
    pub cert: Cert,
    pub key: SigningKey,
}

/// What to put in a new certificate besides its key.
#[derive(Debug, Clone)]
pub struct Profile {
    pub role: Role,
    /// Subject DN attributes in order, e.g. `[("C","ES"), ("O","RSP Test EUM"), ("CN","EUM")]`.
    /// Supported: C, O, OU, CN, serialNumber.
    pub subject: Vec<(&'static str, String)>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// SAN registeredID (SM-DP+/CI/EUM OID), as arcs.
    pub registered_id: Option<Vec<u32>>,
    /// SAN entries (DPtls): dNSNames, or iPAddresses for entries that parse as one.
    pub dns_names: Vec<String>,
    /// EUM: EID prefix permitted in nameConstraints (with the EUM's O).
    pub eid_prefix: Option<String>,
}

/// KeyUsage bit numbers (RFC 5280).
const KU_DIGITAL_SIGNATURE: usize = 0;
const KU_KEY_CERT_SIGN: usize = 5;
const KU_CRL_SIGN: usize = 6;

fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.len() + 4);
    push_tlv(&mut v, &[tag], value);
    v
}

fn oid_der(oid: &ObjectIdentifier) -> Vec<u8> {
    tlv(0x06, oid.as_bytes())
}

fn attr_oid(name: &str) -> Result<(ObjectIdentifier, u8), Error> {
    use const_oid::db::rfc4519::{
        COMMON_NAME, COUNTRY_NAME, ORGANIZATIONAL_UNIT_NAME, ORGANIZATION_NAME, SERIAL_NUMBER,
    };
    // Country and serialNumber are PrintableString (X.520); the others UTF8String.
    Ok(match name {
        "C" => (COUNTRY_NAME, 0x13),
        "O" => (ORGANIZATION_NAME, 0x0C),
        "OU" => (ORGANIZATIONAL_UNIT_NAME, 0x0C),
        "CN" => (COMMON_NAME, 0x0C),
        "serialNumber" => (SERIAL_NUMBER, 0x13),
        other => {
            return Err(Error::Certificate(format!(
                "unsupported DN attribute {other}"
            )))
        }
    })
}

/// DER `Name` from (attribute, value) pairs, one RDN each.
pub fn name_der(attrs: &[(&str, String)]) -> Result<Vec<u8>, Error> {
    let mut rdns = Vec::new();
    for (a, v) in attrs {
        let (oid, tag) = attr_oid(a)?;
        let atv = tlv(0x30, &[oid_der(&oid), tlv(tag, v.as_bytes())].concat());
        rdns.extend(tlv(0x31, &atv));
    }
    Ok(tlv(0x30, &rdns))
}

fn spki_der(pk: &PublicKey) -> Vec<u8> {
    let alg = tlv(
        0x30,
        &[oid_der(&OID_EC_PUBLIC_KEY), oid_der(&pk.curve().oid())].concat(),
    );
    let mut bits = vec![0u8];
    bits.extend_from_slice(pk.sec1_uncompressed());
    tlv(0x30, &[alg, tlv(0x03, &bits)].concat())
}

/// Key identifier: SHA-256 of the public key point truncated to 20 bytes (RFC 7093 §2 (1)),
/// the size SGP.22 PKIDs have.
pub fn key_identifier(pk: &PublicKey) -> Vec<u8> {
    sha2::Sha256::digest(pk.sec1_uncompressed())[..20].to_vec()
}

fn extension(oid: &ObjectIdentifier, critical: bool, value: &[u8]) -> Vec<u8> {
    let mut body = oid_der(oid);
    if critical {
        body.extend([0x01, 0x01, 0xFF]);
    }
    body.extend(tlv(0x04, value));
    tlv(0x30, &body)
}

fn time_der(t: SystemTime) -> Result<Vec<u8>, Error> {
    x509_cert::time::Time::try_from(t)
        .and_then(|t| t.to_der())
        .map_err(|e| Error::Certificate(format!("time: {e}")))
}

fn key_usage(bits: &[usize]) -> Result<Vec<u8>, Error> {
    rsp_asn1::encode(&NamedBits::from_bits(bits)).map_err(|e| Error::Certificate(e.to_string()))
}

/// Issues a certificate for `subject_key` with `profile`, signed by `issuer` (or self-signed
/// with `None`). Serial numbers come from `rng`; signatures use the deterministic backend so a
/// seeded run reproduces the same bytes.
pub fn issue<R: CryptoRng + ?Sized>(
    profile: &Profile,
    subject_key: &SigningKey,
    issuer: Option<&Issued>,
    rng: &mut R,
) -> Result<Cert, Error> {
    issue_with(profile, subject_key, issuer, rng, Backend::RustCrypto)
}

/// [`issue`], signed by `backend` (aws-lc: several times faster, randomised signatures).
pub fn issue_with<R: CryptoRng + ?Sized>(
    profile: &Profile,
    subject_key: &SigningKey,
    issuer: Option<&Issued>,
    rng: &mut R,
    backend: Backend,
) -> Result<Cert, Error> {
    use const_oid::db::rfc5280::*;
    let subject = name_der(&profile.subject)?;
    let signer = Signer::new(&subject, subject_key, issuer)?;
    let mut exts = signer.key_identifiers();
    let (ku, ca): (&[usize], Option<Option<u8>>) = match profile.role {
        Role::Ci => (&[KU_KEY_CERT_SIGN, KU_CRL_SIGN], Some(None)),
        Role::Eum => (&[KU_KEY_CERT_SIGN], Some(Some(0))),
        _ => (&[KU_DIGITAL_SIGNATURE], None),
    };
    exts.push(extension(&ID_CE_KEY_USAGE, true, &key_usage(ku)?));
    let policy = tlv(0x30, &tlv(0x30, &oid_der(&profile.role.policy_oid())));
    // DPtls is checked by TLS stacks that reject unknown critical extensions: non-critical
    // there (as in the SGP.26 DPtls), critical elsewhere.
    exts.push(extension(
        &ID_CE_CERTIFICATE_POLICIES,
        profile.role != Role::DpTls,
        &policy,
    ));
    if let Some(path_len) = ca {
        let mut bc = vec![0x01, 0x01, 0xFF];
        if let Some(p) = path_len {
            bc.extend([0x02, 0x01, p]);
        }
        exts.push(extension(&ID_CE_BASIC_CONSTRAINTS, true, &tlv(0x30, &bc)));
    }
    let mut san = Vec::new();
    for d in &profile.dns_names {
        match d.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) => san.extend(tlv(0x87, &ip.octets())),
            Ok(std::net::IpAddr::V6(ip)) => san.extend(tlv(0x87, &ip.octets())),
            Err(_) => san.extend(tlv(0x82, d.as_bytes())),
        }
    }
    if let Some(rid) = &profile.registered_id {
        san.extend(tlv(0x88, &oid_to_content(rid)));
    }
    if !san.is_empty() {
        exts.push(extension(&ID_CE_SUBJECT_ALT_NAME, false, &tlv(0x30, &san)));
    }
    if let Some(prefix) = &profile.eid_prefix {
        let org = profile
            .subject
            .iter()
            .find(|(a, _)| *a == "O")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let dn = name_der(&[("O", org), ("serialNumber", prefix.clone())])?;
        let subtree = tlv(0x30, &tlv(0xA4, &dn));
        exts.push(extension(
            &ID_CE_NAME_CONSTRAINTS,
            true,
            &tlv(0x30, &tlv(0xA0, &subtree)),
        ));
    }
    if profile.role == Role::DpTls {
        let eku = [
            oid_der(&ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1")),
            oid_der(&ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2")),
        ]
        .concat();
        exts.push(extension(&ID_CE_EXT_KEY_USAGE, false, &tlv(0x30, &eku)));
    }

    signer.sign(
        subject,
        &exts,
        (profile.not_before, profile.not_after),
        rng,
        backend,
    )
}

/// Who signs a new certificate, and the key identifiers that link it to its issuer.
struct Signer<'a> {
    subject_key: &'a SigningKey,
    issuer_name: Vec<u8>,
    issuer_key: &'a SigningKey,
    aki: Option<Vec<u8>>,
}

impl<'a> Signer<'a> {
    fn new(
        subject: &[u8],
        subject_key: &'a SigningKey,
        issuer: Option<&'a Issued>,
    ) -> Result<Self, Error> {
        let (issuer_name, issuer_key, aki) = match issuer {
            Some(i) => (
                i.cert.subject_der().to_vec(),
                &i.key,
                Some(i.cert.subject_key_id.clone().ok_or_else(|| {
                    Error::Certificate("issuer has no SubjectKeyIdentifier".into())
                })?),
            ),
            None => (subject.to_vec(), subject_key, None),
        };
        if issuer_key.curve() != subject_key.curve() {
            return Err(Error::Certificate(
                "issuer and subject keys are on different curves".into(),
            ));
        }
        Ok(Self {
            subject_key,
            issuer_name,
            issuer_key,
            aki,
        })
    }

    /// AuthorityKeyIdentifier (unless self-signed) and SubjectKeyIdentifier.
    fn key_identifiers(&self) -> Vec<Vec<u8>> {
        use const_oid::db::rfc5280::*;
        let mut exts = Vec::new();
        if let Some(aki) = &self.aki {
            exts.push(extension(
                &ID_CE_AUTHORITY_KEY_IDENTIFIER,
                false,
                &tlv(0x30, &tlv(0x80, aki)),
            ));
        }
        exts.push(extension(
            &ID_CE_SUBJECT_KEY_IDENTIFIER,
            false,
            &tlv(0x04, &key_identifier(self.subject_key.public_key())),
        ));
        exts
    }

    /// The signed certificate: a random positive 8-byte serial, ECDSA with SHA-256.
    fn sign<R: CryptoRng + ?Sized>(
        &self,
        subject: Vec<u8>,
        exts: &[Vec<u8>],
        (not_before, not_after): (SystemTime, SystemTime),
        rng: &mut R,
        backend: Backend,
    ) -> Result<Cert, Error> {
        let mut serial = [0u8; 8];
        rng.fill_bytes(&mut serial);
        serial[0] = (serial[0] & 0x7F) | 0x01; // positive, 8 bytes, never zero
        let alg = tlv(0x30, &oid_der(&OID_ECDSA_WITH_SHA256));
        let validity = tlv(
            0x30,
            &[time_der(not_before)?, time_der(not_after)?].concat(),
        );
        let tbs = tlv(
            0x30,
            &[
                vec![0xA0, 0x03, 0x02, 0x01, 0x02],
                tlv(0x02, &serial),
                alg.clone(),
                self.issuer_name.clone(),
                validity,
                subject,
                spki_der(self.subject_key.public_key()),
                tlv(0xA3, &tlv(0x30, &exts.concat())),
            ]
            .concat(),
        );
        let sig = self.issuer_key.sign_der(&tbs, backend)?;
        let mut bits = vec![0u8];
        bits.extend(sig);
        let der = tlv(0x30, &[tbs, alg, tlv(0x03, &bits)].concat());
        Cert::from_der(&der)
    }
}

/// An operator's ES2+ TLS certificates. ES2+ runs over mutually authenticated TLS between an
/// operator and its SM-DP+ (SGP.22 §2.6.6): outside the GSMA role profiles, so these are plain
/// X.509 TLS certificates that any TLS stack checks (no SGP.22 policy OIDs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorCert {
    /// The CA the SM-DP+ trusts for operator clients: keyCertSign and cRLSign, CA with
    /// pathLen 0, self-signed.
    Ca,
    /// A function requester's client certificate: digitalSignature, extendedKeyUsage
    /// clientAuth, the requester's identifier as CN and dNSName.
    Client,
}

/// Issues an operator certificate of `kind` for `subject_key` (`issuer` `None`: self-signed).
pub fn issue_operator<R: CryptoRng + ?Sized>(
    kind: OperatorCert,
    subject: &[(&'static str, String)],
    dns_names: &[String],
    validity: (SystemTime, SystemTime),
    subject_key: &SigningKey,
    issuer: Option<&Issued>,
    rng: &mut R,
) -> Result<Cert, Error> {
    use const_oid::db::rfc5280::*;
    let subject = name_der(subject)?;
    let signer = Signer::new(&subject, subject_key, issuer)?;
    let mut exts = signer.key_identifiers();
    match kind {
        OperatorCert::Ca => {
            exts.push(extension(
                &ID_CE_KEY_USAGE,
                true,
                &key_usage(&[KU_KEY_CERT_SIGN, KU_CRL_SIGN])?,
            ));
            exts.push(extension(
                &ID_CE_BASIC_CONSTRAINTS,
                true,
                &tlv(0x30, &[0x01, 0x01, 0xFF, 0x02, 0x01, 0x00]),
            ));
        }
        OperatorCert::Client => {
            exts.push(extension(
                &ID_CE_KEY_USAGE,
                true,
                &key_usage(&[KU_DIGITAL_SIGNATURE])?,
            ));
            let eku = oid_der(&ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2"));
            exts.push(extension(&ID_CE_EXT_KEY_USAGE, false, &tlv(0x30, &eku)));
            let san: Vec<u8> = dns_names
                .iter()
                .flat_map(|d| tlv(0x82, d.as_bytes()))
                .collect();
            if !san.is_empty() {
                exts.push(extension(&ID_CE_SUBJECT_ALT_NAME, false, &tlv(0x30, &san)));
            }
        }
    }
    let (nb, na) = validity;
    signer.sign(
        subject,
        &exts,
        (whole_seconds(nb), whole_seconds(na)),
        rng,
        Backend::RustCrypto,
    )
}

/// `t` rounded down to whole seconds (X.509 times have no fractions).
pub fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// Convenience for callers choosing a curve by name.
pub fn parse_curves(s: &str) -> Result<Vec<Curve>, Error> {
    match s {
        "nist" => Ok(vec![Curve::NistP256]),
        "brp" => Ok(vec![Curve::BrainpoolP256r1]),
        "both" => Ok(Curve::ALL.to_vec()),
        other => Err(Error::Key(format!(
            "curve {other:?}: expected nist, brp or both"
        ))),
    }
}
