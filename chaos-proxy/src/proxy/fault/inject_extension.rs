//! `inject-extension`: adds `Sec-WebSocket-Extensions: x-wschaos-injected` to the
//! upgrade request (c2s: a server must ignore what it does not know, reported as
//! info) or to the 101 response (s2c: the client did not offer it and must not
//! open the connection; closing TCP is the pass).

use wschaos_codec::handshake::{ExtensionOffer, inject_extension};

use super::{Dir, Expect, Fault, FaultKind, FaultSpec, HeadEdit, HeadFault, SpecError};

pub const HELP: &str = "inject-extension — adds an extension nobody offered to the 101 (s2c: the \
                        client must not open) or to the request (c2s: info)";

#[derive(Debug)]
pub struct InjectExtension;

impl InjectExtension {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.no_params()?;
        Ok(InjectExtension)
    }
}

impl Fault for InjectExtension {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Head(self)
    }
}

impl HeadFault for InjectExtension {
    fn edit(&self, dir: Dir, head: &[u8]) -> Option<HeadEdit> {
        let head = inject_extension(head, &ExtensionOffer::new("x-wschaos-injected")).ok()?;
        Some(match dir {
            Dir::C2s => HeadEdit {
                head,
                what: "offered an unknown extension in the upgrade request".into(),
                expect: Expect::Info,
            },
            Dir::S2c => HeadEdit {
                head,
                what: "the 101 names an extension the client did not offer".into(),
                expect: Expect::RefuseOpen,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_an_unoffered_extension_in_a_101() {
        let fault =
            InjectExtension::from_spec(&FaultSpec::parse("inject-extension").unwrap()).unwrap();
        let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        let edit = fault.edit_head(Dir::S2c, head).unwrap();
        let text = String::from_utf8(edit.head).unwrap();
        assert!(text.contains("x-wschaos-injected"), "{text}");
        assert!(text.ends_with("\r\n\r\n"));
        assert_eq!(edit.expect, Expect::RefuseOpen);
    }
}
