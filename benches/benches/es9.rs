//! The SM-DP+'s cost per ES9+ function, in process (no HTTP/TLS): what one download costs the
//! server on each curve, and a whole download with the virtual eUICC doing its half.
//!
//! Each measured call gets a fresh session (and, for getBoundProfilePackage, a fresh order):
//! the setup runs the earlier steps untimed with `iter_batched`.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use rsp_asn1::es9::{
    AuthenticateClientRequest, GetBoundProfilePackageRequest, InitiateAuthenticationRequest,
    InitiateAuthenticationResponse,
};
use rsp_auth::pki::Pki;
use rsp_auth::{Backend, Curve};
use smdp_core::clock::Clock;
use smdp_core::es9::{Policy, Smdp};
use smdp_core::store::{NewProfile, Store};
use smdp_store_sqlite::SqliteStore;
use veuicc::{lpa, Euicc};

fn certs() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs")
}

struct Bench {
    smdp: Smdp,
    pki: Pki,
    package: Vec<u8>,
    // Interior mutability: criterion's setup and routine closures both borrow the bench.
    rng: std::cell::RefCell<rsp_auth::rng::Rng>,
    orders: std::cell::Cell<u64>,
    /// The store's data folder, removed with the bench.
    dir: std::path::PathBuf,
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Bench {
    fn new(profile_size: usize) -> Self {
        // A store in a data folder, as `smdp serve` runs it (WAL). An in-memory SQLite
        // database truncates its page cache at every commit, at a cost that grows with the
        // database, so the figures would time the bench's own growth.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "smdp-bench-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir).expect("store"));
        let smdp = Smdp::new(
            "localhost",
            Pki::load(&certs()).expect("PKI"),
            store,
            rsp_auth::rng::rng(Some(1)),
            Clock::System,
            Backend::AwsLc,
            Policy {
                max_sessions: u64::MAX,
                ..Policy::default()
            },
        )
        .expect("SM-DP+");
        let package = rsp_saip::MinimalUsim {
            target_size: Some(profile_size),
            ..Default::default()
        }
        .build()
        .expect("profile")
        .to_der();
        Self {
            smdp,
            pki: Pki::load(&certs()).expect("PKI"),
            package,
            rng: std::cell::RefCell::new(rsp_auth::rng::rng(Some(2))),
            orders: std::cell::Cell::new(0),
            dir,
        }
    }

    fn euicc(&self, curve: Curve) -> Euicc {
        Euicc::from_pki(&self.pki, curve, Backend::AwsLc, SystemTime::now()).expect("eUICC")
    }

    /// A downloadable order (a fresh ICCID each time) under a new matching ID.
    fn order(&self) -> String {
        let n = self.orders.get() + 1;
        self.orders.set(n);
        let mid = format!("BENCH-{n}");
        let iccid = format!("8900101{n:012}");
        let iccid = format!("{iccid}{}", rsp_asn1::ids::luhn_check_digit(&iccid));
        self.smdp
            .store
            .insert_profile(
                &NewProfile {
                    sid: format!("HP{n:032x}"),
                    account_sid: "AC0".into(),
                    matching_id: Some(mid.clone()),
                    iccid: Some(iccid.clone()),
                    template: "minimal".into(),
                    package: Some(personalised(&self.package, &iccid)),
                    service_provider_name: "bench".into(),
                    profile_name: "bench".into(),
                    max_attempts: 1,
                    ..Default::default()
                },
                0,
            )
            .expect("order");
        mid
    }

    fn initiate_request(&self, e: &mut Euicc) -> InitiateAuthenticationRequest {
        lpa::initiate_authentication(e, "localhost", &mut *self.rng.borrow_mut()).expect("request")
    }

    fn authenticate_request(
        &self,
        e: &mut Euicc,
        mid: &str,
    ) -> (InitiateAuthenticationResponse, AuthenticateClientRequest) {
        let req = self.initiate_request(e);
        let init = self.smdp.initiate_authentication(&req).expect("initiate");
        let asr = lpa::authenticate_server_request(
            &init,
            lpa::ctx_params1(Some(mid), lpa::default_device_info()),
        )
        .expect("request");
        let resp = e.authenticate_server(&asr, SystemTime::now());
        let ac = lpa::authenticate_client_request(&init.transaction_id, &resp).expect("request");
        (init, ac)
    }

    /// A fresh order, authenticated and prepared up to getBoundProfilePackage.
    fn get_bpp_request(&self, e: &mut Euicc, mid: &str) -> GetBoundProfilePackageRequest {
        let (_, ac) = self.authenticate_request(e, mid);
        let auth = self.smdp.authenticate_client(&ac).expect("authenticate");
        let pdr = lpa::prepare_download_request(&auth, None).expect("request");
        let resp = e.prepare_download(&pdr, None, &mut *self.rng.borrow_mut(), SystemTime::now());
        lpa::get_bound_profile_package_request(&auth.transaction_id, &resp).expect("request")
    }
}

/// The template with the order's ICCID: the eUICC refuses a package whose ICCID differs
/// from StoreMetadata's, and the whole-download bench must time a real install.
fn personalised(package: &[u8], iccid: &str) -> Vec<u8> {
    let mut p = rsp_saip::ProfilePackage::parse(package).expect("package");
    p.personalise(&rsp_saip::Personalisation {
        iccid: Some(iccid.into()),
        ..Default::default()
    })
    .expect("personalise");
    p.to_der()
}

const CURVES: [(Curve, &str); 2] = [(Curve::NistP256, "nist"), (Curve::BrainpoolP256r1, "brp")];

fn functions(c: &mut Criterion) {
    let mut g = c.benchmark_group("es9");
    g.sample_size(30);
    for (curve, name) in CURVES {
        let b = Bench::new(16 * 1024);
        let mut e = b.euicc(curve);
        g.bench_function(BenchmarkId::new("initiateAuthentication", name), |x| {
            x.iter_batched(
                || b.initiate_request(&mut e),
                |req| black_box(b.smdp.initiate_authentication(&req).expect("ok")),
                BatchSize::SmallInput,
            )
        });
        let mid = b.order();
        g.bench_function(BenchmarkId::new("authenticateClient", name), |x| {
            x.iter_batched(
                || b.authenticate_request(&mut e, &mid).1,
                |req| black_box(b.smdp.authenticate_client(&req).expect("ok")),
                BatchSize::SmallInput,
            )
        });
        for size in [16 * 1024, 64 * 1024] {
            let b = Bench::new(size);
            let mut e = b.euicc(curve);
            g.bench_function(
                BenchmarkId::new(format!("getBoundProfilePackage/{}KiB", size / 1024), name),
                |x| {
                    x.iter_batched(
                        || b.get_bpp_request(&mut e, &b.order()),
                        |req| black_box(b.smdp.get_bound_profile_package(&req).expect("ok")),
                        BatchSize::SmallInput,
                    )
                },
            );
        }
    }
    g.finish();
}

/// Both halves of a download in one thread: the server's four calls and the eUICC's
/// verification, key agreement, unwrap and install.
fn whole_download(c: &mut Criterion) {
    let mut g = c.benchmark_group("download");
    g.sample_size(20);
    for (curve, name) in CURVES {
        let b = Bench::new(16 * 1024);
        // One untimed download first: it must end installed, or the figures time a refusal.
        {
            let (mid, mut e) = (b.order(), b.euicc(curve));
            let req = b.get_bpp_request(&mut e, &mid);
            let bpp = b.smdp.get_bound_profile_package(&req).expect("bpp");
            let pir = e
                .load_bound_profile_package(&bpp.bound_profile_package.decode().expect("bpp"))
                .expect("installs");
            let n = rsp_asn1::notification::PendingNotification::ProfileInstallationResult(pir);
            let note = lpa::handle_notification_request(&n).expect("request");
            b.smdp.handle_notification(&note).expect("recorded");
            let p = b.smdp.store.profile_by_matching_id(&mid).unwrap().unwrap();
            assert_eq!(p.status, smdp_core::store::ProfileStatus::Installed);
        }
        g.bench_function(BenchmarkId::new("16KiB", name), |x| {
            x.iter_batched(
                || (b.order(), b.euicc(curve)),
                |(mid, mut e)| {
                    let req = b.get_bpp_request(&mut e, &mid);
                    let bpp = b.smdp.get_bound_profile_package(&req).expect("bpp");
                    let pir = e
                        .load_bound_profile_package(
                            &bpp.bound_profile_package.decode().expect("bpp"),
                        )
                        .expect("installs");
                    let n =
                        rsp_asn1::notification::PendingNotification::ProfileInstallationResult(pir);
                    let note = lpa::handle_notification_request(&n).expect("request");
                    black_box(b.smdp.handle_notification(&note).expect("installed"))
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, functions, whole_download);
criterion_main!(benches);
