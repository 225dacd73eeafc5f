//! rsp-asn1 codec cost on the ES9+ hot paths: what the server decodes per authenticateClient,
//! and what a BPP of a typical and of a large profile costs to encode and decode.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rsp_asn1::auth::AuthenticateServerResponse;
use rsp_asn1::download::BoundProfilePackage;
use std::hint::black_box;

fn authenticate_server_response(c: &mut Criterion) {
    let value = smdp_benches::authenticate_server_response();
    let der = rsp_asn1::encode(&value).expect("encodes");
    let mut g = c.benchmark_group("AuthenticateServerResponse");
    g.throughput(Throughput::Bytes(der.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| rsp_asn1::decode::<AuthenticateServerResponse>(black_box(&der)).expect("decodes"))
    });
    g.bench_function("encode", |b| {
        b.iter(|| rsp_asn1::encode(black_box(&value)).expect("encodes"))
    });
    g.finish();
}

fn bound_profile_package(c: &mut Criterion) {
    let mut g = c.benchmark_group("BoundProfilePackage");
    for kib in [12usize, 64, 1024] {
        let value = smdp_benches::bpp(kib * 1024);
        let der = rsp_asn1::encode(&value).expect("encodes");
        g.throughput(Throughput::Bytes(der.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("encode", format!("{kib}KiB")),
            &value,
            |b, v| b.iter(|| rsp_asn1::encode(black_box(v)).expect("encodes")),
        );
        g.bench_with_input(
            BenchmarkId::new("decode", format!("{kib}KiB")),
            &der,
            |b, d| {
                b.iter(|| rsp_asn1::decode::<BoundProfilePackage>(black_box(d)).expect("decodes"))
            },
        );
    }
    g.finish();
}

criterion_group!(benches, authenticate_server_response, bound_profile_package);
criterion_main!(benches);
