//! check-server: for each case a fresh TCP connection and a real opening
//! handshake, then the case's bytes, then the server's reaction, judged. Cases run
//! concurrently up to `jobs`; each ends by its own deadline.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};
use tracing::{Instrument, debug, info_span};
use wschaos_codec::Role;
use wschaos_codec::handshake::{
    ExtensionOffer, RequestBuilder, check_answer, deflate_elements, generate_key, parse_response,
    validate_response,
};

use crate::catalogue::Write;
use crate::catalogue::{Case, Expect, HOST_PLACEHOLDER, PATH_PLACEHOLDER, Setup};
use crate::check::observe::{Answer, ObserveOptions, observe, plan_answers};
use crate::check::wire::{Recorded, Wire};
use crate::check::{HeadError, bulk, case_result, read_head, valid_first, write_case};
use crate::report::{CaseResult, Observed, Verdict};
use crate::seed::{key_nonce, mask_key};
use crate::tls::{Conn, Connector, connect_url};
use crate::url::WsUrl;
use crate::verdict::{self, Judgement, judge};

#[derive(Debug, Clone)]
pub struct ServerCheck {
    pub target: WsUrl,
    pub seed: u64,
    pub timeout: Duration,
    pub jobs: usize,
    pub repro_dir: Option<PathBuf>,
    /// What every upgrade request carries besides the case's own headers.
    pub extras: RequestExtras,
    /// One line on stderr per finished case (`--progress`).
    pub progress: bool,
    /// How `wss://` targets are verified; `None`: with the system's roots.
    pub tls: Option<Connector>,
}

/// What the user adds to every upgrade request, for servers that need a token, a
/// cookie, an origin or a subprotocol: headers (`--header`, `--origin`) and the
/// subprotocols offered (`--subprotocol`). Checked by the CLI: names are tokens,
/// values hold no control characters, and none is a header wschaos sets itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestExtras {
    pub headers: Vec<(String, String)>,
    pub subprotocols: Vec<String>,
}

impl RequestExtras {
    /// Adds the extras to a request being built.
    pub fn apply(&self, mut b: RequestBuilder) -> RequestBuilder {
        for (name, value) in &self.headers {
            b = b.header(name.clone(), value.clone());
        }
        if !self.subprotocols.is_empty() {
            b = b.protocol(self.subprotocols.join(", "));
        }
        b
    }

