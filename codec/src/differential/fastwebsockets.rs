//! fastwebsockets 0.10 (deno's) as an [`Endpoint`]: a `FragmentCollector` over an
//! [`AsyncMemStream`], polled by [`block_on`] (its futures wait on nothing but the
//! stream). Auto-close and auto-pong are on, as its README recommends; the
//! collector assembles fragments and checks a text message's UTF-8. On most
//! violations it returns an error and leaves the Close to the application; the
//! adapter sends the code the error's kind calls for. The Close it writes itself
//! (1002 for an invalid close code) counts first.

use fastwebsockets::{FragmentCollector, OpCode, Role as FRole, WebSocket, WebSocketError};

use super::asyncio::{AsyncMemStream, block_on};
use super::{
    Disagreement, Endpoint, EndpointReport, KnownDifference, MemStream, Reaction, Setup, Verdict,
    failure_close_sent,
};
use crate::close::CloseCode;
use crate::frame::Role;
use crate::violation::Violation;

/// The fastwebsockets adapter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fastwebsockets;

/// The code an application owes for each of its errors; `None` where the input
/// simply ended.
fn owed(e: &WebSocketError) -> Option<Reaction> {
    use WebSocketError::*;
    Some(match e {
        UnexpectedEOF | ConnectionClosed => return None,
        InvalidUTF8 => Reaction::Closed(CloseCode::Invalid),
        FrameTooLarge => Reaction::Closed(CloseCode::Size),
        InvalidFragment
        | InvalidContinuationFrame
        | InvalidCloseFrame
        | InvalidCloseCode
        | ReservedBitsNotZero
        | ControlFrameFragmented
        | PingFrameTooLarge
        | InvalidValue => Reaction::Closed(CloseCode::Protocol),
        _ => Reaction::Dropped,
    })
}

