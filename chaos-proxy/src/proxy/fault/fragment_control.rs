//! `fragment-control`: clears FIN on a control frame; control frames must not be
//! fragmented, so the receiver must fail with 1002.

use wschaos_codec::CloseCode;

use super::{Fault, FrameCtx, FrameEdit, PayloadEdit};

#[derive(Debug)]
pub struct FragmentControl;

impl Fault for FragmentControl {
    fn edit_frame(&self, ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
        if !ctx.header.opcode.is_control() || !ctx.header.fin {
            return None;
        }
        let mut header = *ctx.header;
        header.fin = false;
        Some(FrameEdit {
            header,
            payload: PayloadEdit::Keep,
            expected: vec![CloseCode::Protocol],
            what: "cleared FIN on a control frame".into(),
        })
    }
}