    /// Adds the extras' header lines to a raw request head (before its blank line).
    fn apply_raw(&self, head: String) -> String {
        let mut lines = String::new();
        for (name, value) in &self.headers {
            lines.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.subprotocols.is_empty() {
            lines.push_str(&format!(
                "Sec-WebSocket-Protocol: {}\r\n",
                self.subprotocols.join(", ")
            ));
        }
        match head.rfind("\r\n\r\n") {
            Some(end) => format!("{}\r\n{lines}\r\n{}", &head[..end], &head[end + 4..]),
            None => head,
        }
    }
}

/// Checks the target before any case runs, so a target that cannot be reached or
/// does not speak WebSocket is one error line, not a report full of `fail`: it
/// must answer a valid upgrade (the control case's handshake) with a valid 101, and
/// what it sends after that, if anything, must be frames. The probe ends with a
/// Close. Returns the 101's `Server:` header, if any (the agent name Autobahn
/// gives a server its spec names none for).
pub async fn probe(
    target: &WsUrl,
    timeout: Duration,
    extras: &RequestExtras,
    tls: Option<&Connector>,
) -> Result<Option<String>, String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let deadline = Instant::now() + timeout;
    let mut stream = match timeout_at(deadline, connect_url(target, tls)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(format!(
                "cannot connect to {}: no answer within {timeout:?}",
                target.authority()
            ));
        }
    };
    let not_ws = |what: &str| format!("target does not speak WebSocket: {what}");
    let key = generate_key(key_nonce(0, "probe"));
    let request = extras.apply(RequestBuilder::new(
        target.host_header(),
        target.path.clone(),
        key.clone(),
    ));
    let _ = timeout_at(deadline, stream.write_all(&request.build())).await;
    let (resp, buf) = match read_head(&mut stream, deadline, parse_response).await {
        Ok(r) => r,
        Err(HeadError::Timeout) => {
            return Err(not_ws(&format!(
                "no answer to a valid upgrade within {timeout:?}"
            )));
        }
        Err(HeadError::Closed) => {
            return Err(not_ws(
                "the connection closed without an answer to a valid upgrade",
            ));
        }
        Err(HeadError::Bad(e)) => {
            return Err(not_ws(&format!(
                "the answer to a valid upgrade is not an HTTP response ({e})"
            )));
        }
    };
    if resp.status != 101 {
        return Err(not_ws(&format!("HTTP {} to a valid upgrade", resp.status)));
    }
    if let Err(e) = validate_response(&resp, &key, &extras.subprotocols, &[]) {
        return Err(not_ws(&format!("invalid 101 response: {e}")));
    }
    let server_header = resp
        .header("Server")
        .map(|h| h.value_lossy().trim().to_owned())
        .filter(|s| !s.is_empty());
    // A Ping first: a server that hangs up on its own right after the 101 (and
    // so would be credited with a reaction to every violation) never answers it.
    let ping = wschaos_codec::encode::Frame::new(wschaos_codec::OpCode::PING, b"wschaos".to_vec())
        .masked(mask_key(0))
        .encode()
        .unwrap_or_default();
    let _ = timeout_at(deadline, stream.write_all(&ping)).await;
    let mut after = buf[resp.head_len..].to_vec();
    let window = Instant::now() + timeout.min(PROBE_WINDOW);
    let mut chunk = [0u8; 1024];
    let mut hung_up = false;
    while after.len() < 4096 && !has_frame(&after) {
        match timeout_at(window, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => after.extend_from_slice(&chunk[..n]),
            Ok(_) => {
                hung_up = true;
                break;
            }
            Err(_) => break,
        }
    }
    if hung_up && after.is_empty() {
        return Err(
            "target hangs up right after the handshake: it closed the connection \
             without answering a Ping, so no reaction to a violation could be told \
             from it (closed before the fault)"
                .into(),
        );
    }
    // Frames after the 101 (the Pong, a Close answering ours, or a greeting) are
    // fine; anything else means the endpoint is not a WebSocket server.
    let close = wschaos_codec::encode::Frame::close(1000, b"")
        .masked(mask_key(0))
        .encode()
        .unwrap_or_default();
    let _ = timeout_at(deadline, stream.write_all(&close)).await;
    let window = Instant::now() + timeout.min(PROBE_WINDOW);
    while !hung_up && after.len() < 4096 {
        match timeout_at(window, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => after.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    let outcome =
        wschaos_codec::classify(wschaos_codec::ValidatorConfig::new(Role::Client), &after);
    match outcome.violation {
        Some((_, v)) => Err(not_ws(&format!("invalid frame data after the 101 ({v})"))),
        None => Ok(server_header),
    }
}

/// Whether `bytes` hold at least one whole frame header and payload.
fn has_frame(bytes: &[u8]) -> bool {
    let outcome = wschaos_codec::classify(wschaos_codec::ValidatorConfig::new(Role::Client), bytes);
    outcome.violation.is_some() || outcome.frames.iter().any(|f| f.done.is_some())
}

/// How long the probe waits for what a target sends after its 101.
const PROBE_WINDOW: Duration = Duration::from_millis(500);

/// How long cases already running may take to finish once a run is stopped.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Runs `cases` and returns their results in the same order.
pub async fn run_suite(cfg: &ServerCheck, cases: Vec<Case>) -> Vec<CaseResult> {
    run_suite_until(cfg, cases, std::future::pending())
        .await
        .results
}

/// The results of a run that may have been stopped.
#[derive(Debug)]
pub struct SuiteOutcome {
    /// The cases that completed, in the order given.
    pub results: Vec<CaseResult>,
    /// Cases never started, or abandoned after [`STOP_GRACE`], because `stop` came.
    pub not_run: usize,
}

/// Like [`run_suite`], but once `stop` resolves no further case starts, and cases
/// already running get [`STOP_GRACE`] to finish before they are abandoned.
pub async fn run_suite_until(
    cfg: &ServerCheck,
    cases: Vec<Case>,
    stop: impl std::future::Future<Output = ()>,
) -> SuiteOutcome {
    let total = cases.len();
    let permits = Arc::new(Semaphore::new(cfg.jobs.max(1)));
    // Bulk cases (many or large messages) run one at a time: their time is the
    // endpoint's, not shared with other bulk cases, and memory stays bounded.
    let bulk = Arc::new(Semaphore::new(1));
    let cfg = Arc::new(cfg.clone());
    let mut set = JoinSet::new();
    for (i, case) in cases.into_iter().enumerate() {
        let permits = permits.clone();
        let bulk = bulk.clone();
        let cfg = cfg.clone();
        let span = info_span!("case", id = %case.id);
        set.spawn(
            async move {
                let _bulk = match case.bulk {
                    Some(_) => Some(bulk.acquire_owned().await.ok()?),
                    None => None,
                };
                // Closed when the run stops: a case still waiting never starts.
                let _permit = permits.acquire_owned().await.ok()?;
                Some((i, run_case(&cfg, &case).await))
            }
            .instrument(span),
        );
    }
    let mut results: Vec<(usize, CaseResult)> = Vec::new();
    let mut stop = std::pin::pin!(stop);
    let mut give_up: Option<Instant> = None;
    loop {
        tokio::select! {
            joined = set.join_next() => match joined {
                Some(Ok(Some(r))) => {
                    if cfg.progress {
                        crate::check::progress_line(results.len() + 1, total, &r.1, None);
                    }
                    results.push(r);
                }
                Some(_) => {}
                None => break,
            },
            () = &mut stop, if give_up.is_none() => {
                permits.close();
                give_up = Some(Instant::now() + STOP_GRACE);
            }
            () = tokio::time::sleep_until(give_up.unwrap_or_else(Instant::now)), if give_up.is_some() => break,
        }
    }
    set.abort_all();
    results.sort_by_key(|(i, _)| *i);
    SuiteOutcome {
        not_run: total - results.len(),
        results: results.into_iter().map(|(_, r)| r).collect(),
    }
}

pub async fn run_case(cfg: &ServerCheck, case: &Case) -> CaseResult {
    let started = Instant::now();
    // A case written with pauses gets their length on top of the timeout.
    let deadline = started + cfg.timeout + case.allowance();
    let wire = Wire::new(Role::Client);
    let judgement = drive(cfg, case, deadline, &wire).await;
    debug!(verdict = ?judgement.verdict, "case done");
    let mut result = case_result(case, judgement, started.elapsed(), cfg.repro_dir.as_deref());
    result.wire = Some(Arc::new(wire.take()));
    result
}

fn request_for(cfg: &ServerCheck, case: &Case, key: &str) -> (Vec<u8>, Vec<ExtensionOffer>) {
    if let Setup::RawRequest(raw) = &case.setup {
        let text = String::from_utf8_lossy(raw)
            .replace(HOST_PLACEHOLDER, &cfg.target.host_header())
            .replace(PATH_PLACEHOLDER, &cfg.target.path);
        return (cfg.extras.apply_raw(text).into_bytes(), Vec::new());
    }
    let mut b = cfg.extras.apply(RequestBuilder::new(
        cfg.target.host_header(),
        cfg.target.path.clone(),
        key.to_owned(),
    ));
    let mut offered = Vec::new();
    if let Setup::Deflate(profile) = case.setup {
        for offer in profile.offer_elements() {
            offered.push(offer.clone());
            b = b.extension(offer);
        }
    }
    (b.build(), offered)
}

async fn drive(cfg: &ServerCheck, case: &Case, deadline: Instant, wire: &Wire) -> Judgement {
    let stream = match timeout_at(deadline, connect_url(&cfg.target, cfg.tls.as_ref())).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Judgement::new(Observed::TcpClose, Verdict::Fail, Some(e));
        }
        Err(_) => {
            return Judgement::new(
                Observed::Timeout,
                Verdict::Fail,
                Some("could not connect in time".into()),
            );
        }
    };
    let mut stream = wire.wrap(stream);
    let key = generate_key(key_nonce(cfg.seed, &case.id));
    let (request, offered) = request_for(cfg, case, &key);
    write_case(&mut stream, &request, Write::Whole, deadline).await;

    let http_expect = match &case.expect {
        Expect::HttpStatus(s) => Some(Some(*s)),
        Expect::Info if matches!(case.setup, Setup::RawRequest(_)) => Some(None),
        _ => None,
    };
    let (resp, buf) = match read_head(&mut stream, deadline, parse_response).await {
        Ok(r) => r,
        Err(HeadError::Timeout) => {
            return Judgement::new(
                Observed::Timeout,
                Verdict::Fail,
                Some("no handshake response".into()),
            );
        }
        Err(HeadError::Closed) => {
            let (verdict, note) = verdict::http_closed(http_expect);
            return Judgement::new(Observed::TcpClose, verdict, Some(note));
        }
        Err(HeadError::Bad(e)) => {
            return Judgement::new(
                Observed::TcpClose,
                Verdict::Fail,
                Some(format!("malformed handshake response: {e}")),
            );
        }
    };
    if let Some(expected) = http_expect {
        let (verdict, note) = verdict::http_answer(expected, resp.status);
        let note = match (expected, resp.status) {
            (None, s) if s != 101 => version_note(&resp),
            _ => note,
        };
        let observed = Observed::HandshakeRefused {
            status: resp.status,
        };
        return Judgement::new(observed, verdict, note);
    }
    if resp.status != 101 {
        return Judgement::new(
            Observed::HandshakeRefused {
                status: resp.status,
            },
            Verdict::Fail,
            Some(format!("refused a valid upgrade with HTTP {}", resp.status)),
        );
    }
    let agreed = match validate_response(&resp, &key, &cfg.extras.subprotocols, &offered) {
        Ok(a) => a,
        Err(e) => {
            return Judgement::new(
                Observed::HandshakeRefused { status: 101 },
                Verdict::Fail,
                Some(format!("invalid 101 response: {e}")),
            );
        }
    };
    // permessage-deflate: the answer must fit one of our offers; a case that
    // needs the extension is only reported when the server declines it.
    let answers = deflate_elements(&agreed.extensions);
    let mut lax = None;
    let params = match (&case.setup, answers.as_slice()) {
        (_, []) => None,
        (Setup::Deflate(profile), [answer]) => match check_answer(&profile.offers(), answer) {
            Ok((p, note)) => {
                lax = note;
                Some(p)
            }
            Err(e) => {
                return Judgement::new(
                    Observed::HandshakeRefused { status: 101 },
                    Verdict::Fail,
                    Some(format!("invalid 101 response: {e}")),
                );
            }
        },
        (Setup::Deflate(_), _) => {
            return Judgement::new(
                Observed::HandshakeRefused { status: 101 },
                Verdict::Fail,
                Some("invalid 101 response: permessage-deflate accepted more than once".into()),
            );
        }
        // Not offered: `validate_response` already refused it.
        _ => None,
    };
    let agreed = params.map(|p| bulk::Agreed::new(p, Role::Client));
    let deflate = agreed.map(|a| a.receive);
    if matches!(case.setup, Setup::Deflate(_)) && deflate.is_none() {
        return Judgement::new(
            Observed::HandshakeRefused { status: 101 },
            Verdict::Info,
            Some("extension not negotiated: the server did not agree to permessage-deflate; case not run".into()),
        );
    }
    if let Some(bulk) = &case.bulk {
        let leftover = &buf[resp.head_len..];
        let key = mask_key(cfg.seed);
        let j = bulk::run(
            &mut stream,
            leftover,
            Role::Client,
            key,
            bulk,
            case.write,
            agreed,
            deadline,
        )
        .await;
        return verdict::lax_answer(j, lax);
    }
    let receive = agreed.map(|a| a.peer_reads());
    let key = mask_key(cfg.seed);
    let mut leftover = buf[resp.head_len..].to_vec();
    let mut answers_before = Vec::new();
    if !case.pre.is_empty() {
        let pre_plan = plan_answers(Role::Server, receive, &case.pre);
        let opts = ObserveOptions {
            we_are: Role::Client,
            deflate,
            plan: None,
            key,
            deadline,
            sent_close: false,
            close_when_done: false,
        };
        match valid_first(&mut stream, &case.pre, &pre_plan, opts, &leftover).await {
            Ok(answers) => answers_before = answers,
            Err(failed) => return failed,
        }
        leftover.clear();
    }
    if hung_up_already(&mut stream, &mut leftover) {
        return verdict::closed_before_fault();
    }
    let early = write_case(&mut stream, &case.bytes, case.write, deadline).await;
    // Valid traffic (and info cases, which carry none of our violations) has a
    // plan: the exchange ends as soon as it is answered.
    let plan = if matches!(case.expect, Expect::Echo | Expect::Info) {
        plan_answers(Role::Server, receive, &case.bytes)
    } else {
        Vec::new()
    };
    let sent_close = plan.iter().any(|a| matches!(a, Answer::Close { .. }));
    let mut obs = observe(
        &mut stream,
        &leftover,
        ObserveOptions {
            we_are: Role::Client,
            deflate,
            plan: matches!(case.expect, Expect::Echo | Expect::Info).then_some(&plan[..]),
            key,
            deadline,
            sent_close,
            close_when_done: true,
        },
    )
    .await;
    answers_before.append(&mut obs.answers);
    obs.answers = answers_before;
    obs.acted_before_end = early;
    verdict::lax_answer(judge(&case.expect, &plan, &obs), lax)
}

