//! `bitflip-header`: flips one random bit among FIN, RSV1-3, the opcode and MASK.
//! The expected reaction is derived from what the flip produced, by judging the new
//! header with the codec's validator as the receiver would; flips that leave a valid
//! header are not used, so every injection is a violation.

use wschaos_codec::frame::FrameHeader;
use wschaos_codec::validate::{DeflateConfig, Validator, ValidatorConfig};
use wschaos_codec::{OpCode, Role};

use super::{
    Dir, Fault, FaultKind, FaultSpec, FrameCtx, FrameEdit, FrameFault, PayloadEdit, SpecError,
};

pub const HELP: &str = "bitflip-header — flips one of FIN, RSV1-3, opcode, MASK where that breaks a rule; \
                        owes what the codec's validator says";

#[derive(Debug)]
pub struct BitflipHeader;

impl BitflipHeader {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.no_params()?;
        Ok(BitflipHeader)
    }
}

/// The bits tried: 0-7 are the first header byte, 8 is MASK.
const BITS: u64 = 9;

fn flip(h: &FrameHeader, bit: u64, rand: u64) -> FrameHeader {
    let mut out = *h;
    match bit {
        0..=3 => out.opcode = OpCode::from_nibble(h.opcode.nibble() ^ (1 << bit)),
        4 => out.rsv3 = !h.rsv3,
        5 => out.rsv2 = !h.rsv2,
        6 => out.rsv1 = !h.rsv1,
        7 => out.fin = !h.fin,
        _ => {
            out.mask = if h.mask.is_some() {
                None
            } else {
                Some((rand as u32).to_be_bytes())
            }
        }
    }
    out
}

impl Fault for BitflipHeader {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Frame(self)
    }
}

impl FrameFault for BitflipHeader {
    fn edit(&self, ctx: &FrameCtx<'_>, rand: u64) -> Option<FrameEdit> {
        let receiver = match ctx.dir {
            Dir::C2s => Role::Server,
            Dir::S2c => Role::Client,
        };
        let mut config = ValidatorConfig::new(receiver);
        if ctx.deflate {
            config.deflate = Some(DeflateConfig::default());
        }
        for i in 0..BITS {
            let bit = (rand.wrapping_add(i)) % BITS;
            let header = flip(ctx.header, bit, rand);
            let mut v = Validator::new(config);
            if ctx.in_message {
                // Put the validator where the receiver is: inside a message.
                let mut open = FrameHeader::new(OpCode::BINARY, header.mask, 0);
                open.fin = false;
                let _ = v.on_header(&open);
                let _ = v.on_frame_end(&mut |_| {});
            }
            if let Err(violation) = v.on_header(&header) {
                // The payload is forwarded as it was: a MASK flip leaves it
                // masked (or not) as the sender wrote it.
                return Some(FrameEdit {
                    header,
                    payload: PayloadEdit::Keep,
                    expected: violation.accepted_codes().to_vec(),
                    what: format!("flipped header bit {bit}: {violation}"),
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use wschaos_codec::CloseCode;

    use super::*;

    #[test]
    fn flips_an_opcode_bit_into_a_reserved_opcode() {
        let fault = BitflipHeader::from_spec(&FaultSpec::parse("bitflip-header").unwrap()).unwrap();
        let header = FrameHeader::new(OpCode::BINARY, None, 4);
        let ctx = crate::proxy::fault::sample_ctx(Dir::S2c, &header);
        // rand 0 tries bit 0 first: opcode 0x2 becomes the reserved 0x3.
        let edit = fault.edit_frame(&ctx, 0).unwrap();
        assert_eq!(edit.header.opcode, OpCode::from_nibble(0x3));
        assert_eq!(edit.payload, PayloadEdit::Keep);
        assert_eq!(edit.expected, [CloseCode::Protocol]);
    }
}
