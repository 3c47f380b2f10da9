//! The proxy between real peers on 127.0.0.1 (ephemeral ports): transparent
//! without faults (random messages, one of them large enough to stream), each
//! fault judged by the real receiver's reaction, a broken receiver recorded as
//! `fail`, a clean 502 when the upstream is down, the same report for the same
//! seed and traffic, and 1,000 concurrent connections.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use wschaos::report::{Observed, Verdict};
use wschaos_codec::CloseCode;
use wschaos_targets::{ClientOptions, ServerFlaw, run_echo_client_once, spawn_echo_server};

mod inproc;

use inproc::Proxy;

fn message(i: usize) -> Message {
    // Sizes cross every length form; one message is large enough to stream.
    let size = [0, 1, 125, 126, 1000, 65535, 65536, 300_000][i % 8] + i;
    let body: Vec<u8> = (0..size).map(|j| (j * 31 + i) as u8).collect();
    if i % 2 == 0 {
        Message::binary(body)
    } else {
        Message::text(String::from_utf8_lossy(&body).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transparent_between_real_peers() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let proxy = Proxy::start(server.addr, &[], 1, 500).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    for i in 0..40 {
        let m = message(i);
        ws.send(m.clone()).await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(echoed, m, "message {i}");
    }
    ws.close(None).await.unwrap();
    let (lines, totals) = proxy.stop().await;
    assert!(lines.is_empty());
    assert_eq!(totals.injections, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flip_mask_c2s_records_the_servers_1002_as_pass() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let mut proxy = Proxy::start(server.addr, &["flip-mask@c2s"], 3, 2000).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    let lines = proxy.lines(1).await;
    assert_eq!(lines[0].dir, "c2s");
    assert_eq!(lines[0].frame_index, Some(1));
    assert_eq!(lines[0].verdict, Some(Verdict::Pass), "{:?}", lines[0]);
    assert!(matches!(
        lines[0].observed,
        Some(Observed::Close {
            code: Some(CloseCode::Protocol),
            ..
        })
    ));
    // The exact bytes sent: an unmasked text header and the plaintext.
    assert!(lines[0].bytes_hex.starts_with("8105") && lines[0].bytes_hex.ends_with(&hex(b"hello")));
    proxy.stop().await;
    server.shutdown().await;
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_receiver_is_recorded_as_fail() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::AcceptUnmasked)
        .await
        .unwrap();
    let mut proxy = Proxy::start(server.addr, &["flip-mask@c2s"], 3, 300).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    // The broken server echoes the unmasked frame: it carried on.
    let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echoed, Message::text("hello"));
    let lines = proxy.lines(1).await;
    assert_eq!(lines[0].verdict, Some(Verdict::Fail), "{:?}", lines[0]);
    assert_eq!(lines[0].observed, Some(Observed::Continued));
    proxy.stop().await;
    server.shutdown().await;
}

/// A server that speaks first, so a fault can reach the client.
async fn greeting_server() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                let _ = ws.send(Message::text("greetings")).await;
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flip_mask_s2c_records_the_clients_1002() {
    let (server, task) = greeting_server().await;
    let mut proxy = Proxy::start(server, &["flip-mask@s2c"], 3, 2000).await;
    let opts = ClientOptions {
        timeout: Duration::from_secs(3),
        ..ClientOptions::default()
    };
    let outcome = run_echo_client_once(&format!("ws://{}/", proxy.addr), &opts)
        .await
        .unwrap();
    let lines = proxy.lines(1).await;
    assert_eq!(lines[0].dir, "s2c");
    assert_eq!(
        lines[0].verdict,
        Some(Verdict::Pass),
        "{:?} (client: {outcome})",
        lines[0]
    );
    assert!(matches!(
        lines[0].observed,
        Some(Observed::Close {
            code: Some(CloseCode::Protocol),
            ..
        })
    ));
    proxy.stop().await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_gets_a_clean_502() {
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = Proxy::start(dead, &[], 1, 500).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        .await
        .unwrap();
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut resp))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{text}");
    // The proxy keeps serving after the failure.
    let (_, totals) = proxy.stop().await;
    assert_eq!(totals.connections, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_and_traffic_give_the_same_report() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let proxy = Proxy::start(server.addr, &["set-rsv@c2s:bit=3,p=0.2"], 99, 1000).await;
        // Connections one after the other, so their numbers are the same each run.
        for c in 0..6 {
            let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
                .await
                .unwrap();
            for i in 0..8 {
                if ws.send(Message::text(format!("c{c} m{i}"))).await.is_err() {
                    break;
                }
                match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                    Ok(Some(Ok(Message::Text(_)))) => {}
                    _ => break,
                }
            }
            drop(ws);
        }
        // Stopping settles every connection before it returns the lines.
        let (lines, _) = proxy.stop().await;
        // The client masks with random keys, so the bytes differ between runs;
        // the decisions (which connection, which frame, what verdict) may not.
        let mut key: Vec<_> = lines
            .into_iter()
            .map(|l| (l.conn, l.fault, l.frame_index, l.what, l.verdict))
            .collect();
        key.sort();
        runs.push(key);
    }
    assert!(
        !runs[0].is_empty(),
        "p=0.2 over 48 frames injected something"
    );
    assert_eq!(runs[0], runs[1]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_connections() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    // Each connection costs four sockets in this process (client, both proxy
    // sides, echo server): raise the soft descriptor limit as far as the hard one
    // allows, and scale the count down where even that is too low.
    let count = connections_within_fd_limit(1000, 4);
    let proxy = Proxy::start(server.addr, &[], 1, 500).await;
    let url = format!("ws://{}/", proxy.addr);
    let mut open = Vec::new();
    for _ in 0..count {
        let (ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        open.push(ws);
    }
    // All open at once; each still echoes.
    let mut ok = 0;
    for (i, ws) in open.iter_mut().enumerate() {
        ws.send(Message::text(format!("#{i}"))).await.unwrap();
    }
    for (i, ws) in open.iter_mut().enumerate() {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(m, Message::text(format!("#{i}")));
        ok += 1;
    }
    assert_eq!(ok, count);
    drop(open);
    let (_, totals) = proxy.stop().await;
    assert_eq!(totals.connections, count as u64);
    server.shutdown().await;
}

/// Raises this process's soft limit on open files towards `want * per + 256`
/// and returns how many connections fit (`want`, unless the hard limit is lower).
fn connections_within_fd_limit(want: usize, per: usize) -> usize {
    let need = (want * per + 256) as libc::rlim_t;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return want;
        }
        if lim.rlim_cur < need {
            lim.rlim_cur = need.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    let fit = (lim.rlim_cur as usize).saturating_sub(256) / per;
    if fit < want {
        eprintln!(
            "open-file limit {}: running {fit} connections instead of {want}",
            lim.rlim_cur
        );
    }
    want.min(fit)
}

/// A directory of its own for this test run, empty (and not yet created).
fn empty_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wschaos-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The names of the files in `dir`, sorted.
fn file_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// One HTTP request to the control API; returns (status, JSON body).
async fn api(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    api_raw(addr, &req).await
}

/// The same with the body sent chunked, in pieces of three bytes, as curl and
/// HTTP client libraries do for streamed bodies.
async fn api_chunked(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for piece in body.as_bytes().chunks(3) {
        req += &format!(
            "{:x}\r\n{}\r\n",
            piece.len(),
            String::from_utf8_lossy(piece)
        );
    }
    req += "0\r\n\r\n";
    api_raw(addr, &req).await
}

async fn api_raw(addr: SocketAddr, req: &str) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut resp))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(resp).unwrap();
    let status: u16 = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap())
}

