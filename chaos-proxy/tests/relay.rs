//! The proxy's sans-IO relay: byte-transparent without faults (any traffic, any
//! split), each fault makes its one violation and is judged by the receiver's
//! reaction, and the same seed with the same traffic gives the same decisions.

use std::time::Duration;

use proptest::prelude::*;
use wschaos::proxy::fault::{Dir, FaultSpec};
use wschaos::proxy::relay::{ActiveFault, Relay};
use wschaos::report::{Observed, Verdict};
use wschaos_codec::encode::Frame;
use wschaos_codec::handshake::{DeflateParams, RequestBuilder, build_response, generate_key};
use wschaos_codec::stream::classify;
use wschaos_codec::{Role, ValidatorConfig, Violation};

const KEY: [u8; 4] = [9, 8, 7, 6];

fn request(deflate: bool) -> Vec<u8> {
    let mut b = RequestBuilder::new("127.0.0.1:9", "/", generate_key([1; 16]));
    if deflate {
        b = b.extension(DeflateParams::default().to_offer());
    }
    b.build()
}

fn response(deflate: bool) -> Vec<u8> {
    let ext = if deflate {
        vec![DeflateParams::default().to_offer()]
    } else {
        vec![]
    };
    build_response(&generate_key([1; 16]), None, &ext)
}

fn faults(specs: &[&str]) -> Vec<ActiveFault> {
    specs
        .iter()
        .map(|s| ActiveFault::new(FaultSpec::parse(s).unwrap()).unwrap())
        .collect()
}

/// Feeds `chunks` (direction, bytes) through a relay; returns what it forwarded
/// per direction.
fn run(relay: &mut Relay, faults: &[ActiveFault], chunks: &[(Dir, Vec<u8>)]) -> (Vec<u8>, Vec<u8>) {
    let (mut c2s, mut s2c) = (Vec::new(), Vec::new());
    for (i, (dir, bytes)) in chunks.iter().enumerate() {
        let out = if *dir == Dir::C2s { &mut c2s } else { &mut s2c };
        relay.feed(*dir, bytes, Duration::from_millis(i as u64), faults, out);
    }
    (c2s, s2c)
}

/// Runs a plain handshake (with or without permessage-deflate), then `after`;
/// returns what was forwarded after the two heads, per direction.
fn after_handshake(
    relay: &mut Relay,
    faults: &[ActiveFault],
    deflate: bool,
    after: &[(Dir, Vec<u8>)],
) -> (Vec<u8>, Vec<u8>) {
    let mut chunks = vec![(Dir::C2s, request(deflate)), (Dir::S2c, response(deflate))];
    chunks.extend_from_slice(after);
    let (c2s, s2c) = run(relay, faults, &chunks);
    (
        c2s[request(deflate).len().min(c2s.len())..].to_vec(),
        s2c[response(deflate).len().min(s2c.len())..].to_vec(),
    )
}

fn frames_c2s() -> Vec<u8> {
    [
        Frame::text("hello"),
        Frame::ping(b"p"),
        Frame::binary(&[1, 2, 3]),
        Frame::close(1000, b"bye"),
    ]
    .into_iter()
    .flat_map(|f| f.masked(KEY).encode().unwrap())
    .collect()
}

fn frames_s2c() -> Vec<u8> {
    [
        Frame::text("hello"),
        Frame::pong(b"p"),
        Frame::binary(&[1, 2, 3]),
        Frame::close(1000, b"bye"),
    ]
    .into_iter()
    .flat_map(|f| f.encode().unwrap())
    .collect()
}

