//! UTF-8 of text messages as Autobahn|Testsuite sends it (its category 6): the
//! vectors of Markus Kuhn's stress test, valid and invalid, whole and fragmented.
//!
//! Ids name the Autobahn case they reproduce: `utf8.valid-6.7.2` must be echoed,
//! `utf8.invalid-6.8.1` must fail the connection with 1007. Autobahn writes each
//! of these messages in one go, its fragmented ones included (frames are not
//! flushed one by one), so every case here is one write; the invalid ones get
//! their byte-per-write and valid-message-first variants from the catalogue.
//!
//! Left out: 6.4.x, which pause a second between parts and grade how early the
//! endpoint fails, and the three vectors the catalogue already sends byte for
//! byte in one frame (6.11.5 `F4 90 80 80` as `utf8.invalid-text-above-max`,
//! 6.17.1 `C0 AF` as `utf8.invalid-text-overlong`, 6.20.1 `ED A0 80` as
//! `utf8.invalid-text-surrogate`).

use super::{Builder, Expected, Write, codes};
use crate::encode::Frame;
use crate::frame::OpCode;

const VALID: bool = true;
const INVALID: bool = false;

/// κόσμε: 2-, 3-, 2-, 2- and 2-byte code points.
const KOSME: &[u8] = &[
    0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5,
];

/// Text with 2-byte code points, split on and inside them by 6.2.x.
const HELLO: &str = "Hello-\u{B5}@\u{DF}\u{F6}\u{E4}\u{FC}\u{E0}\u{E1}-UTF-8!!";