/// The proxy started the way `wschaos proxy --listen` starts it (a state the
/// caller made, named `default`) counts into `/metrics` too, not only the
/// proxies of a config file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_proxy_counts_into_metrics() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = listener.local_addr().unwrap();
    let proxy = Proxy::start_with(server.addr, &[], 3, 2000, |cfg| cfg.api = Some(listener)).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    ws.send(Message::text("counted")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("counted"));
    let mut s = TcpStream::connect(api_addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut resp))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(resp).unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in {text}"))
    };
    assert_eq!(
        value("wschaos_proxy_connections_total{proxy=\"default\"}"),
        1.0
    );
    assert_eq!(
        value("wschaos_proxy_connections_open{proxy=\"default\"}"),
        1.0
    );
    for dir in ["c2s", "s2c"] {
        let frames = format!("wschaos_proxy_frames_total{{proxy=\"default\",direction=\"{dir}\"}}");
        assert!(value(&frames) >= 1.0, "{text}");
    }
    drop(ws);
    proxy.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_api_switches_chaos_on_and_off_at_runtime() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = listener.local_addr().unwrap();
    let mut proxy =
        Proxy::start_with(server.addr, &[], 3, 2000, |cfg| cfg.api = Some(listener)).await;

    assert_eq!(
        api(api_addr, "GET", "/faults", "").await,
        (200, serde_json::json!({"faults": []}))
    );
    // Chaos off: a session goes through untouched.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    ws.send(Message::text("before")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("before"));

    // Bad requests get a 4xx naming the problem.
    let (status, body) = api(api_addr, "POST", "/faults", "flip-mask@sideways").await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("direction"),
        "{body}"
    );
    assert_eq!(
        api(api_addr, "POST", "/faults", "{\"spec\": 3}").await.0,
        400
    );
    assert_eq!(api(api_addr, "POST", "/faults", "").await.0, 400);
    assert_eq!(api(api_addr, "DELETE", "/faults/99", "").await.0, 404);
    assert_eq!(api(api_addr, "DELETE", "/faults/abc", "").await.0, 400);
    assert_eq!(api(api_addr, "PUT", "/faults", "").await.0, 405);
    assert_eq!(api(api_addr, "GET", "/nowhere", "").await.0, 404);

    // Chaos on, without a restart: the next frame of the open connection is hit.
    let (status, body) =
        api_chunked(api_addr, "POST", "/faults", "{\"spec\": \"flip-mask@c2s\"}").await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_u64().unwrap();
    ws.send(Message::text("after")).await.unwrap();
    let lines = proxy.lines(1).await;
    assert_eq!(lines[0].verdict, Some(Verdict::Pass));
    let (_, totals) = api(api_addr, "GET", "/verdicts", "").await;
    assert_eq!(totals["pass"], 1);
    assert_eq!(totals["injections"], 1);

    assert_eq!(
        api(api_addr, "DELETE", &format!("/faults/{id}"), "")
            .await
            .0,
        200
    );
    assert_eq!(
        api(api_addr, "GET", "/faults", "").await.1,
        serde_json::json!({"faults": []})
    );
    assert_eq!(
        api(api_addr, "POST", "/faults", "set-rsv:bit=2").await.0,
        201
    );
    assert_eq!(api(api_addr, "POST", "/reset", "").await.0, 200);
    let (_, totals) = api(api_addr, "GET", "/verdicts", "").await;
    assert_eq!(totals["injections"], 0);
    assert_eq!(
        api(api_addr, "GET", "/faults", "").await.1,
        serde_json::json!({"faults": []})
    );
    proxy.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slicing_and_latency_stay_transparent() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let proxy = Proxy::start(
        server.addr,
        &["slice:max=3", "latency@c2s:ms=60,jitter=5"],
        1,
        500,
    )
    .await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    for i in 0..6 {
        let m = message(i);
        let sent = std::time::Instant::now();
        ws.send(m.clone()).await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(echoed, m, "message {i} through 3-byte slices");
        // A lower bound only: the delay was added, however slow the machine.
        assert!(
            sent.elapsed() >= Duration::from_millis(60),
            "no latency on message {i}"
        );
    }
    let (lines, _) = proxy.stop().await;
    // One line per transport fault at the end: the connection kept working.
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines.iter().all(|l| l.verdict == Some(Verdict::Pass)),
        "{lines:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_limit_and_reset() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    // 800 kbit/s is 100 kB/s: 40 kB each way cannot take under 0.4 s.
    let proxy = Proxy::start(server.addr, &["bandwidth:kbps=800"], 1, 500).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    ws.send(Message::binary(vec![7u8; 40_000])).await.unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(20), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echoed.len(), 40_000);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    proxy.stop().await;

    let proxy = Proxy::start(server.addr, &["reset:after=100ms"], 1, 500).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    ws.send(Message::text("before the reset")).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::text("before the reset")
    );
    // After 100 ms both TCP connections are reset: the client sees an error, no Close.
    let end = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap();
    assert!(matches!(end, Some(Err(_)) | None), "{end:?}");
    let (_, totals) = proxy.stop().await;
    assert_eq!(totals.connections, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_saves_faulted_connections_as_replay_files_and_fuzz_seeds() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let dir = empty_dir("record");
    let mut proxy = Proxy::start_recording(
        server.addr,
        &["flip-mask@c2s:nth=3"],
        3,
        2000,
        Some(dir.clone()),
    )
    .await;
    // Connection 1 sends one frame and drops: no fault, nothing recorded.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    ws.send(Message::text("one")).await.unwrap();
    ws.next().await.unwrap().unwrap();
    drop(ws);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    ws.send(Message::text("one")).await.unwrap();
    ws.next().await.unwrap().unwrap();
    ws.send(Message::text("two")).await.unwrap();
    ws.next().await.unwrap().unwrap();
    ws.send(Message::text("three")).await.unwrap();
    let lines = proxy.lines(1).await;
    assert_eq!(lines[0].conn, 2);
    drop(ws);
    proxy.stop().await;
    let names = file_names(&dir);
    assert_eq!(names, ["conn-2-c2s.bin", "conn-2-s2c.bin", "conn-2.relay"]);
    // What the server received replays to the same violation.
    let c2s = std::fs::read(dir.join("conn-2-c2s.bin")).unwrap();
    let outcome = wschaos_codec::stream::classify(
        wschaos_codec::ValidatorConfig::new(wschaos_codec::Role::Server),
        &c2s,
    );
    assert_eq!(
        outcome.violation,
        Some((2, wschaos_codec::Violation::UnmaskedClientFrame))
    );
    // The original traffic is a valid relay fuzz input.
    let seed = std::fs::read(dir.join("conn-2.relay")).unwrap();
    assert!(seed.len() > 100);
    assert_eq!(wschaos::proxy::fuzz::check_relay(&seed), Ok(()));
    let _ = std::fs::remove_dir_all(&dir);
    server.shutdown().await;
}

