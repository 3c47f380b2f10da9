//! `strip-extensions`: removes every Sec-WebSocket-Extensions header from the
//! upgrade request (c2s: the server never sees the offer) or from the 101 response
//! (s2c: the client is told nothing was agreed, while the server may compress).
//! A client that required the extension owes 1010; one that receives compressed
//! frames it did not agree to owes 1002.

use wschaos_codec::handshake::strip_all_extensions;

use super::{Dir, Expect, Fault, FaultKind, FaultSpec, HeadEdit, HeadFault, SpecError};

pub const HELP: &str = "strip-extensions — removes Sec-WebSocket-Extensions from the request (c2s) \
                        or the 101 (s2c); a client that required one owes 1010, 1002 once \
                        compressed frames arrive";

#[derive(Debug)]
pub struct StripExtensions;

impl StripExtensions {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.no_params()?;
        Ok(StripExtensions)
    }
}

impl Fault for StripExtensions {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Head(self)
    }
}

impl HeadFault for StripExtensions {
    fn edit(&self, dir: Dir, head: &[u8]) -> Option<HeadEdit> {
        let stripped = strip_all_extensions(head).ok().flatten()?;
        let what = match dir {
            Dir::C2s => "removed Sec-WebSocket-Extensions from the upgrade request",
            Dir::S2c => "removed Sec-WebSocket-Extensions from the 101 response",
        };
        Some(HeadEdit {
            head: stripped,
            what: what.into(),
            expect: Expect::MandatoryExtension,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_the_extensions_from_a_101() {
        let fault =
            StripExtensions::from_spec(&FaultSpec::parse("strip-extensions").unwrap()).unwrap();
        let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
                     Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
        let edit = fault.edit_head(Dir::S2c, head).unwrap();
        let text = String::from_utf8(edit.head).unwrap();
        assert!(!text.contains("Sec-WebSocket-Extensions"), "{text}");
        assert!(text.ends_with("\r\n\r\n") && text.contains("Sec-WebSocket-Accept"));
        assert_eq!(edit.expect, Expect::MandatoryExtension);
        // Nothing to strip: no edit.
        assert_eq!(fault.edit_head(Dir::S2c, text.as_bytes()), None);
    }
}
