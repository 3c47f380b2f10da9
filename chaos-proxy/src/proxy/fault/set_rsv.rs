//! `set-rsv:bit=1|2|3`: sets a reserved bit that nothing negotiated. With
//! permessage-deflate, RSV1 is legal on the first frame of a data message, so bit 1
//! is then only set where it stays a violation (control and continuation frames).

use wschaos_codec::{CloseCode, Data, OpCode};

use super::{Fault, FaultKind, FaultSpec, FrameCtx, FrameEdit, FrameFault, PayloadEdit, SpecError};

pub const HELP: &str = "set-rsv:bit=1|2|3(1) — sets a reserved bit (RSV1 only where it stays \
                        illegal under permessage-deflate); owes 1002";

#[derive(Debug)]
pub struct SetRsv {
    /// Which RSV bit, 1 to 3 (default 1).
    pub bit: u8,
}

impl SetRsv {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        let bit = spec.param::<u8>("bit")?.unwrap_or(1);
        if !(1..=3).contains(&bit) {
            return Err(spec.bad(format!("bit={bit} is not 1, 2 or 3")));
        }
        Ok(SetRsv { bit })
    }
}

impl Fault for SetRsv {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Frame(self)
    }
}

impl FrameFault for SetRsv {
    fn edit(&self, ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
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

#[cfg(test)]
mod tests {
    use wschaos_codec::FrameHeader;

    use super::super::Dir;
    use super::*;

    #[test]
    fn sets_rsv1_by_default() {
        let fault = SetRsv::from_spec(&FaultSpec::parse("set-rsv").unwrap()).unwrap();
        assert_eq!(fault.bit, 1);
        let header = FrameHeader::new(OpCode::TEXT, None, 3);
        let mut ctx = crate::proxy::fault::sample_ctx(Dir::S2c, &header);
        let edit = fault.edit_frame(&ctx, 0).unwrap();
        assert!(edit.header.rsv1 && !edit.header.rsv2 && !edit.header.rsv3);
        assert_eq!(edit.expected, [CloseCode::Protocol]);
        // Under permessage-deflate RSV1 on a first frame is legal: left alone.
        ctx.deflate = true;
        assert_eq!(fault.edit_frame(&ctx, 0), None);
    }
}
