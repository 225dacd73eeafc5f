//! smdp-sim's server side: everything the `smdp` binary runs that is not a protocol crate.
//!
//! - [`es9`]: the five ES9+ functions (digest §1.5), over [`store`] and the [`status`] table.
//! - [`http`]: hyper + rustls transport; [`serve`]: configuration and startup.
//! - [`orders`]: reserving profiles (numbers, personalised [`template`]s).
//! - [`rest`]: the operator API (Super SIM `ESimProfiles`, `Sims`), over
//!   [`operator_store`], with the [`reservation`] worker.

pub mod accounts;
pub mod callbacks;
pub mod clock;
pub mod es9;
pub mod http;
pub mod operator_store;
pub mod order_options;
pub mod orders;
pub mod qr;
pub mod reservation;
pub mod rest;
pub mod serve;
pub mod status;
pub mod store;
pub mod template;
