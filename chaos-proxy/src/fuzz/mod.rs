//! `wschaos fuzz`: the close-code oracle pointed at a live endpoint, a server
//! (`--target`) or a client (`--listen`). Each execution opens a connection (or
//! takes the client's next one), sends a generated input ([`inputs`]) and is
//! judged as a checker case would be: the codec's validator, run as the
//! receiver, says what the endpoint owes (the replay oracle), and the checker
//! observes and judges what it did. A `fail` or `non-strict` verdict is a
//! finding: deduplicated by (rule broken, reaction seen), minimized against
//! the live server (frames removed while the same disagreement stays), saved
//! as a file `wschaos replay` sends again, and described in `findings.jsonl`.

pub mod inputs;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::Mutex;
use tokio::time::Instant;
use wschaos_codec::{CloseCode, Role, ValidatorConfig, Violation, classify};

use crate::catalogue::{Case, Expect, Setup, Side, Write, catalogue};
use crate::check::server::{ServerCheck, run_case};
use crate::replay::expectation_as;
use crate::report::{CaseResult, Observed, Verdict};
use crate::tls::{Acceptor, Conn};

/// The endpoint under test.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// A server (`--target`): each execution connects to it.
    Server(ServerCheck),
    /// A client (`--listen`): each execution runs on its next connection.
    Client(ClientEnd),
}

impl Endpoint {
    /// The role of the endpoint under test: the receiver the oracle plays.
    pub fn receiver(&self) -> Role {
        match self {
            Endpoint::Server(_) => Role::Server,
            Endpoint::Client(_) => Role::Client,
        }
    }

    fn side(&self) -> Side {
        match self {
            Endpoint::Server(_) => Side::Server,
            Endpoint::Client(_) => Side::Client,
        }
    }

    fn timeout(&self) -> Duration {
        match self {
            Endpoint::Server(c) => c.timeout,
            Endpoint::Client(c) => c.timeout,
        }
    }