/// Kuhn's vectors as Autobahn numbers them (6.5–6.23), each sent as one text
/// frame: the Autobahn ids sending exactly these bytes, the bytes, and whether
/// they are UTF-8. Non-characters (U+FFFE, U+1FFFF, …) and specials are valid
/// UTF-8 and must be accepted. The vectors built by rule are in `generated`.
const KUHN: &[(&[&str], &[u8], bool)] = &[
    // Some valid UTF-8 sequences.
    (&["6.5.1"], b"hello\x24world", VALID),
    (&["6.5.2"], b"hello\xC2\xA2world", VALID),
    (&["6.5.3"], b"hello\xE2\x82\xACworld", VALID),
    (&["6.5.4"], b"hello\xF0\xA4\xAD\xA2world", VALID),
    // All prefixes of κόσμε: valid where they end on a code point.
    (&["6.6.1"], &[0xCE], INVALID),
    (&["6.6.2"], &[0xCE, 0xBA], VALID),
    (&["6.6.3"], &[0xCE, 0xBA, 0xE1], INVALID),
    (&["6.6.4"], &[0xCE, 0xBA, 0xE1, 0xBD], INVALID),
    (&["6.6.5"], &[0xCE, 0xBA, 0xE1, 0xBD, 0xB9], VALID),
    (&["6.6.6"], &[0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF], INVALID),
    (
        &["6.6.7"],
        &[0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83],
        VALID,
    ),
    (
        &["6.6.8"],
        &[0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE],
        INVALID,
    ),
    (
        &["6.6.9"],
        &[0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC],
        VALID,
    ),
    (
        &["6.6.10"],
        &[0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE],
        INVALID,
    ),
    (&["6.5.5", "6.6.11"], KOSME, VALID),
    // First possible sequence of each length.
    (&["6.7.1"], &[0x00], VALID),
    (&["6.7.2"], &[0xC2, 0x80], VALID),
    (&["6.7.3"], &[0xE0, 0xA0, 0x80], VALID),
    (&["6.7.4"], &[0xF0, 0x90, 0x80, 0x80], VALID),
    // First 5- and 6-byte forms: beyond U+10FFFF, F8-FD never lead.
    (&["6.8.1"], &[0xF8, 0x88, 0x80, 0x80, 0x80], INVALID),
    (&["6.8.2"], &[0xFC, 0x84, 0x80, 0x80, 0x80, 0x80], INVALID),
    // Last possible sequence of each length.
    (&["6.9.1"], &[0x7F], VALID),
    (&["6.9.2"], &[0xDF, 0xBF], VALID),
    (&["6.9.3", "6.22.2", "6.23.7"], &[0xEF, 0xBF, 0xBF], VALID),
    (
        &["6.9.4", "6.11.4", "6.22.34"],
        &[0xF4, 0x8F, 0xBF, 0xBF],
        VALID,
    ),
    // Last 4-, 5- and 6-byte forms: beyond U+10FFFF.
    (&["6.10.1"], &[0xF7, 0xBF, 0xBF, 0xBF], INVALID),
    (&["6.10.2"], &[0xFB, 0xBF, 0xBF, 0xBF, 0xBF], INVALID),
    (&["6.10.3"], &[0xFD, 0xBF, 0xBF, 0xBF, 0xBF, 0xBF], INVALID),
    // Other boundaries: around the surrogates, the replacement character.
    (&["6.11.1"], &[0xED, 0x9F, 0xBF], VALID),
    (&["6.11.2"], &[0xEE, 0x80, 0x80], VALID),
    (&["6.11.3", "6.23.5"], &[0xEF, 0xBF, 0xBD], VALID),
    // Unexpected continuation bytes (6.12.8, all of them, is generated).
    (&["6.12.1"], &[0x80], INVALID),
    (&["6.12.2"], &[0xBF], INVALID),
    (&["6.12.3"], &[0x80, 0xBF], INVALID),
    (&["6.12.4"], &[0x80, 0xBF, 0x80], INVALID),
    (&["6.12.5"], &[0x80, 0xBF, 0x80, 0xBF], INVALID),
    (&["6.12.6"], &[0x80, 0xBF, 0x80, 0xBF, 0x80], INVALID),
    (&["6.12.7"], &[0x80, 0xBF, 0x80, 0xBF, 0x80, 0xBF], INVALID),
    // Sequences with their last continuation byte missing (6.15.1 sends all
    // ten in a row).
    (&["6.14.1"], &[0xC0], INVALID),
    (&["6.14.2"], &[0xE0, 0x80], INVALID),
    (&["6.14.3"], &[0xF0, 0x80, 0x80], INVALID),
    (&["6.14.4"], &[0xF8, 0x80, 0x80, 0x80], INVALID),
    (&["6.14.5"], &[0xFC, 0x80, 0x80, 0x80, 0x80], INVALID),
    (&["6.14.6"], &[0xDF], INVALID),
    (&["6.14.7"], &[0xEF, 0xBF], INVALID),
    (&["6.14.8"], &[0xF7, 0xBF, 0xBF], INVALID),
    (&["6.14.9"], &[0xFB, 0xBF, 0xBF, 0xBF], INVALID),
    (&["6.14.10"], &[0xFD, 0xBF, 0xBF, 0xBF, 0xBF], INVALID),
    // Impossible bytes.
    (&["6.16.1"], &[0xFE], INVALID),
    (&["6.16.2"], &[0xFF], INVALID),
    (&["6.16.3"], &[0xFE, 0xFE, 0xFF, 0xFF], INVALID),
    // Overlong '/' (C0 AF, 6.17.1, is `utf8.invalid-text-overlong`).
    (&["6.17.2"], &[0xE0, 0x80, 0xAF], INVALID),
    (&["6.17.3"], &[0xF0, 0x80, 0x80, 0xAF], INVALID),
    (&["6.17.4"], &[0xF8, 0x80, 0x80, 0x80, 0xAF], INVALID),
    (&["6.17.5"], &[0xFC, 0x80, 0x80, 0x80, 0x80, 0xAF], INVALID),
    // Maximum overlong sequences.
    (&["6.18.1"], &[0xC1, 0xBF], INVALID),
    (&["6.18.2"], &[0xE0, 0x9F, 0xBF], INVALID),
    (&["6.18.3"], &[0xF0, 0x8F, 0xBF, 0xBF], INVALID),
    (&["6.18.4"], &[0xF8, 0x87, 0xBF, 0xBF, 0xBF], INVALID),
    (&["6.18.5"], &[0xFC, 0x83, 0xBF, 0xBF, 0xBF, 0xBF], INVALID),
    // Overlong NUL (C0 80 is modified UTF-8's NUL, still not UTF-8).
    (&["6.19.1"], &[0xC0, 0x80], INVALID),
    (&["6.19.2"], &[0xE0, 0x80, 0x80], INVALID),
    (&["6.19.3"], &[0xF0, 0x80, 0x80, 0x80], INVALID),
    (&["6.19.4"], &[0xF8, 0x80, 0x80, 0x80, 0x80], INVALID),
    (&["6.19.5"], &[0xFC, 0x80, 0x80, 0x80, 0x80, 0x80], INVALID),
    // Single UTF-16 surrogates (ED A0 80, 6.20.1, is
    // `utf8.invalid-text-surrogate`).
    (&["6.20.2"], &[0xED, 0xAD, 0xBF], INVALID),
    (&["6.20.3"], &[0xED, 0xAE, 0x80], INVALID),
    (&["6.20.4"], &[0xED, 0xAF, 0xBF], INVALID),
    (&["6.20.5"], &[0xED, 0xB0, 0x80], INVALID),
    (&["6.20.6"], &[0xED, 0xBE, 0x80], INVALID),
    (&["6.20.7"], &[0xED, 0xBF, 0xBF], INVALID),
    // Paired UTF-16 surrogates (CESU-8): still not UTF-8.
    (&["6.21.1"], &[0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80], INVALID),
    (&["6.21.2"], &[0xED, 0xA0, 0x80, 0xED, 0xBF, 0xBF], INVALID),
    (&["6.21.3"], &[0xED, 0xAD, 0xBF, 0xED, 0xB0, 0x80], INVALID),
    (&["6.21.4"], &[0xED, 0xAD, 0xBF, 0xED, 0xBF, 0xBF], INVALID),
    (&["6.21.5"], &[0xED, 0xAE, 0x80, 0xED, 0xB0, 0x80], INVALID),
    (&["6.21.6"], &[0xED, 0xAE, 0x80, 0xED, 0xBF, 0xBF], INVALID),
    (&["6.21.7"], &[0xED, 0xAF, 0xBF, 0xED, 0xB0, 0x80], INVALID),
    (&["6.21.8"], &[0xED, 0xAF, 0xBF, 0xED, 0xBF, 0xBF], INVALID),
    // Non-characters U+FFFE and U+nFFFE/U+nFFFF of the planes above (U+FFFF
    // and U+10FFFF are rows above): valid UTF-8, to be accepted.
    (&["6.22.1", "6.23.6"], &[0xEF, 0xBF, 0xBE], VALID),
    (&["6.22.3"], &[0xF0, 0x9F, 0xBF, 0xBE], VALID),
    (&["6.22.4"], &[0xF0, 0x9F, 0xBF, 0xBF], VALID),
    (&["6.22.5"], &[0xF0, 0xAF, 0xBF, 0xBE], VALID),
    (&["6.22.6"], &[0xF0, 0xAF, 0xBF, 0xBF], VALID),
    (&["6.22.7"], &[0xF0, 0xBF, 0xBF, 0xBE], VALID),
    (&["6.22.8"], &[0xF0, 0xBF, 0xBF, 0xBF], VALID),
    (&["6.22.9"], &[0xF1, 0x8F, 0xBF, 0xBE], VALID),
    (&["6.22.10"], &[0xF1, 0x8F, 0xBF, 0xBF], VALID),
    (&["6.22.11"], &[0xF1, 0x9F, 0xBF, 0xBE], VALID),
    (&["6.22.12"], &[0xF1, 0x9F, 0xBF, 0xBF], VALID),
    (&["6.22.13"], &[0xF1, 0xAF, 0xBF, 0xBE], VALID),
    (&["6.22.14"], &[0xF1, 0xAF, 0xBF, 0xBF], VALID),
    (&["6.22.15"], &[0xF1, 0xBF, 0xBF, 0xBE], VALID),
    (&["6.22.16"], &[0xF1, 0xBF, 0xBF, 0xBF], VALID),
    (&["6.22.17"], &[0xF2, 0x8F, 0xBF, 0xBE], VALID),
    (&["6.22.18"], &[0xF2, 0x8F, 0xBF, 0xBF], VALID),
    (&["6.22.19"], &[0xF2, 0x9F, 0xBF, 0xBE], VALID),
    (&["6.22.20"], &[0xF2, 0x9F, 0xBF, 0xBF], VALID),
    (&["6.22.21"], &[0xF2, 0xAF, 0xBF, 0xBE], VALID),
    (&["6.22.22"], &[0xF2, 0xAF, 0xBF, 0xBF], VALID),
    (&["6.22.23"], &[0xF2, 0xBF, 0xBF, 0xBE], VALID),
    (&["6.22.24"], &[0xF2, 0xBF, 0xBF, 0xBF], VALID),
    (&["6.22.25"], &[0xF3, 0x8F, 0xBF, 0xBE], VALID),
    (&["6.22.26"], &[0xF3, 0x8F, 0xBF, 0xBF], VALID),
    (&["6.22.27"], &[0xF3, 0x9F, 0xBF, 0xBE], VALID),
    (&["6.22.28"], &[0xF3, 0x9F, 0xBF, 0xBF], VALID),
    (&["6.22.29"], &[0xF3, 0xAF, 0xBF, 0xBE], VALID),
    (&["6.22.30"], &[0xF3, 0xAF, 0xBF, 0xBF], VALID),
    (&["6.22.31"], &[0xF3, 0xBF, 0xBF, 0xBE], VALID),
    (&["6.22.32"], &[0xF3, 0xBF, 0xBF, 0xBF], VALID),
    (&["6.22.33"], &[0xF4, 0x8F, 0xBF, 0xBE], VALID),
    // Specials U+FFF9–U+FFFC (U+FFFD–U+FFFF are rows above).
    (&["6.23.1"], &[0xEF, 0xBF, 0xB9], VALID),
    (&["6.23.2"], &[0xEF, 0xBF, 0xBA], VALID),
    (&["6.23.3"], &[0xEF, 0xBF, 0xBB], VALID),
    (&["6.23.4"], &[0xEF, 0xBF, 0xBC], VALID),
];

