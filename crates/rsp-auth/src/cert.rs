//! A parsed view of an SGP.22 certificate: what chain checks and the protocol need.
//!
//! Parsing uses `x509-cert`; the signed `tbsCertificate` bytes are sliced from the received DER
//! (never re-encoded), like every other SGP.22 signature input.

use std::time::{Duration, SystemTime};

use const_oid::db::rfc4519::SERIAL_NUMBER;
use const_oid::ObjectIdentifier;
use der::{Decode as _, Encode as _};
use rsp_asn1::tlv::Tlv;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies, KeyUsage, KeyUsages,
    NameConstraints, SubjectKeyIdentifier,
};

use crate::curve::Curve;
use crate::key::PublicKey;
use crate::Error;

/// `ecdsa-with-SHA256`.
pub const OID_ECDSA_WITH_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// `id-ecPublicKey`.
pub const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// SGP.22 `permittedEins` extension (newer EUM variants), `SEQUENCE OF PrintableString`.
pub const OID_PERMITTED_EINS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.146.1.2.2.0");

/// SGP.22 certificate roles, by their policy OID `2.23.146.1.2.1.n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Ci,
    Euicc,
    Eum,
    DpTls,
    DpAuth,
    DpPb,
    DsTls,
    DsAuth,
}

impl Role {
    /// `id-rspRole-*` policy OID.
    pub fn policy_oid(self) -> ObjectIdentifier {
        let n = match self {
            Role::Ci => "0",
            Role::Euicc => "1",
            Role::Eum => "2",
            Role::DpTls => "3",
            Role::DpAuth => "4",
            Role::DpPb => "5",
            Role::DsTls => "6",
            Role::DsAuth => "7",
        };
        ObjectIdentifier::new_unwrap("2.23.146.1.2.1")
            .push_arc(n.parse().unwrap_or(0))
            .unwrap_or(ObjectIdentifier::new_unwrap("2.23.146.1.2.1"))
    }

    /// The role a policy OID names; v3 EUM variants use `2.23.146.1.2.1.0.0.0`.
    pub fn from_policy(oid: &ObjectIdentifier) -> Option<Self> {
        if oid.to_string() == "2.23.146.1.2.1.0.0.0" {
            return Some(Role::Eum);
        }
        [
            Role::Ci,
            Role::Euicc,
            Role::Eum,
            Role::DpTls,
            Role::DpAuth,
            Role::DpPb,
            Role::DsTls,
            Role::DsAuth,
        ]
        .into_iter()
        .find(|r| r.policy_oid() == *oid)
    }
}

/// A certificate, parsed once.
#[derive(Clone)]
pub struct Cert {
    der: Vec<u8>,
    /// The signed `tbsCertificate` TLV, sliced from `der`.
    tbs_range: core::ops::Range<usize>,
    /// DER `SEQUENCE { r, s }` from the signature BIT STRING.
    signature: Vec<u8>,
    signature_algorithm: ObjectIdentifier,
    public_key: PublicKey,
    /// Subject and issuer as RFC 4514 text, for messages.
    pub subject: String,
    pub issuer: String,
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub subject_key_id: Option<Vec<u8>>,
    pub authority_key_id: Option<Vec<u8>>,
    pub policies: Vec<ObjectIdentifier>,
    pub key_usage: Option<KeyUsage>,
    pub basic_constraints: Option<BasicConstraints>,
    /// Subject `serialNumber` attribute (the EID in an eUICC certificate).
    pub subject_serial_number: Option<String>,
    /// Subject `organizationName` (an EUM's: CERT.EUICC repeats it).
    pub subject_organization: Option<String>,
    /// SAN `registeredID`s (the SM-DP+ OID).
    pub registered_ids: Vec<rsp_asn1::ObjectIdentifier>,
    /// SAN `dNSName`s, and `iPAddress`es in text form.
    pub dns_names: Vec<String>,
    /// EID prefixes this (EUM) certificate permits: nameConstraints directoryName
    /// `serialNumber` values, or the `permittedEins` extension.
    pub permitted_eid_prefixes: Option<Vec<String>>,
    /// Critical extensions this view does not interpret.
    pub unknown_critical: Vec<ObjectIdentifier>,
}

