//! ECDSA keys on NIST P-256 and brainpoolP256r1, with two backends for P-256.
//!
//! * [`Backend::AwsLc`]: aws-lc-rs (already under rustls), ~5× faster than pure Rust for P-256;
//!   its signatures are randomised.
//! * [`Backend::RustCrypto`]: p256/bp256, deterministic RFC 6979 signatures, the reference and the
//!   only backend for brainpoolP256r1. A seeded run uses it so that a session replays byte for
//!   byte.
//!
//! SGP.22 carries signatures as plain `r‖s` (64 bytes, BSI TR-03111) inside `5F37 40`;
//! certificates carry them DER-encoded. Both forms are handled here.

use core::fmt;

use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, ParsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use p256::elliptic_curve::sec1::ToSec1Point as _;
use rand_core::CryptoRng;
use signature::{Signer as _, Verifier as _};

use crate::curve::Curve;
use crate::Error;

/// Which implementation performs a P-256 operation (brainpool always uses RustCrypto).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Backend {
    /// aws-lc-rs: fast, randomised signatures.
    #[default]
    AwsLc,
    /// RustCrypto: deterministic (RFC 6979) signatures; reference implementation.
    RustCrypto,
}

/// A plain ECDSA signature `r‖s`, 32 bytes each, big-endian.
pub type RawSignature = [u8; 64];

/// An ECDSA public key: curve and uncompressed point `04‖X‖Y`, parsed once for both backends.
#[derive(Clone)]
pub struct PublicKey {
    curve: Curve,
    point: [u8; 65],
    inner: PublicInner,
}

#[derive(Clone)]
enum PublicInner {
    P256 {
        /// Built on first RustCrypto use: parsing once with aws-lc is what the hot path needs.
        rc: std::sync::OnceLock<p256::ecdsa::VerifyingKey>,
        aws: std::sync::Arc<ParsedPublicKey>,
    },
    Bp256(ecdsa::VerifyingKey<bp256::BrainpoolP256r1>),
}

impl PublicKey {
    /// From an SEC1 point (uncompressed or compressed); the point must be on the curve.
    pub fn from_sec1(curve: Curve, bytes: &[u8]) -> Result<Self, Error> {
        let bad = |what: &str| Error::Key(format!("{curve} public key: {what}"));
        match curve {
            Curve::NistP256 => {
                let (point, rc) = match <[u8; 65]>::try_from(bytes) {
                    Ok(p) if p[0] == 0x04 => (p, std::sync::OnceLock::new()),
                    _ => {
                        let rc = p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
                            .map_err(|_| bad("not a point on the curve"))?;
                        let p: [u8; 65] = rc
                            .as_affine()
                            .to_sec1_point(false)
                            .as_bytes()
                            .try_into()
                            .map_err(|_| bad("encoding"))?;
                        (p, std::sync::OnceLock::from(rc))
                    }
                };
                // aws-lc checks that the point is on the curve.
                let aws = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .map_err(|_| bad("not a point on the curve"))?;
                Ok(Self {
                    curve,
                    point,
                    inner: PublicInner::P256 {
                        rc,
                        aws: std::sync::Arc::new(aws),
                    },
                })
            }
            Curve::BrainpoolP256r1 => {
                let rc = <ecdsa::VerifyingKey<bp256::BrainpoolP256r1>>::from_sec1_bytes(bytes)
                    .map_err(|_| bad("not a point on the curve"))?;
                let point: [u8; 65] = rc
                    .as_affine()
                    .to_sec1_point(false)
                    .as_bytes()
                    .try_into()
                    .map_err(|_| bad("encoding"))?;
                Ok(Self {
                    curve,
                    point,
                    inner: PublicInner::Bp256(rc),
                })
            }
        }
    }

    /// The curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// Uncompressed point `04‖X‖Y` (what SGP.22 puts in `5F49` and SPKIs carry).
    pub fn sec1_uncompressed(&self) -> &[u8; 65] {
        &self.point
    }

