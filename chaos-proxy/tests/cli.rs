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
        "wss://127.0.0.1:1/",
        "ws://127.0.0.1:0/",
        "ws://",
    ] {
        let out = wschaos(&["check-server", "--target", url]);
        assert_eq!(out.status.code(), Some(2), "{url}");
        assert!(one_line_error(&out).contains("bad target URL"), "{url}");
    }
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
    use std::io::{BufRead, BufReader};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(spawn_echo_server("127.0.0.1:0", ServerFlaw::None))
        .unwrap();
    let dir = std::env::temp_dir().join(format!("wschaos-sigint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
        // Leave the connection open: Ctrl-C must settle it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
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
