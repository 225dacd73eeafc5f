//! SAIP profile packages (TCA "eUICC Profile Package: Interoperable Format", PEDefinitions
//! v3.3.1): a plain concatenation of DER `ProfileElement` values.
//!
//! Elements are kept as their raw TLVs, so a package re-encodes byte-identically whatever it
//! holds (unknown or unmodelled elements included); the fields the simulator needs are read
//! from the raw bytes with the borrowed TLV reader.
//!
//! - [`package`]: parse, validate (digest §6), list.
//! - [`personalise`]: ICCID, IMSI, Ki/OPc, SPN written into a template; values read back.
//! - [`generate`]: a minimal USIM profile of any size, owned by the project.
//! - [`numbers`]: ICCID/IMSI ranges and random keys for the n-th reserved profile.
//! - [`milenage`]: OPc from K and an operator's OP (TS 35.206 §4.1).

pub mod generate;
pub mod milenage;
pub mod numbers;
pub mod package;
pub mod pe;
pub mod personalise;

pub use generate::MinimalUsim;
pub use numbers::{NumberPlan, PlanError};
pub use package::{uicc_capability_bit, ProfileHeader, ProfilePackage};
pub use pe::{PeKind, ProfileElement};
pub use personalise::{Personalisation, ProfileValues};

/// Why a package was refused: which element, which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not a sequence of well-formed DER TLVs.
    #[error("profile element #{index} (at byte {offset}): {msg}")]
    Malformed {
        index: usize,
        offset: usize,
        msg: String,
    },
    /// A SAIP rule is broken.
    #[error("profile element #{index} ({pe}): {rule}")]
    Rule {
        index: usize,
        pe: &'static str,
        rule: String,
    },
}
