//! check-server: for each case a fresh TCP connection and a real opening
//! handshake, then the case's bytes, then the server's reaction, judged. Cases run
//! concurrently up to `jobs`; each ends by its own deadline.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};
use tracing::{Instrument, debug, info_span};
use wschaos_codec::Role;
use wschaos_codec::handshake::{
    DeflateParams, ExtensionOffer, PERMESSAGE_DEFLATE, RequestBuilder, generate_key,
    parse_response, validate_response,
};
use wschaos_codec::validate::DeflateConfig;

use crate::catalogue::Write;
use crate::catalogue::{
    Case, Expect, HOST_PLACEHOLDER, PATH_PLACEHOLDER, Setup, key_nonce, mask_key,
};
use crate::check::observe::{Answer, ObserveOptions, answers_complete, observe, plan_answers};
use crate::check::verdict::{judge, observed_of};
use crate::check::{HeadError, case_result, read_head, write_case};
use crate::report::{CaseResult, Observed, Verdict};
use crate::url::WsUrl;

#[derive(Debug, Clone)]
pub struct ServerCheck {
    pub target: WsUrl,
    pub seed: u64,
    pub timeout: Duration,
    pub jobs: usize,
    pub repro_dir: Option<PathBuf>,
}

/// One connection attempt, so an unreachable target is an error before any case.
pub async fn probe(target: &WsUrl, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, TcpStream::connect(target.authority())).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("cannot connect to {}: {e}", target.authority())),
        Err(_) => Err(format!(
            "cannot connect to {}: no answer within {timeout:?}",
            target.authority()
        )),
    }
}

