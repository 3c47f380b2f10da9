//! The checker's case catalogue (SPEC.md): the codec's frame cases plus the
//! handshake, extension, after-valid, after-close and chop cases, each with what the
//! checker does and what it expects. IDs are stable; `--case` globs match them.

pub use wschaos_codec::cases::{Bulk, Write};
use wschaos_codec::cases::{Expected, FrameCase, frame_cases, id_matches};
use wschaos_codec::encode::Frame;
pub use wschaos_codec::handshake::DeflateProfile;
use wschaos_codec::{CloseCode, OpCode, Role};

use crate::report::ExpectedReport;

/// Which endpoint is under test (it receives the faults). Also the CLI's `--side`
/// value (`server` or `client`). The codec's word for the same two ends is
/// [`Role`]; [`Side::role`] maps one onto the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Side {
    Server,
    Client,
}

impl Side {
    /// The codec's role of the endpoint under test (the receiver of the case's bytes).
    pub fn role(self) -> Role {
        match self {
            Side::Server => Role::Server,
            Side::Client => Role::Client,
        }
    }
}

/// How the opening handshake goes before the case's bytes are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setup {
    /// A plain handshake, no extension offered or agreed.
    Plain,
    /// permessage-deflate negotiated as the profile says: as a client, offered
    /// that way; as a server, answered that way to the client's offers. A case
    /// whose endpoint does not agree is `info` ("extension not negotiated").
    Deflate(DeflateProfile),
    /// Server side: this raw request instead of a valid one.
    RawRequest(Vec<u8>),
    /// Client side: the 101 carries a wrong Sec-WebSocket-Accept.
    BadAccept,
    /// Client side: the 101 names an extension the client did not offer.
    UnofferedExtension,
    /// Client side: the 101 names a subprotocol the client did not offer.
    UnofferedSubprotocol,
    /// Client side: the 101 omits permessage-deflate although it was offered.
    StripDeflate,
}

/// The reaction a case or a fault requires from the endpoint under test: the one
/// vocabulary for what is owed. The frame variants are the codec's
/// [`Expected`] (see the `From` below) plus `after_valid`; the proxy's handshake
/// faults carry `RefuseOpen`, `MandatoryExtension` or `Info` (see
/// [`Expect::is_handshake_fault`]). Its wire form is [`ExpectedReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Valid traffic: every message echoed, every ping answered, a Close answered.
    Echo,
    /// Fail the connection with one of these codes (the first is the RFC's).
    Close {
        codes: Vec<CloseCode>,
        after_valid: bool,
    },
    /// Reaction left open by the RFC: reported only.
    Info,
    /// Server side: refuse the handshake with this HTTP status.
    HttpStatus(u16),
    /// Client side: never open the connection (close TCP, send nothing).
    RefuseOpen,
    /// Client side: a client that required the extension closes with 1010 (and
    /// one that then receives compressed frames with 1002); proceeding is legal
    /// when the extension was optional.
    MandatoryExtension,
}

impl From<Expected> for Expect {
    /// A frame case's expectation, sent on a fresh connection (not after valid traffic).
    fn from(expected: Expected) -> Expect {
        match expected {
            Expected::Echo => Expect::Echo,
            Expected::Info => Expect::Info,
            Expected::Close(codes) => Expect::Close {
                codes,
                after_valid: false,
            },
        }
    }
}

impl Expect {
    /// Whether a handshake fault of the proxy can carry this: what a client owes
    /// after an edited 101 (`RefuseOpen`, `MandatoryExtension`) or nothing (`Info`).
    pub fn is_handshake_fault(&self) -> bool {
        matches!(
            self,
            Expect::RefuseOpen | Expect::MandatoryExtension | Expect::Info
        )
    }

