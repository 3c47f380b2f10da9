//! The checker against an implementation nobody on the team wrote: the Python
//! `websockets` library (installed by `.ci/run`), as server and as client, on
//! 127.0.0.1 with ephemeral ports. Verdicts are asserted case by case.
//! Without the library the tests are skipped, unless WSCHAOS_REQUIRE_PYTHON=1
//! (as in CI), where its absence is a failure.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tokio::net::TcpListener;
use wschaos::catalogue::{Case, Expect, Side, catalogue};
use wschaos::check::client::{ClientCheck, serve};
use wschaos::check::server::{ServerCheck, run_suite};
use wschaos::report::{CaseResult, Verdict};
use wschaos::url::WsUrl;

const SEED: u64 = 7;

/// The 4 MiB messages in frames so small that websockets refuses them with
/// 1009 "too many fragments".
const TOO_MANY_FRAGMENTS: [&str; 4] = [
    "limits.text-4m-frames-64",
    "limits.text-4m-frames-256",
    "limits.binary-4m-frames-64",
    "limits.binary-4m-frames-256",
];

/// Kills the child process when the test ends, however it ends.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../targets/python")
        .join(name)
}

fn python_ready() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import websockets"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("WSCHAOS_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "python3 with `websockets` is required (pip install websockets)"
        );
        eprintln!("skipped: python3 with `websockets` not found (pip install websockets)");
    }
    ok
}

fn spawn_server() -> (Kill, String) {
    spawn_server_with(&[])
}

