//! Operator certificates for ES2+ mutual TLS: the CA an SM-DP+ trusts for its operators'
//! clients, kept beside the GSMA PKI in `Operator/`, and one client certificate per function
//! requester (`smdp pki issue-operator --id test.operator.com`).
//!
//! NIST P-256 only: the operator side is ordinary TLS, and TLS stacks (webpki among them) do
//! not verify brainpool certificates.

use std::path::Path;
use std::time::SystemTime;

use rand_core::CryptoRng;

use crate::generate::{issue_operator, Issued, OperatorCert};
use crate::key::SigningKey;
use crate::pki::{read_pair, Files};
use crate::{Curve, Error};

/// The operator CA's files in a PKI folder.
pub const CA_CERT: &str = "Operator/CERT_OPERATOR_CA_ECDSA_NIST.der";
pub const CA_KEY: &str = "Operator/SK_OPERATOR_CA_ECDSA_NIST.pem";

/// The validity of the rest of our PKI (fixed, so seeded runs do not depend on the clock).
fn validity() -> (SystemTime, SystemTime) {
    let g = crate::pki::GenerateOptions::default();
    (g.not_before, g.not_before + g.lifetime)
}

/// A new operator CA (self-signed).
pub fn generate_ca<R: CryptoRng + ?Sized>(rng: &mut R) -> Result<Issued, Error> {
    let key = SigningKey::generate(Curve::NistP256, rng);
    let cert = issue_operator(
        OperatorCert::Ca,
        &[
            ("C", "XZ".into()),
            ("O", "smdp-sim".into()),
            ("CN", "smdp-sim Test Operator CA".into()),
        ],
        &[],
        validity(),
        &key,
        None,
        rng,
    )?;
    Ok(Issued { cert, key })
}

/// The operator CA of a PKI folder, if it has one.
pub fn load_ca(dir: &Path) -> Result<Option<Issued>, Error> {
    read_pair(
        dir,
        &Files {
            cert: CA_CERT.into(),
            key: CA_KEY.into(),
        },
    )
}

/// Writes the operator CA into a PKI folder.
pub fn write_ca(dir: &Path, ca: &Issued) -> Result<(), Error> {
    let io = |p: &Path, e: std::io::Error| Error::Io(format!("{}: {e}", p.display()));
    let cert = dir.join(CA_CERT);
    if let Some(parent) = cert.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    std::fs::write(&cert, ca.cert.der()).map_err(|e| io(&cert, e))?;
    let key = dir.join(CA_KEY);
    std::fs::write(&key, ca.key.to_sec1_pem()?).map_err(|e| io(&key, e))?;
    Ok(())
}

/// The function requester identifiers a client certificate may carry: a DNS name (what
/// SGP.22 operators use, `test.operator.com`), since it becomes the certificate's dNSName.
pub fn check_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id.len() <= 253
        && id.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Certificate(format!(
            "function requester {id:?}: a DNS name (letters, digits, '-', dot-separated) expected"
        )))
    }
}

/// A client certificate for the function requester `id` under `ca`.
pub fn issue_client<R: CryptoRng + ?Sized>(
    ca: &Issued,
    id: &str,
    rng: &mut R,
) -> Result<Issued, Error> {
    check_id(id)?;
    let key = SigningKey::generate(Curve::NistP256, rng);
    let cert = issue_operator(
        OperatorCert::Client,
        &[
            ("C", "XZ".into()),
            ("O", "smdp-sim test operator".into()),
            ("CN", id.into()),
        ],
        &[id.to_string()],
        validity(),
        &key,
        Some(ca),
        rng,
    )?;
    Ok(Issued { cert, key })
}

/// The function requester a client certificate names: its first dNSName.
pub fn requester_of(cert: &crate::cert::Cert) -> Option<String> {
    requester_of_der(cert.der())
}

