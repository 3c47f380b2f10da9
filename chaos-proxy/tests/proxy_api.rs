//! `wschaos proxy --config` with named proxies in front of the sample echo
//! target, driven through the control API with curl, as toxiproxy users do:
//! `/metrics` counts exactly the bytes, frames and connections sent; proxies are
//! created, disabled (port closed, connections closed), re-enabled, their faults
//! patched, and deleted. 127.0.0.1 and ephemeral ports only. Without curl the
//! tests are skipped, unless WSCHAOS_REQUIRE_PEERS=1 (as in CI).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use wschaos_targets::{ServerFlaw, spawn_echo_server};

/// Whether curl runs; skips (or, with WSCHAOS_REQUIRE_PEERS=1, fails) without it.
fn curl_ready() -> bool {
    let ok = Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("WSCHAOS_REQUIRE_PEERS").as_deref() != Ok("1"),
            "WSCHAOS_REQUIRE_PEERS=1 but curl is missing"
        );
        eprintln!("skipped: curl not found (set WSCHAOS_REQUIRE_PEERS=1 to make this a failure)");
    }
    ok
}

/// `curl -X METHOD URL [--data-binary BODY]`: the status and the body.
fn curl(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-m", "10", "-X", method, "-w", "\n%{http_code}", url]);
    if let Some(b) = body {
        cmd.args(["--data-binary", b]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "curl {method} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_owned())
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The running proxy process and what it printed at start-up.
struct Running {
    child: Child,
    lines: Receiver<String>,
    api: String,
    listen: Vec<(String, SocketAddr)>,
    dir: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `wschaos proxy --config` with `alpha` (transparent) and `beta`
/// (`invalid-utf8@c2s:p=0`: never fires until patched) in front of `upstream`,
/// and `down`, whose upstream is a closed port.
fn start(name: &str, upstream: SocketAddr) -> Running {
    let dir = std::env::temp_dir().join(format!("wschaos-api-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let config = format!(
        r#"api = "127.0.0.1:0"
report = "{report}"
grace_ms = 1000
reaction_timeout_ms = 1000

[[proxies]]
name = "alpha"
listen = "127.0.0.1:0"
upstream = "{upstream}"
seed = 1

[[proxies]]
name = "beta"
listen = "127.0.0.1:0"
upstream = "{upstream}"
faults = ["invalid-utf8@c2s:p=0"]
seed = 2

[[proxies]]
name = "down"
listen = "127.0.0.1:0"
upstream = "{closed_addr}"
"#,
        report = dir.join("faults.jsonl").display()
    );
    let path = dir.join("proxies.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wschaos"))
        .args(["proxy", "--config"])
        .arg(&path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut running = Running {
        child,
        lines,
        api: String::new(),
        listen: Vec::new(),
        dir,
    };
    while running.api.is_empty() {
        let line = running
            .lines
            .recv_timeout(Duration::from_secs(15))
            .expect("the proxy's banner");
        if let Some(rest) = line.strip_prefix("control api on http://") {
            running.api = format!("http://{}", rest.split('/').next().unwrap());
        } else if let Some(rest) = line.strip_prefix("wschaos proxy \"") {
            let (name, rest) = rest.split_once('"').unwrap();
            let addr = rest
                .split("listening on ")
                .nth(1)
                .and_then(|r| r.split(',').next())
                .unwrap_or_else(|| panic!("banner: {line}"));
            running
                .listen
                .push((name.to_owned(), addr.parse().unwrap()));
        }
    }
    assert_eq!(running.listen.len(), 3, "{:?}", running.listen);
    running
}

impl Running {
    fn addr(&self, name: &str) -> SocketAddr {
        self.listen.iter().find(|(n, _)| n == name).unwrap().1
    }

    fn curl(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        curl(method, &format!("{}{path}", self.api), body)
    }

    /// The value of the series `name{labels}` in `/metrics` (0 when absent).
    fn metric(&self, series: &str) -> f64 {
        let (status, text) = self.curl("GET", "/metrics", None);
        assert_eq!(status, 200, "{text}");
        metric_in(&text, series)
    }

    /// SIGTERM; the exit status, the rest of stderr and the report.
    fn terminate(mut self) -> (Option<i32>, String, String) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let start = Instant::now();
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code();
            }
            assert!(start.elapsed() < Duration::from_secs(15), "still running");
            std::thread::sleep(Duration::from_millis(20));
        };
        let rest: Vec<String> = self.lines.try_iter().collect();
        let report = std::fs::read_to_string(self.dir.join("faults.jsonl")).unwrap();
        (code, rest.join("\n"), report)
    }
}

fn metric_in(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// Polls `done` every 20 ms; panics after `limit`.
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A masked client frame.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// One raw WebSocket session: the upgrade, `messages` text messages (each
/// echoed), a Close (answered), then the server's TCP close. Returns the bytes
/// written and the bytes read.
fn session(addr: SocketAddr, messages: &[&str]) -> (u64, u64) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut written = 0;
    let mut read = Vec::new();
    let mut buf = [0u8; 4096];
    s.write_all(UPGRADE).unwrap();
    written += UPGRADE.len();
    while !read.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed during the handshake");
        read.extend_from_slice(&buf[..n]);
    }
    assert!(
        read.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&read)
    );
    for m in messages {
        let f = frame(0x1, m.as_bytes());
        s.write_all(&f).unwrap();
        written += f.len();
        let mut echo = vec![0u8; 2 + m.len()];
        s.read_exact(&mut echo).unwrap();
        assert_eq!(&echo[2..], m.as_bytes());
        read.extend_from_slice(&echo);
    }
    let close = frame(0x8, &1000u16.to_be_bytes());
    s.write_all(&close).unwrap();
    written += close.len();
    s.read_to_end(&mut read).unwrap();
    (written as u64, read.len() as u64)
}

