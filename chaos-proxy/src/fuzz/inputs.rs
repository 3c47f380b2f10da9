//! Inputs for fuzzing a live endpoint: structure-aware frame sequences (opcodes,
//! flags, lengths and length forms, masks, fragmentation, control frames in
//! between, close payloads, UTF-8 edge cases, compressed messages where
//! permessage-deflate is agreed) and mutations of the catalogue's cases, each
//! written whole or in generated chops. Everything comes from one seeded
//! generator, so a run's inputs are the same for the same seed.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use wschaos_codec::deflate::Compressor;
use wschaos_codec::encode::Frame;
use wschaos_codec::{LengthForm, OpCode};

use crate::catalogue::Write;

/// Payloads of text frames: valid UTF-8 of every width, and the classes of
/// invalid sequences (stray continuation, overlong, surrogate, above U+10FFFF,
/// truncated).
const TEXTS: &[&[u8]] = &[
    b"",
    b"hello",
    "\u{00e9}\u{20ac}\u{1d11e}".as_bytes(),
    b"\xef\xbb\xbfbom",
    b"a\x80b",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"ok \xe2\x82",
    b"\xce",
    b"\xff",
];

/// Close codes: valid ones, and the invalid classes.
const CODES: &[u16] = &[
    1000, 1001, 1002, 1003, 1007, 1011, 3000, 4999, 0, 999, 1004, 1005, 1006, 1015, 1016, 2999,
    5000, 65535,
];

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn payload(rng: &mut ChaCha8Rng, control: bool) -> Vec<u8> {
    let len = match rng.random_range(0..10) {
        0 => 0,
        1 if control => 125,
        1 => *pick(rng, &[125usize, 126, 127, 65535, 65536]),
        2 if control => 126,
        _ => rng.random_range(1..24),
    };
    (0..len).map(|_| rng.random()).collect()
}

/// One frame a peer might send, valid or not; `masked`: a client's frames
/// (masked with `key`) rather than a server's (unmasked). Now and then the
/// masking is the wrong one.
fn frame(rng: &mut ChaCha8Rng, key: [u8; 4], masked: bool, open: &mut bool) -> Frame {
    let mut f = match rng.random_range(0..14) {
        0..=2 => {
            let op = if *open {
                OpCode::CONTINUE
            } else {
                OpCode::TEXT
            };
            Frame::new(op, pick(rng, TEXTS).to_vec())
        }
        3 | 4 => {
            let op = if *open {
                OpCode::CONTINUE
            } else {
                OpCode::BINARY
            };
            Frame::new(op, payload(rng, false))
        }
        5 => Frame::new(OpCode::CONTINUE, pick(rng, TEXTS).to_vec()),
        6 | 7 => Frame::new(OpCode::PING, payload(rng, true)),
        8 => Frame::new(OpCode::PONG, payload(rng, true)),
        9 => {
            let mut p = pick(rng, CODES).to_be_bytes().to_vec();
            if rng.random_bool(0.3) {
                let reason: &&[u8] = pick(rng, TEXTS);
                p.extend_from_slice(reason);
            }
            match rng.random_range(0..6) {
                0 => Frame::new(OpCode::CLOSE, Vec::new()),
                1 => Frame::new(OpCode::CLOSE, vec![0x03]),
                _ => Frame::new(OpCode::CLOSE, p),
            }
        }
        10 => {
            let op = *pick(rng, &[3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF]);
            Frame::new(OpCode::from_nibble(op), payload(rng, false))
        }
        11 => Frame::new(OpCode::TEXT, pick(rng, TEXTS).to_vec()),
        _ => Frame::new(OpCode::BINARY, payload(rng, false)),
    };
    let data = !f.header.opcode.is_control();
    if rng.random_bool(if data { 0.3 } else { 0.05 }) {
        f = f.fin(false);
    }
    if rng.random_bool(0.06) {
        f = f.rsv(
            rng.random_bool(0.5),
            rng.random_bool(0.3),
            rng.random_bool(0.3),
        );
    }
    let len = f.header.payload_len;
    if rng.random_bool(0.04) {
        f = f.length_form(if len <= 0xFFFF && rng.random_bool(0.5) {
            LengthForm::U16
        } else {
            LengthForm::U64
        });
    }
    if data {
        *open = !f.header.fin;
    }
    mask_as(rng, f, key, masked)
}

