//! `flip-mask`: c2s strips the client's mask (and unmasks the payload), s2c masks
//! a server frame with a fresh key. Either way the receiver must fail with 1002.

use wschaos_codec::CloseCode;

use super::{Dir, Fault, FrameCtx, FrameEdit, PayloadEdit};

#[derive(Debug)]
pub struct FlipMask;

impl Fault for FlipMask {
    fn edit_frame(&self, ctx: &FrameCtx<'_>, rand: u64) -> Option<FrameEdit> {
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
