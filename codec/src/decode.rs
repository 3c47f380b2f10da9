//! A receiver's decoder: the incremental parser, unmasking through a bounded
//! scratch buffer, and the validator, in one sans-IO object. The checker uses it to
//! read what an endpoint sent; `classify` uses it to judge whole byte streams.

use crate::frame::FrameHeader;
use crate::mask::{apply_mask_copy, unmask_into_padded};
use crate::parse::{Event, FrameParser, decode_header};
use crate::validate::{FrameDone, Validator, ValidatorConfig};
use crate::violation::Violation;

const SCRATCH: usize = 16 * 1024;

#[derive(Debug)]
pub enum DecoderEvent<'a> {
    /// A header as parsed. If it breaks a rule, `feed` returns the violation right
    /// after this event; otherwise the frame's data follows.
    Header(FrameHeader),
    /// Unmasked (and, for compressed messages, inflated) frame data.
    Data(&'a [u8]),
    /// The frame is complete and valid. (Lent, not moved: copying the enum out
    /// right after it was built stalls on store forwarding, per frame.)
    Done(&'a FrameDone),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Open,
    /// A Close frame arrived: RFC 6455 5.5.1, nothing after it is data.
    Closed,
    Failed(Violation),
}

/// Result of [`Decoder::feed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Input bytes taken; less than the input only once a Close frame ended it.
    pub consumed: usize,
}

#[derive(Debug)]
pub struct Decoder {
    parser: FrameParser,
    validator: Validator,
    mask: Option<[u8; 4]>,
    scratch: Box<[u8]>,
    state: State,
    frames: u64,
}

impl Decoder {
    pub fn new(config: ValidatorConfig) -> Decoder {
        Decoder {
            parser: FrameParser::new(),
            validator: Validator::new(config),
            mask: None,
            scratch: vec![0u8; SCRATCH].into_boxed_slice(),
            state: State::Open,
            frames: 0,
        }
    }

    /// Number of headers seen so far (the index of the current frame plus one).
    pub fn frames_seen(&self) -> u64 {
        self.frames
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// True between frames with no message open and no partial frame held.
    pub fn at_message_boundary(&self) -> bool {
        self.parser.at_frame_boundary() && !self.validator.in_message()
    }

    /// Decodes `input`, reporting events to `on_event`. After a violation every
    /// call returns that violation; after a Close frame input is no longer taken.
    pub fn feed(
        &mut self,
        input: &[u8],
        on_event: &mut dyn FnMut(DecoderEvent<'_>),
    ) -> Result<Fed, Violation> {
        let r = self.feed_inner(input, on_event);
        if let Err(v) = &r {
            self.state = State::Failed(v.clone());
        }
        r
    }

    fn feed_inner(
        &mut self,
        mut input: &[u8],
        on_event: &mut dyn FnMut(DecoderEvent<'_>),
    ) -> Result<Fed, Violation> {
        let total = input.len();
        loop {
            match &self.state {
                State::Failed(v) => return Err(v.clone()),
                State::Closed => {
                    return Ok(Fed {
                        consumed: total - input.len(),
                    });
                }
                State::Open => {}
            }
            if self.parser.at_frame_boundary() {
                if let Some(rest) = self.whole_frame(input, on_event)? {
                    input = rest;
                    continue;
                }
            }
            let event = self.parser.next_event(&mut input);
            match event {
                None => return Ok(Fed { consumed: total }),
                Some(Event::Header(h)) => {
                    self.frames += 1;
                    on_event(DecoderEvent::Header(h));
                    self.validator.on_header(&h)?;
                    self.mask = h.mask;
                }
                Some(Event::Payload { data, offset }) => match self.mask {
                    None => self
                        .validator
                        .on_payload(data, &mut |d| on_event(DecoderEvent::Data(d)))?,
                    Some(key) => {
                        let mut off = offset;
                        for chunk in data.chunks(self.scratch.len()) {
                            let buf = &mut self.scratch[..chunk.len()];
                            apply_mask_copy(chunk, buf, key, off);
                            off += chunk.len() as u64;
                            self.validator
                                .on_payload(buf, &mut |d| on_event(DecoderEvent::Data(d)))?;
                        }
                    }
                },
                Some(Event::End) => self.end_frame(on_event)?,
            }
        }
    }

    /// The fast path: when a whole frame of at most the scratch size is at the
    /// start of `input`, it is decoded in one step, with the same events and
    /// checks as the parser's three (header, payload, end). Returns the input
    /// after the frame, or `None` (nothing taken) to use the parser.
    fn whole_frame<'i>(
        &mut self,
        input: &'i [u8],
        on_event: &mut dyn FnMut(DecoderEvent<'_>),
    ) -> Result<Option<&'i [u8]>, Violation> {
        let Some((h, hlen)) = decode_header(input) else {
            return Ok(None);
        };
        let rest = &input[hlen..];
        let Some(len) = usize::try_from(h.payload_len)
            .ok()
            .filter(|&n| n <= rest.len() && n <= self.scratch.len())
        else {
            return Ok(None);
        };
        let (payload, rest) = rest.split_at(len);
        self.frames += 1;
        on_event(DecoderEvent::Header(h));
        self.validator.on_header(&h)?;
        if len > 0 {
            let data: &[u8] = match h.mask {
                None => payload,
                Some(key) => {
                    // `len <= SCRATCH`, a multiple of 8, so the padding fits.
                    unmask_into_padded(payload, &mut self.scratch, key);
                    &self.scratch[..len]
                }
            };
            self.validator
                .on_payload(data, &mut |d| on_event(DecoderEvent::Data(d)))?;
        }
        self.end_frame(on_event)?;
        Ok(Some(rest))
    }

    /// Ends the current frame: the validator's verdict, then `Done`. The verdict
    /// is lent from where it was built, never moved out of its `Result`: that
    /// wide copy, right after its fields were stored, stalled on store
    /// forwarding and cost about a sixth of the small-frame time.
    #[inline(always)]
    fn end_frame(&mut self, on_event: &mut dyn FnMut(DecoderEvent<'_>)) -> Result<(), Violation> {
        let end = self
            .validator
            .on_frame_end(&mut |d| on_event(DecoderEvent::Data(d)));
        match &end {
            Ok(done) => {
                if matches!(done, FrameDone::Close { .. }) {
                    self.state = State::Closed;
                }
                on_event(DecoderEvent::Done(done));
                Ok(())
            }
            Err(v) => Err(v.clone()),
        }
    }
}
