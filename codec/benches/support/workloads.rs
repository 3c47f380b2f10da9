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

/// How much each decoder reads from the in-memory socket at a time. Every
/// decoder copies the stream into its own buffer through a `read` call, as from a
/// real socket; ours uses the proxy's read size.
pub const READ_SIZE: usize = 16 * 1024;

/// Ours: the streaming `Decoder` (no message assembly), fed from a reused read
/// buffer. Returns the data bytes seen.
pub fn ours(bytes: &[u8]) -> u64 {
    let mut socket = Mem(bytes);
    let mut buf = vec![0u8; READ_SIZE];
    let mut d = Decoder::new(ValidatorConfig::new(Role::Server));
    let mut n = 0u64;
    loop {
        let got = socket.read(&mut buf).unwrap();
        if got == 0 {
            return n;
        }
        d.feed(&buf[..got], &mut |ev| {
            if let DecoderEvent::Data(x) = ev {
                n += x.len() as u64;
            }
        })
        .unwrap();
    }
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

impl tokio::io::AsyncRead for Mem<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let n = buf.remaining().min(self.0.len());
        buf.put_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        std::task::Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Mem<'_> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        b: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::task::Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// fastwebsockets 0.10's `WebSocket::read_frame` (frames, no message assembly,
/// like ours). The in-memory socket never blocks, so one `block_on` per stream on
/// a current-thread runtime adds no scheduling. It checks less than we do (no
/// masking direction, no fragmentation order), which favours it.
pub fn fastwebsockets(rt: &tokio::runtime::Runtime, bytes: &[u8]) -> u64 {
    use fastwebsockets::{OpCode as FOp, Role as FRole, WebSocket as FWebSocket};
    rt.block_on(async {
        let mut ws = FWebSocket::after_handshake(Mem(bytes), FRole::Server);
        ws.set_max_message_size(64 << 20);
        let mut n = 0u64;
        while let Ok(frame) = ws.read_frame().await {
            if matches!(frame.opcode, FOp::Binary | FOp::Text | FOp::Continuation) {
                n += frame.payload.len() as u64;
            }
        }
        n
    })
}

/// The runtime `fastwebsockets` runs on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
}
