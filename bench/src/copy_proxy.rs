//! The floor: a plain TCP proxy that copies bytes both ways with
//! `tokio::io::copy_bidirectional_with_sizes`, TCP_NODELAY on both sides and the
//! same 16 KiB per-direction buffers as `wschaos proxy`, so the comparison
//! measures WebSocket awareness rather than buffer sizes.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// Per-direction buffer, as `wschaos proxy`'s read chunk.
pub const BUF: usize = 16 * 1024;

/// Accepts on `listener` forever, relaying each connection to `upstream`.
pub async fn serve(listener: TcpListener, upstream: SocketAddr) -> std::io::Result<()> {
    crate::accept_forever(listener, "copy-proxy", |client, _| relay(client, upstream)).await
}

/// One connection; a reset at the end of a run is normal and not reported.
async fn relay(mut client: TcpStream, upstream: SocketAddr) {
    let _ = client.set_nodelay(true);
    let mut server = match TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("copy-proxy: cannot connect to upstream {upstream}: {e}");
            return;
        }
    };
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut server, BUF, BUF).await;
}
