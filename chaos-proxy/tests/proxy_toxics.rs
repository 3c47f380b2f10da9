//! The toxiproxy-style transport faults that end or starve a connection, through
//! a real proxy on 127.0.0.1 (ephemeral ports): `timeout` drops what is read and
//! closes both sides N ms after it applies, `slow-close` delivers data but holds
//! the FIN N ms, `limit-data` delivers exactly N bytes and then closes both
//! sides. Raw TCP peers (bytes that are no HTTP, so the proxy relays them as they
//! are) make every byte and every FIN visible; one test runs real WebSocket
//! peers. Timing is only bounded from below by the fault's own delay (timers do
//! not fire early) and from above generously.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use wschaos::proxy::server::ReportLine;
use wschaos::report::Verdict;
use wschaos_targets::{ServerFlaw, spawn_echo_server};

/// Bounds every wait, so that a broken fault fails the test instead of hanging it.
const BOUND: Duration = Duration::from_secs(10);

mod inproc;

use inproc::Proxy;

/// What a raw TCP peer saw: every byte, and when its stream ended (EOF or error).
#[derive(Debug)]
struct Seen {
    bytes: Vec<u8>,
    /// When the first byte came.
    first: Option<Instant>,
    ended: Instant,
}

/// Reads until EOF or error (bounded).
async fn read_to_end(s: &mut TcpStream) -> Seen {
    let mut bytes = Vec::new();
    let mut first = None;
    let mut buf = [0u8; 4096];
    tokio::time::timeout(BOUND, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    first.get_or_insert_with(Instant::now);
                    bytes.extend_from_slice(&buf[..n]);
                }
            }
        }
    })
    .await
    .expect("the stream never ended");
    Seen {
        bytes,
        first,
        ended: Instant::now(),
    }
}

/// A one-connection TCP upstream running `serve` on what it accepts.
async fn upstream<F, Fut>(serve: F) -> (SocketAddr, JoinHandle<Fut::Output>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        serve(s).await
    });
    (addr, task)
}

/// An upstream that echoes each read back and reports what it got, until its
/// stream ends.
async fn echo_upstream() -> (SocketAddr, JoinHandle<Seen>) {
    upstream(|mut s: TcpStream| async move {
        let mut bytes = Vec::new();
        let mut first = None;
        let mut buf = [0u8; 4096];
        let _ = tokio::time::timeout(BOUND, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        first.get_or_insert_with(Instant::now);
                        bytes.extend_from_slice(&buf[..n]);
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
        })
        .await;
        Seen {
            bytes,
            first,
            ended: Instant::now(),
        }
    })
    .await
}

/// Reads exactly `want.len()` bytes (bounded) and checks them.
async fn expect_bytes(s: &mut TcpStream, want: &[u8]) {
    let mut got = vec![0u8; want.len()];
    tokio::time::timeout(BOUND, s.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, want);
}

/// Bytes the proxy relays untouched: 0xFF cannot start an HTTP head.
fn opaque(text: &str) -> Vec<u8> {
    let mut b = vec![0xFF];
    b.extend_from_slice(text.as_bytes());
    b
}

fn line_for<'a>(lines: &'a [ReportLine], fault: &str) -> &'a ReportLine {
    lines
        .iter()
        .find(|l| l.fault == fault)
        .unwrap_or_else(|| panic!("no line for {fault}: {lines:?}"))
}

