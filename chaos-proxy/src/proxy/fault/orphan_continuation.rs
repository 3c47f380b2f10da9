//! `orphan-continuation`: turns the first frame of a data message into a
//! continuation frame while no message is open, so it continues nothing: 1002.

use wschaos_codec::{CloseCode, Data, OpCode};

use super::{Fault, FaultKind, FaultSpec, FrameCtx, FrameEdit, FrameFault, PayloadEdit, SpecError};

pub const HELP: &str =
    "orphan-continuation — sends the first frame of a message as a continuation; owes 1002";

#[derive(Debug)]
pub struct OrphanContinuation;

impl OrphanContinuation {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.no_params()?;
        Ok(OrphanContinuation)
    }
}

impl Fault for OrphanContinuation {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Frame(self)
    }
}

impl FrameFault for OrphanContinuation {
    fn edit(&self, ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
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

#[cfg(test)]
mod tests {
    use wschaos_codec::FrameHeader;

    use super::super::Dir;
    use super::*;

    #[test]
    fn sends_a_text_frame_as_a_continuation() {
        let fault =
            OrphanContinuation::from_spec(&FaultSpec::parse("orphan-continuation").unwrap())
                .unwrap();
        let header = FrameHeader::new(OpCode::TEXT, Some([1; 4]), 2);
        let ctx = crate::proxy::fault::sample_ctx(Dir::C2s, &header);
        let edit = fault.edit_frame(&ctx, 0).unwrap();
        assert_eq!(edit.header.opcode, OpCode::CONTINUE);
        assert_eq!(edit.expected, [CloseCode::Protocol]);
    }
}
