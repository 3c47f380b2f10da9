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
    let _ = std::fs::remove_dir_all(&dir);
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
