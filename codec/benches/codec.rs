//! Codec throughput, ours beside tungstenite 0.30 and fastwebsockets 0.10 on the
//! same bytes in the same run: read a stream of client frames from an in-memory
//! socket, parse, unmask and validate them, as a server would.
//! Workloads: many small frames (2-125 bytes), 1 KiB, 64 KiB, and a 16 MiB message
//! in 1 MiB fragments. Also masking against a plain copy on 64 KiB.
//! Run: `cargo bench -p wschaos-codec --bench codec` (or `scripts/bench codec` for the
//! ratio table). Figures: BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wschaos_codec::mask::{apply_mask, apply_mask_reference};

#[path = "support/workloads.rs"]
mod workloads;
use workloads::{KEY, ours, tungstenite as theirs};

fn codec(c: &mut Criterion) {
    let workloads = workloads::all();
    let rt = workloads::runtime();
    for (name, bytes) in &workloads {
        let want = ours(bytes);
        assert_eq!(
            want,
            theirs(bytes),
            "{name}: tungstenite reads the same data"
        );
        assert_eq!(
            want,
            workloads::fastwebsockets(&rt, bytes),
            "{name}: fastwebsockets reads the same data"
        );
        let mut g = c.benchmark_group(format!("parse/{name}"));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.sample_size(20);
        g.bench_function("wschaos", |b| b.iter(|| ours(black_box(bytes))));
        g.bench_function("tungstenite", |b| b.iter(|| theirs(black_box(bytes))));
        g.bench_function("fastwebsockets", |b| {
            b.iter(|| workloads::fastwebsockets(&rt, black_box(bytes)))
        });
        g.finish();
    }
    let mut buf = vec![0u8; 65536];
    let src = vec![9u8; 65536];
    let mut g = c.benchmark_group("mask/64KiB");
    g.throughput(Throughput::Bytes(65536));
    g.bench_function("apply_mask", |b| {
        b.iter(|| apply_mask(black_box(&mut buf), KEY, 1))
    });
    g.bench_function("bytewise", |b| {
        b.iter(|| apply_mask_reference(black_box(&mut buf), KEY, 1))
    });
    g.bench_function("memcpy", |b| {
        b.iter(|| buf.copy_from_slice(black_box(&src)))
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
