//! `fragment-control`: clears FIN on a control frame; control frames must not be
//! fragmented, so the receiver must fail with 1002.

use wschaos_codec::CloseCode;

use super::{Fault, FaultKind, FaultSpec, FrameCtx, FrameEdit, FrameFault, PayloadEdit, SpecError};

pub const HELP: &str = "fragment-control — clears FIN on a control frame; owes 1002";

#[derive(Debug)]
pub struct FragmentControl;

impl FragmentControl {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.no_params()?;
        Ok(FragmentControl)
    }
}

impl Fault for FragmentControl {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Frame(self)
    }
}

impl FrameFault for FragmentControl {
    fn edit(&self, ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
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

#[cfg(test)]
mod tests {
    use wschaos_codec::{FrameHeader, OpCode};

    use super::super::Dir;
    use super::*;

    #[test]
    fn clears_fin_on_a_pong() {
        let fault =
            FragmentControl::from_spec(&FaultSpec::parse("fragment-control").unwrap()).unwrap();
        let header = FrameHeader::new(OpCode::PONG, None, 0);
        let ctx = crate::proxy::fault::sample_ctx(Dir::S2c, &header);
        let edit = fault.edit_frame(&ctx, 0).unwrap();
        assert!(!edit.header.fin);
        assert_eq!(edit.payload, PayloadEdit::Keep);
        assert_eq!(edit.expected, [CloseCode::Protocol]);
    }
}
