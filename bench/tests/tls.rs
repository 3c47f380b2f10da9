//! The TLS rows' pieces end to end on loopback: certificates from `make_certs`,
//! the echo server over TLS, the TLS copy proxy in front of it, and the load
//! generator speaking wss:// to both (every echo is checked byte for byte).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use wschaos_bench::tls::{CertFiles, acceptor, connector, make_certs};
use wschaos_bench::{echo, load, tls_copy_proxy};

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("wschaos-bench-tls-{}-{name}", std::process::id()))
}

async fn tls_echo(certs: &CertFiles) -> SocketAddr {
    let tls = acceptor(&certs.cert, &certs.key).unwrap();
    echo::spawn("127.0.0.1:0".parse().unwrap(), Some(tls))
        .await
        .unwrap()
}

async fn tls_copy(certs: &CertFiles, upstream: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = tls_copy_proxy::Tls {
        accept: acceptor(&certs.cert, &certs.key).unwrap(),
        connect: connector(&certs.ca).unwrap(),
    };
    tokio::spawn(tls_copy_proxy::serve(listener, upstream, tls));
    addr
}

fn wss_load(addr: SocketAddr, size: usize, ca: Option<PathBuf>) -> load::LoadConfig {
    load::LoadConfig {
        url: format!("wss://{addr}/"),
        size,
        conns: 2,
        secs: 0.2,
        warmup_secs: 0.0,
        ca_file: ca,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_copy_proxy_and_tls_echo_round_trip_messages() {
    let dir = scratch("roundtrip");
    let certs = make_certs(&dir).unwrap();
    let echo = tls_echo(&certs).await;
    let proxy = tls_copy(&certs, echo).await;
    // One message and the Close handshake, direct and through the proxy.
    for addr in [echo, proxy] {
        let url = format!("wss://{addr}/");
        let wall = tokio::time::timeout(
            Duration::from_secs(20),
            load::sessions(&url, Some(&certs.ca), 3, 2),
        )
        .await
        .expect("sessions must stop by themselves")
        .unwrap_or_else(|e| panic!("{url}: {e:#}"));
        assert!(wall > Duration::ZERO);
    }
    // The closed loop through the proxy: a small message, and one larger than a
    // TLS record and a proxy buffer, so echoes arrive in several reads.
    for size in [20, 100_000] {
        let r = load::run(&wss_load(proxy, size, Some(certs.ca.clone())))
            .await
            .unwrap_or_else(|e| panic!("{size}: {e:#}"));
        assert!(r.messages > 0, "{size}: {r:?}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_needs_the_right_ca() {
    let dir = scratch("ca");
    let certs = make_certs(&dir.join("a")).unwrap();
    let other = make_certs(&dir.join("b")).unwrap();
    let echo = tls_echo(&certs).await;
    let e = load::run(&wss_load(echo, 20, None)).await.unwrap_err();
    assert!(format!("{e:#}").contains("--ca-file"), "{e:#}");
    let e = load::run(&wss_load(echo, 20, Some(other.ca.clone())))
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("TLS handshake"), "{e:#}");
    // The proxy trusting the wrong CA for its upstream: the client sees the
    // connection end, the proxy reports the handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = tls_copy_proxy::Tls {
        accept: acceptor(&certs.cert, &certs.key).unwrap(),
        connect: connector(&other.ca).unwrap(),
    };
    tokio::spawn(tls_copy_proxy::serve(listener, echo, tls));
    assert!(
        load::run(&wss_load(addr, 20, Some(certs.ca.clone())))
            .await
            .is_err()
    );
    // ws:// takes no CA.
    let e = load::run(&load::LoadConfig {
        url: format!("ws://{echo}/"),
        ..wss_load(echo, 20, Some(certs.ca.clone()))
    })
    .await
    .unwrap_err();
    assert!(format!("{e:#}").contains("wss://"), "{e:#}");
    std::fs::remove_dir_all(dir).ok();
}
