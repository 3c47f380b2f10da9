//! `length-msb`: re-encodes the length in the 64-bit form with its most
//! significant bit set, which RFC 6455 5.2 forbids: 1002 (1009 is also accepted,
//! as the declared length is then beyond any limit).

use wschaos_codec::{CloseCode, LengthForm};

use super::{Fault, FaultKind, FaultSpec, FrameCtx, FrameEdit, FrameFault, PayloadEdit, SpecError};

pub const HELP: &str = "length-msb — 64-bit length with its top bit set; owes 1002 or 1009";

#[derive(Debug)]
pub struct LengthMsb;

impl LengthMsb {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.no_params()?;
        Ok(LengthMsb)
    }
}

impl Fault for LengthMsb {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Frame(self)
    }
}

impl FrameFault for LengthMsb {
    fn edit(&self, ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
        if ctx.header.opcode.is_control() || ctx.header.payload_len >> 63 != 0 {
            return None;
        }
        let mut header = *ctx.header;
        header.payload_len |= 1 << 63;
        header.length_form = LengthForm::U64;
        Some(FrameEdit {
            header,
            payload: PayloadEdit::Keep,
            expected: vec![CloseCode::Protocol, CloseCode::Size],
            what: "64-bit length with its top bit set".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use wschaos_codec::{FrameHeader, OpCode};

    use super::super::Dir;
    use super::*;

    #[test]
    fn sets_the_top_bit_of_the_length() {
        let fault = LengthMsb::from_spec(&FaultSpec::parse("length-msb").unwrap()).unwrap();
        let header = FrameHeader::new(OpCode::BINARY, None, 10);
        let ctx = crate::proxy::fault::sample_ctx(Dir::S2c, &header);
        let edit = fault.edit_frame(&ctx, 0).unwrap();
        assert_eq!(edit.header.payload_len, (1 << 63) | 10);
        assert_eq!(edit.header.length_form, LengthForm::U64);
        assert_eq!(edit.expected, [CloseCode::Protocol, CloseCode::Size]);
    }
}
