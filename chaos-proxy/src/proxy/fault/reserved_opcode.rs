//! `reserved-opcode`: replaces the opcode with a reserved one of the same class
//! (0x3-0x7 for data, 0xB-0xF for control frames): the receiver must fail with 1002.

use wschaos_codec::{CloseCode, OpCode};

use super::{Fault, FrameCtx, FrameEdit, PayloadEdit};

#[derive(Debug)]
pub struct ReservedOpcode;

impl Fault for ReservedOpcode {
    fn edit_frame(&self, ctx: &FrameCtx<'_>, rand: u64) -> Option<FrameEdit> {
        if ctx.header.opcode.is_reserved() {
            return None;
        }
        let base = if ctx.header.opcode.is_control() {
            0xB
        } else {
            0x3
        };
        let nibble = base + (rand % 5) as u8;
        let mut header = *ctx.header;
        header.opcode = OpCode::from_nibble(nibble);
        Some(FrameEdit {
            header,
            payload: PayloadEdit::Keep,
            expected: vec![CloseCode::Protocol],
            what: format!(
                "opcode 0x{:X} -> reserved 0x{nibble:X}",
                ctx.header.opcode.nibble()
            ),
        })
    }
}
