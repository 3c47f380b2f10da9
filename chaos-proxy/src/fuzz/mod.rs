//! `wschaos fuzz`: the close-code oracle pointed at a live endpoint, a server
//! (`--target`) or a client (`--listen`). Each execution opens a connection (or
//! takes the client's next one), sends a generated input ([`inputs`]) and is
//! judged as a checker case would be: the codec's validator, run as the
//! receiver, says what the endpoint owes (the replay oracle), and the checker
//! observes and judges what it did. A `fail` or `non-strict` verdict is a
//! finding: deduplicated by (rule broken, reaction seen), minimized against
//! the live server (frames removed while the same disagreement stays), saved
//! as a file `wschaos replay` sends again, and described in `findings.jsonl`.
//!
//! Some executions offer (or, for a client, accept) permessage-deflate and send
//! compressed messages; the oracle then reads them as compressed. One lax
//! reaction is counted but not a finding unless `strict`: a text message's
//! invalid UTF-8 acted on only after later frames (the catalogue's `utf8.*`
//! fail-fast cases grade that, as Autobahn does).

pub mod inputs;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::Mutex;
use tokio::time::Instant;
use wschaos_codec::validate::DeflateConfig;
use wschaos_codec::{CloseCode, OpCode, Role, ValidatorConfig, Violation, classify};

use crate::catalogue::{Case, DeflateProfile, Expect, Setup, Side, Write, catalogue};
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
    /// Which executions negotiate permessage-deflate.
    pub deflate: DeflateMode,
    /// Count lax reactions the catalogue grades elsewhere (invalid UTF-8 acted
    /// on only after later frames) as findings too.
    pub strict: bool,
    /// Disagreements already known (rule, reaction), from earlier runs'
    /// `findings.jsonl` (`--known`): counted, not reported again.
    pub known: BTreeSet<(String, String)>,
}

/// The (rule, reaction) pairs of the findings in `files` (`findings.jsonl` of
/// earlier runs); a file that cannot be read or a line that is not a finding
/// is a one-line error.
pub fn read_known(files: &[PathBuf]) -> Result<BTreeSet<(String, String)>, String> {
    let mut known = BTreeSet::new();
    for file in files {
        let shown = file.display();
        let meta = std::fs::metadata(file).map_err(|e| format!("--known {shown}: {e}"))?;
        if !meta.is_file() || meta.len() > MAX_KNOWN_BYTES {
            return Err(format!(
                "--known {shown}: not a findings.jsonl file (a regular file of at most 16 MiB)"
            ));
        }
        let text = std::fs::read_to_string(file).map_err(|e| format!("--known {shown}: {e}"))?;
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| format!("--known {shown}, line {}: {e}", n + 1))?;
            match (v["rule"].as_str(), v["reaction"].as_str()) {
                (Some(rule), Some(reaction)) => {
                    known.insert((rule.to_owned(), reaction.to_owned()));
                }
                _ => {
                    return Err(format!(
                        "--known {shown}, line {}: not a finding (no \"rule\" and \"reaction\")",
                        n + 1
                    ));
                }
            }
        }
    }
    Ok(known)
}

/// The largest `--known` file read.
const MAX_KNOWN_BYTES: u64 = 16 * 1024 * 1024;

/// Which executions negotiate permessage-deflate (offer it to a server, or
/// accept a client's offer) and send compressed messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DeflateMode {
    /// None.
    Off,
    /// One in four, until the endpoint has declined it 8 times
    /// (`DECLINES_BEFORE_OFF`) without ever agreeing.
    #[default]
    Mix,
    /// Every one (an endpoint that declines gives only `info`).
    Only,
}

