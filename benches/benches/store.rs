//! Store lookups as the store grows (issue 16, "Scale"): by matching ID (the activation-code
//! path), by EID (the default SM-DP+ path), by ICCID (the Sims resource's filter), at 1k,
//! 100k and 1M profiles in a data folder as `smdp serve` keeps it; the store's bytes per
//! profile are printed. Each profile carries a real minimal package, so the rows and blobs are
//! what reserved orders leave behind. Filling 1M rows takes a few minutes.
//!
//! Run: `cargo bench -p smdp-benches --bench store` (`SMDP_BENCH_ROWS=1000,100000` for less).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rsp_asn1::ids::Eid;
use smdp_core::store::{
    Cursor, Lease, NewProfile, OperatorStore, ProfileStatus, Reservation, SimFilter, Store,
};
use smdp_store_sqlite::SqliteStore;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

fn eid(i: u64) -> Eid {
    Eid::with_check_digits(&format!("89049032{:022}", i)).expect("EID")
}

fn iccid(i: u64) -> String {
    format!("8988247{:012}", i)
}

/// A data folder with `n` orders made the way the REST API makes them (created `new`,
/// claimed by the reservation worker, completed with numbers, package, Sim and charge), each
/// with an EID, a matching ID and an ICCID.
fn filled(n: u64, package: &[u8]) -> (SqliteStore, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("smdp-bench-store-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = SqliteStore::open(&dir).expect("store");
    store.ensure_account(ACCOUNT, "token", 0).expect("account");
    let lease = Lease {
        owner: "bench".into(),
        until: i64::MAX,
    };
    let mut i = 0u64;
    while i < n {
        let batch = (n - i).min(256);
        for k in i..i + batch {
            store
                .insert_profile(
                    &NewProfile {
                        sid: format!("HP{k:032x}"),
                        account_sid: ACCOUNT.into(),
                        status: Some(ProfileStatus::New),
                        eid: Some(eid(k)),
                        matching_id: Some(format!("BENCH-{k}")),
                        template: "minimal".into(),
                        max_attempts: 5,
                        ..Default::default()
                    },
                    0,
                )
                .expect("insert");
        }
        for p in store
            .claim_reservations(&lease, 0, batch as usize)
            .expect("claim")
        {
            let k = u64::from_str_radix(&p.sid[2..], 16).expect("sid");
            // As the worker: new → reserving, then the numbers and the package.
            store
                .set_status(
                    p.id,
                    &[ProfileStatus::New],
                    ProfileStatus::Reserving,
                    None,
                    0,
                )
                .expect("reserving");
            let done = store
                .complete_reservation(
                    p.id,
                    &Reservation {
                        iccid: iccid(k),
                        imsi: format!("00101{k:010}"),
                        package: package.to_vec(),
                        sim_sid: format!("HS{k:032x}"),
                        charge_cents: 300,
                        ppk: None,
                    },
                    "bench",
                    0,
                )
                .expect("complete");
            assert!(done);
        }
        i += batch;
    }
    (store, dir)
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

fn lookups(c: &mut Criterion) {
    let rows: Vec<u64> = std::env::var("SMDP_BENCH_ROWS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 100_000, 1_000_000]);
    let package = rsp_saip::MinimalUsim::default()
        .build()
        .expect("minimal package")
        .to_der();
    let mut g = c.benchmark_group("store lookup");
    for &n in &rows {
        let (store, dir) = filled(n, &package);
        eprintln!(
            "store of {n} profiles: {} bytes per profile ({}-byte packages)",
            dir_bytes(&dir) / n.max(1),
            package.len()
        );
        let mut i = 0u64;
        let mut next = move || {
            i = (i * 7919 + 104_729) % n;
            i
        };
        g.bench_with_input(BenchmarkId::new("by matching ID", n), &n, |b, _| {
            b.iter(|| {
                let k = next();
                black_box(store.profile_by_matching_id(&format!("BENCH-{k}")).unwrap())
            })
        });
        g.bench_with_input(BenchmarkId::new("by EID", n), &n, |b, _| {
            b.iter(|| black_box(store.profile_for_eid(&eid(next())).unwrap()))
        });
        g.bench_with_input(BenchmarkId::new("by ICCID", n), &n, |b, _| {
            b.iter(|| {
                let f = SimFilter {
                    iccid: Some(iccid(next())),
                    ..Default::default()
                };
                black_box(store.list_sims(ACCOUNT, &f, Cursor::Start, 1).unwrap())
            })
        });
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
    g.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
