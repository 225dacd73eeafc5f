//! The SM-DP+ as a server: [`http`] (hyper on tokio-rustls, limits, the ES9+ and REST
//! services) and [`serve`] (configuration, startup, graceful shutdown). Everything that
//! decides is in `smdp-core`; this crate only moves bytes and owns sockets.

pub mod es2;
pub mod http;
pub mod serve;
pub mod store_location;

pub use store_location::StoreLocation;