/// Declines (and no agreement) after which a `mix` run stops negotiating
/// permessage-deflate.
pub const DECLINES_BEFORE_OFF: u64 = 8;

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
    /// The rule the input breaks (`valid` for valid traffic; `deflate-` in front
    /// when permessage-deflate was agreed) and the reaction seen: what findings
    /// are deduplicated by.
    pub rule: String,
    pub reaction: String,
    /// Sent on a connection that agreed to permessage-deflate.
    pub deflate: bool,
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
    /// Lax reactions not counted as findings (see [`FuzzConfig::strict`]).
    pub lax: u64,
    /// Disagreements seen that were already known ([`FuzzConfig::known`]).
    pub known: u64,
    /// Executions that negotiated permessage-deflate, and those the endpoint
    /// declined it in (reported as `info`, not judged).
    pub deflate_runs: u64,
    pub deflate_declined: u64,
}

fn validator(receiver: Role, deflate: bool) -> ValidatorConfig {
    let config = ValidatorConfig::new(receiver);
    if deflate {
        config.with_deflate(DeflateConfig::default())
    } else {
        config
    }
}

/// The rule an input breaks, by the codec's validator as `receiver` (reading
/// compressed messages when `deflate`, and saying so in front).
pub fn rule_of(receiver: Role, bytes: &[u8], deflate: bool) -> String {
    let rule = match classify(validator(receiver, deflate), bytes).violation {
        Some((_, v)) => format!("{v:?}")
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect(),
        None => "valid".to_owned(),
    };
    if deflate {
        format!("deflate-{rule}")
    } else {
        rule
    }
}

/// The reaction seen, as findings are deduplicated by it. A Close carrying a
/// code the input's own Close carried is "our code echoed", whatever the code.
fn reaction_in(o: &Observed, bytes: &[u8]) -> String {
    if echoes_our_code(o, bytes) {
        return "close (our code echoed)".to_owned();
    }
    reaction_of(o)
}

