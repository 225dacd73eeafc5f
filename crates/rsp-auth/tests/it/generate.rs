//! Generated PKIs: SGP.22 profiles that our chain checks accept, reproducible from a seed,
//! round-tripping through the SGP.26 folder layout, and a DPtls that rustls accepts.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand_core::SeedableRng;
use rsp_auth::cert::Role;
use rsp_auth::chain::Rule;
use rsp_auth::pki::{issue_tls, GenerateOptions, Pki, TEST_SMDP_OID};
use rsp_auth::{Backend, Curve};

fn rng(seed: u64) -> chacha20::ChaCha20Rng {
    chacha20::ChaCha20Rng::seed_from_u64(seed)
}

fn at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_651_200) // 2026-11-26
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rsp-auth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn generated_pki_verifies_and_is_reproducible() {
    let opts = GenerateOptions::default();
    let pki = Pki::generate(&opts, &mut rng(1)).unwrap();
    let report = pki.check(at()).unwrap();
    assert!(
        report.iter().any(|l| l.contains("eUICC EID 8900101200")),
        "{report:?}"
    );
    assert_eq!(pki.curves.len(), 2);
    for c in &pki.curves {
        assert_eq!(c.ci.role(), Some(Role::Ci));
        assert_eq!(c.ci_ski().len(), 20);
        assert_eq!(c.dp_auth.cert.registered_ids[0].to_string(), "2.999.10");
        let euicc = c.euicc.as_ref().unwrap();
        assert!(euicc
            .cert
            .subject_serial_number
            .as_deref()
            .unwrap()
            .starts_with("89001012"));
        assert_eq!(
            c.eum.as_ref().unwrap().permitted_eid_prefixes.as_deref(),
            Some(&["89001012".to_string()][..])
        );
    }

    let a = tmpdir("a");
    let b = tmpdir("b");
    let files = pki.write(&a).unwrap();
    assert_eq!(files.len(), 2 * 12);
    Pki::generate(&opts, &mut rng(1))
        .unwrap()
        .write(&b)
        .unwrap();
    for f in &files {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs between two runs with one seed"
        );
    }
    let other = tmpdir("c");
    Pki::generate(&opts, &mut rng(2))
        .unwrap()
        .write(&other)
        .unwrap();
    assert_ne!(
        std::fs::read(a.join("CertificateIssuer/CERT_CI_ECDSA_NIST.der")).unwrap(),
        std::fs::read(other.join("CertificateIssuer/CERT_CI_ECDSA_NIST.der")).unwrap()
    );

    let loaded = Pki::load(&a).unwrap();
    assert_eq!(loaded.check(at()).unwrap(), report);
    for d in [a, b, other] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn generated_certificates_are_checked_like_any_other() {
    let pki = Pki::generate(&GenerateOptions::default(), &mut rng(3)).unwrap();
    let store = pki.trust_store(at()).unwrap();
    let nist = pki.by_curve(Curve::NistP256).unwrap();
    let brp = pki.by_curve(Curve::BrainpoolP256r1).unwrap();
    // Expired before issuance, not yet valid after: the clock matters.
    let long_ago = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let e = store
        .verify_server(&nist.dp_auth.cert, Role::DpAuth, long_ago, Backend::AwsLc)
        .unwrap_err();
    assert_eq!(e.rule, Rule::NotYetValid);
    // A BRP eUICC under the NIST EUM: linkage fails.
    let e = store
        .verify_euicc(
            nist.eum.as_ref().unwrap(),
            &brp.euicc.as_ref().unwrap().cert,
            at(),
            None,
            Backend::AwsLc,
        )
        .unwrap_err();
    assert_eq!(e.rule, Rule::Linkage);
}