    /// Verifies a raw `r‖s` signature over `msg` (SHA-256).
    pub fn verify_raw(&self, msg: &[u8], sig: &[u8], backend: Backend) -> Result<(), Error> {
        if sig.len() != 64 {
            return Err(Error::Signature(format!(
                "raw signature of {} bytes, expected 64",
                sig.len()
            )));
        }
        let ok = match (&self.inner, backend) {
            (PublicInner::P256 { aws, .. }, Backend::AwsLc) => aws.verify_sig(msg, sig).is_ok(),
            (PublicInner::P256 { rc, .. }, Backend::RustCrypto) => {
                let point = self.point;
                match rc.get().cloned().or_else(|| {
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                        .ok()
                        .inspect(|k| {
                            let _ = rc.set(*k);
                        })
                }) {
                    Some(rc) => p256::ecdsa::Signature::from_slice(sig)
                        .is_ok_and(|s| rc.verify(msg, &s).is_ok()),
                    None => false,
                }
            }
            (PublicInner::Bp256(rc), _) => bp256::r1::ecdsa::Signature::from_slice(sig)
                .is_ok_and(|s| rc.verify(msg, &s).is_ok()),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Signature(format!(
                "{} ECDSA signature does not verify",
                self.curve
            )))
        }
    }

    /// Verifies a DER `SEQUENCE { r, s }` signature (X.509 certificates).
    pub fn verify_der(&self, msg: &[u8], der_sig: &[u8], backend: Backend) -> Result<(), Error> {
        let raw = der_to_raw(self.curve, der_sig)?;
        self.verify_raw(msg, &raw, backend)
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.curve == other.curve && self.point == other.point
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PublicKey({}, {})",
            self.curve,
            hex::encode_upper(self.point)
        )
    }
}

/// An ECDSA private key that signs with SHA-256.
pub struct SigningKey {
    curve: Curve,
    public: PublicKey,
    inner: SigningInner,
}

enum SigningInner {
    P256 {
        scalar: [u8; 32],
        /// Built on first use: deriving its public point in pure Rust costs more than the
        /// rest of an eUICC's manufacture, and only RFC 6979 signing needs it.
        rc: std::sync::OnceLock<p256::ecdsa::SigningKey>,
        aws: EcdsaKeyPair,
    },
    Bp256(ecdsa::SigningKey<bp256::BrainpoolP256r1>),
}

impl SigningKey {
    /// From the 32-byte private scalar.
    pub fn from_scalar(curve: Curve, scalar: &[u8]) -> Result<Self, Error> {
        let bad = || Error::Key(format!("{curve} private key: not a valid scalar"));
        match curve {
            Curve::NistP256 => {
                let sk = p256::SecretKey::from_slice(scalar).map_err(|_| bad())?;
                Self::from_p256(sk)
            }
            Curve::BrainpoolP256r1 => {
                let sk = bp256::r1::SecretKey::from_slice(scalar).map_err(|_| bad())?;
                let rc = <ecdsa::SigningKey<bp256::BrainpoolP256r1>>::from(sk);
                let public = PublicKey::from_sec1(
                    curve,
                    rc.verifying_key()
                        .as_affine()
                        .to_sec1_point(false)
                        .as_bytes(),
                )?;
                Ok(Self {
                    curve,
                    public,
                    inner: SigningInner::Bp256(rc),
                })
            }
        }
    }

    fn from_p256(sk: p256::SecretKey) -> Result<Self, Error> {
        let curve = Curve::NistP256;
        let scalar: [u8; 32] = sk.to_bytes().into();
        // RFC 5915 ECPrivateKey without its public key: aws-lc derives the point.
        let mut der = Vec::with_capacity(51);
        der.extend_from_slice(&[0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20]);
        der.extend_from_slice(&scalar);
        der.extend_from_slice(&[
            0xA0, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07,
        ]);
        let aws = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map_err(|e| Error::Key(format!("aws-lc rejected the P-256 key: {e}")))?;
        let public = PublicKey::from_sec1(curve, aws.public_key().as_ref())?;
        Ok(Self {
            curve,
            public,
            inner: SigningInner::P256 {
                scalar,
                rc: std::sync::OnceLock::new(),
                aws,
            },
        })
    }

