//! The `veuicc` command's parts: lpac's stdio APDU driver protocol ([`driver`]), which the
//! TCP front-end speaks too.

pub mod driver;
