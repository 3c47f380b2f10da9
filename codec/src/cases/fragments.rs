//! Fragmentation, reserved bits and opcodes as Autobahn|Testsuite varies them
//! (its categories 3, 4 and 5) beyond the core cases in `mod.rs`.
//!
//! Autobahn's pipelined failures written one byte per write (3.4, 4.1.5, 4.2.5:
//! a valid text, the bad frame and a ping) are cases written `Chop(1)` here, so
//! that their derived `after-valid.*` variants, which judge the echo before the
//! failure and the missing pong after it, are written byte-wise too.

use super::pings::describe;
use super::{Builder, Expected, Write, codes};
use crate::encode::Frame;
use crate::frame::OpCode;

pub(super) fn push(b: &mut Builder) {
    reserved_bits_and_opcodes(b);
    fragmentation(b);
}

fn reserved_bits_and_opcodes(b: &mut Builder) {
    // Autobahn 3.7: all three RSV bits on a Close; an endpoint may act on the
    // Close before it looks at the reserved bits. Autobahn's Close is empty; this
    // one carries 1000, so that an endpoint that ignores the bits and answers the
    // Close shows it with a normal code (judged fail), not with a code-less Close
    // (which is how an endpoint may also fail the connection: non-strict).
    b.push(
        "rsv.close-rsv7",
        "close 1000 with RSV1, RSV2 and RSV3 set",
        b.f(Frame::close(1000, b"").rsv(true, true, true)),
        codes(&[1002]),
    );
    b.covers(&["3.7"]);

    // Autobahn 3.4, 4.1.5 and 4.2.5: a valid text, a text with RSV1 (Autobahn's
    // rsv=4) or a frame with reserved opcode 7 or 15, then an empty ping, one
    // byte per write. Judged here on the close code alone; the derived
    // `after-valid.*` variant also judges the echo and the unanswered ping.
    let hello = "Hello, world!";
    let bad = [
        (
            "rsv.rsv1-bytewise",
            "text with RSV1 set",
            Frame::text(hello).rsv(true, false, false),
        ),
        (
            "opcode.reserved-7-bytewise",
            "reserved opcode 0x7",
            Frame::new(OpCode::from_nibble(0x7), hello),
        ),
        (
            "opcode.reserved-f-bytewise",
            "reserved opcode 0xF",
            Frame::new(OpCode::from_nibble(0xF), hello),
        ),
    ];
    for (id, what, frame) in bad {
        let bytes = b.frames([Frame::text(hello), frame, Frame::ping(b"")]);
        b.push(
            id,
            &format!("byte-wise: valid text, then {what}, then a ping"),
            bytes,
            codes(&[1002]),
        );
        b.written(Write::Chop(1));
    }
}