    /// The RustCrypto key of a P-256 scalar (checked valid when the key was made).
    fn p256_rc<'a>(
        scalar: &[u8; 32],
        rc: &'a std::sync::OnceLock<p256::ecdsa::SigningKey>,
    ) -> &'a p256::ecdsa::SigningKey {
        rc.get_or_init(|| {
            p256::ecdsa::SigningKey::from_slice(scalar).expect("a scalar aws-lc accepted")
        })
    }

    /// A fresh key from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(curve: Curve, rng: &mut R) -> Self {
        loop {
            let mut scalar = [0u8; 32];
            rng.fill_bytes(&mut scalar);
            // Out-of-range scalars (probability ~2^-32 on these curves) are drawn again.
            if let Ok(k) = Self::from_scalar(curve, &scalar) {
                return k;
            }
        }
    }

    /// From a PEM file as OpenSSL writes it: an optional `EC PARAMETERS` block and an
    /// `EC PRIVATE KEY` (SEC1) or `PRIVATE KEY` (PKCS#8) block. The curve comes from the key.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        for (label, der) in pem_blocks(pem)? {
            match label.as_str() {
                "EC PRIVATE KEY" => return Self::from_sec1_der(&der),
                "PRIVATE KEY" => return Self::from_pkcs8_der(&der),
                _ => {}
            }
        }
        Err(Error::Key(
            "no EC PRIVATE KEY or PRIVATE KEY block in PEM".into(),
        ))
    }

    /// From SEC1 `ECPrivateKey` DER.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, Error> {
        if let Ok(sk) = p256::SecretKey::from_sec1_der(der) {
            return Self::from_p256(sk);
        }
        if let Ok(sk) = bp256::r1::SecretKey::from_sec1_der(der) {
            return Self::from_scalar(Curve::BrainpoolP256r1, &sk.to_bytes());
        }
        Err(Error::Key(
            "SEC1 key is neither a P-256 nor a brainpoolP256r1 key".into(),
        ))
    }

    /// From PKCS#8 `PrivateKeyInfo` DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        use p256::pkcs8::DecodePrivateKey as _;
        if let Ok(sk) = p256::SecretKey::from_pkcs8_der(der) {
            return Self::from_p256(sk);
        }
        if let Ok(sk) = bp256::r1::SecretKey::from_pkcs8_der(der) {
            return Self::from_scalar(Curve::BrainpoolP256r1, &sk.to_bytes());
        }
        Err(Error::Key(
            "PKCS#8 key is neither a P-256 nor a brainpoolP256r1 key".into(),
        ))
    }

    /// SEC1 `ECPrivateKey` PEM (`EC PRIVATE KEY`), the form the SGP.26 files use.
    pub fn to_sec1_pem(&self) -> Result<String, Error> {
        use p256::elliptic_curve::pkcs8::LineEnding;
        let pem = match &self.inner {
            SigningInner::P256 { scalar, .. } => p256::SecretKey::from_slice(scalar)
                .map_err(|e| Error::Key(format!("P-256 scalar: {e}")))?
                .to_sec1_pem(LineEnding::LF)
                .map(|z| z.to_string()),
            SigningInner::Bp256(rc) => bp256::r1::SecretKey::from(rc.as_nonzero_scalar())
                .to_sec1_pem(LineEnding::LF)
                .map(|z| z.to_string()),
        };
        pem.map_err(|e| Error::Key(format!("SEC1 PEM encoding: {e}")))
    }

    /// The curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `msg` (SHA-256), returning raw `r‖s`.
    pub fn sign_raw(&self, msg: &[u8], backend: Backend) -> Result<RawSignature, Error> {
        let out: Vec<u8> = match (&self.inner, backend) {
            (SigningInner::P256 { aws, .. }, Backend::AwsLc) => aws
                .sign(&aws_lc_rs::rand::SystemRandom::new(), msg)
                .map_err(|_| Error::Signature("aws-lc signing failed".into()))?
                .as_ref()
                .to_vec(),
            (SigningInner::P256 { scalar, rc, .. }, Backend::RustCrypto) => {
                let s: p256::ecdsa::Signature = Self::p256_rc(scalar, rc).sign(msg);
                s.to_bytes().to_vec()
            }
            (SigningInner::Bp256(rc), _) => {
                let s: bp256::r1::ecdsa::Signature = rc.sign(msg);
                s.to_bytes().to_vec()
            }
        };
        out.try_into()
            .map_err(|_| Error::Signature("signature is not 64 bytes".into()))
    }

    /// Signs `msg` (SHA-256), returning DER `SEQUENCE { r, s }` for X.509.
    pub fn sign_der(&self, msg: &[u8], backend: Backend) -> Result<Vec<u8>, Error> {
        raw_to_der(self.curve, &self.sign_raw(msg, backend)?)
    }

    /// The 32-byte private scalar.
    pub fn scalar(&self) -> [u8; 32] {
        match &self.inner {
            SigningInner::P256 { scalar, .. } => *scalar,
            SigningInner::Bp256(rc) => rc.to_bytes().to_vec().try_into().unwrap_or([0; 32]),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, public {:?})", self.curve, self.public)
    }
}

