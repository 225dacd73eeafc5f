//! The operator side of smdp-sim: the Super SIM REST API ([`rest`]: `ESimProfiles`, `Sims`,
//! `Charges`), [`accounts`], [`qr`] codes of activation codes, and the two workers that run
//! beside it: [`reservation`] (new → reserving → available) and [`callbacks`] (status
//! callbacks, signed and retried). Storage is any [`smdp_core::store::OperatorStore`].

pub mod accounts;
pub mod callbacks;
pub mod qr;
pub mod reservation;
pub mod rest;
