//! A lean echo server on the project's codec, for benchmarks only: it answers a
//! valid upgrade with 101, then echoes each data frame as it streams in (same
//! opcode, FIN bit and length, unmasked), answers pings with pongs and a Close
//! with the same Close. It works frame by frame and never assembles a message,
//! and it does not validate UTF-8 or fragmentation: it is a cheap upstream, not
//! a conforming endpoint (`wschaos-target server` is that). Given a certificate,
//! it serves `wss://`: the same echo inside TLS (the upstream of the TLS rows).

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use wschaos_codec::encode::write_header;
use wschaos_codec::frame::{Control, FrameHeader, OpCode};
use wschaos_codec::handshake::{
    MAX_HANDSHAKE_BYTES, build_error_response, build_response, parse_request, validate_request,
};
use wschaos_codec::mask::apply_mask;
use wschaos_codec::parse::{Event, FrameParser};

/// Read buffer per connection: a 16 KiB message and its header fit one read, so
/// its echo leaves in one write.
const BUF: usize = 64 * 1024;

/// Accepts on `listener` forever, one task per connection; with `tls`, each
/// connection is TLS first (the `wss://` echo server of the TLS rows).
pub async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>) -> std::io::Result<()> {
    crate::accept_forever(listener, "echo-server", move |tcp, peer| {
        let tls = tls.clone();
        async move {
            let r = match tls {
                None => connection(tcp).await,
                Some(tls) => {
                    async {
                        tcp.set_nodelay(true)?;
                        connection(tls.accept(tcp).await?).await
                    }
                    .await
                }
            };
            if let Err(e) = r {
                // A peer that resets or just goes (no TLS close_notify) at the end
                // of a run is normal; anything else is worth a line.
                use std::io::ErrorKind::{ConnectionReset, UnexpectedEof};
                if !matches!(e.kind(), ConnectionReset | UnexpectedEof) {
                    eprintln!("echo-server: {peer}: {e}");
                }
            }
        }
    })
    .await
}

/// Binds `addr` and serves in the background (over TLS with `tls`); returns
/// the bound address.
pub async fn spawn(addr: SocketAddr, tls: Option<TlsAcceptor>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(serve(listener, tls));
    Ok(local)
}

