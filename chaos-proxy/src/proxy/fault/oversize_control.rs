//! `oversize-control`: grows a control frame's payload to 126 bytes (padding
//! appended), over the 125-byte limit for control frames: 1002.

use wschaos_codec::{CloseCode, LengthForm, OpCode};

use super::{Fault, FrameCtx, FrameEdit, PayloadEdit};

#[derive(Debug)]
pub struct OversizeControl;

impl Fault for OversizeControl {
    fn edit_frame(&self, ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
        // A Close is left alone: padding its reason could also break its UTF-8.
        if !ctx.header.opcode.is_control()
            || ctx.header.opcode == OpCode::CLOSE
            || ctx.header.payload_len > 125
        {
            return None;
        }
        let mut header = *ctx.header;
        let pad = 126 - ctx.header.payload_len;
        header.payload_len = 126;
        header.length_form = LengthForm::U16;
        Some(FrameEdit {
            header,
            payload: PayloadEdit::Append(vec![b'x'; pad as usize]),
            expected: vec![CloseCode::Protocol],
            what: format!(
                "control payload grown from {} to 126 bytes",
                ctx.header.payload_len
            ),
        })
    }
}