/// The vectors of 6.5–6.23 built by rule rather than listed byte by byte.
fn generated() -> Vec<(&'static [&'static str], Vec<u8>, bool)> {
    let mut out: Vec<(&'static [&'static str], Vec<u8>, bool)> = Vec::new();
    // Continuation bytes 80..BE (BF excluded, as Autobahn sends them).
    out.push((&["6.12.8"], (0x80..0xBF).collect(), INVALID));
    // Lonely start bytes, each followed by a space: C0..DE, E0..EE, F0..F6,
    // F8..FA and FC (each range's last byte excluded, as Autobahn sends them).
    for (ids, leads) in [
        (&["6.13.1"], 0xC0..0xDF),
        (&["6.13.2"], 0xE0..0xEF),
        (&["6.13.3"], 0xF0..0xF7),
        (&["6.13.4"], 0xF8..0xFB),
        (&["6.13.5"], 0xFC..0xFD),
    ] as [(&'static [&'static str], std::ops::Range<u8>); 5]
    {
        out.push((ids, leads.flat_map(|l| [l, b' ']).collect(), INVALID));
    }
    // The ten truncated sequences of 6.14 in a row.
    let truncated: Vec<u8> = KUHN
        .iter()
        .filter(|(ids, _, _)| ids.iter().any(|id| id.starts_with("6.14.")))
        .flat_map(|(_, bytes, _)| bytes.iter().copied())
        .collect();
    out.push((&["6.15.1"], truncated, INVALID));
    out
}

