//! Running an async (tokio I/O) WebSocket implementation in-process: an
//! in-memory stream whose reads and writes are always ready, and [`block_on`],
//! which polls a future with a no-op waker. This is sound for these adapters
//! because the only thing their futures wait on is this stream, which never
//! returns `Pending`; a future that still returns `Pending` is waiting on
//! something else, and `block_on` reports it instead of hanging.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::MemStream;

/// [`MemStream`] for tokio's I/O traits.
pub struct AsyncMemStream<'a>(pub MemStream<'a>);

impl AsyncRead for AsyncMemStream<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let head = self.0.take(buf.remaining());
        buf.put_slice(head);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for AsyncMemStream<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.keep(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Polls `fut` to completion on this thread. A future that only waits on
/// [`AsyncMemStream`] completes on its first poll (a few more polls are allowed
/// for one that yields); `None` if it is still pending after that.
pub fn block_on<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..64 {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Some(out);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn reads_are_capped_and_writes_kept() {
        let mut s = AsyncMemStream(MemStream::new(b"hello", 2));
        let out = block_on(async {
            let mut buf = [0u8; 8];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(b"back").await.unwrap();
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).await.unwrap();
            (buf[..n].to_vec(), rest)
        });
        assert_eq!(out, Some((b"he".to_vec(), b"llo".to_vec())));
        assert_eq!(s.0.written, b"back");
    }

    #[test]
    fn a_future_waiting_on_something_else_is_reported() {
        assert_eq!(block_on(std::future::pending::<()>()), None);
    }
}