fn split(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.extend([0, bytes.len()]);
    points.sort_unstable();
    points
        .windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Without faults every byte goes through unchanged and in order, whether the
    /// traffic is a real session, garbage after the handshake, or not HTTP at all.
    #[test]
    fn transparent_without_faults(garbage in proptest::collection::vec(any::<u8>(), 0..300),
                                  cuts_a in proptest::collection::vec(any::<usize>(), 0..12),
                                  cuts_b in proptest::collection::vec(any::<usize>(), 0..12),
                                  mode in 0u8..3, deflate in any::<bool>()) {
        let (mut c2s, mut s2c) = match mode {
            0 => ([request(deflate), frames_c2s()].concat(), [response(deflate), frames_s2c()].concat()),
            1 => ([request(deflate), garbage.clone()].concat(), [response(deflate), garbage.clone()].concat()),
            _ => (garbage.clone(), garbage.iter().rev().copied().collect()),
        };
        c2s.extend_from_slice(&garbage);
        s2c.extend_from_slice(&garbage);
        let a = split(&c2s, &cuts_a);
        let b = split(&s2c, &cuts_b);
        let mut chunks = Vec::new();
        for i in 0..a.len().max(b.len()) {
            if let Some(x) = a.get(i) { chunks.push((Dir::C2s, x.clone())); }
            if let Some(x) = b.get(i) { chunks.push((Dir::S2c, x.clone())); }
        }
        let mut relay = Relay::new(1, 1, Duration::from_secs(1));
        let (mut out_c2s, mut out_s2c) = run(&mut relay, &[], &chunks);
        relay.eof(Dir::C2s, &mut out_c2s);
        relay.eof(Dir::S2c, &mut out_s2c);
        prop_assert_eq!(out_c2s, c2s);
        prop_assert_eq!(out_s2c, s2c);
        prop_assert!(relay.finish().is_empty());
    }
}

#[test]
fn flip_mask_c2s_makes_one_violation_and_the_servers_1002_passes() {
    let f = faults(&["flip-mask@c2s"]);
    let mut relay = Relay::new(5, 1, Duration::from_secs(2));
    let (c2s, _) = after_handshake(&mut relay, &f, false, &[(Dir::C2s, frames_c2s())]);
    let after_head = &c2s;
    let outcome = classify(ValidatorConfig::new(Role::Server), after_head);
    assert_eq!(outcome.violation, Some((0, Violation::UnmaskedClientFrame)));
    // The payload was unmasked with the key that was removed: plaintext survives.
    assert_eq!(&after_head[2..7], b"hello");
    // Only one frame was touched.
    assert_eq!(&after_head[7..], &frames_c2s()[11..]);
    assert!(
        relay.take_settled().is_empty(),
        "no verdict before the reaction"
    );
    let close = Frame::close(1002, b"masking").encode().unwrap();
    relay.feed(
        Dir::S2c,
        &close,
        Duration::from_millis(50),
        &f,
        &mut Vec::new(),
    );
    let done = relay.take_settled();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].frame_index, Some(1));
    assert_eq!(done[0].verdict, Some(Verdict::Pass));
    assert_eq!(
        done[0].observed,
        Some(Observed::Close {
            code: Some(wschaos_codec::CloseCode::from(1002)),
            reason: "masking".into()
        })
    );
}

#[test]
fn flip_mask_s2c_masks_a_server_frame_and_tcp_close_is_non_strict() {
    let f = faults(&["flip-mask@s2c"]);
    let mut relay = Relay::new(5, 1, Duration::from_secs(2));
    let (_, s2c) = after_handshake(&mut relay, &f, false, &[(Dir::S2c, frames_s2c())]);
    let outcome = classify(ValidatorConfig::new(Role::Client), &s2c);
    assert_eq!(
        outcome.violation.map(|(_, v)| v),
        Some(Violation::MaskedServerFrame)
    );
    relay.eof(Dir::C2s, &mut Vec::new());
    let done = relay.take_settled();
    assert_eq!(done[0].verdict, Some(Verdict::NonStrict));
    assert_eq!(done[0].observed, Some(Observed::TcpClose));
}

#[test]
fn each_frame_fault_is_the_violation_it_names() {
    for (spec, violation) in [
        ("set-rsv@c2s:bit=2", Violation::ReservedBit { bit: 2 }),
        ("set-rsv@c2s:bit=1", Violation::ReservedBit { bit: 1 }),
        ("reserved-opcode@c2s", Violation::ReservedOpcode(3)),
        ("fragment-control@c2s", Violation::FragmentedControl),
        (
            "bad-close-code@c2s:code=1006",
            Violation::InvalidCloseCode(1006),
        ),
        ("oversize-control@c2s", Violation::ControlTooLong(126)),
        ("orphan-continuation@c2s", Violation::OrphanContinuation),
        ("invalid-utf8@c2s", Violation::InvalidUtf8Text),
        ("length-msb@c2s", Violation::LengthMsbSet),
    ] {
        let f = faults(&[spec]);
        let mut relay = Relay::new(0, 0, Duration::from_secs(2));
        let (c2s, _) = after_handshake(&mut relay, &f, false, &[(Dir::C2s, frames_c2s())]);
        let outcome = classify(ValidatorConfig::new(Role::Server), &c2s);
        let got = outcome.violation.map(|(_, v)| v);
        match (&violation, &got) {
            (Violation::ReservedOpcode(_), Some(Violation::ReservedOpcode(_))) => {}
            _ => assert_eq!(got, Some(violation.clone()), "{spec}"),
        }
    }
    // Non-minimal length is not a violation: reported as info.
    let f = faults(&["non-minimal-length@c2s"]);
    let mut relay = Relay::new(0, 0, Duration::from_secs(2));
    let (c2s, _) = after_handshake(&mut relay, &f, false, &[(Dir::C2s, frames_c2s())]);
    let outcome = classify(ValidatorConfig::new(Role::Server), &c2s);
    assert!(outcome.violation.is_none() && outcome.notices.len() == 1);
    let done = relay.finish();
    assert_eq!(done[0].verdict, Some(Verdict::Info));
}