    /// A client under test that stopped coming: the run ends.
    fn gone(&self) -> bool {
        match self {
            Endpoint::Server(_) => false,
            Endpoint::Client(c) => c.gone.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// A client under test: the connections it makes, accepted (and, for wss://,
/// TLS-accepted) in the background and taken one per execution.
#[derive(Debug, Clone)]
pub struct ClientEnd {
    conns: Arc<Mutex<tokio::sync::mpsc::Receiver<Conn>>>,
    pub timeout: Duration,
    /// How long an execution waits for the client's next connection before
    /// the run ends.
    pub wait: Duration,
    /// The number of inputs announced to clients that ask (`GET /cases`,
    /// `/getCaseCount`).
    pub count: usize,
    gone: Arc<std::sync::atomic::AtomicBool>,
}

impl ClientEnd {
    /// Accepts on `listener` until every handle is dropped.
    pub fn listen(
        listener: tokio::net::TcpListener,
        tls: Option<Acceptor>,
        timeout: Duration,
        wait: Duration,
        count: usize,
    ) -> ClientEnd {
        let (tx, rx) = tokio::sync::mpsc::channel::<Conn>(16);
        tokio::spawn(async move {
            loop {
                let tcp = tokio::select! {
                    a = listener.accept() => match a {
                        Ok((tcp, _)) => tcp,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    () = tx.closed() => return,
                };
                let _ = tcp.set_nodelay(true);
                let conn = match &tls {
                    None => Conn::from(tcp),
                    Some(tls) => match tokio::time::timeout(timeout, tls.accept(tcp)).await {
                        Ok(Ok(c)) => c,
                        _ => continue,
                    },
                };
                if tx.send(conn).await.is_err() {
                    return;
                }
            }
        });
        ClientEnd {
            conns: Arc::new(Mutex::new(rx)),
            timeout,
            wait,
            count,
            gone: Arc::default(),
        }
    }

    /// Runs `case` on the client's next connection that asks for one; `None`
    /// when no connection came within `wait` (the client is gone).
    pub async fn run(&self, case: &Case) -> Option<CaseResult> {
        loop {
            let next = {
                let mut conns = self.conns.lock().await;
                tokio::time::timeout(self.wait, conns.recv()).await
            };
            let Ok(Some(conn)) = next else {
                self.gone.store(true, std::sync::atomic::Ordering::Relaxed);
                return None;
            };
            if let Some(r) =
                crate::check::client::run_generated(conn, case, self.timeout, self.count).await
            {
                return Some(r);
            }
        }
    }
}

/// How a fuzz run goes.
#[derive(Debug, Clone)]
pub struct FuzzConfig {
    pub endpoint: Endpoint,
    pub seed: u64,
    /// Stop after this many executions.
    pub runs: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Executions at once.
    pub jobs: usize,
    /// Where findings go.
    pub out: PathBuf,
    /// Executions a minimization may take.
    pub minimize_budget: usize,
    /// A stats line on stderr this often (none when `None`).
    pub stats_every: Option<Duration>,
    /// How `wschaos replay` reaches the endpoint again (`--target URL` or
    /// `--listen ADDR`), for the findings' command lines.
    pub replay_with: String,
    /// Recorded traffic to mutate besides the catalogue's cases (`--corpus`):
    /// what the endpoint's peer sent, as `proxy --record` saves it.
    pub corpus: Vec<Vec<u8>>,
}

/// Files `--corpus` reads at most, and how much of each is kept as a seed
/// (mutations act near the start; a long recording would only make long inputs).
pub const MAX_CORPUS_FILES: usize = 10_000;
pub const MAX_SEED_BYTES: usize = 64 * 1024;

/// The seeds in `dirs` for an endpoint of role `receiver`: every regular file,
/// in name order, but a proxy recording of the other direction (`-s2c.bin` is
/// what a client receives, `-c2s.bin` what a server does) and the `.note`
/// files beside them. At most [`MAX_CORPUS_FILES`], each cut to
/// [`MAX_SEED_BYTES`]; an unreadable directory is a one-line error.
pub fn read_corpus(dirs: &[PathBuf], receiver: Role) -> Result<Vec<Vec<u8>>, String> {
    let other = match receiver {
        Role::Server => "-s2c.bin",
        Role::Client => "-c2s.bin",
    };
    let mut seeds = Vec::new();
    for dir in dirs {
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("--corpus {}: {e}", dir.display()))?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                name.is_some_and(|n| {
                    !n.ends_with(other) && !n.ends_with(".note") && !n.ends_with(".jsonl")
                })
            })
            .collect();
        paths.sort();
        for path in paths {
            if seeds.len() >= MAX_CORPUS_FILES {
                return Ok(seeds);
            }
            use std::io::Read as _;
            let mut bytes = Vec::new();
            let read = std::fs::File::open(&path)
                .and_then(|f| f.take(MAX_SEED_BYTES as u64).read_to_end(&mut bytes));
            if read.is_ok() && !bytes.is_empty() {
                seeds.push(bytes);
            }
        }
    }
    Ok(seeds)
}

/// A disagreement between the oracle and the endpoint.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The rule the input breaks (`valid` for valid traffic) and the reaction
    /// seen: what findings are deduplicated by.
    pub rule: String,
    pub reaction: String,
    /// The minimized input and how it is written.
    pub bytes: Vec<u8>,
    pub write: Write,
    /// The input as generated.
    pub original: Vec<u8>,
    /// The execution that found it (0-based; the same seed gives the same inputs).
    pub run: u64,
    pub result: CaseResult,
    /// Where it was saved.
    pub file: PathBuf,
}

/// What a fuzz run did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub runs: u64,
    /// Inputs the oracle does not judge (the RFC leaves the reaction open, or
    /// the input stops inside a frame or message), not sent.
    pub skipped: u64,
    pub findings: Vec<Finding>,
    /// Findings seen again (same rule, same reaction).
    pub duplicates: u64,
    /// The oracle's rules the executed inputs exercised (`valid` included).
    pub rules: BTreeSet<String>,
    pub elapsed: Duration,
}

