//! tokio-websockets 0.12 as an [`Endpoint`]: a `WebSocketStream` taken over on an
//! [`AsyncMemStream`] (`ServerBuilder::serve`, `ClientBuilder::take_over`), polled
//! by [`block_on`]. It sends the Close for a protocol violation itself (1002, 1007
//! for bad UTF-8, 1009 for a frame over the limit); a message that grows past the
//! limit over several frames is returned as an error with no Close, and the
//! adapter sends 1009 as the application would.

use futures_util::{SinkExt, StreamExt};
use tokio_websockets::{ClientBuilder, Error as TwError, Limits, ServerBuilder};

use super::asyncio::{AsyncMemStream, block_on};
use super::{
    Disagreement, Endpoint, EndpointReport, KnownDifference, MemStream, Reaction, Setup, Verdict,
    failure_close_sent,
};
use crate::close::CloseCode;
use crate::frame::Role;
use crate::violation::Violation;

/// The tokio-websockets adapter.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioWebsockets;

/// The code an application owes for each of its errors; `None` where the input
/// simply ended (an I/O error: the in-memory stream has no other).
fn owed(e: &TwError) -> Option<Reaction> {
    Some(match e {
        TwError::Io(_) | TwError::AlreadyClosed => return None,
        TwError::Protocol(tokio_websockets::proto::ProtocolError::InvalidUtf8) => {
            Reaction::Closed(CloseCode::Invalid)
        }
        TwError::Protocol(_) => Reaction::Closed(CloseCode::Protocol),
        TwError::PayloadTooLong { .. } => Reaction::Closed(CloseCode::Size),
        _ => Reaction::Dropped,
    })
}

/// The stream ends inside a Close frame that declares a 1-byte payload.
fn ends_in_one_byte_close(o: &crate::stream::StreamOutcome) -> bool {
    o.incomplete
        && o.frames.last().is_some_and(|f| {
            f.header.opcode == crate::frame::OpCode::CLOSE && f.header.payload_len == 1
        })
}

