//! rsp-auth: ECDSA sign/verify, ECDH and chain verification per curve and backend — the costs
//! of one mutual authentication (the SM-DP+ signs twice, verifies one chain and two signatures,
//! and does one ECDH per download).

use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rsp_auth::cert::Role;
use rsp_auth::ecdh::EphemeralKey;
use rsp_auth::pki::{GenerateOptions, Pki};
use rsp_auth::{Backend, Curve, SigningKey};
use std::hint::black_box;

const CASES: [(Curve, Backend, &str); 3] = [
    (Curve::NistP256, Backend::AwsLc, "nist/aws-lc"),
    (Curve::NistP256, Backend::RustCrypto, "nist/rustcrypto"),
    (
        Curve::BrainpoolP256r1,
        Backend::RustCrypto,
        "brp/rustcrypto",
    ),
];

fn ecdsa(c: &mut Criterion) {
    let msg = vec![0x5A; 200]; // about the size of euiccSigned1
    let mut g = c.benchmark_group("ecdsa");
    for (curve, backend, name) in CASES {
        let key = SigningKey::generate(curve, &mut rsp_auth::rng::rng(Some(1)));
        let sig = key.sign_raw(&msg, backend).expect("signs");
        g.bench_function(BenchmarkId::new("sign", name), |b| {
            b.iter(|| key.sign_raw(black_box(&msg), backend).expect("signs"))
        });
        g.bench_function(BenchmarkId::new("verify", name), |b| {
            b.iter(|| {
                key.public_key()
                    .verify_raw(black_box(&msg), &sig, backend)
                    .expect("verifies")
            })
        });
    }
    g.finish();
}

fn ecdh(c: &mut Criterion) {
    let mut g = c.benchmark_group("ecdh");
    for (curve, backend, name) in CASES {
        let mut rng = rsp_auth::rng::rng(Some(2));
        let a = EphemeralKey::generate(curve, &mut rng);
        let peer = *EphemeralKey::generate(curve, &mut rng).public_point();
        g.bench_function(BenchmarkId::new("shared_secret", name), |b| {
            b.iter(|| a.shared_secret(black_box(&peer), backend).expect("agrees"))
        });
        g.bench_function(BenchmarkId::new("keygen+shared_secret", name), |b| {
            b.iter(|| {
                let k = EphemeralKey::generate(curve, &mut rng);
                k.shared_secret(black_box(&peer), backend).expect("agrees")
            })
        });
    }
    g.finish();
}

fn chains(c: &mut Criterion) {
    let pki = Pki::generate(
        &GenerateOptions::default(),
        &mut rsp_auth::rng::rng(Some(3)),
    )
    .expect("generates");
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_651_200);
    let store = pki.trust_store(at).expect("trusted");
    let mut g = c.benchmark_group("chain");
    for (curve, backend, name) in CASES {
        let p = pki.by_curve(curve).expect("curve");
        let eum = p.eum.as_ref().expect("eum");
        let euicc = &p.euicc.as_ref().expect("euicc").cert;
        g.bench_function(BenchmarkId::new("verify_euicc(EUM+eUICC)", name), |b| {
            b.iter(|| {
                store
                    .verify_euicc(eum, euicc, at, None, backend)
                    .expect("verifies")
            })
        });
        g.bench_function(BenchmarkId::new("verify_server(DPauth)", name), |b| {
            b.iter(|| {
                store
                    .verify_server(&p.dp_auth.cert, Role::DpAuth, at, backend)
                    .expect("verifies")
            })
        });
        let der = euicc.der().to_vec();
        g.bench_function(BenchmarkId::new("parse_certificate", name), |b| {
            b.iter(|| rsp_auth::cert::Cert::from_der(black_box(&der)).expect("parses"))
        });
    }
    g.finish();
}

criterion_group!(benches, ecdsa, ecdh, chains);
criterion_main!(benches);