/// The rule an input breaks, by the codec's validator as `receiver`.
pub fn rule_of(receiver: Role, bytes: &[u8]) -> String {
    match classify(ValidatorConfig::new(receiver), bytes).violation {
        Some((_, v)) => format!("{v:?}")
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect(),
        None => "valid".to_owned(),
    }
}

/// The reaction seen, as findings are deduplicated by it. A Close carrying a
/// code the input's own Close carried is "our code echoed", whatever the code.
fn reaction_in(o: &Observed, bytes: &[u8]) -> String {
    if let Observed::Close { code: Some(c), .. } = o {
        let ours = Write::PerFrame.pieces(bytes).iter().any(|f| {
            close_payload(f)
                .is_some_and(|p| p.len() >= 2 && u16::from_be_bytes([p[0], p[1]]) == u16::from(*c))
        });
        if ours {
            return "close (our code echoed)".to_owned();
        }
    }
    reaction_of(o)
}

fn reaction_of(o: &Observed) -> String {
    match o {
        Observed::Close { code: Some(c), .. } => format!("close {}", u16::from(*c)),
        Observed::Close { code: None, .. } => "close (no code)".to_owned(),
        Observed::TcpClose => "tcp-close".to_owned(),
        Observed::Echo => "echo".to_owned(),
        Observed::Continued => "continued".to_owned(),
        Observed::Timeout => "timeout".to_owned(),
        Observed::HandshakeRefused { status } => format!("handshake-refused {status}"),
    }
}

/// Bytes after a valid Close that are still judged (see `judged`).
const MAX_AFTER_CLOSE: usize = 4096;

/// What the oracle owes for `bytes`, or `None` where it does not judge: when
/// the RFC leaves the reaction open (a notice, such as a length not minimally
/// encoded), and when the input stops inside a frame or a message unless the
/// rule is broken in a frame before the last (a server may read a whole frame,
/// or message, before it checks it: the rest never coming is no reaction owed).
fn judged(receiver: Role, bytes: &[u8]) -> Option<Expect> {
    if bytes.is_empty() || carries_late_code(bytes) {
        return None;
    }
    let outcome = classify(ValidatorConfig::new(receiver), bytes);
    let pieces = Write::PerFrame.pieces(bytes);
    let last_whole = pieces.last().is_some_and(|last| {
        wschaos_codec::parse::decode_header(last)
            .is_some_and(|(h, head)| head as u64 + h.payload_len == last.len() as u64)
    });
    let whole_frames = pieces.len() as u64 - u64::from(!last_whole);
    let headers: Vec<_> = pieces
        .iter()
        .filter_map(|p| wschaos_codec::parse::decode_header(p).map(|(h, _)| h))
        .collect();
    match &outcome.violation {
        // Invalid UTF-8 in a message that the input does not finish: a server
        // may check a message's UTF-8 once it is whole (late detection is
        // graded by the catalogue's paused cases, not here).
        Some((i, Violation::InvalidUtf8Text))
            if !headers
                .iter()
                .take(whole_frames as usize)
                .skip(*i as usize)
                .any(|h| h.fin && !h.opcode.is_control()) =>
        {
            return None;
        }
        Some((i, _)) if *i < whole_frames => {}
        // Much data after a valid Close: the server closes TCP with it unread,
        // which makes its close a reset that can discard its answers before we
        // read them; what is seen then says nothing about the server.
        None if outcome.closed && outcome.trailing > MAX_AFTER_CLOSE => return None,
        // Data, then a Close in the same input: the server's application may
        // not get to echo before the server answers the Close; no echo is
        // owed then (the catalogue's `close.after-echo` waits for it).
        None if outcome.closed
            && headers
                .iter()
                .take_while(|h| h.opcode != wschaos_codec::OpCode::CLOSE)
                .any(|h| !h.opcode.is_control()) =>
        {
            return None;
        }
        None if !outcome.incomplete => {}
        _ => return None,
    }
    match expectation_as(receiver, bytes, false) {
        Expect::Info => None,
        Expect::Close { mut codes, .. } => {
            // A Close whose code and reason are both invalid breaks two rules
            // at once; either code answers it.
            if let Some((i, Violation::InvalidCloseCode(_))) = &outcome.violation {
                if close_reason_invalid(bytes, *i as usize) {
                    codes.push(CloseCode::Invalid);
                }
            }
            Some(Expect::Close {
                codes,
                after_valid: false,
            })
        }
        e => Some(e),
    }
}

