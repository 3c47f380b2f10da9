//! Cases of many or large messages: Autobahn|Testsuite's limits and performance
//! family (9.x: messages up to 16 MiB, 4 MiB in small frames, 1 MiB in small
//! writes, 1,000 round trips) and its compression families (12.x: five payload
//! classes at eighteen sizes and frame sizes; 13.x: the same with each
//! permessage-deflate negotiation). Their messages are generated when the case
//! runs, one at a time, each echoed before the next; a case is never held as
//! bytes.

use std::sync::OnceLock;

use super::{Builder, Expected, Write};
use crate::handshake::DeflateProfile;

/// What a bulk case sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bulk {
    /// Text (opcode 1) or binary messages.
    pub text: bool,
    /// Payload bytes per message.
    pub size: usize,
    /// Messages, each echoed before the next is sent.
    pub count: usize,
    /// Payload bytes per frame (after compression); `None`: one frame per message.
    pub frame_size: Option<usize>,
    pub payload: Payload,
    /// Negotiate permessage-deflate this way and compress every message.
    pub deflate: Option<DeflateProfile>,
}

/// Where message payloads come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// A short pattern repeated to the size (Autobahn's 9.x payloads).
    Pattern(&'static [u8]),
    /// Slices, taken one after the other, of a generated text of the class:
    /// the classes of Autobahn's compression test data.
    Corpus(Corpus),
}

/// Generated stand-ins for Autobahn's compression test files, with the same
/// kind of content and so about the same compressibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corpus {
    /// JSON records (text).
    Json,
    /// A greyscale bitmap: header, then smooth rows with noise (binary).
    Bitmap,
    /// Prose in German with umlauts (sent as binary, as Autobahn does).
    Prose,
    /// HTML markup (text).
    Html,
    /// Already-compressed data, like a PDF's streams: dense bytes with some
    /// markup between them (binary).
    Dense,
}

impl Corpus {
    fn name(self) -> &'static str {
        match self {
            Corpus::Json => "json",
            Corpus::Bitmap => "bitmap",
            Corpus::Prose => "prose",
            Corpus::Html => "html",
            Corpus::Dense => "dense",
        }
    }

    fn text(self) -> bool {
        matches!(self, Corpus::Json | Corpus::Html)
    }

    /// The generated data (256 KiB, made once per process).
    pub fn data(self) -> &'static [u8] {
        static DATA: [OnceLock<Vec<u8>>; 5] = [const { OnceLock::new() }; 5];
        let i = self as usize;
        DATA[i].get_or_init(|| generate(self, CORPUS_LEN))
    }
}

const CORPUS_LEN: usize = 256 * 1024;

