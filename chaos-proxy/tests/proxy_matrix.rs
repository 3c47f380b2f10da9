//! The chaos proxy's verdicts against real third-party peers, checked against the
//! conformance checker's verdicts for the same peers.
//!
//! Matrix: clients {Python `websockets`, Node `ws`, Python `aiohttp`} × servers
//! (the same three) × every frame fault of `ROWS` (both directions) × {alone,
//! with `latency:ms=5`, with `slice:max=7`}: 567 cells, about 25 s on 2 cores.
//! Each cell is one proxy process (`wschaos proxy --report FILE.jsonl --seed 1
//! --reaction-timeout-ms 1000`, stopped with SIGINT) and one client connection
//! through it. The client sends three text messages (waiting for each echo), a ping
//! (waiting for the pong), then closes with 1000; data faults carry `nth=1`, so they
//! land on the first text message (c2s) or its echo (s2c), never on a Close. No
//! compression anywhere: the clients do not offer it, as the checker runs without
//! `--offer-deflate`.
//!
//! The expected verdict of a cell is derived, not written down: the receiver of a
//! c2s fault is the server, of an s2c fault the client, and the checker is run once
//! against that library for the equivalent case (`wschaos check-server --case ID`
//! against the library's echo server, `wschaos check-client --case ID` with the
//! library's echo client; the results are cached for the whole matrix). Under
//! `slice` the equivalent case is the checker's `ID+chop1` (the violation written one
//! byte per TCP write) where the catalogue has one. The mapping is one to one:
//! checker pass ↔ proxy pass, non-strict ↔ non-strict, fail ↔ fail, info ↔ info.
//!
//! Rules checked besides (they hold for every cell):
//! - a transport fault combined with a frame fault has exactly one report line for
//!   the connection that carried frames, and it is `pass`: the error close the frame
//!   fault explains is never blamed on the delay or the slicing. A connection that
//!   carried no frames gets no line at all (every proxy's first connection, conn 1,
//!   is opened and closed before any handshake);
//! - an s2c fault on the server's Close reply (after the client's own Close) owes
//!   only a TCP close: `pass` (no checker case is equivalent; the row says so);
//! - a Close that answers the other side's Close is not a reaction: when the checker
//!   saw the receiver carry on (`echo` or `continued`), the proxy must report it
//!   carrying on too, whatever Close followed, and its verdict is the checker's
//!   (`fail`, or `info` where the RFC leaves the reaction open).
//!
//! A cell that cannot be compared for a principled reason is listed as skipped with
//! the reason; none is skipped silently. The table is printed (run with
//! `--nocapture` to see it when the test passes) and written, with what the client
//! saw in each disagreeing cell, to `$CARGO_TARGET_TMPDIR/proxy_matrix.txt`.
//!
//! Without the peers (python3 with `websockets` and `aiohttp`, node with the `ws` of
//! `targets/node/`) the test is skipped with a message, unless
//! WSCHAOS_REQUIRE_PEERS=1 (as in CI), where that is a failure.
//! WSCHAOS_MATRIX_ONLY=TEXT runs only the cells whose label contains TEXT.

mod peers;

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use peers::{Kill, LIBS, Lib, peers_ready, run_bounded, spawn_server, stderr_line};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_wschaos");
const SEED: &str = "1";
/// The checker's wait for a reaction, and the proxy's: the same for both.
const TIMEOUT_MS: &str = "1000";
/// Jobs (one pair × one combination: a proxy per row and one client process) run
/// at once.
const WORKERS: usize = 3;

/// The role of the endpoint that receives a fault: c2s → the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    Server,
    Client,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "client",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combo {
    Alone,
    Latency,
    Slice,
}

const COMBOS: [Combo; 3] = [Combo::Alone, Combo::Latency, Combo::Slice];

impl Combo {
    fn transport(self) -> Option<&'static str> {
        match self {
            Combo::Alone => None,
            Combo::Latency => Some("latency:ms=5"),
            Combo::Slice => Some("slice:max=7"),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Combo::Alone => "alone",
            Combo::Latency => "+latency:ms=5",
            Combo::Slice => "+slice:max=7",
        }
    }
}

