//! `orphan-continuation`: turns the first frame of a data message into a
//! continuation frame while no message is open, so it continues nothing: 1002.

use wschaos_codec::{CloseCode, Data, OpCode};

use super::{Fault, FrameCtx, FrameEdit, PayloadEdit};

#[derive(Debug)]
pub struct OrphanContinuation;

impl Fault for OrphanContinuation {
    fn edit_frame(&self, ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
        let starts = matches!(ctx.header.opcode, OpCode::Data(Data::Text | Data::Binary));
        // RSV1 on a continuation would be a second violation under deflate.
        if !starts || ctx.in_message || ctx.header.rsv1 {
            return None;
        }
        let mut header = *ctx.header;
        header.opcode = OpCode::CONTINUE;
        Some(FrameEdit {
            header,
            payload: PayloadEdit::Keep,
            expected: vec![CloseCode::Protocol],
            what: "first frame of a message sent as a continuation".into(),
        })
    }
}