#[test]
fn metrics_count_exactly_the_traffic_sent() {
    if !curl_ready() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(spawn_echo_server("127.0.0.1:0", ServerFlaw::None))
        .unwrap();
    let p = start("metrics", server.addr);
    let alpha = p.addr("alpha");
    let messages = [
        "one",
        "two words",
        "",
        "a longer message of some 40 bytes......",
    ];
    let (mut written, mut read) = (0, 0);
    const CONNECTIONS: u64 = 3;
    for _ in 0..CONNECTIONS {
        let (w, r) = session(alpha, &messages);
        written += w;
        read += r;
    }
    // A plain HTTP request: the server refuses the upgrade, a handshake failure.
    let mut plain = TcpStream::connect(p.addr("beta")).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/1.1 101"));
    drop(plain);
    // The upstream of `down` is a closed port: a 502 and an upstream error.
    let mut down = TcpStream::connect(p.addr("down")).unwrap();
    down.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    down.write_all(UPGRADE).unwrap();
    let mut answer = Vec::new();
    let _ = down.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 502"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    let open = |proxy: &str| format!("wschaos_proxy_connections_open{{proxy=\"{proxy}\"}}");
    wait_until(
        Duration::from_secs(10),
        "every connection counted closed",
        || {
            let (_, text) = p.curl("GET", "/metrics", None);
            ["alpha", "beta", "down"]
                .iter()
                .all(|n| metric_in(&text, &open(n)) == 0.0)
                && metric_in(&text, "wschaos_proxy_upstream_errors_total{proxy=\"down\"}") == 1.0
                && metric_in(
                    &text,
                    "wschaos_proxy_handshake_failures_total{proxy=\"beta\"}",
                ) == 1.0
        },
    );
    let (status, text) = p.curl("GET", "/metrics", None);
    assert_eq!(status, 200);
    assert!(
        text.contains("# TYPE wschaos_proxy_bytes counter"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    let m = |s: &str| metric_in(&text, s);
    let alpha_bytes = |dir: &str| {
        m(&format!(
            "wschaos_proxy_bytes_total{{proxy=\"alpha\",direction=\"{dir}\"}}"
        ))
    };
    assert_eq!(alpha_bytes("c2s"), written as f64, "{text}");
    assert_eq!(alpha_bytes("s2c"), read as f64, "{text}");
    // Each connection: the messages and a Close each way.
    let frames = CONNECTIONS as f64 * (messages.len() as f64 + 1.0);
    for dir in ["c2s", "s2c"] {
        assert_eq!(
            m(&format!(
                "wschaos_proxy_frames_total{{proxy=\"alpha\",direction=\"{dir}\"}}"
            )),
            frames,
            "{text}"
        );
    }
    assert_eq!(
        m("wschaos_proxy_connections_total{proxy=\"alpha\"}"),
        CONNECTIONS as f64
    );
    assert_eq!(m("wschaos_proxy_connections_total{proxy=\"beta\"}"), 1.0);
    assert_eq!(m("wschaos_proxy_connections_total{proxy=\"down\"}"), 1.0);
    assert_eq!(
        m("wschaos_proxy_handshake_failures_total{proxy=\"alpha\"}"),
        0.0
    );
    assert_eq!(
        m("wschaos_proxy_upstream_errors_total{proxy=\"alpha\"}"),
        0.0
    );
    assert_eq!(
        m("wschaos_proxy_handshake_failures_total{proxy=\"down\"}"),
        0.0
    );
    assert_eq!(
        m("wschaos_proxy_frames_total{proxy=\"beta\",direction=\"c2s\"}"),
        0.0
    );
    // /verdicts: the totals of all, and per proxy.
    let v = json(&p.curl("GET", "/verdicts", None).1);
    assert_eq!(v["connections"], CONNECTIONS + 2);
    assert_eq!(v["proxies"]["alpha"]["connections"], CONNECTIONS);
    assert_eq!(v["proxies"]["down"]["connections"], 1);

    let (code, rest, report) = p.terminate();
    assert_eq!(code, Some(0), "{rest}");
    assert!(rest.contains("5 connections, 0 faults injected"), "{rest}");
    assert_eq!(report, "");
    rt.block_on(server.shutdown());
}

#[test]
fn proxies_are_created_disabled_patched_and_deleted_through_the_api() {
    if !curl_ready() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(spawn_echo_server("127.0.0.1:0", ServerFlaw::None))
        .unwrap();
    let p = start("api", server.addr);
    let alpha = p.addr("alpha");

    // The list.
    let (status, body) = p.curl("GET", "/proxies", None);
    assert_eq!(status, 200, "{body}");
    let list = json(&body);
    let names: Vec<&str> = list["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta", "down"]);
    let beta = &list["proxies"][1];
    assert_eq!(beta["enabled"], true);
    assert_eq!(beta["listen"], p.addr("beta").to_string());
    assert_eq!(beta["upstream"], server.addr.to_string());
    assert_eq!(beta["faults"][0]["id"], 1);
    assert_eq!(beta["faults"][0]["spec"], "invalid-utf8@c2s:p=0");

    // Create: 201, then it relays; the same name again is 409, bad input 400.
    let create = format!(
        r#"{{"name":"gamma","listen":"127.0.0.1:0","upstream":"{}","faults":["slice:max=3"]}}"#,
        server.addr
    );
    let (status, body) = p.curl("POST", "/proxies", Some(&create));
    assert_eq!(status, 201, "{body}");
    let gamma: SocketAddr = json(&body)["listen"].as_str().unwrap().parse().unwrap();
    assert_ne!(gamma.port(), 0);
    rt.block_on(echo_once(gamma));
    let (status, body) = p.curl("POST", "/proxies", Some(&create));
    assert_eq!(status, 409, "{body}");
    let (status, body) = p.curl(
        "POST",
        "/proxies",
        Some(r#"{"name":"x","listen":"nowhere","upstream":"127.0.0.1:1"}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("listen: invalid socket address \\\"nowhere\\\""),
        "{body}"
    );
    let (status, body) = p.curl(
        "POST",
        "/proxies",
        Some(r#"{"name":"x","listen":"127.0.0.1:0","upstream":"127.0.0.1:1","colour":1}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unknown field `colour`"), "{body}");
    let (status, _) = p.curl(
        "POST",
        "/proxies",
        Some(r#"{"name":"x","listen":"127.0.0.1:0","upstream":"127.0.0.1:1","faults":["nope"]}"#),
    );
    assert_eq!(status, 400);

    // Disable alpha with a connection open: that connection is closed, and the
    // port refuses new ones. Enabled again, it relays on the same address.
    rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{alpha}/"))
            .await
            .unwrap();
        ws.send(Message::text("before")).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("before")));
        let (status, body) = tokio::task::spawn_blocking({
            let api = p.api.clone();
            move || {
                curl(
                    "PATCH",
                    &format!("{api}/proxies/alpha"),
                    Some(r#"{"enabled":false}"#),
                )
            }
        })
        .await
        .unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(json(&body)["enabled"], false);
        // Closed: no more messages, within the grace (1 s) at most.
        let end = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match ws.next().await {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
        assert!(end.is_ok(), "the connection stayed open");
    });
    let refused = TcpStream::connect(alpha).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let (_, body) = p.curl("GET", "/proxies/alpha", None);
    assert_eq!(json(&body)["enabled"], false);
    let (status, body) = p.curl("PATCH", "/proxies/alpha", Some(r#"{"enabled":true}"#));
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["listen"], alpha.to_string());
    rt.block_on(echo_once(alpha));

    // beta's fault never fires at p=0; patched to p=1, the next connection's
    // text is made invalid UTF-8 and the server's 1007 is a pass.
    rt.block_on(echo_once(p.addr("beta")));
    let (status, body) = p.curl("PATCH", "/proxies/beta/faults/1", Some(r#"{"p":"1"}"#));
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["spec"], "invalid-utf8@c2s:p=1");
    let (status, body) = p.curl("PATCH", "/proxies/beta/faults/1", Some(r#"{"p":"7"}"#));
    assert_eq!(status, 400, "{body}");
    let (status, _) = p.curl("PATCH", "/proxies/beta/faults/9", Some(r#"{"p":"1"}"#));
    assert_eq!(status, 404);
    rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", p.addr("beta")))
            .await
            .unwrap();
        ws.send(Message::text("hello")).await.unwrap();
        match next(&mut ws).await {
            Some(Message::Close(Some(f))) => assert_eq!(u16::from(f.code), 1007),
            other => panic!("expected a 1007 close, got {other:?}"),
        }
    });
    wait_until(Duration::from_secs(10), "the injection settled", || {
        json(&p.curl("GET", "/proxies/beta/verdicts", None).1)["pass"] == 1
    });
    assert_eq!(
        p.metric(
            "wschaos_proxy_injections_total{proxy=\"beta\",fault=\"invalid-utf8\",verdict=\"pass\"}"
        ),
        1.0
    );
    // Faults of one proxy: add and delete.
    let (status, body) = p.curl(
        "POST",
        "/proxies/alpha/faults",
        Some("set-rsv@c2s:bit=2,p=0"),
    );
    assert_eq!(status, 201, "{body}");
    let id = json(&body)["id"].as_u64().unwrap();
    let (status, _) = p.curl("DELETE", &format!("/proxies/alpha/faults/{id}"), None);
    assert_eq!(status, 200);
    let (_, body) = p.curl("GET", "/proxies/alpha/faults", None);
    assert_eq!(json(&body)["faults"], serde_json::json!([]));
    // The single-proxy endpoints need a proxy named default, or only one.
    let (status, body) = p.curl("GET", "/faults", None);
    assert_eq!(status, 409, "{body}");

    // Delete gamma: its port closes, its series go.
    let (status, body) = p.curl("DELETE", "/proxies/gamma", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(p.curl("GET", "/proxies/gamma", None).0, 404);
    assert_eq!(p.curl("DELETE", "/proxies/gamma", None).0, 404);
    assert!(TcpStream::connect(gamma).is_err());
    let (_, text) = p.curl("GET", "/metrics", None);
    assert!(!text.contains("proxy=\"gamma\""), "{text}");
    assert!(text.contains("proxy=\"alpha\""), "{text}");

    // The deleted proxy's totals stay in the run's: gamma's slice fault acted
    // on its connection (a pass), beta's fault made the server send 1007.
    let (code, rest, report) = p.terminate();
    assert_eq!(code, Some(0), "{rest}");
    assert!(rest.contains("2 faults injected: 2 pass"), "{rest}");
    let lines: Vec<serde_json::Value> = report.lines().map(json).collect();
    assert_eq!(lines.len(), 2, "{report}");
    let beta_line = lines
        .iter()
        .find(|l| l["proxy"] == "beta")
        .expect("beta's line");
    assert_eq!(beta_line["fault"], "invalid-utf8@c2s:p=1");
    assert_eq!(beta_line["verdict"], "pass");
    assert!(
        lines
            .iter()
            .any(|l| l["proxy"] == "gamma" && l["fault"] == "slice:max=3")
    );
    rt.block_on(server.shutdown());
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next(ws: &mut Ws) -> Option<Message> {
    tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("no message within 10 s")
        .map(|m| m.unwrap())
}

/// Connects through `addr`, has one message echoed, closes.
async fn echo_once(addr: SocketAddr) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    ws.send(Message::text("ping?")).await.unwrap();
    assert_eq!(next(&mut ws).await, Some(Message::text("ping?")));
    ws.close(None).await.unwrap();
}