/// Where a row's expected verdict comes from.
#[derive(Debug, Clone, Copy)]
enum Reference {
    /// This checker case against the receiving library.
    Case(&'static str),
    /// `opcode.reserved-N`, with N the opcode the proxy chose (its `what`).
    ReservedOpcode,
    /// No checker case: a fault on the Close reply owes only a TCP close (`pass`).
    CloseReply,
}

struct Row {
    spec: &'static str,
    reference: Reference,
    /// The client asks the server to close (text `wschaos:close`) instead of
    /// closing itself, so the server's Close is the first one.
    server_close: bool,
    /// Why this reference, when it is not the obvious one.
    note: &'static str,
}

impl Row {
    fn side(&self) -> Side {
        if self.spec.contains("@c2s") {
            Side::Server
        } else {
            Side::Client
        }
    }
}

const fn row(spec: &'static str, reference: Reference) -> Row {
    Row {
        spec,
        reference,
        server_close: false,
        note: "",
    }
}

/// Every frame fault in both directions (bitflip-header is left out: its flip is
/// random, so it has no single equivalent case).
const ROWS: &[Row] = &[
    row("flip-mask@c2s:nth=1", Reference::Case("mask.unmasked-text")),
    row("flip-mask@s2c:nth=1", Reference::Case("mask.masked-text")),
    row("set-rsv@c2s:bit=2,nth=1", Reference::Case("rsv.rsv2")),
    row("set-rsv@s2c:bit=2,nth=1", Reference::Case("rsv.rsv2")),
    row("reserved-opcode@c2s:nth=1", Reference::ReservedOpcode),
    row("reserved-opcode@s2c:nth=1", Reference::ReservedOpcode),
    // Lands on the client's ping / the server's pong.
    row("oversize-control@c2s", Reference::Case("control.ping-126")),
    row("oversize-control@s2c", Reference::Case("control.pong-126")),
    row(
        "fragment-control@c2s",
        Reference::Case("control.fragmented-ping"),
    ),
    Row {
        spec: "fragment-control@s2c",
        reference: Reference::Case("control.fragmented-ping"),
        server_close: false,
        note: "lands on the pong; the catalogue has no fragmented pong, the rule (FIN=0 on a control frame) is the same",
    },
    row(
        "orphan-continuation@c2s:nth=1",
        Reference::Case("fragment.orphan-continuation"),
    ),
    row(
        "orphan-continuation@s2c:nth=1",
        Reference::Case("fragment.orphan-continuation"),
    ),
    row(
        "bad-close-code@c2s:code=1005",
        Reference::Case("close.code-1005"),
    ),
    Row {
        spec: "bad-close-code@s2c:code=1005",
        reference: Reference::CloseReply,
        server_close: false,
        note: "lands on the server's Close reply: the client owes a TCP close",
    },
    Row {
        spec: "bad-close-code@s2c:code=1005",
        reference: Reference::Case("close.code-1005"),
        server_close: true,
        note: "the server closes first",
    },
    row(
        "invalid-utf8@c2s:nth=1",
        Reference::Case("utf8.invalid-text-ff"),
    ),
    row(
        "invalid-utf8@s2c:nth=1",
        Reference::Case("utf8.invalid-text-ff"),
    ),
    row("length-msb@c2s:nth=1", Reference::Case("length.msb-set")),
    row("length-msb@s2c:nth=1", Reference::Case("length.msb-set")),
    // The 9-byte "message 1" re-encoded in the 64-bit form.
    row(
        "non-minimal-length@c2s:nth=1",
        Reference::Case("length.non-minimal-64"),
    ),
    row(
        "non-minimal-length@s2c:nth=1",
        Reference::Case("length.non-minimal-64"),
    ),
];

/// One checker result, as used for a reference.
#[derive(Debug, Clone)]
struct CaseRef {
    verdict: String,
    observed: String,
}

/// `{"kind":"close","code":1002,...}` → `close 1002`.
fn observed(v: &Value) -> String {
    let kind = v["kind"].as_str().unwrap_or("?");
    match (kind, v.get("code").and_then(Value::as_u64)) {
        ("close", Some(c)) => format!("close {c}"),
        ("close", None) => "close (empty)".into(),
        ("handshake-refused", _) => format!("http {}", v["status"]),
        _ => kind.to_owned(),
    }
}

/// The case ids of one side of the catalogue (`wschaos cases --format json`).
fn catalogue_ids(side: Side) -> BTreeSet<String> {
    let (code, out, err) = run_bounded(
        {
            let mut c = Command::new(BIN);
            c.args(["cases", "--side", side.name(), "--format", "json"]);
            c
        },
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(0), "wschaos cases: {err}");
    let list: Vec<Value> = serde_json::from_str(&out).expect("cases json");
    list.iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The case ids a side's references need, with their `+chop1` variants.
fn reference_cases(side: Side, catalogue: &BTreeSet<String>) -> Vec<String> {
    let mut ids = BTreeSet::new();
    for r in ROWS.iter().filter(|r| r.side() == side) {
        match r.reference {
            Reference::Case(id) => {
                ids.insert(id.to_owned());
            }
            Reference::ReservedOpcode => {
                ids.extend((3..=7).map(|n| format!("opcode.reserved-{n}")));
            }
            Reference::CloseReply => {}
        }
    }
    for id in &ids {
        assert!(
            catalogue.contains(id),
            "{id} is not a {} case any more (wschaos cases --side {})",
            side.name(),
            side.name()
        );
    }
    let chopped: Vec<String> = ids
        .iter()
        .map(|id| format!("{id}+chop1"))
        .filter(|id| catalogue.contains(id))
        .collect();
    ids.extend(chopped);
    ids.into_iter().collect()
}

fn read_check_report(path: &Path) -> Result<HashMap<String, CaseRef>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let report: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(report["cases"]
        .as_array()
        .ok_or("no cases in the report")?
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or("?").to_owned(),
                CaseRef {
                    verdict: c["verdict"].as_str().unwrap_or("?").to_owned(),
                    observed: observed(&c["observed"]),
                },
            )
        })
        .collect())
}

