//! The veuicc integration tests, one binary (one link on CI).

mod common;
mod download;
mod malformed;
mod profiles;
