//! `reserved-opcode`: replaces the opcode with a reserved one of the same class
//! (0x3-0x7 for data, 0xB-0xF for control frames): the receiver must fail with 1002.

use wschaos_codec::{CloseCode, OpCode};

use super::{Fault, FaultKind, FaultSpec, FrameCtx, FrameEdit, FrameFault, PayloadEdit, SpecError};

pub const HELP: &str =
    "reserved-opcode — replaces the opcode with a reserved one of the same class; owes 1002";

#[derive(Debug)]
pub struct ReservedOpcode;

impl ReservedOpcode {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.no_params()?;
        Ok(ReservedOpcode)
    }
}

impl Fault for ReservedOpcode {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Frame(self)
    }
}

impl FrameFault for ReservedOpcode {
    fn edit(&self, ctx: &FrameCtx<'_>, rand: u64) -> Option<FrameEdit> {
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

#[cfg(test)]
mod tests {
    use wschaos_codec::FrameHeader;

    use super::super::Dir;
    use super::*;

    #[test]
    fn keeps_the_class_of_the_opcode() {
        let fault =
            ReservedOpcode::from_spec(&FaultSpec::parse("reserved-opcode").unwrap()).unwrap();
        let header = FrameHeader::new(OpCode::PING, Some([9; 4]), 0);
        let ctx = crate::proxy::fault::sample_ctx(Dir::C2s, &header);
        let edit = fault.edit_frame(&ctx, 2).unwrap();
        assert_eq!(edit.header.opcode, OpCode::from_nibble(0xD));
        assert_eq!(edit.expected, [CloseCode::Protocol]);
    }
}