/// Whether `o` is a Close carrying a code a Close in `bytes` carried.
fn echoes_our_code(o: &Observed, bytes: &[u8]) -> bool {
    let Observed::Close { code: Some(c), .. } = o else {
        return false;
    };
    Write::PerFrame.pieces(bytes).iter().any(|f| {
        close_payload(f)
            .is_some_and(|p| p.len() >= 2 && u16::from_be_bytes([p[0], p[1]]) == u16::from(*c))
    })
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
fn judged(receiver: Role, bytes: &[u8], deflate: bool) -> Option<Expect> {
    if bytes.is_empty() || carries_late_code(bytes) {
        return None;
    }
    let outcome = classify(validator(receiver, deflate), bytes);
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
        // Invalid UTF-8 (or DEFLATE data) in a message that the input does not
        // finish: a receiver may check a message's UTF-8 (or inflate it) once
        // it is whole (late detection is graded by the catalogue's paused
        // cases, not here).
        Some((i, Violation::InvalidUtf8Text | Violation::InvalidDeflate))
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
    match expectation_as(receiver, bytes, deflate) {
        Expect::Info => None,
        Expect::Close { mut codes, .. } => {
            if let Some((i, v)) = &outcome.violation {
                codes.extend(also_accepted(bytes, *i as usize, v));
            }
            Some(Expect::Close {
                codes,
                after_valid: false,
            })
        }
        e => Some(e),
    }
}

/// A frame length any receiver may refuse as too big (1009), whatever else
/// is wrong with the frame.
const SIZE_REFUSABLE: u64 = 64 * 1024;

/// A code that also answers `v`, broken in frame `index` of `bytes`, because
/// that frame breaks a second rule at once.
fn also_accepted(bytes: &[u8], index: usize, v: &Violation) -> Option<CloseCode> {
    // A frame announcing more than any message limit: a receiver may refuse
    // the length (1009) before it looks at anything else in the header.
    // Limits under 64 KiB are not assumed.
    let announced = Write::PerFrame
        .pieces(bytes)
        .get(index)
        .filter(|f| f.len() >= 2)
        .and_then(|f| {
            let head = wschaos_codec::parse::header_len(f[1]);
            let mut header = f[..head.min(f.len())].to_vec();
            header.resize(head, 0);
            wschaos_codec::parse::decode_header(&header).map(|(h, _)| h.payload_len)
        });
    match v {
        // A Close whose code and reason are both invalid.
        Violation::InvalidCloseCode(_) if close_reason_invalid(bytes, index) => {
            Some(CloseCode::Invalid)
        }
        Violation::ControlTooLong(n) if *n >= SIZE_REFUSABLE => Some(CloseCode::Size),
        _ if announced.is_some_and(|n| n >= SIZE_REFUSABLE) => Some(CloseCode::Size),
        _ => None,
    }
}

/// Whether `observed` is lax only in when it checked UTF-8: `bytes` break the
/// UTF-8 rule first, in a text message, and the reaction is the one owed by
/// what follows that message's invalid text (the same bytes with that message
/// and every later text message sent as binary, which is not checked): a
/// receiver that checks a message's UTF-8 when it hands the message on reads
/// later frames first.
fn lazy_utf8(receiver: Role, bytes: &[u8], deflate: bool, observed: &Observed) -> bool {
    let outcome = classify(validator(receiver, deflate), bytes);
    let Some((at, Violation::InvalidUtf8Text)) = outcome.violation else {
        return false;
    };
    // Where the frames that open a text message start, and which frame each is.
    let mut starts = Vec::new();
    let mut offset = 0;
    for (i, piece) in Write::PerFrame.pieces(bytes).into_iter().enumerate() {
        if piece
            .first()
            .is_some_and(|b| b & 0x0F == OpCode::TEXT.nibble())
        {
            starts.push((i as u64, offset));
        }
        offset += piece.len();
    }
    // The text message the bad frame belongs to opened at or before it.
    let Some(first) = starts.iter().rposition(|&(i, _)| i <= at) else {
        return false;
    };
    let mut binary = bytes.to_vec();
    for &(_, s) in &starts[first..] {
        binary[s] = (binary[s] & 0xF0) | OpCode::BINARY.nibble();
    }
    let after = classify(validator(receiver, deflate), &binary);
    // A receiver may also act on a rule the bytes of a header it has not
    // finished reading already break.
    let violation = after
        .violation
        .or_else(|| committed_by_partial_header(receiver, &binary, deflate));
    match (violation, observed) {
        // A later rule broken, and answered with its code.
        (Some((i, v)), Observed::Close { code: Some(c), .. }) => {
            v.accepted_codes().contains(c) || also_accepted(&binary, i as usize, &v) == Some(*c)
        }
        // A Close after the message, answered as a Close is.
        (None, Observed::Close { code, .. }) if after.closed => {
            code.is_none_or(|c| c == CloseCode::Normal) || echoes_our_code(observed, bytes)
        }
        _ => false,
    }
}

/// The rule the last frame of `bytes` breaks whatever the rest of its header
/// (cut short) would be: the same violation with the header completed with
/// 0x00 bytes and with 0xFF bytes.
fn committed_by_partial_header(
    receiver: Role,
    bytes: &[u8],
    deflate: bool,
) -> Option<(u64, Violation)> {
    let pieces = Write::PerFrame.pieces(bytes);
    let last = pieces.last()?;
    if last.len() < 2 || wschaos_codec::parse::decode_header(last).is_some() {
        return None;
    }
    let missing = wschaos_codec::parse::header_len(last[1]).checked_sub(last.len())?;
    let index = pieces.len() as u64 - 1;
    let with = |pad: u8| {
        let mut padded = bytes.to_vec();
        padded.resize(bytes.len() + missing, pad);
        classify(validator(receiver, deflate), &padded)
            .violation
            .filter(|(i, _)| *i == index)
    };
    let v = with(0x00)?;
    (with(0xFF)? == v).then_some(v)
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
    deflate: bool,
) -> Option<CaseResult> {
    let expect = judged(endpoint.receiver(), bytes, deflate)?;
    let description = format!("{} generated bytes", bytes.len());
    let case = Case {
        write,
        ..Case::handshake(
            endpoint.side(),
            id,
            &description,
            if deflate {
                Setup::Deflate(DeflateProfile::Plain)
            } else {
                Setup::Plain
            },
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

/// Whether the endpoint declined permessage-deflate (the execution was not run).
fn declined(r: &CaseResult) -> bool {
    r.verdict == Verdict::Info
        && r.note
            .as_deref()
            .is_some_and(|n| n.starts_with("extension not negotiated"))
}

/// One input: its bytes, how they are written, whether permessage-deflate is
/// negotiated for them.
#[derive(Debug, Clone, Copy)]
struct Input<'a> {
    bytes: &'a [u8],
    write: Write,
    deflate: bool,
}

/// Whether the input still gives the finding `(rule, reaction)`.
async fn reproduces(
    endpoint: &Endpoint,
    input: Input<'_>,
    rule: &str,
    reaction: &str,
) -> Option<CaseResult> {
    let Input {
        bytes,
        write,
        deflate,
    } = input;
    if rule_of(endpoint.receiver(), bytes, deflate) != rule {
        return None;
    }
    let r = execute(endpoint, "minimize", bytes, write, deflate).await?;
    (is_finding(&r) && reaction_in(&r.observed, bytes) == reaction).then_some(r)
}

/// Removes frames, one at a time from the end, while the same disagreement
/// stays, until no frame can go or `budget` executions are spent.
async fn minimize(
    endpoint: &Endpoint,
    input: Input<'_>,
    rule: &str,
    reaction: &str,
    budget: usize,
) -> (Vec<u8>, Option<CaseResult>) {
    let mut frames: Vec<Vec<u8>> = Write::PerFrame
        .pieces(input.bytes)
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
            let bytes = candidate.concat();
            let candidate_input = Input {
                bytes: &bytes,
                ..input
            };
            if let Some(r) = reproduces(endpoint, candidate_input, rule, reaction).await {
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
        "deflate": f.deflate,
        "expected": f.result.expected,
        "observed": f.result.observed,
        "verdict": f.result.verdict,
        "note": f.result.note,
        "write": format!("{:?}", f.write),
        "replays_whole": f.write == Write::Whole,
        "bytes": hex,
        "frames": Write::PerFrame.pieces(&f.bytes).len(),
        "original": f.original.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "original_len": f.original.len(),
        "replay": replay_command(cfg, f),
    });
    let mut jsonl = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out.join("findings.jsonl"))?;
    writeln!(jsonl, "{line}")
}

/// The command line that replays a finding.
pub fn replay_command(cfg: &FuzzConfig, f: &Finding) -> String {
    let deflate = if f.deflate { " --offer-deflate" } else { "" };
    format!(
        "wschaos replay {}{deflate} {}",
        cfg.replay_with,
        f.file.display()
    )
}

struct Shared {
    rng: ChaCha8Rng,
    next_run: u64,
    outcome: Outcome,
    seen: BTreeMap<(String, String), usize>,
    /// Whether executions still negotiate permessage-deflate, and whether the
    /// endpoint ever agreed.
    deflate: DeflateMode,
    deflate_agreed: bool,
}

/// Fuzzes the endpoint until `runs` or `duration` is reached or `stop`
/// resolves.
pub async fn run(cfg: &FuzzConfig, stop: impl std::future::Future<Output = ()>) -> Outcome {
    let started = Instant::now();
    let key = crate::seed::mask_key(cfg.seed);
    let receiver = cfg.endpoint.receiver();
    let masked = receiver == Role::Server;
    // The catalogue's frame cases (not the bulk ones) are the mutation seeds:
    // those for a plain connection, and those for one with permessage-deflate.
    let cases = catalogue(cfg.endpoint.side(), cfg.seed);
    let frame_cases = |deflate: bool| -> Vec<Vec<u8>> {
        cases
            .iter()
            .filter(|c| c.bulk.is_none() && !c.bytes.is_empty())
            .filter(|c| match c.setup {
                Setup::Plain => !deflate,
                Setup::Deflate(_) => deflate,
                _ => false,
            })
            .map(|c| c.bytes.clone())
            .collect()
    };
    let mut plain = frame_cases(false);
    plain.extend(cfg.corpus.iter().cloned());
    let seeds: Arc<[Vec<Vec<u8>>; 2]> = Arc::new([plain, frame_cases(true)]);
    let shared = Arc::new(Mutex::new(Shared {
        rng: ChaCha8Rng::seed_from_u64(cfg.seed),
        next_run: 0,
        outcome: Outcome::default(),
        seen: BTreeMap::new(),
        deflate: cfg.deflate,
        deflate_agreed: false,
    }));
    let deadline = cfg.duration.map(|d| started + d);
    let cfg = Arc::new(cfg.clone());
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..cfg.jobs.max(1) {
        let (shared, cfg, seeds) = (shared.clone(), cfg.clone(), seeds.clone());
        workers.spawn(async move {
            loop {
                let (run, bytes, write, deflate) = {
                    let mut s = shared.lock().await;
                    if cfg.runs.is_some_and(|n| s.next_run >= n)
                        || deadline.is_some_and(|d| Instant::now() >= d)
                        || cfg.endpoint.gone()
                    {
                        return;
                    }
                    let run = s.next_run;
                    s.next_run += 1;
                    let deflate = match s.deflate {
                        DeflateMode::Off => false,
                        DeflateMode::Only => true,
                        DeflateMode::Mix => s.rng.random_bool(0.25),
                    };
                    let (bytes, write) = inputs::next(
                        &mut s.rng,
                        key,
                        masked,
                        deflate,
                        &seeds[usize::from(deflate)],
                    );
                    (run, bytes, write, deflate)
                };
                let rule = rule_of(receiver, &bytes, deflate);
                let input = Input {
                    bytes: &bytes,
                    write,
                    deflate,
                };
                let Some(result) =
                    execute(&cfg.endpoint, &format!("run-{run}"), &bytes, write, deflate).await
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
                    if deflate {
                        s.note_deflate(&result);
                    }
                    if declined(&result) {
                        s.outcome.skipped += 1;
                        continue;
                    }
                    s.outcome.rules.insert(rule.clone());
                    if !is_finding(&result) {
                        continue;
                    }
                    if !cfg.strict && lazy_utf8(receiver, &bytes, deflate, &result.observed) {
                        s.outcome.lax += 1;
                        continue;
                    }
                    let k = (rule.clone(), reaction.clone());
                    if cfg.known.contains(&k) {
                        s.outcome.known += 1;
                        continue;
                    }
                    if let Some(n) = s.seen.get_mut(&k) {
                        *n += 1;
                        s.outcome.duplicates += 1;
                        continue;
                    }
                    s.seen.insert(k, 1);
                }
                let finding = confirm(&cfg, run, input, &rule, &reaction, result).await;
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

impl Shared {
    /// Counts an execution that negotiated permessage-deflate; a `mix` run
    /// stops negotiating it once the endpoint has only ever declined.
    fn note_deflate(&mut self, result: &CaseResult) {
        self.outcome.deflate_runs += 1;
        if !declined(result) {
            self.deflate_agreed = true;
            return;
        }
        self.outcome.deflate_declined += 1;
        if self.deflate == DeflateMode::Mix
            && !self.deflate_agreed
            && self.outcome.deflate_declined >= DECLINES_BEFORE_OFF
        {
            self.deflate = DeflateMode::Off;
            eprintln!(
                "fuzz: the endpoint declined permessage-deflate {DECLINES_BEFORE_OFF} times and never agreed; going on without it"
            );
        }
    }
}

/// The stats line: executions and their rate, findings, rules exercised.
pub fn stats_line(o: &Outcome, elapsed: Duration) -> String {
    let rate = o.runs as f64 / elapsed.as_secs_f64().max(1e-3);
    let mut lax = String::new();
    if o.known > 0 {
        lax += &format!(", {} known", o.known);
    }
    if o.lax > 0 {
        lax += &format!(", {} lazy UTF-8 (not findings)", o.lax);
    }
    let deflate = if o.deflate_runs > 0 {
        format!(
            ", {} with permessage-deflate ({} declined)",
            o.deflate_runs, o.deflate_declined
        )
    } else {
        String::new()
    };
    format!(
        "fuzz: {} runs ({rate:.0}/s), {} not judged, {} finding(s) ({} duplicate(s)){lax}, {} rules exercised{deflate}",
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
    input: Input<'_>,
    rule: &str,
    reaction: &str,
    result: CaseResult,
) -> Finding {
    let whole = Input {
        write: Write::Whole,
        ..input
    };
    let input = if input.write == Write::Whole
        || reproduces(&cfg.endpoint, whole, rule, reaction)
            .await
            .is_some()
    {
        whole
    } else {
        input
    };
    let (small, last) = minimize(&cfg.endpoint, input, rule, reaction, cfg.minimize_budget).await;
    Finding {
        rule: rule.to_owned(),
        reaction: reaction.to_owned(),
        deflate: input.deflate,
        bytes: small,
        write: input.write,
        original: input.bytes.to_vec(),
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
            rule_of(Role::Server, &Frame::text("hi").encode().unwrap(), false),
            "UnmaskedClientFrame"
        );
        let ok = Frame::text("hi").masked(key).encode().unwrap();
        assert_eq!(rule_of(Role::Server, &ok, false), "valid");
        assert!(judged(Role::Server, &ok, false).is_some());
        // A message left open, or a frame cut short: the server would wait.
        let open = Frame::text("hi").fin(false).masked(key).encode().unwrap();
        assert!(judged(Role::Server, &open, false).is_none());
        assert!(judged(Role::Server, &ok[..3], false).is_none());
        // A length not minimally encoded: the RFC leaves it open.
        let nm = Frame::text("hi")
            .length_form(wschaos_codec::LengthForm::U64)
            .masked(key)
            .encode()
            .unwrap();
        assert!(judged(Role::Server, &nm, false).is_none());
        // A rule broken in an earlier, whole frame is judged though the input
        // stops inside the next one.
        let bad = Frame::text("hi").encode().unwrap();
        let cut = [bad.clone(), ok[..3].to_vec()].concat();
        assert!(judged(Role::Server, &cut, false).is_some());
        assert!(
            judged(
                Role::Server,
                &[ok.clone(), bad[..3].to_vec()].concat(),
                false
            )
            .is_none()
        );
        // A Close with an invalid code and an invalid reason: 1002 or 1007.
        let both = Frame::close(5000, b"ok\xff").masked(key).encode().unwrap();
        let Some(Expect::Close { codes, .. }) = judged(Role::Server, &both, false) else {
            panic!("judged")
        };
        assert_eq!(codes, [CloseCode::Protocol, CloseCode::Invalid]);
        let one = Frame::close(5000, b"ok").masked(key).encode().unwrap();
        let Some(Expect::Close { codes, .. }) = judged(Role::Server, &one, false) else {
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
        assert!(judged(Role::Server, &open_bad, false).is_none());
        let end = Frame::new(wschaos_codec::OpCode::CONTINUE, b"a".to_vec())
            .masked(key)
            .encode()
            .unwrap();
        assert!(
            judged(
                Role::Server,
                &[open_bad.clone(), end.clone()].concat(),
                false
            )
            .is_some()
        );
        // ... but not by a frame the input cuts short.
        assert!(judged(Role::Server, &[open_bad, end[..4].to_vec()].concat(), false).is_none());
        // Data and then a Close: the echo is not owed, so not judged.
        let close = Frame::close(1000, b"").masked(key).encode().unwrap();
        assert!(judged(Role::Server, &[ok.clone(), close.clone()].concat(), false).is_none());
        assert!(judged(Role::Server, &close, false).is_some());
    }

    fn close(code: Option<CloseCode>) -> Observed {
        Observed::Close {
            code,
            reason: String::new(),
        }
    }

    #[test]
    fn invalid_utf8_acted_on_after_later_frames_is_lazy_not_wrong() {
        // As Python websockets reacts: it checks a text message's UTF-8 when the
        // application reads it, after its protocol layer read what followed.
        let key = [0x0e, 0x51, 0xf5, 0x96];
        let bad_open = Frame::new(OpCode::TEXT, b"a\x80b".to_vec())
            .fin(false)
            .masked(key)
            .encode()
            .unwrap();
        let bad = Frame::new(OpCode::TEXT, b"\xed\xa0\x80".to_vec())
            .masked(key)
            .encode()
            .unwrap();
        // The message ends in an unmasked continuation: 1002 for that is lazy.
        let unmasked_end = Frame::new(OpCode::CONTINUE, b"\xce".to_vec())
            .encode()
            .unwrap();
        let input = [bad_open.clone(), unmasked_end].concat();
        assert_eq!(rule_of(Role::Server, &input, false), "InvalidUtf8Text");
        let protocol = close(Some(CloseCode::Protocol));
        assert!(lazy_utf8(Role::Server, &input, false, &protocol));
        assert!(!lazy_utf8(Role::Server, &input, false, &Observed::Echo));
        // A Close after the message, answered as a Close.
        let empty_close = Frame::new(OpCode::CLOSE, Vec::new())
            .masked(key)
            .encode()
            .unwrap();
        let input = [bad.clone(), empty_close].concat();
        assert!(lazy_utf8(Role::Server, &input, false, &close(None)));
        assert!(!lazy_utf8(Role::Server, &input, false, &Observed::TcpClose));
        let going_away = Frame::close(1001, b"").masked(key).encode().unwrap();
        let input = [bad.clone(), going_away].concat();
        assert!(lazy_utf8(
            Role::Server,
            &input,
            false,
            &close(Some(CloseCode::Away))
        ));
        // A ping announcing an exabyte: 1002 or 1009 both answer it.
        let huge_ping = [
            vec![0x89, 0xff],
            0x0e51_f596_6f37_81f3u64.to_be_bytes().to_vec(),
            vec![0x7c, 0x71, 0x81, 0xfe, 0x6b, 0x71],
        ]
        .concat();
        let input = [bad.clone(), huge_ping].concat();
        assert!(lazy_utf8(
            Role::Server,
            &input,
            false,
            &close(Some(CloseCode::Size))
        ));
        // Two bad text messages, then an orphan continuation: 1002 is lazy.
        let orphan = Frame::new(OpCode::CONTINUE, b"x".to_vec())
            .masked(key)
            .encode()
            .unwrap();
        let input = [bad.clone(), bad.clone(), orphan].concat();
        assert!(lazy_utf8(Role::Server, &input, false, &protocol));
        // A header cut short whose first bytes break a rule (RSV3, opcode 5):
        // acted on before the mask key came.
        let cut = [bad.clone(), vec![0x95, 0xc3, 0x47]].concat();
        assert!(lazy_utf8(Role::Server, &cut, false, &protocol));
        // An unmasked text frame announcing exabytes: 1009 answers it too.
        let huge_unmasked = [
            vec![0x81, 0x7f],
            0x47fa_ad38_b775_1287u64.to_be_bytes().to_vec(),
        ]
        .concat();
        let input = [bad.clone(), huge_unmasked].concat();
        assert!(lazy_utf8(
            Role::Server,
            &input,
            false,
            &close(Some(CloseCode::Size))
        ));
        // Nothing after the bad message: any wrong reaction is a finding.
        assert!(!lazy_utf8(Role::Server, &bad, false, &protocol));
        assert!(!lazy_utf8(Role::Server, &bad, false, &Observed::Echo));
        // Another rule broken first: not this class.
        let unmasked = Frame::text("hi").encode().unwrap();
        assert!(!lazy_utf8(Role::Server, &unmasked, false, &protocol));
    }

    #[test]
    fn a_control_frame_announcing_a_huge_length_may_be_refused_as_too_big() {
        let key = [1, 2, 3, 4];
        let Some(Expect::Close { codes, .. }) = judged(
            Role::Server,
            &Frame::ping(&[7; 126]).masked(key).encode().unwrap(),
            false,
        ) else {
            panic!("judged")
        };
        assert_eq!(codes, [CloseCode::Protocol]);
        let huge = Frame::new(OpCode::PING, vec![7; SIZE_REFUSABLE as usize])
            .masked(key)
            .encode()
            .unwrap();
        let Some(Expect::Close { codes, .. }) = judged(Role::Server, &huge, false) else {
            panic!("judged")
        };
        assert_eq!(codes, [CloseCode::Protocol, CloseCode::Size]);
    }

    #[test]
    fn with_deflate_agreed_compressed_inputs_are_judged_as_compressed() {
        let key = [1, 2, 3, 4];
        let compressed = |op, data: &[u8], fin| {
            Frame::new(op, wschaos_codec::deflate::compress_message(data))
                .fin(fin)
                .rsv(true, false, false)
                .masked(key)
                .encode()
                .unwrap()
        };
        let ok = compressed(OpCode::TEXT, b"hello", true);
        assert_eq!(rule_of(Role::Server, &ok, true), "deflate-valid");
        assert_eq!(judged(Role::Server, &ok, true), Some(Expect::Echo));
        assert_eq!(rule_of(Role::Server, &ok, false), "ReservedBit");
        let bad = compressed(OpCode::TEXT, b"a\xffb", true);
        assert_eq!(rule_of(Role::Server, &bad, true), "deflate-InvalidUtf8Text");
        let Some(Expect::Close { codes, .. }) = judged(Role::Server, &bad, true) else {
            panic!("judged")
        };
        assert_eq!(codes, [CloseCode::Invalid]);
        // DEFLATE data that is broken in a message left open: a receiver may
        // inflate only once the message is whole, so it is not judged.
        let mut broken = compressed(OpCode::TEXT, b"hello hello", false);
        let last = broken.len() - 1;
        broken[last] ^= 0xff;
        broken[6] ^= 0xff;
        if rule_of(Role::Server, &broken, true) == "deflate-InvalidDeflate" {
            assert!(judged(Role::Server, &broken, true).is_none());
        }
        // Lazy UTF-8 is recognised in compressed messages too.
        let unmasked_ping = Frame::ping(b"").encode().unwrap();
        let input = [bad, unmasked_ping].concat();
        assert!(lazy_utf8(
            Role::Server,
            &input,
            true,
            &close(Some(CloseCode::Protocol))
        ));
    }

    #[test]
    fn known_findings_are_read_from_earlier_runs_with_one_line_errors() {
        let dir = std::env::temp_dir().join(format!("wschaos-known-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("findings.jsonl");
        std::fs::write(
            &good,
            "{\"rule\":\"valid\",\"reaction\":\"close 1002\",\"seed\":1}\n\n{\"rule\":\"deflate-valid\",\"reaction\":\"continued\"}\n",
        )
        .unwrap();
        let known = read_known(std::slice::from_ref(&good)).unwrap();
        assert_eq!(known.len(), 2);
        assert!(known.contains(&("valid".to_owned(), "close 1002".to_owned())));
        let bad = dir.join("bad.jsonl");
        std::fs::write(&bad, "{\"rule\":\"valid\"}\n").unwrap();
        let e = read_known(std::slice::from_ref(&bad)).unwrap_err();
        assert!(e.contains("line 1") && e.contains("not a finding"), "{e}");
        std::fs::write(&bad, "not json\n").unwrap();
        assert!(read_known(&[bad]).unwrap_err().starts_with("--known "));
        assert!(
            read_known(std::slice::from_ref(&dir))
                .unwrap_err()
                .contains("not a findings.jsonl")
        );
        assert!(read_known(&[dir.join("missing")]).is_err());
        std::fs::remove_dir_all(dir).ok();
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
        assert_eq!(rule_of(Role::Client, &text, false), "valid");
        assert_eq!(judged(Role::Client, &text, false), Some(Expect::Echo));
        let masked = Frame::text("hi").masked([1, 2, 3, 4]).encode().unwrap();
        assert_ne!(rule_of(Role::Client, &masked, false), "valid");
        assert!(matches!(
            judged(Role::Client, &masked, false),
            Some(Expect::Close { .. })
        ));
    }
}
