//! `inject-extension`: adds `Sec-WebSocket-Extensions: x-wschaos-injected` to the
//! upgrade request (c2s: a server must ignore what it does not know, reported as
//! info) or to the 101 response (s2c: the client did not offer it and must not
//! open the connection; closing TCP is the pass).

use wschaos_codec::handshake::{ExtensionOffer, inject_extension};

use super::{Dir, Fault, HeadEdit, HeadExpect};

#[derive(Debug)]
pub struct InjectExtension;

impl Fault for InjectExtension {
    fn edit_head(&self, dir: Dir, head: &[u8]) -> Option<HeadEdit> {
        let head = inject_extension(head, &ExtensionOffer::new("x-wschaos-injected")).ok()?;
        Some(match dir {
            Dir::C2s => HeadEdit {
                head,
                what: "offered an unknown extension in the upgrade request".into(),
                expect: HeadExpect::Info,
            },
            Dir::S2c => HeadEdit {
                head,
                what: "the 101 names an extension the client did not offer".into(),
                expect: HeadExpect::RefuseOpen,
            },
        })
    }
}
