//! The rsp-bpp integration tests, one binary (one link on CI).

mod bpp;
mod vectors;