/// What Autobahn's subcategory `6.N` sends, for case descriptions.
fn section(id: &str) -> &'static str {
    let sub = id.split('.').nth(1).unwrap_or_default();
    match sub {
        "5" => "sample text",
        "6" => "prefix of \u{3BA}\u{1F79}\u{3C3}\u{3BC}\u{3B5}",
        "7" => "first code point of a length",
        "8" => "first 5/6-byte form, beyond U+10FFFF",
        "9" => "last code point of a length",
        "10" => "last 4/5/6-byte form, beyond U+10FFFF",
        "11" => "boundary code point",
        "12" => "continuation bytes with no lead byte",
        "13" => "lead bytes each followed by a space",
        "14" => "sequence missing its last continuation byte",
        "15" => "ten truncated sequences in a row",
        "16" => "bytes that never occur in UTF-8",
        "17" => "overlong '/'",
        "18" => "largest overlong of a length",
        "19" => "overlong NUL",
        "20" => "lone UTF-16 surrogate",
        "21" => "UTF-16 surrogate pair",
        "22" => "non-character",
        "23" => "Unicode special",
        _ => "text",
    }
}

/// `[CE BA E1]`, cut after 12 bytes with the total length.
fn hex(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().take(12).map(|b| format!("{b:02X}")).collect();
    if bytes.len() > 12 {
        format!("[{} ... ({} bytes)]", shown.join(" "), bytes.len())
    } else {
        format!("[{}]", shown.join(" "))
    }
}