/// notAfter of any certificate, in Unix seconds (for checking an expired operator
/// certificate as at its last valid second, an explicit opt-in for test certificates).
pub fn not_after_of_der(der: &[u8]) -> Option<u64> {
    use der::Decode;
    let c = x509_cert::Certificate::from_der(der).ok()?;
    Some(
        c.tbs_certificate()
            .validity()
            .not_after
            .to_unix_duration()
            .as_secs(),
    )
}

/// The function requester a TLS client certificate names, whatever its key type (operators'
/// certificates need not be SGP.22 ones): its first SubjectAltName dNSName, or else its
/// subject's commonName (SGP.26's operator certificates carry only a CN).
pub fn requester_of_der(der: &[u8]) -> Option<String> {
    use der::Decode;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let tbs = cert.tbs_certificate();
    let san = tbs
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME);
    if let Some(e) = san {
        if let Ok((dns, _)) = crate::cert::parse_san(e.extn_value.as_bytes()) {
            if let Some(d) = dns.into_iter().next() {
                return Some(d);
            }
        }
    }
    let cn = tbs
        .subject()
        .iter()
        .find(|atv| atv.oid == const_oid::db::rfc4519::COMMON_NAME)
        .and_then(|atv| std::str::from_utf8(atv.value.value()).ok())
        .map(str::to_owned);
    cn
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng;
    use rustls::pki_types::{CertificateDer, UnixTime};
    use rustls::server::danger::ClientCertVerifier;
    use std::time::Duration;

    fn verifier(ca: &Issued) -> std::sync::Arc<dyn ClientCertVerifier> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca.cert.der().to_vec()))
            .unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
            .build()
            .unwrap()
    }

    fn before_validity() -> UnixTime {
        let nb = validity().0.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        UnixTime::since_unix_epoch(nb - Duration::from_secs(1))
    }

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    /// A TLS stack (rustls, webpki) takes the client certificate under its CA, refuses it
    /// under another CA and outside its validity; the requester is read back from it.
    #[test]
    fn a_tls_stack_accepts_the_client_under_its_ca_only() {
        let mut r = rng(Some(7));
        let ca = generate_ca(&mut r).unwrap();
        let client = issue_client(&ca, "test.operator.com", &mut r).unwrap();
        let der = CertificateDer::from(client.cert.der().to_vec());
        let now = 1_785_542_400; // 2026-08-01
        verifier(&ca)
            .verify_client_cert(&der, &[], at(now))
            .expect("accepted under its CA");
        let other = generate_ca(&mut r).unwrap();
        assert!(verifier(&other)
            .verify_client_cert(&der, &[], at(now))
            .is_err());
        assert!(verifier(&ca)
            .verify_client_cert(&der, &[], before_validity())
            .is_err());
        assert_eq!(
            requester_of(&client.cert).as_deref(),
            Some("test.operator.com")
        );
        // A server certificate of ours is not a client certificate under this CA either.
        assert!(verifier(&ca)
            .verify_client_cert(&CertificateDer::from(ca.cert.der().to_vec()), &[], at(now))
            .is_err());
    }

    #[test]
    fn seeded_the_same_and_kept_in_the_pki_folder() {
        let a = generate_ca(&mut rng(Some(3))).unwrap();
        let b = generate_ca(&mut rng(Some(3))).unwrap();
        assert_eq!(a.cert.der(), b.cert.der());
        let dir = std::env::temp_dir().join(format!("rsp-auth-operator-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(load_ca(&dir).unwrap().is_none());
        write_ca(&dir, &a).unwrap();
        let back = load_ca(&dir).unwrap().unwrap();
        assert_eq!(back.cert.der(), a.cert.der());
        assert_eq!(back.key.public_key(), a.key.public_key());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn requester_ids_are_dns_names() {
        for ok in ["test.operator.com", "op1", "mno-a.example"] {
            check_id(ok).unwrap();
        }
        for bad in ["", "a b", "-x.com", "x..com", "op/1", &"a".repeat(64)] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }
}