impl Endpoint for TokioWebsockets {
    fn name(&self) -> &'static str {
        "tokio-websockets 0.12"
    }

    fn react(&mut self, setup: &Setup, input: &[u8]) -> EndpointReport {
        let stream = AsyncMemStream(MemStream::new(input, setup.read_size));
        let limits = Limits::default().max_payload_len(Some(
            usize::try_from(setup.max_message_size).unwrap_or(usize::MAX),
        ));
        let mut ws = match setup.receiver {
            Role::Server => ServerBuilder::new().limits(limits).serve(stream),
            Role::Client => ClientBuilder::new().limits(limits).take_over(stream),
        };
        let mut error = None;
        let ran = block_on(async {
            // Every message read consumes at least one 2-byte header; after the
            // peer's Close (or an error) the next read flushes its reply and ends.
            for _ in 0..=input.len() / 2 + 2 {
                match ws.next().await {
                    None => break,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        error = Some(e);
                        break;
                    }
                }
            }
            let _ = ws.flush().await;
        });
        if ran.is_none() {
            return EndpointReport {
                reaction: Reaction::Dropped,
                error: Some("stalled: its future waited on something else".to_owned()),
            };
        }
        let written = &ws.get_ref().0.written;
        let reaction = match failure_close_sent(written, input, setup.receiver) {
            Some(code) => Reaction::Closed(code),
            None => error.as_ref().and_then(owed).unwrap_or(Reaction::CarriedOn),
        };
        EndpointReport {
            reaction,
            error: error.map(|e| e.to_string()),
        }
    }

    fn known_difference(&self, d: &Disagreement<'_>) -> Option<KnownDifference> {
        let violation = d.violation().map(|(i, _)| i);
        match (&d.cmp.ours, &d.cmp.theirs) {
            // Taken, the message is delivered and reading goes on.
            (Verdict::Fail(CloseCode::Invalid), _)
                if matches!(
                    d.violation().map(|(_, v)| v),
                    Some(Violation::InvalidUtf8Text)
                ) && d.violating_header().is_some_and(|h| {
                    h.fin && h.opcode == crate::frame::OpCode::CONTINUE && h.payload_len == 0
                }) && d.violating_message().is_some_and(|m| {
                    std::str::from_utf8(&m).is_err_and(|e| e.error_len().is_none())
                }) =>
            {
                Some(KnownDifference::TokioWebsocketsTruncatedUtf8BeforeEmptyFinalFrame)
            }
            _ if d.failed_on_partial_header() => {
                Some(KnownDifference::TokioWebsocketsFailsOnPartialHeader)
            }
            // The stream ends before the byte (or inside the header).
            (Verdict::Fine, Reaction::Closed(CloseCode::Protocol))
                if ends_in_one_byte_close(d.oracle)
                    || d.header_completed(0x00)
                        .is_some_and(|o| ends_in_one_byte_close(&o)) =>
            {
                Some(KnownDifference::TokioWebsocketsCloseOneByteAtHeader)
            }
            (_, Reaction::Closed(CloseCode::Protocol))
                if d.partial_header_not_minimal()
                    || d.oracle
                        .notices
                        .first()
                        .is_some_and(|(i, _)| violation.is_none_or(|v| *i <= v)) =>
            {
                Some(KnownDifference::TokioWebsocketsRejectsNonMinimalLength)
            }
            // The frame that takes the message past the limit is within it
            // alone: the stream ends inside it, or its text breaks UTF-8 first.
            (
                Verdict::Fail(CloseCode::Size),
                Reaction::CarriedOn | Reaction::Closed(CloseCode::Invalid),
            ) if matches!(
                d.violation().map(|(_, v)| v),
                Some(Violation::MessageTooBig { .. })
            ) && d
                .violation()
                .and_then(|(i, _)| d.frame_len(i))
                .is_some_and(|len| len <= d.setup.max_message_size)
                && match d.cmp.theirs {
                    Reaction::CarriedOn => !d.violating_frame_complete(),
                    _ => d.violating_message_so_far().is_some_and(|m| {
                        std::str::from_utf8(&m).is_err_and(|e| e.error_len().is_some())
                    }),
                } =>
            {
                Some(KnownDifference::TokioWebsocketsMessageLimitAfterFrame)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        assert_owed, assert_valid_traffic_carries_on, client_frame, limited,
    };
    use super::*;

    #[test]
    fn valid_traffic_carries_on() {
        assert_valid_traffic_carries_on(&mut TokioWebsockets);
    }

    #[test]
    fn violations_get_the_owed_code() {
        let mut t = TokioWebsockets;
        for id in [
            "mask.unmasked-text",
            "opcode.reserved-3",
            "utf8.invalid-text-ff",
            "utf8.invalid-text-fragmented",
            "control.ping-126",
            "control.pong-126",
            "rsv.rsv2",
            "close.code-1005",
            "fragment.orphan-continuation",
        ] {
            assert_owed(&mut t, Role::Server, id, None);
        }
        assert_owed(&mut t, Role::Client, "mask.masked-text", None);
    }

    #[test]
    fn known_differences_are_typed() {
        let mut t = TokioWebsockets;
        let input = super::super::tests::case_input(Role::Server, "length.non-minimal-16");
        let cmp = super::super::compare_endpoint(&mut t, &input);
        assert_eq!(
            cmp.known,
            Some(KnownDifference::TokioWebsocketsRejectsNonMinimalLength),
            "{cmp:?}"
        );
        // 150 bytes, then a continuation declaring 150 of which 10 arrive.
        let mut cut = client_frame(0x02, &[7; 150]);
        cut.extend(&client_frame(0x80, &[7; 150])[..18]);
        let cmp = super::super::compare_endpoint(&mut t, &limited(cut.clone()));
        assert_eq!(
            cmp.known,
            Some(KnownDifference::TokioWebsocketsMessageLimitAfterFrame),
            "{cmp:?}"
        );
        // A reserved opcode, and the stream ends before the mask key.
        let cmp = super::super::compare_endpoint(&mut t, &limited(vec![0x83, 0x85, 0x01]));
        assert_eq!(
            cmp.known,
            Some(KnownDifference::TokioWebsocketsFailsOnPartialHeader),
            "{cmp:?}"
        );
        // A ping with a 16-bit length form, and the stream ends inside it.
        let cmp = super::super::compare_endpoint(&mut t, &limited(vec![0x89, 0xFE, 0x00]));
        assert_eq!(
            cmp.known,
            Some(KnownDifference::TokioWebsocketsFailsOnPartialHeader),
            "{cmp:?}"
        );
        // A 64-bit length form for a length of 0, and the stream ends before
        // the mask key is whole.
        let partial = vec![0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0xF6];
        let cmp = super::super::compare_endpoint(&mut t, &limited(partial));
        assert_eq!(
            cmp.known,
            Some(KnownDifference::TokioWebsocketsRejectsNonMinimalLength),
            "{cmp:?}"
        );
        // A Close declaring one byte, which never comes.
        let cmp = super::super::compare_endpoint(&mut t, &limited(vec![0x88, 0x81, 0, 0, 0, 0]));
        assert_eq!(
            cmp.known,
            Some(KnownDifference::TokioWebsocketsCloseOneByteAtHeader),
            "{cmp:?}"
        );
        // "ok" and the first byte of a two-byte sequence, then an empty final
        // frame: delivered. With a byte in the final frame it is failed.
        let mut truncated = client_frame(0x01, b"ok\xce");
        truncated.extend(client_frame(0x80, b""));
        let cmp = super::super::compare_endpoint(&mut t, &limited(truncated));
        assert_eq!(cmp.theirs, Reaction::CarriedOn);
        assert_eq!(
            cmp.known,
            Some(KnownDifference::TokioWebsocketsTruncatedUtf8BeforeEmptyFinalFrame),
            "{cmp:?}"
        );
        let mut caught = client_frame(0x01, b"ok\xce");
        caught.extend(client_frame(0x80, b"x"));
        let cmp = super::super::compare_endpoint(&mut t, &limited(caught));
        assert!(cmp.agrees(), "{cmp:?}");
        // In full, it is failed with 1009 (by the application: no Close from it).
        let mut whole = client_frame(0x02, &[7; 150]);
        whole.extend(client_frame(0x80, &[7; 150]));
        let cmp = super::super::compare_endpoint(&mut t, &limited(whole));
        assert!(cmp.agrees(), "{cmp:?}");
    }
}
