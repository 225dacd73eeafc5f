//! The operator side of smdp-sim: the Super SIM REST API ([`rest`]: `ESimProfiles`, `Sims`,
//! `Charges`), [`accounts`], [`qr`] codes of activation codes, and the two workers that run
//! beside it: [`reservation`] (new → reserving → available) and [`callbacks`] (status
//! callbacks, signed and retried), and [`es2_client`], an operator's ES2+ client (mutual TLS)
//! for `smdp es2` and the tests. Storage is any [`smdp_core::store::OperatorStore`].

//!
//! Features: `runtime` (default) adds the tokio workers and the hyper [`service`]; `qr`
//! (default) renders QR codes. Without them (`default-features = false`, as the fuzz targets
//! build it) the REST API is [`rest::Operator::call`]: request head and body in, response
//! out, no runtime.

pub mod accounts;
#[cfg(feature = "runtime")]
pub mod callbacks;
pub mod egress;
#[cfg(feature = "runtime")]
pub mod es2_client;
pub mod export;
pub mod fixtures;
pub mod fleets;
pub mod oauth;
pub mod params;
pub mod preinstalled;
#[cfg(feature = "qr")]
pub mod qr;
#[cfg(feature = "runtime")]
pub mod reservation;
pub mod rest;
#[cfg(feature = "runtime")]
pub mod service;
