//! The crypto floor of one download session on the server side: the operations no SM-DP+
//! can skip, timed here with the same libraries and backends the server uses, in the same run
//! as the load (so that the ratio compares like with like on this machine).
//!
//! Issue 16 defines it as 4 ECDSA signatures, 5 verifications, one ephemeral key generation
//! with its ECDH, the KDF, the BSP over the profile and one TLS handshake. Each operation is
//! timed in batches and the fastest batch kept: a floor, not an average under load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rsp_auth::ecdh::EphemeralKey;
use rsp_auth::key::SigningKey;
use rsp_auth::{Backend, Curve};
use serde::Serialize;

use crate::Error;

/// Each operation, in microseconds, and the session's sum in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Floor {
    pub sign_us: f64,
    pub verify_us: f64,
    pub keygen_ecdh_us: f64,
    pub kdf_us: f64,
    pub bsp_us: f64,
    pub tls_handshake_us: f64,
    pub profile_bytes: usize,
    /// 4 signs + 5 verifies + keygen/ECDH + KDF + BSP + TLS handshake.
    pub session_ms: f64,
}

/// The fastest mean over `batches` batches of `n` calls of `f`, in µs.
fn time(batches: u32, n: u32, mut f: impl FnMut()) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..batches {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        best = best.min(t.elapsed());
    }
    best.as_secs_f64() * 1e6 / f64::from(n)
}

/// Times the floor for `curve` and a profile of `profile_bytes`; `tls` is the server
/// certificate chain's key pair to handshake with (the PKI's DPtls).
pub fn measure(
    curve: Curve,
    profile_bytes: usize,
    tls: Option<&rsp_auth::generate::Issued>,
) -> Result<Floor, Error> {
    let backend = Backend::AwsLc;
    let mut rng = rsp_auth::rng::rng(Some(16));
    let key = SigningKey::generate(curve, &mut rng);
    let msg = [0x5Au8; 200];
    let sig = key
        .sign_raw(&msg, backend)
        .map_err(|e| Error::Input(e.to_string()))?;
    let sign_us = time(5, 200, || {
        let _ = std::hint::black_box(key.sign_raw(&msg, backend));
    });
    let verify_us = time(5, 200, || {
        let _ = std::hint::black_box(key.public_key().verify_raw(&msg, &sig, backend));
    });
    let peer = EphemeralKey::generate(curve, &mut rng);
    let keygen_ecdh_us = time(5, 200, || {
        let k = EphemeralKey::generate(curve, &mut rng);
        let _ = std::hint::black_box(k.shared_secret(peer.public_point(), backend));
    });
    let shs = [7u8; 32];
    let eid = [0x89u8; 16];
    let kdf_us = time(5, 2000, || {
        std::hint::black_box(rsp_bpp::kdf::derive_session_keys(&shs, b"smdp-sim", &eid));
    });
    let keys = rsp_bpp::kdf::derive_session_keys(&shs, b"smdp-sim", &eid);
    let profile = vec![0xA5u8; profile_bytes];
    let bsp_us = time(5, 20, || {
        let mut bsp = rsp_bpp::bsp::Bsp::from_session_keys(&keys, rsp_bpp::bsp::Engine::Auto);
        std::hint::black_box(bsp.protect(0x86, &profile));
    });
    let tls_handshake_us = match tls {
        Some(t) => tls_server_handshake_us(t)?,
        None => 0.0,
    };
    let session_us =
        4.0 * sign_us + 5.0 * verify_us + keygen_ecdh_us + kdf_us + bsp_us + tls_handshake_us;
    Ok(Floor {
        sign_us,
        verify_us,
        keygen_ecdh_us,
        kdf_us,
        bsp_us,
        tls_handshake_us,
        profile_bytes,
        session_ms: session_us / 1000.0,
    })
}

/// The server's share of one full TLS 1.3 handshake (the client's work is not timed), with
/// the configuration `smdp serve` uses: aws-lc, default key exchange groups, this key pair.
fn tls_server_handshake_us(t: &rsp_auth::generate::Issued) -> Result<f64, Error> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let bad = |e: &dyn std::fmt::Display| Error::Input(format!("TLS floor: {e}"));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let pem = t.key.to_sec1_pem().map_err(|e| bad(&e))?;
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| bad(&e))?;
    let server = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| bad(&e))?
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(t.cert.der().to_vec())], key)
            .map_err(|e| bad(&e))?,
    );
    let client = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| bad(&e))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::es9::NoVerification(provider)))
            .with_no_client_auth(),
    );
    let mut best = Duration::MAX;
    for _ in 0..40 {
        let mut c = rustls::ClientConnection::new(
            client.clone(),
            ServerName::try_from("localhost").map_err(|e| bad(&e))?,
        )
        .map_err(|e| bad(&e))?;
        let mut s = rustls::ServerConnection::new(server.clone()).map_err(|e| bad(&e))?;
        let mut server_time = Duration::ZERO;
        let mut buf = Vec::new();
        for _ in 0..10 {
            if !c.is_handshaking() && !s.is_handshaking() {
                break;
            }
            buf.clear();
            while c.wants_write() {
                c.write_tls(&mut buf).map_err(|e| bad(&e))?;
            }
            let t0 = Instant::now();
            let mut rd = &buf[..];
            while !rd.is_empty() {
                s.read_tls(&mut rd).map_err(|e| bad(&e))?;
            }
            s.process_new_packets().map_err(|e| bad(&e))?;
            let mut out = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut out).map_err(|e| bad(&e))?;
            }
            server_time += t0.elapsed();
            let mut rd = &out[..];
            while !rd.is_empty() {
                c.read_tls(&mut rd).map_err(|e| bad(&e))?;
            }
            c.process_new_packets().map_err(|e| bad(&e))?;
        }
        if s.is_handshaking() {
            return Err(bad(&"the in-memory handshake did not finish"));
        }
        best = best.min(server_time);
    }
    Ok(best.as_secs_f64() * 1e6)
}
