//! smdp-sim's server side: everything the `smdp` binary runs that is not a protocol crate.

pub mod template;