fn case_args(cmd: &mut Command, cases: &[String]) {
    for c in cases {
        cmd.args(["--case", c]);
    }
}

/// `wschaos check-server` against the library's echo server.
fn check_server(
    url: &str,
    cases: &[String],
    out: &Path,
) -> Result<HashMap<String, CaseRef>, String> {
    let mut cmd = Command::new(BIN);
    cmd.args(["check-server", "--target", url, "--format", "json"])
        .args(["--timeout-ms", TIMEOUT_MS, "--seed", SEED, "--out"])
        .arg(out);
    case_args(&mut cmd, cases);
    let (code, _, err) = run_bounded(cmd, Duration::from_secs(60));
    if !matches!(code, Some(0 | 1)) {
        return Err(format!("check-server exited {code:?}: {err}"));
    }
    read_check_report(out)
}

/// `wschaos check-client` with the library's echo client connecting once per case.
fn check_client(
    lib: Lib,
    cases: &[String],
    out: &Path,
) -> Result<HashMap<String, CaseRef>, String> {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "check-client",
        "--listen",
        "127.0.0.1:0",
        "--format",
        "json",
    ])
    .args(["--timeout-ms", TIMEOUT_MS, "--seed", SEED, "--wait-s", "60"])
    .arg("--out")
    .arg(out)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    case_args(&mut cmd, cases);
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let banner = stderr_line(&mut child, "listening on ws://", Duration::from_secs(20));
    let mut checker = Kill(child);
    let banner = banner?;
    let base = banner
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .ok_or_else(|| format!("no address in {banner:?}"))?
        .trim_end_matches('/')
        .to_owned();
    let mut client = lib.client_command();
    client.args(["--base", &base]);
    let (_, client_out, client_err) = run_bounded(client, Duration::from_secs(90));
    match checker.wait_for(Duration::from_secs(30)) {
        Some(0 | 1) => read_check_report(out),
        code => Err(format!(
            "check-client exited {code:?}; the {} client said: {client_out}{client_err}",
            lib.name()
        )),
    }
}

/// Every reference, by (receiving side, library, case id).
type References = HashMap<(Side, Lib, String), CaseRef>;

