//! A virtual eUICC at the ES10b message level: the download half of SGP.22 as the eUICC plays it.
//!
//! [`Euicc`] holds one eUICC's identity (EID, CERT.EUICC, CERT.EUM, SK.EUICC), the CIs it trusts
//! to verify servers, its installed profiles and pending notifications, and the state of the
//! current RSP session. Its methods are the ES10b functions a download goes through:
//!
//! 1. [`Euicc::get_euicc_challenge`], [`Euicc::euicc_info1`] (for ES9+ initiateAuthentication);
//! 2. [`Euicc::authenticate_server`]: checks CERT.DPauth and serverSignature1, signs
//!    euiccSigned1;
//! 3. [`Euicc::prepare_download`]: checks CERT.DPpb and smdpSignature2, makes otPK.EUICC,
//!    signs euiccSigned2;
//! 4. [`Euicc::load_bound_profile_package`]: unwraps the BPP, installs the profile, signs the
//!    ProfileInstallationResult and queues it as a notification;
//! 5. [`Euicc::cancel_session`] at any point after 2.
//!
//! Everything the server sends is checked; a refusal is the SGP.22 error alternative of the
//! response (with the error code the spec names), never a panic. Signed structures are encoded
//! once and signed over exactly those bytes ([`rsp_asn1::raw::Signed`]).
//!
//! [`lpa`] has the LPA-side glue that turns ES9+ responses into these ES10b requests, so that a
//! test can drive a real SM-DP+ with this crate alone. APDU framing (STORE DATA) comes later and
//! sits on top of these functions.

pub mod apdu;
pub mod es10;
mod euicc;
pub mod lpa;
pub mod profiles;
mod session;
pub mod sima;
pub mod state;

pub use euicc::{CardFaults, Euicc, EuiccParts, InstalledProfile, Limits};
pub use profiles::Preinstalled;

/// Why an eUICC could not be built or a command could not run at all.
///
/// Refusals of server input are not errors: they are the error alternatives of the ES10b
/// responses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The PKI folder or the given parts do not make an eUICC.
    #[error("eUICC identity: {0}")]
    Identity(String),
    #[error(transparent)]
    Auth(#[from] rsp_auth::Error),
    #[error(transparent)]
    Chain(#[from] rsp_auth::chain::ChainError),
    #[error(transparent)]
    Asn1(#[from] rsp_asn1::Error),
    /// A state file that cannot be read or written.
    #[error("card state: {0}")]
    State(String),
    /// The command needs an RSP session in another state (the LPA called things out of order).
    #[error("no RSP session for this command: {0}")]
    NoSession(&'static str),
}