/// A connection hit only by a transport fault is recorded too, and its note
/// names the fault; a connection that carried nothing is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_keeps_connections_hit_only_by_a_transport_fault() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let dir = empty_dir("record-t");
    let mut proxy = Proxy::start_recording(
        server.addr,
        &["latency@c2s:ms=5"],
        3,
        500,
        Some(dir.clone()),
    )
    .await;
    // Connection 1 opens TCP and closes it: nothing carried, nothing recorded.
    drop(tokio::net::TcpStream::connect(proxy.addr).await.unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    ws.send(Message::text("one")).await.unwrap();
    ws.next().await.unwrap().unwrap();
    ws.close(None).await.unwrap();
    while ws.next().await.is_some() {}
    drop(ws);
    let lines = proxy.lines(1).await;
    assert_eq!(
        (lines[0].conn, lines[0].fault.as_str()),
        (2, "latency@c2s:ms=5")
    );
    proxy.stop().await;
    let names = file_names(&dir);
    assert_eq!(
        names,
        [
            "conn-2-c2s.bin",
            "conn-2-s2c.bin",
            "conn-2.note",
            "conn-2.relay"
        ]
    );
    let note = std::fs::read_to_string(dir.join("conn-2.note")).unwrap();
    assert!(
        note.contains("transport fault on connection 2: latency"),
        "{note}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    server.shutdown().await;
}

/// A frame fault and a transport fault on one connection: the server's 1002 is
/// the frame fault's pass, and the delay is not blamed for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transport_fault_is_not_blamed_for_a_frame_faults_close() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    for transport in ["latency:ms=5", "slice:max=7"] {
        let mut proxy = Proxy::start(server.addr, &["flip-mask@c2s", transport], 3, 2000).await;
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
            .await
            .unwrap();
        ws.send(Message::text("hello")).await.unwrap();
        let end = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
        assert!(end.is_ok(), "the server reacted");
        drop(ws);
        let lines = proxy.lines(2).await;
        let (rest, totals) = proxy.stop().await;
        assert!(rest.is_empty(), "{rest:?}");
        for l in &lines {
            assert_eq!(l.verdict, Some(Verdict::Pass), "{transport}: {l:?}");
        }
        assert_eq!(totals.fail, 0, "{transport}");
    }
    server.shutdown().await;
}