impl Endpoint for Fastwebsockets {
    fn name(&self) -> &'static str {
        "fastwebsockets 0.10"
    }

    fn react(&mut self, setup: &Setup, input: &[u8]) -> EndpointReport {
        let role = match setup.receiver {
            Role::Server => FRole::Server,
            Role::Client => FRole::Client,
        };
        let stream = AsyncMemStream(MemStream::new(input, setup.read_size));
        let mut ws = WebSocket::after_handshake(stream, role);
        ws.set_auto_close(true);
        ws.set_auto_pong(true);
        ws.set_writev(false);
        ws.set_max_message_size(usize::try_from(setup.max_message_size).unwrap_or(usize::MAX));
        let mut ws = FragmentCollector::new(ws);
        let mut error = None;
        let ran = block_on(async {
            // Every frame read consumes at least its 2-byte header.
            for _ in 0..=input.len() / 2 + 1 {
                match ws.read_frame().await {
                    // Its echo is written; what follows a Close is not read.
                    Ok(f) if f.opcode == OpCode::Close => break,
                    Ok(_) => {}
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
        });
        if ran.is_none() {
            return EndpointReport {
                reaction: Reaction::Dropped,
                error: Some("stalled: its future waited on something else".to_owned()),
            };
        }
        let written = ws.into_inner().0.written;
        let reaction = match failure_close_sent(&written, input, setup.receiver) {
            Some(code) => Reaction::Closed(code),
            None => error.as_ref().and_then(owed).unwrap_or(Reaction::CarriedOn),
        };
        EndpointReport {
            reaction,
            error: error.map(|e| e.to_string()),
        }
    }

    fn known_difference(&self, d: &Disagreement<'_>) -> Option<KnownDifference> {
        let max = d.setup.max_message_size;
        let violation = d.violation().map(|(_, v)| v);
        match (&d.cmp.ours, &d.cmp.theirs) {
            (Verdict::Fail(_), _)
                if matches!(
                    violation,
                    Some(Violation::UnmaskedClientFrame | Violation::MaskedServerFrame)
                ) =>
            {
                Some(KnownDifference::FastwebsocketsIgnoresMasking)
            }
            _ if d.failed_on_partial_header() => {
                Some(KnownDifference::FastwebsocketsFailsOnPartialHeader)
            }
            (Verdict::Fail(_), _)
                if matches!(violation, Some(Violation::DataFrameMidMessage))
                    && d.violating_header().is_some_and(|h| !h.fin) =>
            {
                Some(KnownDifference::FastwebsocketsRestartsMessageMidMessage)
            }
            (Verdict::Fail(CloseCode::Protocol), Reaction::Closed(CloseCode::Invalid))
                if matches!(violation, Some(Violation::DataFrameMidMessage))
                    && d.violating_payload()
                        .is_some_and(|p| std::str::from_utf8(&p).is_err()) =>
            {
                Some(KnownDifference::FastwebsocketsUtf8BeforeFragmentRules)
            }
            (Verdict::Fail(CloseCode::Invalid), _)
                if matches!(violation, Some(Violation::InvalidUtf8Text))
                    && d.violating_header()
                        .is_some_and(|h| h.fin && h.opcode == crate::frame::OpCode::CONTINUE)
                    && d.violating_message().is_some_and(|m| {
                        std::str::from_utf8(&m).is_err_and(|e| e.error_len().is_none())
                    }) =>
            {
                Some(KnownDifference::FastwebsocketsTruncatedUtf8AtMessageEnd)
            }
            (Verdict::Fine, Reaction::Closed(CloseCode::Protocol)) if d.closed_with(1014) => {
                Some(KnownDifference::Fastwebsockets1014Strict)
            }
            _ if d.size_before_rules(|len| len >= max) => {
                Some(KnownDifference::FastwebsocketsSizeBeforeRules)
            }
            (Verdict::Fail(CloseCode::Protocol), Reaction::Closed(CloseCode::Invalid))
                if d.close_bad_code_and_reason() =>
            {
                Some(KnownDifference::FastwebsocketsCloseReasonBeforeCode)
            }
            // Taken, the long pong or Close goes on to its other checks (a
            // Close's code and reason) or none.
            (Verdict::Fail(_), _)
                if matches!(violation, Some(Violation::ControlTooLong(_)))
                    && d.violating_header()
                        .is_some_and(|h| h.opcode != crate::frame::OpCode::PING) =>
            {
                Some(KnownDifference::FastwebsocketsControlLengthOnlyForPing)
            }
            // Taken, the message goes on to its other checks (its UTF-8) or none.
            (Verdict::Fail(CloseCode::Size), _)
                if matches!(violation, Some(Violation::MessageTooBig { .. }))
                    && d.violation()
                        .and_then(|(i, _)| d.frame_len(i))
                        .is_some_and(|len| len < max) =>
            {
                Some(KnownDifference::FastwebsocketsLimitPerFrame)
            }
            // At or before the frame we fail (if any), a frame of exactly the limit.
            (_, Reaction::Closed(CloseCode::Size))
                if d.oracle
                    .frames
                    .iter()
                    .take(d.violation().map_or(usize::MAX, |(i, _)| i as usize + 1))
                    .any(|f| f.header.payload_len == max) =>
            {
                Some(KnownDifference::FastwebsocketsLimitInclusive)
            }
            (Verdict::Fail(_), Reaction::CarriedOn) if !d.violating_frame_complete() => {
                Some(KnownDifference::FastwebsocketsChecksOnlyWholeFrames)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::compare_endpoint;
    use super::super::tests::{
        assert_owed, assert_valid_traffic_carries_on, client_frame, limited,
    };
    use super::*;

    #[test]
    fn valid_traffic_carries_on() {
        assert_valid_traffic_carries_on(&mut Fastwebsockets);
    }

    #[test]
    fn violations_get_the_owed_code() {
        let mut f = Fastwebsockets;
        for id in [
            "opcode.reserved-3",
            "utf8.invalid-text-ff",
            "utf8.invalid-text-fragmented",
            "control.ping-126",
            "rsv.rsv2",
            "close.code-1005",
            "fragment.orphan-continuation",
        ] {
            assert_owed(&mut f, Role::Server, id, None);
        }
    }

    #[test]
    fn known_differences_are_typed() {
        let mut f = Fastwebsockets;
        let masking = Some(KnownDifference::FastwebsocketsIgnoresMasking);
        assert_owed(&mut f, Role::Server, "mask.unmasked-text", masking);
        assert_owed(&mut f, Role::Client, "mask.masked-text", masking);
        let control = Some(KnownDifference::FastwebsocketsControlLengthOnlyForPing);
        assert_owed(&mut f, Role::Server, "control.pong-126", control);
        let known = |data| {
            compare_endpoint(&mut Fastwebsockets, &limited(data))
                .known
                .expect("a known difference")
        };
        // A frame of exactly the 200-byte limit.
        let exact = client_frame(0x82, &[7; 200]);
        assert_eq!(known(exact), KnownDifference::FastwebsocketsLimitInclusive);
        // Two frames of 150 bytes: one message of 300.
        let mut two = client_frame(0x02, &[7; 150]);
        two.extend(client_frame(0x80, &[7; 150]));
        assert_eq!(known(two), KnownDifference::FastwebsocketsLimitPerFrame);
        // An orphan continuation of 300 bytes: too big and breaks a rule.
        let orphan = client_frame(0x80, &[7; 300]);
        assert_eq!(
            known(orphan),
            KnownDifference::FastwebsocketsSizeBeforeRules
        );
        // A bad close code with a reason that is not UTF-8.
        let close = client_frame(0x88, &[0x03, 0x4d, 0xff]);
        assert_eq!(
            known(close),
            KnownDifference::FastwebsocketsCloseReasonBeforeCode
        );
        // An orphan continuation whose payload never arrives.
        let cut = client_frame(0x80, &[7; 20])[..10].to_vec();
        assert_eq!(
            known(cut),
            KnownDifference::FastwebsocketsChecksOnlyWholeFrames
        );
        // RSV bits set, and the stream ends before the 16-bit length.
        let partial = vec![0xF2, 0xFE, 0x01];
        assert_eq!(
            known(partial),
            KnownDifference::FastwebsocketsFailsOnPartialHeader
        );
        // A message open, then a non-final text frame: a new message for it.
        let mut restart = client_frame(0x01, b"ab");
        restart.extend(client_frame(0x01, b"cd"));
        restart.extend(client_frame(0x80, b"ef"));
        let cmp = compare_endpoint(&mut Fastwebsockets, &limited(restart));
        assert_eq!(cmp.theirs, Reaction::CarriedOn);
        assert_eq!(
            cmp.known,
            Some(KnownDifference::FastwebsocketsRestartsMessageMidMessage)
        );
        // A message open, then a final text frame that is not UTF-8.
        let mut bad = client_frame(0x01, b"ab");
        bad.extend(client_frame(0x81, &[0xff]));
        assert_eq!(
            known(bad),
            KnownDifference::FastwebsocketsUtf8BeforeFragmentRules
        );
        // "ok" and the first byte of a two-byte sequence, then an empty final frame.
        let mut truncated = client_frame(0x01, b"ok\xce");
        truncated.extend(client_frame(0x80, b""));
        let cmp = compare_endpoint(&mut Fastwebsockets, &limited(truncated));
        assert_eq!(cmp.theirs, Reaction::CarriedOn);
        assert_eq!(
            cmp.known,
            Some(KnownDifference::FastwebsocketsTruncatedUtf8AtMessageEnd)
        );
        let close_1014 = client_frame(0x88, &1014u16.to_be_bytes());
        assert_eq!(known(close_1014), KnownDifference::Fastwebsockets1014Strict);
    }
}
