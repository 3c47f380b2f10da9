//! The echo server: one tokio task per connection, a strict opening handshake done
//! with the codec, tungstenite for the frames, and a [`ServerFlaw`] that breaks one rule on purpose so the checker has a known
//! bad server to catch.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use wschaos_codec::handshake::{
    build_error_response, build_response, parse_request, validate_request,
};

use crate::fail::{OnError, echo};
use crate::rsv::{RsvClearer, RsvClearing};

/// A peer that never finishes its upgrade request must not hold a task forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Which rule the server breaks, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ServerFlaw {
    /// Conforming: fails connections with the close code RFC 6455 asks for.
    #[default]
    None,
    /// Processes unmasked client frames instead of failing the connection.
    AcceptUnmasked,
    /// Closes with 1000 on every read error instead of the fitting code.
    CloseNormalOnError,
    /// Clears the RSV bits of incoming frames, so frames with RSV bits set are accepted.
    IgnoreRsv,
    /// Drops the TCP connection on read errors without sending Close, like a naive
    /// tokio-tungstenite application that propagates the error with `?`.
    DropOnError,
}

/// A running echo server. Dropping the handle stops it too, without waiting.
#[derive(Debug)]
pub struct ServerHandle {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl ServerHandle {
    /// Stops accepting, aborts the open connections and waits for the accept loop to end.
    pub async fn shutdown(self) {
        // An error means the loop already ended, which is what we are after.
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "echo server accept loop failed");
        }
    }
}

/// Binds `addr` (use "127.0.0.1:0" in tests), spawns the accept loop, one task per
/// connection, and returns at once.
pub async fn spawn_echo_server(addr: &str, flaw: ServerFlaw) -> io::Result<ServerHandle> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(accept_loop(listener, flaw, stopped));
    tracing::info!(%addr, ?flaw, "echo server listening");
    Ok(ServerHandle { addr, stop, task })
}

async fn accept_loop(listener: TcpListener, flaw: ServerFlaw, mut stopped: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    connections.spawn(serve(tcp, peer, flaw));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            // Reaping finished connections keeps the set from growing without bound.
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done {
                    tracing::warn!(error = %e, "connection task failed");
                }
            }
        }
    }
    connections.shutdown().await;
    tracing::info!("echo server stopped");
}

async fn serve(tcp: TcpStream, peer: SocketAddr, flaw: ServerFlaw) {
    // Frames go out as soon as they are written, so the checker's timing is not Nagle's.
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "could not set TCP_NODELAY");
    }
    let outcome = if flaw == ServerFlaw::IgnoreRsv {
        let stream = RsvClearing::new(tcp, RsvClearer::after_http_head());
        serve_stream(stream, flaw).await
    } else {
        serve_stream(tcp, flaw).await
    };
    tracing::debug!(%peer, %outcome, "connection ended");
}

/// The opening handshake, done strictly with the codec rather than tungstenite's
/// `accept`, which drops the connection without an HTTP answer on a bad request:
/// a conforming server answers 400 (426 with the supported version for a wrong
/// Sec-WebSocket-Version). Returns the bytes read past the request head.
async fn handshake<S>(stream: &mut S) -> Result<Vec<u8>, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let refused = match parse_request(&buf) {
            Ok(Some(req)) => match validate_request(&req) {
                Ok(hs) => {
                    let response = build_response(&hs.key, None, &[]);
                    stream
                        .write_all(&response)
                        .await
                        .map_err(|e| e.to_string())?;
                    return Ok(buf[req.head_len..].to_vec());
                }
                Err(e) => e,
            },
            Ok(None) => {
                let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("closed before the request was complete".into());
                }
                buf.extend_from_slice(&chunk[..n]);
                continue;
            }
            Err(e) => e,
        };
        let _ = stream.write_all(&build_error_response(&refused)).await;
        let _ = stream.shutdown().await;
        return Err(format!("refused the upgrade: {refused}"));
    }
}

async fn serve_stream<S>(stream: S, flaw: ServerFlaw) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config =
        WebSocketConfig::default().accept_unmasked_frames(flaw == ServerFlaw::AcceptUnmasked);
    let mut stream = stream;
    let leftover = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&mut stream)).await {
        Ok(Ok(leftover)) => leftover,
        Ok(Err(e)) => return format!("handshake failed: {e}"),
        Err(_) => return format!("no handshake within {HANDSHAKE_TIMEOUT:?}"),
    };
    let mut ws =
        WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(config)).await;
    let on_error = match flaw {
        ServerFlaw::CloseNormalOnError => OnError::CloseNormal,
        ServerFlaw::DropOnError => OnError::Drop,
        ServerFlaw::None | ServerFlaw::AcceptUnmasked | ServerFlaw::IgnoreRsv => {
            OnError::CloseMapped
        }
    };
    echo(&mut ws, None, on_error).await
}