/// Masks `f` for a sender of that kind (`masked`: a client), and now and then
/// the wrong way.
fn mask_as(rng: &mut ChaCha8Rng, f: Frame, key: [u8; 4], masked: bool) -> Frame {
    if rng.random_bool(0.97) == masked {
        f.masked(key)
    } else {
        f
    }
}

/// A compressed message, for a connection with permessage-deflate agreed: text
/// (valid UTF-8 or not) or binary, deflated with a fresh context, in one to
/// three fragments with RSV1 on the first, now and then a ping between them.
/// Now and then it is broken: RSV1 on a continuation too, a bit of the DEFLATE
/// data flipped, or data that was never compressed. `window`: the compressor's
/// window bits (a server may ask a client for a smaller one).
fn compressed(rng: &mut ChaCha8Rng, key: [u8; 4], masked: bool, window: u8) -> Vec<Frame> {
    let text = rng.random_bool(0.6);
    let plain = if text {
        pick(rng, TEXTS).repeat(rng.random_range(1..4))
    } else {
        payload(rng, false)
    };
    let mut data = if rng.random_bool(0.08) {
        plain
    } else {
        Compressor::new(true, window).message(&plain)
    };
    if !data.is_empty() && rng.random_bool(0.08) {
        let i = rng.random_range(0..data.len());
        data[i] ^= 1 << rng.random_range(0..8);
    }
    let parts = rng.random_range(1..=3usize).min(data.len().max(1));
    let mut cuts: Vec<usize> = (1..parts)
        .map(|_| rng.random_range(0..=data.len()))
        .collect();
    cuts.sort_unstable();
    let mut frames = Vec::new();
    let mut from = 0;
    for (n, to) in cuts.into_iter().chain([data.len()]).enumerate() {
        let op = match (n, text) {
            (0, true) => OpCode::TEXT,
            (0, false) => OpCode::BINARY,
            _ => OpCode::CONTINUE,
        };
        let rsv1 = n == 0 || rng.random_bool(0.05);
        let last = n + 1 == parts;
        let f = Frame::new(op, data[from..to].to_vec())
            .fin(last)
            .rsv(rsv1, false, false);
        from = to;
        frames.push(mask_as(rng, f, key, masked));
        if !last && rng.random_bool(0.15) {
            let ping = Frame::new(OpCode::PING, payload(rng, true));
            frames.push(mask_as(rng, ping, key, masked));
        }
    }
    frames
}

/// A structure-aware sequence of one to five frames (a compressed message
/// counts as one), with compressed messages among them when `deflate`.
fn sequence(rng: &mut ChaCha8Rng, key: [u8; 4], masked: bool, deflate: bool) -> Vec<u8> {
    let mut open = false;
    let n = rng.random_range(1..=5);
    let mut out = Vec::new();
    // A client may limit a server's window (and only then: our offers as a
    // client do not let a server limit ours), so a server's messages use 9 bits.
    let window = if masked { 15 } else { 9 };
    for _ in 0..n {
        let frames = if deflate && !open && rng.random_bool(0.5) {
            compressed(rng, key, masked, window)
        } else {
            vec![frame(rng, key, masked, &mut open)]
        };
        // A frame whose length does not fit its form does not encode; skip it.
        for f in frames {
            out.extend(f.encode().unwrap_or_default());
        }
    }
    out
}

/// A mutation of `seed`: bits flipped and bytes changed in the headers' region,
/// a cut, or a frame repeated.
fn mutate(rng: &mut ChaCha8Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..rng.random_range(1..=3) {
        if b.is_empty() {
            break;
        }
        let near = rng.random_range(0..b.len().min(16));
        match rng.random_range(0..5) {
            0 | 1 => b[near] ^= 1 << rng.random_range(0..8),
            2 => b[near] = rng.random(),
            3 => {
                let cut = rng.random_range(1..=b.len());
                b.truncate(cut);
            }
            _ => {
                let first = Write::PerFrame.pieces(&b).first().map(|p| p.to_vec());
                if let Some(f) = first {
                    b.extend(f);
                }
            }
        }
    }
    b
}