/// What the echo server needs of a connection: a TCP socket, or TLS over one
/// (TCP_NODELAY already set).
trait Stream: AsyncRead + AsyncWrite + Unpin {
    fn nodelay(&self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Stream for TcpStream {
    fn nodelay(&self) -> std::io::Result<()> {
        self.set_nodelay(true)
    }
}

impl Stream for tokio_rustls::server::TlsStream<TcpStream> {}

/// Where the frame being read is going.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// Echoed (data frames, and pings as pongs, and a Close as a Close).
    Echo,
    /// Dropped (pongs).
    Skip,
}

async fn connection<S: Stream>(mut tcp: S) -> std::io::Result<()> {
    tcp.nodelay()?;
    let mut buf = vec![0u8; BUF];
    // The upgrade request.
    let mut head = Vec::new();
    let (key, head_len) = loop {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        match parse_request(&head) {
            Ok(Some(req)) => match validate_request(&req) {
                Ok(hs) => break (hs.key, req.head_len),
                Err(e) => return refuse(&mut tcp, &e).await,
            },
            Ok(None) if head.len() <= MAX_HANDSHAKE_BYTES => {}
            Ok(None) => {
                return refuse(
                    &mut tcp,
                    &wschaos_codec::handshake::HandshakeError::TooLarge,
                )
                .await;
            }
            Err(e) => return refuse(&mut tcp, &e).await,
        }
    };
    let mut out = build_response(&key, None, &[]);
    let mut parser = FrameParser::new();
    let mut state = Frames::default();
    let closing = state.feed(&mut parser, &head[head_len..], &mut out);
    tcp.write_all(&out).await?;
    // A no-op on TCP; over TLS it sends what the session still holds.
    tcp.flush().await?;
    if closing {
        return tcp.shutdown().await;
    }
    loop {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        out.clear();
        let closing = state.feed(&mut parser, &buf[..n], &mut out);
        if !out.is_empty() {
            tcp.write_all(&out).await?;
            tcp.flush().await?;
        }
        if closing {
            return tcp.shutdown().await;
        }
    }
}

async fn refuse<S: Stream>(
    tcp: &mut S,
    e: &wschaos_codec::handshake::HandshakeError,
) -> std::io::Result<()> {
    tcp.write_all(&build_error_response(e)).await?;
    tcp.shutdown().await
}

/// Per-connection frame state: where the current frame's payload goes and its
/// mask key.
#[derive(Default)]
struct Frames {
    sink: Option<Sink>,
    key: Option<[u8; 4]>,
    close: bool,
}

impl Frames {
    /// Appends the echo of `input` to `out`; true once a Close has been echoed
    /// whole (or a protocol error answered), when the connection should end.
    fn feed(&mut self, parser: &mut FrameParser, mut input: &[u8], out: &mut Vec<u8>) -> bool {
        loop {
            let ev = parser.next_event(&mut input);
            match ev {
                None => return false,
                Some(Event::Header(h)) => {
                    if h.mask.is_none() {
                        // A client must mask: 1002, then end.
                        let _ = wschaos_codec::encode::Frame::close(1002, b"unmasked frame")
                            .encode()
                            .map(|f| out.extend_from_slice(&f));
                        return true;
                    }
                    let opcode = match h.opcode {
                        OpCode::Data(_) => h.opcode,
                        OpCode::Control(Control::Ping) => OpCode::PONG,
                        OpCode::Control(Control::Close) => {
                            self.close = true;
                            OpCode::CLOSE
                        }
                        OpCode::Control(_) => {
                            self.sink = Some(Sink::Skip);
                            continue;
                        }
                    };
                    let reply = FrameHeader {
                        opcode,
                        mask: None,
                        ..h
                    };
                    // Same length as received, so it always encodes.
                    let _ = write_header(&reply, out);
                    self.sink = Some(Sink::Echo);
                    self.key = h.mask;
                }
                Some(Event::Payload { data, offset }) => {
                    if self.sink == Some(Sink::Echo) {
                        let start = out.len();
                        out.extend_from_slice(data);
                        if let Some(key) = self.key {
                            apply_mask(&mut out[start..], key, offset);
                        }
                    }
                }
                Some(Event::End) => {
                    self.sink = None;
                    if self.close {
                        return true;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wschaos_codec::encode::Frame;

    #[test]
    fn echoes_frames_unmasked_and_answers_ping_and_close() {
        let mut input = Frame::binary(b"hello")
            .masked([1, 2, 3, 4])
            .encode()
            .unwrap();
        input.extend(Frame::ping(b"p").masked([9, 9, 9, 9]).encode().unwrap());
        input.extend(Frame::pong(b"x").masked([5, 5, 5, 5]).encode().unwrap());
        input.extend(
            Frame::close(1000, b"")
                .masked([7, 7, 7, 7])
                .encode()
                .unwrap(),
        );
        let mut expected = Frame::binary(b"hello").encode().unwrap();
        expected.extend(Frame::pong(b"p").encode().unwrap());
        expected.extend(Frame::close(1000, b"").encode().unwrap());
        // Whole, and one byte at a time.
        for step in [input.len(), 1] {
            let (mut parser, mut state, mut out) = (FrameParser::new(), Frames::default(), vec![]);
            let mut closed = false;
            for chunk in input.chunks(step) {
                assert!(!closed);
                closed = state.feed(&mut parser, chunk, &mut out);
            }
            assert!(closed);
            assert_eq!(out, expected, "step {step}");
        }
    }

    #[test]
    fn unmasked_frame_gets_1002() {
        let input = Frame::binary(b"x").encode().unwrap();
        let (mut parser, mut state, mut out) = (FrameParser::new(), Frames::default(), vec![]);
        assert!(state.feed(&mut parser, &input, &mut out));
        assert_eq!(out, Frame::close(1002, b"unmasked frame").encode().unwrap());
    }
}
