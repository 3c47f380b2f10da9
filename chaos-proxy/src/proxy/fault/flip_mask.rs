//! `flip-mask`: c2s strips the client's mask (and unmasks the payload), s2c masks
//! a server frame with a fresh key. Either way the receiver must fail with 1002.

use wschaos_codec::CloseCode;

use super::{
    Dir, Fault, FaultKind, FaultSpec, FrameCtx, FrameEdit, FrameFault, PayloadEdit, SpecError,
};

pub const HELP: &str = "flip-mask — c2s: removes the mask and unmasks the payload; s2c: masks a server frame; owes 1002";

#[derive(Debug)]
pub struct FlipMask;

impl FlipMask {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.no_params()?;
        Ok(FlipMask)
    }
}

impl Fault for FlipMask {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Frame(self)
    }
}

impl FrameFault for FlipMask {
    fn edit(&self, ctx: &FrameCtx<'_>, rand: u64) -> Option<FrameEdit> {
        let mut header = *ctx.header;
        let payload = match (ctx.dir, ctx.header.mask) {
            (Dir::C2s, Some(key)) => {
                header.mask = None;
                PayloadEdit::Unmask { key }
            }
            (Dir::S2c, None) => {
                let key = (rand as u32).to_be_bytes();
                header.mask = Some(key);
                PayloadEdit::Mask { key }
            }
            // Already wrong on the wire: flipping would repair it.
            _ => return None,
        };
        let what = match ctx.dir {
            Dir::C2s => "removed the mask of a client frame",
            Dir::S2c => "masked a server frame",
        };
        Some(FrameEdit {
            header,
            payload,
            expected: vec![CloseCode::Protocol],
            what: what.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use wschaos_codec::{FrameHeader, OpCode};

    use super::*;

    #[test]
    fn unmasks_a_client_frame() {
        let fault = FlipMask::from_spec(&FaultSpec::parse("flip-mask").unwrap()).unwrap();
        let header = FrameHeader::new(OpCode::BINARY, Some([1, 2, 3, 4]), 5);
        let ctx = crate::proxy::fault::sample_ctx(Dir::C2s, &header);
        let edit = fault.edit_frame(&ctx, 0).unwrap();
        assert_eq!(edit.header.mask, None);
        assert_eq!(edit.payload, PayloadEdit::Unmask { key: [1, 2, 3, 4] });
        assert_eq!(edit.expected, [CloseCode::Protocol]);
    }
}
