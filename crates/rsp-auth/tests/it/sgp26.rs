//! The GSMA SGP.26 test PKI (from the shared folder): keys load, chains verify by SGP.22 rules,
//! and every deliberately broken certificate is rejected for its own reason.

use std::time::{Duration, SystemTime};

use rsp_auth::cert::{Cert, Role};
use rsp_auth::chain::{Rule, TrustStore, Which};
use rsp_auth::{Backend, Curve, SigningKey};

/// 2026-11-26: inside every valid SGP.26 certificate's validity except the expired DPtls ones.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_651_200)
}

fn cert(rel: &str) -> Option<Cert> {
    rsp_shared::file_for_test(&format!("pki/{rel}")).map(|d| Cert::from_der(&d).unwrap())
}

fn key(rel: &str) -> Option<SigningKey> {
    rsp_shared::file_for_test(&format!("pki/sgp26/{rel}"))
        .map(|d| SigningKey::from_pem(std::str::from_utf8(&d).unwrap()).unwrap())
}

fn store() -> Option<TrustStore> {
    let cis = vec![
        cert("sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der")?,
        cert("sgp26/CertificateIssuer/CERT_CI_ECDSA_BRP.der")?,
    ];
    Some(TrustStore::new(cis, now()).unwrap())
}

#[test]
fn private_keys_match_their_certificates() {
    let pairs = [
        (
            "CertificateIssuer/CERT_CI_ECDSA_{}.der",
            "CertificateIssuer/SK_CI_ECDSA_{}.pem",
        ),
        ("EUM/CERT_EUM_ECDSA_{}.der", "EUM/SK_EUM_ECDSA_{}.pem"),
        (
            "eUICC/CERT_EUICC_ECDSA_{}.der",
            "eUICC/SK_EUICC_ECDSA_{}.pem",
        ),
        (
            "DPauth/CERT_S_SM_DPauth_ECDSA_{}.der",
            "DPauth/SK_S_SM_DPauth_ECDSA_{}.pem",
        ),
        (
            "DPpb/CERT_S_SM_DPpb_ECDSA_{}.der",
            "DPpb/SK_S_SM_DPpb_ECDSA_{}.pem",
        ),
        (
            "DPtls/CERT_S_SM_DP_VARO_TLS_{}.der",
            "DPtls/SK_S_SM_DP_TLS_{}.pem",
        ),
    ];
    for curve in Curve::ALL {
        for (c, k) in pairs {
            let tag = curve.file_tag();
            let Some(cert) = cert(&format!("sgp26/{}", c.replace("{}", tag))) else {
                return;
            };
            let key = key(&k.replace("{}", tag)).unwrap();
            assert_eq!(key.curve(), curve, "{c}");
            assert_eq!(key.public_key(), cert.public_key(), "{c} {tag}");
        }
    }
}

#[test]
fn ci_skis_are_the_published_ones() {
    let Some(s) = store() else { return };
    let skis: Vec<String> = s
        .cis()
        .iter()
        .map(|c| hex::encode_upper(c.subject_key_id.as_ref().unwrap()))
        .collect();
    assert_eq!(
        skis,
        [
            "F54172BDF98A95D65CBEB88A38A1C11D800A85C3",
            "C0BC70BA36929D43B467FF57570530E57AB8FCD8"
        ]
    );
}

#[test]
fn euicc_chains_verify_on_both_curves_and_backends() {
    let Some(s) = store() else { return };
    for curve in Curve::ALL {
        let tag = curve.file_tag();
        let eum = cert(&format!("sgp26/EUM/CERT_EUM_ECDSA_{tag}.der")).unwrap();
        let euicc = cert(&format!("sgp26/eUICC/CERT_EUICC_ECDSA_{tag}.der")).unwrap();
        assert_eq!(
            eum.permitted_eid_prefixes.as_deref(),
            Some(&["89049032".to_string()][..])
        );
        for backend in [Backend::AwsLc, Backend::RustCrypto] {
            let v = s.verify_euicc(&eum, &euicc, now(), None, backend).unwrap();
            assert_eq!(v.eid.to_string(), "89049032123451234512345678901235");
            assert_eq!(v.public_key.curve(), curve);
            let ci = eum.authority_key_id.clone().unwrap();
            assert_eq!(v.ci_ski, ci);
            s.verify_euicc(&eum, &euicc, now(), Some(&ci), backend)
                .unwrap();
        }
    }
}