/// The unmasked payload of a whole Close frame.
fn close_payload(frame: &[u8]) -> Option<Vec<u8>> {
    let (header, head_len) = wschaos_codec::parse::decode_header(frame)?;
    if header.opcode != wschaos_codec::OpCode::CLOSE {
        return None;
    }
    let mut payload = frame.get(head_len..)?.to_vec();
    if let Some(key) = header.mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Some(payload)
}

/// Whether frame `index` of `bytes` is a Close whose reason is not UTF-8.
fn close_reason_invalid(bytes: &[u8], index: usize) -> bool {
    Write::PerFrame
        .pieces(bytes)
        .get(index)
        .and_then(|f| close_payload(f))
        .is_some_and(|p| p.len() > 2 && std::str::from_utf8(&p[2..]).is_err())
}

/// Whether a Close in `bytes` carries 1012, 1013 or 1014: registered by IANA
/// after RFC 6455, so the catalogue only reports the reaction to them (their
/// `close.code-*` cases are info) and the fuzzer does not judge it.
fn carries_late_code(bytes: &[u8]) -> bool {
    Write::PerFrame.pieces(bytes).iter().any(|f| {
        close_payload(f).is_some_and(|p| {
            p.len() >= 2 && (1012..=1014).contains(&u16::from_be_bytes([p[0], p[1]]))
        })
    })
}

/// Sends `bytes` on a fresh connection and judges the reaction; `None` when the
/// oracle does not judge them (or a client under test is gone).
pub async fn execute(
    endpoint: &Endpoint,
    id: &str,
    bytes: &[u8],
    write: Write,
) -> Option<CaseResult> {
    let expect = judged(endpoint.receiver(), bytes)?;
    let description = format!("{} generated bytes", bytes.len());
    let case = Case {
        write,
        ..Case::handshake(
            endpoint.side(),
            id,
            &description,
            Setup::Plain,
            bytes.to_vec(),
            expect,
        )
    };
    match endpoint {
        Endpoint::Server(check) => Some(run_case(check, &case).await),
        Endpoint::Client(client) => client.run(&case).await,
    }
}

fn is_finding(r: &CaseResult) -> bool {
    matches!(r.verdict, Verdict::Fail | Verdict::NonStrict)
}

/// Whether `bytes` written as `write` still give the finding `(rule, reaction)`.
async fn reproduces(
    endpoint: &Endpoint,
    bytes: &[u8],
    write: Write,
    rule: &str,
    reaction: &str,
) -> Option<CaseResult> {
    if rule_of(endpoint.receiver(), bytes) != rule {
        return None;
    }
    let r = execute(endpoint, "minimize", bytes, write).await?;
    (is_finding(&r) && reaction_in(&r.observed, bytes) == reaction).then_some(r)
}

/// Removes frames, one at a time from the end, while the same disagreement
/// stays, until no frame can go or `budget` executions are spent.
pub async fn minimize(
    endpoint: &Endpoint,
    bytes: &[u8],
    write: Write,
    rule: &str,
    reaction: &str,
    budget: usize,
) -> (Vec<u8>, Option<CaseResult>) {
    let mut frames: Vec<Vec<u8>> = Write::PerFrame
        .pieces(bytes)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    let mut last = None;
    let mut spent = 0;
    loop {
        let mut shrank = false;
        let mut i = frames.len();
        while i > 0 && frames.len() > 1 {
            i -= 1;
            if spent >= budget {
                return (frames.concat(), last);
            }
            let mut candidate = frames.clone();
            candidate.remove(i);
            spent += 1;
            if let Some(r) = reproduces(endpoint, &candidate.concat(), write, rule, reaction).await
            {
                frames = candidate;
                last = Some(r);
                shrank = true;
            }
        }
        if !shrank {
            return (frames.concat(), last);
        }
    }
}

