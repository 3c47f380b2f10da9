//! `length-msb`: re-encodes the length in the 64-bit form with its most
//! significant bit set, which RFC 6455 5.2 forbids: 1002 (1009 is also accepted,
//! as the declared length is then beyond any limit).

use wschaos_codec::{CloseCode, LengthForm};

use super::{Fault, FrameCtx, FrameEdit, PayloadEdit};

#[derive(Debug)]
pub struct LengthMsb;

impl Fault for LengthMsb {
    fn edit_frame(&self, ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
        if ctx.header.opcode.is_control() || ctx.header.payload_len >> 63 != 0 {
            return None;
        }
        let mut header = *ctx.header;
        header.payload_len |= 1 << 63;
        header.length_form = LengthForm::U64;
        Some(FrameEdit {
            header,
            payload: PayloadEdit::Keep,
            expected: vec![CloseCode::Protocol, CloseCode::Size],
            what: "64-bit length with its top bit set".into(),
        })
    }
}
