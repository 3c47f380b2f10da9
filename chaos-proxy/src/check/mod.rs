//! The conformance checker: `server` drives a server under test as a client,
//! `client` serves a client under test; both send the catalogue's bytes, observe
//! with `observe` and judge with the crate's `verdict` rules. Helpers here are what both share.

pub mod bulk;
pub mod client;
pub mod fuzzingserver;
pub mod observe;
pub mod server;
pub mod wire;

use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};
use wschaos_codec::handshake::{HandshakeError, MAX_HANDSHAKE_BYTES};

use crate::catalogue::{Case, Write};
use crate::check::observe::{Answer, ObserveOptions, answers_complete, observe};
use crate::report::{CaseResult, Verdict};
use crate::verdict::Judgement;

/// Why an HTTP head could not be read.
#[derive(Debug)]
pub enum HeadError {
    Timeout,
    /// The peer closed (or reset) before a complete head arrived.
    Closed,
    Bad(HandshakeError),
}

/// Reads until `parse` accepts a complete head; returns it and every byte read
/// (the head plus whatever followed it in the same reads).
pub async fn read_head<S, T>(
    stream: &mut S,
    deadline: Instant,
    parse: impl Fn(&[u8]) -> Result<Option<T>, HandshakeError>,
) -> Result<(T, Vec<u8>), HeadError>
where
    S: AsyncRead + Unpin,
{
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        match parse(&buf) {
            Ok(Some(head)) => return Ok((head, buf)),
            Ok(None) => {}
            Err(e) => return Err(HeadError::Bad(e)),
        }
        if buf.len() > MAX_HANDSHAKE_BYTES {
            return Err(HeadError::Bad(HandshakeError::TooLarge));
        }
        match timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return Err(HeadError::Timeout),
            Ok(Ok(0)) | Ok(Err(_)) => return Err(HeadError::Closed),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Writes a case's bytes as the case says. A peer that closes mid-write is not
/// an error here: its reaction is what gets observed next. For a paused write,
/// returns whether the endpoint had sent something (or closed) before the last
/// piece went out; `None` for the other modes.
pub async fn write_case<S: wire::CaseStream>(
    stream: &mut S,
    bytes: &[u8],
    mode: Write,
    deadline: Instant,
) -> Option<bool> {
    let mut early = mode.pause().map(|_| false);
    let _ = timeout_at(deadline, async {
        for (pause, piece) in mode.schedule(bytes) {
            if let Some(pause) = pause {
                tokio::time::sleep(pause).await;
                // Seen at the last pause: before the last segment goes out.
                early = Some(stream.acted_now());
            }
            stream.write_all(piece).await?;
            stream.flush().await?;
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
    early
}

/// The `after-valid.*` cases' first step: writes the valid traffic `pre` and
/// waits for all it is owed (`plan`: what a conforming receiver answers). Returns
/// those answers, or, when they do not all come, the case's `fail`. `opts` is how
/// the rest of the case is observed; `leftover` is what was read past the head.
pub async fn valid_first<S: wire::CaseStream>(
    stream: &mut S,
    pre: &[u8],
    plan: &[Answer],
    opts: ObserveOptions<'_>,
    leftover: &[u8],
) -> Result<Vec<Answer>, Judgement> {
    write_case(stream, pre, Write::Whole, opts.deadline).await;
    let opts = ObserveOptions {
        plan: Some(plan),
        sent_close: false,
        close_when_done: false,
        ..opts
    };
    let obs = observe(stream, leftover, opts).await;
    if answers_complete(plan, &obs.answers) {
        return Ok(obs.answers);
    }
    let note = "the valid message before the violation was not echoed".to_owned();
    Err(Judgement::new(
        crate::verdict::observed_of(&obs, plan),
        Verdict::Fail,
        Some(note),
    ))
}

/// The `--progress` line for a finished case: `37/520 pass rsv.rsv2`, and the
/// agent a harness gave, if any.
pub fn progress_line(done: usize, total: usize, r: &CaseResult, agent: Option<&str>) {
    let verdict = serde_json::to_value(r.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    match agent {
        Some(a) => eprintln!("{done}/{total} {verdict} {} (agent {a})", r.id),
        None => eprintln!("{done}/{total} {verdict} {}", r.id),
    }
}

/// The report record of a run case. The bytes of a case that did not pass are
/// saved in `repro_dir` (when given) for `wschaos replay`.
pub fn case_result(
    case: &Case,
    Judgement {
        observed,
        verdict,
        note,
    }: Judgement,
    elapsed: std::time::Duration,
    repro_dir: Option<&Path>,
) -> CaseResult {
    // A bulk case's messages are generated when it runs: its repro is
    // `--case ID`, not a file of bytes.
    let repro = match (repro_dir, verdict) {
        (Some(dir), Verdict::Fail | Verdict::NonStrict) if case.bulk.is_none() => {
            write_repro(dir, &case.id, &case.bytes)
                .ok()
                .map(|p| p.display().to_string())
        }
        _ => None,
    };
    CaseResult {
        id: case.id.clone(),
        description: case.description.clone(),
        expected: case.expect.report(),
        observed,
        verdict,
        duration_ms: elapsed.as_millis() as u64,
        note,
        repro,
        wire: None,
    }
}

/// Saves the bytes of a non-pass case for `wschaos replay`; returns the path.
pub fn write_repro(dir: &Path, id: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!("{name}.bin"));
    std::fs::write(&path, bytes)?;
    Ok(path)
}
