//! check-client: wschaos acts as the server. A client under test connects once per
//! case: `/case/<id>` picks a case, `/cases` lists the ids (JSON) so a client loop
//! can drive the run like Autobahn's fuzzingserver, and any other path gets the
//! next case not yet served, in catalogue order. Each case is reported once.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Notify, Semaphore};
use tokio::time::Instant;
use tracing::{Instrument, debug, info_span, warn};
use wschaos_codec::Role;
use wschaos_codec::encode::Frame;
use wschaos_codec::handshake::{
    DeflateParams, ExtensionOffer, PERMESSAGE_DEFLATE, Request, build_error_response,
    build_response, deflate_elements, parse_request, validate_request,
};

use crate::catalogue::{Case, Expect, Setup};
use crate::check::fuzzingserver::{self, Route};
use crate::check::observe::{Answer, ObserveOptions, observe, plan_answers};
use crate::check::server::STOP_GRACE;
use crate::check::wire::{Recorded, Wire};
use crate::check::{bulk, case_result, read_head, valid_first, write_case};
use crate::report::exchange::Dir;
use crate::report::{CaseResult, Observed, Verdict};
use crate::tls::{Acceptor, Conn};
use crate::verdict::{Judgement, judge};

#[derive(Debug, Clone)]
pub struct ClientCheck {
    pub seed: u64,
    pub timeout: Duration,
    /// How long to wait in all for the client to come for every case.
    pub wait: Duration,
    pub repro_dir: Option<std::path::PathBuf>,
    /// One line on stderr per finished case (`--progress`).
    pub progress: bool,
    /// Serve `wss://`: every connection starts with a TLS handshake.
    pub tls: Option<Acceptor>,
}

/// Connections served at once; more wait for a slot (bounded memory).
const MAX_CONCURRENT: usize = 64;

/// One agent's results, in case order.
struct AgentResults {
    results: Vec<Option<CaseResult>>,
    /// Its harness asked `/updateReports` (its run is over; with or without
    /// `shutdownOnComplete`, it is done once every case has a result).
    reports_asked: bool,
    /// Cases `exclude-agent-cases` takes from this agent: answered with an empty
    /// Close, as Autobahn does, and left out of its report.
    skipped: Vec<bool>,
}

/// Which agents a check-client run waits for, and what it skips for whom.
#[derive(Debug, Clone, Default)]
pub struct AgentPlan {
    /// How many named agents the run waits for (at least 1).
    pub expect: usize,
    /// `(agent glob, case ids)`: cases not run for the agents the glob matches.
    pub skip: Vec<(String, std::collections::BTreeSet<String>)>,
}

impl AgentPlan {
    fn skips(&self, agent: &str, id: &str) -> bool {
        self.skip
            .iter()
            .any(|(glob, ids)| ids.contains(id) && wschaos_codec::cases::id_matches(glob, agent))
    }
}

/// The agent of connections that name none (`/case/<id>`, bare paths).
const NO_AGENT: &str = "";

struct State {
    cases: Vec<Case>,
    /// Results per agent, in the order agents first came (`NO_AGENT` for
    /// connections that named none).
    agents: Vec<(String, AgentResults)>,
    /// How many named agents the run waits for, and what each skips.
    plan: AgentPlan,
    /// Next case index handed to a connection that names none.
    next: usize,
    /// Requests that attempted an upgrade and so were handed a case.
    claimed: usize,
    /// Indices of the cases in Autobahn's numbering (`fuzzingserver::numbered`).
    numbered: Vec<usize>,
    /// A harness asked `/getCaseCount`: the run is the numbered cases only.
    autobahn_numbering: bool,
}

impl State {
    fn done(&self, a: &AgentResults) -> bool {
        let has = |i: usize| a.results[i].is_some() || a.skipped[i];
        if self.autobahn_numbering {
            self.numbered.iter().all(|&i| has(i))
        } else {
            (0..a.results.len()).all(has)
        }
    }

