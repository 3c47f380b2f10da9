//! `wschaos fuzz` with permessage-deflate, against real servers (Python
//! `websockets` and `aiohttp`, installed by `.ci/run`); the sample server,
//! which declines the extension, is in `fuzz.rs`. On 127.0.0.1 with ephemeral
//! ports; every run is bounded by a count and a time limit.

mod peers;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use peers::{Lib, peers_ready, run_bounded, spawn_server};
use wschaos_codec::encode::Frame;
use wschaos_codec::{OpCode, deflate::compress_message};

const KEY: [u8; 4] = [1, 2, 3, 4];

fn wschaos(args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wschaos"));
    cmd.args(args);
    run_bounded(cmd, Duration::from_secs(120))
}

fn compressed(op: OpCode, payload: Vec<u8>) -> Vec<u8> {
    Frame::new(op, payload)
        .rsv(true, false, false)
        .masked(KEY)
        .encode()
        .unwrap()
}

fn findings(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("findings.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What the checker expects back is read as the server reads it: with the
/// context our earlier messages left. An empty compressed payload leaves the
/// tail a receiver appends inside a stored block, so the next message's byte
/// 0x00 completes that block's header and the tail then comes out as data.
/// (The plan used to read each of our messages with a fresh context and
/// expected an empty echo: a false `fail` against both servers.)
#[test]
fn the_echo_expected_after_an_empty_compressed_message_is_what_servers_inflate() {
    if !peers_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("wschaos-fuzz-deflate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let empty_then_zero = dir.join("empty-then-zero.bin");
    std::fs::write(
        &empty_then_zero,
        [
            compressed(OpCode::TEXT, Vec::new()),
            compressed(OpCode::BINARY, vec![0x00]),
        ]
        .concat(),
    )
    .unwrap();
    for lib in [Lib::Websockets, Lib::Aiohttp] {
        let (_server, url) = spawn_server(lib);
        let (code, out, err) = wschaos(&[
            "replay",
            "--target",
            &url,
            "--offer-deflate",
            empty_then_zero.to_str().unwrap(),
        ]);
        assert_eq!(code, Some(0), "{}: {out}{err}", lib.name());
        assert!(out.contains("-> pass"), "{}: {out}", lib.name());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A real difference the fuzzer found, kept as evidence: after a message that
/// ends its DEFLATE stream with a final block (RFC 7692 7.2.3.3's "Hello"
/// example), Python websockets 17.4 reads every later compressed message of
/// the connection as empty (zlib's decompressor stays at its stream's end);
/// aiohttp starts a new stream, as the codec does.
#[test]
fn after_a_final_deflate_block_websockets_loses_the_next_message_and_aiohttp_does_not() {
    if !peers_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("wschaos-bfinal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bfinal.bin");
    let hello_final = vec![0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    std::fs::write(
        &file,
        [
            compressed(OpCode::TEXT, hello_final),
            compressed(OpCode::TEXT, compress_message(b"World")),
        ]
        .concat(),
    )
    .unwrap();
    for (lib, verdict) in [(Lib::Aiohttp, "pass"), (Lib::Websockets, "fail")] {
        let (_server, url) = spawn_server(lib);
        let (_, out, err) = wschaos(&[
            "replay",
            "--target",
            &url,
            "--offer-deflate",
            file.to_str().unwrap(),
        ]);
        assert!(
            out.contains(&format!("-> {verdict}")),
            "{}: {out}{err}",
            lib.name()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// With `--deflate only` every execution negotiates the extension with
/// websockets; compressed inputs, valid and broken, are judged; every finding
/// replays to its verdict with the command line it was saved with.
#[test]
fn fuzzing_with_deflate_negotiated_judges_compressed_inputs_and_findings_replay() {
    if !peers_ready() {
        return;
    }
    let (_server, url) = spawn_server(Lib::Websockets);
    let dir = std::env::temp_dir().join(format!("wschaos-fuzz-only-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (code, out, err) = wschaos(&[
        "fuzz",
        "--target",
        &url,
        "--deflate",
        "only",
        "--runs",
        "600",
        "--duration",
        "60s",
        "--seed",
        "11",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(matches!(code, Some(0 | 1)), "{out}{err}");
    // Every execution the oracle judges is sent with the extension agreed.
    let stats = err.lines().rev().find(|l| l.starts_with("fuzz: 600 runs"));
    let stats = stats.unwrap_or_else(|| panic!("{err}"));
    let sent: u64 = stats
        .split(", ")
        .find_map(|p| p.strip_suffix(" with permessage-deflate (0 declined)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stats}"));
    assert!(sent > 400, "{stats}");
    let rules = err
        .lines()
        .find(|l| l.starts_with("rules exercised: "))
        .unwrap_or_else(|| panic!("{err}"));
    for rule in [
        "deflate-valid",
        "deflate-InvalidDeflate",
        "deflate-Rsv1OnContinuation",
        "deflate-Rsv1OnControl",
        "deflate-InvalidUtf8Text",
    ] {
        assert!(rules.contains(rule), "{rule} not in {rules}");
    }
    for f in findings(&dir) {
        assert_eq!(f["deflate"], true, "{f}");
        let replay = f["replay"].as_str().unwrap();
        assert!(replay.contains("--offer-deflate"), "{replay}");
        let args: Vec<&str> = replay.split_whitespace().skip(1).collect();
        let (_, out, err) = wschaos(&args);
        let verdict = f["verdict"].as_str().unwrap();
        assert!(out.contains(&format!("-> {verdict}")), "{f}: {out}{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