/// Saves a finding: `finding-N-<rule>.bin` (the minimized bytes, for `wschaos
/// replay`) and one JSON line in `findings.jsonl`.
fn save(out: &Path, n: usize, cfg: &FuzzConfig, f: &mut Finding) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(out)?;
    let file = out.join(format!("finding-{n}-{}.bin", f.rule));
    std::fs::write(&file, &f.bytes)?;
    f.file = file.clone();
    let hex: String = f.bytes.iter().map(|b| format!("{b:02x}")).collect();
    let line = serde_json::json!({
        "file": file.display().to_string(),
        "seed": cfg.seed,
        "run": f.run,
        "rule": f.rule,
        "reaction": f.reaction,
        "expected": f.result.expected,
        "observed": f.result.observed,
        "verdict": f.result.verdict,
        "note": f.result.note,
        "write": format!("{:?}", f.write),
        "replays_whole": f.write == Write::Whole,
        "bytes": hex,
        "frames": Write::PerFrame.pieces(&f.bytes).len(),
        "original_len": f.original.len(),
        "replay": format!("wschaos replay {} {}", cfg.replay_with, file.display()),
    });
    let mut jsonl = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out.join("findings.jsonl"))?;
    writeln!(jsonl, "{line}")
}

struct Shared {
    rng: ChaCha8Rng,
    next_run: u64,
    outcome: Outcome,
    seen: BTreeMap<(String, String), usize>,
}

/// Fuzzes `cfg.check.target` until `runs` or `duration` is reached or `stop`
/// resolves.
pub async fn run(cfg: &FuzzConfig, stop: impl std::future::Future<Output = ()>) -> Outcome {
    let started = Instant::now();
    let key = crate::seed::mask_key(cfg.seed);
    let masked = cfg.endpoint.receiver() == Role::Server;
    // The catalogue's frame cases (not the bulk ones) are the mutation seeds.
    let seeds: Arc<Vec<Vec<u8>>> = Arc::new(
        catalogue(cfg.endpoint.side(), cfg.seed)
            .into_iter()
            .filter(|c| c.bulk.is_none() && c.setup == Setup::Plain && !c.bytes.is_empty())
            .map(|c| c.bytes)
            .chain(cfg.corpus.iter().cloned())
            .collect(),
    );
    let shared = Arc::new(Mutex::new(Shared {
        rng: ChaCha8Rng::seed_from_u64(cfg.seed),
        next_run: 0,
        outcome: Outcome::default(),
        seen: BTreeMap::new(),
    }));
    let deadline = cfg.duration.map(|d| started + d);
    let cfg = Arc::new(cfg.clone());
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..cfg.jobs.max(1) {
        let (shared, cfg, seeds) = (shared.clone(), cfg.clone(), seeds.clone());
        workers.spawn(async move {
            loop {
                let (run, bytes, write) = {
                    let mut s = shared.lock().await;
                    if cfg.runs.is_some_and(|n| s.next_run >= n)
                        || deadline.is_some_and(|d| Instant::now() >= d)
                        || cfg.endpoint.gone()
                    {
                        return;
                    }
                    let run = s.next_run;
                    s.next_run += 1;
                    let (bytes, write) = inputs::next(&mut s.rng, key, masked, &seeds);
                    (run, bytes, write)
                };
                let rule = rule_of(cfg.endpoint.receiver(), &bytes);
                let Some(result) =
                    execute(&cfg.endpoint, &format!("run-{run}"), &bytes, write).await
                else {
                    if cfg.endpoint.gone() {
                        return;
                    }
                    let mut s = shared.lock().await;
                    s.outcome.runs += 1;
                    s.outcome.skipped += 1;
                    continue;
                };
                let reaction = reaction_in(&result.observed, &bytes);
                {
                    let mut s = shared.lock().await;
                    s.outcome.runs += 1;
                    s.outcome.rules.insert(rule.clone());
                    if !is_finding(&result) {
                        continue;
                    }
                    let k = (rule.clone(), reaction.clone());
                    if let Some(n) = s.seen.get_mut(&k) {
                        *n += 1;
                        s.outcome.duplicates += 1;
                        continue;
                    }
                    s.seen.insert(k, 1);
                }
                let finding = confirm(&cfg, run, bytes, write, &rule, &reaction, result).await;
                let mut s = shared.lock().await;
                let n = s.outcome.findings.len() + 1;
                let mut finding = finding;
                if let Err(e) = save(&cfg.out, n, &cfg, &mut finding) {
                    eprintln!(
                        "warning: cannot save a finding in {}: {e}",
                        cfg.out.display()
                    );
                }
                eprintln!(
                    "finding {n}: {} -> {} ({:?}, {} frame(s)) saved as {}",
                    finding.rule,
                    finding.reaction,
                    finding.result.verdict,
                    Write::PerFrame.pieces(&finding.bytes).len(),
                    finding.file.display()
                );
                s.outcome.findings.push(finding);
            }
        });
    }
    let mut stop = std::pin::pin!(stop);
    let mut tick = cfg
        .stats_every
        .map(|every| tokio::time::interval_at(Instant::now() + every, every));
    loop {
        tokio::select! {
            joined = workers.join_next() => if joined.is_none() { break },
            () = &mut stop => {
                // Let running executions finish (each is bounded by its timeout).
                shared.lock().await.next_run = u64::MAX;
                let _ = tokio::time::timeout(cfg.endpoint.timeout() * 2, async {
                    while workers.join_next().await.is_some() {}
                }).await;
                workers.abort_all();
                break;
            }
            _ = async { tick.as_mut().expect("guarded").tick().await }, if tick.is_some() => {
                let s = shared.lock().await;
                eprintln!("{}", stats_line(&s.outcome, started.elapsed()));
            }
        }
    }
    let mut s = shared.lock().await;
    s.outcome.elapsed = started.elapsed();
    std::mem::take(&mut s.outcome)
}

