//! Every frame-level case of SPEC.md's catalogue, for both receivers, is classified
//! by the codec with the code the case expects, read whole and one byte at a time.

use wschaos_codec::cases::{Expected, FrameCase, frame_cases, id_matches};
use wschaos_codec::stream::{StreamOutcome, classify_chunks};
use wschaos_codec::validate::{DeflateConfig, FrameDone};
use wschaos_codec::{Notice, Role, ValidatorConfig};

const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

fn config(receiver: Role, case: &FrameCase) -> ValidatorConfig {
    let c = ValidatorConfig::new(receiver);
    if case.needs_deflate {
        c.with_deflate(DeflateConfig::default())
    } else {
        c
    }
}

fn judge(receiver: Role, case: &FrameCase) -> Result<(), String> {
    let cfg = config(receiver, case);
    let whole = classify_chunks(cfg, [&case.bytes[..]]);
    let bytewise = classify_chunks(cfg, case.bytes.chunks(1));
    if whole != bytewise {
        return Err(format!("{}: whole and bytewise reads differ", case.id));
    }
    check(&case.id, &case.expected, &whole).map_err(|e| format!("{} ({receiver:?}): {e}", case.id))
}

fn check(id: &str, expected: &Expected, got: &StreamOutcome) -> Result<(), String> {
    match expected {
        Expected::Echo | Expected::Info => {
            if let Some((_, v)) = &got.violation {
                return Err(format!("expected no violation, got {v}"));
            }
            if got.incomplete {
                return Err("stream left incomplete".into());
            }
            if id.starts_with("length.") && got.notices.is_empty() {
                return Err("info case raised no notice".into());
            }
            Ok(())
        }
        Expected::Close(codes) => match &got.violation {
            None => Err(format!("expected close {codes:?}, got no violation")),
            Some((_, v)) if v.close_code() != codes[0] => Err(format!(
                "expected {}, got {} ({v})",
                codes[0],
                v.close_code()
            )),
            Some((_, v)) if v.accepted_codes() != codes.as_slice() => Err(format!(
                "accepted codes {:?} differ from the catalogue's {codes:?}",
                v.accepted_codes()
            )),
            Some(_) => Ok(()),
        },
    }
}