/// A small deterministic generator (xorshift); the corpora are the same in
/// every run and on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn generate(corpus: Corpus, len: usize) -> Vec<u8> {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15 ^ corpus as u64);
    let mut out = Vec::with_capacity(len + 4096);
    match corpus {
        Corpus::Json => {
            const NAMES: [&str; 8] = [
                "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
            ];
            out.extend_from_slice(b"[");
            let mut id = 0u64;
            while out.len() < len {
                id += 1;
                let rec = format!(
                    "{{\"id\":{id},\"name\":\"{}-{}\",\"active\":{},\"score\":{}.{:03},\"tags\":[\"{}\",\"{}\"],\"owner\":{{\"uid\":{},\"region\":\"eu-{}\"}}}},\n",
                    NAMES[r.below(8)],
                    r.below(10_000),
                    r.below(2) == 0,
                    r.below(100),
                    r.below(1000),
                    NAMES[r.below(8)],
                    NAMES[r.below(8)],
                    r.below(1 << 20),
                    r.below(9),
                );
                out.extend_from_slice(rec.as_bytes());
            }
        }
        Corpus::Bitmap => {
            out.extend_from_slice(b"BM\x36\x04\x04\x00\x00\x00\x00\x00\x36\x04\x00\x00");
            let mut y = 0usize;
            while out.len() < len {
                for x in 0..512usize {
                    let base = ((x * 3 + y * 2) / 5 % 256) as i32;
                    let noise = r.below(9) as i32 - 4;
                    out.push((base + noise).clamp(0, 255) as u8);
                }
                y += 1;
            }
        }
        Corpus::Prose => {
            const WORDS: [&str; 16] = [
                "Habe",
                "nun,",
                "ach!",
                "Philosophie,",
                "Juristerei",
                "und",
                "Medizin,",
                "leider",
                "auch",
                "Theologie",
                "durchaus",
                "studiert,",
                "mit",
                "heißem",
                "Bemühn.",
                "Töricht",
            ];
            while out.len() < len {
                for _ in 0..(6 + r.below(10)) {
                    out.extend_from_slice(WORDS[r.below(16)].as_bytes());
                    out.push(b' ');
                }
                out.extend_from_slice(b"\r\n");
            }
        }
        Corpus::Html => {
            out.extend_from_slice(
                b"<!DOCTYPE html>\n<html><head><title>wschaos</title></head><body>\n",
            );
            let mut n = 0u32;
            while out.len() < len {
                n += 1;
                let row = format!(
                    "<div class=\"row r{}\"><a href=\"/item/{}\">Item {}</a><span class=\"price\">{}.{:02}</span><p>Lorem ipsum dolor sit amet {}.</p></div>\n",
                    r.below(4),
                    r.below(100_000),
                    n,
                    r.below(1000),
                    r.below(100),
                    r.below(1000),
                );
                out.extend_from_slice(row.as_bytes());
            }
        }
        Corpus::Dense => {
            let mut obj = 0u32;
            while out.len() < len {
                obj += 1;
                let n = 512 + r.below(3584);
                let head = format!("{obj} 0 obj\n<< /Length {n} /Filter /FlateDecode >>\nstream\n");
                out.extend_from_slice(head.as_bytes());
                for _ in 0..n {
                    out.push(r.next() as u8);
                }
                out.extend_from_slice(b"\nendstream\nendobj\n");
            }
        }
    }
    out.truncate(len);
    out
}

impl Bulk {
    /// The payload of message `i` (0-based): the pattern repeated, or the
    /// corpus slice after the previous message's (wrapping around).
    pub fn message(&self, i: usize) -> Vec<u8> {
        match self.payload {
            Payload::Pattern(p) => p.iter().copied().cycle().take(self.size).collect(),
            Payload::Corpus(c) => {
                let data = c.data();
                let start = i.wrapping_mul(self.size) % data.len();
                data.iter()
                    .copied()
                    .cycle()
                    .skip(start)
                    .take(self.size)
                    .collect()
            }
        }
    }

    /// Application bytes sent in all.
    pub fn total_bytes(&self) -> u64 {
        self.size as u64 * self.count as u64
    }
}

/// Autobahn's 9.x pattern payloads.
const TEXT_PATTERN: &[u8] = b"BAsd7&jh23";
const BINARY_PATTERN: &[u8] = b"\x00\xfe\x23\xfa\xf0";

/// A size as case ids write it: 64k, 1m, 16.
fn size_name(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{}m", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{}k", n >> 10),
        n => n.to_string(),
    }
}

/// Autobahn's message sizes and frame sizes of 12.x and 13.x, in its order.
const COMPRESSION_SIZES: [(usize, usize); 18] = [
    (16, 0),
    (64, 0),
    (256, 0),
    (1024, 0),
    (4096, 0),
    (8192, 0),
    (16384, 0),
    (32768, 0),
    (65536, 0),
    (131072, 0),
    (8192, 256),
    (16384, 256),
    (32768, 256),
    (65536, 256),
    (131072, 256),
    (131072, 1024),
    (131072, 4096),
    (131072, 32768),
];