impl core::fmt::Debug for Cert {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Cert({})", self.subject)
    }
}

/// The tbsCertificate TLV of a certificate's DER (sliced, never re-encoded).
fn tbs_tlv(der: &[u8]) -> Result<Tlv<'_>, Error> {
    let outer = Tlv::read_exact(der).map_err(|e| bad(format!("not one DER TLV: {e}")))?;
    outer
        .children()
        .next()
        .ok_or_else(|| bad("empty certificate"))?
        .map_err(|e| bad(format!("tbsCertificate: {e}")))
}

fn bad(what: impl Into<String>) -> Error {
    Error::Certificate(what.into())
}

fn time(t: &x509_cert::time::Time) -> SystemTime {
    SystemTime::UNIX_EPOCH + t.to_unix_duration()
}

impl Cert {
    /// Parses a DER certificate. Only EC keys on the two SGP.22 curves and ECDSA-SHA256
    /// signatures are accepted.
    /// The subject public key of a certificate this process parsed and verified before (a
    /// session's CERT.EUICC): found by walking the TLVs to the SubjectPublicKeyInfo, without
    /// the full X.509 parse (a fifth of a download's certificate work). Anything unexpected
    /// is an error, never a guess.
    pub fn public_key_of(der: &[u8]) -> Result<PublicKey, Error> {
        let tbs = tbs_tlv(der)?;
        // version [0] (optional), serialNumber, signature, issuer, validity, subject, SPKI.
        let mut fields = tbs.children().peekable();
        if let Some(Ok(v)) = fields.peek() {
            if v.tag == [0xA0] {
                fields.next();
            }
        }
        let spki = fields
            .nth(5)
            .ok_or_else(|| bad("no subjectPublicKeyInfo"))?
            .map_err(|e| bad(format!("tbsCertificate: {e}")))?;
        let mut parts = spki.children();
        let alg = parts
            .next()
            .ok_or_else(|| bad("no SPKI algorithm"))?
            .map_err(|e| bad(e.to_string()))?;
        let key = parts
            .next()
            .ok_or_else(|| bad("no SPKI key"))?
            .map_err(|e| bad(e.to_string()))?;
        let mut oids = alg.children();
        let mut oid = || -> Result<ObjectIdentifier, Error> {
            let t = oids
                .next()
                .ok_or_else(|| bad("SPKI algorithm without parameters"))?
                .map_err(|e| bad(e.to_string()))?;
            if t.tag != [0x06] {
                return Err(bad("SPKI algorithm is not OIDs"));
            }
            ObjectIdentifier::from_bytes(t.value).map_err(|e| bad(e.to_string()))
        };
        if oid()? != OID_EC_PUBLIC_KEY {
            return Err(bad("key algorithm is not EC"));
        }
        let curve_oid = oid()?;
        let curve = Curve::from_oid(&curve_oid)
            .ok_or_else(|| bad(format!("curve {curve_oid} is not SGP.22")))?;
        match (key.tag, key.value.split_first()) {
            ([0x03], Some((0, point))) => PublicKey::from_sec1(curve, point),
            _ => Err(bad("public key is not a BIT STRING without unused bits")),
        }
    }

    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let tbs = tbs_tlv(der)?;
        let tbs_start = tbs.raw.as_ptr() as usize - der.as_ptr() as usize;
        let cert = x509_cert::Certificate::from_der(der).map_err(|e| bad(format!("X.509: {e}")))?;
        let tbs_c = cert.tbs_certificate();

