//! The frame-level case catalogue of SPEC.md as data: for each case ID, the bytes a
//! peer sends after the handshake and the reaction the receiving endpoint owes.
//! The checker sends these, the seed corpora are written from them, and the codec's
//! own tests classify each one, so one list names every case everywhere.

use crate::close::CloseCode;
use crate::deflate::compress_message;
use crate::encode::Frame;
use crate::frame::{LengthForm, OpCode, Role};

pub use bulk::{Bulk, Corpus, Payload, compressed_count};

mod bulk;
mod closing;
mod fragments;
mod pings;
mod utf8;

/// The reaction a case expects from the endpoint that receives its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// Valid traffic: data echoed, pings answered.
    Echo,
    /// The endpoint must fail the connection with one of these codes (first preferred).
    Close(Vec<CloseCode>),
    /// The RFC leaves the reaction open; observe and report only.
    Info,
}

/// How a case's bytes are written to the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// All of them in one write.
    Whole,
    /// In pieces of at most N bytes, each its own flushed TCP write (N = 1: one
    /// byte per write, which exposes endpoints that only parse whole reads).
    Chop(usize),
    /// One flushed TCP write per frame.
    PerFrame,
    /// In up to three pieces, cut at the non-zero byte offsets in `cuts`, with a
    /// pause of `ms` after each piece but the last (and, with `per_frame`, each
    /// piece written one frame per write). The endpoint is expected to act
    /// before the last piece arrives: to fail the connection as soon as the
    /// violation is in (fail fast), or to answer a ping while a message is still
    /// open.
    Paused {
        cuts: [u32; 2],
        ms: u32,
        per_frame: bool,
    },
}

impl Write {
    /// The pieces `bytes` are written in, each its own TCP write.
    pub fn pieces(self, bytes: &[u8]) -> Vec<&[u8]> {
        self.schedule(bytes).into_iter().map(|(_, p)| p).collect()
    }

    /// The pieces `bytes` are written in, each with the pause that comes
    /// before it (only a paused write has any).
    pub fn schedule(self, bytes: &[u8]) -> Vec<(Option<std::time::Duration>, &[u8])> {
        fn plain(pieces: Vec<&[u8]>) -> Vec<(Option<std::time::Duration>, &[u8])> {
            pieces.into_iter().map(|p| (None, p)).collect()
        }
        match self {
            Write::Whole => plain(vec![bytes]),
            Write::Chop(n) => plain(bytes.chunks(n.max(1)).collect()),
            Write::PerFrame => plain(per_frame(bytes)),
            Write::Paused {
                cuts,
                ms,
                per_frame: frames,
            } => {
                let mut segments = Vec::new();
                let mut from = 0;
                for cut in cuts.iter().map(|&c| c as usize).filter(|&c| c > 0) {
                    let cut = cut.clamp(from, bytes.len());
                    segments.push(&bytes[from..cut]);
                    from = cut;
                }
                segments.push(&bytes[from..]);
                let pause = std::time::Duration::from_millis(ms.into());
                let mut out = Vec::new();
                for (i, segment) in segments.into_iter().enumerate() {
                    let pieces = if frames {
                        per_frame(segment)
                    } else {
                        vec![segment]
                    };
                    for (j, piece) in pieces.into_iter().enumerate() {
                        out.push(((i > 0 && j == 0).then_some(pause), piece));
                    }
                }
                out
            }
        }
    }

    /// The suffix a derived case id gets for this write mode (`+chop1`,
    /// `+chop997`, `+per-frame`); empty when whole.
    pub fn id_suffix(self) -> String {
        match self {
            Write::Whole => String::new(),
            Write::Chop(n) => format!("+chop{n}"),
            Write::PerFrame => "+per-frame".to_owned(),
            Write::Paused { .. } => "+paused".to_owned(),
        }
    }

    /// How long all the pauses of writing `bytes` take.
    pub fn pauses_total(self, bytes: &[u8]) -> std::time::Duration {
        self.schedule(bytes).iter().filter_map(|(p, _)| *p).sum()
    }

