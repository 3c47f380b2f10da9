//! `bad-close-code:code=N`: rewrites the status code of a Close frame to an
//! invalid one (default 1005, which must never be sent): the receiver owes 1002.

use wschaos_codec::{CloseCode, OpCode};

use super::{Fault, FaultKind, FaultSpec, FrameCtx, FrameEdit, FrameFault, PayloadEdit, SpecError};

pub const HELP: &str =
    "bad-close-code:code=N(1005) — rewrites a Close frame's code to an invalid one; owes 1002";

#[derive(Debug)]
pub struct BadCloseCode {
    /// The code written; one that is invalid on the wire (default 1005).
    pub code: u16,
}

impl BadCloseCode {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        let code = spec.param::<u16>("code")?.unwrap_or(1005);
        if CloseCode::from(code).is_valid_on_wire() {
            return Err(spec.bad(format!("code={code} is a valid close code")));
        }
        Ok(BadCloseCode { code })
    }
}

impl Fault for BadCloseCode {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Frame(self)
    }
}

impl FrameFault for BadCloseCode {
    fn edit(&self, ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
        if ctx.header.opcode != OpCode::CLOSE || ctx.header.payload_len < 2 {
            return None;
        }
        Some(FrameEdit {
            header: *ctx.header,
            payload: PayloadEdit::Set {
                offset: 0,
                bytes: self.code.to_be_bytes().to_vec(),
            },
            expected: vec![CloseCode::Protocol],
            what: format!("close code rewritten to {}", self.code),
        })
    }
}

#[cfg(test)]
mod tests {
    use wschaos_codec::FrameHeader;

    use super::super::Dir;
    use super::*;

    #[test]
    fn writes_1005_by_default() {
        let fault = BadCloseCode::from_spec(&FaultSpec::parse("bad-close-code").unwrap()).unwrap();
        assert_eq!(fault.code, 1005);
        let header = FrameHeader::new(OpCode::CLOSE, None, 2);
        let ctx = crate::proxy::fault::sample_ctx(Dir::S2c, &header);
        let edit = fault.edit_frame(&ctx, 0).unwrap();
        let bytes = 1005u16.to_be_bytes().to_vec();
        assert_eq!(edit.payload, PayloadEdit::Set { offset: 0, bytes });
        assert_eq!(edit.expected, [CloseCode::Protocol]);
    }
}