/// One frame per octet of `bytes`: a text frame, then continuations, the last
/// with FIN.
fn octet_frames(bytes: &[u8]) -> Vec<Frame> {
    let last = bytes.len().saturating_sub(1);
    bytes
        .iter()
        .enumerate()
        .map(|(i, &byte)| {
            let op = if i == 0 {
                OpCode::TEXT
            } else {
                OpCode::CONTINUE
            };
            Frame::new(op, vec![byte]).fin(i == last)
        })
        .collect()
}

pub(super) fn push(b: &mut Builder) {
    fail_fast(b);
    // 6.1.2 / 6.1.3: empty fragments carry nothing and end nothing early.
    let empty = b.frames([
        Frame::new(OpCode::TEXT, "").fin(false),
        Frame::new(OpCode::CONTINUE, "").fin(false),
        Frame::new(OpCode::CONTINUE, ""),
    ]);
    b.push(
        "utf8.valid-6.1.2",
        "text message in three empty fragments: an empty message",
        empty,
        Expected::Echo,
    );
    b.covers(&["6.1.2"]);
    let middle = b.frames([
        Frame::new(OpCode::TEXT, "").fin(false),
        Frame::new(OpCode::CONTINUE, "middle frame payload").fin(false),
        Frame::new(OpCode::CONTINUE, ""),
    ]);
    b.push(
        "utf8.valid-6.1.3",
        "text message in three fragments, first and last empty",
        middle,
        Expected::Echo,
    );
    b.covers(&["6.1.3"]);

    // 6.2.x: valid 2-byte code points whole, split on a code point, and one
    // octet per frame (so that frames end inside code points).
    let whole = b.f(Frame::text(HELLO));
    b.push(
        "utf8.valid-6.2.1",
        "text with 2-byte code points in one frame",
        whole,
        Expected::Echo,
    );
    b.covers(&["6.2.1"]);
    let (head, tail) = HELLO.split_at("Hello-\u{B5}@\u{DF}\u{F6}\u{E4}".len());
    let two = b.frames([
        Frame::new(OpCode::TEXT, head).fin(false),
        Frame::new(OpCode::CONTINUE, tail),
    ]);
    b.push(
        "utf8.valid-6.2.2",
        "text with 2-byte code points in two fragments split between code points",
        two,
        Expected::Echo,
    );
    b.covers(&["6.2.2"]);
    let hello_octets = b.frames(octet_frames(HELLO.as_bytes()));
    b.push(
        "utf8.valid-6.2.3",
        "text with 2-byte code points, one octet per frame",
        hello_octets,
        Expected::Echo,
    );
    b.covers(&["6.2.3"]);
    let kosme_octets = b.frames(octet_frames(KOSME));
    b.push(
        "utf8.valid-6.2.4",
        "\u{3BA}\u{1F79}\u{3C3}\u{3BC}\u{3B5} (with a 3-byte code point), one octet per frame",
        kosme_octets,
        Expected::Echo,
    );
    b.covers(&["6.2.4"]);

    // 6.3.x: a surrogate between valid multi-byte text and ASCII, whole and
    // one octet per frame; the message is wrong from its 13th byte on.
    let mut surrogate = KOSME.to_vec();
    surrogate.extend_from_slice(&[0xED, 0xA0, 0x80]);
    surrogate.extend_from_slice(b"edited");
    let whole = b.f(Frame::new(OpCode::TEXT, surrogate.clone()));
    b.push(
        "utf8.invalid-6.3.1",
        "surrogate ED A0 80 between valid text, one frame",
        whole,
        codes(&[1007]),
    );
    b.covers(&["6.3.1"]);
    let octets = b.frames(octet_frames(&surrogate));
    b.push(
        "utf8.invalid-6.3.2",
        "surrogate ED A0 80 between valid text, one octet per frame",
        octets,
        codes(&[1007]),
    );
    b.covers(&["6.3.2"]);

    // 6.5–6.23: one text frame each.
    let listed = KUHN
        .iter()
        .map(|&(ids, bytes, valid)| (ids, bytes.to_vec(), valid));
    for (ids, bytes, valid) in listed.chain(generated()) {
        let first = ids.first().copied().unwrap_or_default();
        let (kind, expected) = if valid {
            ("valid", Expected::Echo)
        } else {
            ("invalid", codes(&[1007]))
        };
        let description = format!("{} {}: {kind} UTF-8", section(first), hex(&bytes));
        let frame = b.f(Frame::new(OpCode::TEXT, bytes));
        b.push(
            &format!("utf8.{kind}-{first}"),
            &description,
            frame,
            expected,
        );
        b.covers(ids);
    }
}