#[test]
fn set_rsv1_respects_negotiated_deflate() {
    let f = faults(&["set-rsv@c2s:bit=1"]);
    let mut relay = Relay::new(0, 0, Duration::from_secs(2));
    let (c2s, _) = after_handshake(&mut relay, &f, true, &[(Dir::C2s, frames_c2s())]);
    assert!(relay.deflate());
    // RSV1 on the first text frame would be legal compression; the ping gets it.
    let done = relay.finish();
    assert_eq!(done[0].frame_index, Some(2));
    let config = ValidatorConfig::new(Role::Server).with_deflate(Default::default());
    let outcome = classify(config, &c2s);
    assert_eq!(
        outcome.violation.map(|(_, v)| v),
        Some(Violation::Rsv1OnControl)
    );
}

#[test]
fn strip_extensions_s2c_edits_only_that_header() {
    let f = faults(&["strip-extensions@s2c"]);
    let mut relay = Relay::new(0, 0, Duration::from_secs(2));
    let (_, s2c) = run(
        &mut relay,
        &f,
        &[(Dir::C2s, request(true)), (Dir::S2c, response(true))],
    );
    let text = String::from_utf8(s2c).unwrap();
    assert!(
        !text
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions"),
        "{text}"
    );
    assert_eq!(text, String::from_utf8(response(false)).unwrap());
    assert!(!relay.deflate(), "the client was told nothing was agreed");
    // A client that required deflate answers 1010: pass.
    let close = Frame::close(1010, b"permessage-deflate")
        .masked(KEY)
        .encode()
        .unwrap();
    relay.feed(
        Dir::C2s,
        &close,
        Duration::from_millis(5),
        &f,
        &mut Vec::new(),
    );
    let done = relay.take_settled();
    assert_eq!(done[0].verdict, Some(Verdict::Pass));
    assert_eq!(done[0].frame_index, None);
}

#[test]
fn same_seed_same_traffic_same_faults() {
    let traffic: Vec<(Dir, Vec<u8>)> = std::iter::once((Dir::C2s, request(false)))
        .chain(std::iter::once((Dir::S2c, response(false))))
        .chain((0..40).map(|i| {
            (
                Dir::C2s,
                Frame::text(&format!("m{i}")).masked(KEY).encode().unwrap(),
            )
        }))
        .collect();
    let f = faults(&["set-rsv@c2s:bit=3,p=0.1"]);
    let pick = |seed: u64| {
        let mut relay = Relay::new(seed, 7, Duration::from_secs(2));
        run(&mut relay, &f, &traffic);
        relay
            .finish()
            .into_iter()
            .map(|i| i.frame_index)
            .collect::<Vec<_>>()
    };
    assert_eq!(pick(11), pick(11));
    let picks: std::collections::HashSet<_> = (0..20).map(pick).collect();
    assert!(picks.len() > 1, "the seed changes the decisions");
}

#[test]
fn refused_upgrade_is_relayed_opaquely() {
    let f = faults(&["flip-mask"]);
    let mut relay = Relay::new(0, 0, Duration::from_secs(2));
    let refused = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\n\x81\x05hello".to_vec();
    let later = frames_c2s();
    let (c2s, s2c) = run(
        &mut relay,
        &f,
        &[
            (Dir::C2s, request(false)),
            (Dir::S2c, refused.clone()),
            (Dir::C2s, later.clone()),
        ],
    );
    assert_eq!(s2c, refused);
    assert_eq!(c2s, [request(false), later].concat());
    assert!(relay.finish().is_empty());
}