    /// The pause between a paused write's pieces.
    pub fn pause(self) -> Option<std::time::Duration> {
        match self {
            Write::Paused { ms, .. } => Some(std::time::Duration::from_millis(ms.into())),
            _ => None,
        }
    }
}

/// `bytes` cut after each frame (a frame whose header is incomplete or too
/// long for memory ends the last piece).
fn per_frame(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let len = frame_len(rest).unwrap_or(rest.len()).min(rest.len());
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

/// The length of the frame `bytes` starts with (header and payload), when its
/// header is complete and its length fits in memory.
fn frame_len(bytes: &[u8]) -> Option<usize> {
    let (header, head_len) = crate::parse::decode_header(bytes)?;
    usize::try_from(header.payload_len)
        .ok()
        .and_then(|n| n.checked_add(head_len))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameCase {
    /// Stable ID from SPEC.md, e.g. `rsv.rsv1`.
    pub id: String,
    pub description: String,
    /// Bytes written after the opening handshake.
    pub bytes: Vec<u8>,
    pub expected: Expected,
    /// Only meaningful with permessage-deflate negotiated.
    pub needs_deflate: bool,
    /// How the bytes are written.
    pub write: Write,
    /// The Autobahn|Testsuite case ids this case covers (the same frames, flags,
    /// payload class and write mode, judged on the same reaction).
    pub autobahn: Vec<String>,
    /// Many or large messages, generated when the case runs (`bytes` is then
    /// empty): each is sent as `write` says and must be echoed before the next.
    pub bulk: Option<Bulk>,
}

/// Builds frames as `sender` would (masked with `key` when the sender is a client)
/// so that a case violates exactly the rule it is named for.
struct Builder {
    sender: Role,
    key: [u8; 4],
    cases: Vec<FrameCase>,
}

impl Builder {
    fn f(&self, frame: Frame) -> Vec<u8> {
        let frame = match self.sender {
            Role::Client => frame.masked(self.key),
            Role::Server => frame,
        };
        // Every frame built here has a length that fits its form.
        frame
            .encode()
            .expect("catalogue frames are constants that encode")
    }

    fn frames(&self, frames: impl IntoIterator<Item = Frame>) -> Vec<u8> {
        frames.into_iter().flat_map(|fr| self.f(fr)).collect()
    }

    fn push(&mut self, id: &str, description: &str, bytes: Vec<u8>, expected: Expected) {
        self.cases.push(FrameCase {
            id: id.to_owned(),
            description: description.to_owned(),
            bytes,
            expected,
            needs_deflate: id.starts_with("deflate."),
            write: Write::Whole,
            autobahn: Vec::new(),
            bulk: None,
        });
    }

    /// The last case pushed covers these Autobahn ids.
    fn covers(&mut self, ids: &[&str]) -> &mut Self {
        if let Some(c) = self.cases.last_mut() {
            c.autobahn.extend(ids.iter().map(|s| (*s).to_owned()));
        }
        self
    }

    /// The last case pushed is written this way.
    fn written(&mut self, write: Write) -> &mut Self {
        if let Some(c) = self.cases.last_mut() {
            c.write = write;
        }
        self
    }
}

fn codes(c: &[u16]) -> Expected {
    Expected::Close(c.iter().map(|&c| CloseCode::from(c)).collect())
}

/// The frame-level catalogue for an endpoint playing `receiver`; the peer's frames
/// are masked with `key` when the peer is a client. Cases only valid with
/// permessage-deflate negotiated have `needs_deflate` set.
pub fn frame_cases(receiver: Role, key: [u8; 4]) -> Vec<FrameCase> {
    let mut b = Builder {
        sender: receiver.peer(),
        key,
        cases: Vec::new(),
    };
    let p1002 = || codes(&[1002]);

    // Controls: valid traffic that must be echoed.
    b.push(
        "ok.text",
        "text message",
        b.f(Frame::text("Hello, wschaos")),
        Expected::Echo,
    );
    b.push(
        "ok.binary",
        "binary message",
        b.f(Frame::binary(&[0, 1, 2, 0xFF])),
        Expected::Echo,
    );
    let frag = b.frames([
        Frame::new(OpCode::TEXT, "frag").fin(false),
        Frame::new(OpCode::CONTINUE, "men").fin(false),
        Frame::new(OpCode::CONTINUE, "ted"),
    ]);
    b.push(
        "ok.fragmented",
        "text in three fragments",
        frag,
        Expected::Echo,
    );
    b.push(
        "ok.ping",
        "ping with payload",
        b.f(Frame::ping(b"are you there")),
        Expected::Echo,
    );
    let ping_mid = b.frames([
        Frame::new(OpCode::TEXT, "before ").fin(false),
        Frame::ping(b"mid"),
        Frame::new(OpCode::CONTINUE, "after"),
    ]);
    b.push(
        "ok.ping-mid-message",
        "ping between fragments",
        ping_mid,
        Expected::Echo,
    );
    for n in [0usize, 125, 126, 127, 128, 65535, 65536] {
        let payload = vec![b'*'; n];
        let id = format!("ok.text-{n}");
        let bytes = b.f(Frame::new(OpCode::TEXT, payload.clone()));
        b.push(
            &id,
            &format!("text payload of {n} bytes"),
            bytes,
            Expected::Echo,
        );
        let id = format!("ok.binary-{n}");
        let bytes = b.f(Frame::new(OpCode::BINARY, payload));
        b.push(
            &id,
            &format!("binary payload of {n} bytes"),
            bytes,
            Expected::Echo,
        );
    }
    // Autobahn 1.1.8 / 1.2.8: the largest message again, written in 997-byte
    // chops that cut its header and payload anywhere.
    for (kind, op, ab) in [
        ("text", OpCode::TEXT, "1.1.8"),
        ("binary", OpCode::BINARY, "1.2.8"),
    ] {
        let bytes = b.f(Frame::new(op, vec![b'*'; 65536]));
        b.push(
            &format!("ok.{kind}-65536+chop997"),
            &format!("{kind} payload of 65536 bytes in writes of 997 bytes"),
            bytes,
            Expected::Echo,
        );
        b.written(Write::Chop(997)).covers(&[ab]);
    }
    for (name, text) in [
        ("two-byte", "\u{00A9}\u{07FF}"),
        ("three-byte", "\u{0800}\u{20AC}\u{FFFF}"),
        ("four-byte", "\u{10000}\u{1D11E}\u{10FFFF}"),
        ("bom", "\u{FEFF}text"),
        ("nul", "a\u{0}b"),
    ] {
        let bytes = b.f(Frame::text(text));
        b.push(
            &format!("ok.utf8-{name}"),
            &format!("valid UTF-8: {name}"),
            bytes,
            Expected::Echo,
        );
    }
    // A four-byte code point split across fragments must still validate.
    let split = "\u{1D11E}".as_bytes();
    let bytes = b.frames([
        Frame::new(OpCode::TEXT, &split[..1]).fin(false),
        Frame::new(OpCode::CONTINUE, &split[1..3]).fin(false),
        Frame::new(OpCode::CONTINUE, &split[3..]),
    ]);
    b.push(
        "ok.utf8-split-code-point",
        "code point split over three fragments",
        bytes,
        Expected::Echo,
    );
    let close_ok = b.f(Frame::close(1000, b"bye"));
    b.push(
        "ok.close-1000",
        "normal close with reason",
        close_ok,
        Expected::Echo,
    );
    for code in [3000u16, 4999] {
        let bytes = b.f(Frame::close(code, b""));
        b.push(
            &format!("ok.close-{code}"),
            &format!("valid close code {code}"),
            bytes,
            Expected::Echo,
        );
    }
    // Registered by IANA after RFC 6455; Autobahn still calls them invalid and
    // tungstenite rejects 1014, so the reaction is reported, not judged.
    for code in [1012u16, 1013, 1014] {
        let bytes = b.f(Frame::close(code, b""));
        let description = format!("close code {code} (IANA-registered after RFC 6455)");
        b.push(
            &format!("close.code-{code}"),
            &description,
            bytes,
            Expected::Info,
        );
    }

    // Masking: the rule depends on who receives.
    match receiver {
        Role::Server => {
            let t = Frame::text("unmasked")
                .encode()
                .expect("a constant frame encodes");
            b.push(
                "mask.unmasked-text",
                "client text frame without mask",
                t,
                p1002(),
            );
            let p = Frame::ping(b"unmasked")
                .encode()
                .expect("a constant frame encodes");
            b.push("mask.unmasked-ping", "client ping without mask", p, p1002());
        }
        Role::Client => {
            let t = Frame::text("masked")
                .masked(key)
                .encode()
                .expect("a constant frame encodes");
            b.push(
                "mask.masked-text",
                "server text frame with mask",
                t,
                p1002(),
            );
            let p = Frame::ping(b"masked")
                .masked(key)
                .encode()
                .expect("a constant frame encodes");
            b.push("mask.masked-ping", "server ping with mask", p, p1002());
        }
    }

    // Reserved bits and opcodes.
    b.push(
        "rsv.rsv1",
        "RSV1 set, nothing negotiated",
        b.f(Frame::text("x").rsv(true, false, false)),
        p1002(),
    );
    b.push(
        "rsv.rsv2",
        "RSV2 set",
        b.f(Frame::text("x").rsv(false, true, false)),
        p1002(),
    );
    b.push(
        "rsv.rsv3",
        "RSV3 set",
        b.f(Frame::text("x").rsv(false, false, true)),
        p1002(),
    );
    b.push(
        "rsv.rsv1-ping",
        "RSV1 on a ping",
        b.f(Frame::ping(b"x").rsv(true, false, false)),
        p1002(),
    );
    for op in (3u8..=7).chain(0xB..=0xF) {
        let bytes = b.f(Frame::new(OpCode::from_nibble(op), "x"));
        b.push(
            &format!("opcode.reserved-{op:x}"),
            &format!("reserved opcode 0x{op:X}"),
            bytes,
            p1002(),
        );
    }

    // Control-frame rules.
    let long = vec![b'c'; 126];
    b.push(
        "control.ping-126",
        "ping with 126-byte payload",
        b.f(Frame::new(OpCode::PING, long.clone())),
        p1002(),
    );
    b.push(
        "control.pong-126",
        "pong with 126-byte payload",
        b.f(Frame::new(OpCode::PONG, long.clone())),
        p1002(),
    );
    let mut close_long = 1000u16.to_be_bytes().to_vec();
    close_long.extend_from_slice(&long[..124]);
    b.push(
        "control.close-126",
        "close with 126-byte payload",
        b.f(Frame::new(OpCode::CLOSE, close_long)),
        p1002(),
    );
    b.push(
        "control.fragmented-ping",
        "ping with FIN=0",
        b.f(Frame::ping(b"x").fin(false)),
        p1002(),
    );
    b.push(
        "control.fragmented-close",
        "close with FIN=0",
        b.f(Frame::close(1000, b"").fin(false)),
        p1002(),
    );

    // Fragmentation.
    b.push(
        "fragment.orphan-continuation",
        "continuation with no message open",
        b.f(Frame::new(OpCode::CONTINUE, "x")),
        p1002(),
    );
    let mid = |op| {
        b.frames([
            Frame::new(OpCode::TEXT, "a").fin(false),
            Frame::new(op, "b"),
        ])
    };
    let (t, bi) = (mid(OpCode::TEXT), mid(OpCode::BINARY));
    b.push(
        "fragment.text-mid-message",
        "text frame before the open message ended",
        t,
        p1002(),
    );
    b.push(
        "fragment.binary-mid-message",
        "binary frame before the open message ended",
        bi,
        p1002(),
    );

    // Close payloads.
    b.push(
        "close.one-byte",
        "close payload of one byte",
        b.f(Frame::new(OpCode::CLOSE, vec![0x03])),
        p1002(),
    );
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        let bytes = b.f(Frame::close(code, b""));
        b.push(
            &format!("close.code-{code}"),
            &format!("invalid close code {code}"),
            bytes,
            p1002(),
        );
    }
    let bad_reason = b.f(Frame::close(1000, &[b'o', b'k', 0xFF]));
    b.push(
        "close.reason-invalid-utf8",
        "close reason not UTF-8",
        bad_reason,
        codes(&[1007, 1002]),
    );

    // UTF-8 of text messages.
    for (name, bytes) in [
        ("ff", vec![b'a', 0xFF, b'b']),
        ("surrogate", vec![0xED, 0xA0, 0x80]),
        ("overlong", vec![0xC0, 0xAF]),
        ("above-max", vec![0xF4, 0x90, 0x80, 0x80]),
        ("truncated", vec![b'a', 0xE2, 0x82]),
    ] {
        let f = b.f(Frame::new(OpCode::TEXT, bytes));
        b.push(
            &format!("utf8.invalid-text-{name}"),
            &format!("text payload not UTF-8 ({name})"),
            f,
            codes(&[1007]),
        );
    }
    let frag_bad = b.frames([
        Frame::new(OpCode::TEXT, "ok ").fin(false),
        Frame::new(OpCode::CONTINUE, vec![0xCE]).fin(false),
        Frame::new(OpCode::CONTINUE, vec![0x28]),
    ]);
    b.push(
        "utf8.invalid-text-fragmented",
        "code point broken across fragments",
        frag_bad,
        codes(&[1007]),
    );

    // Lengths.
    let with_len = |len: u64, form: LengthForm, op: OpCode, payload: &[u8]| {
        let mut fr = Frame::new(op, payload);
        fr.header.payload_len = len;
        fr.header.length_form = form;
        b.f(fr)
    };
    let msb = with_len(1 << 63 | 5, LengthForm::U64, OpCode::BINARY, b"hello");
    let huge = with_len(1 << 40, LengthForm::U64, OpCode::BINARY, &[0u8; 64]);
    b.push(
        "length.msb-set",
        "64-bit length with the top bit set",
        msb,
        codes(&[1002, 1009]),
    );
    b.push(
        "length.huge",
        "legal length of 2^40 bytes",
        huge,
        codes(&[1009]),
    );
    let nm16 = b.f(Frame::binary(b"small").length_form(LengthForm::U16));
    b.push(
        "length.non-minimal-16",
        "5-byte payload in the 16-bit form",
        nm16,
        Expected::Info,
    );
    let nm64 = b.f(Frame::binary(b"small").length_form(LengthForm::U64));
    b.push(
        "length.non-minimal-64",
        "5-byte payload in the 64-bit form",
        nm64,
        Expected::Info,
    );
    let nmp = b.f(Frame::ping(b"small").length_form(LengthForm::U16));
    b.push(
        "length.non-minimal-ping",
        "ping length in the 16-bit form",
        nmp,
        Expected::Info,
    );

    // permessage-deflate (only with the extension negotiated).
    let z = compress_message(b"compressed hello");
    b.push(
        "deflate.ok-compressed",
        "compressed text",
        b.f(Frame::new(OpCode::TEXT, z.clone()).rsv(true, false, false)),
        Expected::Echo,
    );
    let zf = b.frames([
        Frame::new(OpCode::TEXT, &z[..z.len() / 2])
            .fin(false)
            .rsv(true, false, false),
        Frame::new(OpCode::CONTINUE, &z[z.len() / 2..]),
    ]);
    b.push(
        "deflate.ok-fragmented",
        "compressed text in two fragments",
        zf,
        Expected::Echo,
    );
    b.push(
        "deflate.rsv1-ping",
        "RSV1 on a ping",
        b.f(Frame::ping(b"x").rsv(true, false, false)),
        p1002(),
    );
    let cont = b.frames([
        Frame::new(OpCode::TEXT, &z[..z.len() / 2])
            .fin(false)
            .rsv(true, false, false),
        Frame::new(OpCode::CONTINUE, &z[z.len() / 2..]).rsv(true, false, false),
    ]);
    b.push(
        "deflate.rsv1-continuation",
        "RSV1 on a continuation frame",
        cont,
        p1002(),
    );
    b.push(
        "deflate.rsv2",
        "RSV2 with deflate negotiated",
        b.f(Frame::text("x").rsv(false, true, false)),
        p1002(),
    );
    let garbage =
        b.f(Frame::new(OpCode::BINARY, vec![0xFF, 0xFF, 0xFF, 0xFF]).rsv(true, false, false));
    b.push(
        "deflate.not-deflate",
        "RSV1 payload that is not DEFLATE",
        garbage,
        codes(&[1007, 1002]),
    );
    let bad_utf8 = compress_message(&[b'a', 0xFF, b'b']);
    b.push(
        "deflate.bad-utf8",
        "compressed text that inflates to bad UTF-8",
        b.f(Frame::new(OpCode::TEXT, bad_utf8).rsv(true, false, false)),
        codes(&[1007]),
    );

    // Autobahn|Testsuite's families, one file each.
    pings::push(&mut b);
    fragments::push(&mut b);
    utf8::push(&mut b);
    closing::push(&mut b);
    bulk::push_all(&mut b);

    b.cases
}

/// Whether a case ID matches a `--case` glob (`*` any run, `?` one character).
pub fn id_matches(glob: &str, id: &str) -> bool {
    fn go(g: &[u8], s: &[u8]) -> bool {
        // Iterative with one backtrack point: linear in practice, never exponential.
        let (mut gi, mut si) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            match g.get(gi) {
                Some(b'*') => {
                    star = Some((gi, si));
                    gi += 1;
                }
                Some(&c) if c == b'?' || c == s[si] => {
                    gi += 1;
                    si += 1;
                }
                _ => match star {
                    Some((sg, ss)) => {
                        gi = sg + 1;
                        si = ss + 1;
                        star = Some((sg, ss + 1));
                    }
                    None => return false,
                },
            }
        }
        g[gi..].iter().all(|&c| c == b'*')
    }
    go(glob.as_bytes(), id.as_bytes())
}