/// The next input and how it is written. `seeds` are the bytes of catalogue
/// cases (and recordings) to mutate; `masked`: inputs for a server (a client's
/// frames, masked with `key`), else for a client; `deflate`: for a connection
/// that agrees to permessage-deflate.
pub fn next(
    rng: &mut ChaCha8Rng,
    key: [u8; 4],
    masked: bool,
    deflate: bool,
    seeds: &[Vec<u8>],
) -> (Vec<u8>, Write) {
    let bytes = if !seeds.is_empty() && rng.random_bool(0.3) {
        let seed = pick(rng, seeds).clone();
        mutate(rng, &seed)
    } else {
        sequence(rng, key, masked, deflate)
    };
    let write = match rng.random_range(0..8) {
        // Small writes of a large input would take longer than the timeout.
        _ if bytes.len() > 4096 => Write::Whole,
        0 => Write::Chop(1),
        1 => Write::Chop(rng.random_range(2..16)),
        2 => Write::PerFrame,
        _ => Write::Whole,
    };
    (bytes, write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::BTreeSet;

    #[test]
    fn the_same_seed_gives_the_same_inputs_and_both_kinds_come() {
        let run = |seed, masked| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..200)
                .map(|_| {
                    next(
                        &mut rng,
                        [1, 2, 3, 4],
                        masked,
                        false,
                        &[vec![0x81, 0x80, 1, 2, 3, 4]],
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5, true), run(5, true));
        assert_ne!(run(5, true), run(6, true));
        // For either receiver, valid and invalid inputs both come.
        for (role, masked) in [
            (wschaos_codec::Role::Server, true),
            (wschaos_codec::Role::Client, false),
        ] {
            let config = wschaos_codec::ValidatorConfig::new(role);
            let (mut valid, mut invalid) = (0, 0);
            for (bytes, _) in run(7, masked) {
                match wschaos_codec::classify(config, &bytes).violation {
                    Some(_) => invalid += 1,
                    None => valid += 1,
                }
            }
            assert!(
                valid > 30 && invalid > 30,
                "{role:?}: {valid} valid, {invalid} invalid"
            );
        }
    }

    #[test]
    fn with_deflate_agreed_compressed_messages_come_valid_and_broken() {
        use wschaos_codec::validate::DeflateConfig;
        use wschaos_codec::{Role, ValidatorConfig, Violation, classify};
        for (role, masked) in [(Role::Server, true), (Role::Client, false)] {
            let config = ValidatorConfig::new(role).with_deflate(DeflateConfig::default());
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let (mut compressed_ok, mut broken) = (0, BTreeSet::new());
            for _ in 0..2000 {
                let (bytes, _) = next(&mut rng, [9, 8, 7, 6], masked, true, &[]);
                let outcome = classify(config, &bytes);
                let rsv1 = Write::PerFrame
                    .pieces(&bytes)
                    .iter()
                    .any(|f| wschaos_codec::parse::decode_header(f).is_some_and(|(h, _)| h.rsv1));
                match outcome.violation {
                    None if rsv1 && !outcome.incomplete => compressed_ok += 1,
                    Some((_, v)) => {
                        broken.insert(
                            format!("{v:?}")
                                .chars()
                                .take_while(char::is_ascii_alphanumeric)
                                .collect::<String>(),
                        );
                    }
                    None => {}
                }
            }
            assert!(
                compressed_ok > 200,
                "{role:?}: {compressed_ok} valid compressed inputs"
            );
            for rule in [
                Violation::InvalidDeflate,
                Violation::Rsv1OnContinuation,
                Violation::Rsv1OnControl,
            ] {
                let name = format!("{rule:?}");
                assert!(broken.contains(&name), "{role:?}: no {name} in {broken:?}");
            }
        }
    }
}