/// `timeout@c2s:ms=1000,after=500ms`: echoed before 500 ms; from then on what
/// the client sends never reaches the server, and both the client and the
/// server see their stream end no sooner than 1.5 s after the connection opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_drops_what_is_read_then_closes_both_sides() {
    let (up, server) = echo_upstream().await;
    let proxy = Proxy::start(up, &["timeout@c2s:ms=1000,after=500ms"], 1, 500).await;
    let opened = Instant::now();
    let mut client = TcpStream::connect(proxy.addr).await.unwrap();
    let before = opaque("before");
    client.write_all(&before).await.unwrap();
    expect_bytes(&mut client, &before).await;
    assert!(
        opened.elapsed() < Duration::from_millis(500),
        "the echo took {:?}: too slow to test the fault's start",
        opened.elapsed()
    );
    // Well past `after`, even if the proxy took the connection late.
    tokio::time::sleep_until((opened + Duration::from_millis(1000)).into()).await;
    client.write_all(&opaque("dropped")).await.unwrap();
    let seen = read_to_end(&mut client).await;
    assert_eq!(seen.bytes, b"", "nothing came back: the bytes were dropped");
    let closed = seen.ended - opened;
    assert!(
        closed >= Duration::from_millis(1500),
        "closed after {closed:?}"
    );
    assert!(closed < Duration::from_secs(5), "closed after {closed:?}");
    // The server got only what was sent before the fault applied, then its end.
    let at_server = tokio::time::timeout(BOUND, server).await.unwrap().unwrap();
    assert_eq!(at_server.bytes, before);
    assert!(at_server.ended - opened >= Duration::from_millis(1500));
    let lines = proxy.stop().await.0;
    let l = line_for(&lines, "timeout@c2s:ms=1000,after=500ms");
    assert_eq!(l.verdict, Some(Verdict::Info), "{l:?}");
    assert!(l.what.contains("dropped"), "{}", l.what);
}

/// `timeout:ms=0` drops both ways and never closes: a second later the
/// connection is still open and silent; the client's own FIN still ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_zero_drops_and_never_closes() {
    let (up, server) = echo_upstream().await;
    let proxy = Proxy::start(up, &["timeout:ms=0"], 1, 500).await;
    let mut client = TcpStream::connect(proxy.addr).await.unwrap();
    client.write_all(&opaque("lost")).await.unwrap();
    let mut buf = [0u8; 64];
    let r = tokio::time::timeout(Duration::from_millis(1000), client.read(&mut buf)).await;
    assert!(r.is_err(), "no data and no close within a second: {r:?}");
    client.shutdown().await.unwrap();
    let at_server = tokio::time::timeout(BOUND, server).await.unwrap().unwrap();
    assert_eq!(at_server.bytes, b"", "the server got nothing");
    let lines = proxy.stop().await.0;
    assert!(
        line_for(&lines, "timeout:ms=0")
            .what
            .contains("never closes")
    );
}

/// `slow-close@c2s:ms=600`: the client's data reaches the server at once, but
/// its FIN only 600 ms or more after the client sent it; the other direction
/// keeps working meanwhile and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_holds_the_fin_not_the_data() {
    let (up, server) = upstream(|mut s: TcpStream| async move {
        let seen = read_to_end(&mut s).await;
        // Answer after the end arrived: the half-closed connection still carries it.
        s.write_all(&opaque("reply")).await.unwrap();
        s.shutdown().await.unwrap();
        seen
    })
    .await;
    let proxy = Proxy::start(up, &["slow-close@c2s:ms=600"], 1, 500).await;
    let mut client = TcpStream::connect(proxy.addr).await.unwrap();
    let data = opaque("last words");
    client.write_all(&data).await.unwrap();
    client.shutdown().await.unwrap();
    let fin_sent = Instant::now();
    let reply = read_to_end(&mut client).await;
    let at_server = tokio::time::timeout(BOUND, server).await.unwrap().unwrap();
    assert_eq!(
        at_server.bytes, data,
        "every byte before the FIN is delivered"
    );
    let held = at_server.ended - fin_sent;
    assert!(held >= Duration::from_millis(600), "FIN held only {held:?}");
    assert!(held < Duration::from_secs(5), "FIN held {held:?}");
    assert!(
        at_server.first.unwrap() < at_server.ended,
        "the data came before the FIN"
    );
    assert_eq!(reply.bytes, opaque("reply"));
    // No frames went through: like the faults that delay or split, it has no
    // WebSocket traffic to be judged on, so no line (see the WebSocket test).
    let lines = proxy.stop().await.0;
    assert!(lines.is_empty(), "{lines:?}");
}

/// Real WebSocket peers through `slow-close:ms=200`: the closing handshake and
/// the held FINs leave the connection working, and the report line says what
/// the fault did, with a pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_keeps_a_websocket_connection_working() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let mut proxy = Proxy::start(server.addr, &["slow-close:ms=200"], 1, 500).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    let echoed = tokio::time::timeout(BOUND, ws.next()).await.unwrap();
    assert_eq!(echoed.unwrap().unwrap(), Message::text("hello"));
    ws.close(None).await.unwrap();
    while let Ok(Some(_)) = tokio::time::timeout(BOUND, ws.next()).await {}
    drop(ws);
    // The line comes when the connection has ended, FINs and all.
    let l = proxy.line().await;
    assert_eq!(l.fault, "slow-close:ms=200");
    assert_eq!(l.verdict, Some(Verdict::Pass), "{l:?}");
    assert!(l.what.contains("200 ms"), "{}", l.what);
    proxy.stop().await;
    server.shutdown().await;
}

