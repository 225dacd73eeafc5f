//! Conformance vectors (`smdp record`, `smdp replay`): one seeded download session, recorded as
//! one JSON file that names every message, key, signature input and BPP segment in SGP.22
//! terms; replayed against the current SM-DP+ and virtual eUICC byte for byte; and its
//! one-field mutations, each with the answer SGP.22 requires of the side that receives it.
//!
//! A session is a pure function of its [`params::Params`] and this code: the SM-DP+ and the
//! card draw from fixed seeds and share a fixed clock, so the same parameters give the same
//! file, byte for byte.

pub mod negative;
pub mod params;
pub mod replay;
pub mod rig;
pub mod session;
mod tlv;

pub use params::{Params, PkiChoice};

/// The `format` of the files this crate writes and reads.
pub const FORMAT: &str = "smdp-sim session/1";
