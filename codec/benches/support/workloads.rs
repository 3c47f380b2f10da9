//! The codec benchmark's inputs and the two decoders under test, shared by
//! `benches/codec.rs` (criterion) and `examples/decode_loop.rs` (for profilers).
//! Every workload is a client's byte stream, read as a server reads it: parse,
//! unmask, validate.

use std::io::{self, Read, Write};

use tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};
use wschaos_codec::decode::{Decoder, DecoderEvent};
use wschaos_codec::encode::Frame;
use wschaos_codec::{OpCode, Role, ValidatorConfig};

pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Binary frames of the given payload sizes, masked.
pub fn stream(sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        let payload: Vec<u8> = (0..n).map(|j| (i + j) as u8).collect();
        out.extend(Frame::binary(&payload).masked(KEY).encode().unwrap());
    }
    out
}

/// 16 MiB in 1 MiB fragments.
pub fn fragmented() -> Vec<u8> {
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

/// Payload sizes of 2-125 bytes (a fixed LCG), 1 MiB in total.
pub fn small_sizes() -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut x = 1u32;
    while sizes.iter().sum::<usize>() < 1 << 20 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        sizes.push(2 + (x >> 16) as usize % 124);
    }
    sizes
}

/// (name, bytes) of every workload.
pub fn all() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("small-2-125", stream(&small_sizes())),
        ("1KiB", stream(&[1024; 1024])),
        ("64KiB", stream(&[65536; 16])),
        ("16MiB-fragmented", fragmented()),
    ]
}

/// Ours: the streaming `Decoder` (no message assembly). Returns data bytes seen.
pub fn ours(bytes: &[u8]) -> u64 {
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

/// An in-memory socket: reads from a slice, swallows writes.
pub struct Mem<'a>(pub &'a [u8]);

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

/// tungstenite 0.30's `WebSocket::read` (assembles each message).
pub fn tungstenite(bytes: &[u8]) -> u64 {
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
