//! check-client: wschaos acts as the server. A client under test connects once per
//! case: `/case/<id>` picks a case, `/cases` lists the ids (JSON) so a client loop
//! can drive the run like Autobahn's fuzzingserver, and any other path gets the
//! next case not yet served, in catalogue order. Each case is reported once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Notify, Semaphore};
use tokio::time::Instant;
use tracing::{Instrument, debug, info_span, warn};
use wschaos_codec::Role;
use wschaos_codec::handshake::{
    ExtensionOffer, PERMESSAGE_DEFLATE, Request, build_error_response, build_response,
    parse_request, validate_request,
};

use crate::catalogue::{Case, Expect, Setup};
use crate::check::observe::{Answer, ObserveOptions, observe, plan_answers};
use crate::check::server::STOP_GRACE;
use crate::check::{case_result, read_head, write_case};
use crate::report::{CaseResult, Observed, Verdict};
use crate::verdict::{Judgement, judge};

#[derive(Debug, Clone)]
pub struct ClientCheck {
    pub seed: u64,
    pub timeout: Duration,
    /// How long to wait in all for the client to come for every case.
    pub wait: Duration,
    pub repro_dir: Option<std::path::PathBuf>,
}

/// Connections served at once; more wait for a slot (bounded memory).
const MAX_CONCURRENT: usize = 64;

struct State {
    cases: Vec<Case>,
    by_id: HashMap<String, usize>,
    results: Vec<Option<CaseResult>>,
    /// Next case index handed to a connection that names none.
    next: usize,
    /// Requests that attempted an upgrade and so were handed a case.
    claimed: usize,
}

impl State {
    fn done(&self) -> bool {
        self.results.iter().all(Option::is_some)
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
}

/// Like [`serve`], but once `stop` resolves no further connection is accepted, and
/// cases already running get [`STOP_GRACE`] to finish before the results are taken.
pub async fn serve_until(
    listener: TcpListener,
    cfg: ClientCheck,
    cases: Vec<Case>,
    stop: impl std::future::Future<Output = ()>,
) -> ServeOutcome {
    let by_id = cases
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.clone(), i))
        .collect();
    let n = cases.len();
    let state = Arc::new(Mutex::new(State {
        cases,
        by_id,
        results: vec![None; n],
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
        if state.lock().await.done() {
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
                handle(stream, &state, &cfg).await;
                if state.lock().await.done() {
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
    let st = state.lock().await;
    let results: Vec<CaseResult> = if stopped {
        st.results.iter().flatten().cloned().collect()
    } else {
        st.cases
            .iter()
            .zip(&st.results)
            .map(|(case, r)| r.clone().unwrap_or_else(|| never_served(case)))
            .collect()
    };
    ServeOutcome {
        not_run: n - results.len(),
        results,
        upgrades: st.claimed,
        stopped,
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

/// A plain-text HTTP answer that ends the connection.
fn http_text(status: u16, body: &str) -> Vec<u8> {
    crate::http::response(status, "text/plain; charset=utf-8", body)
}

const PATHS_HELP: &str = "This is wschaos check-client, a WebSocket server for testing clients.\n\
Open a WebSocket (an upgrade request) to run a case:\n\
  /case/<id>  runs the case <id>\n\
  any other   runs the next case not yet served\n\
GET /cases lists the case ids (JSON). Plain HTTP requests do not use up a case.\n";

async fn handle(mut stream: TcpStream, state: &Mutex<State>, cfg: &ClientCheck) {
    let _ = stream.set_nodelay(true);
    let deadline = Instant::now() + cfg.timeout;
    let Ok((req, buf)) = read_head(&mut stream, deadline, parse_request).await else {
        return;
    };
    if req.path == "/cases" {
        let ids: Vec<String> = state
            .lock()
            .await
            .cases
            .iter()
            .map(|c| c.id.clone())
            .collect();
        let body = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        let resp = crate::http::response(200, "application/json", &body);
        let _ = stream.write_all(&resp).await;
        return;
    }
    let named = req.path.strip_prefix("/case/").map(percent_decode);
    let claim = {
        let mut st = state.lock().await;
        let claim = match &named {
            Some(id) if !st.by_id.contains_key(id) => Err(http_text(
                404,
                &format!("no case {id:?} in this run (GET /cases lists them)\n"),
            )),
            _ if !attempts_upgrade(&req) => Err(http_text(400, PATHS_HELP)),
            Some(id) => Ok(st.by_id[id]),
            None => {
                let next = (st.next..st.results.len()).find(|&i| st.results[i].is_none());
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
        claim
    };
    let index = match claim {
        Ok(i) => i,
        Err(reply) => {
            let _ = stream.write_all(&reply).await;
            return;
        }
    };
    let case = state.lock().await.cases[index].clone();
    let started = Instant::now();
    let judgement = run_case(&mut stream, &req, &buf[req.head_len..], &case, deadline).await;
    debug!(id = %case.id, verdict = ?judgement.verdict, "case done");
    let result = case_result(
        &case,
        judgement,
        started.elapsed(),
        cfg.repro_dir.as_deref(),
    );
    let mut st = state.lock().await;
    if st.results[index].is_none() {
        st.results[index] = Some(result);
    }
}

/// Case ids hold `+`, which clients may send percent-encoded (`%2B`).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|&c| hex(c)),
            b.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn run_case(
    stream: &mut TcpStream,
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
    let response = match case.setup {
        Setup::BadAccept => build_response(&format!("{}x", hs.key), None, &[]),
        Setup::UnofferedExtension => {
            build_response(&hs.key, None, std::slice::from_ref(&unoffered))
        }
        Setup::UnofferedSubprotocol => build_response(&hs.key, Some("x-wschaos-unoffered"), &[]),
        _ => build_response(&hs.key, None, &[]),
    };
    write_case(stream, &response, crate::catalogue::Write::Whole, deadline).await;
    write_case(stream, &case.bytes, case.write, deadline).await;
    let plan: Vec<Answer> = if matches!(case.expect, Expect::Echo | Expect::Info) {
        plan_answers(Role::Client, None, &case.bytes)
    } else {
        Vec::new()
    };
    let sent_close = plan.iter().any(|a| matches!(a, Answer::Close { .. }));
    let obs = observe(
        stream,
        leftover,
        ObserveOptions {
            we_are: Role::Server,
            deflate: None,
            plan: matches!(case.expect, Expect::Echo | Expect::Info).then_some(&plan[..]),
            key: [0; 4],
            deadline,
            sent_close,
            close_when_done: true,
        },
    )
    .await;
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

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("rsv.rsv1%2Bchop1"), "rsv.rsv1+chop1");
        assert_eq!(percent_decode("a%2b%zz%"), "a+%zz%");
    }

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
        };
        let server = tokio::spawn(serve(listener, cfg, cases));
        let mut s = TcpStream::connect(addr).await.unwrap();
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
        let mut s = TcpStream::connect(addr).await.unwrap();
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
