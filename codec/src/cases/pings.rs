//! Pings and pongs as Autobahn|Testsuite sends them (its category 2): empty,
//! 125-byte and binary payloads, unsolicited pongs, many pings in a row.
//!
//! All of it is valid traffic: every ping is owed a pong with its payload, an
//! unsolicited pong is owed nothing, and a Close is owed a Close. Autobahn grades
//! ten pongs in the order of their pings; the checker compares pongs as a set.

use super::{Builder, Expected, Write};
use crate::encode::Frame;

pub(super) fn push(b: &mut Builder) {
    // Autobahn 2.1: a ping with no payload, answered by an empty pong.
    b.push(
        "ok.ping-empty",
        "ping with an empty payload",
        b.f(Frame::ping(b"")),
        Expected::Echo,
    );
    b.covers(&["2.1"]);

    // Autobahn 2.3: a payload that is not UTF-8, which an endpoint that checks
    // control payloads as text would wrongly reject.
    let binary = [0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF];
    b.push(
        "ok.ping-binary",
        "ping with an 8-byte payload that is not UTF-8",
        b.f(Frame::ping(&binary)),
        Expected::Echo,
    );
    b.covers(&["2.3"]);

    // Autobahn 2.4 and 2.6: the largest payload a control frame may carry,
    // written whole and one byte per write.
    let max = [0xFE; 125];
    for (write, ab) in [(Write::Whole, "2.4"), (Write::Chop(1), "2.6")] {
        let bytes = b.f(Frame::ping(&max));
        b.push(
            &format!("ok.ping-125{}", write.id_suffix()),
            &format!(
                "ping with a 125-byte payload (the maximum){}",
                describe(write)
            ),
            bytes,
            Expected::Echo,
        );
        b.written(write).covers(&[ab]);
    }

    // Autobahn 2.7 and 2.8: an unsolicited pong is a one-way heartbeat
    // (RFC 6455 5.5.3) and gets no answer; the Close after it gets a Close.
    let empty = b.frames([Frame::pong(b""), Frame::close(1000, b"")]);
    b.push(
        "ok.pong-unsolicited-empty",
        "unsolicited empty pong, then Close 1000: only the Close is answered",
        empty,
        Expected::Echo,
    );
    b.covers(&["2.7"]);
    let with_payload = b.frames([
        Frame::pong(b"unsolicited pong payload"),
        Frame::close(1000, b""),
    ]);
    b.push(
        "ok.pong-unsolicited",
        "unsolicited pong with payload, then Close 1000: only the Close is answered",
        with_payload,
        Expected::Echo,
    );
    b.covers(&["2.8"]);

    // Autobahn 2.9: the ping after an unsolicited pong gets exactly one pong.
    let then_ping = b.frames([
        Frame::pong(b"unsolicited pong payload"),
        Frame::ping(b"ping payload"),
    ]);
    b.push(
        "ok.pong-unsolicited-then-ping",
        "unsolicited pong, then a ping: only the ping is answered",
        then_ping,
        Expected::Echo,
    );
    b.covers(&["2.9"]);

    // Autobahn 2.10 and 2.11: ten pings back to back, each owed its own pong.
    for (write, ab) in [(Write::Whole, "2.10"), (Write::Chop(1), "2.11")] {
        let bytes = b.frames((0..10).map(|i| Frame::ping(format!("payload-{i}").as_bytes())));
        b.push(
            &format!("ok.ten-pings{}", write.id_suffix()),
            &format!("ten pings back to back, ten pongs owed{}", describe(write)),
            bytes,
            Expected::Echo,
        );
        b.written(write).covers(&[ab]);
    }
}

/// The tail a case description gets for its write mode.
pub(super) fn describe(write: Write) -> String {
    match write {
        Write::Whole => String::new(),
        Write::Chop(1) => " (one byte per write)".to_owned(),
        Write::Chop(n) => format!(" (writes of {n} bytes)"),
        Write::PerFrame => " (one write per frame)".to_owned(),
        Write::Paused { ms, .. } => format!(" (with pauses of {ms} ms)"),
    }
}