#[test]
fn euicc_chain_requested_on_the_other_ci_is_unknown_ci() {
    let Some(s) = store() else { return };
    let eum = cert("sgp26/EUM/CERT_EUM_ECDSA_NIST.der").unwrap();
    let euicc = cert("sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der").unwrap();
    let brp_ci = hex::decode("C0BC70BA36929D43B467FF57570530E57AB8FCD8").unwrap();
    let e = s
        .verify_euicc(&eum, &euicc, now(), Some(&brp_ci), Backend::AwsLc)
        .unwrap_err();
    assert_eq!((e.which, e.rule), (Which::Eum, Rule::UnknownCi));
}

#[test]
fn server_certificates_verify() {
    let Some(s) = store() else { return };
    for curve in Curve::ALL {
        let tag = curve.file_tag();
        for (file, role) in [
            (
                format!("DPauth/CERT_S_SM_DPauth_ECDSA_{tag}.der"),
                Role::DpAuth,
            ),
            (format!("DPpb/CERT_S_SM_DPpb_ECDSA_{tag}.der"), Role::DpPb),
            (
                format!("DPtls/CERT_S_SM_DP_VARO_TLS_{tag}.der"),
                Role::DpTls,
            ),
        ] {
            let c = cert(&format!("sgp26/{file}")).unwrap();
            let v = s.verify_server(&c, role, now(), Backend::AwsLc).unwrap();
            assert_eq!(v.oid.unwrap().to_string(), "2.999.10", "{file}");
            if role == Role::DpTls {
                assert_eq!(v.dns_names, ["testsmdpplus1.example.com"]);
            }
            // A certificate used for the wrong role is refused.
            let wrong = if role == Role::DpAuth {
                Role::DpPb
            } else {
                Role::DpAuth
            };
            let e = s
                .verify_server(&c, wrong, now(), Backend::AwsLc)
                .unwrap_err();
            assert_eq!(e.rule, Rule::Policy);
        }
    }
    // The older DPtls certificates expired in August 2025.
    let old = cert("sgp26/DPtls/CERT_S_SM_DP2_TLS.der").unwrap();
    let e = s
        .verify_server(&old, Role::DpTls, now(), Backend::AwsLc)
        .unwrap_err();
    assert_eq!(e.rule, Rule::Expired);
}

#[test]
fn invalid_certificates_are_rejected_for_their_reason() {
    let Some(s) = store() else { return };
    let eum = cert("sgp26/EUM/CERT_EUM_ECDSA_NIST.der").unwrap();
    let euicc = cert("sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der").unwrap();
    let bad = |f: &str| cert(&format!("sgp26-invalid/{f}")).unwrap();
    let cases = [
        (
            "CERT_EUICC_ECDSA_NIST_EXPIRED.der",
            false,
            Which::Euicc,
            Rule::Expired,
        ),
        (
            "CERT_EUICC_ECDSA_NIST_INVALID.der",
            false,
            Which::Euicc,
            Rule::Linkage,
        ),
        (
            "CERT_EUICC_ECDSA_NIST_INVALID_EID.der",
            false,
            Which::Euicc,
            Rule::EidOutsideRange,
        ),
        (
            "CERT_EUICC_ECDSA_NIST_UNMATCHED_EID.der",
            false,
            Which::Euicc,
            Rule::EidFormat,
        ),
        (
            "CERT_EUM_ECDSA_NIST_EXPIRED.der",
            true,
            Which::Eum,
            Rule::Expired,
        ),
        (
            "CERT_EUM_ECDSA_NIST_INVALID.der",
            true,
            Which::Eum,
            Rule::Linkage,
        ),
        (
            "CERT_EUM_ECDSA_NIST_UNKNOWN_CI.der",
            true,
            Which::Eum,
            Rule::UnknownCi,
        ),
    ];
    for (file, is_eum, which, rule) in cases {
        let c = bad(file);
        let r = if is_eum {
            s.verify_euicc(&c, &euicc, now(), None, Backend::AwsLc)
        } else {
            s.verify_euicc(&eum, &c, now(), None, Backend::AwsLc)
        };
        let e = r.expect_err(file);
        assert_eq!((e.which, e.rule), (which, rule), "{file}: {e}");
    }
    // An unknown CI is not trusted as a CI for the chain, and its self-signature alone does
    // not make it one (no SKI, no CI policy).
    let unknown = bad("CERT_UNKNOWN_CI_ECDSA_NIST.der");
    assert!(TrustStore::new(vec![unknown], now()).is_err());
}