        let spki = tbs_c.subject_public_key_info();
        if spki.algorithm.oid != OID_EC_PUBLIC_KEY {
            return Err(bad(format!(
                "key algorithm {} is not EC",
                spki.algorithm.oid
            )));
        }
        let curve_oid: ObjectIdentifier = spki
            .algorithm
            .parameters
            .as_ref()
            .ok_or_else(|| bad("EC key without namedCurve"))?
            .decode_as()
            .map_err(|e| bad(format!("EC parameters: {e}")))?;
        let curve = Curve::from_oid(&curve_oid)
            .ok_or_else(|| bad(format!("curve {curve_oid} is not SGP.22")))?;
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| bad("public key BIT STRING has unused bits"))?;
        let public_key = PublicKey::from_sec1(curve, point)?;

        let signature = cert
            .signature()
            .as_bytes()
            .ok_or_else(|| bad("signature BIT STRING has unused bits"))?
            .to_vec();

        let mut c = Cert {
            der: der.to_vec(),
            tbs_range: tbs_start..tbs_start + tbs.raw.len(),
            signature,
            signature_algorithm: cert.signature_algorithm().oid,
            public_key,
            subject: dn_text(tbs_c.subject()),
            issuer: dn_text(tbs_c.issuer()),
            subject_der: tbs_c.subject().to_der().map_err(|e| bad(e.to_string()))?,
            issuer_der: tbs_c.issuer().to_der().map_err(|e| bad(e.to_string()))?,
            not_before: time(&tbs_c.validity().not_before),
            not_after: time(&tbs_c.validity().not_after),
            subject_key_id: None,
            authority_key_id: None,
            policies: Vec::new(),
            key_usage: None,
            basic_constraints: None,
            subject_serial_number: None,
            registered_ids: Vec::new(),
            dns_names: Vec::new(),
            permitted_eid_prefixes: None,
            unknown_critical: Vec::new(),
            subject_organization: None,
        };
        c.subject_serial_number = tbs_c
            .subject()
            .iter()
            .find(|atv| atv.oid == SERIAL_NUMBER)
            .map(|atv| attr_string(&atv.value))
            .transpose()?;
        c.subject_organization = tbs_c
            .subject()
            .iter()
            .find(|atv| atv.oid == const_oid::db::rfc4519::O)
            .map(|atv| attr_string(&atv.value))
            .transpose()?;

        for ext in tbs_c.extensions().map(|e| e.as_slice()).unwrap_or(&[]) {
            let v = ext.extn_value.as_bytes();
            let parse_err = |e: der::Error| bad(format!("extension {}: {e}", ext.extn_id));
            match ext.extn_id {
                o if o == const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER => {
                    let ski = SubjectKeyIdentifier::from_der(v).map_err(parse_err)?;
                    c.subject_key_id = Some(ski.0.as_bytes().to_vec());
                }
                o if o == const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER => {
                    let aki = AuthorityKeyIdentifier::from_der(v).map_err(parse_err)?;
                    c.authority_key_id = aki.key_identifier.map(|k| k.as_bytes().to_vec());
                }
                o if o == const_oid::db::rfc5280::ID_CE_CERTIFICATE_POLICIES => {
                    let p = CertificatePolicies::from_der(v).map_err(parse_err)?;
                    c.policies = p.0.iter().map(|pi| pi.policy_identifier).collect();
                }
                o if o == const_oid::db::rfc5280::ID_CE_KEY_USAGE => {
                    c.key_usage = Some(KeyUsage::from_der(v).map_err(parse_err)?);
                }
                o if o == const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS => {
                    c.basic_constraints = Some(BasicConstraints::from_der(v).map_err(parse_err)?);
                }
                o if o == const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME => {
                    // Read by hand: const-oid cannot parse registeredIDs under 2.999 (first
                    // subidentifier ≥ 128), which is exactly what SGP.26 SM-DP+ OIDs are.
                    let (dns, rids) = parse_san(v)?;
                    c.dns_names = dns;
                    c.registered_ids = rids;
                }
                o if o == const_oid::db::rfc5280::ID_CE_NAME_CONSTRAINTS => {
                    let nc = NameConstraints::from_der(v).map_err(parse_err)?;
                    let mut prefixes = Vec::new();
                    for st in nc.permitted_subtrees.unwrap_or_default() {
                        if let GeneralName::DirectoryName(name) = st.base {
                            for atv in name.iter().filter(|a| a.oid == SERIAL_NUMBER) {
                                prefixes.push(attr_string(&atv.value)?);
                            }
                        }
                    }
                    c.permitted_eid_prefixes
                        .get_or_insert_with(Vec::new)
                        .extend(prefixes);
                }
                o if o == OID_PERMITTED_EINS => {
                    let eins: Vec<der::asn1::PrintableString> =
                        Vec::from_der(v).map_err(parse_err)?;
                    c.permitted_eid_prefixes
                        .get_or_insert_with(Vec::new)
                        .extend(eins.into_iter().map(|s| s.to_string()));
                }
                o if ext.critical
                    && o != const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE
                    && o != const_oid::db::rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS =>
                {
                    c.unknown_critical.push(o)
                }
                _ => {}
            }
        }
        Ok(c)
    }

    /// The certificate as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM (`-----BEGIN CERTIFICATE-----`), what TLS clients load.
    pub fn to_pem(&self) -> Result<String, Error> {
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &self.der)
            .map_err(|e| Error::Certificate(format!("PEM: {e}")))
    }

    /// The signed `tbsCertificate` TLV, exactly as received.
    pub fn tbs(&self) -> &[u8] {
        &self.der[self.tbs_range.clone()]
    }

    /// The subject public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        self.public_key.curve()
    }

    /// The SGP.22 role from the certificate policies, if exactly one role policy is present.
    pub fn role(&self) -> Option<Role> {
        let mut roles = self.policies.iter().filter_map(Role::from_policy);
        let first = roles.next()?;
        roles.next().is_none().then_some(first)
    }

    /// Whether `issuer` signed this certificate (ECDSA-SHA256 over the raw tbsCertificate).
    pub fn verify_signed_by(
        &self,
        issuer_key: &PublicKey,
        backend: crate::key::Backend,
    ) -> Result<(), Error> {
        if self.signature_algorithm != OID_ECDSA_WITH_SHA256 {
            return Err(bad(format!(
                "signature algorithm {} is not ecdsa-with-SHA256",
                self.signature_algorithm
            )));
        }
        issuer_key.verify_der(self.tbs(), &self.signature, backend)
    }

    /// The subject DN as DER.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// Whether the subject DN equals the issuer DN (DER comparison).
    pub fn is_self_issued(&self) -> bool {
        self.subject_der == self.issuer_der
    }

    /// Whether this certificate's issuer DN is `parent`'s subject DN.
    pub fn issuer_is(&self, parent: &Cert) -> bool {
        self.issuer_der == parent.subject_der
    }

    /// Whether `at` lies within notBefore..=notAfter.
    pub fn valid_at(&self, at: SystemTime) -> Result<(), Validity> {
        if at < self.not_before {
            Err(Validity::NotYetValid)
        } else if at > self.not_after {
            Err(Validity::Expired)
        } else {
            Ok(())
        }
    }

    /// Whether the key usage has `bit`.
    pub fn has_key_usage(&self, bit: KeyUsages) -> bool {
        self.key_usage.is_some_and(|k| k.0.contains(bit))
    }

    /// Seconds since the Unix epoch of notAfter (for messages).
    pub fn not_after_unix(&self) -> u64 {
        self.not_after
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs()
    }
}

