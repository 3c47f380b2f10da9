//! Codec throughput, ours beside tungstenite 0.30 on the same bytes in the same
//! run: parse + unmask + validate a stream of client frames as a server would.
//! Workloads: many small frames (2-125 bytes), 1 KiB, 64 KiB, and a 16 MiB message
//! in 1 MiB fragments. Also masking against a plain copy on 64 KiB.
//! Run: `cargo bench -p wschaos-codec --bench codec`. Figures: BENCHMARKS.md.

use std::hint::black_box;
use std::io::{self, Read, Write};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};
use wschaos_codec::decode::{Decoder, DecoderEvent};
use wschaos_codec::encode::Frame;
use wschaos_codec::mask::{apply_mask, apply_mask_reference};
use wschaos_codec::{OpCode, Role, ValidatorConfig};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A client's byte stream: binary frames of the given payload sizes, masked.
fn stream(sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        let payload: Vec<u8> = (0..n).map(|j| (i + j) as u8).collect();
        out.extend(Frame::binary(&payload).masked(KEY).encode().unwrap());
    }
    out
}

/// 16 MiB in 1 MiB fragments.
fn fragmented() -> Vec<u8> {
    let chunk = vec![7u8; 1 << 20];
    let mut out = Vec::new();
    for i in 0..16 {
        let op = if i == 0 {
            OpCode::BINARY
        } else {
            OpCode::CONTINUE
        };
        let f = Frame::new(op, chunk.clone()).fin(i == 15).masked(KEY);
        out.extend(f.encode().unwrap());
    }
    out
}

fn ours(bytes: &[u8]) -> u64 {
    let mut d = Decoder::new(ValidatorConfig::new(Role::Server));
    let mut n = 0u64;
    d.feed(bytes, &mut |ev| {
        if let DecoderEvent::Data(x) = ev {
            n += x.len() as u64;
        }
    })
    .unwrap();
    n
}

struct Mem<'a>(&'a [u8]);

impl Read for Mem<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Mem<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn theirs(bytes: &[u8]) -> u64 {
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let mut ws = WebSocket::from_raw_socket(Mem(bytes), TRole::Server, Some(config));
    let mut n = 0u64;
    while let Ok(m) = ws.read() {
        n += m.len() as u64;
    }
    n
}

fn codec(c: &mut Criterion) {
    let mut small_sizes = Vec::new();
    let mut x = 1u32;
    while small_sizes.iter().sum::<usize>() < 1 << 20 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        small_sizes.push(2 + (x >> 16) as usize % 124);
    }
    let workloads = [
        ("small-2-125", stream(&small_sizes)),
        ("1KiB", stream(&[1024; 1024])),
        ("64KiB", stream(&[65536; 16])),
        ("16MiB-fragmented", fragmented()),
    ];
    for (name, bytes) in &workloads {
        assert_eq!(
            ours(bytes),
            theirs(bytes),
            "{name}: both read the same data"
        );
        let mut g = c.benchmark_group(format!("parse/{name}"));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.sample_size(20);
        g.bench_function("wschaos", |b| b.iter(|| ours(black_box(bytes))));
        g.bench_function("tungstenite", |b| b.iter(|| theirs(black_box(bytes))));
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