/// Converts raw `r‖s` to DER `SEQUENCE { INTEGER r, INTEGER s }`.
pub fn raw_to_der(curve: Curve, raw: &[u8]) -> Result<Vec<u8>, Error> {
    let bad = || Error::Signature(format!("{curve}: invalid r‖s"));
    match curve {
        Curve::NistP256 => p256::ecdsa::Signature::from_slice(raw)
            .map(|s| s.to_der().as_bytes().to_vec())
            .map_err(|_| bad()),
        Curve::BrainpoolP256r1 => bp256::r1::ecdsa::Signature::from_slice(raw)
            .map(|s| s.to_der().as_bytes().to_vec())
            .map_err(|_| bad()),
    }
}

/// Converts DER `SEQUENCE { INTEGER r, INTEGER s }` to raw `r‖s`.
pub fn der_to_raw(curve: Curve, der: &[u8]) -> Result<RawSignature, Error> {
    let bad = || Error::Signature(format!("{curve}: not a DER ECDSA signature"));
    let v = match curve {
        Curve::NistP256 => p256::ecdsa::Signature::from_der(der)
            .map(|s| s.to_bytes().to_vec())
            .map_err(|_| bad())?,
        Curve::BrainpoolP256r1 => bp256::r1::ecdsa::Signature::from_der(der)
            .map(|s| s.to_bytes().to_vec())
            .map_err(|_| bad())?,
    };
    v.try_into().map_err(|_| bad())
}

/// Splits a PEM file into (label, DER) blocks.
fn pem_blocks(pem: &str) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start..];
        let label_end = after[11..]
            .find("-----")
            .ok_or_else(|| Error::Key("unterminated PEM BEGIN line".into()))?;
        let label = after[11..11 + label_end].to_owned();
        let end_marker = format!("-----END {label}-----");
        let end = after
            .find(&end_marker)
            .ok_or_else(|| Error::Key(format!("PEM block {label} has no END line")))?;
        let block = &after[..end + end_marker.len()];
        let (l, der) = der::pem::decode_vec(block.as_bytes())
            .map_err(|e| Error::Key(format!("PEM block {label}: {e}")))?;
        out.push((l.to_owned(), der));
        rest = &after[end + end_marker.len()..];
    }
    Ok(out)
}
