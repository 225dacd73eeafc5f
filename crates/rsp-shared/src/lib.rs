//! Where the third-party reference material lives.
//!
//! SGP.26 certificates, TS.48 profiles and the ASN.1 modules are never copied into the repo;
//! they are read from `RSP_SHARED_DIR`, by default `../shared` beside the workspace. Tests that
//! need them skip with a printed notice when the folder is absent, unless
//! `RSP_REQUIRE_SHARED=1` (set by CI), in which case a missing folder is a failure.

use std::path::{Path, PathBuf};

/// The shared folder: `RSP_SHARED_DIR`, else `../shared` relative to the workspace root.
/// Returns it only if it exists.
pub fn dir() -> Option<PathBuf> {
    let dir = std::env::var_os("RSP_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    dir.is_dir().then_some(dir)
}

/// Whether CI demands the shared folder (`RSP_REQUIRE_SHARED=1`).
pub fn required() -> bool {
    std::env::var("RSP_REQUIRE_SHARED").as_deref() == Ok("1")
}

/// For tests: the shared folder, or `None` after printing a notice. Panics when it is missing
/// and [`required`].
pub fn dir_for_test(what: &str) -> Option<PathBuf> {
    match dir() {
        Some(d) => Some(d),
        None if required() => panic!(
            "RSP_REQUIRE_SHARED=1 but the shared folder is missing (set RSP_SHARED_DIR); needed for {what}"
        ),
        None => {
            eprintln!("NOTICE: shared folder not found (RSP_SHARED_DIR); skipping {what}");
            None
        }
    }
}

/// For tests: a file under the shared folder, or `None` (see [`dir_for_test`]).
pub fn file_for_test(rel: &str) -> Option<Vec<u8>> {
    let d = dir_for_test(rel)?;
    Some(std::fs::read(d.join(rel)).unwrap_or_else(|e| panic!("{}: {e}", d.join(rel).display())))
}
