//! tungstenite 0.30 as an [`Endpoint`]: a blocking `WebSocket` over a
//! [`MemStream`]. tungstenite returns an error on a violation and leaves the Close
//! to the application (its README: "tungstenite sends no Close on a read error");
//! the adapter sends the code the error's kind calls for, as the sample targets
//! do. A Close tungstenite writes itself (for an invalid close code) counts too.

use tungstenite::error::{Error as TError, ProtocolError};
use tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};

use super::{
    Disagreement, Endpoint, EndpointReport, KnownDifference, MemStream, Reaction, Setup, Verdict,
    failure_close_sent,
};
use crate::close::CloseCode;
use crate::frame::Role;

/// The tungstenite adapter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tungstenite;

impl Endpoint for Tungstenite {
    fn name(&self) -> &'static str {
        "tungstenite 0.30"
    }

    fn react(&mut self, setup: &Setup, input: &[u8]) -> EndpointReport {
        let stream = MemStream::new(input, setup.read_size);
        // The frame limit must stay set: without one tungstenite allocates a
        // frame's declared length up front (2^40 bytes for `length.huge`) and aborts.
        let limit = Some(usize::try_from(setup.max_message_size).unwrap_or(usize::MAX));
        let config = WebSocketConfig::default()
            .max_message_size(limit)
            .max_frame_size(limit);
        let role = match setup.receiver {
            Role::Server => TRole::Server,
            Role::Client => TRole::Client,
        };
        let mut ws = WebSocket::from_raw_socket(stream, role, Some(config));
        let mut error = None;
        // Every successful read consumes at least one frame header (2 bytes).
        for _ in 0..=input.len() / 2 + 1 {
            match ws.read() {
                // Its reply (an echo, or its own failure code) is written; what
                // follows a Close is not read by a conforming endpoint.
                Ok(tungstenite::Message::Close(_)) => break,
                Ok(_) => {}
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let _ = ws.flush();
        let reaction = match &error {
            Some(TError::Protocol(ProtocolError::ResetWithoutClosingHandshake))
            | Some(TError::ConnectionClosed)
            | Some(TError::AlreadyClosed)
            | None => Reaction::CarriedOn,
            Some(TError::Protocol(_)) => Reaction::Closed(CloseCode::Protocol),
            Some(TError::Utf8(_)) => Reaction::Closed(CloseCode::Invalid),
            Some(TError::Capacity(_)) => Reaction::Closed(CloseCode::Size),
            Some(_) => Reaction::Dropped,
        };
        // tungstenite answers some violations (an invalid close code) by sending
        // its own Close instead of returning an error: read what it wrote.
        let reaction = match (
            reaction,
            failure_close_sent(&ws.get_ref().written, input, setup.receiver),
        ) {
            (Reaction::CarriedOn, Some(code)) => Reaction::Closed(code),
            (r, _) => r,
        };
        EndpointReport {
            reaction,
            error: error.map(|e| e.to_string()),
        }
    }

    fn known_difference(&self, d: &Disagreement<'_>) -> Option<KnownDifference> {
        let max = d.setup.max_message_size;
        match (&d.cmp.ours, &d.cmp.theirs) {
            (Verdict::Fine, Reaction::Closed(CloseCode::Protocol)) if d.closed_with(1014) => {
                Some(KnownDifference::Tungstenite1014Strict)
            }
            _ if d.size_before_rules(|len| len > max) => {
                Some(KnownDifference::TungsteniteSizeBeforeRules)
            }
            (Verdict::Fail(CloseCode::Protocol), Reaction::Closed(CloseCode::Invalid))
                if d.close_bad_code_and_reason() =>
            {
                Some(KnownDifference::TungsteniteCloseReasonBeforeCode)
            }
            (Verdict::Fail(_), Reaction::CarriedOn) if !d.violating_frame_complete() => {
                Some(KnownDifference::TungsteniteChecksOnlyWholeFrames)
            }
            _ => None,
        }
    }
}

/// tungstenite reading `bytes` as a server, the way it reads a socket, until its
/// first error; returns the data bytes of the messages it delivered. The
/// `raw_tungstenite` fuzz target: the peer in the fuzzing-speed comparison.
pub fn tungstenite_read_all(bytes: &[u8]) -> u64 {
    let stream = MemStream::new(bytes, usize::MAX);
    // Limits as in `react`: without a frame limit it would allocate a frame's
    // declared length up front.
    let limit = Some(crate::validate::DEFAULT_MAX_MESSAGE_SIZE as usize);
    let config = WebSocketConfig::default()
        .max_message_size(limit)
        .max_frame_size(limit);
    let mut ws = WebSocket::from_raw_socket(stream, TRole::Server, Some(config));
    let mut n = 0u64;
    // Every successful read consumes at least one frame header (2 bytes).
    for _ in 0..=bytes.len() / 2 + 1 {
        match ws.read() {
            Ok(m) => n += m.len() as u64,
            Err(_) => break,
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_owed, assert_valid_traffic_carries_on};
    use super::*;

    #[test]
    fn valid_traffic_carries_on() {
        assert_valid_traffic_carries_on(&mut Tungstenite);
    }

    #[test]
    fn violations_get_the_owed_code() {
        for id in [
            "mask.unmasked-text",
            "opcode.reserved-3",
            "utf8.invalid-text-ff",
            "control.ping-126",
            "rsv.rsv2",
            "close.code-1005",
        ] {
            assert_owed(&mut Tungstenite, Role::Server, id, None);
        }
        assert_owed(&mut Tungstenite, Role::Client, "mask.masked-text", None);
    }

    #[test]
    fn known_differences_are_typed() {
        // A bad header and then nothing: tungstenite waits for the payload.
        let input = super::super::DiffInput {
            receiver: Role::Server,
            read_size: 0,
            max_message_size: None,
            data: vec![0x81, 0x05, b'H'],
        };
        let cmp = super::super::check(&input).unwrap();
        assert_eq!(
            cmp.known,
            Some(KnownDifference::TungsteniteChecksOnlyWholeFrames)
        );
    }
}
