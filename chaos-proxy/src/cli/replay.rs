//! `wschaos replay`: saved bytes sent to a server again, its reaction judged.

use std::path::PathBuf;

use super::{RunCommand, millis, stdout};
use crate::check::server::{ServerCheck, probe};
use crate::replay::{read_recording, replay_bytes};
use crate::report::Verdict;
use crate::url::WsUrl;

/// Send saved bytes to a server after a handshake and print its reaction.
#[derive(clap::Args)]
#[command(after_long_help = "\
Each file holds the bytes a client sends after the opening handshake: a repro file of \
check-server (--repro-dir, FILE.repro/), a proxy recording (--record DIR, conn-N-c2s.bin) \
or a fuzz crash. Each is sent on a fresh connection and judged by what the codec says the \
bytes call for. Files that are not regular files, are empty or are larger than 16 MiB are \
refused before anything is sent.

Exit status: 0 when every file's reaction passed or is info, 1 when any failed, 2 for \
usage errors, unreadable files and connection errors.

Example:
  wschaos replay --target ws://127.0.0.1:9001/ report.json.repro/mask.unmasked-text.bin")]
pub struct Replay {
    /// ws://HOST:PORT/PATH of the server to send the bytes to.
    #[arg(long, value_name = "URL")]
    pub target: String,
    /// Time the server has to react to each file, in milliseconds (1 to 86400000).
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Offer permessage-deflate in the handshake and judge the bytes as compressed
    /// traffic: needed for repro files of `deflate.*` cases and for recordings of
    /// connections that agreed to it (their `conn-N.note` says so). The server must
    /// agree, or the file is reported as info and not judged.
    #[arg(long)]
    pub offer_deflate: bool,
    /// Files of saved client bytes (repro files, proxy recordings, fuzz crashes).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub tls: super::tls::ClientTls,
}

impl RunCommand for Replay {
    async fn run(self) -> anyhow::Result<u8> {
        let target = WsUrl::parse(&self.target)?;
        let tls = self.tls.connector([&target])?;
        let timeout = millis("--timeout-ms", self.timeout_ms)?;
        // Every file is checked before anything is sent (and read again when its
        // turn comes, so only one is in memory at a time).
        for file in &self.files {
            let rec = read_recording(file).map_err(anyhow::Error::msg)?;
            if let Some(w) = &rec.warning {
                eprintln!("warning: {w}");
            }
            if !self.offer_deflate && crate::replay::recorded_with_deflate(file) {
                eprintln!(
                    "warning: {} was recorded with permessage-deflate agreed: replay it with --offer-deflate",
                    file.display()
                );
            }
        }
        probe(&target, timeout, &Default::default(), tls.as_ref())
            .await
            .map_err(anyhow::Error::msg)?;
        let cfg = ServerCheck {
            target,
            seed: 0,
            timeout,
            jobs: 1,
            repro_dir: None,
            extras: Default::default(),
            progress: false,
            tls,
        };
        let mut failed = false;
        for file in &self.files {
            let bytes = read_recording(file).map_err(anyhow::Error::msg)?.bytes;
            let r = replay_bytes(&cfg, file, bytes, self.offer_deflate).await;
            failed |= r.verdict == Verdict::Fail;
            stdout(&format!(
                "{}: expected {}, observed {} -> {}{}\n",
                r.id,
                serde_json::to_string(&r.expected)?,
                serde_json::to_string(&r.observed)?,
                r.verdict.as_str(),
                r.note.map(|n| format!(" ({n})")).unwrap_or_default()
            ))?;
        }
        Ok(u8::from(failed))
    }
}
