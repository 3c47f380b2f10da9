//! Judging a whole byte stream as one receiver would: which frames it holds, the
//! first violation and the close code it calls for, notices, and whether a Close
//! ended it. Used by tests, fuzz targets and the differential against tungstenite;
//! its record grows with the input, so it is for bounded inputs.

use crate::close::CloseCode;
use crate::decode::{Decoder, DecoderEvent};
use crate::frame::FrameHeader;
use crate::validate::{FrameDone, ValidatorConfig};
use crate::violation::{Notice, Violation};

/// One frame as the receiver saw it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FrameRecord {
    pub header: FrameHeader,
    /// Data delivered for this frame (unmasked, inflated), its length and FNV-1a;
    /// zero for the frame that broke a rule.
    pub data_len: u64,
    pub data_hash: u64,
    /// `None` while the frame is incomplete or when it was the violating one.
    pub done: Option<FrameDone>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamOutcome {
    pub frames: Vec<FrameRecord>,
    /// The first violation and the index of the frame it was found in.
    pub violation: Option<(u64, Violation)>,
    pub notices: Vec<(u64, Notice)>,
    /// A valid Close frame arrived.
    pub closed: bool,
    /// Bytes after the Close frame (ignored, as the RFC requires).
    pub trailing: usize,
    /// The stream ended inside a frame or with a message open.
    pub incomplete: bool,
}

impl StreamOutcome {
    /// The close code the receiver must send, if the stream broke a rule.
    pub fn expected_close(&self) -> Option<CloseCode> {
        self.violation.as_ref().map(|(_, v)| v.close_code())
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Classifies `bytes` as received by `config.receiver`.
pub fn classify(config: ValidatorConfig, bytes: &[u8]) -> StreamOutcome {
    classify_chunks(config, [bytes])
}

/// Like [`classify`], with the bytes arriving in the given pieces. The outcome
/// must not depend on where the pieces are cut.
pub fn classify_chunks<'a>(
    config: ValidatorConfig,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> StreamOutcome {
    let mut decoder = Decoder::new(config);
    let mut out = StreamOutcome::default();
    for chunk in chunks {
        if out.violation.is_some() {
            break;
        }
        if decoder.is_closed() {
            out.trailing += chunk.len();
            continue;
        }
        let frames = &mut out.frames;
        let notices = &mut out.notices;
        let mut on_event = |ev: DecoderEvent<'_>| match ev {
            DecoderEvent::Header(h) => {
                if let Some(n) = Notice::for_header(&h) {
                    notices.push((frames.len() as u64, n));
                }
                frames.push(FrameRecord {
                    header: h,
                    data_len: 0,
                    data_hash: FNV_OFFSET,
                    done: None,
                });
            }
            DecoderEvent::Data(d) => {
                if let Some(f) = frames.last_mut() {
                    f.data_len += d.len() as u64;
                    for &b in d {
                        f.data_hash = (f.data_hash ^ u64::from(b)).wrapping_mul(FNV_PRIME);
                    }
                }
            }
            DecoderEvent::Done(done) => {
                if let Some(f) = frames.last_mut() {
                    f.done = Some(done.clone());
                }
            }
        };
        match decoder.feed(chunk, &mut on_event) {
            Ok(fed) => out.trailing += chunk.len() - fed.consumed,
            Err(v) => {
                // How much of the violating frame was handed over before the
                // check fired depends on read sizes; none of it counts as data.
                if let Some(f) = out.frames.last_mut() {
                    f.data_len = 0;
                    f.data_hash = FNV_OFFSET;
                }
                out.violation = Some((decoder.frames_seen().saturating_sub(1), v));
            }
        }
    }
    out.closed = decoder.is_closed();
    out.incomplete = out.violation.is_none() && !out.closed && !decoder.at_message_boundary();
    out
}