fn run_references(servers: &HashMap<Lib, String>, dir: &Path) -> References {
    let server_cases = reference_cases(Side::Server, &catalogue_ids(Side::Server));
    let client_cases = reference_cases(Side::Client, &catalogue_ids(Side::Client));
    let refs = Mutex::new(References::new());
    std::thread::scope(|s| {
        for lib in LIBS {
            for side in [Side::Server, Side::Client] {
                let (refs, server_cases, client_cases) = (&refs, &server_cases, &client_cases);
                s.spawn(move || {
                    let out = dir.join(format!("check-{}-{}.json", side.name(), lib.name()));
                    let got = match side {
                        Side::Server => check_server(&servers[&lib], server_cases, &out),
                        Side::Client => check_client(lib, client_cases, &out),
                    }
                    .unwrap_or_else(|e| {
                        panic!("reference run ({} {}): {e}", lib.name(), side.name())
                    });
                    let mut refs = refs.lock().unwrap();
                    for (id, r) in got {
                        refs.insert((side, lib, id), r);
                    }
                });
            }
        }
    });
    refs.into_inner().unwrap()
}

/// A cell's raw material: what the proxy reported and what the client saw.
struct Run {
    lines: Vec<Value>,
    client_saw: Option<Value>,
    problem: Option<String>,
}