#[test]
fn server_catalogue_is_classified_as_spec_says() {
    let cases = frame_cases(Role::Server, KEY);
    let errors: Vec<String> = cases
        .iter()
        .filter_map(|c| judge(Role::Server, c).err())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn client_catalogue_is_classified_as_spec_says() {
    let cases = frame_cases(Role::Client, KEY);
    let errors: Vec<String> = cases
        .iter()
        .filter_map(|c| judge(Role::Client, c).err())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn catalogue_has_the_spec_ids_once_each() {
    for receiver in [Role::Server, Role::Client] {
        let cases = frame_cases(receiver, KEY);
        let mut ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate ids");
        let mut required = vec![
            "ok.text",
            "ok.binary",
            "ok.fragmented",
            "ok.ping",
            "rsv.rsv1",
            "rsv.rsv2",
            "rsv.rsv3",
            "rsv.rsv1-ping",
            "control.ping-126",
            "control.pong-126",
            "control.close-126",
            "control.fragmented-ping",
            "control.fragmented-close",
            "fragment.orphan-continuation",
            "fragment.text-mid-message",
            "fragment.binary-mid-message",
            "close.one-byte",
            "close.reason-invalid-utf8",
            "length.msb-set",
            "length.huge",
            "length.non-minimal-16",
            "length.non-minimal-64",
            "length.non-minimal-ping",
            "ok.text-0",
            "ok.binary-65536",
        ];
        required.extend(match receiver {
            Role::Server => ["mask.unmasked-text", "mask.unmasked-ping"],
            Role::Client => ["mask.masked-text", "mask.masked-ping"],
        });
        for id in required {
            assert!(ids.contains(&id), "{id} missing for {receiver:?}");
        }
        for op in ["3", "4", "5", "6", "7", "b", "c", "d", "e", "f"] {
            assert!(ids.contains(&format!("opcode.reserved-{op}").as_str()));
        }
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(ids.contains(&format!("close.code-{code}").as_str()));
        }
        assert!(
            cases
                .iter()
                .filter(|c| id_matches("utf8.invalid-text*", &c.id))
                .count()
                >= 4
        );
        assert!(
            cases
                .iter()
                .filter(|c| id_matches("deflate.*", &c.id))
                .count()
                >= 5
        );
    }
}

#[test]
fn without_deflate_rsv1_compressed_frames_are_1002() {
    let cases = frame_cases(Role::Server, KEY);
    let c = cases
        .iter()
        .find(|c| c.id == "deflate.ok-compressed")
        .unwrap();
    let got = classify_chunks(ValidatorConfig::new(Role::Server), [&c.bytes[..]]);
    assert_eq!(
        got.expected_close(),
        Some(wschaos_codec::CloseCode::Protocol)
    );
}

#[test]
fn compressed_text_is_inflated_and_delivered() {
    let cases = frame_cases(Role::Client, KEY);
    for id in ["deflate.ok-compressed", "deflate.ok-fragmented"] {
        let c = cases.iter().find(|c| c.id == id).unwrap();
        let got = classify_chunks(config(Role::Client, c), [&c.bytes[..]]);
        let last = got.frames.last().unwrap();
        assert_eq!(
            last.done,
            Some(FrameDone::Message {
                kind: wschaos_codec::validate::MessageKind::Text,
                size: "compressed hello".len() as u64
            }),
            "{id}"
        );
    }
}

#[test]
fn frames_after_close_are_ignored() {
    let mut bytes = wschaos_codec::encode::Frame::close(1000, b"")
        .masked(KEY)
        .encode()
        .unwrap();
    bytes.extend([0x8F, 0x00, 0xFF, 0xFF]); // garbage after Close
    let got = classify_chunks(ValidatorConfig::new(Role::Server), [&bytes[..]]);
    assert!(got.closed && got.violation.is_none());
    assert_eq!(got.trailing, 4);
}

#[test]
fn non_minimal_lengths_are_notices_not_violations() {
    let cases = frame_cases(Role::Server, KEY);
    let c = cases
        .iter()
        .find(|c| c.id == "length.non-minimal-64")
        .unwrap();
    let got = classify_chunks(ValidatorConfig::new(Role::Server), [&c.bytes[..]]);
    assert_eq!(got.notices, vec![(0, Notice::NonMinimalLength)]);
}

#[test]
fn small_message_limit_gives_1009_before_the_payload_arrives() {
    let frame = wschaos_codec::encode::Frame::binary(&[0u8; 300])
        .masked(KEY)
        .encode()
        .unwrap();
    let cfg = ValidatorConfig::new(Role::Server).with_max_message_size(100);
    // Only the header: the limit is enforced on the declared length.
    let got = classify_chunks(cfg, [&frame[..8]]);
    assert_eq!(got.expected_close(), Some(wschaos_codec::CloseCode::Size));
}

#[test]
fn glob_matching() {
    assert!(id_matches("*", "ok.text"));
    assert!(id_matches("close.code-*", "close.code-1004"));
    assert!(id_matches("opcode.reserved-?", "opcode.reserved-b"));
    assert!(!id_matches("ok.text", "ok.text-0"));
    assert!(id_matches("*mid*", "fragment.text-mid-message"));
    assert!(!id_matches("rsv.*", "ok.rsv"));
}

/// An empty payload with RSV1 is not an empty DEFLATE block: the receiver
/// appends the tail (RFC 7692 7.2.2) to nothing, which leaves its inflater
/// inside a stored block. With context takeover the next compressed message is
/// read from there and fails, as zlib-based receivers (Python websockets) fail
/// it; without, each message starts afresh. (The validator used to append the
/// tail only to messages with payload bytes, and called both inputs valid.)
#[test]
fn an_empty_compressed_message_leaves_the_tail_in_the_inflater() {
    use wschaos_codec::encode::Frame;
    use wschaos_codec::{OpCode, Violation};
    let compressed = |payload: Vec<u8>| {
        Frame::new(OpCode::BINARY, payload)
            .rsv(true, false, false)
            .masked(KEY)
            .encode()
            .unwrap()
    };
    let empty = compressed(Vec::new());
    let next = compressed(wschaos_codec::deflate::compress_message(b"after"));
    let input = [empty.clone(), next.clone()].concat();
    let keep = ValidatorConfig::new(Role::Server).with_deflate(DeflateConfig::default());
    let got = classify_chunks(keep, [&input[..]]);
    assert_eq!(got.violation, Some((1, Violation::InvalidDeflate)));
    assert_eq!(got, classify_chunks(keep, input.chunks(1)));
    let fresh = ValidatorConfig::new(Role::Server).with_deflate(DeflateConfig {
        peer_no_context_takeover: true,
        ..DeflateConfig::default()
    });
    assert_eq!(classify_chunks(fresh, [&input[..]]).violation, None);
    // An empty message compressed as a sender does is one byte, and harmless.
    let made = wschaos_codec::deflate::compress_message(b"");
    assert!(!made.is_empty());
    let input = [compressed(made), next].concat();
    assert_eq!(classify_chunks(keep, [&input[..]]).violation, None);
}