/// How many compressed messages a case sends. Autobahn sends 1,000 of every
/// size; here 1,000 up to 256 bytes and then 256 KiB of messages, at least
/// eight. Past 32 KiB of data the DEFLATE window (which is all that context
/// takeover carries from message to message) is full, so more messages
/// exercise nothing new, and the case stays in seconds.
pub fn compressed_count(size: usize) -> usize {
    ((256 * 1024) / size.max(1)).clamp(8, 1000)
}

fn push(b: &mut Builder, id: String, description: String, bulk: Bulk, write: Write, ab: String) {
    b.push(&id, &description, Vec::new(), Expected::Echo);
    if let Some(c) = b.cases.last_mut() {
        c.bulk = Some(bulk);
    }
    b.written(write).covers(&[&ab]);
}

pub(super) fn push_all(b: &mut Builder) {
    let kinds = [
        ("text", true, 1, TEXT_PATTERN, b"*".as_slice()),
        ("binary", false, 2, BINARY_PATTERN, b"\xfe".as_slice()),
    ];
    for (kind, text, n, pattern, fill) in kinds {
        let one = |size, frame_size, payload| Bulk {
            text,
            size,
            count: 1,
            frame_size,
            payload,
            deflate: None,
        };
        // 9.1 / 9.2: one message of 64 KiB to 16 MiB.
        for (i, size) in [64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20, 16 << 20]
            .into_iter()
            .enumerate()
        {
            push(
                b,
                format!("limits.{kind}-{}", size_name(size)),
                format!("one {kind} message of {} bytes", size),
                one(size, None, Payload::Pattern(pattern)),
                Write::Whole,
                format!("9.{n}.{}", i + 1),
            );
        }
        // 9.3 / 9.4: 4 MiB in frames of 64 bytes to 4 MiB.
        let frames = [
            64,
            256,
            1 << 10,
            4 << 10,
            16 << 10,
            64 << 10,
            256 << 10,
            1 << 20,
            4 << 20,
        ];
        for (i, f) in frames.into_iter().enumerate() {
            push(
                b,
                format!("limits.{kind}-4m-frames-{}", size_name(f)),
                format!("one {kind} message of 4 MiB in frames of {f} bytes"),
                one(4 << 20, Some(f), Payload::Pattern(fill)),
                Write::Whole,
                format!("9.{}.{}", n + 2, i + 1),
            );
        }
        // 9.5 / 9.6: 1 MiB written in chops of 64 to 2048 bytes.
        for (i, chop) in [64, 128, 256, 512, 1024, 2048].into_iter().enumerate() {
            push(
                b,
                format!("limits.{kind}-1m+chop{chop}"),
                format!("one {kind} message of 1 MiB in writes of {chop} bytes"),
                one(1 << 20, None, Payload::Pattern(pattern)),
                Write::Chop(chop),
                format!("9.{}.{}", n + 4, i + 1),
            );
        }
        // 9.7 / 9.8: 1,000 messages, each echoed before the next (round trips).
        for (i, size) in [0, 16, 64, 256, 1024, 4096].into_iter().enumerate() {
            push(
                b,
                format!("limits.{kind}-1000x{}", size_name(size)),
                format!("1000 {kind} messages of {size} bytes, each echoed before the next"),
                Bulk {
                    count: 1000,
                    ..one(size, None, Payload::Pattern(fill))
                },
                Write::Whole,
                format!("9.{}.{}", n + 6, i + 1),
            );
        }
    }

    let compressed = |b: &mut Builder, id: String, corpus: Corpus, profile, ab: &[String], i| {
        let (size, frame) = COMPRESSION_SIZES[i];
        let framing = if frame > 0 {
            format!("-frames-{}", size_name(frame))
        } else {
            String::new()
        };
        let count = compressed_count(size);
        let kind = if corpus.text() { "text" } else { "binary" };
        let in_frames = if frame > 0 {
            format!(" in frames of {frame} bytes")
        } else {
            String::new()
        };
        let bulk = Bulk {
            text: corpus.text(),
            size,
            count,
            frame_size: (frame > 0).then_some(frame),
            payload: Payload::Corpus(corpus),
            deflate: Some(profile),
        };
        let description = format!(
            "{count} compressed {kind} messages of {size} bytes ({} data){in_frames}, permessage-deflate {}",
            corpus.name(),
            match profile {
                DeflateProfile::Plain => "offered bare".to_owned(),
                p => format!("negotiated {}", p.name()),
            }
        );
        b.push(
            &format!("{id}{framing}"),
            &description,
            Vec::new(),
            Expected::Echo,
        );
        if let Some(c) = b.cases.last_mut() {
            c.bulk = Some(bulk);
        }
        let ids: Vec<&str> = ab.iter().map(String::as_str).collect();
        b.covers(&ids);
    };
    // 12.x: each payload class, a bare offer (the same negotiation as 13.1,
    // which these cases cover too for JSON).
    let classes = [
        Corpus::Json,
        Corpus::Bitmap,
        Corpus::Prose,
        Corpus::Html,
        Corpus::Dense,
    ];
    for (j, corpus) in classes.into_iter().enumerate() {
        for (i, (size, _)) in COMPRESSION_SIZES.into_iter().enumerate() {
            let size = size_name(size);
            let mut ab = vec![format!("12.{}.{}", j + 1, i + 1)];
            if corpus == Corpus::Json {
                ab.push(format!("13.1.{}", i + 1));
            }
            let id = format!("deflate.{}-{size}", corpus.name());
            compressed(b, id, corpus, DeflateProfile::Plain, &ab, i);
        }
    }
    // 13.2-13.7: JSON with each other negotiation.
    for (j, profile) in DeflateProfile::ALL.into_iter().enumerate().skip(1) {
        for (i, (size, _)) in COMPRESSION_SIZES.into_iter().enumerate() {
            let size = size_name(size);
            let ab = vec![format!("13.{}.{}", j + 1, i + 1)];
            let id = format!("deflate.{}-{size}", profile.name());
            compressed(b, id, Corpus::Json, profile, &ab, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpora_are_stable_and_text_is_utf8() {
        for c in [
            Corpus::Json,
            Corpus::Bitmap,
            Corpus::Prose,
            Corpus::Html,
            Corpus::Dense,
        ] {
            assert_eq!(c.data().len(), CORPUS_LEN);
            assert_eq!(c.data(), generate(c, CORPUS_LEN));
            if c.text() {
                assert!(c.data().is_ascii(), "{c:?}");
            }
        }
    }

    #[test]
    fn messages_slide_over_the_corpus_and_patterns_repeat() {
        let bulk = Bulk {
            text: true,
            size: 100_000,
            count: 5,
            frame_size: None,
            payload: Payload::Corpus(Corpus::Json),
            deflate: None,
        };
        let data = Corpus::Json.data();
        assert_eq!(bulk.message(0), data[..100_000]);
        assert_eq!(bulk.message(1), data[100_000..200_000]);
        // The third wraps around.
        let third = bulk.message(2);
        assert_eq!(third[..62_144], data[200_000..]);
        assert_eq!(third[62_144..], data[..37_856]);
        let p = Bulk {
            payload: Payload::Pattern(TEXT_PATTERN),
            size: 25,
            ..bulk
        };
        assert_eq!(p.message(3), b"BAsd7&jh23BAsd7&jh23BAsd7");
    }

    #[test]
    fn counts_stay_within_autobahns() {
        assert_eq!(compressed_count(16), 1000);
        assert_eq!(compressed_count(256), 1000);
        assert_eq!(compressed_count(4096), 64);
        assert_eq!(compressed_count(131072), 8);
        assert_eq!(size_name(4 << 20), "4m");
        assert_eq!(size_name(32768), "32k");
        assert_eq!(size_name(0), "0");
    }
}