/// One job: a proxy per row in front of `server`, one `client` process with a
/// connection through each, then SIGINT to every proxy and its report read.
fn run_job(client: Lib, server: (Lib, &str), combo: Combo, rows: &[usize], dir: &Path) -> Vec<Run> {
    let upstream = server
        .1
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_owned();
    struct Proxy {
        guard: Option<Kill>,
        report: PathBuf,
        url: Option<String>,
        problem: Option<String>,
    }
    let mut proxies: Vec<Proxy> = Vec::new();
    for &i in rows {
        let row = &ROWS[i];
        let report = dir.join(format!(
            "{}-{}-{}-{i}.jsonl",
            client.name(),
            server.0.name(),
            combo
                .label()
                .trim_start_matches('+')
                .replace([':', '='], "-")
        ));
        let mut cmd = Command::new(BIN);
        cmd.args(["proxy", "--listen", "127.0.0.1:0", "--upstream", &upstream])
            .args(["--seed", SEED, "--reaction-timeout-ms", TIMEOUT_MS])
            .arg("--report")
            .arg(&report)
            .args(["--fault", row.spec]);
        if let Some(t) = combo.transport() {
            cmd.args(["--fault", t]);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start wschaos proxy");
        let banner = stderr_line(&mut child, "listening on ", Duration::from_secs(20));
        let guard = Kill(child);
        let (url, problem) = match banner {
            Ok(line) => {
                let addr = line
                    .split("listening on ")
                    .nth(1)
                    .and_then(|r| r.split(',').next())
                    .unwrap_or("?")
                    .to_owned();
                let query = if row.server_close {
                    "?close=server"
                } else {
                    ""
                };
                (Some(format!("ws://{addr}/{query}")), None)
            }
            Err(e) => (None, Some(format!("proxy did not start: {e}"))),
        };
        proxies.push(Proxy {
            guard: Some(guard),
            report,
            url,
            problem,
        });
    }
    // A connection that carries nothing (TCP opened and closed before any
    // handshake) comes first on every proxy, as conn 1: it must get no line.
    for url in proxies.iter().filter_map(|p| p.url.as_ref()) {
        let addr = url.trim_start_matches("ws://").split('/').next().unwrap();
        if let Ok(s) = std::net::TcpStream::connect(addr) {
            drop(s);
        }
    }
    let mut cmd = client.client_command();
    for url in proxies.iter().filter_map(|p| p.url.as_ref()) {
        cmd.args(["--traffic", url]);
    }
    cmd.args(["--messages", "3", "--ping"]);
    let (code, out, err) = run_bounded(cmd, Duration::from_secs(40));
    let saw: HashMap<String, Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| Some((v["url"].as_str()?.to_owned(), v)))
        .collect();
    let client_problem = (code != Some(0)).then(|| {
        format!(
            "the {} client exited {code:?}: {}",
            client.name(),
            err.trim()
        )
    });
    proxies
        .into_iter()
        .map(|mut p| {
            let exit = p.guard.take().unwrap().interrupt(Duration::from_secs(15));
            let mut problem = p.problem.or(client_problem.clone());
            if !matches!(exit, Some(0 | 1)) && problem.is_none() {
                problem = Some(format!("proxy exit {exit:?} after SIGINT"));
            }
            let lines = std::fs::read_to_string(&p.report)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            Run {
                lines,
                client_saw: p.url.as_ref().and_then(|u| saw.get(u).cloned()),
                problem,
            }
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Agree,
    Disagree(String),
    Skipped(String),
}

struct Cell {
    client: Lib,
    server: Lib,
    row: usize,
    combo: Combo,
    expected: String,
    /// The frame fault's line: `observed -> verdict`.
    proxy: String,
    /// The transport fault's line: its verdict (or what is wrong with it).
    transport: String,
    outcome: Outcome,
    client_saw: String,
}

impl Cell {
    fn label(&self) -> String {
        format!(
            "{}>{} {} {}",
            self.client.name(),
            self.server.name(),
            ROWS[self.row].spec,
            self.combo.label()
        )
    }
}

/// What a cell expects of the proxy's frame-fault line.
struct Expected {
    /// e.g. `fail (continued) = aiohttp server mask.unmasked-text`.
    label: String,
    verdict: String,
    /// The checker saw the receiver carry on (echo it, or go on otherwise).
    carried_on: bool,
}

/// The reference for a cell, or why there is none.
fn expected_for(
    row: &Row,
    receiver: Lib,
    combo: Combo,
    frame: Option<&Value>,
    refs: &References,
) -> Result<Expected, String> {
    let base = match row.reference {
        Reference::CloseReply => {
            return Ok(Expected {
                label: "pass (tcp-close) = rule: fault on the Close reply".into(),
                verdict: "pass".into(),
                carried_on: false,
            });
        }
        Reference::Case(id) => id.to_owned(),
        Reference::ReservedOpcode => {
            // "opcode 0x1 -> reserved 0x5"
            let what = frame
                .and_then(|f| f["what"].as_str())
                .ok_or("no injection, so no opcode to look up")?;
            let nibble = what
                .rsplit("0x")
                .next()
                .filter(|n| n.len() == 1)
                .ok_or_else(|| format!("cannot read the opcode from {what:?}"))?;
            format!("opcode.reserved-{}", nibble.to_ascii_lowercase())
        }
    };
    let side = row.side();
    let chopped = format!("{base}+chop1");
    let id = if combo == Combo::Slice && refs.contains_key(&(side, receiver, chopped.clone())) {
        chopped
    } else {
        base
    };
    let r = refs
        .get(&(side, receiver, id.clone()))
        .ok_or_else(|| format!("no reference for {id}"))?;
    Ok(Expected {
        label: format!(
            "{} ({}) = {} {} {}",
            r.verdict,
            r.observed,
            receiver.name(),
            side.name(),
            id
        ),
        verdict: r.verdict.clone(),
        carried_on: matches!(r.observed.as_str(), "echo" | "continued"),
    })
}

/// The first connection of every proxy carries nothing (see `run_job`).
const BARE_CONN: u64 = 1;

/// `verdict (observed)` of a report line.
fn line_summary(l: &Value) -> String {
    format!(
        "{} ({})",
        l["verdict"].as_str().unwrap_or("none"),
        l.get("observed")
            .filter(|o| !o.is_null())
            .map_or("none".into(), observed)
    )
}

fn judge(
    client: Lib,
    server: Lib,
    row_index: usize,
    combo: Combo,
    run: Run,
    refs: &References,
) -> Cell {
    let row = &ROWS[row_index];
    let receiver = match row.side() {
        Side::Server => server,
        Side::Client => client,
    };
    let (bare, lines): (Vec<&Value>, Vec<&Value>) = run
        .lines
        .iter()
        .partition(|l| l["conn"].as_u64() == Some(BARE_CONN));
    let frames: Vec<&Value> = lines
        .iter()
        .copied()
        .filter(|l| l["fault"] == row.spec)
        .collect();
    let transports: Vec<&Value> = lines
        .iter()
        .copied()
        .filter(|l| combo.transport().is_some_and(|t| l["fault"] == t))
        .collect();
    let frame = frames.first().copied();
    let client_saw = run
        .client_saw
        .as_ref()
        .map(|v| {
            let mut v = v.clone();
            v.as_object_mut().map(|o| o.remove("url"));
            v.to_string()
        })
        .unwrap_or_else(|| "(no output)".into());
    let proxy = frame.map_or_else(|| "no line".to_owned(), line_summary);
    let transport = match (combo.transport(), transports.as_slice()) {
        (None, _) => "-".to_owned(),
        (Some(_), []) => "no line".to_owned(),
        (Some(_), [t]) => line_summary(t),
        (Some(_), many) => format!("{} lines", many.len()),
    };
    let expected = expected_for(row, receiver, combo, frame, refs);
    let mut problems: Vec<String> = run.problem.iter().cloned().collect();
    let outcome = match (&expected, frame) {
        (_, None) => {
            problems.push("the frame fault was not injected (no report line)".into());
            Outcome::Disagree(problems.join("; "))
        }
        (Err(why), Some(_)) => Outcome::Skipped(why.clone()),
        (Ok(want), Some(f)) => {
            if frames.len() > 1 {
                problems.push(format!("{} lines for the frame fault", frames.len()));
            }
            let got = f["verdict"].as_str().unwrap_or("none");
            if got != want.verdict {
                problems.push(format!("proxy {got}, checker {}", want.verdict));
            }
            let kind = f["observed"]["kind"].as_str().unwrap_or("none");
            if want.carried_on && !matches!(kind, "echo" | "continued") {
                problems.push(format!(
                    "the receiver carried on, the proxy reports {}: data after the fault is final, a later Close is no reaction",
                    observed(&f["observed"])
                ));
            }
            if let Some(t) = combo.transport() {
                match transports.as_slice() {
                    [one] if one["verdict"] == "pass" => {}
                    [one] => problems.push(format!(
                        "{t} judged {}: blamed for the frame fault's close",
                        one["verdict"].as_str().unwrap_or("none")
                    )),
                    [] => problems.push(format!(
                        "no {t} line although the connection carried frames"
                    )),
                    many => problems.push(format!("{} lines for {t}", many.len())),
                }
            }
            let others = lines.len() - frames.len() - transports.len();
            if others > 0 {
                problems.push(format!("{others} unexpected report lines"));
            }
            if !bare.is_empty() {
                let faults: Vec<&str> = bare.iter().filter_map(|l| l["fault"].as_str()).collect();
                problems.push(format!(
                    "a line for a connection that carried no frames ({})",
                    faults.join(", ")
                ));
            }
            if problems.is_empty() {
                Outcome::Agree
            } else {
                Outcome::Disagree(problems.join("; "))
            }
        }
    };
    Cell {
        client,
        server,
        row: row_index,
        combo,
        expected: expected.map_or_else(|e| format!("none: {e}"), |e| e.label),
        proxy,
        transport,
        outcome,
        client_saw,
    }
}

/// The table (padded columns), the notes, the summary line; with `details`, what
/// the client saw in every disagreeing cell.
fn table(cells: &[Cell], details: bool) -> String {
    let mut rows: Vec<[String; 7]> = vec![[
        "CLIENT>SERVER".into(),
        "FAULT".into(),
        "COMBO".into(),
        "EXPECTED (CHECKER VERDICT FOR THE RECEIVER)".into(),
        "PROXY".into(),
        "TRANSPORT".into(),
        "RESULT".into(),
    ]];
    for c in cells {
        let spec = if ROWS[c.row].server_close {
            format!("{} (server closes)", ROWS[c.row].spec)
        } else {
            ROWS[c.row].spec.to_owned()
        };
        rows.push([
            format!("{}>{}", c.client.name(), c.server.name()),
            spec,
            c.combo.label().to_owned(),
            c.expected.clone(),
            c.proxy.clone(),
            c.transport.clone(),
            match &c.outcome {
                Outcome::Agree => "agree".to_owned(),
                Outcome::Disagree(why) => format!("DISAGREE: {why}"),
                Outcome::Skipped(why) => format!("skipped: {why}"),
            },
        ]);
    }
    let mut widths = [0; 7];
    for r in &rows {
        for (w, col) in widths.iter_mut().zip(r) {
            *w = (*w).max(col.chars().count());
        }
    }
    let mut t = String::new();
    for r in &rows {
        for (i, col) in r.iter().enumerate() {
            if i + 1 < r.len() {
                let _ = write!(t, "{col:<w$}  ", w = widths[i]);
            } else {
                let _ = writeln!(t, "{col}");
            }
        }
    }
    let notes: Vec<String> = ROWS
        .iter()
        .filter(|r| !r.note.is_empty())
        .map(|r| format!("  {}: {}", r.spec, r.note))
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(t, "notes:\n{}", notes.join("\n"));
    }
    if details {
        let disagreeing: Vec<&Cell> = cells
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Disagree(_)))
            .collect();
        if !disagreeing.is_empty() {
            let _ = writeln!(t, "what the client saw in the disagreeing cells:");
            for c in disagreeing {
                let _ = writeln!(t, "  {}: {}", c.label(), c.client_saw);
            }
        }
    }
    let count = |f: fn(&Outcome) -> bool| cells.iter().filter(|c| f(&c.outcome)).count();
    let _ = writeln!(
        t,
        "{} cells: {} agree, {} disagree, {} skipped",
        cells.len(),
        count(|o| *o == Outcome::Agree),
        count(|o| matches!(o, Outcome::Disagree(_))),
        count(|o| matches!(o, Outcome::Skipped(_)))
    );
    t
}

