//! What server and client share: the echo loop, and failing a connection after a read
//! error. tungstenite 0.30 sends nothing when its reader fails, so the close code that
//! RFC 6455 section 7.4.1 asks for is chosen and sent here.

use std::fmt;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite};
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use wschaos_codec::OpCode;
use wschaos_codec::mask::apply_mask;
use wschaos_codec::parse::{Event, FrameParser};

/// How long an endpoint waits for the peer's Close (or EOF) after sending its own.
pub(crate) const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// After *failing* the connection the wait is short: RFC 6455 7.1.7 lets the
/// endpoint close TCP right away, and the peer's Close may sit behind the rest of
/// the bad frame, where it cannot be found.
const FAIL_WAIT: Duration = Duration::from_millis(250);

/// Close frame reasons must fit a 125-byte control payload after the 2-byte code.
const MAX_REASON: usize = 123;

/// What an endpoint does when its reader fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnError {
    /// Send Close with the code that fits the error (the conforming behaviour).
    CloseMapped,
    /// Send Close 1000 whatever went wrong.
    CloseNormal,
    /// Drop the TCP connection without a Close frame.
    Drop,
}

/// The close code RFC 6455 prescribes for a read error, or `None` when there is nobody
/// left to tell (the peer reset or closed the connection, or I/O failed).
fn close_code_for(err: &WsError) -> Option<CloseCode> {
    match err {
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(_) => Some(CloseCode::Protocol),
        WsError::Utf8(_) => Some(CloseCode::Invalid),
        WsError::Capacity(_) => Some(CloseCode::Size),
        _ => None,
    }
}

/// Echoes text and binary messages until the connection ends (tungstenite answers pings and
/// the peer's Close itself), waiting at most `idle` for each message when given.
pub(crate) async fn echo<S>(
    ws: &mut WebSocketStream<S>,
    idle: Option<Duration>,
    on_error: OnError,
) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut peer_close = None;
    loop {
        let next = match idle {
            Some(limit) => match timeout(limit, ws.next()).await {
                Ok(next) => next,
                Err(_) => return format!("no message within {limit:?}, gave up"),
            },
            None => ws.next().await,
        };
        match next {
            None => {
                return match peer_close {
                    Some(frame) => format!("closed by peer ({})", describe_close(&frame)),
                    None => "connection ended".into(),
                };
            }
            Some(Ok(msg @ (Message::Text(_) | Message::Binary(_)))) => {
                if let Err(e) = ws.send(msg).await {
                    return format!("echo failed: {e}");
                }
            }
            // tungstenite has queued the reply; reading on lets it finish the handshake.
            Some(Ok(Message::Close(frame))) => peer_close = Some(frame),
            Some(Ok(_)) => {}
            Some(Err(e)) => return handle_error(ws, e, on_error).await,
        }
    }
}

fn describe_close(frame: &Option<CloseFrame>) -> String {
    match frame {
        Some(f) => format!("{} {:?}", u16::from(f.code), f.reason.as_str()),
        None => "no status".into(),
    }
}

async fn handle_error<S>(ws: &mut WebSocketStream<S>, err: WsError, on_error: OnError) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(code) = close_code_for(&err) else {
        return format!("connection ended: {err}");
    };
    let code = match on_error {
        OnError::CloseMapped => code,
        OnError::CloseNormal => CloseCode::Normal,
        OnError::Drop => {
            tracing::debug!(error = %err, "dropping the connection without a Close frame");
            return format!("dropped TCP after error: {err}");
        }
    };
    tracing::debug!(error = %err, code = u16::from(code), "failing the connection");
    let outcome = fail_connection(ws, code, &err.to_string()).await;
    format!("error: {err}; {outcome}")
}

/// Sends Close and waits for the peer's answer on the raw stream. tokio-tungstenite's
/// stream is fused after an error (and tungstenite's reader may be mid-frame), so the wait
/// cannot go through it; RFC 6455 section 7.1.7 forbids processing more data anyway.
async fn fail_connection<S>(ws: &mut WebSocketStream<S>, code: CloseCode, reason: &str) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Err(failed) = send_close(ws, code, reason, Instant::now() + CLOSE_WAIT).await {
        return failed;
    }
    let peer = await_close(ws.get_mut(), FAIL_WAIT).await;
    format!("sent Close {}, then {peer}", u16::from(code))
}

