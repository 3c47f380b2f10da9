//! A stream wrapper that records what goes over a case's connection: every read
//! and write, with its time since the case began and its direction, into a
//! bounded [`WireLog`] (the per-case report files and the HTML report decode it).
//! It passes on what only the connection can do (looking ahead without waiting,
//! `try_read_now`), and records what `try_read_now` takes.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use wschaos_codec::Role;

use crate::report::exchange::{Dir, WireLog};
use crate::tls::Conn;

/// A shared handle on one case's log: the case's code records through the
/// stream, the report takes the log when the case is done.
#[derive(Debug, Clone)]
pub struct Wire {
    start: Instant,
    log: Arc<Mutex<WireLog>>,
}

impl Wire {
    /// A log for a case that begins now; `ours` is wschaos's role.
    pub fn new(ours: Role) -> Wire {
        Wire {
            start: Instant::now(),
            log: Arc::new(Mutex::new(WireLog::new(ours))),
        }
    }

    pub fn record(&self, dir: Dir, bytes: &[u8]) {
        let at = self.start.elapsed().as_micros() as u64;
        if let Ok(mut log) = self.log.lock() {
            log.record(at, dir, bytes);
        }
    }

    /// What was recorded so far.
    pub fn take(&self) -> WireLog {
        self.log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Wraps a stream so that its traffic is recorded here.
    pub fn wrap<S>(&self, inner: S) -> Recorded<S> {
        Recorded {
            inner,
            wire: self.clone(),
        }
    }
}

/// A stream whose reads and writes are recorded in a [`Wire`].
#[derive(Debug)]
pub struct Recorded<S> {
    inner: S,
    wire: Wire,
}

impl<S> Recorded<S> {
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl Recorded<Conn> {
    /// [`Conn::try_read_now`], recorded.
    pub fn try_read_now(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.try_read_now(buf)?;
        self.wire.record(Dir::Received, &buf[..n]);
        Ok(n)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            this.wire.record(Dir::Received, &buf.filled()[before..]);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            this.wire.record(Dir::Sent, &buf[..*n]);
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A case's connection: what `write_case` and `valid_first` write to and read
/// from, and whether the peer has acted yet ([`Conn::acted_now`]).
pub trait CaseStream: AsyncRead + AsyncWrite + Unpin + Send {
    fn acted_now(&mut self) -> bool;
}

impl CaseStream for Conn {
    fn acted_now(&mut self) -> bool {
        Conn::acted_now(self)
    }
}

impl CaseStream for Recorded<Conn> {
    fn acted_now(&mut self) -> bool {
        self.inner.acted_now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn reads_and_writes_are_recorded_in_order() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let wire = Wire::new(Role::Client);
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut s = wire.wrap(Conn::from(tcp));
        let (mut peer, _) = listener.accept().await.unwrap();
        s.write_all(b"hello").await.unwrap();
        let mut got = [0u8; 5];
        peer.read_exact(&mut got).await.unwrap();
        peer.write_all(b"back").await.unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        drop(peer);
        s.get_ref().tcp().readable().await.unwrap();
        assert_eq!(s.try_read_now(&mut buf).unwrap(), 0);
        let log = wire.take();
        let dirs: Vec<(Dir, &[u8])> = log.chunks.iter().map(|c| (c.dir, &c.bytes[..])).collect();
        assert_eq!(
            dirs,
            [(Dir::Sent, &b"hello"[..]), (Dir::Received, &b"back"[..])]
        );
        assert_eq!(log.total, [5, 4]);
    }
}
