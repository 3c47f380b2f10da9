//! Drop-in where Autobahn|Testsuite runs today: the fuzzingserver client
//! harnesses that libraries ship, unchanged but for the URL, driving
//! `wschaos check-client` through Autobahn's paths (`/getCaseCount`,
//! `/runCase?case=N&agent=A`, `/updateReports?agent=A`). aiohttp's own
//! `tests/autobahn/client/client.py` is fetched from its PyPI sdist by
//! `scripts/fetch-harnesses`; `targets/python/autobahn_client.py` follows the URL
//! sequence of websockets' compliance client. 127.0.0.1, ephemeral ports.
//! Without the peers the tests are skipped, unless WSCHAOS_REQUIRE_PEERS=1 (as in
//! CI), where that is a failure.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn required() -> bool {
    std::env::var("WSCHAOS_REQUIRE_PEERS").as_deref() == Ok("1")
}

/// Whether `python3 -c import <module>` works; skips (or, when required, fails).
fn python_has(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(!required(), "python3 with {module} is required here");
        eprintln!("skipped: python3 with {module} not found");
    }
    ok
}

/// Runs check-client over the whole client catalogue (with `--report-dir`),
/// then `harness(url)`, and returns check-client's stderr and JSON report; the
/// report directory is checked by `check_report_dir`. Both must end by themselves.
fn run(name: &str, harness: impl FnOnce(&str) -> Command) -> (String, serde_json::Value) {
    let dir = std::env::temp_dir().join(format!("wschaos-harness-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("report.json");
    let mut checker = Command::new(env!("CARGO_BIN_EXE_wschaos"))
        .args([
            "check-client",
            "--listen",
            "127.0.0.1:0",
            "--timeout-ms",
            "1000",
        ])
        .args([
            "--wait-s", "300", "--seed", "1", "--format", "json", "--out",
        ])
        .arg(&out)
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(checker.stderr.take().unwrap());
    let mut banner = String::new();
    err.read_line(&mut banner).unwrap();
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .expect("listening banner")
        .trim_end_matches('/')
        .to_owned();
    let started = Instant::now();
    let status = harness(&url).status().unwrap();
    assert!(status.success(), "{name}: the harness failed: {status}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let code = checker.wait().unwrap().code();
    assert!(
        started.elapsed() < Duration::from_secs(290),
        "{name}: check-client did not end when the harness was done"
    );
    assert!(matches!(code, Some(0 | 1)), "{name}: exit {code:?}\n{rest}");
    let report = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    check_report_dir(name, &dir.join("reports"), &report);
    let _ = std::fs::remove_dir_all(&dir);
    (banner + &rest, report)
}

/// The report directory Autobahn users read: index.json with every case of the
/// run for the harness's agent (and our verdict beside Autobahn's words), a case
/// file per case with its exchange, wschaos.json and index.html.
fn check_report_dir(name: &str, dir: &Path, report: &serde_json::Value) {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let agents = index.as_object().unwrap();
    assert_eq!(agents.len(), 1, "{name}: {:?}", agents.keys());
    let (agent, cases) = agents.iter().next().unwrap();
    let cases = cases.as_object().unwrap();
    let ran = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), ran.len(), "{name}: every case for {agent}");
    for c in ran {
        let id = c["id"].as_str().unwrap();
        let e = &cases[id];
        assert_eq!(e["wschaos"], c["verdict"], "{name} {id}");
        let file = dir.join(e["reportfile"].as_str().unwrap());
        assert!(file.is_file(), "{name}: {}", file.display());
    }
    let sample: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join(cases["ok.text"]["reportfile"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert!(
        sample["httpRequest"]
            .as_str()
            .unwrap()
            .contains("/runCase?"),
        "{name}: {sample}"
    );
    let frames = sample["wirelog"].as_array().unwrap();
    assert!(
        frames
            .iter()
            .any(|f| f["dir"] == "sent" && f["opcode_name"] == "text")
            && frames
                .iter()
                .any(|f| f["dir"] == "received" && f["opcode_name"] == "text"),
        "{name}: the echo both ways: {sample}"
    );
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert_eq!(html.matches("class=\"cell ").count(), ran.len(), "{name}");
    assert!(dir.join("wschaos.json").is_file());
}

/// What every harness run must show: the agent, every numbered case run (none
/// "never connected", none left unjudged), and the handshake cases left out with
/// a note rather than failed.
fn check_common(name: &str, agent: &str, err: &str, report: &serde_json::Value) {
    let cases = report["cases"].as_array().unwrap();
    let catalogue = Command::new(env!("CARGO_BIN_EXE_wschaos"))
        .args(["cases", "--side", "client", "--format", "json"])
        .output()
        .unwrap();
    let all: Vec<serde_json::Value> = serde_json::from_slice(&catalogue.stdout).unwrap();
    let handshake = all
        .iter()
        .filter(|c| {
            let id = c["id"].as_str().unwrap();
            id.starts_with("handshake.") || id.starts_with("extension.")
        })
        .count();
    assert_eq!(cases.len() + handshake, all.len(), "{name}: {err}");
    assert!(err.contains(&format!("agent(s): {agent}")), "{name}: {err}");
    assert!(
        err.contains(&format!("{handshake} handshake case(s) left out")),
        "{err}"
    );
    for c in cases {
        let note = c["note"].as_str().unwrap_or_default();
        assert!(!note.contains("never connected"), "{name}: {c}");
    }
    let verdict = |id: &str| {
        cases
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["verdict"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{name}: no {id}"))
    };
    // Valid traffic echoed, violations failed: the core of what both libraries do.
    for id in [
        "ok.text",
        "ok.ten-pings",
        "rsv.rsv1",
        "opcode.reserved-3",
        "utf8.invalid-text-ff",
    ] {
        assert_eq!(verdict(id), "pass", "{name}: {id}");
    }
}

#[test]
fn websockets_harness_runs_unchanged() {
    if !python_has("websockets") {
        return;
    }
    let script = root().join("targets/python/autobahn_client.py");
    let (err, report) = run("websockets", |url| {
        let mut c = Command::new("python3");
        c.arg(&script).args(["--url", url]);
        c
    });
    check_common("websockets", "websockets.asyncio", &err, &report);
}

#[test]
fn aiohttp_harness_runs_unchanged() {
    let harness = root().join("target/harnesses/aiohttp/client.py");
    if !harness.exists() || !python_has("aiohttp") {
        assert!(!required(), "run scripts/fetch-harnesses first");
        eprintln!("skipped: {} not fetched", harness.display());
        return;
    }
    let text = std::fs::read_to_string(&harness).unwrap();
    assert!(
        text.contains("http://localhost:9001"),
        "the harness changed"
    );
    let (err, report) = run("aiohttp", |url| {
        // The only change: the URL it hard-codes, so the test can use an ephemeral port.
        let url = url.replacen("ws://", "http://", 1);
        let copy = patched(&harness, &text.replace("http://localhost:9001", &url));
        let mut c = Command::new("python3");
        c.arg(copy);
        c
    });
    check_common("aiohttp", "aiohttp", &err, &report);
    // aiohttp ignores masking as a client: a real finding, kept as a check.
    let masked = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "mask.masked-text")
        .unwrap();
    assert_eq!(masked["verdict"], "fail", "{masked}");
}

fn patched(original: &Path, text: &str) -> PathBuf {
    let copy = std::env::temp_dir().join(format!(
        "wschaos-{}-{}.py",
        original.file_stem().unwrap().to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&copy, text).unwrap();
    copy
}