/// Outside the validity period, and on which side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    NotYetValid,
    Expired,
}

/// Reads a DirectoryString-like attribute value (PrintableString, UTF8String, IA5String).
/// RFC 4514-style text of a DN (last RDN first) with short names for the attributes SGP.22
/// certificates carry, dotted OIDs otherwise. x509-cert's `Display` looks each attribute up in
/// const-oid's whole database, which cost more than the rest of the certificate parse.
fn dn_text(name: &x509_cert::name::Name) -> String {
    use const_oid::db::rfc4519::{
        COMMON_NAME, COUNTRY_NAME, LOCALITY_NAME, ORGANIZATIONAL_UNIT_NAME, ORGANIZATION_NAME, ST,
    };
    let mut parts: Vec<String> = name
        .iter()
        .map(|atv| {
            let key = [
                (COUNTRY_NAME, "C"),
                (ORGANIZATION_NAME, "O"),
                (ORGANIZATIONAL_UNIT_NAME, "OU"),
                (COMMON_NAME, "CN"),
                (SERIAL_NUMBER, "serialNumber"),
                (ST, "ST"),
                (LOCALITY_NAME, "L"),
            ]
            .iter()
            .find(|(oid, _)| *oid == atv.oid)
            .map_or_else(|| atv.oid.to_string(), |(_, k)| (*k).to_string());
            let value = attr_string(&atv.value)
                .unwrap_or_else(|_| format!("#{}", hex::encode(atv.value.value())));
            format!("{key}={value}")
        })
        .collect();
    parts.reverse();
    parts.join(",")
}