/// Whether the server already closed the connection (EOF or reset waiting to be
/// read), without waiting; bytes it did send are appended to `leftover`.
fn hung_up_already(stream: &mut Recorded<Conn>, leftover: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    for _ in 0..64 {
        match stream.try_read_now(&mut chunk) {
            Ok(0) => return true,
            Ok(n) => leftover.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
    false
}

fn version_note(resp: &wschaos_codec::handshake::Response) -> Option<String> {
    let advertised = resp
        .header("Sec-WebSocket-Version")
        .map(|h| h.value_lossy().into_owned());
    Some(match (resp.status, advertised) {
        (426, Some(v)) => format!("426 with Sec-WebSocket-Version: {v} (the RFC answer)"),
        (s, Some(v)) => format!("{s} with Sec-WebSocket-Version: {v}; the RFC answer is 426"),
        (s, None) => format!("{s} without Sec-WebSocket-Version; the RFC answer is 426 with it"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hang-up that is already waiting to be read is seen without blocking;
    /// an open, quiet connection is not taken for one.
    #[tokio::test]
    async fn a_hang_up_before_the_fault_is_seen_without_waiting() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut stream = Wire::new(Role::Client).wrap(Conn::from(tcp));
        let (peer, _) = listener.accept().await.unwrap();
        let mut leftover = Vec::new();
        assert!(!hung_up_already(&mut stream, &mut leftover));
        use tokio::io::AsyncWriteExt as _;
        let mut peer = peer;
        peer.write_all(b"\x88\x00").await.unwrap();
        drop(peer);
        stream.get_ref().tcp().readable().await.unwrap();
        assert!(hung_up_already(&mut stream, &mut leftover));
        assert_eq!(leftover, b"\x88\x00");
    }
}