#[test]
fn dptls_is_accepted_by_rustls_for_its_host_names() {
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    let opts = GenerateOptions {
        curves: vec![Curve::NistP256],
        hosts: vec!["localhost".into(), "smdp.test".into(), "127.0.0.1".into()],
        ..Default::default()
    };
    let pki = Pki::generate(&opts, &mut rng(4)).unwrap();
    let c = pki.by_curve(Curve::NistP256).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(c.ci.der().to_vec()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
    let leaf = CertificateDer::from(c.dp_tls.as_ref().unwrap().cert.der().to_vec());
    let now = UnixTime::since_unix_epoch(at().duration_since(SystemTime::UNIX_EPOCH).unwrap());
    for host in ["localhost", "smdp.test", "127.0.0.1"] {
        let name = ServerName::try_from(host).unwrap();
        verifier
            .verify_server_cert(&leaf, &[], &name, &[], now)
            .unwrap_or_else(|e| panic!("{host}: {e}"));
    }
    let wrong = ServerName::try_from("other.test").unwrap();
    assert!(verifier
        .verify_server_cert(&leaf, &[], &wrong, &[], now)
        .is_err());
}

#[test]
fn fresh_dptls_under_the_sgp26_ci() {
    let Some(dir) = rsp_shared::dir_for_test("SGP.26 CI key") else {
        return;
    };
    let sgp26 = Pki::load(&dir.join("pki/sgp26")).unwrap();
    let nist = sgp26.by_curve(Curve::NistP256).unwrap();
    let ci = rsp_auth::generate::Issued {
        cert: nist.ci.clone(),
        key: rsp_auth::SigningKey::from_scalar(
            Curve::NistP256,
            &nist.ci_key.as_ref().unwrap().scalar(),
        )
        .unwrap(),
    };
    let later = at() + Duration::from_secs(3 * 365 * 86_400); // after the shipped DPtls expired
    let tls = issue_tls(
        &ci,
        &["testsmdpplus1.example.com".into()],
        &TEST_SMDP_OID,
        later,
        later + Duration::from_secs(86_400 * 30),
        &mut rng(5),
    )
    .unwrap();
    let store = sgp26.trust_store(at()).unwrap();
    let v = store
        .verify_server(
            &tls.cert,
            Role::DpTls,
            later + Duration::from_secs(60),
            Backend::AwsLc,
        )
        .unwrap();
    assert_eq!(v.dns_names, ["testsmdpplus1.example.com"]);
    let shipped = nist.dp_tls.as_ref().unwrap();
    assert_eq!(
        store
            .verify_server(&shipped.cert, Role::DpTls, later, Backend::AwsLc)
            .unwrap_err()
            .rule,
        Rule::Expired
    );
}

/// OpenSSL as a second implementation: it verifies every generated signature (both curves),
/// and rejects the eUICC chain with error 47 exactly as it does the SGP.26 one (the EUM's
/// nameConstraints holds only an EID prefix; SGP.22 rules accept it, RFC 5280 does not).
#[test]
fn openssl_agrees_with_the_generated_chains() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        assert!(
            !rsp_shared::required(),
            "openssl is needed for this cross-check in CI"
        );
        eprintln!("NOTICE: openssl not found; skipping");
        return;
    }
    let dir = tmpdir("openssl");
    let pki = Pki::generate(&GenerateOptions::default(), &mut rng(6)).unwrap();
    pki.write(&dir).unwrap();
    let pem = |rel: &str| -> std::path::PathBuf {
        let der = std::fs::read(dir.join(rel)).unwrap();
        let out = dir.join(format!("{}.pem", rel.replace('/', "_")));
        let b64 = rsp_asn1::es9::base64_encode(&der);
        let body: Vec<String> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        std::fs::write(
            &out,
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                body.join("\n")
            ),
        )
        .unwrap();
        out
    };
    let verify =
        |ca: &std::path::Path, untrusted: Option<&std::path::Path>, leaf: &std::path::Path| {
            let mut cmd = std::process::Command::new("openssl");
            cmd.args([
                "verify",
                "-purpose",
                "any",
                "-attime",
                "1795651200",
                "-CAfile",
            ])
            .arg(ca);
            if let Some(u) = untrusted {
                cmd.arg("-untrusted").arg(u);
            }
            let out = cmd.arg(leaf).output().unwrap();
            String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
        };
    for tag in ["NIST", "BRP"] {
        let ci = pem(&format!("CertificateIssuer/CERT_CI_ECDSA_{tag}.der"));
        for leaf in [
            format!("DPauth/CERT_S_SM_DPauth_ECDSA_{tag}.der"),
            format!("DPpb/CERT_S_SM_DPpb_ECDSA_{tag}.der"),
            format!("DPtls/CERT_S_SM_DP_TLS_{tag}.der"),
            format!("EUM/CERT_EUM_ECDSA_{tag}.der"),
        ] {
            let r = verify(&ci, None, &pem(&leaf));
            assert!(r.trim_end().ends_with(": OK"), "{leaf}: {r}");
        }
        let eum = pem(&format!("EUM/CERT_EUM_ECDSA_{tag}.der"));
        let r = verify(
            &ci,
            Some(&eum),
            &pem(&format!("eUICC/CERT_EUICC_ECDSA_{tag}.der")),
        );
        assert!(r.contains("error 47"), "{tag} eUICC: {r}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// `certs/` in the repository is exactly what `smdp pki generate --seed 1` makes.
#[test]
fn committed_certs_are_the_seed_1_pki() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs");
    let mut rng = rsp_auth::rng::rng(Some(1));
    let fresh = Pki::generate(&GenerateOptions::default(), &mut rng).unwrap();
    let dir = tmpdir("seed1");
    let mut files = fresh.write(&dir).unwrap();
    // The operator CA comes after, from the same generator (`smdp pki generate`).
    use rsp_auth::operator;
    operator::write_ca(&dir, &operator::generate_ca(&mut rng).unwrap()).unwrap();
    files.extend([operator::CA_CERT.to_string(), operator::CA_KEY.to_string()]);
    for f in files {
        assert_eq!(
            std::fs::read(repo.join(&f)).unwrap_or_default(),
            std::fs::read(dir.join(&f)).unwrap(),
            "certs/{f} is not the seed-1 PKI: regenerate with `smdp pki generate --out certs --seed 1`"
        );
    }
    Pki::load(&repo).unwrap().check(at()).unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