/// Runs `cases` and returns their results in the same order.
pub async fn run_suite(cfg: &ServerCheck, cases: Vec<Case>) -> Vec<CaseResult> {
    let permits = Arc::new(Semaphore::new(cfg.jobs.max(1)));
    let cfg = Arc::new(cfg.clone());
    let mut set = JoinSet::new();
    for (i, case) in cases.into_iter().enumerate() {
        let permits = permits.clone();
        let cfg = cfg.clone();
        let span = info_span!("case", id = %case.id);
        set.spawn(
            async move {
                let _permit = permits.acquire_owned().await;
                (i, run_case(&cfg, &case).await)
            }
            .instrument(span),
        );
    }
    let mut results: Vec<(usize, CaseResult)> = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(r) = joined {
            results.push(r);
        }
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

pub async fn run_case(cfg: &ServerCheck, case: &Case) -> CaseResult {
    let started = Instant::now();
    let deadline = started + cfg.timeout;
    let (observed, verdict, note) = drive(cfg, case, deadline).await;
    debug!(?verdict, "case done");
    case_result(
        case,
        (observed, verdict, note),
        started.elapsed(),
        cfg.repro_dir.as_deref(),
    )
}

fn request_for(cfg: &ServerCheck, case: &Case, key: &str) -> (Vec<u8>, Vec<ExtensionOffer>) {
    if let Setup::RawRequest(raw) = &case.setup {
        let text = String::from_utf8_lossy(raw)
            .replace(HOST_PLACEHOLDER, &cfg.target.host_header())
            .replace(PATH_PLACEHOLDER, &cfg.target.path);
        return (text.into_bytes(), Vec::new());
    }
    let mut b = RequestBuilder::new(
        cfg.target.host_header(),
        cfg.target.path.clone(),
        key.to_owned(),
    );
    let mut offered = Vec::new();
    if case.setup == Setup::OfferDeflate {
        let offer = DeflateParams::default().to_offer();
        offered.push(offer.clone());
        b = b.extension(offer);
    }
    (b.build(), offered)
}

async fn drive(
    cfg: &ServerCheck,
    case: &Case,
    deadline: Instant,
) -> (Observed, Verdict, Option<String>) {
    let mut stream = match timeout_at(deadline, TcpStream::connect(cfg.target.authority())).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return (
                Observed::TcpClose,
                Verdict::Fail,
                Some(format!("could not connect: {e}")),
            );
        }
        Err(_) => {
            return (
                Observed::Timeout,
                Verdict::Fail,
                Some("could not connect in time".into()),
            );
        }
    };
    let _ = stream.set_nodelay(true);
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
            return (
                Observed::Timeout,
                Verdict::Fail,
                Some("no handshake response".into()),
            );
        }
        Err(HeadError::Closed) => {
            let verdict = match http_expect {
                Some(None) => Verdict::Info,
                Some(Some(_)) => Verdict::NonStrict,
                None => Verdict::Fail,
            };
            return (
                Observed::TcpClose,
                verdict,
                Some("closed without an HTTP response".into()),
            );
        }
        Err(HeadError::Bad(e)) => {
            return (
                Observed::TcpClose,
                Verdict::Fail,
                Some(format!("malformed handshake response: {e}")),
            );
        }
    };
    if resp.status != 101 {
        let observed = Observed::HandshakeRefused {
            status: resp.status,
        };
        let (verdict, note) = match http_expect {
            Some(Some(s)) if s == resp.status => (Verdict::Pass, None),
            Some(Some(s)) if (400..500).contains(&resp.status) => (
                Verdict::NonStrict,
                Some(format!("refused with {}, expected {s}", resp.status)),
            ),
            Some(Some(s)) => (
                Verdict::Fail,
                Some(format!("answered {}, expected {s}", resp.status)),
            ),
            Some(None) => (Verdict::Info, version_note(&resp)),
            None => (
                Verdict::Fail,
                Some(format!("refused a valid upgrade with HTTP {}", resp.status)),
            ),
        };
        return (observed, verdict, note);
    }
    if let Some(expected) = http_expect {
        let note = match expected {
            Some(s) => format!("accepted the upgrade where HTTP {s} was due"),
            None => "accepted the upgrade".to_owned(),
        };
        let verdict = if expected.is_some() {
            Verdict::Fail
        } else {
            Verdict::Info
        };
        return (
            Observed::HandshakeRefused { status: 101 },
            verdict,
            Some(note),
        );
    }
    let agreed = match validate_response(&resp, &key, &[], &offered) {
        Ok(a) => a,
        Err(e) => {
            return (
                Observed::HandshakeRefused { status: 101 },
                Verdict::Fail,
                Some(format!("invalid 101 response: {e}")),
            );
        }
    };
    let deflate = agreed
        .extensions
        .iter()
        .find(|e| e.name == PERMESSAGE_DEFLATE)
        .and_then(|e| DeflateParams::from_response(e).ok())
        .map(|p| DeflateConfig {
            peer_no_context_takeover: p.server_no_context_takeover,
        });
    if case.setup == Setup::OfferDeflate && deflate.is_none() {
        return (
            Observed::HandshakeRefused { status: 101 },
            Verdict::Info,
            Some("server did not agree to permessage-deflate; case not run".into()),
        );
    }
    let receive = deflate.map(|_| DeflateConfig {
        peer_no_context_takeover: true,
    });
    let key = mask_key(cfg.seed);
    let mut leftover = buf[resp.head_len..].to_vec();
    let mut answers_before = Vec::new();
    if !case.pre.is_empty() {
        write_case(&mut stream, &case.pre, Write::Whole, deadline).await;
        let pre_plan = plan_answers(Role::Server, receive, &case.pre);
        let opts = ObserveOptions {
            we_are: Role::Client,
            deflate,
            plan: Some(&pre_plan),
            key,
            deadline,
            sent_close: false,
            close_when_done: false,
        };
        let obs = observe(&mut stream, &leftover, opts).await;
        if !answers_complete(&pre_plan, &obs.answers) {
            let note = "the valid message before the violation was not echoed".to_owned();
            return (observed_of(&obs, &pre_plan), Verdict::Fail, Some(note));
        }
        answers_before = obs.answers;
        leftover.clear();
    }
    write_case(&mut stream, &case.bytes, case.write, deadline).await;
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
    judge(&case.expect, &plan, &obs)
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
