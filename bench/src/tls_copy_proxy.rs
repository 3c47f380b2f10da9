//! The floor of the TLS rows: a plain TLS-terminating proxy. It accepts TLS from
//! the client, opens TLS to the server (trusting one CA file), and copies the
//! plaintext both ways with `tokio::io::copy_bidirectional_with_sizes`, in one
//! task per connection, with the same 16 KiB buffers and TCP_NODELAY as the
//! plain copy proxy. Same TLS stack as `wschaos proxy --tls-cert ...
//! --upstream-tls` (tokio-rustls, ring), so the comparison measures what the
//! WebSocket proxy adds on top of terminating and re-originating TLS.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::copy_proxy::BUF;

/// Both ends of the TLS copy proxy's TLS.
#[derive(Clone)]
pub struct Tls {
    /// Terminates the client's TLS.
    pub accept: TlsAcceptor,
    /// Speaks TLS to the upstream, verifying it as [`crate::tls::SERVER_NAME`].
    pub connect: TlsConnector,
}

/// Accepts on `listener` forever, relaying each connection to `upstream`.
pub async fn serve(listener: TcpListener, upstream: SocketAddr, tls: Tls) -> std::io::Result<()> {
    crate::accept_forever(listener, "tls-copy-proxy", move |client, _| {
        relay(client, upstream, tls.clone())
    })
    .await
}

/// One connection; a reset or a missing close_notify at the end of a run is
/// normal and not reported, failed handshakes are.
async fn relay(client: TcpStream, upstream: SocketAddr, tls: Tls) {
    let _ = client.set_nodelay(true);
    let mut client = match tls.accept.accept(client).await {
        Ok(c) => c,
        Err(e) => return eprintln!("tls-copy-proxy: client TLS handshake failed: {e}"),
    };
    let server = match TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(e) => {
            return eprintln!("tls-copy-proxy: cannot connect to upstream {upstream}: {e}");
        }
    };
    let _ = server.set_nodelay(true);
    let mut server = match tls.connect.connect(crate::tls::server_name(), server).await {
        Ok(s) => s,
        Err(e) => {
            return eprintln!("tls-copy-proxy: TLS handshake with upstream {upstream} failed: {e}");
        }
    };
    let _ = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut server, BUF, BUF).await;
}