    /// An agent's results, made empty on its first visit.
    fn agent_mut(&mut self, name: &str) -> &mut AgentResults {
        let i = match self.agents.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                let results = vec![None; self.cases.len()];
                self.agents.push((
                    name.to_owned(),
                    AgentResults {
                        results,
                        reports_asked: false,
                        skipped: vec![false; self.cases.len()],
                    },
                ));
                self.agents.len() - 1
            }
        };
        &mut self.agents[i].1
    }

    fn agent(&self, name: &str) -> Option<&AgentResults> {
        self.agents.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }

    /// The run is over. With harnesses that name their agent (Autobahn's
    /// paths): `expect_agents` of them have come, and each has a result for
    /// every case and has asked `/updateReports` (it still needs the server
    /// until then). Otherwise: every case has a result.
    fn finished(&self) -> bool {
        let named: Vec<&AgentResults> = self
            .agents
            .iter()
            .filter(|(n, _)| n != NO_AGENT)
            .map(|(_, a)| a)
            .collect();
        if named.is_empty() {
            return self.agent(NO_AGENT).is_some_and(|a| self.done(a));
        }
        named.len() >= self.plan.expect.max(1)
            && named.iter().all(|a| self.done(a) && a.reports_asked)
    }
}

/// Serves `cases` on `listener` until each has a result or `wait` runs out, then
/// returns results in catalogue order (cases never served are `fail`).
pub async fn serve(listener: TcpListener, cfg: ClientCheck, cases: Vec<Case>) -> Vec<CaseResult> {
    serve_until(listener, cfg, cases, std::future::pending())
        .await
        .results
}

/// The results of a check-client run that may have been stopped.
#[derive(Debug)]
pub struct ServeOutcome {
    /// In catalogue order. When stopped: only the cases that completed; else every
    /// case, those the client never came for as `fail`.
    pub results: Vec<CaseResult>,
    /// Cases that did not complete because `stop` came (0 when not stopped).
    pub not_run: usize,
    /// Requests that attempted a WebSocket upgrade (each was handed a case).
    pub upgrades: usize,
    pub stopped: bool,
    /// Cases left out of a run a harness drove with Autobahn's numbering: the
    /// handshake cases, which are not numbered (see `fuzzingserver`).
    pub unnumbered: usize,
    /// The agent names harnesses gave.
    pub agents: Vec<String>,
    /// Every agent's results, in the order agents first came (`results`,
    /// `not_run` and `unnumbered` above are the first one's).
    pub per_agent: Vec<AgentOutcome>,
}

/// One agent's part of a check-client run.
#[derive(Debug, Clone)]
pub struct AgentOutcome {
    /// The name its harness gave; `None` for connections that named none.
    pub agent: Option<String>,
    pub results: Vec<CaseResult>,
    pub not_run: usize,
    pub unnumbered: usize,
}

/// Like [`serve`], but once `stop` resolves no further connection is accepted, and
/// cases already running get [`STOP_GRACE`] to finish before the results are taken.
pub async fn serve_until(
    listener: TcpListener,
    cfg: ClientCheck,
    cases: Vec<Case>,
    stop: impl std::future::Future<Output = ()>,
) -> ServeOutcome {
    serve_agents_until(listener, cfg, cases, AgentPlan::default(), stop).await
}

