//! TLS in all three tools, against peers nobody on the team wrote: Python
//! `websockets` and Node `ws` serving and connecting over wss:// with
//! certificates made here (a private CA from `wschaos::tls::TestPki`), on
//! 127.0.0.1 with ephemeral ports.
//!
//! - check-server against a wss:// websockets server (`--ca-file`) gives the
//!   same verdict as over plain ws:// for every case of the catalogue but the
//!   bulk ones (a sample of those is run too);
//! - check-client serves wss:// to the websockets client, with the same verdicts
//!   as over ws://;
//! - the proxy with TLS on both sides, a fault on, between a websockets client
//!   and a websockets wss:// server, reports the right verdict; the four
//!   plain/TLS combinations carry Node `ws` traffic unchanged;
//! - the command line: a certificate from an unknown CA is one error line,
//!   `--insecure` warns and goes on, `--tls-self-signed` prints a fingerprint.
//!
//! Without the peers the tests are skipped with a message, unless
//! WSCHAOS_REQUIRE_PEERS=1 (as in CI).

mod peers;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use peers::{Kill, Lib, peers_ready, run_bounded, wait_for_line};
use tokio::net::TcpListener;
use wschaos::catalogue::{Side, catalogue};
use wschaos::check::client::{ClientCheck, serve};
use wschaos::check::server::{ServerCheck, run_suite};
use wschaos::report::{CaseResult, Verdict};
use wschaos::tls::{Acceptor, Connector, TestPki, Trust};
use wschaos::url::WsUrl;

const BIN: &str = env!("CARGO_BIN_EXE_wschaos");
const SEED: u64 = 7;

/// A private CA and a certificate for 127.0.0.1 and localhost, written to a
/// directory of the test's own.
struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        let pki = TestPki::generate(&["127.0.0.1", "localhost"]).unwrap();
        let (ca, cert, key) = pki.write(&dir).unwrap();
        Pki { dir, ca, cert, key }
    }

    fn tls_args(&self) -> [String; 4] {
        [
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }
}

/// Starts a library's echo server with `args`; returns its guard and URL.
fn server(lib: Lib, args: &[String]) -> (Kill, String) {
    let mut child = lib
        .server_command()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = Kill(child);
    let line = wait_for_line(stdout, "listening on ", Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("the {} server did not start: {e}", lib.name()));
    let url = line
        .split("listening on ")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    (guard, url)
}

fn server_check(url: &str, tls: Option<Connector>) -> ServerCheck {
    ServerCheck {
        target: WsUrl::parse(url).unwrap(),
        seed: SEED,
        timeout: Duration::from_millis(2000),
        jobs: 8,
        repro_dir: None,
        extras: Default::default(),
        progress: false,
        tls,
    }
}

fn by_id(results: Vec<CaseResult>) -> HashMap<String, CaseResult> {
    results.into_iter().map(|r| (r.id.clone(), r)).collect()
}

/// Every case whose verdict differs between the two runs, listed.
fn differences(
    plain: &HashMap<String, CaseResult>,
    tls: &HashMap<String, CaseResult>,
) -> Vec<String> {
    let mut diff: Vec<String> = plain
        .iter()
        .filter(|(id, r)| tls.get(*id).map(|t| t.verdict) != Some(r.verdict))
        .map(|(id, r)| {
            let t = tls.get(id);
            format!(
                "{id}: ws:// {:?} {:?}, wss:// {:?} {:?} {:?}",
                r.verdict,
                r.observed,
                t.map(|t| t.verdict),
                t.map(|t| &t.observed),
                t.and_then(|t| t.note.as_ref())
            )
        })
        .collect();
    diff.sort();
    diff
}

/// Every one of `total` cases has the same verdict in both runs, and the runs
/// are not ones where nothing happened (most cases pass).
fn assert_same_verdicts(
    plain: &HashMap<String, CaseResult>,
    tls: &HashMap<String, CaseResult>,
    total: usize,
) {
    assert_eq!(tls.len(), total);
    let diff = differences(plain, tls);
    assert!(
        diff.is_empty(),
        "{} of {total} differ: {diff:#?}",
        diff.len()
    );
    let passed = tls.values().filter(|r| r.verdict == Verdict::Pass).count();
    assert!(passed > total / 2, "{passed} passed of {total}");
}