#[test]
fn tampered_certificate_signature_is_refused() {
    let Some(s) = store() else { return };
    let eum = cert("sgp26/EUM/CERT_EUM_ECDSA_NIST.der").unwrap();
    let mut der = rsp_shared::file_for_test("pki/sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der").unwrap();
    // Flip a bit inside the subject CN ("Test eUICC"): the tbs changes, the signature does not.
    let pos = der.windows(10).position(|w| w == b"Test eUICC").unwrap();
    der[pos] ^= 0x20;
    let c = Cert::from_der(&der).unwrap();
    let e = s
        .verify_euicc(&eum, &c, now(), None, Backend::RustCrypto)
        .unwrap_err();
    assert_eq!(e.rule, Rule::Signature);
    // The store remembers a CERT.EUM whose signature verified; a tampered copy of it is
    // another certificate and is verified (and refused) afresh, by the same store.
    let euicc = cert("sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der").unwrap();
    s.verify_euicc(&eum, &euicc, now(), None, Backend::AwsLc)
        .unwrap();
    s.verify_euicc(&eum, &euicc, now(), None, Backend::AwsLc)
        .unwrap();
    let mut der = eum.der().to_vec();
    let pos = der.windows(8).rposition(|w| w == b"Test EUM").unwrap();
    der[pos] ^= 0x20;
    let tampered = Cert::from_der(&der).unwrap();
    let e = s
        .verify_euicc(&tampered, &euicc, now(), None, Backend::AwsLc)
        .unwrap_err();
    assert_eq!(e.rule, Rule::Signature, "{e}");
}

/// Certificate DNs print RFC 4514-style (last RDN first) with short attribute names.
#[test]
fn distinguished_names_print_short() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs");
    let der = std::fs::read(dir.join("eUICC/CERT_EUICC_ECDSA_NIST.der")).unwrap();
    let c = rsp_auth::cert::Cert::from_der(&der).unwrap();
    let eid = c.subject_serial_number.clone().unwrap();
    assert_eq!(
        c.subject,
        format!("CN=smdp-sim eUICC NIST,serialNumber={eid},O=smdp-sim Test EUM,C=XZ")
    );
    assert_eq!(c.issuer, "CN=smdp-sim EUM NIST,O=smdp-sim Test EUM,C=XZ");
}

/// The TLV walk to a verified certificate's key finds the key the full parse finds, for every
/// certificate of our PKI and of SGP.26, and refuses what is not a certificate.
#[test]
fn public_key_of_agrees_with_the_full_parse() {
    let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs")];
    if let Some(shared) = rsp_shared::dir() {
        dirs.push(shared.join("pki/sgp26"));
    }
    let mut seen = 0;
    let mut walk = vec![];
    for d in dirs {
        walk.push(d);
        while let Some(d) = walk.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk.push(p);
                } else if p.extension().is_some_and(|x| x == "der") {
                    let der = std::fs::read(&p).unwrap();
                    let Ok(full) = Cert::from_der(&der) else {
                        continue;
                    };
                    let quick = Cert::public_key_of(&der).unwrap();
                    assert_eq!(
                        quick.sec1_uncompressed(),
                        full.public_key().sec1_uncompressed(),
                        "{}",
                        p.display()
                    );
                    seen += 1;
                }
            }
        }
    }
    assert!(seen >= 10, "{seen} certificates");
    assert!(Cert::public_key_of(&[0x30, 0x00]).is_err());
    assert!(Cert::public_key_of(b"not DER").is_err());
}
