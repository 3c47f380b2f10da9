//! `set-rsv:bit=1|2|3`: sets a reserved bit that nothing negotiated. With
//! permessage-deflate, RSV1 is legal on the first frame of a data message, so bit 1
//! is then only set where it stays a violation (control and continuation frames).

use wschaos_codec::{CloseCode, Data, OpCode};

use super::{Fault, FrameCtx, FrameEdit, PayloadEdit};

#[derive(Debug)]
pub struct SetRsv {
    pub bit: u8,
}

impl Fault for SetRsv {
    fn edit_frame(&self, ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
        let mut header = *ctx.header;
        let slot = match self.bit {
            1 => &mut header.rsv1,
            2 => &mut header.rsv2,
            _ => &mut header.rsv3,
        };
        if *slot {
            return None;
        }
        *slot = true;
        let starts_message = matches!(ctx.header.opcode, OpCode::Data(d) if d != Data::Continue);
        if self.bit == 1 && ctx.deflate && starts_message {
            return None;
        }
        Some(FrameEdit {
            header,
            payload: PayloadEdit::Keep,
            expected: vec![CloseCode::Protocol],
            what: format!("set RSV{}", self.bit),
        })
    }
}
