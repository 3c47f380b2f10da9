//! `invalid-utf8`: replaces the first byte of an uncompressed text frame with 0xFF,
//! which can never appear in UTF-8: the receiver owes 1007.

use wschaos_codec::{CloseCode, Data, OpCode};

use super::{Fault, FrameCtx, FrameEdit, PayloadEdit};

#[derive(Debug)]
pub struct InvalidUtf8;

impl Fault for InvalidUtf8 {
    fn edit_frame(&self, ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
        let text = ctx.header.opcode == OpCode::Data(Data::Text);
        if !text || ctx.header.rsv1 || ctx.header.payload_len == 0 {
            return None;
        }
        Some(FrameEdit {
            header: *ctx.header,
            payload: PayloadEdit::Set {
                offset: 0,
                bytes: vec![0xFF],
            },
            expected: vec![CloseCode::Invalid],
            what: "first text byte replaced with 0xFF".into(),
        })
    }
}
