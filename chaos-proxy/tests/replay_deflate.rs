//! `replay --offer-deflate` against a real server (Python `aiohttp`, installed by
//! `.ci/run`): the repro of a `deflate.*` case gives the live run's verdict only
//! when the replay negotiates permessage-deflate as the live run did. aiohttp
//! answers a ping with RSV1 set under permessage-deflate (a violation it misses);
//! replayed without the extension, the same bytes break another rule, which it
//! does catch, and would pass.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn aiohttp_ready() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiohttp"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("WSCHAOS_REQUIRE_PEERS").as_deref() != Ok("1"),
            "python3 with `aiohttp` is required (pip install aiohttp)"
        );
        eprintln!("skipped: python3 with `aiohttp` not found");
    }
    ok
}

fn wschaos(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wschaos"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_deflate_repro_replays_to_the_live_verdict_only_with_offer_deflate() {
    if !aiohttp_ready() {
        return;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../targets/python/aiohttp_echo_server.py"
    );
    let mut child = Command::new("python3")
        .arg(script)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _server = Kill(child);
    let url = line.trim().trim_start_matches("listening on ").to_owned();
    assert!(url.starts_with("ws://127.0.0.1:"), "{line}");

    let dir = std::env::temp_dir().join(format!("wschaos-replay-deflate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("r.json");
    let (code, _, err) = wschaos(&[
        "check-server",
        "--target",
        &url,
        "--offer-deflate",
        "--case",
        "deflate.rsv1-ping",
        "--seed",
        "1",
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "aiohttp answers the RSV1 ping: {err}");
    let repro = dir.join("r.json.repro/deflate.rsv1-ping.bin");
    assert!(repro.is_file());
    let repro = repro.to_str().unwrap();

    let (code, stdout, err) = wschaos(&["replay", "--target", &url, "--offer-deflate", repro]);
    assert_eq!(code, 1, "{stdout}{err}");
    assert!(stdout.contains("-> fail"), "{stdout}");

    // Without the extension the replay is of other bytes in effect: it warns.
    let (_, stdout, err) = wschaos(&["replay", "--target", &url, repro]);
    assert!(err.contains("--offer-deflate"), "{err}");
    assert!(!stdout.contains("-> fail"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