/// Like [`serve_until`], for harnesses of `expect_agents` agents (Autobahn's
/// `agent=`), one after another or at once: the run ends once that many have
/// each run every case and asked `/updateReports`.
pub async fn serve_agents_until(
    listener: TcpListener,
    cfg: ClientCheck,
    cases: Vec<Case>,
    plan: AgentPlan,
    stop: impl std::future::Future<Output = ()>,
) -> ServeOutcome {
    let n = cases.len();
    let numbered = (0..n)
        .filter(|&i| fuzzingserver::numbered(&cases[i]))
        .collect();
    let state = Arc::new(Mutex::new(State {
        numbered,
        autobahn_numbering: false,
        cases,
        agents: Vec::new(),
        plan,
        next: 0,
        claimed: 0,
    }));
    let finished = Arc::new(Notify::new());
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT));
    let cfg = Arc::new(cfg);
    let stop_at = Instant::now() + cfg.wait;
    let mut stop = std::pin::pin!(stop);
    let mut stopped = false;
    let mut conn_id = 0u64;
    loop {
        if state.lock().await.finished() {
            break;
        }
        let accepted = tokio::select! {
            a = tokio::time::timeout_at(stop_at, listener.accept()) => a,
            _ = finished.notified() => continue,
            () = &mut stop => {
                stopped = true;
                break;
            }
        };
        let (stream, peer) = match accepted {
            Err(_) => break,
            Ok(Err(e)) => {
                warn!("accept failed: {e}");
                continue;
            }
            Ok(Ok(s)) => s,
        };
        conn_id += 1;
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (state, cfg, finished) = (state.clone(), cfg.clone(), finished.clone());
        tokio::spawn(
            async move {
                let _permit = permit;
                let _ = stream.set_nodelay(true);
                let stream = match &cfg.tls {
                    None => Conn::from(stream),
                    Some(tls) => {
                        match tokio::time::timeout(cfg.timeout, tls.accept(stream)).await {
                            Ok(Ok(conn)) => conn,
                            // A client that cannot agree on TLS is not handed a case.
                            Ok(Err(e)) => return warn!("{e}"),
                            Err(_) => {
                                return warn!("TLS handshake not done within {:?}", cfg.timeout);
                            }
                        }
                    }
                };
                handle(stream, &state, &cfg).await;
                if state.lock().await.finished() {
                    finished.notify_one();
                }
            }
            .instrument(info_span!("conn", id = conn_id, %peer)),
        );
    }
    drop(listener);
    // Let connections still running finish their case (each is bounded by its
    // own deadline) before reporting; a stopped run waits only so long.
    let all_done = permits.acquire_many(MAX_CONCURRENT as u32);
    if stopped {
        let _ = tokio::time::timeout(STOP_GRACE, all_done).await;
    } else {
        let _ = all_done.await;
    }
    let mut st = state.lock().await;
    if st.agents.is_empty() {
        st.agent_mut(NO_AGENT);
    }
    let per_agent: Vec<AgentOutcome> = st
        .agents
        .iter()
        .map(|(name, a)| {
            // Under Autobahn's numbering, the unnumbered cases no harness ran
            // are left out (and counted), not failed.
            let left_out = |i: usize| {
                a.skipped[i]
                    || (st.autobahn_numbering
                        && a.results[i].is_none()
                        && !st.numbered.contains(&i))
            };
            let unnumbered = (0..n).filter(|&i| left_out(i) && !a.skipped[i]).count();
            let skipped = a.skipped.iter().filter(|&&s| s).count();
            let results: Vec<CaseResult> = if stopped {
                a.results.iter().flatten().cloned().collect()
            } else {
                (0..n)
                    .filter(|&i| !left_out(i))
                    .map(|i| {
                        a.results[i]
                            .clone()
                            .unwrap_or_else(|| never_served(&st.cases[i]))
                    })
                    .collect()
            };
            AgentOutcome {
                agent: (name != NO_AGENT).then(|| name.clone()),
                not_run: n - unnumbered - skipped - results.len(),
                results,
                unnumbered,
            }
        })
        .collect();
    let first = per_agent[0].clone();
    ServeOutcome {
        not_run: first.not_run,
        results: first.results,
        upgrades: st.claimed,
        stopped,
        unnumbered: first.unnumbered,
        agents: per_agent.iter().filter_map(|a| a.agent.clone()).collect(),
        per_agent,
    }
}

fn never_served(case: &Case) -> CaseResult {
    CaseResult {
        id: case.id.clone(),
        description: case.description.clone(),
        expected: case.expect.report(),
        observed: Observed::Timeout,
        verdict: Verdict::Fail,
        duration_ms: 0,
        note: Some("the client never connected for this case".into()),
        repro: None,
        wire: None,
    }
}

/// Whether a request tries to open a WebSocket; anything else (a health check,
/// curl, a browser, a port scanner) must not use up a case.
fn attempts_upgrade(req: &Request) -> bool {
    let upgrade = req
        .header("Upgrade")
        .is_some_and(|h| h.value_lossy().to_ascii_lowercase().contains("websocket"));
    upgrade || req.header("Sec-WebSocket-Key").is_some()
}