#[test]
fn oversize_control_pads_with_masked_bytes_that_decode() {
    let f = faults(&["oversize-control@c2s"]);
    let mut relay = Relay::new(0, 0, Duration::from_secs(2));
    let ping = Frame::ping(b"p").masked(KEY).encode().unwrap();
    let (c2s, _) = after_handshake(&mut relay, &f, false, &[(Dir::C2s, ping)]);
    let frame = &c2s;
    // 2 + 2 (16-bit length) + 4 (key) + 126 payload bytes, the padding masked too.
    assert_eq!(frame.len(), 134);
    let mut payload = frame[8..].to_vec();
    wschaos_codec::mask::apply_mask(&mut payload, KEY, 0);
    assert_eq!(payload[0], b'p');
    assert!(payload[1..].iter().all(|&b| b == b'x'));
}

#[test]
fn bitflip_header_expectation_comes_from_the_validator() {
    for seed in 0..30 {
        let f = faults(&["bitflip-header@c2s"]);
        let mut relay = Relay::new(seed, 0, Duration::from_secs(2));
        let (c2s, _) = after_handshake(&mut relay, &f, false, &[(Dir::C2s, frames_c2s())]);
        let outcome = classify(ValidatorConfig::new(Role::Server), &c2s);
        let (_, violation) = outcome.violation.expect("every flip is a violation");
        let done = relay.finish();
        let expected: Vec<u16> = violation
            .accepted_codes()
            .iter()
            .map(|&c| u16::from(c))
            .collect();
        let got: Vec<u16> = done[0].expected.iter().map(|&c| u16::from(c)).collect();
        assert_eq!(got, expected, "seed {seed}: {}", done[0].what);
    }
}

#[test]
fn inject_extension_s2c_must_be_refused_and_c2s_is_info() {
    let f = faults(&["inject-extension@s2c"]);
    let mut relay = Relay::new(0, 0, Duration::from_secs(2));
    let (_, s2c) = run(
        &mut relay,
        &f,
        &[(Dir::C2s, request(false)), (Dir::S2c, response(false))],
    );
    assert!(
        String::from_utf8_lossy(&s2c).contains("Sec-WebSocket-Extensions: x-wschaos-injected\r\n")
    );
    relay.eof(Dir::C2s, &mut Vec::new());
    assert_eq!(
        relay.take_settled()[0].verdict,
        Some(Verdict::Pass),
        "closing TCP is the pass"
    );
    let mut relay = Relay::new(0, 0, Duration::from_millis(10));
    run(
        &mut relay,
        &f,
        &[(Dir::C2s, request(false)), (Dir::S2c, response(false))],
    );
    let text = Frame::text("proceeding").masked(KEY).encode().unwrap();
    relay.feed(
        Dir::C2s,
        &text,
        Duration::from_millis(1),
        &f,
        &mut Vec::new(),
    );
    relay.tick(Duration::from_secs(1));
    assert_eq!(
        relay.take_settled()[0].verdict,
        Some(Verdict::Fail),
        "proceeding is a fail"
    );
    let f = faults(&["inject-extension@c2s"]);
    let mut relay = Relay::new(0, 0, Duration::from_millis(10));
    run(
        &mut relay,
        &f,
        &[(Dir::C2s, request(false)), (Dir::S2c, response(false))],
    );
    assert_eq!(relay.finish()[0].verdict, Some(Verdict::Info));
}

#[test]
fn refused_upgrade_while_the_request_is_incomplete_loses_nothing() {
    // Found by the proxy_relay fuzzer: the response side used to switch the
    // request side to opaque mode and drop the request bytes it was holding.
    let f = faults(&[]);
    let mut relay = Relay::new(0, 0, Duration::from_secs(2));
    let partial = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    let refused = b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec();
    let rest = b"Upgrade: websocket\r\n\r\n\x81\x02hi".to_vec();
    let (mut c2s, s2c) = run(
        &mut relay,
        &f,
        &[
            (Dir::C2s, partial.clone()),
            (Dir::S2c, refused.clone()),
            (Dir::C2s, rest.clone()),
        ],
    );
    relay.eof(Dir::C2s, &mut c2s);
    assert_eq!(c2s, [partial, rest].concat());
    assert_eq!(s2c, refused);
}

