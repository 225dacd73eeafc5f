//! The rsp-auth integration tests, one binary (one link on CI).

mod generate;
mod sgp26;
mod signatures;
