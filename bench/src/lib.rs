//! Proxy throughput benchmark: the pieces `scripts/bench-proxy` runs as
//! separate processes, each on 127.0.0.1 only.
//!
//! - [`load`]: a lean closed-loop WebSocket client on the project's codec (one
//!   message in flight per connection), reporting messages/s, bytes/s and the
//!   round-trip latency percentiles as one JSON line;
//! - [`copy_proxy`]: a plain byte-copying TCP proxy, the floor any proxy is
//!   measured against;
//! - [`tls_copy_proxy`]: the same with TLS on both sides (terminated from the
//!   client, re-originated to the server), the floor of the TLS rows;
//! - [`echo`]: a lean frame-level echo server on the same codec, so that the
//!   upstream costs as little CPU as possible and the proxies' cost shows (over
//!   TLS too);
//! - [`tls`]: the TLS rows' certificates and configurations (rustls and *ring*,
//!   as `wschaos`).

pub mod copy_proxy;
pub mod echo;
pub mod load;
pub mod tls;
pub mod tls_copy_proxy;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::{TcpListener, TcpStream};
use wschaos_codec::url::WsUrl;

/// Accepts on `listener` forever and spawns `handle` for each connection. A
/// failed accept (out of descriptors, say) is reported under `name` and retried
/// after a pause, so the loop never spins.
pub async fn accept_forever<F, Fut>(
    listener: TcpListener,
    name: &str,
    handle: F,
) -> std::io::Result<()>
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                tokio::spawn(handle(tcp, peer));
            }
            Err(e) => {
                eprintln!("{name}: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// A `ws://127.0.0.1:PORT/PATH` or `wss://127.0.0.1:PORT/PATH` URL, read by the
/// codec's [`WsUrl`] parser; any other host is refused on top, so the benchmark
/// can never load a machine other than this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopbackUrl {
    /// `wss://`: TLS, verifying the server as 127.0.0.1.
    pub tls: bool,
    pub addr: SocketAddr,
    /// `127.0.0.1:PORT` (just `127.0.0.1` for port 80), as sent in the Host header.
    pub host: String,
    /// Path and query, starting with '/'.
    pub path: String,
}

impl LoopbackUrl {
    pub fn parse(url: &str) -> anyhow::Result<LoopbackUrl> {
        let parsed = WsUrl::parse(url)?;
        if parsed.host != "127.0.0.1" {
            anyhow::bail!(
                "refusing host {:?} in {url:?}: the benchmark connects only to 127.0.0.1",
                parsed.host
            );
        }
        Ok(LoopbackUrl {
            tls: parsed.tls,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, parsed.port)),
            host: parsed.host_header(),
            path: parsed.path,
        })
    }
}

/// Parses a `--listen` / `--upstream` address and refuses anything off loopback.
pub fn loopback_addr(what: &str, s: &str) -> anyhow::Result<SocketAddr> {
    let addr: SocketAddr = s
        .parse()
        .map_err(|_| anyhow::anyhow!("bad {what} address {s:?}: expected 127.0.0.1:PORT"))?;
    if !addr.ip().is_loopback() {
        anyhow::bail!("refusing {what} address {s:?}: the benchmark stays on loopback");
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_accepts_loopback_only() {
        let u = LoopbackUrl::parse("ws://127.0.0.1:9001/echo").unwrap();
        assert_eq!(u.addr, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(u.host, "127.0.0.1:9001");
        assert_eq!(u.path, "/echo");
        assert_eq!(LoopbackUrl::parse("ws://127.0.0.1:1").unwrap().path, "/");
        assert!(!u.tls);
        let u = LoopbackUrl::parse("ws://127.0.0.1/").unwrap();
        assert_eq!((u.addr.port(), u.host.as_str()), (80, "127.0.0.1"));
        let u = LoopbackUrl::parse("wss://127.0.0.1:8443/x").unwrap();
        assert!(u.tls);
        assert_eq!((u.addr.port(), u.host.as_str()), (8443, "127.0.0.1:8443"));
        assert_eq!(
            LoopbackUrl::parse("wss://127.0.0.1/").unwrap().addr.port(),
            443
        );
        for bad in [
            "ws://example.com:80/",
            "ws://10.0.0.1:80/",
            "ws://localhost:80/",
            "ws://[::1]:80/",
            "ws://127.0.0.1.example.com:80/",
            "wss://example.com:443/",
            "wss://localhost:443/",
            "wss://[::1]:443/",
            "ws://127.0.0.1:x/",
            "ws://127.0.0.1:0/",
            "ws://127.0.0.1:80/#x",
        ] {
            assert!(LoopbackUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(loopback_addr("listen", "127.0.0.1:0").is_ok());
        assert!(loopback_addr("listen", "0.0.0.0:0").is_err());
    }
}
