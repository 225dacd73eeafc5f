//! BPP protection (SGP.22 BSP / SCP03t) and the Bound Profile Package.
//!
//! * [`kdf`]: X9.63 KDF from the ECKA shared secret to MCV0, S-ENC, S-MAC.
//! * [`bsp`]: one BSP instance — segment encryption, MAC chaining, verification.
//! * [`bpp`]: build the BPP for one eUICC (SM-DP+), unwrap it (eUICC), pre-protected profiles.
//! * [`check`]: check a BPP from any SM-DP+ step by step, explaining the first failure.
//!
//! The hot path (CBC + CMAC per 1020-byte segment) runs as one fused AES-NI loop where the CPU
//! has AES-NI ([`bsp::Engine::Auto`]), else as the same fused loop on the RustCrypto `aes`
//! crate's block-closure API ([`bsp::Engine::Fused`], safe code, about 0.8x on x86-64: not
//! close enough to drop the AES-NI module); tests hold every engine to the same bytes.

#[cfg(target_arch = "x86_64")]
mod aesni;
pub mod bpp;
pub mod bsp;
pub mod check;
mod fused;
pub mod kdf;

pub use bsp::{Bsp, Engine};

/// Why a BPP could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Auth(#[from] rsp_auth::Error),
    #[error(transparent)]
    Asn1(#[from] rsp_asn1::Error),
    #[error("invalid input: {0}")]
    Invalid(String),
}