/// Connections that carried no frame get no transport-fault line, and a reset
/// that never fired is not reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_faults_are_reported_only_where_they_acted() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let proxy = Proxy::start(server.addr, &["latency:ms=5", "reset:after=5s"], 1, 500).await;
    for _ in 0..5 {
        // Connect and leave before the handshake, or right after it.
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        drop(s);
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    ws.send(Message::text("one")).await.unwrap();
    ws.next().await.unwrap().unwrap();
    ws.close(None).await.unwrap();
    while ws.next().await.is_some() {}
    // The stop settles every connection, so every line is in by then.
    let (lines, totals) = proxy.stop().await;
    assert_eq!(totals.connections, 6);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].fault, "latency:ms=5");
    assert_eq!(lines[0].verdict, Some(Verdict::Pass));
    server.shutdown().await;
}

/// `reset` closes with RST: the client's next read fails with a reset, not an
/// orderly end of stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_sends_rst_not_fin() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let proxy = Proxy::start(server.addr, &["reset:after=100ms"], 1, 500).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let req = wschaos_codec::handshake::RequestBuilder::new(
        proxy.addr.to_string(),
        "/".to_owned(),
        wschaos_codec::handshake::generate_key([3; 16]),
    )
    .build();
    s.write_all(&req).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 101"));
    let end = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap();
    assert_eq!(
        end.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionReset),
        "an RST, not a FIN"
    );
    let (lines, _) = proxy.stop().await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].verdict, Some(Verdict::Info));
    server.shutdown().await;
}

