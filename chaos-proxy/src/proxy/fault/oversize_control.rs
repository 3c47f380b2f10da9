//! `oversize-control`: grows a control frame's payload to 126 bytes (padding
//! appended), over the 125-byte limit for control frames: 1002.

use wschaos_codec::{CloseCode, LengthForm, OpCode};

use super::{Fault, FaultKind, FaultSpec, FrameCtx, FrameEdit, FrameFault, PayloadEdit, SpecError};

pub const HELP: &str = "oversize-control — pads a ping or pong to 126 bytes; owes 1002";

#[derive(Debug)]
pub struct OversizeControl;

impl OversizeControl {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.no_params()?;
        Ok(OversizeControl)
    }
}

impl Fault for OversizeControl {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Frame(self)
    }
}

impl FrameFault for OversizeControl {
    fn edit(&self, ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
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

#[cfg(test)]
mod tests {
    use wschaos_codec::FrameHeader;

    use super::super::Dir;
    use super::*;

    #[test]
    fn pads_a_ping_to_126_bytes() {
        let fault =
            OversizeControl::from_spec(&FaultSpec::parse("oversize-control").unwrap()).unwrap();
        let header = FrameHeader::new(OpCode::PING, None, 4);
        let ctx = crate::proxy::fault::sample_ctx(Dir::S2c, &header);
        let edit = fault.edit_frame(&ctx, 0).unwrap();
        assert_eq!(edit.header.payload_len, 126);
        assert_eq!(edit.header.length_form, LengthForm::U16);
        assert_eq!(edit.payload, PayloadEdit::Append(vec![b'x'; 122]));
        assert_eq!(edit.expected, [CloseCode::Protocol]);
    }
}