/// Waits (bounded by `deadline`) for case `i`'s verdict, as Autobahn's
/// `/getCaseStatus` does, and returns its JSON answer.
async fn status_when_known(
    state: &Mutex<State>,
    i: usize,
    agent: &str,
    deadline: Instant,
) -> String {
    loop {
        let st = state.lock().await;
        if let Some(r) = st.agent(agent).and_then(|a| a.results[i].as_ref()) {
            return fuzzingserver::case_status(r);
        }
        drop(st);
        if Instant::now() >= deadline {
            return serde_json::json!({"behavior": "UNKNOWN"}).to_string();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Answers a fuzzingserver request that runs no case: over WebSocket as
/// Autobahn does (the 101, the answer as one text frame if there is one, then an
/// empty Close, and the client's Close awaited briefly), or, to a plain HTTP
/// request such as curl's, as a JSON body.
async fn answer_protocol(
    stream: &mut Conn,
    req: &Request,
    upgrade: bool,
    answer: Option<&str>,
    deadline: Instant,
) {
    if !upgrade {
        let body = answer.unwrap_or("{}");
        let _ = stream
            .write_all(&crate::http::response(200, "application/json", body))
            .await;
        return;
    }
    let hs = match validate_request(req) {
        Ok(h) => h,
        Err(e) => {
            let _ = stream.write_all(&build_error_response(&e)).await;
            return;
        }
    };
    let mut out = build_response(&hs.key, None, &[]);
    if let Some(text) = answer {
        out.extend(Frame::text(text).encode().unwrap_or_default());
    }
    out.extend(
        Frame::new(wschaos_codec::OpCode::CLOSE, Vec::new())
            .encode()
            .unwrap_or_default(),
    );
    let _ = stream.write_all(&out).await;
    // The client answers the Close; reading until it closes (or a second passes)
    // lets it see a clean closing handshake.
    let until = deadline.min(Instant::now() + Duration::from_secs(1));
    let mut sink = [0u8; 1024];
    while let Ok(Ok(n)) = tokio::time::timeout_at(until, stream.read(&mut sink)).await {
        if n == 0 {
            break;
        }
    }
}

/// A plain-text HTTP answer that ends the connection.
fn http_text(status: u16, body: &str) -> Vec<u8> {
    crate::http::response(status, "text/plain; charset=utf-8", body)
}

const PATHS_HELP: &str = "This is wschaos check-client, a WebSocket server for testing clients.\n\
Open a WebSocket (an upgrade request) to run a case:\n\
  /case/<id>  runs the case <id>\n\
  any other   runs the next case not yet served\n\
GET /cases lists the case ids (JSON). Plain HTTP requests do not use up a case.\n";

async fn handle(mut stream: Conn, state: &Mutex<State>, cfg: &ClientCheck) {
    let deadline = Instant::now() + cfg.timeout;
    let Ok((req, buf)) = read_head(&mut stream, deadline, parse_request).await else {
        return;
    };
    let route = {
        let st = state.lock().await;
        fuzzingserver::route(&req.path, &st.cases, &st.numbered)
    };
    let upgrade = attempts_upgrade(&req);
    // Everything but running a case is answered here and uses up nothing.
    let answer: Option<String> = match &route {
        Route::Refuse(status, text) => {
            let _ = stream.write_all(&http_text(*status, text)).await;
            return;
        }
        Route::Cases => {
            let st = state.lock().await;
            let ids: Vec<&str> = st.cases.iter().map(|c| c.id.as_str()).collect();
            Some(serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into()))
        }
        Route::CaseCount => {
            let mut st = state.lock().await;
            st.autobahn_numbering = true;
            Some(st.numbered.len().to_string())
        }
        Route::CaseInfo(i) => Some(fuzzingserver::case_info(&state.lock().await.cases[*i])),
        Route::CaseStatus { index, agent } => Some(
            status_when_known(
                state,
                *index,
                agent.as_deref().unwrap_or(NO_AGENT),
                deadline,
            )
            .await,
        ),
        Route::UpdateReports { agent } => {
            let mut st = state.lock().await;
            for (name, a) in st.agents.iter_mut() {
                if agent.as_ref().is_none_or(|want| want == name) {
                    a.reports_asked = true;
                }
            }
            None
        }
        Route::Run { .. } => None,
    };
    if !matches!(route, Route::Run { .. }) {
        answer_protocol(&mut stream, &req, upgrade, answer.as_deref(), deadline).await;
        return;
    }
    let Route::Run { index, agent } = route else {
        return;
    };
    let agent_key = agent.clone().unwrap_or_else(|| NO_AGENT.to_owned());
    let claim = {
        let mut st = state.lock().await;
        let claim = match index {
            _ if !upgrade => Err(http_text(400, PATHS_HELP)),
            Some(i) => Ok(i),
            None => {
                let from = st.next;
                let mine = st.agent_mut(NO_AGENT);
                let next = (from..mine.results.len()).find(|&i| mine.results[i].is_none());
                if let Some(i) = next {
                    st.next = i + 1;
                }
                next.ok_or_else(|| {
                    http_text(
                        404,
                        "every case of this run has been served (GET /cases lists them)\n",
                    )
                })
            }
        };
        st.claimed += usize::from(claim.is_ok());
        if claim.is_ok() {
            st.agent_mut(&agent_key);
        }
        claim
    };
    let index = match claim {
        Ok(i) => i,
        Err(reply) => {
            let _ = stream.write_all(&reply).await;
            return;
        }
    };
    {
        let mut st = state.lock().await;
        let id = st.cases[index].id.clone();
        if agent.is_some() && st.plan.skips(&agent_key, &id) {
            st.agent_mut(&agent_key).skipped[index] = true;
            drop(st);
            answer_protocol(&mut stream, &req, upgrade, None, deadline).await;
            return;
        }
    }
    let case = state.lock().await.cases[index].clone();
    let started = Instant::now();
    let deadline = deadline + case.allowance();
    // The request was read before the case was known; it is the log's first row.
    let wire = Wire::new(Role::Server);
    wire.record(Dir::Received, &buf);
    let mut stream = wire.wrap(stream);
    let judgement = run_case(&mut stream, &req, &buf[req.head_len..], &case, deadline).await;
    debug!(id = %case.id, verdict = ?judgement.verdict, "case done");
    let mut result = case_result(
        &case,
        judgement,
        started.elapsed(),
        cfg.repro_dir.as_deref(),
    );
    result.wire = Some(Arc::new(wire.take()));
    let mut st = state.lock().await;
    let numbering = st.autobahn_numbering;
    let numbered = st.numbered.len();
    let mine = st.agent_mut(&agent_key);
    if mine.results[index].is_none() {
        if cfg.progress {
            let done = mine.results.iter().filter(|r| r.is_some()).count() + 1;
            let total = if numbering {
                numbered
            } else {
                mine.results.len()
            };
            crate::check::progress_line(done, total, &result, agent.as_deref());
        }
        mine.results[index] = Some(result);
    }
}

/// What a client under test is told on a connection that runs no generated
/// input (`wschaos fuzz --listen`).
const FUZZ_HELP: &str = "This is wschaos fuzz, a WebSocket server for fuzzing clients.\n\
Every WebSocket (an upgrade request) to any path runs the next generated input.\n\
GET /cases lists ids to connect to (/case/<id>), for clients that want a list.\n";

/// One connection of a client under test, for `wschaos fuzz --listen`: an
/// upgrade request runs `case` (generated, so any path runs it) and gives its
/// result; a request for the list of cases (`GET /cases`, Autobahn's
/// `/getCaseCount`, answered with `count` inputs), `/updateReports` or any
/// plain HTTP request is answered and gives `None`, so the input waits for the
/// next connection.
pub async fn run_generated(
    mut stream: Conn,
    case: &Case,
    timeout: Duration,
    count: usize,
) -> Option<CaseResult> {
    let deadline = Instant::now() + timeout;
    let (req, buf) = read_head(&mut stream, deadline, parse_request).await.ok()?;
    let upgrade = attempts_upgrade(&req);
    let path = req.path.split('?').next().unwrap_or_default();
    let answer = match path {
        "/cases" => {
            let ids: Vec<String> = (1..=count.min(10_000))
                .map(|i| format!("fuzz-{i}"))
                .collect();
            Some(Some(
                serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into()),
            ))
        }
        "/getCaseCount" => Some(Some(count.to_string())),
        "/updateReports" | "/getCaseInfo" | "/getCaseStatus" => Some(None),
        _ if !upgrade => {
            let _ = stream.write_all(&http_text(400, FUZZ_HELP)).await;
            return None;
        }
        _ => None,
    };
    if let Some(answer) = answer {
        answer_protocol(&mut stream, &req, upgrade, answer.as_deref(), deadline).await;
        return None;
    }
    let started = Instant::now();
    let deadline = deadline + case.allowance();
    let wire = Wire::new(Role::Server);
    wire.record(Dir::Received, &buf);
    let mut stream = wire.wrap(stream);
    let judgement = run_case(&mut stream, &req, &buf[req.head_len..], case, deadline).await;
    let mut result = case_result(case, judgement, started.elapsed(), None);
    result.wire = Some(Arc::new(wire.take()));
    Some(result)
}

async fn run_case(
    stream: &mut Recorded<Conn>,
    req: &Request,
    leftover: &[u8],
    case: &Case,
    deadline: Instant,
) -> Judgement {
    let hs = match validate_request(req) {
        Ok(h) => h,
        Err(e) => {
            let _ = stream.write_all(&build_error_response(&e)).await;
            return Judgement::new(
                Observed::HandshakeRefused {
                    status: e.http_status(),
                },
                Verdict::Fail,
                Some(format!("the client's upgrade request is invalid: {e}")),
            );
        }
    };
    let offered_deflate = hs.extensions.iter().any(|e| e.name == PERMESSAGE_DEFLATE);
    let unoffered = ExtensionOffer::new("x-wschaos-unoffered");
    // permessage-deflate, answered as the case's negotiation says (an offer
    // with an invalid parameter is one a server must decline).
    let offers: Vec<DeflateParams> = deflate_elements(&hs.extensions)
        .into_iter()
        .filter_map(|e| DeflateParams::from_offer(e).ok())
        .collect();
    let accepted = match case.setup {
        Setup::Deflate(profile) => profile.accept(&offers),
        _ => None,
    };
    let response = match case.setup {
        Setup::BadAccept => build_response(&format!("{}x", hs.key), None, &[]),
        Setup::UnofferedExtension => {
            build_response(&hs.key, None, std::slice::from_ref(&unoffered))
        }
        Setup::UnofferedSubprotocol => build_response(&hs.key, Some("x-wschaos-unoffered"), &[]),
        _ => {
            let ext: Vec<ExtensionOffer> = accepted.iter().map(|p| p.to_offer()).collect();
            build_response(&hs.key, None, &ext)
        }
    };
    write_case(stream, &response, crate::catalogue::Write::Whole, deadline).await;
    // How the client's compressed frames are read, and how we compress.
    let agreed = accepted.map(|p| bulk::Agreed::new(p, Role::Server));
    let deflate = agreed.map(|a| a.receive);
    if let Setup::Deflate(profile) = case.setup {
        if accepted.is_none() {
            let note = if offers.is_empty() {
                "extension not negotiated: the client did not offer permessage-deflate; case not run"
                    .to_owned()
            } else {
                format!(
                    "extension not negotiated: no permessage-deflate offer of the client allows the {} negotiation; case not run",
                    profile.name()
                )
            };
            // Close the connection cleanly; the case is only reported.
            let obs =
                bulk::close_normally(stream, leftover, Role::Server, [0; 4], None, deadline).await;
            let observed = crate::verdict::observed_of(&obs, &[]);
            return Judgement::new(observed, Verdict::Info, Some(note));
        }
    }
    if let Some(bulk) = &case.bulk {
        return bulk::run(
            stream,
            leftover,
            Role::Server,
            [0; 4],
            bulk,
            case.write,
            agreed,
            deadline,
        )
        .await;
    }
    let plan_deflate = agreed.map(|a| a.peer_reads());
    let mut leftover = leftover.to_vec();
    let mut answers_before = Vec::new();
    if !case.pre.is_empty() {
        // The valid message first, and its echo awaited (the `after-valid.*`
        // cases), as check-server does.
        let pre_plan = plan_answers(Role::Client, None, &case.pre);
        let opts = ObserveOptions {
            we_are: Role::Server,
            deflate,
            plan: None,
            key: [0; 4],
            deadline,
            sent_close: false,
            close_when_done: false,
        };
        match valid_first(stream, &case.pre, &pre_plan, opts, &leftover).await {
            Ok(answers) => answers_before = answers,
            Err(failed) => return failed,
        }
        leftover.clear();
    }
    let early = write_case(stream, &case.bytes, case.write, deadline).await;
    let plan: Vec<Answer> = if matches!(case.expect, Expect::Echo | Expect::Info) {
        plan_answers(Role::Client, plan_deflate, &case.bytes)
    } else {
        Vec::new()
    };
    let sent_close = plan.iter().any(|a| matches!(a, Answer::Close { .. }));
    let mut obs = observe(
        stream,
        &leftover,
        ObserveOptions {
            we_are: Role::Server,
            deflate,
            plan: matches!(case.expect, Expect::Echo | Expect::Info).then_some(&plan[..]),
            key: [0; 4],
            deadline,
            sent_close,
            close_when_done: true,
        },
    )
    .await;
    answers_before.append(&mut obs.answers);
    obs.answers = answers_before;
    obs.acted_before_end = early;
    let judgement = judge(&case.expect, &plan, &obs);
    if case.setup == Setup::StripDeflate && !offered_deflate {
        // Nothing was stripped, so nothing is owed: the case is only reported.
        let note =
            "the client did not offer permessage-deflate, so nothing was stripped".to_owned();
        return Judgement::new(judgement.observed, Verdict::Info, Some(note));
    }
    judgement
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{Side, catalogue, select};

    #[tokio::test]
    async fn cases_endpoint_lists_ids_and_unserved_cases_fail() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cases = select(catalogue(Side::Client, 1), &["ok.text".to_owned()]);
        let cfg = ClientCheck {
            seed: 1,
            timeout: Duration::from_millis(500),
            wait: Duration::from_millis(800),
            repro_dir: None,
            progress: false,
            tls: None,
        };
        let server = tokio::spawn(serve(listener, cfg, cases));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /cases HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut body = Vec::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::io::AsyncReadExt::read_to_end(&mut s, &mut body),
        )
        .await;
        let text = String::from_utf8_lossy(&body);
        assert!(text.ends_with("[\"ok.text\"]"), "{text}");
        let results = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].verdict, Verdict::Fail);
    }

    async fn http_exchange(addr: std::net::SocketAddr, request: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut body = Vec::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::io::AsyncReadExt::read_to_end(&mut s, &mut body),
        )
        .await;
        String::from_utf8_lossy(&body).into_owned()
    }

    #[tokio::test]
    async fn plain_http_gets_a_400_that_explains_and_leaves_the_queue_alone() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cases = select(
            catalogue(Side::Client, 1),
            &["ok.text".to_owned(), "ok.binary".to_owned()],
        );
        let cfg = ClientCheck {
            seed: 1,
            timeout: Duration::from_millis(300),
            wait: Duration::from_millis(1500),
            repro_dir: None,
            progress: false,
            tls: None,
        };
        let server = tokio::spawn(serve_until(listener, cfg, cases, std::future::pending()));
        let health = http_exchange(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(health.starts_with("HTTP/1.1 400"), "{health}");
        assert!(
            health.contains("/cases") && health.contains("/case/<id>"),
            "{health}"
        );
        let missing = http_exchange(
            addr,
            "GET /case/no.such-case HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n",
        )
        .await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        assert!(missing.contains("no.such-case"), "{missing}");
        // A real upgrade after them still gets the first case.
        let upgrade = http_exchange(
            addr,
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await;
        assert!(upgrade.starts_with("HTTP/1.1 101"), "{upgrade}");
        let outcome = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome.upgrades, 1);
        let never = |id: &str| {
            outcome
                .results
                .iter()
                .find(|r| r.id == id)
                .unwrap()
                .note
                .as_deref()
                == Some("the client never connected for this case")
        };
        assert!(!never("ok.text"), "{:?}", outcome.results);
        assert!(never("ok.binary"), "{:?}", outcome.results);
    }

    #[tokio::test]
    async fn a_stopped_run_reports_only_completed_cases() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cases = select(catalogue(Side::Client, 1), &["ok.text".to_owned()]);
        let cfg = ClientCheck {
            seed: 1,
            timeout: Duration::from_millis(300),
            wait: Duration::from_secs(60),
            repro_dir: None,
            progress: false,
            tls: None,
        };
        let stop = tokio::time::sleep(Duration::from_millis(100));
        let outcome = tokio::time::timeout(
            Duration::from_secs(5),
            serve_until(listener, cfg, cases, stop),
        )
        .await
        .unwrap();
        assert!(outcome.stopped);
        assert_eq!((outcome.results.len(), outcome.not_run), (0, 1));
    }
}
