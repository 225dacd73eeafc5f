//! The rsp-asn1 integration tests, one binary (one link on CI).

mod asn1tools_xcheck;
mod binding;
mod codec;
mod common;
mod es9_json;
mod golden;
