//! `non-minimal-length`: re-encodes the payload length in the 64-bit form. Senders
//! must use the minimal form but receivers are not told to fail, so the reaction is
//! reported as info.

use wschaos_codec::LengthForm;

use super::{Fault, FaultKind, FaultSpec, FrameCtx, FrameEdit, FrameFault, PayloadEdit, SpecError};

pub const HELP: &str =
    "non-minimal-length — re-encodes the length in the 64-bit form; nothing is owed (info)";

#[derive(Debug)]
pub struct NonMinimalLength;

impl NonMinimalLength {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.no_params()?;
        Ok(NonMinimalLength)
    }
}

impl Fault for NonMinimalLength {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Frame(self)
    }
}

impl FrameFault for NonMinimalLength {
    fn edit(&self, ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
        if ctx.header.length_form == LengthForm::U64 {
            return None;
        }
        let mut header = *ctx.header;
        header.length_form = LengthForm::U64;
        Some(FrameEdit {
            header,
            payload: PayloadEdit::Keep,
            expected: Vec::new(),
            what: format!(
                "length {} re-encoded in the 64-bit form",
                ctx.header.payload_len
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use wschaos_codec::{FrameHeader, OpCode};

    use super::super::Dir;
    use super::*;

    #[test]
    fn uses_the_64_bit_form_and_owes_nothing() {
        let fault =
            NonMinimalLength::from_spec(&FaultSpec::parse("non-minimal-length").unwrap()).unwrap();
        let header = FrameHeader::new(OpCode::BINARY, None, 5);
        let ctx = crate::proxy::fault::sample_ctx(Dir::S2c, &header);
        let edit = fault.edit_frame(&ctx, 0).unwrap();
        assert_eq!(edit.header.payload_len, 5);
        assert_eq!(edit.header.length_form, LengthForm::U64);
        assert!(edit.expected.is_empty());
    }
}