/// A relay with `specs` active, after a plain handshake (seed 5, connection 1,
/// a 2 s reaction timeout).
fn opened(specs: &[&str]) -> (Vec<ActiveFault>, Relay) {
    let f = faults(specs);
    let mut relay = Relay::new(5, 1, Duration::from_secs(2));
    after_handshake(&mut relay, &f, false, &[]);
    (f, relay)
}

/// Feeds one chunk at `ms` and returns what was forwarded.
fn feed_at(relay: &mut Relay, f: &[ActiveFault], dir: Dir, bytes: &[u8], ms: u64) -> Vec<u8> {
    let mut out = Vec::new();
    relay.feed(dir, bytes, Duration::from_millis(ms), f, &mut out);
    out
}

fn masked(frame: Frame) -> Vec<u8> {
    frame.masked(KEY).encode().unwrap()
}

/// A lax server echoes the unmasked frame, then answers the client's normal
/// Close: the reply is not a reaction, so it carried on (`fail`), and the report
/// says so instead of naming the reply's code.
#[test]
fn a_close_that_answers_the_other_sides_close_is_not_a_reaction() {
    for reply_code in [1000, 1002] {
        let f = faults(&["flip-mask@c2s"]);
        let mut relay = Relay::new(5, 1, Duration::from_secs(2));
        after_handshake(&mut relay, &f, false, &[]);
        feed_at(&mut relay, &f, Dir::C2s, &masked(Frame::text("hello")), 10);
        feed_at(
            &mut relay,
            &f,
            Dir::S2c,
            &Frame::text("hello").encode().unwrap(),
            11,
        );
        let client_close = masked(Frame::close(reply_code, b""));
        feed_at(&mut relay, &f, Dir::C2s, &client_close, 12);
        let reply = Frame::close(reply_code, b"").encode().unwrap();
        feed_at(&mut relay, &f, Dir::S2c, &reply, 13);
        let done = relay.take_settled();
        assert_eq!(done.len(), 1, "{reply_code}");
        assert_eq!(done[0].verdict, Some(Verdict::Fail), "{reply_code}");
        assert_eq!(done[0].observed, Some(Observed::Continued), "{reply_code}");
    }
}

/// The receiver's own Close crossing the other side's normal Close is still its
/// reaction when its code is one the fault calls for.
#[test]
fn an_expected_close_crossing_a_normal_close_is_the_reaction() {
    let (f, mut relay) = opened(&["flip-mask@c2s"]);
    feed_at(&mut relay, &f, Dir::C2s, &masked(Frame::text("hello")), 10);
    feed_at(
        &mut relay,
        &f,
        Dir::C2s,
        &masked(Frame::close(1000, b"")),
        11,
    );
    let own = Frame::close(1002, b"unmasked").encode().unwrap();
    feed_at(&mut relay, &f, Dir::S2c, &own, 12);
    let done = relay.take_settled();
    assert_eq!(done[0].verdict, Some(Verdict::Pass));
}

/// A fault on the server's Close reply reaches a client that already sent its
/// Close: it owes only a TCP close, which is a pass, not non-strict.
#[test]
fn a_fault_after_the_receivers_own_close_is_owed_a_tcp_close() {
    let (f, mut relay) = opened(&["bad-close-code@s2c"]);
    feed_at(
        &mut relay,
        &f,
        Dir::C2s,
        &masked(Frame::close(1000, b"")),
        10,
    );
    let reply = Frame::close(1000, b"").encode().unwrap();
    let forwarded = feed_at(&mut relay, &f, Dir::S2c, &reply, 11);
    assert_ne!(forwarded, reply, "the reply was corrupted");
    relay.eof(Dir::C2s, &mut Vec::new());
    let done = relay.take_settled();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].verdict, Some(Verdict::Pass));
    assert_eq!(done[0].observed, Some(Observed::TcpClose));
}

/// Frames the receiver sends soon after the fault may have been in flight; one
/// sent after the grace is final, with no need to wait for a Close or a timeout.
#[test]
fn carrying_on_after_the_in_flight_grace_is_final() {
    let (f, mut relay) = opened(&["flip-mask@c2s"]);
    feed_at(&mut relay, &f, Dir::C2s, &masked(Frame::text("hello")), 10);
    let data = Frame::text("tick").encode().unwrap();
    feed_at(&mut relay, &f, Dir::S2c, &data, 12);
    assert!(relay.take_settled().is_empty(), "may have been in flight");
    feed_at(&mut relay, &f, Dir::S2c, &data, 10 + 260);
    let done = relay.take_settled();
    assert_eq!(done[0].verdict, Some(Verdict::Fail));
    assert_eq!(done[0].observed, Some(Observed::Continued));
}

