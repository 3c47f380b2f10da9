//! permessage-deflate (RFC 7692) payload handling: a streaming inflater with a
//! bounded output buffer (so a compression bomb costs a size check, not memory),
//! and a compressor used to write compressed frames on purpose.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// RFC 7692 7.2.2: the tail a sender strips and a receiver appends per message.
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

const SCRATCH: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InflateError;

/// Streaming raw-DEFLATE decoder for one direction of a connection.
pub struct Inflater {
    inner: Decompress,
    scratch: Box<[u8]>,
    /// Reset after each message (the sender's `*_no_context_takeover`).
    reset_per_message: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("reset_per_message", &self.reset_per_message)
            .finish()
    }
}

impl Inflater {
    pub fn new(reset_per_message: bool) -> Inflater {
        Inflater {
            // A 15-bit window decodes streams made with any smaller window.
            inner: Decompress::new(false),
            scratch: vec![0u8; SCRATCH].into_boxed_slice(),
            reset_per_message,
        }
    }

    /// Inflates `input` and hands the output to `sink` in bounded chunks. `sink`
    /// may stop the inflation by returning an error (e.g. size limit reached).
    pub fn feed<E>(
        &mut self,
        mut input: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), InflateOrSink<E>> {
        loop {
            let (in0, out0) = (self.inner.total_in(), self.inner.total_out());
            let result = self
                .inner
                .decompress(input, &mut self.scratch, FlushDecompress::Sync);
            let consumed = (self.inner.total_in() - in0) as usize;
            let produced = (self.inner.total_out() - out0) as usize;
            input = &input[consumed..];
            // Output decoded before a corrupt block is delivered first, so that
            // the first problem reported does not depend on how input was split.
            if produced > 0 {
                sink(&self.scratch[..produced]).map_err(InflateOrSink::Sink)?;
            }
            let status = result.map_err(|_| InflateOrSink::Inflate(InflateError))?;
            if status == Status::StreamEnd {
                // A block with BFINAL set ended the DEFLATE stream; what follows
                // in the message starts a new one.
                self.inner.reset(false);
            }
            // With all input taken, call again until nothing more comes out:
            // the decoder may hold decodable bytes back for one call.
            if consumed == 0 && produced == 0 {
                return Ok(());
            }
        }
    }

    /// Ends a message: appends the stripped tail and flushes.
    pub fn finish_message<E>(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), InflateOrSink<E>> {
        let r = self.feed(&TAIL, sink);
        if self.reset_per_message {
            self.inner.reset(false);
        }
        r
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateOrSink<E> {
    Inflate(InflateError),
    Sink(E),
}

/// Compresses one message as permessage-deflate does (sync flush, tail removed),
/// with a fresh context: what a sender with no context takeover writes.
pub fn compress_message(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let mut input = data;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(64));
        }
        let before = c.total_in();
        // Compress into the vector's spare capacity; cannot fail for raw deflate.
        let _ = c.compress_vec(input, &mut out, FlushCompress::Sync);
        input = &input[(c.total_in() - before) as usize..];
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflate_all(inf: &mut Inflater, data: &[u8]) -> Result<Vec<u8>, InflateOrSink<()>> {
        let mut out = Vec::new();
        let mut sink = |b: &[u8]| -> Result<(), ()> {
            out.extend_from_slice(b);
            Ok(())
        };
        inf.feed(data, &mut sink)?;
        inf.finish_message(&mut sink)?;
        Ok(out)
    }

    #[test]
    fn rfc7692_hello_example() {
        // RFC 7692 7.2.3.1: "Hello" compressed.
        let mut inf = Inflater::new(true);
        let out = inflate_all(&mut inf, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]).unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn round_trips_large_and_split() {
        let msg: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let z = compress_message(&msg);
        let mut inf = Inflater::new(true);
        let mut out = Vec::new();
        let mut sink = |b: &[u8]| -> Result<(), ()> {
            out.extend_from_slice(b);
            Ok(())
        };
        for chunk in z.chunks(7) {
            inf.feed(chunk, &mut sink).unwrap();
        }
        inf.finish_message(&mut sink).unwrap();
        assert_eq!(out, msg);
    }

    #[test]
    fn garbage_is_an_error_and_sink_can_stop() {
        let mut inf = Inflater::new(true);
        assert!(matches!(
            inflate_all(&mut inf, &[0xFF, 0xFF, 0xFF]),
            Err(InflateOrSink::Inflate(_))
        ));
        let bomb = compress_message(&vec![0u8; 10_000_000]);
        let mut inf = Inflater::new(true);
        let mut seen = 0usize;
        let r = inf.feed(&bomb, &mut |b: &[u8]| {
            seen += b.len();
            if seen > 100_000 {
                Err("too big")
            } else {
                Ok(())
            }
        });
        assert_eq!(r, Err(InflateOrSink::Sink("too big")));
        assert!(seen <= 100_000 + SCRATCH);
    }
}