/// 6.4.1-6.4.4: a text message whose invalid code point arrives in the middle,
/// with a pause of a second before and after the part that holds it. The
/// endpoint must fail the connection with 1007 during the second pause, before
/// the rest is sent; failing only at the end is non-strict (`Write::Paused`).
fn fail_fast(b: &mut Builder) {
    let head = "\u{3ba}\u{1f79}\u{3c3}\u{3bc}\u{3b5}".as_bytes(); // κόσμε
    let tail = b"edited";
    // (Autobahn id, the three parts of the payload: the invalid sequence is
    // F4 90 80 80, above U+10FFFF, and breaks at the 90).
    let parts: [(&str, [Vec<u8>; 3]); 2] = [
        (
            "6.4.1",
            [head.to_vec(), vec![0xF4, 0x90, 0x80, 0x80], tail.to_vec()],
        ),
        (
            "6.4.2",
            [
                [head, &[0xF4]].concat(),
                vec![0x90],
                [&[0x80, 0x80], &tail[..]].concat(),
            ],
        ),
    ];
    let pause = 1000;
    for (id, [p1, p2, p3]) in &parts {
        // Three frames, the pauses between them.
        let frames = [
            b.f(Frame::new(OpCode::TEXT, p1.clone()).fin(false)),
            b.f(Frame::new(OpCode::CONTINUE, p2.clone()).fin(false)),
            b.f(Frame::new(OpCode::CONTINUE, p3.clone())),
        ];
        let cuts = [
            frames[0].len() as u32,
            (frames[0].len() + frames[1].len()) as u32,
        ];
        b.push(
            &format!("utf8.fail-fast-{id}"),
            "text in three frames, 1 s apart; the second breaks UTF-8: fail before the third",
            frames.concat(),
            codes(&[1007]),
        );
        b.written(Write::Paused {
            cuts,
            ms: pause,
            per_frame: false,
        })
        .covers(&[id]);
        // One frame, written in the same three parts.
        let payload = [p1.as_slice(), p2, p3].concat();
        let frame = b.f(Frame::new(OpCode::TEXT, payload.clone()));
        let header = (frame.len() - payload.len()) as u32;
        let cuts = [
            header + p1.len() as u32,
            header + (p1.len() + p2.len()) as u32,
        ];
        let chopped = if *id == "6.4.1" { "6.4.3" } else { "6.4.4" };
        b.push(
            &format!("utf8.fail-fast-{chopped}"),
            "one text frame written in three parts, 1 s apart; the second breaks UTF-8: fail mid-frame",
            frame,
            codes(&[1007]),
        );
        b.written(Write::Paused {
            cuts,
            ms: pause,
            per_frame: false,
        })
        .covers(&[chopped]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each vector's verdict agrees with the standard library's decoder, which
    /// owes nothing to the codec's validator.
    #[test]
    fn the_table_agrees_with_std() {
        let listed = KUHN
            .iter()
            .map(|&(ids, bytes, valid)| (ids, bytes.to_vec(), valid));
        for (ids, bytes, valid) in listed.chain(generated()) {
            assert_eq!(std::str::from_utf8(&bytes).is_ok(), valid, "{ids:?}");
        }
    }

    /// Kuhn's 132 vectors less the three sent by earlier cases, each id once.
    #[test]
    fn every_vector_is_there_once() {
        let mut ids: Vec<&str> = KUHN
            .iter()
            .map(|&(ids, _, _)| ids)
            .chain(generated().into_iter().map(|(ids, _, _)| ids))
            .flatten()
            .copied()
            .collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!((n, ids.len()), (129, 129));
    }
}
