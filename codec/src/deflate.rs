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
    /// An inflater with the 15-bit window, which decodes streams made with any
    /// smaller window.
    pub fn new(reset_per_message: bool) -> Inflater {
        Inflater::with_window(reset_per_message, 15)
    }

    /// An inflater whose window is `bits` (8 to 15) wide: a stream that refers
    /// further back than the sender's agreed `*_max_window_bits` allow is an
    /// error. zlib resolves a reference from its window plus the output of the
    /// current call, so the output is taken in pieces of the window's size: a
    /// reference more than twice the window back always fails. (zlib's
    /// smallest inflate window is 9 bits; an 8-bit window is checked with it and
    /// 256-byte pieces.)
    pub fn with_window(reset_per_message: bool, bits: u8) -> Inflater {
        let bits = bits.clamp(8, 15);
        let scratch = if bits < 15 { 1 << bits } else { SCRATCH };
        Inflater {
            inner: Decompress::new_with_window_bits(false, bits.max(9)),
            scratch: vec![0u8; scratch].into_boxed_slice(),
            reset_per_message,
        }
    }

    /// Inflates `input` and hands the output to `sink` in bounded chunks. `sink`
    /// may stop the inflation by returning an error (e.g. size limit reached).
    pub fn feed<E>(
        &mut self,
        input: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), InflateOrSink<E>> {
        self.inflate(input, sink, false)
    }

    /// [`Self::feed`]; with `tail`, `input` is the tail a receiver appends, and
    /// what is left of it after a block with BFINAL set ends the stream is
    /// dropped: it is not the sender's data.
    fn inflate<E>(
        &mut self,
        mut input: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), E>,
        tail: bool,
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
                if tail {
                    return Ok(());
                }
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
        let r = self.inflate(&TAIL, sink, true);
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
    Compressor::new(true, 15).message(data)
}

/// A permessage-deflate sender for one direction of a connection: keeps its
/// context from message to message unless told not to, and never refers
/// further back than its window.
pub struct Compressor {
    inner: Compress,
    reset_per_message: bool,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("reset_per_message", &self.reset_per_message)
            .finish()
    }
}

impl Compressor {
    /// `window_bits` is the agreed `*_max_window_bits` (8 to 15). zlib cannot
    /// make an 8-bit window, so for 8 the compressor writes stored blocks, which
    /// refer to nothing and so fit any window.
    pub fn new(reset_per_message: bool, window_bits: u8) -> Compressor {
        let bits = window_bits.clamp(8, 15);
        let inner = if bits == 8 {
            Compress::new_with_window_bits(Compression::none(), false, 9)
        } else {
            Compress::new_with_window_bits(Compression::default(), false, bits)
        };
        Compressor {
            inner,
            reset_per_message,
        }
    }

    /// One message's payload: sync flush, the RFC 7692 tail removed.
    pub fn message(&mut self, data: &[u8]) -> Vec<u8> {
        let c = &mut self.inner;
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
        if self.reset_per_message {
            c.reset();
        }
        out
    }
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
    fn a_final_block_ending_inside_the_tail_leaves_the_rest_of_the_tail_unread() {
        // The final block's end-of-block code takes the tail's first two
        // bytes; the two 0xFF left would read as a block of the reserved type.
        // (Found by fuzzing Python websockets, which delivers this message.)
        let mut inf = Inflater::new(false);
        let out = inflate_all(&mut inf, &[0xfb, 0xff, 0xdf, 0xbf]).unwrap();
        assert_eq!(out, b"\xff\xffOp");
        // The inflater starts a fresh stream for the next message.
        assert_eq!(
            inflate_all(&mut inf, &compress_message(b"next")).unwrap(),
            b"next"
        );
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
    fn context_takeover_and_windows_are_honoured() {
        let mut x = 1u32;
        let msg: Vec<u8> = (0..4000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 24) as u8
            })
            .collect();
        let inflate = |inf: &mut Inflater, z: &[u8]| inflate_all(inf, z);
        // With context kept, the second copy is a back-reference: tiny, and
        // only an inflater that kept its context decodes it.
        let mut c = Compressor::new(false, 15);
        let (a, b) = (c.message(&msg), c.message(&msg));
        assert!(b.len() < a.len() / 4, "{} {}", a.len(), b.len());
        let mut keep = Inflater::new(false);
        assert_eq!(inflate(&mut keep, &a).unwrap(), msg);
        assert_eq!(inflate(&mut keep, &b).unwrap(), msg);
        let mut fresh = Inflater::new(true);
        assert_eq!(inflate(&mut fresh, &a).unwrap(), msg);
        assert_ne!(inflate(&mut fresh, &b).ok(), Some(msg.clone()));
        // A 9-bit window: a 9-bit inflater decodes it; a stream made with the
        // 15-bit window that refers 4000 bytes back is rejected by it.
        let far: Vec<u8> = msg.iter().chain(&msg).copied().collect();
        let z9 = Compressor::new(true, 9).message(&far);
        assert_eq!(
            inflate(&mut Inflater::with_window(true, 9), &z9).unwrap(),
            far
        );
        let z15 = Compressor::new(true, 15).message(&far);
        assert!(inflate(&mut Inflater::with_window(true, 9), &z15).is_err());
        // Eight bits: stored blocks, readable with the smallest window.
        let z8 = Compressor::new(true, 8).message(&far);
        assert_eq!(
            inflate(&mut Inflater::with_window(true, 8), &z8).unwrap(),
            far
        );
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
