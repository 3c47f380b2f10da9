//! The proxy's `--report` format: one JSON line per injected fault, written as
//! each one settles, so a run that is stopped keeps every verdict already known.

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use wschaos_codec::CloseCode;

use crate::proxy::relay::Injection;
use crate::report::{Observed, Verdict, close_code};
use crate::verdict::Judgement;

/// One JSON line of the `--report` file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReportLine {
    /// The proxy's name, when the proxies are named (`--config`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    pub conn: u64,
    pub seed: u64,
    pub fault: String,
    /// `c2s`, `s2c`, or `both` (a transport fault on both directions).
    pub dir: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_index: Option<u64>,
    pub what: String,
    pub bytes_hex: String,
    #[serde(serialize_with = "close_code::serialize_list")]
    pub expected: Vec<CloseCode>,
    pub observed: Option<Observed>,
    pub verdict: Option<Verdict>,
    /// Why the verdict is what it is, when the observation alone does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub at_ms: u64,
}

impl ReportLine {
    /// The line for a frame or handshake fault.
    pub fn injection(conn: u64, seed: u64, i: Injection) -> ReportLine {
        ReportLine {
            proxy: None,
            conn,
            seed,
            fault: i.fault,
            dir: i.dir.as_str().to_owned(),
            frame_index: i.frame_index,
            what: i.what,
            bytes_hex: i.bytes.iter().map(|b| format!("{b:02x}")).collect(),
            expected: i.expected,
            observed: i.observed,
            verdict: i.verdict,
            note: i.note,
            at_ms: i.at.as_millis() as u64,
        }
    }

    /// The line for a transport fault, judged when its connection ended.
    pub fn transport(
        conn: u64,
        seed: u64,
        fault: &str,
        dir: &str,
        what: String,
        j: Judgement,
        at: std::time::Duration,
    ) -> ReportLine {
        ReportLine {
            proxy: None,
            conn,
            seed,
            fault: fault.to_owned(),
            dir: dir.to_owned(),
            frame_index: None,
            what,
            bytes_hex: String::new(),
            expected: Vec::new(),
            observed: Some(j.observed),
            verdict: Some(j.verdict),
            note: j.note,
            at_ms: at.as_millis() as u64,
        }
    }
}

/// Writes report lines as they come to `file` (and to `tap`, if given) until
/// every sender is gone, then flushes.
pub async fn write(
    mut file: Option<tokio::fs::File>,
    tap: Option<mpsc::Sender<ReportLine>>,
    mut rx: mpsc::Receiver<ReportLine>,
) -> std::io::Result<()> {
    while let Some(line) = rx.recv().await {
        if let Some(f) = file.as_mut() {
            let mut s = serde_json::to_string(&line).map_err(std::io::Error::other)?;
            s.push('\n');
            f.write_all(s.as_bytes()).await?;
        }
        if let Some(tap) = &tap {
            let _ = tap.send(line).await;
        }
    }
    if let Some(f) = file.as_mut() {
        f.flush().await?;
    }
    Ok(())
}