fn spawn_server_with(args: &[&str]) -> (Kill, String) {
    let mut child = Command::new("python3")
        .arg(script("ws_echo_server.py"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start python server");
    let stdout = child.stdout.take().unwrap();
    let guard = Kill(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("python server did not start");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("banner")
        .to_owned();
    (guard, url)
}

/// Asserts every case's verdict is the one `want` gives for its id, listing all
/// mismatches at once.
fn assert_verdicts(results: &HashMap<String, CaseResult>, want: impl Fn(&str) -> Verdict) {
    let mut wrong: Vec<String> = results
        .iter()
        .filter(|(id, r)| r.verdict != want(id))
        .map(|(id, r)| {
            let w = want(id);
            format!(
                "{id}: want {w:?}, got {:?} {:?} {:?}",
                r.verdict, r.observed, r.note
            )
        })
        .collect();
    wrong.sort();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

fn by_id(results: Vec<CaseResult>) -> HashMap<String, CaseResult> {
    results.into_iter().map(|r| (r.id.clone(), r)).collect()
}

/// check-server's settings against `url`.
fn server_check(url: &str, timeout: Duration, jobs: usize) -> ServerCheck {
    ServerCheck {
        target: WsUrl::parse(url).unwrap(),
        seed: SEED,
        timeout,
        jobs,
        repro_dir: None,
        extras: Default::default(),
        progress: false,
        tls: None,
    }
}

/// Serves `cases` with check-client to the websockets echo client (messages up
/// to 32 MiB taken) and returns the results, within `limit` in all.
async fn client_run(
    cases: Vec<Case>,
    timeout: Duration,
    limit: Duration,
) -> HashMap<String, CaseResult> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("ws://{}", listener.local_addr().unwrap());
    let cfg = ClientCheck {
        seed: SEED,
        timeout,
        wait: limit - Duration::from_secs(30),
        repro_dir: None,
        progress: false,
        tls: None,
    };
    let server = tokio::spawn(serve(listener, cfg, cases));
    let client = Kill(
        Command::new("python3")
            .arg(script("ws_echo_client.py"))
            .args(["--base", &base, "--max-size", "33554432"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start python client"),
    );
    let results = by_id(tokio::time::timeout(limit, server).await.unwrap().unwrap());
    drop(client);
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_server_verdicts() {
    if !python_ready() {
        return;
    }
    // Messages up to 16 MiB (Autobahn's 9.x) are taken whole; the library's
    // default limit is 1 MiB.
    let (_server, url) = spawn_server_with(&["--max-size", "33554432"]);
    let cfg = server_check(&url, Duration::from_millis(2000), 16);
    // The bulk cases (hundreds of megabytes) are sampled in a test of their own.
    let cases: Vec<_> = catalogue(Side::Server, SEED)
        .into_iter()
        .filter(|c| c.bulk.is_none())
        .collect();
    let expects: HashMap<String, Expect> = cases
        .iter()
        .map(|c| (c.id.clone(), c.expect.clone()))
        .collect();
    let results = by_id(run_suite(&cfg, cases).await);
    assert_verdicts(&results, |id| match &expects[id] {
        Expect::Info => Verdict::Info,
        // websockets validates UTF-8 when the application reads a text
        // message, after its protocol layer has already answered the ping
        // that followed: the ping gets a pong (non-strict, see README).
        _ if id.starts_with("after-valid.utf8.") || id == "after-valid.deflate.bad-utf8" => {
            Verdict::NonStrict
        }
        // A Close between the fragments of a message is legal (RFC 6455 5.4,
        // Autobahn 7.1.5); websockets answers it with 1002 "incomplete
        // fragmented message".
        _ if id == "close.mid-message" => Verdict::Fail,
        // It takes at most a few thousand fragments per message and closes
        // with 1009 "too many fragments" on 4 MiB in 64- or 256-byte frames:
        // a limit of its own, which RFC 6455 allows (info).
        _ if TOO_MANY_FRAGMENTS.contains(&id) => Verdict::Info,
        // It checks UTF-8 only once the whole message is in (Autobahn 6.4.x:
        // NON-STRICT too).
        _ if id.starts_with("utf8.fail-fast-") && !id.ends_with("+chop1") => Verdict::NonStrict,
        _ => Verdict::Pass,
    });
    assert!(
        results.keys().any(|id| id.starts_with("deflate.")),
        "deflate cases ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_client_verdicts() {
    if !python_ready() {
        return;
    }
    let cases: Vec<_> = catalogue(Side::Client, SEED)
        .into_iter()
        .filter(|c| c.bulk.is_none())
        .collect();
    let expects: HashMap<String, Expect> = cases
        .iter()
        .map(|c| (c.id.clone(), c.expect.clone()))
        .collect();
    let results = client_run(cases, Duration::from_millis(2000), Duration::from_secs(120)).await;
    assert_verdicts(&results, |id| match (&expects[id], id) {
        (Expect::Info, _) => Verdict::Info,
        // websockets offers permessage-deflate but treats it as optional:
        // proceeding without it is legal and reported as info.
        (_, "extension.stripped") => Verdict::Info,
        // As on the server side: a Close between fragments gets a 1002, and the
        // ping after invalid UTF-8 is answered before the text is decoded.
        (_, "close.mid-message") => Verdict::Fail,
        (_, id) if TOO_MANY_FRAGMENTS.contains(&id) => Verdict::Info,
        (_, id) if id.starts_with("after-valid.utf8.") || id == "after-valid.deflate.bad-utf8" => {
            Verdict::NonStrict
        }
        (_, id) if id.starts_with("utf8.fail-fast-") && !id.ends_with("+chop1") => {
            Verdict::NonStrict
        }
        _ => Verdict::Pass,
    });
}

/// Runs the Python round-trip client against `url`; returns (exit ok, its line).
fn roundtrip(url: &str, count: u32) -> (bool, String) {
    let out = Command::new("python3")
        .arg(script("ws_roundtrip.py"))
        .args(["--url", url, "--count", &count.to_string()])
        .output()
        .expect("run python client");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

async fn start_proxy(
    upstream: &str,
    faults: &[&str],
) -> (
    std::net::SocketAddr,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<wschaos::proxy::server::Totals>,
    tokio::sync::mpsc::Receiver<wschaos::proxy::server::ReportLine>,
) {
    use wschaos::proxy::fault::FaultSpec;
    use wschaos::proxy::server::{ProxyConfig, run};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = std::sync::Arc::new(
        wschaos::proxy::state::ProxyState::new(
            faults
                .iter()
                .map(|f| FaultSpec::parse(f).unwrap())
                .collect(),
        )
        .unwrap(),
    );
    let mut cfg = ProxyConfig::new(upstream, 1, state);
    cfg.settings.connect_timeout = Duration::from_secs(2);
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    cfg.tap = Some(tx);
    let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        let _ = stop_rx.wait_for(|v| *v).await;
    };
    (
        addr,
        stop,
        tokio::spawn(async move { run(listener, cfg, shutdown).await.unwrap() }),
        rx,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_peers_through_the_proxy() {
    if !python_ready() {
        return;
    }
    let (_server, url) = spawn_server();
    let upstream = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_owned();

    // No faults: compressed random messages, some large, come back unchanged.
    let (addr, stop, task, _rx) = start_proxy(&upstream, &[]).await;
    let (ok, line) = tokio::task::spawn_blocking(move || roundtrip(&format!("ws://{addr}/"), 40))
        .await
        .unwrap();
    assert!(ok, "{line}");
    let _ = stop.send(true);
    assert_eq!(task.await.unwrap().injections, 0);

    // The 101 loses permessage-deflate while the server compresses: the client
    // must fail the connection with 1002 (or 1010), and the report says pass.
    let (addr, stop, task, mut rx) = start_proxy(&upstream, &["strip-extensions@s2c"]).await;
    let (ok, line) = tokio::task::spawn_blocking(move || roundtrip(&format!("ws://{addr}/"), 5))
        .await
        .unwrap();
    assert!(!ok, "the client carried on: {line}");
    let report = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.frame_index, None);
    assert_eq!(report.verdict, Some(Verdict::Pass), "{report:?} ({line})");
    assert!(
        matches!(
            report.observed,
            Some(wschaos::report::Observed::Close {
                code: Some(wschaos_codec::CloseCode::Protocol),
                ..
            })
        ),
        "{report:?}"
    );
    let _ = stop.send(true);
    let _ = task.await;
}

/// A server that wants a token and a subprotocol: `--header` and `--subprotocol`
/// reach every upgrade request (the probe's too), and without them the run stops
/// with one line naming the 401.
#[test]
fn headers_and_subprotocols_reach_a_server_that_needs_them() {
    if !python_ready() {
        return;
    }
    let (_server, url) = spawn_server_with(&[
        "--require-header",
        "Authorization: Bearer t0k",
        "--subprotocol",
        "chat.v1",
    ]);
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wschaos"))
            .args(["check-server", "--target", &url, "--seed", "1"])
            .args([
                "--case",
                "ok.text",
                "--case",
                "rsv.rsv1",
                "--case",
                "handshake.version-8",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[
        "--header",
        "Authorization: Bearer t0k",
        "--subprotocol",
        "x.other",
        "--subprotocol",
        "chat.v1",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("2 pass, 0 non-strict, 0 fail, 1 info"),
        "{text}"
    );
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HTTP 401 to a valid upgrade"), "{err}");
}

/// A server that agrees to what the client asks of its compression and then
/// does not keep to it: compressing with the previous messages' context after
/// agreeing to `server_no_context_takeover`, or with a 15-bit window after
/// agreeing to `server_max_window_bits=9`. Each flaw fails exactly the case
/// that negotiates it; the same cases pass against the library as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deflate_parameters_agreed_and_not_kept_to_fail() {
    if !python_ready() {
        return;
    }
    let ids = [
        "deflate.json-1k",
        "deflate.no-context-1k",
        "deflate.window-9-128k",
    ];
    let run = |url: String| async move {
        let cfg = server_check(&url, Duration::from_millis(2000), 3);
        let cases = catalogue(Side::Server, SEED)
            .into_iter()
            .filter(|c| ids.contains(&c.id.as_str()))
            .collect();
        by_id(run_suite(&cfg, cases).await)
    };
    let (_ok, url) = spawn_server();
    assert_verdicts(&run(url).await, |_| Verdict::Pass);
    let (_flawed, url) = spawn_server_with(&["--deflate-flaw", "keeps-context"]);
    let results = run(url).await;
    assert_verdicts(&results, |id| {
        if id == "deflate.no-context-1k" {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    });
    let note = results["deflate.no-context-1k"].note.clone().unwrap();
    assert!(note.contains("invalid data at message 2"), "{note}");
    let (_flawed, url) = spawn_server_with(&["--deflate-flaw", "wide-window"]);
    assert_verdicts(&run(url).await, |id| {
        if id == "deflate.window-9-128k" {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    });
}

/// A sample of every bulk family in both roles (the whole of them takes
/// minutes in a debug build; README gives a release run of all): the largest
/// message, the smallest frames, the smallest writes, 1,000 round trips, 1,000
/// compressed messages, and the largest compressed messages in frames with each
/// deflate negotiation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_bulk_sample_both_sides() {
    if !python_ready() {
        return;
    }
    let globs: Vec<String> = [
        "limits.text-16m",
        "limits.binary-4m-frames-64",
        "limits.text-1m+chop64",
        "limits.binary-1000x16",
        "deflate.json-16",
        "deflate.*-128k-frames-32k",
    ]
    .map(String::from)
    .to_vec();
    let want = |id: &str| {
        if TOO_MANY_FRAGMENTS.contains(&id) {
            Verdict::Info
        } else {
            Verdict::Pass
        }
    };
    let (_server, url) = spawn_server_with(&["--max-size", "33554432"]);
    let cfg = server_check(&url, Duration::from_millis(3000), 4);
    let cases = wschaos::catalogue::select(catalogue(Side::Server, SEED), &globs);
    assert_eq!(cases.len(), 16);
    let results = by_id(run_suite(&cfg, cases).await);
    assert_verdicts(&results, want);

    let cases = wschaos::catalogue::select(catalogue(Side::Client, SEED), &globs);
    let results = client_run(cases, Duration::from_millis(3000), Duration::from_secs(150)).await;
    assert_eq!(results.len(), 16);
    assert_verdicts(&results, want);
}
