//! Third-party WebSocket peers for the integration tests, run as child processes
//! on 127.0.0.1 with ephemeral ports: Python `websockets`, Node `ws` and Python
//! `aiohttp`, each as an echo server and as a client (echo mode for
//! `check-client`, traffic mode for the proxy). Their scripts are in `targets/`;
//! `.ci/run` installs the pinned libraries. Every child is killed when its guard
//! drops, and every wait has a deadline.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A library under test, as server and as client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lib {
    /// Python `websockets` 17.4.
    Websockets,
    /// Node `ws` (version pinned in targets/node/package.json).
    NodeWs,
    /// Python `aiohttp` (version pinned in .ci/run).
    Aiohttp,
}

pub const LIBS: [Lib; 3] = [Lib::Websockets, Lib::NodeWs, Lib::Aiohttp];

pub fn targets_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../targets")
}

impl Lib {
    pub fn name(self) -> &'static str {
        match self {
            Lib::Websockets => "websockets",
            Lib::NodeWs => "ws",
            Lib::Aiohttp => "aiohttp",
        }
    }

    fn script(self, python: &str, node: &str) -> Command {
        let dir = targets_dir();
        match self {
            Lib::NodeWs => {
                let mut c = Command::new("node");
                c.arg(dir.join("node").join(node));
                c
            }
            _ => {
                let mut c = Command::new("python3");
                c.arg(dir.join("python").join(python));
                c
            }
        }
    }

    /// The echo server; it prints `listening on ws://127.0.0.1:PORT/`.
    pub fn server_command(self) -> Command {
        match self {
            Lib::Websockets => self.script("ws_echo_server.py", ""),
            Lib::NodeWs => self.script("", "echo_server.js"),
            Lib::Aiohttp => self.script("aiohttp_echo_server.py", ""),
        }
    }

    /// The client without compression; add `--base URL` (echo mode) or
    /// `--traffic URL...` (traffic mode).
    pub fn client_command(self) -> Command {
        match self {
            Lib::Websockets => {
                let mut c = self.script("ws_echo_client.py", "");
                c.arg("--no-compression");
                c
            }
            Lib::NodeWs => self.script("", "client.js"),
            Lib::Aiohttp => self.script("aiohttp_client.py", ""),
        }
    }

    /// Whether the library can be loaded here; `Err` names what is missing.
    fn available(self) -> Result<(), String> {
        let (program, args, missing): (&str, Vec<String>, &str) = match self {
            Lib::Websockets => (
                "python3",
                vec!["-c".into(), "import websockets".into()],
                "python3 with `websockets` (pip install websockets==17.4)",
            ),
            Lib::Aiohttp => (
                "python3",
                vec!["-c".into(), "import aiohttp".into()],
                "python3 with `aiohttp` (pip install aiohttp; version pinned in .ci/run)",
            ),
            Lib::NodeWs => (
                "node",
                vec![
                    "-e".into(),
                    format!(
                        "require({:?})",
                        targets_dir()
                            .join("node/node_modules/ws")
                            .display()
                            .to_string()
                    ),
                ],
                "node with `ws` (npm ci --prefix targets/node)",
            ),
        };
        let ok = Command::new(program)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok { Ok(()) } else { Err(missing.to_owned()) }
    }
}

/// True when every peer library is there. When one is missing: a message and
/// false (the caller skips), or, with WSCHAOS_REQUIRE_PEERS=1 (as in CI), a panic.
pub fn peers_ready() -> bool {
    let missing: Vec<String> = LIBS.iter().filter_map(|l| l.available().err()).collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("WSCHAOS_REQUIRE_PEERS").as_deref() != Ok("1"),
        "WSCHAOS_REQUIRE_PEERS=1 but missing: {}",
        missing.join("; ")
    );
    eprintln!(
        "skipped: third-party peers missing: {} (set WSCHAOS_REQUIRE_PEERS=1 to make this a failure)",
        missing.join("; ")
    );
    false
}

/// Kills the child process when dropped, however the test ends.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Kill {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Sends SIGINT (through `kill`, no libc) and waits up to `limit` for the
    /// exit; returns the exit code, or `None` when it had to be killed.
    pub fn interrupt(&mut self, limit: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        self.wait_for(limit)
    }

    pub fn wait_for(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            match self.0.try_wait() {
                Ok(Some(status)) => return status.code(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = self.0.kill();
                    let _ = self.0.wait();
                    return None;
                }
            }
        }
    }
}

/// Reads lines from a child's stream until one contains `needle` (within
/// `limit`), then keeps draining the rest in the background so the child never
/// blocks on a full pipe. Returns the matching line, or every line read.
pub fn wait_for_line<R: Read + Send + 'static>(
    stream: R,
    needle: &'static str,
    limit: Duration,
) -> Result<String, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        let mut found = false;
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if !found && line.contains(needle) {
                found = true;
                let _ = tx.send(Ok(line));
            } else if !found {
                seen.push_str(&line);
                seen.push('\n');
            }
        }
        if !found {
            let _ = tx.send(Err(seen));
        }
    });
    match rx.recv_timeout(limit) {
        Ok(r) => r,
        Err(_) => Err(format!("no line with {needle:?} within {limit:?}")),
    }
}

/// Starts the library's echo server and waits for `listening on ws://...`;
/// returns the guard and the URL.
pub fn spawn_server(lib: Lib) -> (Kill, String) {
    let mut child = lib
        .server_command()
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start the {} server: {e}", lib.name()));
    let stdout = child.stdout.take().unwrap();
    let guard = Kill(child);
    let line = wait_for_line(stdout, "listening on ", Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("the {} server did not start: {e}", lib.name()));
    let url = line
        .trim()
        .split("listening on ")
        .nth(1)
        .unwrap()
        .to_owned();
    (guard, url)
}

/// Takes a spawned child's stderr and waits for a line containing `needle`.
pub fn stderr_line(
    child: &mut Child,
    needle: &'static str,
    limit: Duration,
) -> Result<String, String> {
    let stderr: ChildStderr = child.stderr.take().expect("stderr piped");
    wait_for_line(stderr, needle, limit)
}

/// Runs `cmd` to completion within `limit` (killed after it), returning
/// (exit code, stdout, stderr).
pub fn run_bounded(mut cmd: Command, limit: Duration) -> (Option<i32>, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let (out, err) = (read(Box::new(out)), read(Box::new(err)));
    let code = Kill(child).wait_for(limit);
    (code, out.join().unwrap(), err.join().unwrap())
}