/// An error Close is blamed on a transport fault only when no frame fault on the
/// connection explains it (the receiver's own Close, or the other side's reply).
#[test]
fn an_error_close_a_frame_fault_explains_is_not_unexplained() {
    let (f, mut relay) = opened(&["flip-mask@c2s"]);
    feed_at(&mut relay, &f, Dir::C2s, &masked(Frame::text("hello")), 10);
    feed_at(
        &mut relay,
        &f,
        Dir::S2c,
        &Frame::close(1002, b"").encode().unwrap(),
        11,
    );
    feed_at(
        &mut relay,
        &f,
        Dir::C2s,
        &masked(Frame::close(1002, b"")),
        12,
    );
    assert_eq!(relay.unexplained_error_close(), None);

    let none: Vec<ActiveFault> = Vec::new();
    let mut relay = Relay::new(5, 2, Duration::from_secs(2));
    after_handshake(&mut relay, &none, false, &[]);
    feed_at(
        &mut relay,
        &none,
        Dir::S2c,
        &Frame::close(1002, b"").encode().unwrap(),
        11,
    );
    assert!(relay.unexplained_error_close().is_some());
    assert!(relay.carried_frames_since(false, true, Duration::ZERO));
    assert!(!relay.carried_frames_since(true, false, Duration::ZERO));
}

/// A client that accepts a faulty server frame, keeps talking and then closes
/// normally carried on: its own later Close 1000 is not its reaction.
#[test]
fn frames_then_a_normal_close_is_carrying_on() {
    let (f, mut relay) = opened(&["flip-mask@s2c:nth=1"]);
    feed_at(&mut relay, &f, Dir::C2s, &masked(Frame::text("one")), 10);
    feed_at(
        &mut relay,
        &f,
        Dir::S2c,
        &Frame::text("one").encode().unwrap(),
        11,
    );
    feed_at(&mut relay, &f, Dir::C2s, &masked(Frame::text("two")), 12);
    feed_at(
        &mut relay,
        &f,
        Dir::C2s,
        &masked(Frame::close(1000, b"")),
        13,
    );
    let done = relay.take_settled();
    assert_eq!(done[0].verdict, Some(Verdict::Fail));
    assert_eq!(done[0].observed, Some(Observed::Continued));
}

/// Transport faults do not draw from the frame faults' schedule: the same seed
/// hits the same frames whether or not a latency fault is also set.
#[test]
fn transport_faults_do_not_shift_the_frame_schedule() {
    let traffic: Vec<(Dir, Vec<u8>)> = (0..40)
        .map(|i| (Dir::C2s, masked(Frame::text(&format!("m{i}")))))
        .collect();
    let hit = |specs: &[&str]| {
        let f = faults(specs);
        let mut relay = Relay::new(11, 3, Duration::from_secs(2));
        after_handshake(&mut relay, &f, false, &traffic);
        let done = relay.finish();
        done.iter()
            .map(|i| (i.frame_index, i.what.clone()))
            .collect::<Vec<_>>()
    };
    let alone = hit(&["reserved-opcode@c2s:p=0.2"]);
    assert!(!alone.is_empty());
    assert_eq!(alone, hit(&["reserved-opcode@c2s:p=0.2", "latency:ms=5"]));
}

/// A client whose offer was stripped may carry on (the extension was optional)
/// and still fail with 1002 once compressed frames arrive: that is its reaction.
#[test]
fn a_stripped_extension_is_judged_by_the_clients_close_not_its_first_message() {
    let f = faults(&["strip-extensions@s2c"]);
    let mut relay = Relay::new(5, 1, Duration::from_secs(2));
    after_handshake(&mut relay, &f, true, &[]);
    feed_at(&mut relay, &f, Dir::C2s, &masked(Frame::text("hello")), 10);
    assert!(relay.take_settled().is_empty());
    feed_at(&mut relay, &f, Dir::C2s, &masked(Frame::text("again")), 600);
    assert!(relay.take_settled().is_empty(), "carrying on is legal");
    feed_at(
        &mut relay,
        &f,
        Dir::C2s,
        &masked(Frame::close(1002, b"rsv")),
        700,
    );
    let done = relay.take_settled();
    assert_eq!(done[0].verdict, Some(Verdict::Pass));
}
