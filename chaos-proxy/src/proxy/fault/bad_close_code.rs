//! `bad-close-code:code=N`: rewrites the status code of a Close frame to an
//! invalid one (default 1005, which must never be sent): the receiver owes 1002.

use wschaos_codec::{CloseCode, OpCode};

use super::{Fault, FrameCtx, FrameEdit, PayloadEdit};

#[derive(Debug)]
pub struct BadCloseCode {
    pub code: u16,
}

impl Fault for BadCloseCode {
    fn edit_frame(&self, ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
        if ctx.header.opcode != OpCode::CLOSE || ctx.header.payload_len < 2 {
            return None;
        }
        Some(FrameEdit {
            header: *ctx.header,
            payload: PayloadEdit::Set {
                offset: 0,
                bytes: self.code.to_be_bytes().to_vec(),
            },
            expected: vec![CloseCode::Protocol],
            what: format!("close code rewritten to {}", self.code),
        })
    }
}
