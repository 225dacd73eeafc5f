//! The BPP hot path: 12, 50, 64 and 256 KiB profiles protected into 1020-byte segments, one
//! thread, per engine — and, in the same run, `openssl speed -evp aes-128-cbc` single-stream
//! CBC for reference. Prints both throughputs and the ratio (issue 16's target: >= 0.95 at
//! every size).

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput};
use rsp_bpp::bpp::protect_segments;
use rsp_bpp::{Bsp, Engine};

const SIZES: [usize; 4] = [12 * 1024, 50 * 1024, 64 * 1024, 256 * 1024];

fn protect(profile: &[u8], engine: Engine) -> rsp_bpp::bsp::Segments {
    let mut bsp = Bsp::new(&[1; 16], &[2; 16], &[3; 16], engine);
    protect_segments(&mut bsp, 0x86, profile)
}

/// Bytes per second of `openssl speed -evp aes-128-cbc` on 16 KiB buffers, if openssl is there.
fn openssl_cbc() -> Option<f64> {
    let out = Command::new("openssl")
        .args([
            "speed",
            "-evp",
            "aes-128-cbc",
            "-bytes",
            "16384",
            "-seconds",
            "3",
            "-mr",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("+F:"))?;
    line.rsplit(':').next()?.trim().parse().ok()
}

/// Median seconds of `f` over `runs` runs.
fn median(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[runs / 2]
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("bsp_protect");
    for n in SIZES {
        let profile: Vec<u8> = (0..n).map(|i| i as u8).collect();
        g.throughput(Throughput::Bytes(n as u64));
        for (engine, name) in [
            (Engine::Auto, "aes-ni"),
            (Engine::Fused, "fused"),
            (Engine::Portable, "portable"),
        ] {
            g.bench_with_input(
                BenchmarkId::new(name, format!("{}KiB", n / 1024)),
                &profile,
                |b, p| b.iter(|| protect(black_box(p), engine)),
            );
        }
    }
    g.finish();
    c.final_summary();

    // The target compares against OpenSSL measured now, on this machine.
    let Some(ossl) = openssl_cbc() else {
        println!("openssl not found: no reference figure");
        return;
    };
    println!(
        "\nopenssl speed -evp aes-128-cbc (16 KiB): {:.0} MB/s",
        ossl / 1e6
    );
    for n in SIZES {
        let profile: Vec<u8> = (0..n).map(|i| i as u8).collect();
        for (engine, name) in [
            (Engine::Auto, "aes-ni"),
            (Engine::Fused, "fused"),
            (Engine::Portable, "portable"),
        ] {
            for _ in 0..200 {
                black_box(protect(&profile, engine));
            }
            let secs = median(2001, || {
                black_box(protect(black_box(&profile), engine));
            });
            let rate = n as f64 / secs;
            println!(
                "BSP protect {:>3} KiB ({name:>8}): {:6.1} us  {:5.0} MB/s  = {:.2} x openssl CBC",
                n / 1024,
                secs * 1e6,
                rate / 1e6,
                rate / ossl
            );
        }
    }
}