    pub fn report(&self) -> ExpectedReport {
        match self {
            Expect::Echo => ExpectedReport::Word("echo".into()),
            Expect::Close { codes, .. } => {
                ExpectedReport::Codes(codes.iter().map(|&c| u16::from(c)).collect())
            }
            Expect::Info => ExpectedReport::Word("info".into()),
            Expect::HttpStatus(s) => ExpectedReport::Word(format!("http-{s}")),
            Expect::RefuseOpen => ExpectedReport::Word("tcp-close".into()),
            Expect::MandatoryExtension => ExpectedReport::Codes(vec![1010]),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub id: String,
    pub description: String,
    pub side: Side,
    pub setup: Setup,
    /// Valid traffic sent first; its answers must arrive before `bytes` is sent
    /// (the `after-valid.*` cases), so that an endpoint is not blamed for failing
    /// the connection before its application could echo.
    pub pre: Vec<u8>,
    /// Bytes sent after the handshake (unmasked for a server sender, masked for a client).
    pub bytes: Vec<u8>,
    pub write: Write,
    pub expect: Expect,
    /// The Autobahn|Testsuite case ids this case covers.
    pub autobahn: Vec<String>,
    /// Many or large messages generated when the case runs (`bytes` is empty).
    pub bulk: Option<Bulk>,
}

impl Case {
    /// A case whose `bytes` follow a plain handshake, written whole, with no
    /// valid traffic first.
    pub fn frame(side: Side, id: &str, description: &str, bytes: Vec<u8>, expect: Expect) -> Case {
        Case::handshake(side, id, description, Setup::Plain, bytes, expect)
    }

    /// A case whose handshake goes as `setup`; `bytes` follow it, written whole,
    /// with no valid traffic first.
    pub fn handshake(
        side: Side,
        id: &str,
        description: &str,
        setup: Setup,
        bytes: Vec<u8>,
        expect: Expect,
    ) -> Case {
        Case {
            id: id.to_owned(),
            description: description.to_owned(),
            side,
            setup,
            pre: Vec::new(),
            bytes,
            write: Write::Whole,
            expect,
            autobahn: Vec::new(),
            bulk: None,
        }
    }

    /// How long the case may take beyond the per-case timeout: its pauses, and
    /// for a bulk case time in proportion to what it sends.
    pub fn allowance(&self) -> std::time::Duration {
        self.write.pauses_total(&self.bytes)
            + self
                .bulk
                .as_ref()
                .map(crate::check::bulk::allowance)
                .unwrap_or_default()
    }
}

fn from_frame_case(side: Side, fc: FrameCase) -> Case {
    let setup = if fc.needs_deflate {
        let profile = fc.bulk.as_ref().and_then(|b| b.deflate);
        Setup::Deflate(profile.unwrap_or(DeflateProfile::Plain))
    } else {
        Setup::Plain
    };
    Case {
        write: fc.write,
        autobahn: fc.autobahn,
        bulk: fc.bulk,
        ..Case::handshake(
            side,
            &fc.id,
            &fc.description,
            setup,
            fc.bytes,
            fc.expected.into(),
        )
    }
}

/// Frames as the peer of `side` sends them (masked when the peer is a client).
fn peer_frame(side: Side, key: [u8; 4], frame: Frame) -> Vec<u8> {
    let frame = match side {
        Side::Server => frame.masked(key),
        Side::Client => frame,
    };
    frame.encode().unwrap_or_default()
}

/// The full catalogue for one side, in catalogue order.
pub fn catalogue(side: Side, seed: u64) -> Vec<Case> {
    let key = crate::seed::mask_key(seed);
    let base: Vec<Case> = frame_cases(side.role(), key)
        .into_iter()
        // A case that needs the extension runs by itself: it negotiates it, and
        // is `info` when the endpoint does not agree.
        .map(|c| from_frame_case(side, c))
        .collect();
    let mut out = base.clone();

    let violations: Vec<&Case> = base
        .iter()
        .filter(|c| matches!(c.expect, Expect::Close { .. }))
        .collect();
    // Each violation after valid traffic (its echo awaited) and before a ping;
    // not the paused ones, which are about timing and take seconds each.
    let valid = peer_frame(side, key, Frame::text("valid before the violation"));
    let ping = peer_frame(side, key, Frame::ping(b"after the violation"));
    for c in violations.iter().filter(|c| c.write.pause().is_none()) {
        let mut bytes = c.bytes.clone();
        bytes.extend_from_slice(&ping);
        let Expect::Close { codes, .. } = &c.expect else {
            continue;
        };
        out.push(Case {
            id: format!("after-valid.{}", c.id),
            description: format!("valid message, then {}, then a ping", c.description),
            pre: valid.clone(),
            bytes,
            expect: Expect::Close {
                codes: codes.clone(),
                after_valid: true,
            },
            autobahn: Vec::new(),
            ..(*c).clone()
        });
    }
    // Each violation one byte per write (unless it is written so already).
    for c in violations.iter().filter(|c| c.write != Write::Chop(1)) {
        out.push(Case {
            id: format!("{}+chop1", c.id),
            description: format!("{} (one byte per write)", c.description),
            write: Write::Chop(1),
            autobahn: Vec::new(),
            ..(*c).clone()
        });
    }
    match side {
        Side::Server => out.extend(server_handshake_cases(seed)),
        Side::Client => out.extend(client_handshake_cases(key)),
    }
    for c in &mut out {
        let earlier = crate::autobahn::earlier(&c.id);
        c.autobahn.extend(earlier.iter().map(|s| (*s).to_owned()));
    }
    out
}

fn server_handshake_cases(seed: u64) -> Vec<Case> {
    use wschaos_codec::handshake::{RequestBuilder, generate_key};
    let key = generate_key(crate::seed::key_nonce(seed, "handshake"));
    let mk = |id: &str, description: &str, b: RequestBuilder, expect: Expect| {
        let setup = Setup::RawRequest(b.build());
        Case::handshake(Side::Server, id, description, setup, Vec::new(), expect)
    };
    // Host and path are filled in by the checker from the target URL; these
    // placeholders are replaced there.
    vec![
        mk(
            "handshake.missing-key",
            "upgrade request without Sec-WebSocket-Key",
            RequestBuilder::new(HOST_PLACEHOLDER, PATH_PLACEHOLDER, key.clone()).omit_key(),
            Expect::HttpStatus(400),
        ),
        mk(
            "handshake.version-8",
            "Sec-WebSocket-Version: 8 (RFC answer: 426 with Sec-WebSocket-Version: 13)",
            RequestBuilder::new(HOST_PLACEHOLDER, PATH_PLACEHOLDER, key).version("8"),
            Expect::Info,
        ),
    ]
}

/// Replaced by the target's host and path when a raw request is sent.
pub const HOST_PLACEHOLDER: &str = "wschaos-host.invalid";
pub const PATH_PLACEHOLDER: &str = "/wschaos-path";

fn client_handshake_cases(key: [u8; 4]) -> Vec<Case> {
    let probe = peer_frame(Side::Client, key, Frame::text("are you open?"));
    let compressed = peer_frame(
        Side::Client,
        key,
        Frame::new(
            OpCode::TEXT,
            wschaos_codec::deflate::compress_message(b"compressed"),
        )
        .rsv(true, false, false),
    );
    let mk = |id: &str, description: &str, setup: Setup, bytes: Vec<u8>, expect: Expect| {
        Case::handshake(Side::Client, id, description, setup, bytes, expect)
    };
    vec![
        mk(
            "handshake.bad-accept",
            "101 with a wrong Sec-WebSocket-Accept",
            Setup::BadAccept,
            probe.clone(),
            Expect::RefuseOpen,
        ),
        mk(
            "handshake.unoffered-extension",
            "101 names an extension the client did not offer",
            Setup::UnofferedExtension,
            probe.clone(),
            Expect::RefuseOpen,
        ),
        mk(
            "handshake.unoffered-subprotocol",
            "101 names a subprotocol the client did not offer",
            Setup::UnofferedSubprotocol,
            probe.clone(),
            Expect::RefuseOpen,
        ),
        mk(
            "extension.stripped",
            "client offered permessage-deflate, the 101 omits it",
            Setup::StripDeflate,
            probe,
            Expect::MandatoryExtension,
        ),
        mk(
            "extension.stripped-then-compressed",
            "deflate stripped from the 101, then a compressed (RSV1) frame",
            Setup::StripDeflate,
            compressed,
            Expect::Close {
                codes: vec![CloseCode::Protocol, CloseCode::Extension],
                after_valid: false,
            },
        ),
    ]
}

/// The cases whose id matches any of `globs` (all when `globs` is empty).
pub fn select(cases: Vec<Case>, globs: &[String]) -> Vec<Case> {
    if globs.is_empty() {
        return cases;
    }
    cases
        .into_iter()
        .filter(|c| globs.iter().any(|g| id_matches(g, &c.id)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_stable_per_seed() {
        for side in [Side::Server, Side::Client] {
            let a = catalogue(side, 7);
            let mut ids: Vec<&str> = a.iter().map(|c| c.id.as_str()).collect();
            let n = ids.len();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(n, ids.len(), "duplicate ids on {side:?}");
            assert_eq!(a, catalogue(side, 7));
        }
    }

    #[test]
    fn every_violation_has_chop_and_after_valid_variants() {
        let cases = catalogue(Side::Server, 1);
        let has = |id: &str| cases.iter().any(|c| c.id == id);
        for c in cases.iter().filter(|c| {
            matches!(
                c.expect,
                Expect::Close {
                    after_valid: false,
                    ..
                }
            )
        }) {
            if c.id.contains('+') || c.id.starts_with("after-valid.") {
                continue;
            }
            if c.write != Write::Chop(1) {
                assert!(has(&format!("{}+chop1", c.id)), "{}", c.id);
            }
            if c.write.pause().is_none() {
                assert!(has(&format!("after-valid.{}", c.id)), "{}", c.id);
            }
        }
        assert!(has("handshake.missing-key") && has("after-close.ping"));
        // Cases that need the extension run by themselves, offering it.
        let deflate: Vec<&Case> = cases
            .iter()
            .filter(|c| c.id.starts_with("deflate."))
            .collect();
        assert!(!deflate.is_empty());
        assert!(deflate.iter().all(|c| matches!(c.setup, Setup::Deflate(_))));
        let client = catalogue(Side::Client, 1);
        assert!(client.iter().any(|c| c.id == "deflate.not-deflate"));
        assert!(client.iter().any(|c| c.id == "deflate.fallback-16"));
    }

    #[test]
    fn client_side_has_handshake_and_extension_cases() {
        let cases = catalogue(Side::Client, 1);
        for id in [
            "mask.masked-text",
            "handshake.bad-accept",
            "handshake.unoffered-extension",
            "handshake.unoffered-subprotocol",
            "extension.stripped",
            "extension.stripped-then-compressed",
        ] {
            assert!(cases.iter().any(|c| c.id == id), "{id}");
        }
    }

    #[test]
    fn select_by_glob() {
        let cases = catalogue(Side::Server, 1);
        let sel = select(cases.clone(), &["rsv.*".to_owned()]);
        assert!(sel.iter().all(|c| c.id.starts_with("rsv.")));
        assert!(sel.iter().any(|c| c.id == "rsv.rsv1+chop1"));
        let sel = select(cases, &["rsv.rsv?".to_owned(), "ok.text".to_owned()]);
        let ids: Vec<&str> = sel.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["ok.text", "rsv.rsv1", "rsv.rsv2", "rsv.rsv3"]);
    }
}