fn fragmentation(b: &mut Builder) {
    // Autobahn 5.2: a pong with FIN=0 and the continuation that would end it.
    let pong = b.frames([
        Frame::new(OpCode::PONG, "fragment1").fin(false),
        Frame::new(OpCode::CONTINUE, "fragment2"),
    ]);
    b.push(
        "control.pong-fragmented",
        "pong with FIN=0, then a continuation",
        pong,
        codes(&[1002]),
    );
    b.covers(&["5.2"]);

    // Autobahn 5.4 and 5.5: `ok.fragmented` written one frame per write and one
    // byte per write (valid fragments must survive partial reads).
    for (write, ab) in [(Write::PerFrame, "5.4"), (Write::Chop(1), "5.5")] {
        let bytes = b.frames([
            Frame::new(OpCode::TEXT, "frag").fin(false),
            Frame::new(OpCode::CONTINUE, "men").fin(false),
            Frame::new(OpCode::CONTINUE, "ted"),
        ]);
        b.push(
            &format!("ok.fragmented{}", write.id_suffix()),
            &format!("text in three fragments{}", describe(write)),
            bytes,
            Expected::Echo,
        );
        b.written(write).covers(&[ab]);
    }

    // Autobahn 5.6, 5.7 and 5.8: a ping between the two fragments of a text,
    // written whole, one frame per write and one byte per write. The pong is
    // owed before the message completes; the checker does not judge that order.
    for (write, ab) in [
        (Write::Whole, "5.6"),
        (Write::PerFrame, "5.7"),
        (Write::Chop(1), "5.8"),
    ] {
        let bytes = b.frames([
            Frame::new(OpCode::TEXT, "fragment1").fin(false),
            Frame::ping(b"ping payload"),
            Frame::new(OpCode::CONTINUE, "fragment2"),
        ]);
        b.push(
            &format!("ok.ping-between-fragments{}", write.id_suffix()),
            &format!("text fragment, ping, final fragment{}", describe(write)),
            bytes,
            Expected::Echo,
        );
        b.written(write).covers(&[ab]);
    }

    // Autobahn 5.12, 5.13 and 5.16: a continuation with FIN=0 and no message
    // open, which an endpoint may wrongly take as the start of a message.
    // Autobahn follows it with a text (5.12, 5.13) or a whole fragmented
    // message (5.16); either fails the connection at the latest there.
    let orphan = b.frames([
        Frame::new(OpCode::CONTINUE, "non-continuation payload").fin(false),
        Frame::text("Hello, world!"),
    ]);
    b.push(
        "fragment.orphan-continuation-fin0",
        "continuation with FIN=0 and no message open, then a text",
        orphan,
        codes(&[1002]),
    );
    b.covers(&["5.12", "5.13", "5.16"]);

    // Autobahn 5.15: a fragmented message that ended, then a continuation: the
    // endpoint must not still consider the message open.
    let after_final = b.frames([
        Frame::new(OpCode::TEXT, "fragment1").fin(false),
        Frame::new(OpCode::CONTINUE, "fragment2"),
        Frame::new(OpCode::CONTINUE, "fragment3").fin(false),
        Frame::text("fragment4"),
    ]);
    b.push(
        "fragment.continuation-after-final",
        "text in two fragments, then a continuation with FIN=0 and a text",
        after_final,
        codes(&[1002]),
    );
    b.covers(&["5.15"]);

    // Autobahn 5.19: a message in five fragments with a ping after the second
    // and after the fourth, and a pause of a second after the first ping: its
    // pong must come while the message is still open.
    let before = b.frames([
        Frame::new(OpCode::TEXT, "fragment1").fin(false),
        Frame::new(OpCode::CONTINUE, "fragment2").fin(false),
        Frame::ping(b"pongme 1!"),
    ]);
    let after = b.frames([
        Frame::new(OpCode::CONTINUE, "fragment3").fin(false),
        Frame::new(OpCode::CONTINUE, "fragment4").fin(false),
        Frame::ping(b"pongme 2!"),
        Frame::new(OpCode::CONTINUE, "fragment5"),
    ]);
    let cut = before.len() as u32;
    let bytes = [before, after].concat();
    b.push(
        "ok.pings-in-paused-message",
        "text in five fragments, pings after the second and fourth, a 1 s pause after the first ping",
        bytes.clone(),
        Expected::Echo,
    );
    b.written(Write::Paused {
        cuts: [cut, 0],
        ms: 1000,
        per_frame: false,
    })
    .covers(&["5.19"]);
    // Autobahn 5.20: the same, each frame its own write.
    b.push(
        "ok.pings-in-paused-message+per-frame",
        "text in five fragments, pings after the second and fourth, a 1 s pause after the first ping (one write per frame)",
        bytes,
        Expected::Echo,
    );
    b.written(Write::Paused {
        cuts: [cut, 0],
        ms: 1000,
        per_frame: true,
    })
    .covers(&["5.20"]);

    // Autobahn 10.1.1: a 64 KiB text in the 1300-byte frames an auto-fragmenting
    // sender makes (51 frames); it must come back whole.
    let text = vec![b'*'; 65536];
    let pieces: Vec<&[u8]> = text.chunks(1300).collect();
    let last = pieces.len() - 1;
    let frames = pieces.iter().enumerate().map(|(i, p)| {
        let op = if i == 0 {
            OpCode::TEXT
        } else {
            OpCode::CONTINUE
        };
        Frame::new(op, p.to_vec()).fin(i == last)
    });
    let bytes = b.frames(frames);
    b.push(
        "ok.text-65536-in-1300-byte-fragments",
        "text of 65536 bytes in 51 fragments of at most 1300 bytes",
        bytes,
        Expected::Echo,
    );
    b.covers(&["10.1.1"]);
}