/// The bulk cases run over TLS: one of each family, small enough for a debug build.
const BULK_SAMPLE: [&str; 4] = [
    "limits.text-64k",
    "limits.binary-1m+chop2048",
    "deflate.json-64k",
    "deflate.no-context-window-9-64k",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_server_over_wss_gives_the_verdicts_of_plain_ws() {
    if !peers_ready() {
        return;
    }
    let pki = Pki::new("check-server");
    let max = ["--max-size".to_owned(), "33554432".to_owned()];
    let (_plain, plain_url) = server(Lib::Websockets, &max);
    let mut args = max.to_vec();
    args.extend(pki.tls_args());
    let (_tls, tls_url) = server(Lib::Websockets, &args);
    assert!(tls_url.starts_with("wss://"), "{tls_url}");
    let cases: Vec<_> = catalogue(Side::Server, SEED)
        .into_iter()
        .filter(|c| c.bulk.is_none() || BULK_SAMPLE.contains(&c.id.as_str()))
        .collect();
    let bulk = cases.iter().filter(|c| c.bulk.is_some()).count();
    assert_eq!(bulk, BULK_SAMPLE.len(), "every sampled bulk case exists");
    let connector = Connector::new(&Trust::CaFile(pki.ca.clone())).unwrap();
    let plain = by_id(run_suite(&server_check(&plain_url, None), cases.clone()).await);
    let tls = by_id(run_suite(&server_check(&tls_url, Some(connector)), cases.clone()).await);
    assert_same_verdicts(&plain, &tls, cases.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_client_serves_wss_with_the_verdicts_of_plain_ws() {
    if !peers_ready() {
        return;
    }
    let pki = Pki::new("check-client");
    let pick = |c: &wschaos::catalogue::Case| {
        c.bulk.is_none()
            && [
                "ok.",
                "mask.",
                "rsv.",
                "opcode.",
                "control.",
                "close.",
                "utf8.invalid",
                "deflate.",
            ]
            .iter()
            .any(|p| c.id.starts_with(p))
    };
    let cases: Vec<_> = catalogue(Side::Client, SEED)
        .into_iter()
        .filter(pick)
        .collect();
    let run = |tls: Option<Acceptor>| {
        let cases = cases.clone();
        let ca = pki.ca.clone();
        async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let scheme = if tls.is_some() { "wss" } else { "ws" };
            let base = format!("{scheme}://{}", listener.local_addr().unwrap());
            let cfg = ClientCheck {
                seed: SEED,
                timeout: Duration::from_millis(2000),
                wait: Duration::from_secs(90),
                repro_dir: None,
                progress: false,
                tls,
            };
            let server = tokio::spawn(serve(listener, cfg, cases));
            let client = Kill(
                Lib::Websockets
                    .client_command()
                    .args(["--base", &base, "--ca-file"])
                    .arg(&ca)
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap(),
            );
            let results = tokio::time::timeout(Duration::from_secs(120), server)
                .await
                .unwrap()
                .unwrap();
            drop(client);
            by_id(results)
        }
    };
    let plain = run(None).await;
    let tls = run(Some(Acceptor::from_pem_files(&pki.cert, &pki.key).unwrap())).await;
    assert_same_verdicts(&plain, &tls, cases.len());
}

/// A `wschaos proxy` child with `args`; returns its guard and listen address.
fn proxy(args: &[String]) -> (Kill, String) {
    let mut child = Command::new(BIN)
        .arg("proxy")
        .args(["--listen", "127.0.0.1:0", "--seed", "1"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = peers::stderr_line(&mut child, "listening on", Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("the proxy did not start: {e}"));
    let addr = line
        .split("listening on ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .trim_start_matches("wss://")
        .to_owned();
    (Kill(child), addr)
}

fn upstream_of(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

fn read_report(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn websockets_through_the_proxy_with_tls_on_both_sides_and_a_fault() {
    if !peers_ready() {
        return;
    }
    let pki = Pki::new("proxy-websockets");
    let (_server, url) = server(Lib::Websockets, &pki.tls_args());
    let report = pki.dir.join("faults.jsonl");
    let mut args: Vec<String> = vec!["--upstream".into(), upstream_of(&url)];
    args.extend(pki.tls_args());
    args.extend([
        "--upstream-tls".into(),
        "--upstream-ca".into(),
        pki.ca.display().to_string(),
        "--report".into(),
        report.display().to_string(),
        "--record".into(),
        pki.dir.join("rec").display().to_string(),
        // The client's first message reaches the server with RSV2 set.
        "--fault".into(),
        "set-rsv@c2s:bit=2,nth=1".into(),
    ]);
    let (mut faulty, addr) = proxy(&args);
    let roundtrip = |url: String| {
        let mut c = Command::new("python3");
        c.arg(peers::targets_dir().join("python/ws_roundtrip.py"))
            .args(["--url", &url, "--count", "3", "--ca-file"])
            .arg(&pki.ca);
        run_bounded(c, Duration::from_secs(30))
    };
    let (code, out, err) = roundtrip(format!("wss://{addr}/"));
    assert_eq!(
        code,
        Some(1),
        "the server must fail the connection: {out} {err}"
    );
    assert_eq!(faulty.interrupt(Duration::from_secs(10)), Some(0));
    let lines = read_report(&report);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert_eq!(line["fault"], "set-rsv@c2s:bit=2,nth=1", "{line}");
    assert_eq!(line["verdict"], "pass", "{line}");
    assert_eq!(line["observed"]["code"], 1002, "{line}");
    // The recording holds the plaintext frames, as without TLS.
    let rec: Vec<_> = std::fs::read_dir(pki.dir.join("rec")).unwrap().collect();
    assert!(!rec.is_empty());

    // And without a fault, compressed messages up to 200 kB come back unchanged.
    let mut args: Vec<String> = vec!["--upstream".into(), format!("wss://{}", upstream_of(&url))];
    args.extend(pki.tls_args());
    args.extend(["--upstream-ca".into(), pki.ca.display().to_string()]);
    let (_proxy, addr) = proxy(&args);
    let (code, out, err) = roundtrip(format!("wss://{addr}/"));
    assert_eq!(code, Some(0), "{out} {err}");
}

#[test]
fn node_ws_traffic_through_every_plain_and_tls_combination() {
    if !peers_ready() {
        return;
    }
    let pki = Pki::new("proxy-node");
    let (_plain, plain_url) = server(Lib::NodeWs, &[]);
    let (_tls, tls_url) = server(Lib::NodeWs, &pki.tls_args());
    for (client_tls, upstream_tls) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut args: Vec<String> = vec!["--upstream".into()];
        if upstream_tls {
            args.push(upstream_of(&tls_url));
            args.extend([
                "--upstream-tls".into(),
                "--upstream-ca".into(),
                pki.ca.display().to_string(),
            ]);
        } else {
            args.push(upstream_of(&plain_url));
        }
        if client_tls {
            args.extend(pki.tls_args());
        }
        let (_proxy, addr) = proxy(&args);
        let scheme = if client_tls { "wss" } else { "ws" };
        node_traffic(
            &format!("{scheme}://{addr}/"),
            &pki.ca,
            &format!("client tls {client_tls}, upstream tls {upstream_tls}"),
        );
    }
    // The same settings from a config file: TLS on both sides.
    let config = pki.dir.join("proxies.toml");
    std::fs::write(
        &config,
        format!(
            "[[proxies]]\nname = \"tls\"\nlisten = \"127.0.0.1:0\"\nupstream = \"wss://{}\"\n\
             tls_cert = {:?}\ntls_key = {:?}\nupstream_ca = {:?}\n",
            upstream_of(&tls_url),
            pki.cert,
            pki.key,
            pki.ca
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["proxy", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = peers::stderr_line(&mut child, "listening on", Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("the proxy did not start: {e}"));
    let _proxy = Kill(child);
    let addr = line
        .split("listening on ")
        .nth(1)
        .unwrap()
        .split([',', ' '])
        .next()
        .unwrap()
        .trim_start_matches("wss://")
        .to_owned();
    node_traffic(
        &format!("wss://{addr}/"),
        &pki.ca,
        &format!("config file: {line}"),
    );
}

/// Node ws traffic (three echoes and a pong) through `url`, trusting `ca`.
fn node_traffic(url: &str, ca: &Path, label: &str) {
    let mut client = Lib::NodeWs.client_command();
    client
        .args(["--traffic", url, "--ping", "--ca-file"])
        .arg(ca);
    let (code, out, err) = run_bounded(client, Duration::from_secs(20));
    assert_eq!(code, Some(0), "{label}: {err}");
    let seen: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(seen["echoes"], 3, "{label}: {seen}");
    assert_eq!(seen["pong"], true, "{label}: {seen}");
    assert_eq!(seen["error"], serde_json::Value::Null, "{label}: {seen}");
}

#[test]
fn the_command_line_verifies_warns_and_prints_fingerprints() {
    if !peers_ready() {
        return;
    }
    let pki = Pki::new("cli");
    let (_server, url) = server(Lib::Websockets, &pki.tls_args());
    let check = |extra: &[&str]| {
        let mut c = Command::new(BIN);
        c.args([
            "check-server",
            "--target",
            &url,
            "--case",
            "ok.text",
            "--format",
            "json",
        ])
        .args(extra);
        run_bounded(c, Duration::from_secs(30))
    };
    // The system's roots do not know the test CA: one line, exit 2.
    let (code, _, err) = check(&[]);
    assert_eq!(code, Some(2), "{err}");
    let last = err.trim().lines().last().unwrap_or_default().to_owned();
    assert!(
        last.contains("TLS handshake with 127.0.0.1 failed"),
        "{err}"
    );
    let ca = pki.ca.display().to_string();
    let (code, out, err) = check(&["--ca-file", &ca]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("\"pass\""), "{out}");
    let (code, _, err) = check(&["--insecure"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("warning: --insecure"), "{err}");
    // A CA file that is not one.
    let (code, _, err) = check(&["--ca-file", &pki.key.display().to_string()]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("key.pem") && err.contains("no CERTIFICATE"),
        "{err}"
    );

    // check-client with a certificate made at start-up prints its fingerprint.
    let mut child = Command::new(BIN)
        .args([
            "check-client",
            "--listen",
            "127.0.0.1:0",
            "--tls-self-signed",
            "--wait-s",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = peers::stderr_line(&mut child, "fingerprint", Duration::from_secs(20)).unwrap();
    let fp = line.rsplit(' ').next().unwrap();
    assert_eq!(fp.len(), 95, "{line}");
    assert!(fp.split(':').all(|b| b.len() == 2), "{line}");
    let mut child = Kill(child);
    assert_eq!(
        child.wait_for(Duration::from_secs(20)),
        Some(2),
        "no client came: exit 2"
    );
}

/// A TLS client that reads slowly, through a proxy terminating TLS, from a
/// server that sends a lot and then waits: every byte arrives. (A TLS stream
/// may keep the ciphertext of a write it accepted while the socket was full
/// until it is flushed; the proxy flushes every write.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_behind_tls_gets_every_byte() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const SIZE: usize = 8 << 20;
    let pki = Pki::new("slow-reader");
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_addr = upstream.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = upstream.accept().await.unwrap();
        let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
        s.write_all(&data).await.unwrap();
        // Stays open: no end of stream flushes what the proxy holds.
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = std::sync::Arc::new(wschaos::proxy::state::ProxyState::new(Vec::new()).unwrap());
    let mut cfg = wschaos::proxy::server::ProxyConfig::new(up_addr.to_string(), 1, state);
    cfg.tls.listen = Some(Acceptor::from_pem_files(&pki.cert, &pki.key).unwrap());
    cfg.settings.handshake_timeout = Duration::from_secs(30);
    let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
    let proxy = tokio::spawn(wschaos::proxy::server::run(listener, cfg, async move {
        let _ = stop_rx.wait_for(|v| *v).await;
    }));
    let connector = Connector::new(&Trust::CaFile(pki.ca.clone())).unwrap();
    let mut conn = wschaos::tls::connect("127.0.0.1", addr.port(), Some(&connector))
        .await
        .unwrap();
    // A slow reader: the buffers on the way stay full, up to the last write.
    let mut got = Vec::with_capacity(SIZE);
    let mut chunk = vec![0u8; 64 * 1024];
    let read = async {
        while got.len() < SIZE {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let n = conn.read(&mut chunk).await.unwrap();
            assert!(n > 0, "end of stream after {} bytes", got.len());
            got.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .unwrap_or_else(|_| panic!("stalled: not every byte within 30 s"));
    assert!(got.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    let _ = stop.send(true);
    let _ = proxy.await;
    server.abort();
}