#[cfg(test)]
mod write_tests {
    use super::*;

    #[test]
    fn write_modes_cut_where_they_say() {
        let bytes: Vec<u8> = (0..10).collect();
        assert_eq!(Write::Whole.pieces(&bytes), [&bytes[..]]);
        assert_eq!(Write::Chop(4).pieces(&bytes).len(), 3);
        let paused = Write::Paused {
            cuts: [3, 7],
            ms: 1000,
            per_frame: false,
        };
        assert_eq!(
            paused.pieces(&bytes),
            [&bytes[..3], &bytes[3..7], &bytes[7..]]
        );
        assert_eq!(
            paused.pauses_total(&bytes),
            std::time::Duration::from_secs(2)
        );
        let one = Write::Paused {
            cuts: [4, 0],
            ms: 50,
            per_frame: false,
        };
        assert_eq!(one.pieces(&bytes).len(), 2);
        assert_eq!(
            one.pauses_total(&bytes),
            std::time::Duration::from_millis(50)
        );
        assert_eq!(
            Write::Chop(1).pauses_total(&bytes),
            std::time::Duration::ZERO
        );
        // One write per frame: two frames, two pieces.
        let frames = [
            Frame::text("ab").encode().unwrap(),
            Frame::ping(b"c").encode().unwrap(),
        ]
        .concat();
        let pieces = Write::PerFrame.pieces(&frames);
        assert_eq!(pieces.iter().map(|p| p.len()).collect::<Vec<_>>(), [4, 3]);
        // Paused and one write per frame: three frames, a pause after the
        // first; the pause comes only before the second segment.
        let three = [frames.clone(), Frame::text("d").encode().unwrap()].concat();
        let mixed = Write::Paused {
            cuts: [4, 0],
            ms: 10,
            per_frame: true,
        };
        let plan: Vec<(bool, usize)> = mixed
            .schedule(&three)
            .iter()
            .map(|(p, b)| (p.is_some(), b.len()))
            .collect();
        assert_eq!(plan, [(false, 4), (true, 3), (false, 3)]);
        assert_eq!(
            mixed.pauses_total(&three),
            std::time::Duration::from_millis(10)
        );
    }
}