/// `limit-data@s2c:bytes=1000`: the server sends 100,000 bytes; the client gets
/// exactly the first 1,000, then its stream ends, and the server's does too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_data_delivers_exactly_n_bytes_then_closes_both_sides() {
    let blob: Vec<u8> = std::iter::once(0xFF)
        .chain((1..100_000u32).map(|i| (i * 7) as u8))
        .collect();
    let sent = blob.clone();
    let (server_done_tx, server_done) = oneshot::channel();
    let (up, _server) = upstream(move |mut s: TcpStream| async move {
        // The write may fail once the proxy closes: it is not all read.
        let _ = s.write_all(&sent).await;
        let seen = read_to_end(&mut s).await;
        let _ = server_done_tx.send(seen);
    })
    .await;
    let proxy = Proxy::start(up, &["limit-data@s2c:bytes=1000"], 1, 500).await;
    let mut client = TcpStream::connect(proxy.addr).await.unwrap();
    let seen = read_to_end(&mut client).await;
    assert_eq!(seen.bytes.len(), 1000);
    assert_eq!(seen.bytes, blob[..1000]);
    // The client's direction was not limited, but its socket to the server is closed too.
    tokio::time::timeout(BOUND, server_done)
        .await
        .expect("the server's stream never ended")
        .unwrap();
    let lines = proxy.stop().await.0;
    let l = line_for(&lines, "limit-data@s2c:bytes=1000");
    assert_eq!(l.verdict, Some(Verdict::Info), "{l:?}");
    assert!(l.what.contains("1000 bytes"), "{}", l.what);
}

/// Each direction counts its own bytes: a limit that is never reached leaves
/// the connection alone and reports nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_data_not_reached_leaves_the_connection_alone() {
    let (up, server) = echo_upstream().await;
    let proxy = Proxy::start(up, &["limit-data:bytes=100"], 1, 500).await;
    let mut client = TcpStream::connect(proxy.addr).await.unwrap();
    for _ in 0..3 {
        // 3 x 30 bytes each way: 90 per direction, under the limit.
        let chunk = opaque(&"x".repeat(29));
        client.write_all(&chunk).await.unwrap();
        expect_bytes(&mut client, &chunk).await;
    }
    client.shutdown().await.unwrap();
    let seen = read_to_end(&mut client).await;
    assert_eq!(seen.bytes, b"");
    assert_eq!(
        tokio::time::timeout(BOUND, server)
            .await
            .unwrap()
            .unwrap()
            .bytes
            .len(),
        90
    );
    let lines = proxy.stop().await.0;
    assert!(lines.is_empty(), "{lines:?}");
}

/// Real WebSocket peers: with `limit-data@c2s`, a message larger than the
/// limit never reaches the server whole; the client sees the connection end
/// without a Close frame, and the report line says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_data_ends_a_websocket_connection() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    // The upgrade request is about 200 bytes; 4,096 leaves room for it and one small message.
    let proxy = Proxy::start(server.addr, &["limit-data@c2s:bytes=4096"], 1, 500).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", proxy.addr))
        .await
        .unwrap();
    ws.send(Message::text("small")).await.unwrap();
    let echoed = tokio::time::timeout(BOUND, ws.next()).await.unwrap();
    assert_eq!(echoed.unwrap().unwrap(), Message::text("small"));
    ws.send(Message::binary(vec![1u8; 10_000])).await.unwrap();
    let end = tokio::time::timeout(BOUND, ws.next()).await.unwrap();
    assert!(
        matches!(end, None | Some(Err(_))),
        "the connection ended without an echo or a Close: {end:?}"
    );
    let lines = proxy.stop().await.0;
    assert_eq!(
        line_for(&lines, "limit-data@c2s:bytes=4096").verdict,
        Some(Verdict::Info)
    );
    server.shutdown().await;
}
