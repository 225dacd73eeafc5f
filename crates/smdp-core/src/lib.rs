//! The SM-DP+ without I/O: everything that decides, nothing that waits on a socket.
//!
//! - [`es9`]: the five ES9+ functions (SGP.22 5.6, one module each) and [`es9::dispatch`],
//!   the JSON entry point the HTTP layer and the fuzzers call;
//! - [`status`]: the one table of ES9+ (subjectCode, reasonCode) pairs;
//! - [`orders`], [`order_options`], [`template`]: reserving profiles;
//! - [`store`]: the store traits, their records and the contract every backend keeps;
//! - [`address`], [`clock`]: the one SM-DP+ address, and time tests can move;
//! - [`export`]: issued subscribers' keys as CSV, JSON or Open5GS input.
//!
//! No tokio, hyper, rusqlite or anyhow here (`cargo tree -p smdp-core -e normal`).

pub mod address;
pub mod clock;
pub mod credentials;
pub mod es2;
pub mod es9;
pub mod export;
pub mod faults;
pub mod fixtures;
pub mod hostile;
pub mod import;
pub mod order_options;
pub mod orders;
pub mod status;
pub mod store;
pub mod template;
