//! The benchmark's pieces end to end on loopback, small and bounded: the lean echo
//! server and the copy proxy in-process, and the `wschaos-bench load` binary
//! through the proxy for 0.3 s on 2 connections.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use wschaos_bench::{copy_proxy, echo, load};

async fn start_copy_proxy(upstream: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(copy_proxy::serve(listener, upstream));
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_binary_through_copy_proxy_prints_one_json_line() {
    let echo = echo::spawn("127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let proxy = start_copy_proxy(echo).await;
    let url = format!("ws://{proxy}/");
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_wschaos-bench"))
                .args(["load", "--url", &url, "--size", "1024", "--conns", "2"])
                .args(["--secs", "0.3", "--warmup-secs", "0.1"])
                .output()
                .unwrap()
        }),
    )
    .await
    .expect("load must stop by itself")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "load failed: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["size"], 1024);
    assert_eq!(v["conns"], 2);
    assert_eq!(v["secs"], 0.3);
    let messages = v["messages"].as_u64().unwrap();
    assert!(messages > 0, "{v}");
    let rate = v["msgs_per_s"].as_f64().unwrap();
    assert!((rate - messages as f64 / 0.3).abs() < 1.0, "{v}");
    assert!(
        (v["bytes_per_s"].as_f64().unwrap() - rate * 1024.0).abs() < 1024.0,
        "{v}"
    );
    let (p50, p99) = (v["p50_us"].as_f64().unwrap(), v["p99_us"].as_f64().unwrap());
    assert!(p50 > 0.0 && p50 <= p99, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_in_process_covers_sizes_and_fragmented_echo_paths() {
    let echo = echo::spawn("127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    // 0 bytes (empty frame), one that needs the 16-bit length, and one larger
    // than a proxy buffer, so echoes arrive in several reads.
    for size in [0, 200, 100_000] {
        let r = load::run(&load::LoadConfig {
            url: format!("ws://{echo}/"),
            size,
            conns: 2,
            secs: 0.2,
            warmup_secs: 0.0,
            ca_file: None,
        })
        .await
        .unwrap();
        assert!(r.messages > 0, "{size}: {r:?}");
        assert_eq!(r.to_json()["size"], size);
    }
}

#[test]
fn load_refuses_other_hosts() {
    let out = Command::new(env!("CARGO_BIN_EXE_wschaos-bench"))
        .args(["load", "--url", "ws://192.0.2.1:80/", "--size", "20"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("only to 127.0.0.1"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_against_the_tungstenite_echo_server() {
    let server =
        wschaos_targets::spawn_echo_server("127.0.0.1:0", wschaos_targets::ServerFlaw::None)
            .await
            .unwrap();
    let r = load::run(&load::LoadConfig {
        url: format!("ws://{}/", server.addr),
        size: 20_000,
        conns: 2,
        secs: 0.2,
        warmup_secs: 0.0,
        ca_file: None,
    })
    .await
    .unwrap();
    assert!(r.messages > 0, "{r:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_complete_the_close_handshake_against_both_servers() {
    // The lean echo server and the tokio-tungstenite sample server both answer
    // the Close; the floor counts only sessions that ended with one.
    let lean = echo::spawn("127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let sample =
        wschaos_targets::spawn_echo_server("127.0.0.1:0", wschaos_targets::ServerFlaw::None)
            .await
            .unwrap();
    for url in [format!("ws://{lean}/"), format!("ws://{}/", sample.addr)] {
        let wall = tokio::time::timeout(Duration::from_secs(20), load::sessions(&url, None, 20, 4))
            .await
            .expect("sessions must stop by themselves")
            .unwrap_or_else(|e| panic!("{url}: {e:#}"));
        assert!(wall > Duration::ZERO);
    }
    assert!(
        load::sessions("ws://10.1.2.3:80/", None, 1, 1)
            .await
            .is_err()
    );
    assert!(
        load::sessions(&format!("ws://{lean}/"), None, 0, 1)
            .await
            .is_err()
    );
}
