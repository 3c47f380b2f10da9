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
            (_, Reaction::Closed(CloseCode::Protocol))
                if d.oracle
                    .notices
                    .first()
                    .is_some_and(|(i, _)| violation.is_none_or(|v| *i <= v)) =>
            {
                Some(KnownDifference::TokioWebsocketsRejectsNonMinimalLength)
            }
            (Verdict::Fail(CloseCode::Size), Reaction::CarriedOn)
                if matches!(
                    d.violation().map(|(_, v)| v),
                    Some(Violation::MessageTooBig { .. })
                ) && !d.violating_frame_complete() =>
            {
                Some(KnownDifference::TokioWebsocketsMessageLimitAfterFrame)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_owed, assert_reaction, client_frame, limited};
    use super::*;

    #[test]
    fn valid_traffic_carries_on() {
        let mut t = TokioWebsockets;
        assert_reaction(&mut t, Role::Server, "ok.fragmented", Reaction::CarriedOn);
        assert_reaction(
            &mut t,
            Role::Server,
            "ok.ping-mid-message",
            Reaction::CarriedOn,
        );
        assert_reaction(&mut t, Role::Client, "ok.text", Reaction::CarriedOn);
        assert_reaction(&mut t, Role::Server, "ok.close-1000", Reaction::CarriedOn);
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
        // In full, it is failed with 1009 (by the application: no Close from it).
        let mut whole = client_frame(0x02, &[7; 150]);
        whole.extend(client_frame(0x80, &[7; 150]));
        let cmp = super::super::compare_endpoint(&mut t, &limited(whole));
        assert!(cmp.agrees(), "{cmp:?}");
    }
}
