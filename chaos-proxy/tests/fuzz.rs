//! `wschaos fuzz` against the sample targets on 127.0.0.1 (ephemeral ports):
//! each deliberately broken server's flaw is found, minimized to one or two
//! frames and replays to the same disagreement with `wschaos replay`; the
//! conforming server gives no finding. Runs are bounded by count and time.

use std::path::Path;
use std::process::Command;

use wschaos_targets::{ServerFlaw, spawn_echo_server};

fn wschaos(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wschaos"))
        .args(args)
        .output()
        .expect("run wschaos");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn findings(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("findings.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn fuzz(url: &str, dir: &Path, runs: &str) -> (Option<i32>, String) {
    let _ = std::fs::remove_dir_all(dir);
    let (code, _, err) = wschaos(&[
        "fuzz",
        "--target",
        url,
        "--runs",
        runs,
        "--duration",
        "60s",
        "--seed",
        "3",
        "--out",
        dir.to_str().unwrap(),
    ]);
    (code, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_servers_are_found_minimized_and_replay() {
    let root = std::env::temp_dir().join(format!("wschaos-fuzz-{}", std::process::id()));
    for (flaw, rule, reaction) in [
        (
            ServerFlaw::AcceptUnmasked,
            "UnmaskedClientFrame",
            "continued",
        ),
        (ServerFlaw::CloseNormalOnError, "", "close 1000"),
        (ServerFlaw::IgnoreRsv, "ReservedBit", ""),
        (ServerFlaw::DropOnError, "", "tcp-close"),
    ] {
        let server = spawn_echo_server("127.0.0.1:0", flaw).await.unwrap();
        let url = format!("ws://{}/", server.addr);
        let dir = root.join(format!("{flaw:?}"));
        let (code, err) = fuzz(&url, &dir, "400");
        assert_eq!(code, Some(1), "{flaw:?}: {err}");
        let all = findings(&dir);
        let hit = all
            .iter()
            .find(|f| {
                (rule.is_empty() || f["rule"] == rule)
                    && (reaction.is_empty() || f["reaction"] == reaction)
            })
            .unwrap_or_else(|| panic!("{flaw:?}: no {rule} -> {reaction} in {all:#?}"));
        assert!(hit["frames"].as_u64().unwrap() <= 2, "{hit}");
        assert_eq!(hit["replays_whole"], true, "{hit}");
        let file = hit["file"].as_str().unwrap();
        let (code, out, err) = wschaos(&["replay", "--target", &url, file]);
        let verdict = hit["verdict"].as_str().unwrap();
        assert!(out.contains(&format!("-> {verdict}")), "{out}{err}");
        if verdict == "fail" {
            assert_eq!(code, Some(1), "{out}");
        }
        assert!(err.is_empty() || !err.contains("error"), "{err}");
        server.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conforming_server_gives_no_finding() {
    let server = spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
        .await
        .unwrap();
    let url = format!("ws://{}/", server.addr);
    let dir = std::env::temp_dir().join(format!("wschaos-fuzz-ok-{}", std::process::id()));
    let (code, err) = fuzz(&url, &dir, "1500");
    assert_eq!(code, Some(0), "{err}\n{:#?}", findings(&dir));
    assert!(err.contains("fuzz: 1500 runs"), "{err}");
    assert!(err.contains("0 finding(s)"), "{err}");
    // It never agrees to permessage-deflate: after 8 declines the run goes on
    // without it (executions already running then add theirs).
    assert!(
        err.contains("declined permessage-deflate 8 times and never agreed"),
        "{err}"
    );
    assert!(
        (8..=12).any(|n| err.contains(&format!("{n} with permessage-deflate ({n} declined)"))),
        "{err}"
    );
    // Recorded traffic as more seeds (a proxy recording's client side; the
    // server side is left out): still nothing to find.
    let corpus = dir.with_extension("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let text = |s: &str| {
        wschaos_codec::encode::Frame::text(s)
            .masked([9, 8, 7, 6])
            .encode()
            .unwrap()
    };
    std::fs::write(
        corpus.join("conn-1-c2s.bin"),
        [text("a"), text("bc")].concat(),
    )
    .unwrap();
    std::fs::write(corpus.join("conn-1-s2c.bin"), b"\x81\x01a").unwrap();
    let (code, _, err) = wschaos(&[
        "fuzz",
        "--target",
        &url,
        "--runs",
        "300",
        "--seed",
        "4",
        "--corpus",
        corpus.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("corpus: 1 recorded input(s)"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&corpus);
    server.shutdown().await;
}

#[test]
fn bad_options_are_one_line_errors() {
    for (args, want) in [
        (vec!["--duration", "5x"], "--duration"),
        (vec!["--runs", "0"], "--runs"),
        (vec!["--jobs", "0"], "--jobs"),
        (vec!["--timeout-ms", "0"], "--timeout-ms"),
    ] {
        let mut all = vec!["fuzz", "--target", "ws://127.0.0.1:9/"];
        all.extend(args);
        let (code, _, err) = wschaos(&all);
        assert_eq!(code, Some(2), "{all:?}: {err}");
        assert!(err.contains(want) && err.lines().count() == 1, "{err}");
    }
    // Nothing listening: the probe says so, nothing is fuzzed.
    let (code, _, err) = wschaos(&["fuzz", "--target", "ws://127.0.0.1:9/", "--runs", "5"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot connect"), "{err}");
}

/// `wschaos fuzz --listen` (or `replay --listen`) as a child: waits for its
/// listening line, runs the sample echo client with `flaw` against it, and
/// returns the exit status and both outputs.
fn listen_run(args: &[&str], flaw: wschaos_targets::ClientFlaw) -> (Option<i32>, String, String) {
    use std::io::Read as _;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_wschaos"))
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--wait-s", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wschaos");
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first).unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .trim_end_matches('/')
        .to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let opts = wschaos_targets::ClientOptions {
        flaw,
        timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    };
    let _ = rt.block_on(async {
        tokio::time::timeout(
            std::time::Duration::from_secs(120),
            wschaos_targets::run_echo_client(&base, &[], opts),
        )
        .await
    });
    let status = child.wait().unwrap();
    let (mut out, mut err) = (String::new(), first);
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    stderr.read_to_string(&mut err).unwrap();
    (status.code(), out, err)
}

#[test]
fn clients_are_fuzzed_too_and_their_findings_replay() {
    use wschaos_targets::ClientFlaw;
    let root = std::env::temp_dir().join(format!("wschaos-fuzz-client-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    // The conforming sample client: nothing to find.
    let ok = root.join("ok");
    let (code, _, err) = listen_run(
        &[
            "fuzz",
            "--runs",
            "300",
            "--seed",
            "3",
            "--out",
            ok.to_str().unwrap(),
        ],
        ClientFlaw::None,
    );
    assert_eq!(code, Some(0), "{err}\n{:#?}", findings(&ok));
    assert!(err.contains("fuzz: 300 runs"), "{err}");
    // A client that drops TCP on errors: found, small, and it replays.
    let drop = root.join("drop");
    let (code, out, err) = listen_run(
        &[
            "fuzz",
            "--runs",
            "300",
            "--seed",
            "3",
            "--out",
            drop.to_str().unwrap(),
        ],
        ClientFlaw::DropOnError,
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(out.contains("wschaos replay --listen"), "{out}");
    let all = findings(&drop);
    let hit = all
        .iter()
        .find(|f| f["reaction"] == "tcp-close")
        .unwrap_or_else(|| panic!("no tcp-close finding in {all:#?}"));
    assert!(hit["frames"].as_u64().unwrap() <= 2, "{hit}");
    assert_eq!(hit["verdict"], "non-strict", "{hit}");
    let file = hit["file"].as_str().unwrap();
    let (code, out, err) = listen_run(&["replay", file], ClientFlaw::DropOnError);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("-> non-strict"), "{out}{err}");
    // No client at all: one error line, exit 2.
    let (code, _, err) = wschaos(&[
        "fuzz",
        "--listen",
        "127.0.0.1:0",
        "--wait-s",
        "1",
        "--runs",
        "5",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("no client connected within --wait-s 1"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