/// Sends Close through tungstenite on a healthy connection and lets it run the closing
/// handshake until the peer's Close and EOF, or `CLOSE_WAIT` passes.
pub(crate) async fn close_healthy<S>(
    ws: &mut WebSocketStream<S>,
    code: CloseCode,
    reason: &str,
) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let deadline = Instant::now() + CLOSE_WAIT;
    if let Err(failed) = send_close(ws, code, reason, deadline).await {
        return failed;
    }
    let mut answer = None;
    loop {
        match timeout_at(deadline, ws.next()).await {
            Err(_) => return format!("sent Close {}, peer did not close in time", u16::from(code)),
            Ok(None) => break,
            Ok(Some(Ok(Message::Close(frame)))) => answer = Some(frame),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return format!("sent Close {}, then {e}", u16::from(code)),
        }
    }
    match answer {
        Some(frame) => format!(
            "sent Close {}, peer answered ({})",
            u16::from(code),
            describe_close(&frame)
        ),
        None => format!("sent Close {}, peer closed TCP", u16::from(code)),
    }
}

/// Sends and flushes Close; the error is the outcome to report.
async fn send_close<S>(
    ws: &mut WebSocketStream<S>,
    code: CloseCode,
    reason: &str,
    deadline: Instant,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: truncate(reason, MAX_REASON).into(),
    };
    match timeout_at(deadline, ws.close(Some(frame))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("sending Close {} failed: {e}", u16::from(code))),
        Err(_) => Err(format!("sending Close {} timed out", u16::from(code))),
    }
}

/// How the peer reacted after this endpoint sent Close.
enum PeerClose {
    Close(Option<u16>),
    Eof,
    TimedOut,
    Failed(std::io::Error),
}

impl fmt::Display for PeerClose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Close(Some(code)) => write!(f, "peer answered Close {code}"),
            Self::Close(None) => f.write_str("peer answered Close without status"),
            Self::Eof => f.write_str("peer closed TCP"),
            Self::TimedOut => write!(f, "no answer within {CLOSE_WAIT:?}"),
            Self::Failed(e) => write!(f, "read failed: {e}"),
        }
    }
}

/// Reads raw frames until a whole Close frame, EOF or `limit`, discarding everything else.
/// Bytes tungstenite buffered before the failure are lost, but the peer's answer to our
/// Close is sent after it and so starts on a fresh frame boundary.
async fn await_close<S: AsyncRead + Unpin>(stream: &mut S, limit: Duration) -> PeerClose {
    let deadline = Instant::now() + limit;
    let mut parser = FrameParser::new();
    let mut buf = vec![0u8; 4096];
    // The first two payload bytes of a Close frame (its status), unmasked.
    let mut close: Option<(Option<[u8; 4]>, Vec<u8>)> = None;
    loop {
        let n = match timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return PeerClose::TimedOut,
            Ok(Err(e)) => return PeerClose::Failed(e),
            Ok(Ok(0)) => return PeerClose::Eof,
            Ok(Ok(n)) => n,
        };
        let mut input = &buf[..n];
        loop {
            let event = parser.next_event(&mut input);
            match event {
                None => break,
                Some(Event::Header(h)) => {
                    close = (h.opcode == OpCode::CLOSE).then(|| (h.mask, Vec::new()));
                }
                Some(Event::Payload { data, .. }) => {
                    if let Some((_, status)) = &mut close {
                        let want = 2usize.saturating_sub(status.len()).min(data.len());
                        status.extend_from_slice(&data[..want]);
                    }
                }
                Some(Event::End) => {
                    if let Some((mask, mut status)) = close.take() {
                        if let Some(key) = mask {
                            apply_mask(&mut status, key, 0);
                        }
                        let code =
                            (status.len() == 2).then(|| u16::from_be_bytes([status[0], status[1]]));
                        return PeerClose::Close(code);
                    }
                }
            }
        }
    }
}

fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
