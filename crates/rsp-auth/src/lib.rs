//! SGP.22 PKI and ECDSA mutual authentication, for the SM-DP+ and for the eUICC/LPA side.
//!
//! * [`key`]: ECDSA keys on NIST P-256 and brainpoolP256r1; aws-lc-rs or RustCrypto backends.
//! * [`ecdh`]: ECKA one-time keys and the shared secret for BPP session keys.
//! * [`curve`]: the two curves.
//! * [`cert`], [`chain`]: certificates and SGP.22 chain checks with status-code mapping.
//! * [`sig`]: signature containers and the input of each SGP.22 signature.
//! * [`generate`], [`pki`]: issuing certificates and whole PKIs in the SGP.26 layout.

pub mod cert;
pub mod chain;
pub mod curve;
pub mod ecdh;
pub mod generate;
pub mod key;
pub mod operator;
pub mod pki;
pub mod rng;
pub mod sig;

pub use curve::Curve;
pub use key::{Backend, PublicKey, RawSignature, SigningKey};

/// What went wrong with a key, a signature or a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("key: {0}")]
    Key(String),
    #[error("signature: {0}")]
    Signature(String),
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("{0}")]
    Io(String),
}
