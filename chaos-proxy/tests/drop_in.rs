//! wschaos where Autobahn|Testsuite runs today: `check-server` with several
//! servers (`--spec fuzzingclient.json`, repeated `--target`), the report
//! directory (`index.json` in Autobahn's schema, per-case files, `wschaos.json`,
//! `index.html`), the pass rules projects apply to Autobahn's index.json, and
//! `--baseline`. Loopback targets on ephemeral ports; every run is bounded.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wschaos_targets::{ServerFlaw, ServerHandle, spawn_echo_server};

fn wschaos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wschaos"))
        .args(args)
        .output()
        .expect("run wschaos")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wschaos-dropin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

fn servers(flaws: &[ServerFlaw]) -> (tokio::runtime::Runtime, Vec<ServerHandle>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let handles = rt.block_on(async {
        let mut v = Vec::new();
        for f in flaws {
            v.push(spawn_echo_server("127.0.0.1:0", *f).await.unwrap());
        }
        v
    });
    (rt, handles)
}

/// A child process that is killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Python's `websockets` echo server from targets/, or None (skip) when python3
/// or the library is missing, unless WSCHAOS_REQUIRE_PEERS=1.
fn python_echo_server() -> Option<(Child, String)> {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../targets/python/ws_echo_server.py");
    let spawned = Command::new("python3")
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let required = std::env::var("WSCHAOS_REQUIRE_PEERS").as_deref() == Ok("1");
    let Ok(mut child) = spawned else {
        assert!(!required, "python3 is required here");
        eprintln!("skipped: python3 not found");
        return None;
    };
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line);
        let _ = tx.send(line);
    });
    let child = Child(child);
    let line = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
    match line.split_whitespace().find(|w| w.starts_with("ws://")) {
        Some(url) => Some((child, url.to_owned())),
        None => {
            assert!(!required, "python3 with websockets is required here");
            eprintln!("skipped: the python websockets echo server did not start");
            None
        }
    }
}

/// Cases that give every verdict across the sample targets: valid traffic,
/// masking (AcceptUnmasked fails it), RSV bits (DropOnError: non-strict), a
/// close code the RFC leaves open (info).
const CASES: &[&str] = &[
    "--case",
    "ok.text",
    "--case",
    "mask.unmasked-text",
    "--case",
    "rsv.rsv2",
    "--case",
    "close.code-1012",
    "--case",
    "length.non-minimal-16",
];

