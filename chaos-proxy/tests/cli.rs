//! The `wschaos` binary's contract: exit codes, one-line errors, JSON and JUnit
//! output, all against loopback targets on ephemeral ports.

use std::process::{Command, Output};
use std::time::Duration;

use wschaos_targets::{ServerFlaw, spawn_echo_server};

fn wschaos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wschaos"))
        .args(args)
        .output()
        .expect("run wschaos")
}

fn one_line_error(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// A port that was free a moment ago and has nothing listening.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn unreachable_target_is_exit_2_never_a_pass() {
    let url = format!("ws://127.0.0.1:{}/", closed_port());
    let out = wschaos(&[
        "check-server",
        "--target",
        &url,
        "--seed",
        "1",
        "--timeout-ms",
        "500",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = one_line_error(&out);
    assert!(err.contains("cannot connect"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_url_and_bad_case_glob_are_exit_2() {
    for url in [
        "http://127.0.0.1:1/",
        "ws://127.0.0.1:0/",
        "ws://",
        "wss://",
    ] {
        let out = wschaos(&["check-server", "--target", url]);
        assert_eq!(out.status.code(), Some(2), "{url}");
        assert!(one_line_error(&out).contains("bad target URL"), "{url}");
    }
    // wss:// is a target like any other: nothing listening is one line.
    let out = wschaos(&[
        "check-server",
        "--target",
        "wss://127.0.0.1:1/",
        "--seed",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_error(&out).contains("cannot connect to 127.0.0.1:1"));
    let out = wschaos(&["check-client", "--listen", "not-an-address"]);
    assert_eq!(out.status.code(), Some(2));
    one_line_error(&out);
    let out = wschaos(&["cases", "--format", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn port_in_use_is_exit_2() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let out = wschaos(&["check-client", "--listen", &addr, "--wait-s", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = one_line_error(&out);
    assert!(err.contains("cannot listen"), "{err}");
}

#[test]
fn json_and_junit_reports_and_exit_codes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (good, broken) = rt.block_on(async {
        (
            spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
                .await
                .unwrap(),
            spawn_echo_server("127.0.0.1:0", ServerFlaw::AcceptUnmasked)
                .await
                .unwrap(),
        )
    });
    let dir = std::env::temp_dir().join(format!("wschaos-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json_path = dir.join("r.json");
    let url = format!("ws://{}/", good.addr);
    let out = wschaos(&[
        "check-server",
        "--target",
        &url,
        "--case",
        "mask.*",
        "--case",
        "ok.text",
        "--seed",
        "5",
        "--format",
        "json",
        "--out",
        json_path.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report =
        wschaos::report::json::parse(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(report.seed, 5);
    assert_eq!(report.cases.len(), 5); // two mask cases, their chop variants, ok.text
    assert_eq!(report.summary.pass, 5);
    assert!(
        !dir.join("r.json.repro").exists(),
        "no repro files when all pass"
    );

    let url = format!("ws://{}/", broken.addr);
    let repro = dir.join("repro");
    let out = wschaos(&[
        "check-server",
        "--target",
        &url,
        "--case",
        "mask.unmasked-text",
        "--seed",
        "5",
        "--format",
        "junit",
        "--repro-dir",
        repro.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let xml = String::from_utf8(out.stdout).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .count(),
        1
    );
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("failure"))
            .count(),
        1
    );
    // The repro file replays to the same reaction.
    let file = repro.join("mask.unmasked-text.bin");
    assert!(file.is_file());
    let out = wschaos(&["replay", "--target", &url, file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("-> fail"), "{text}");
    assert_eq!(out.status.code(), Some(1));
    // With --out, repro files go next to the report and the report names them.
    let b_json = dir.join("b.json");
    let out = wschaos(&[
        "check-server",
        "--target",
        &url,
        "--case",
        "mask.unmasked-text",
        "--seed",
        "5",
        "--format",
        "json",
        "--out",
        b_json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report = wschaos::report::json::parse(&std::fs::read_to_string(&b_json).unwrap()).unwrap();
    let repro = report.cases[0]
        .repro
        .clone()
        .expect("repro path in the report");
    assert!(
        repro.contains("b.json.repro") && std::path::Path::new(&repro).is_file(),
        "{repro}"
    );
    let url = format!("ws://{}/", good.addr);
    let out = wschaos(&["replay", "--target", &url, file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("-> pass"));
    assert_eq!(out.status.code(), Some(0));
    rt.block_on(async {
        good.shutdown().await;
        broken.shutdown().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
    let _ = Duration::ZERO;
}

#[test]
fn cases_lists_the_catalogue() {
    let out = wschaos(&["cases", "--format", "json", "--side", "client"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"extension.stripped") && ids.contains(&"mask.masked-text"));
}

#[test]
fn a_reader_that_goes_away_is_not_a_panic() {
    // `wschaos cases | head -0`: the pipe is closed before anything is written
    // (the read end is dropped right after the spawn, long before the catalogue
    // is built), so the write fails with EPIPE.
    use std::process::Stdio;
    for side in ["server", "client"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wschaos"))
            .args(["cases", "--side", side])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(out.status.code(), Some(0), "{stderr}");
    }
}

#[test]
fn proxy_rejects_bad_specs_and_addresses_with_exit_2() {
    for (args, needle) in [
        (vec!["--fault", "flip-mask@sideways"], "direction"),
        (vec!["--fault", "teleport"], "unknown fault"),
        (vec!["--fault", "set-rsv:bit=9"], "bit=9"),
    ] {
        let mut all = vec![
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "127.0.0.1:1",
        ];
        all.extend(args);
        let out = wschaos(&all);
        assert_eq!(out.status.code(), Some(2));
        let err = one_line_error(&out);
        assert!(err.contains(needle), "{err}");
    }
    let out = wschaos(&["proxy", "--listen", "nowhere", "--upstream", "127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(2));
    one_line_error(&out);
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let out = wschaos(&["proxy", "--listen", &addr, "--upstream", "127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_error(&out).contains("cannot listen"));
}

#[test]
fn proxy_ctrl_c_settles_and_flushes_the_report() {
    proxy_signal_settles_and_flushes_the_report("INT");
}

/// SIGTERM (docker stop, systemd, Kubernetes) is handled as SIGINT is.
#[test]
fn proxy_sigterm_settles_and_flushes_the_report() {
    proxy_signal_settles_and_flushes_the_report("TERM");
}

fn proxy_signal_settles_and_flushes_the_report(signal: &str) {
    use std::io::{BufRead, BufReader};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(spawn_echo_server("127.0.0.1:0", ServerFlaw::None))
        .unwrap();
    let dir = scratch_dir(&format!("sig{signal}"));
    let report = dir.join("faults.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wschaos"))
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &server.addr.to_string(),
        ])
        .args([
            "--fault",
            "flip-mask@c2s",
            "--seed",
            "4",
            "--report",
            report.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    let addr = banner
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap_or_else(|| panic!("banner: {banner}"))
        .to_owned();
    rt.block_on(async {
        use futures_util::SinkExt;
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .unwrap();
        ws.send(tokio_tungstenite::tungstenite::Message::text("hi"))
            .await
            .unwrap();
        // Leave the connection open: the signal must settle it. The fault's line
        // is in the report as soon as the server has reacted.
        wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(&report).is_ok_and(|s| s.ends_with('\n'))
        });
        kill(&child, signal);
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        let code = child.wait().unwrap().code();
        drop(ws);
        assert!(rest.contains("1 faults injected: 1 pass"), "{rest}");
        assert_eq!(code, Some(0));
    });
    let lines = std::fs::read_to_string(&report).unwrap();
    assert_eq!(lines.lines().count(), 1, "{lines}");
    let line: serde_json::Value = serde_json::from_str(lines.trim()).unwrap();
    assert_eq!(line["verdict"], "pass");
    assert_eq!(line["observed"]["code"], 1002);
    rt.block_on(server.shutdown());
    let _ = std::fs::remove_dir_all(&dir);
}

/// L2: SIGINT during check-server writes the cases that completed, marked partial,
/// and exits 2 within the grace, although a case was still waiting for the target.
#[test]
fn check_server_interrupted_writes_a_partial_report() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static TEXT_FRAMES: AtomicUsize = AtomicUsize::new(0);
    static UPGRADES: AtomicUsize = AtomicUsize::new(0);
    // Answers every upgrade, then reads and never answers: frame cases hang.
    let addr = fake_server(|mut s| {
        if !answer_101(&mut s) {
            return;
        }
        UPGRADES.fetch_add(1, Ordering::SeqCst);
        let mut first = [0u8; 1];
        if std::io::Read::read_exact(&mut s, &mut first).is_ok() && first[0] == 0x81 {
            TEXT_FRAMES.fetch_add(1, Ordering::SeqCst);
        }
        drain(&mut s);
    });
    let dir = scratch_dir("partial-server");
    let out = dir.join("r.json");
    let url = format!("ws://{addr}/");
    let (mut child, _lines) = spawn_wschaos(&[
        "check-server",
        "--target",
        &url,
        "--case",
        "ok.text",
        "--case",
        "handshake.*",
        "--jobs",
        "4",
        "--timeout-ms",
        "30000",
        "--seed",
        "3",
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    // The probe and the three cases were answered and ok.text's frame is waiting.
    wait_until(Duration::from_secs(10), || {
        UPGRADES.load(Ordering::SeqCst) >= 4 && TEXT_FRAMES.load(Ordering::SeqCst) >= 1
    });
    // The handshake cases end on reading their 101; give that a moment.
    std::thread::sleep(Duration::from_millis(300));
    kill(&child, "INT");
    assert_eq!(exit_within(&mut child, Duration::from_secs(8)), Some(2));
    let text = std::fs::read_to_string(&out).unwrap();
    let report = wschaos::report::json::parse(&text).unwrap();
    assert!(report.partial, "{text}");
    // Normally both handshake cases completed; on a very slow machine one may
    // still have been waiting for its 101. ok.text never completes.
    let ids: Vec<&str> = report.cases.iter().map(|c| c.id.as_str()).collect();
    assert!(ids.iter().all(|id| id.starts_with("handshake.")), "{text}");
    assert_eq!(report.cases.len() + report.not_run, 3, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["partial"], true);
    assert_eq!(json["not_run"].as_u64(), Some(report.not_run as u64));
    let _ = std::fs::remove_dir_all(&dir);
}

/// L2: SIGINT during check-client keeps the case a client completed.
#[test]
fn check_client_interrupted_writes_a_partial_report() {
    let dir = scratch_dir("partial-client");
    let out = dir.join("r.json");
    let (mut child, lines) = spawn_wschaos(&[
        "check-client",
        "--listen",
        "127.0.0.1:0",
        "--case",
        "ok.text",
        "--case",
        "ok.binary",
        "--seed",
        "3",
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let line = line_with(&lines, "listening on ws://");
    let base = line
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let opts = wschaos_targets::ClientOptions {
        flaw: wschaos_targets::ClientFlaw::None,
        require_deflate: false,
        timeout: Duration::from_secs(5),
    };
    rt.block_on(wschaos_targets::run_echo_client_once(
        &format!("{base}/case/ok.text"),
        &opts,
    ))
    .unwrap();
    kill(&child, "INT");
    assert_eq!(exit_within(&mut child, Duration::from_secs(8)), Some(2));
    let report = wschaos::report::json::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(report.partial);
    assert_eq!(report.not_run, 1);
    assert_eq!(report.cases.len(), 1);
    assert_eq!(report.cases[0].id, "ok.text");
    assert_eq!(report.cases[0].verdict, wschaos::report::Verdict::Pass);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A second SIGINT exits at once with 130, without waiting for the grace.
#[test]
fn a_second_signal_exits_at_once() {
    use std::io::{Read, Write};
    let dir = scratch_dir("second-signal");
    let out = dir.join("r.json");
    let (mut child, lines) = spawn_wschaos(&[
        "check-client",
        "--listen",
        "127.0.0.1:0",
        "--case",
        "ok.text",
        "--timeout-ms",
        "30000",
        "--out",
        out.to_str().unwrap(),
    ]);
    let line = line_with(&lines, "listening on ws://");
    let addr = line
        .split("ws://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_owned();
    // Claim the case and then say nothing: it runs until its 30 s timeout.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(
        b"GET /case/ok.text HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut got = [0u8; 12];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"HTTP/1.1 101");
    kill(&child, "INT");
    line_with(&lines, "SIGINT: shutting down");
    kill(&child, "INT");
    // Without the second signal this would be 2, after the 2 s grace.
    assert_eq!(exit_within(&mut child, Duration::from_secs(5)), Some(130));
    assert!(!out.exists(), "no report after a forced exit");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// C2, V7: zero (and absurd) counts and times are refused before any work.
#[test]
fn zero_and_huge_bounds_are_exit_2() {
    let url = format!("ws://127.0.0.1:{}/", closed_port());
    let huge = u64::MAX.to_string();
    for (args, needle) in [
        (vec!["demo", "--jobs", "0"], "--jobs must be at least 1"),
        (
            vec!["check-server", "--target", &url, "--jobs", "0"],
            "--jobs must be at least 1",
        ),
        (
            vec!["check-server", "--target", &url, "--timeout-ms", "0"],
            "--timeout-ms must be at least 1",
        ),
        (
            vec!["check-server", "--target", &url, "--timeout-ms", &huge],
            "--timeout-ms must be at most",
        ),
        (
            vec!["check-server", "--target", &url, "--jobs", &huge],
            "--jobs must be at most",
        ),
        (
            vec!["check-client", "--listen", "127.0.0.1:0", "--wait-s", "0"],
            "--wait-s must be at least 1",
        ),
        (
            vec!["check-client", "--listen", "127.0.0.1:0", "--wait-s", &huge],
            "--wait-s must be at most",
        ),
        (
            vec!["replay", "--target", &url, "--timeout-ms", "0", "x.bin"],
            "--timeout-ms must be at least 1",
        ),
        (
            vec![
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                "127.0.0.1:1",
                "--reaction-timeout-ms",
                "0",
            ],
            "--reaction-timeout-ms must be at least 1",
        ),
    ] {
        let started = std::time::Instant::now();
        let out = wschaos(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(one_line_error(&out).contains(needle), "{args:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?}");
    }
}

/// L1, L3, F11: --out and --repro-dir are checked before anything runs, and a
/// missing directory is never created on the way.
#[test]
fn out_and_repro_dir_are_checked_before_any_case() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let broken = rt
        .block_on(spawn_echo_server("127.0.0.1:0", ServerFlaw::AcceptUnmasked))
        .unwrap();
    let dir = scratch_dir("out-check");
    let missing = dir.join("missing");
    let bad_out = missing.join("x.json");
    // check-client: before listening, so no run is thrown away at the end.
    let out = wschaos(&[
        "check-client",
        "--listen",
        "127.0.0.1:0",
        "--case",
        "ok.text",
        "--out",
        bad_out.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_error(&out).contains("cannot write"));
    // check-server with a failing case: the default FILE.repro/ must not create
    // the missing directory and let the run pass as written.
    let url = format!("ws://{}/", broken.addr);
    let out = wschaos(&[
        "check-server",
        "--target",
        &url,
        "--case",
        "mask.unmasked-text",
        "--out",
        bad_out.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_error(&out).contains("cannot write"));
    assert!(!missing.exists());
    // A --repro-dir that cannot be created, or is a regular file.
    let file = dir.join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    for repro in ["/proc/wschaos-nope", file.to_str().unwrap()] {
        let out = wschaos(&[
            "check-server",
            "--target",
            &url,
            "--case",
            "mask.unmasked-text",
            "--repro-dir",
            repro,
        ]);
        assert_eq!(out.status.code(), Some(2), "{repro}");
        assert!(one_line_error(&out).contains("--repro-dir"), "{repro}");
    }
    // An existing report is not truncated by the check, and is then written.
    let keep = dir.join("r.txt");
    std::fs::write(&keep, "old").unwrap();
    let out = wschaos(&[
        "check-server",
        "--target",
        &url,
        "--case",
        "ok.text",
        "--out",
        keep.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(std::fs::read_to_string(&keep).unwrap().contains("summary:"));
    rt.block_on(broken.shutdown());
    let _ = std::fs::remove_dir_all(&dir);
}

/// C3, V10: replay refuses what cannot be a recording before it connects, and
/// warns about a file that does not start like a client's frames.
#[test]
fn replay_refuses_what_is_not_a_recording() {
    let dir = scratch_dir("replay-files");
    let unreachable = format!("ws://127.0.0.1:{}/", closed_port());
    let empty = dir.join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    let fifo = dir.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let huge = dir.join("huge.bin");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(17 * 1024 * 1024)
        .unwrap();
    for (file, needle) in [
        ("/dev/zero", "not a regular file"),
        (fifo.to_str().unwrap(), "not a regular file"),
        (dir.to_str().unwrap(), "not a regular file"),
        (empty.to_str().unwrap(), "empty"),
        (huge.to_str().unwrap(), "more than"),
    ] {
        let started = std::time::Instant::now();
        let out = wschaos(&["replay", "--target", &unreachable, file]);
        assert_eq!(out.status.code(), Some(2), "{file}");
        assert!(one_line_error(&out).contains(needle), "{file}");
        assert!(started.elapsed() < Duration::from_secs(5), "{file}");
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let good = rt
        .block_on(spawn_echo_server("127.0.0.1:0", ServerFlaw::None))
        .unwrap();
    let report = dir.join("r.json");
    std::fs::write(&report, br#"{"tool": "wschaos", "cases": []}"#).unwrap();
    let url = format!("ws://{}/", good.addr);
    let out = wschaos(&["replay", "--target", &url, report.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning:") && err.contains("JSON"), "{err}");
    rt.block_on(good.shutdown());
    let _ = std::fs::remove_dir_all(&dir);
}

/// V8: the scheme in any case; a space in the path is encoded; a fragment or a
/// control character is refused with one line.
#[test]
fn target_urls_are_checked_and_encoded() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let good = rt
        .block_on(spawn_echo_server("127.0.0.1:0", ServerFlaw::None))
        .unwrap();
    for url in [
        format!("WS://{}/", good.addr),
        format!("ws://{}/a b", good.addr),
    ] {
        let out = wschaos(&[
            "check-server",
            "--target",
            &url,
            "--case",
            "ok.text",
            "--seed",
            "1",
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{url}: {text}");
        assert!(text.contains("1 pass"), "{text}");
    }
    for (url, needle) in [
        (format!("ws://{}/p?a=b#frag", good.addr), "fragment"),
        (format!("ws://{}/a\u{1}b", good.addr), "control characters"),
        (
            format!("ws://{}/a\r\nX-Evil: 1", good.addr),
            "control characters",
        ),
    ] {
        let out = wschaos(&["check-server", "--target", &url]);
        assert_eq!(out.status.code(), Some(2), "{url:?}");
        assert!(one_line_error(&out).contains(needle), "{url:?}");
    }
    rt.block_on(good.shutdown());
}

/// F3, F12, F13: --upstream is parsed at start-up (ws://HOST:PORT/ taken with a
/// note), the proxy refuses to be its own upstream, and --record is checked.
#[test]
fn proxy_checks_upstream_and_record_at_startup() {
    let port = closed_port();
    let dir = scratch_dir("proxy-startup");
    let plain = dir.join("plain-file");
    std::fs::write(&plain, b"x").unwrap();
    let same = format!("127.0.0.1:{port}");
    for (extra, needle) in [
        (
            vec!["--upstream", "127.0.0.1:9001/path"],
            "expected HOST:PORT",
        ),
        (vec!["--upstream", "127.0.0.1:9001:9001"], "one colon"),
        (
            vec!["--upstream", "ws://127.0.0.1:9001/chat"],
            "expected HOST:PORT",
        ),
        (vec!["--upstream", &same], "connect to itself"),
        (
            vec![
                "--upstream",
                "127.0.0.1:1",
                "--record",
                plain.to_str().unwrap(),
            ],
            "--record",
        ),
    ] {
        let mut args = vec!["proxy", "--listen", &same];
        args.extend(extra);
        let out = wschaos(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(one_line_error(&out).contains(needle), "{args:?}");
    }
    let record = dir.join("rec/nested");
    let (mut child, lines) = spawn_wschaos(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "ws://127.0.0.1:1/",
        "--seed",
        "1",
        "--record",
        record.to_str().unwrap(),
    ]);
    assert!(line_with(&lines, "note:").contains("taken as 127.0.0.1:1"));
    assert!(line_with(&lines, "listening on").contains("upstream 127.0.0.1:1,"));
    assert!(record.is_dir());
    kill(&child, "TERM");
    assert_eq!(exit_within(&mut child, Duration::from_secs(10)), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// F7, F9: an unmatched glob is a warning, a bad --log filter an error, and log
/// lines carry no colour codes when stderr is not a terminal.
#[test]
fn unmatched_globs_bad_log_filters_and_plain_logs() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let good = rt
        .block_on(spawn_echo_server("127.0.0.1:0", ServerFlaw::None))
        .unwrap();
    let url = format!("ws://{}/", good.addr);
    let out = wschaos(&[
        "--log",
        "debug",
        "check-server",
        "--target",
        &url,
        "--case",
        "ok.text",
        "--case",
        "typo*",
        "--seed",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("typo*"), "{err}");
    assert!(err.contains("DEBUG"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    let out = wschaos(&["--log", "wschaos=[[[", "cases"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_error(&out).contains("--log"));
    rt.block_on(good.shutdown());
}

/// F4: a target that does not speak WebSocket is one line and exit 2, not a
/// report full of `fail`; so is a check-client run no client came to.
#[test]
fn a_target_that_is_not_websocket_is_exit_2() {
    use std::io::Write;
    let silent = fake_server(|mut s| drain(&mut s));
    let http_200 = fake_server(|mut s| {
        read_request(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
        drain(&mut s);
    });
    let closes = fake_server(drop);
    let garbage = fake_server(|mut s| {
        if answer_101(&mut s) {
            let _ = s.write_all(b"garbage, not frames\r\n");
            drain(&mut s);
        }
    });
    for (addr, needle) in [
        (silent, "no answer to a valid upgrade"),
        (http_200, "HTTP 200 to a valid upgrade"),
        (closes, "closed without an answer"),
        (garbage, "invalid frame data after the 101"),
    ] {
        let url = format!("ws://{addr}/");
        let out = wschaos(&[
            "check-server",
            "--target",
            &url,
            "--timeout-ms",
            "500",
            "--seed",
            "1",
        ]);
        assert_eq!(out.status.code(), Some(2), "{needle}");
        let err = one_line_error(&out);
        assert!(
            err.contains("target does not speak WebSocket") && err.contains(needle),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    let out = wschaos(&[
        "check-client",
        "--listen",
        "127.0.0.1:0",
        "--wait-s",
        "1",
        "--seed",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: no client"), "{err}");
}

/// V9: a server that hangs up on its own right after its 101 (at once, or with a
/// reset 200 ms later without reading) is not credited with a reaction to any
/// violation: check-server and replay stop with one line saying so.
#[test]
fn a_server_that_hangs_up_after_the_101_is_not_credited() {
    let at_once = fake_server(|mut s| {
        answer_101(&mut s);
    });
    let later = fake_server(|mut s| {
        if answer_101(&mut s) {
            std::thread::sleep(Duration::from_millis(200));
            // Unread bytes make the close a reset.
        }
    });
    let dir = scratch_dir("hang-up");
    // A masked text frame with RSV1 set (no extension agreed): owes a 1002.
    let repro = dir.join("rsv1.bin");
    std::fs::write(&repro, [0xc1, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]).unwrap();
    for addr in [at_once, later] {
        let url = format!("ws://{addr}/");
        for args in [
            vec![
                "check-server",
                "--seed",
                "1",
                "--target",
                &url,
                "--case",
                "mask.unmasked-text",
            ],
            vec!["replay", "--target", &url, repro.to_str().unwrap()],
        ] {
            let out = wschaos(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let err = one_line_error(&out);
            assert!(err.contains("hangs up right after the handshake"), "{err}");
            assert!(out.stdout.is_empty(), "{args:?}");
        }
    }
}

/// `--progress`: one stderr line per finished case, counted against the run.
#[test]
fn progress_prints_a_line_per_finished_case() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(spawn_echo_server("127.0.0.1:0", ServerFlaw::None))
        .unwrap();
    let url = format!("ws://{}/", server.addr);
    let out = wschaos(&[
        "check-server",
        "--target",
        &url,
        "--seed",
        "1",
        "--progress",
        "--case",
        "rsv.rsv?",
        "--case",
        "ok.text",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    let mut lines: Vec<&str> = err.lines().filter(|l| l.contains("/4 ")).collect();
    lines.sort_unstable();
    assert_eq!(lines.len(), 4, "{err}");
    for (i, l) in lines.iter().enumerate() {
        assert!(l.starts_with(&format!("{}/4 pass ", i + 1)), "{l}");
    }
    assert!(lines.iter().any(|l| l.ends_with(" ok.text")), "{err}");
    rt.block_on(server.shutdown());
}

/// F5: every subcommand's long help has its exit codes and an example, and the
/// options say what they do.
#[test]
fn help_explains_options_exit_codes_and_an_example() {
    for cmd in [
        "demo",
        "check-server",
        "check-client",
        "replay",
        "proxy",
        "cases",
    ] {
        let out = wschaos(&[cmd, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{cmd}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Exit status: 0"), "{cmd}: {help}");
        assert!(
            help.contains(&format!("Example:\n  wschaos {cmd}")),
            "{cmd}: {help}"
        );
        if cmd != "cases" && cmd != "replay" {
            assert!(help.contains("Seed for"), "{cmd}: {help}");
        }
    }
    let help = String::from_utf8_lossy(&wschaos(&["proxy", "--help"]).stdout).into_owned();
    assert!(
        help.contains("latency:ms=N(100)") && help.contains("defaults to both"),
        "{help}"
    );
}

/// F6: --strict makes non-strict fail the run and the JUnit case.
#[test]
fn strict_makes_non_strict_a_failure() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dropper = rt
        .block_on(spawn_echo_server("127.0.0.1:0", ServerFlaw::DropOnError))
        .unwrap();
    let url = format!("ws://{}/", dropper.addr);
    let base = [
        "check-server",
        "--target",
        &url,
        "--case",
        "rsv.rsv2",
        "--seed",
        "1",
        "--format",
        "junit",
    ];
    let out = wschaos(&base);
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("<failure"));
    let mut strict = base.to_vec();
    strict.push("--strict");
    let out = wschaos(&strict);
    assert_eq!(out.status.code(), Some(1));
    let xml = String::from_utf8(out.stdout).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failures = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .count();
    assert_eq!(failures, 1, "{xml}");
    rt.block_on(dropper.shutdown());
}

// ---- helpers for the tests below ----

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wschaos-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn kill(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Polls `done` every 20 ms; panics after `limit`.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "condition not met within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `wschaos ARGS` with its stderr lines delivered on a channel as they come.
fn spawn_wschaos(args: &[&str]) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_wschaos"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits for a stderr line containing `needle`; returns it.
fn line_with(lines: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(e) => panic!("no stderr line with {needle:?}: {e}"),
        }
    }
}

/// Waits for the child to exit, at most `limit`; returns its status code.
fn exit_within(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP server on 127.0.0.1 that runs `conn` on each connection in its own
/// thread. The listener lives as long as the test process.
fn fake_server(conn: fn(std::net::TcpStream)) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || conn(stream));
        }
    });
    addr
}

/// Reads an HTTP request head; returns it (empty when the peer went away).
fn read_request(s: &mut std::net::TcpStream) -> Vec<u8> {
    use std::io::Read;
    let mut head = Vec::new();
    let mut b = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(0) | Err(_) => return Vec::new(),
            Ok(n) => head.extend_from_slice(&b[..n]),
        }
    }
    head
}

/// Answers the upgrade request with a valid 101 (any request gets one).
fn answer_101(s: &mut std::net::TcpStream) -> bool {
    use std::io::Write;
    let head = read_request(s);
    if head.is_empty() {
        return false;
    }
    let text = String::from_utf8_lossy(&head);
    let key = text
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    let accept = wschaos_codec::handshake::accept_key(key.as_bytes());
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    s.write_all(resp.as_bytes()).is_ok()
}

/// Reads until the peer goes away.
fn drain(s: &mut std::net::TcpStream) {
    let _ = std::io::copy(s, &mut std::io::sink());
}