#[test]
fn proxy_verdicts_match_the_checker_on_real_peers() {
    if !peers_ready() {
        return;
    }
    let started = Instant::now();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("proxy_matrix");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let mut guards = Vec::new();
    let mut servers = HashMap::new();
    for lib in LIBS {
        let (guard, url) = spawn_server(lib);
        guards.push(guard);
        servers.insert(lib, url);
    }
    let refs = run_references(&servers, &dir);
    let refs_took = started.elapsed();

    let only = std::env::var("WSCHAOS_MATRIX_ONLY").ok();
    // One job per (pair, combination), holding the rows that pass the filter.
    let mut jobs = Vec::new();
    for client in LIBS {
        for server in LIBS {
            for combo in COMBOS {
                let rows: Vec<usize> = (0..ROWS.len())
                    .filter(|&i| {
                        only.as_deref().is_none_or(|o| {
                            format!(
                                "{}>{} {} {}",
                                client.name(),
                                server.name(),
                                ROWS[i].spec,
                                combo.label()
                            )
                            .contains(o)
                        })
                    })
                    .collect();
                if !rows.is_empty() {
                    jobs.push((client, server, combo, rows));
                }
            }
        }
    }
    let queue = Mutex::new(jobs);
    let cells = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                loop {
                    let Some((client, server, combo, rows)) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    let runs = run_job(client, (server, &servers[&server]), combo, &rows, &dir);
                    let judged: Vec<Cell> = rows
                        .iter()
                        .zip(runs)
                        .map(|(&i, run)| judge(client, server, i, combo, run, &refs))
                        .collect();
                    cells.lock().unwrap().extend(judged);
                }
            });
        }
    });
    drop(guards);
    let mut cells = cells.into_inner().unwrap();
    cells.sort_by_key(|c| {
        (
            c.client,
            c.server,
            c.row,
            COMBOS.iter().position(|&x| x == c.combo),
        )
    });
    let mut footer = String::new();
    if let Some(o) = &only {
        footer.push_str(&format!(
            "only the cells whose label contains {o:?} ran (WSCHAOS_MATRIX_ONLY)\n"
        ));
    }
    footer.push_str(&format!(
        "references took {:.1} s, the whole matrix {:.1} s\n",
        refs_took.as_secs_f64(),
        started.elapsed().as_secs_f64()
    ));
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("proxy_matrix.txt");
    let _ = std::fs::write(&out, table(&cells, true) + &footer);
    eprintln!(
        "{}{footer}(with what the client saw: {})",
        table(&cells, false),
        out.display()
    );
    let disagreeing: Vec<String> = cells
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Disagree(why) => Some(format!("{}: {why}", c.label())),
            _ => None,
        })
        .collect();
    assert!(
        disagreeing.is_empty(),
        "{} of {} cells disagree with the checker or break a rule:\n{}",
        disagreeing.len(),
        cells.len(),
        disagreeing.join("\n")
    );
}
