//! `strip-extensions`: removes every Sec-WebSocket-Extensions header from the
//! upgrade request (c2s: the server never sees the offer) or from the 101 response
//! (s2c: the client is told nothing was agreed, while the server may compress).
//! A client that required the extension owes 1010; one that receives compressed
//! frames it did not agree to owes 1002.

use wschaos_codec::handshake::strip_all_extensions;

use super::{Dir, Fault, HeadEdit, HeadExpect};

#[derive(Debug)]
pub struct StripExtensions;

impl Fault for StripExtensions {
    fn edit_head(&self, dir: Dir, head: &[u8]) -> Option<HeadEdit> {
        let stripped = strip_all_extensions(head).ok().flatten()?;
        let what = match dir {
            Dir::C2s => "removed Sec-WebSocket-Extensions from the upgrade request",
            Dir::S2c => "removed Sec-WebSocket-Extensions from the 101 response",
        };
        Some(HeadEdit {
            head: stripped,
            what: what.into(),
            expect: HeadExpect::MandatoryExtension,
        })
    }
}