fn attr_string(v: &der::Any) -> Result<String, Error> {
    std::str::from_utf8(v.value())
        .map(str::to_owned)
        .map_err(|_| bad("attribute value is not text"))
}

/// SubjectAltName: (dNSNames, registeredIDs); other name forms are skipped.
pub(crate) fn parse_san(v: &[u8]) -> Result<(Vec<String>, Vec<rsp_asn1::ObjectIdentifier>), Error> {
    let seq = Tlv::read_exact(v).map_err(|e| bad(format!("SubjectAltName: {e}")))?;
    if seq.tag != [0x30] {
        return Err(bad("SubjectAltName is not a SEQUENCE"));
    }
    let (mut dns, mut rids) = (Vec::new(), Vec::new());
    for gn in seq.children() {
        let gn = gn.map_err(|e| bad(format!("SubjectAltName: {e}")))?;
        match gn.tag {
            [0x82] => dns.push(
                std::str::from_utf8(gn.value)
                    .map_err(|_| bad("dNSName is not ASCII"))?
                    .to_owned(),
            ),
            [0x88] => rids.push(oid_from_content(gn.value)?),
            [0x87] => match gn.value.len() {
                4 => dns.push(
                    std::net::Ipv4Addr::from(<[u8; 4]>::try_from(gn.value).unwrap_or_default())
                        .to_string(),
                ),
                16 => dns.push(
                    std::net::Ipv6Addr::from(<[u8; 16]>::try_from(gn.value).unwrap_or_default())
                        .to_string(),
                ),
                _ => return Err(bad("iPAddress of odd length")),
            },
            _ => {}
        }
    }
    Ok((dns, rids))
}

/// Decodes OBJECT IDENTIFIER contents octets (any arc size that fits u32).
pub fn oid_from_content(b: &[u8]) -> Result<rsp_asn1::ObjectIdentifier, Error> {
    let mut subids = Vec::new();
    let mut acc: u64 = 0;
    for (i, &byte) in b.iter().enumerate() {
        if acc == 0 && byte == 0x80 {
            return Err(bad("OID subidentifier not minimal"));
        }
        acc = (acc << 7) | u64::from(byte & 0x7F);
        if acc > u64::from(u32::MAX) + 80 {
            return Err(bad("OID arc too large"));
        }
        if byte & 0x80 == 0 {
            subids.push(acc);
            acc = 0;
        } else if i == b.len() - 1 {
            return Err(bad("OID truncated"));
        }
    }
    let first = *subids.first().ok_or_else(|| bad("empty OID"))?;
    let (a0, a1) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut arcs = vec![
        a0 as u32,
        u32::try_from(a1).map_err(|_| bad("OID arc too large"))?,
    ];
    for s in &subids[1..] {
        arcs.push(u32::try_from(*s).map_err(|_| bad("OID arc too large"))?);
    }
    rsp_asn1::ObjectIdentifier::new(arcs).ok_or_else(|| bad("invalid OID"))
}

/// Encodes an OID's contents octets (the inverse of [`oid_from_content`]).
pub fn oid_to_content(oid: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut push = |mut v: u64| {
        let mut tmp = vec![(v & 0x7F) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7F) as u8);
            v >>= 7;
        }
        out.extend(tmp.iter().rev());
    };
    if oid.len() >= 2 {
        push(u64::from(oid[0]) * 40 + u64::from(oid[1]));
        for a in &oid[2..] {
            push(u64::from(*a));
        }
    }
    out
}
