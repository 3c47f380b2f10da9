//! `non-minimal-length`: re-encodes the payload length in the 64-bit form. Senders
//! must use the minimal form but receivers are not told to fail, so the reaction is
//! reported as info.

use wschaos_codec::LengthForm;

use super::{Fault, FrameCtx, FrameEdit, PayloadEdit};

#[derive(Debug)]
pub struct NonMinimalLength;

impl Fault for NonMinimalLength {
    fn edit_frame(&self, ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
        if ctx.header.length_form == LengthForm::U64 {
            return None;
        }
        let mut header = *ctx.header;
        header.length_form = LengthForm::U64;
        Some(FrameEdit {
            header,
            payload: PayloadEdit::Keep,
            expected: Vec::new(),
            what: format!(
                "length {} re-encoded in the 64-bit form",
                ctx.header.payload_len
            ),
        })
    }
}
