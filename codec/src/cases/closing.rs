//! Close handling as Autobahn|Testsuite checks it (its category 7): every valid
//! code, empty and long reasons, a Close between fragments, frames after it.
//!
//! Each case is valid traffic (`Expected::Echo`): the endpoint answers the Close
//! with a Close (echoing the code it received, or 1000), ignores what follows it,
//! and closes TCP. Invalid codes, a one-byte payload and a reason that is not
//! UTF-8 are violations and live with the other `close.*` cases.

use super::{Builder, Expected};
use crate::encode::Frame;
use crate::frame::OpCode;

/// The valid codes Autobahn sends in 7.7.1-7.7.13, with their ids; 3000 and 4999
/// (7.7.10, 7.7.13) are the older `ok.close-3000` and `ok.close-4999`.
const VALID_CODES: [(u16, &str); 11] = [
    (1000, "7.7.1"),
    (1001, "7.7.2"),
    (1002, "7.7.3"),
    (1003, "7.7.4"),
    (1007, "7.7.5"),
    (1008, "7.7.6"),
    (1009, "7.7.7"),
    (1010, "7.7.8"),
    (1011, "7.7.9"),
    (3999, "7.7.11"),
    (4000, "7.7.12"),
];

pub(super) fn push(b: &mut Builder) {
    // A status code alone is a valid Close whatever it says, error codes
    // included: the endpoint answers it, and echoing the code is the usual answer.
    for (code, ab) in VALID_CODES {
        let bytes = b.f(Frame::close(code, b""));
        b.push(
            &format!("close.valid-code-{code}"),
            &format!("Close with the valid code {code} and no reason"),
            bytes,
            Expected::Echo,
        );
        b.covers(&[ab]);
        if code == 1000 {
            b.covers(&["7.3.3"]);
        }
    }

    let bytes = b.f(Frame::new(OpCode::CLOSE, vec![]));
    b.push(
        "close.empty",
        "Close with an empty payload",
        bytes,
        Expected::Echo,
    );
    b.covers(&["7.3.1"]);

    // 2 + 123 bytes: the largest payload a control frame may carry.
    let bytes = b.f(Frame::close(1000, &[b'*'; 123]));
    b.push(
        "close.reason-123",
        "Close 1000 with a 123-byte reason (125-byte payload, the maximum)",
        bytes,
        Expected::Echo,
    );
    b.covers(&["7.3.5"]);

    // A control frame may come between fragments; once the Close is in, the
    // rest of the message is never read and nothing is echoed.
    let bytes = b.frames([
        Frame::new(OpCode::TEXT, "fragment1").fin(false),
        Frame::close(1000, b""),
        Frame::new(OpCode::CONTINUE, "fragment2"),
    ]);
    b.push(
        "close.mid-message",
        "text fragment, Close 1000, final fragment: the Close is answered, the message dropped",
        bytes,
        Expected::Echo,
    );
    b.covers(&["7.1.5"]);

    // The message is echoed; then wschaos closes with 1000, and the endpoint's
    // answer and TCP close are judged.
    let bytes = b.f(Frame::text("Hello World!"));
    b.push(
        "close.after-echo",
        "text message, then our Close 1000 once it is echoed: answered, TCP closed",
        bytes,
        Expected::Echo,
    );
    b.covers(&["7.1.1"]);

    // Frames after the Close must be ignored (RFC 6455 5.5.1): a second Close
    // is not answered again.
    let bytes = b.frames([Frame::close(1000, b""), Frame::new(OpCode::CLOSE, vec![])]);
    b.push(
        "after-close.close",
        "a second (empty) Close after Close 1000: must be ignored",
        bytes,
        Expected::Echo,
    );
    b.covers(&["7.1.2"]);

    // Data and a ping after the Close must be ignored too.
    for (name, frame) in [
        ("ping", Frame::ping(b"after close")),
        ("text", Frame::text("after close")),
    ] {
        let bytes = b.frames([Frame::close(1000, b"done"), frame]);
        b.push(
            &format!("after-close.{name}"),
            &format!("{name} after the Close: must be ignored"),
            bytes,
            Expected::Echo,
        );
    }

    // Autobahn 7.1.6: a large message, a small one, the Close and a ping back to
    // back. Whether the endpoint echoes the messages before it answers the Close
    // is its own business (it may stop reading at the Close), so this is only
    // reported.
    let bytes = b.frames([
        Frame::new(OpCode::TEXT, vec![b'B'; 256 * 1024]),
        Frame::text("Hello World!"),
        Frame::close(1000, b""),
        Frame::ping(b"after the close"),
    ]);
    b.push(
        "close.after-large-message",
        "text of 256 KiB, a small text, Close 1000 and a ping in one write",
        bytes,
        Expected::Info,
    );
    b.covers(&["7.1.6"]);
}
