//! The reader behind the `IgnoreRsv` server flaw: it clears the RSV bits of every incoming
//! frame before tungstenite sees them, following frame boundaries with the codec's
//! incremental parser so that any split of the byte stream gives the same result.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wschaos_codec::parse::FrameParser;

const RSV_BITS: u8 = 0x70;

/// Where the byte stream is: still in the HTTP upgrade request, or among frames.
#[derive(Debug, Clone)]
enum Position {
    /// Inside the request head; `blank` tracks whether the current line is empty so far,
    /// because the head ends at the first empty line.
    Head {
        blank: Blank,
    },
    Frames(FrameParser),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blank {
    No,
    LineStart,
    /// A CR right at the start of a line: a CRLF here still ends the head.
    Cr,
}

/// Clears the RSV bits in the first byte of every frame of a byte stream fed to it in
/// arbitrary pieces, and leaves every other byte alone.
#[derive(Debug, Clone)]
pub struct RsvClearer {
    position: Position,
}

impl RsvClearer {
    /// For a stream that starts with a frame.
    pub fn new() -> Self {
        Self {
            position: Position::Frames(FrameParser::new()),
        }
    }

    /// For a server-side stream that starts with the HTTP upgrade request, which has no body:
    /// frames start right after its blank line (CRLF or bare LF, as httparse accepts).
    pub fn after_http_head() -> Self {
        Self {
            position: Position::Head { blank: Blank::No },
        }
    }

    /// Rewrites the next `data.len()` bytes of the stream in place.
    pub fn process(&mut self, data: &mut [u8]) {
        let mut pos = 0;
        if let Position::Head { blank } = &mut self.position {
            while pos < data.len() {
                let byte = data[pos];
                pos += 1;
                *blank = match (byte, *blank) {
                    (b'\n', Blank::LineStart | Blank::Cr) => {
                        self.position = Position::Frames(FrameParser::new());
                        break;
                    }
                    (b'\n', Blank::No) => Blank::LineStart,
                    (b'\r', Blank::LineStart) => Blank::Cr,
                    _ => Blank::No,
                };
            }
        }
        let Position::Frames(parser) = &mut self.position else {
            return;
        };
        while pos < data.len() {
            // The parser reports a frame's end with an event that consumes nothing, so a
            // boundary is seen here before the next frame's first byte is handed over.
            if parser.at_frame_boundary() {
                data[pos] &= !RSV_BITS;
            }
            let (used, event) = parser.parse(&data[pos..]);
            pos += used;
            if event.is_none() {
                break;
            }
        }
    }
}

impl Default for RsvClearer {
    fn default() -> Self {
        Self::new()
    }
}

/// A stream whose reads pass through an [`RsvClearer`]; writes go through untouched.
#[derive(Debug)]
pub struct RsvClearing<S> {
    inner: S,
    clearer: RsvClearer,
}

impl<S> RsvClearing<S> {
    pub fn new(inner: S, clearer: RsvClearer) -> Self {
        Self { inner, clearer }
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for RsvClearing<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.clearer.process(&mut buf.filled_mut()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for RsvClearing<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use tokio::io::AsyncReadExt as _;
    use wschaos_codec::LengthForm;
    use wschaos_codec::encode::Frame;

    use super::*;

    /// Hands out the given chunks one per read, so a test controls every split.
    struct Chunks(VecDeque<Vec<u8>>);

    impl AsyncRead for Chunks {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let queue = &mut self.get_mut().0;
            if let Some(mut chunk) = queue.pop_front() {
                let take = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..take]);
                if take < chunk.len() {
                    queue.push_front(chunk.split_off(take));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    /// Frames of every header shape with RSV bits in all combinations, and payloads of
    /// 0xFF so that clearing anything but a first header byte shows. Returns the stream and
    /// the offsets of the frames' first bytes.
    fn frame_stream() -> (Vec<u8>, Vec<usize>) {
        let payload_126 = vec![0xFF; 126];
        let frames = [
            Frame::binary(&[0xFF; 5]).rsv(true, true, true),
            Frame::text("").rsv(true, false, false).masked([0xFF; 4]),
            Frame::binary(&payload_126).rsv(false, true, false),
            Frame::ping(&[0xFF])
                .rsv(false, false, true)
                .masked([0x70; 4]),
            Frame::binary(&[0xFF; 3])
                .length_form(LengthForm::U64)
                .rsv(true, true, false),
            Frame::binary(&[0x7F; 2]).fin(false),
            Frame::close(1000, b"")
                .rsv(true, false, true)
                .masked([1, 2, 3, 4]),
        ];
        let mut stream = Vec::new();
        let mut starts = Vec::new();
        for frame in &frames {
            starts.push(stream.len());
            stream.extend(frame.encode().expect("consistent test frame"));
        }
        (stream, starts)
    }

    fn expected(stream: &[u8], starts: &[usize], offset: usize) -> Vec<u8> {
        let mut out = stream.to_vec();
        for &s in starts {
            out[offset + s] &= !RSV_BITS;
        }
        out
    }

    async fn read_through(clearer: RsvClearer, chunks: Vec<Vec<u8>>) -> Vec<u8> {
        let mut reader = RsvClearing::new(Chunks(chunks.into()), clearer);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await.expect("in-memory read");
        out
    }

    fn splits(input: &[u8]) -> impl Iterator<Item = Vec<Vec<u8>>> + '_ {
        let one_by_one = input.iter().map(|&b| vec![b]).collect();
        (0..=input.len())
            // An empty chunk would read as EOF, so a cut at either end is one whole chunk.
            .map(|cut| {
                [&input[..cut], &input[cut..]]
                    .into_iter()
                    .filter(|c| !c.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect()
            })
            .chain(std::iter::once(one_by_one))
    }

    #[tokio::test]
    async fn clears_only_first_header_bytes_for_every_split() {
        let (stream, starts) = frame_stream();
        let want = expected(&stream, &starts, 0);
        for chunks in splits(&stream) {
            assert_eq!(read_through(RsvClearer::new(), chunks).await, want);
        }
    }

    #[tokio::test]
    async fn leaves_the_http_head_alone_for_every_split() {
        let (frames, starts) = frame_stream();
        // A bare-LF line end, then a CR that starts a line but is no blank line.
        let head = b"GET / HTTP/1.1\r\nHost: x\n\rX-A: 1\r\n\r\n";
        let mut stream = head.to_vec();
        stream.extend_from_slice(&frames);
        let want = expected(&stream, &starts, head.len());
        for chunks in splits(&stream) {
            assert_eq!(
                read_through(RsvClearer::after_http_head(), chunks).await,
                want
            );
        }
    }
}
