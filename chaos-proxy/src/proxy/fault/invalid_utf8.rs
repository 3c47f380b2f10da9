//! `invalid-utf8`: replaces the first byte of an uncompressed text frame with 0xFF,
//! which can never appear in UTF-8: the receiver owes 1007.

use wschaos_codec::{CloseCode, Data, OpCode};

use super::{Fault, FaultKind, FaultSpec, FrameCtx, FrameEdit, FrameFault, PayloadEdit, SpecError};

pub const HELP: &str =
    "invalid-utf8 — sets the first byte of an uncompressed text frame to 0xFF; owes 1007";

#[derive(Debug)]
pub struct InvalidUtf8;

impl InvalidUtf8 {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.no_params()?;
        Ok(InvalidUtf8)
    }
}

impl Fault for InvalidUtf8 {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Frame(self)
    }
}

impl FrameFault for InvalidUtf8 {
    fn edit(&self, ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
        let text = ctx.header.opcode == OpCode::Data(Data::Text);
        if !text || ctx.header.rsv1 || ctx.header.payload_len == 0 {
            return None;
        }
        Some(FrameEdit {
            header: *ctx.header,
            payload: PayloadEdit::Set {
                offset: 0,
                bytes: vec![0xFF],
            },
            expected: vec![CloseCode::Invalid],
            what: "first text byte replaced with 0xFF".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use wschaos_codec::FrameHeader;

    use super::super::Dir;
    use super::*;

    #[test]
    fn breaks_the_first_text_byte() {
        let fault = InvalidUtf8::from_spec(&FaultSpec::parse("invalid-utf8").unwrap()).unwrap();
        let header = FrameHeader::new(OpCode::TEXT, Some([7; 4]), 3);
        let ctx = crate::proxy::fault::sample_ctx(Dir::C2s, &header);
        let edit = fault.edit_frame(&ctx, 0).unwrap();
        assert_eq!(edit.header, header);
        let bytes = vec![0xFF];
        assert_eq!(edit.payload, PayloadEdit::Set { offset: 0, bytes });
        assert_eq!(edit.expected, [CloseCode::Invalid]);
    }
}
