#![no_main]
//! The pre-installed profile import (CSV, or JSON when it starts with `[`), as `smdp profile
//! import` and `POST /v1/ESimProfiles/Import` run it, into a fresh store.
//!
//! Checked: never a panic; a refused file names a reason and records nothing; an accepted one
//! is all or nothing, and importing it again creates nothing (no profile or charge doubled);
//! the store passes its integrity check either way.
use libfuzzer_sys::fuzz_target;
use smdp_core::store::OperatorStore;
use smdp_store_sqlite::SqliteStore;

const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fuzz_target!(|data: &[u8]| {
    // A file the parser refuses never reaches the store (import parses first): checked
    // without one, so that most inputs cost microseconds, not a fresh database.
    if let Err(report) = smdp_core::import::parse(data) {
        assert!(!report.problems.is_empty());
        assert!(report.problems.iter().all(|(_, m)| !m.is_empty()));
        return;
    }
    let store = SqliteStore::in_memory().unwrap();
    store.ensure_account(ACCOUNT, "token", 0).unwrap();
    let mut rng = rsp_auth::rng::rng(Some(1));
    let import =
        |rng: &mut _| smdp_operator::preinstalled::import(&store, ACCOUNT, data, 300, rng, 0);
    let counts = |store: &SqliteStore| {
        let r = store.check("fuzz").unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        r.counts
    };
    let before = counts(&store);
    match import(&mut rng) {
        Err(e) => {
            assert!(!e.rows().is_empty() && e.rows().iter().all(|(_, m)| !m.is_empty()));
            assert_eq!(counts(&store), before, "a refused file changed the store");
        }
        Ok(first) => {
            let rows = smdp_core::import::parse(data).expect("accepted once").len();
            assert_eq!(first.created.len() + first.unchanged, rows);
            let after = counts(&store);
            let again = import(&mut rng).expect("the same file again");
            assert!(again.created.is_empty(), "a second import created profiles");
            assert_eq!(again.unchanged, rows);
            assert_eq!(counts(&store), after, "a second import changed the store");
        }
    }
});
