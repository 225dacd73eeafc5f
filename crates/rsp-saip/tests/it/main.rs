//! The rsp-saip integration tests, one binary (one link on CI).

mod generate;
mod ts48;