/// The stats line: executions and their rate, findings, rules exercised.
pub fn stats_line(o: &Outcome, elapsed: Duration) -> String {
    let rate = o.runs as f64 / elapsed.as_secs_f64().max(1e-3);
    format!(
        "fuzz: {} runs ({rate:.0}/s), {} not judged, {} finding(s) ({} duplicate(s)), {} rules exercised",
        o.runs,
        o.skipped,
        o.findings.len(),
        o.duplicates,
        o.rules.len()
    )
}

/// Makes a finding replayable and small: if it also shows when the bytes are
/// written whole (as `wschaos replay` does), it is minimized that way;
/// otherwise with the write mode that found it.
async fn confirm(
    cfg: &FuzzConfig,
    run: u64,
    bytes: Vec<u8>,
    write: Write,
    rule: &str,
    reaction: &str,
    result: CaseResult,
) -> Finding {
    let whole = write == Write::Whole
        || reproduces(&cfg.endpoint, &bytes, Write::Whole, rule, reaction)
            .await
            .is_some();
    let write = if whole { Write::Whole } else { write };
    let (small, last) = minimize(
        &cfg.endpoint,
        &bytes,
        write,
        rule,
        reaction,
        cfg.minimize_budget,
    )
    .await;
    Finding {
        rule: rule.to_owned(),
        reaction: reaction.to_owned(),
        bytes: small,
        write,
        original: bytes,
        run,
        result: last.unwrap_or(result),
        file: PathBuf::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wschaos_codec::encode::Frame;

    #[test]
    fn rules_come_from_the_validator_and_open_inputs_are_not_judged() {
        let key = [1, 2, 3, 4];
        assert_eq!(
            rule_of(Role::Server, &Frame::text("hi").encode().unwrap()),
            "UnmaskedClientFrame"
        );
        let ok = Frame::text("hi").masked(key).encode().unwrap();
        assert_eq!(rule_of(Role::Server, &ok), "valid");
        assert!(judged(Role::Server, &ok).is_some());
        // A message left open, or a frame cut short: the server would wait.
        let open = Frame::text("hi").fin(false).masked(key).encode().unwrap();
        assert!(judged(Role::Server, &open).is_none());
        assert!(judged(Role::Server, &ok[..3]).is_none());
        // A length not minimally encoded: the RFC leaves it open.
        let nm = Frame::text("hi")
            .length_form(wschaos_codec::LengthForm::U64)
            .masked(key)
            .encode()
            .unwrap();
        assert!(judged(Role::Server, &nm).is_none());
        // A rule broken in an earlier, whole frame is judged though the input
        // stops inside the next one.
        let bad = Frame::text("hi").encode().unwrap();
        let cut = [bad.clone(), ok[..3].to_vec()].concat();
        assert!(judged(Role::Server, &cut).is_some());
        assert!(judged(Role::Server, &[ok.clone(), bad[..3].to_vec()].concat()).is_none());
        // A Close with an invalid code and an invalid reason: 1002 or 1007.
        let both = Frame::close(5000, b"ok\xff").masked(key).encode().unwrap();
        let Some(Expect::Close { codes, .. }) = judged(Role::Server, &both) else {
            panic!("judged")
        };
        assert_eq!(codes, [CloseCode::Protocol, CloseCode::Invalid]);
        let one = Frame::close(5000, b"ok").masked(key).encode().unwrap();
        let Some(Expect::Close { codes, .. }) = judged(Role::Server, &one) else {
            panic!("judged")
        };
        assert_eq!(codes, [CloseCode::Protocol]);
        // Invalid UTF-8 in a message the input leaves open: not judged; once
        // the message is finished, judged.
        let open_bad = Frame::new(wschaos_codec::OpCode::TEXT, b"\xff".to_vec())
            .fin(false)
            .masked(key)
            .encode()
            .unwrap();
        assert!(judged(Role::Server, &open_bad).is_none());
        let end = Frame::new(wschaos_codec::OpCode::CONTINUE, b"a".to_vec())
            .masked(key)
            .encode()
            .unwrap();
        assert!(judged(Role::Server, &[open_bad.clone(), end.clone()].concat()).is_some());
        // ... but not by a frame the input cuts short.
        assert!(judged(Role::Server, &[open_bad, end[..4].to_vec()].concat()).is_none());
        // Data and then a Close: the echo is not owed, so not judged.
        let close = Frame::close(1000, b"").masked(key).encode().unwrap();
        assert!(judged(Role::Server, &[ok.clone(), close.clone()].concat()).is_none());
        assert!(judged(Role::Server, &close).is_some());
    }

    #[test]
    fn a_corpus_keeps_the_direction_the_endpoint_receives() {
        let dir = std::env::temp_dir().join(format!("wschaos-corpus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("conn-1-c2s.bin"), b"to the server").unwrap();
        std::fs::write(dir.join("conn-1-s2c.bin"), b"to the client").unwrap();
        std::fs::write(dir.join("conn-1.note"), b"a note").unwrap();
        std::fs::write(dir.join("big.bin"), vec![7u8; MAX_SEED_BYTES + 1]).unwrap();
        let server = read_corpus(std::slice::from_ref(&dir), Role::Server).unwrap();
        assert_eq!(server.len(), 2);
        assert_eq!(server[0].len(), MAX_SEED_BYTES, "cut to the seed size");
        assert_eq!(server[1], b"to the server");
        let client = read_corpus(std::slice::from_ref(&dir), Role::Client).unwrap();
        assert_eq!(client[1], b"to the client");
        let e = read_corpus(&[dir.join("missing")], Role::Server).unwrap_err();
        assert!(e.starts_with("--corpus ") && e.contains("missing"), "{e}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_client_under_test_is_judged_as_the_receiving_client() {
        let text = Frame::text("hi").encode().unwrap();
        assert_eq!(rule_of(Role::Client, &text), "valid");
        assert_eq!(judged(Role::Client, &text), Some(Expect::Echo));
        let masked = Frame::text("hi").masked([1, 2, 3, 4]).encode().unwrap();
        assert_ne!(rule_of(Role::Client, &masked), "valid");
        assert!(matches!(
            judged(Role::Client, &masked),
            Some(Expect::Close { .. })
        ));
    }
}