/// A latency fault delays each chunk from when it arrives, without holding the
/// next read back: a 1 MiB message (64 chunks each way) takes about one delay
/// each way, not 64.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delays_without_serialising_the_stream() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let proxy = Proxy::start(server.addr, &["latency:ms=100"], 1, 500).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    let m = Message::binary(vec![5u8; 1 << 20]);
    let sent = std::time::Instant::now();
    ws.send(m.clone()).await.unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echoed, m);
    let took = sent.elapsed();
    assert!(took >= Duration::from_millis(200), "{took:?}");
    // Serialised, 64 chunks x 100 ms x 2 directions would take 12.8 s.
    assert!(took < Duration::from_secs(6), "{took:?}");
    proxy.stop().await;
    server.shutdown().await;
}

/// A stop while a delay of ten minutes holds data still ends within the grace,
/// with every injection settled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_while_a_delay_is_pending_ends_within_the_grace() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let proxy = Proxy::start(server.addr, &["latency@c2s:ms=600000"], 1, 500).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Stop only once the proxy has taken the connection.
    for _ in 0..500 {
        if proxy.state.totals().connections == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = std::time::Instant::now();
    let (_, totals) = proxy.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(totals.connections, 1);
    server.shutdown().await;
}

/// Sockets that never finish the opening handshake are closed after the
/// handshake timeout, so they cannot hold every connection slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_cannot_hold_the_connection_slots() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let proxy = Proxy::start_with(server.addr, &[], 1, 500, |cfg| {
        cfg.settings.max_connections = 2;
        cfg.settings.handshake_timeout = Duration::from_millis(300);
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(proxy.addr).await.unwrap());
    }
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr)),
    )
    .await
    .expect("a slot was freed")
    .unwrap();
    ws.send(Message::text("through")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("through"));
    let mut buf = [0u8; 16];
    // The idle sockets were closed by the proxy.
    assert_eq!(idle[0].read(&mut buf).await.unwrap(), 0);
    drop(ws);
    proxy.stop().await;
    server.shutdown().await;
}

/// With an idle timeout, a connection with no traffic either way is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_timeout_closes_quiet_connections() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let proxy = Proxy::start_with(server.addr, &[], 1, 500, |cfg| {
        cfg.settings.idle_timeout = Some(Duration::from_millis(300));
    })
    .await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    ws.send(Message::text("one")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("one"));
    let end = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("closed by the idle timeout");
    assert!(matches!(end, None | Some(Err(_))), "{end:?}");
    proxy.stop().await;
    server.shutdown().await;
}

/// A fault that lands after a stream's first 256 KiB is still in the recording:
/// that stream's file starts at the injected frame, and a note says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_keeps_a_fault_that_lands_past_the_cap() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let dir = empty_dir("record-late");
    let mut proxy = Proxy::start_recording(
        server.addr,
        &["flip-mask@c2s:nth=8"],
        3,
        2000,
        Some(dir.clone()),
    )
    .await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    // Seven messages of 100 kB (700 kB) before the faulted eighth.
    for i in 0..8u8 {
        ws.send(Message::binary(vec![i; 100_000])).await.unwrap();
        if i < 7 {
            ws.next().await.unwrap().unwrap();
        }
    }
    let lines = proxy.lines(1).await;
    assert_eq!(lines[0].frame_index, Some(8));
    drop(ws);
    proxy.stop().await;
    let c2s = std::fs::read(dir.join("conn-1-c2s.bin")).unwrap();
    let outcome = wschaos_codec::stream::classify(
        wschaos_codec::ValidatorConfig::new(wschaos_codec::Role::Server),
        &c2s,
    );
    assert_eq!(
        outcome.violation.map(|(_, v)| v),
        Some(wschaos_codec::Violation::UnmaskedClientFrame)
    );
    let note = std::fs::read_to_string(dir.join("conn-1.note")).unwrap();
    assert!(note.contains("starts at the injected frame"), "{note}");
    let _ = std::fs::remove_dir_all(&dir);
    server.shutdown().await;
}