#[test]
fn spec_with_two_servers_writes_one_index_with_both_agents() {
    let Some((_py, py_url)) = python_echo_server() else {
        return;
    };
    let (_rt, rust) = servers(&[ServerFlaw::None]);
    let dir = tmp("spec");
    let spec = dir.join("fuzzingclient.json");
    let out = dir.join("reports/servers");
    std::fs::write(
        &spec,
        serde_json::json!({
            "outdir": out,
            "options": {"failByDrop": false},
            "servers": [
                {"agent": "tungstenite-sample", "url": format!("ws://{}", rust[0].addr),
                 "options": {"version": 18}},
                {"url": py_url}
            ],
            "cases": ["1.1.*", "3.*", "rsv.rsv2"],
            "exclude-cases": ["3.3"],
            "exclude-agent-cases": {"tungstenite-*": ["1.1.8"]}
        })
        .to_string(),
    )
    .unwrap();
    let started = Instant::now();
    let run = wschaos(&[
        "check-server",
        "--spec",
        spec.to_str().unwrap(),
        "--seed",
        "3",
        "--timeout-ms",
        "1500",
    ]);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(matches!(run.status.code(), Some(0 | 1)), "{}", stderr(&run));
    let index = read_json(&out.join("index.json"));
    let agents: Vec<&String> = index.as_object().unwrap().keys().collect();
    assert_eq!(agents.len(), 2, "{agents:?}");
    // The spec names one agent; the other is the 101's Server: header.
    assert!(index.get("tungstenite-sample").is_some(), "{agents:?}");
    let py_agent = agents
        .iter()
        .find(|a| a.as_str() != "tungstenite-sample")
        .unwrap();
    assert!(py_agent.contains("websockets"), "{py_agent}");
    let ours = index["tungstenite-sample"].as_object().unwrap();
    let theirs = index[py_agent.as_str()].as_object().unwrap();
    // The same cases for both but those exclude-agent-cases takes away.
    let catalogue: Vec<Value> =
        serde_json::from_slice(&wschaos(&["cases", "--side", "server", "--format", "json"]).stdout)
            .unwrap();
    let covers = |id: &str, ab: &str| {
        catalogue
            .iter()
            .find(|c| c["id"] == id)
            .is_some_and(|c| c["autobahn"].as_array().unwrap().iter().any(|a| a == ab))
    };
    for id in theirs.keys() {
        assert!(!covers(id, "3.3"), "exclude-cases: {id}");
        assert_eq!(ours.contains_key(id), !covers(id, "1.1.8"), "{id}");
    }
    assert!(theirs.contains_key("rsv.rsv2"));
    assert!(theirs.keys().any(|id| covers(id, "1.1.8")));
    for (agent, cases) in index.as_object().unwrap() {
        for (id, e) in cases.as_object().unwrap() {
            for key in [
                "behavior",
                "behaviorClose",
                "duration",
                "remoteCloseCode",
                "reportfile",
                "wschaos",
            ] {
                assert!(e.get(key).is_some(), "{agent} {id}: no {key}");
            }
            let file = out.join(e["reportfile"].as_str().unwrap());
            let case = read_json(&file);
            assert_eq!(case["id"], id.as_str());
            assert!(
                case["httpRequest"]
                    .as_str()
                    .unwrap()
                    .starts_with("GET / HTTP/1.1"),
                "{case}"
            );
            assert!(!case["wirelog"].as_array().unwrap().is_empty(), "{case}");
            assert!(!case["repro"].as_array().unwrap().is_empty(), "{case}");
        }
    }
    let w = read_json(&out.join("wschaos.json"));
    assert_eq!(w["reports"].as_array().unwrap().len(), 2, "{w}");
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert_eq!(
        html.matches("class=\"cell ").count(),
        ours.len() + theirs.len() + (theirs.len() - ours.len()),
        "one cell per agent and case (a case one agent did not run is a 'not run' cell)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A project's pass rule on (behavior, behaviorClose).
type Rule = fn(&str, &str) -> bool;

/// The rules of PROTOCOL.md, as the projects apply them to an index.json entry.
fn rules() -> Vec<(&'static str, Rule)> {
    fn wsproto(b: &str, c: &str) -> bool {
        ["OK", "INFORMATIONAL"].contains(&b) && ["OK", "INFORMATIONAL"].contains(&c)
    }
    fn fastwebsockets(b: &str, _: &str) -> bool {
        ["OK", "INFORMATIONAL", "NON-STRICT"].contains(&b)
    }
    fn coder(b: &str, c: &str) -> bool {
        ["OK", "INFORMATIONAL"].contains(&c) && ["OK", "NON-STRICT", "INFORMATIONAL"].contains(&b)
    }
    fn aiohttp(_: &str, c: &str) -> bool {
        ["OK", "INFORMATIONAL"].contains(&c)
    }
    vec![
        ("wsproto", wsproto),
        ("fastwebsockets", fastwebsockets),
        ("coder/websocket", coder),
        ("aiohttp", aiohttp),
    ]
}

#[test]
fn autobahn_pass_rules_pass_exactly_when_our_verdict_is_pass_or_info() {
    let (_rt, s) = servers(&[
        ServerFlaw::None,
        ServerFlaw::AcceptUnmasked,
        ServerFlaw::DropOnError,
        ServerFlaw::CloseNormalOnError,
    ]);
    let urls: Vec<String> = s.iter().map(|h| format!("ws://{}/", h.addr)).collect();
    for by_autobahn in [false, true] {
        let dir = tmp(&format!("rules-{by_autobahn}"));
        let mut args = vec!["check-server"];
        for u in &urls {
            args.extend(["--target", u.as_str()]);
        }
        args.extend(["--agent", "good", "--agent", "unmasked", "--agent", "drop"]);
        args.extend(CASES);
        args.extend(["--seed", "4", "--report-dir", dir.to_str().unwrap()]);
        if by_autobahn {
            args.push("--autobahn-ids");
        }
        let run = wschaos(&args);
        assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
        let index = read_json(&dir.join("index.json"));
        let agents = index.as_object().unwrap();
        assert_eq!(agents.len(), 4, "the fourth agent is named by host:port");
        let mut seen = std::collections::BTreeSet::new();
        for (agent, cases) in agents {
            for (id, e) in cases.as_object().unwrap() {
                let ours = e["wschaos"].as_str().unwrap();
                seen.insert(ours.to_owned());
                let good = matches!(ours, "pass" | "info");
                let (b, c) = (
                    e["behavior"].as_str().unwrap(),
                    e["behaviorClose"].as_str().unwrap(),
                );
                for (name, rule) in rules() {
                    assert_eq!(
                        rule(b, c),
                        good,
                        "{name} on {agent} {id}: {b}/{c} for our {ours}"
                    );
                }
                if by_autobahn {
                    assert!(id.chars().next().unwrap().is_ascii_digit(), "{id}");
                    assert!(e["wschaos_cases"].as_array().is_some_and(|a| !a.is_empty()));
                }
            }
        }
        if !by_autobahn {
            assert_eq!(
                seen.into_iter().collect::<Vec<_>>(),
                ["fail", "info", "non-strict", "pass"],
                "every verdict is covered"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn baseline_exits_1_only_when_something_got_worse() {
    let (_rt, s) = servers(&[
        ServerFlaw::None,
        ServerFlaw::AcceptUnmasked,
        ServerFlaw::DropOnError,
    ]);
    let good = format!("ws://{}/", s[0].addr);
    let bad = format!("ws://{}/", s[1].addr);
    let drop = format!("ws://{}/", s[2].addr);
    let dir = tmp("baseline");
    let base = dir.join("base");
    let mut args = vec!["check-server", "--target", bad.as_str()];
    args.extend(CASES);
    args.extend(["--seed", "2", "--report-dir", base.to_str().unwrap()]);
    assert_eq!(
        wschaos(&args).status.code(),
        Some(1),
        "the broken one fails"
    );
    for (old, name) in [("wschaos.json", "ours"), ("index.json", "index")] {
        let old = base.join(old);
        // The same broken server against its own baseline: nothing worse, exit 0.
        let mut same = vec!["check-server", "--target", bad.as_str()];
        same.extend(CASES);
        same.extend(["--seed", "2", "--baseline", old.to_str().unwrap()]);
        let run = wschaos(&same);
        assert_eq!(run.status.code(), Some(0), "{name}: {}", stderr(&run));
        assert!(stderr(&run).contains("0 worse"), "{}", stderr(&run));
        // The good server is better: still 0, and the better cases are listed.
        let mut better = vec!["check-server", "--target", good.as_str()];
        better.extend(CASES);
        better.extend(["--seed", "2", "--baseline", old.to_str().unwrap()]);
        let run = wschaos(&better);
        assert_eq!(run.status.code(), Some(0), "{name}: {}", stderr(&run));
        assert!(
            stderr(&run).contains("better  ") && stderr(&run).contains("mask.unmasked-text"),
            "{}",
            stderr(&run)
        );
    }
    // A server that drops TCP (non-strict) against the good one's index.json
    // keyed by Autobahn ids (rsv.rsv2 covers 3.6): worse, exit 1, though
    // non-strict alone would not fail the run.
    let good_base = dir.join("good");
    let mut args = vec!["check-server", "--target", good.as_str()];
    args.extend(CASES);
    args.extend(["--seed", "2", "--report-dir", good_base.to_str().unwrap()]);
    args.push("--autobahn-ids");
    assert_eq!(wschaos(&args).status.code(), Some(0));
    let old = good_base.join("index.json");
    assert!(read_json(&old)["127.0.0.1:".to_owned() + &s[0].addr.port().to_string()].is_object());
    let mut worse = vec!["check-server", "--target", drop.as_str()];
    worse.extend(CASES);
    worse.extend(["--seed", "2", "--baseline", old.to_str().unwrap()]);
    let run = wschaos(&worse);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("worse   ") && stderr(&run).contains("3.6"),
        "{}",
        stderr(&run)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_specs_dirs_and_baselines_are_one_line_errors() {
    let (_rt, s) = servers(&[ServerFlaw::None]);
    let url = format!("ws://{}/", s[0].addr);
    let dir = tmp("bad");
    let write = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let missing = dir.join("missing.json").to_str().unwrap().to_owned();
    let not_json = write("not.json", "{nope");
    let wrong = write("wrong.json", r#"{"cases": "1.*"}"#);
    let unknown = write("unknown.json", r#"{"cases": ["99.*"]}"#);
    let no_servers = write("empty.json", r#"{"cases": ["1.*"]}"#);
    let a_file = write("file", "x");
    let blocked = format!("{a_file}/sub");
    let neither = write("neither.json", r#"{"something": [1, 2]}"#);
    for (args, needle) in [
        (vec!["check-server", "--spec", &missing], "cannot read"),
        (vec!["check-server", "--spec", &not_json], "not JSON"),
        (
            vec!["check-server", "--spec", &wrong],
            "\"cases\" must be a list of strings",
        ),
        (
            vec!["check-server", "--target", &url, "--spec", &unknown],
            "unknown case pattern \"99.*\"",
        ),
        (
            vec!["check-server", "--spec", &no_servers],
            "no server to check",
        ),
        (
            vec![
                "check-client",
                "--listen",
                "127.0.0.1:0",
                "--spec",
                &unknown,
            ],
            "unknown case pattern",
        ),
        (
            vec!["check-server", "--target", &url, "--report-dir", &blocked],
            "--report-dir: cannot create directory",
        ),
        (
            vec!["check-server", "--target", &url, "--baseline", &neither],
            "neither a wschaos.json report nor an Autobahn index.json",
        ),
        (
            vec!["check-server", "--target", &url, "--baseline", &not_json],
            "neither",
        ),
        (
            vec![
                "check-server",
                "--target",
                &url,
                "--agent",
                "a",
                "--agent",
                "b",
            ],
            "at most one --agent per --target",
        ),
        (
            vec!["check-server", "--case", "ok.text"],
            "no server to check",
        ),
    ] {
        let mut args = args;
        args.extend(["--seed", "1"]);
        let out = wschaos(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two harnesses (agents A and B) drive one check-client at once through
/// Autobahn's paths; `exclude-agent-cases` takes the rsv cases from B (answered
/// with an empty Close, still numbered); one index.json holds both agents.
#[test]
fn check_client_keeps_results_per_agent_with_a_spec() {
    let required = std::env::var("WSCHAOS_REQUIRE_PEERS").as_deref() == Ok("1");
    let has_websockets = Command::new("python3")
        .args(["-c", "import websockets"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_websockets {
        assert!(!required, "python3 with websockets is required here");
        eprintln!("skipped: python3 with websockets not found");
        return;
    }
    let dir = tmp("client-spec");
    let spec = dir.join("fuzzingserver.json");
    let out = dir.join("reports/clients");
    std::fs::write(
        &spec,
        serde_json::json!({
            "url": "ws://127.0.0.1:0", "outdir": out,
            "options": {"failByDrop": false},
            "cases": ["1.1.1", "rsv.rsv2", "rsv.rsv3", "ok.binary"],
            "exclude-cases": [],
            "exclude-agent-cases": {"B*": ["rsv.*"]}
        })
        .to_string(),
    )
    .unwrap();
    let mut checker = Child(
        Command::new(env!("CARGO_BIN_EXE_wschaos"))
            .args([
                "check-client",
                "--spec",
                spec.to_str().unwrap(),
                "--agents",
                "2",
            ])
            .args(["--seed", "1", "--timeout-ms", "1000", "--wait-s", "60"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = std::io::BufReader::new(checker.0.stderr.take().unwrap());
    // Notes may come first; the banner names the address.
    let mut banner = String::new();
    while !banner.contains("listening") {
        banner.clear();
        if std::io::BufRead::read_line(&mut err, &mut banner).unwrap() == 0 {
            panic!("check-client ended before listening");
        }
    }
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .expect("listening banner")
        .trim_end_matches('/')
        .to_owned();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../targets/python/autobahn_client.py");
    let harness = |agent: &str| {
        Child(
            Command::new("python3")
                .arg(&script)
                .args(["--url", &url, "--agent", agent])
                .spawn()
                .unwrap(),
        )
    };
    let (mut a, mut b) = (harness("A"), harness("B-client"));
    let started = Instant::now();
    for h in [&mut a, &mut b] {
        let status = h.0.wait().unwrap();
        assert!(status.success(), "a harness failed: {status}");
    }
    let code = checker.0.wait().unwrap().code();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert!(started.elapsed() < Duration::from_secs(50));
    assert!(matches!(code, Some(0 | 1)), "exit {code:?}: {rest}");
    let index = read_json(&out.join("index.json"));
    let ids = |agent: &str| -> Vec<String> {
        let mut v: Vec<String> = index[agent].as_object().unwrap().keys().cloned().collect();
        v.sort();
        v
    };
    let all = ids("A");
    for id in ["rsv.rsv2", "rsv.rsv3", "ok.binary"] {
        assert!(all.contains(&id.to_owned()), "{index}");
    }
    let without_rsv: Vec<String> = all
        .iter()
        .filter(|id| !id.starts_with("rsv."))
        .cloned()
        .collect();
    assert_eq!(ids("B-client"), without_rsv, "{index}");
    assert!(out.join("index.html").is_file());
    let w = read_json(&out.join("wschaos.json"));
    assert_eq!(w["reports"].as_array().unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
