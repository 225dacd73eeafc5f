//! The veuicc integration tests, one binary (one link on CI).

mod apdu;
mod common;
mod download;
mod malformed;
mod profiles;
