//! `wschaos replay`: saved bytes sent to a server (or served to a client) again,
//! its reaction judged.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use super::{MAX_MS, RunCommand, bounded, millis, stdout};
use crate::check::server::{ServerCheck, probe};
use crate::replay::{read_recording, replay_bytes, replay_to_client};
use crate::report::{CaseResult, Verdict};
use crate::url::WsUrl;

/// Send saved bytes to a server after a handshake and print its reaction.
#[derive(clap::Args)]
#[command(after_long_help = "\
Each file holds the bytes a client sends after the opening handshake: a repro file of \
check-server (--repro-dir, FILE.repro/), a proxy recording (--record DIR, conn-N-c2s.bin) \
or a fuzz crash. Each is sent on a fresh connection and judged by what the codec says the \
bytes call for. Files that are not regular files, are empty or are larger than 16 MiB are \
refused before anything is sent.

With --listen the bytes are a server's (a `wschaos fuzz --listen` finding, a proxy \
recording's conn-N-s2c.bin): each file is served to the next connection of the client \
under test, whatever its path.

Exit status: 0 when every file's reaction passed or is info, 1 when any failed, 2 for \
usage errors, unreadable files and connection errors (with --listen: no client came \
within --wait-s).

Example:
  wschaos replay --target ws://127.0.0.1:9001/ report.json.repro/mask.unmasked-text.bin
  wschaos replay --listen 127.0.0.1:9002 findings/finding-1-MaskedServerFrame.bin")]
pub struct Replay {
    /// ws[s]://HOST:PORT/PATH of the server to send the bytes to.
    #[arg(
        long,
        value_name = "URL",
        required_unless_present = "listen",
        conflicts_with = "listen"
    )]
    pub target: Option<String>,
    /// HOST:PORT to serve the bytes to a client under test on, one file per
    /// connection (port 0 picks a free one; the address is printed).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// With --listen: give up when no client connected for this many seconds.
    #[arg(long, value_name = "S", default_value_t = 30)]
    pub wait_s: u64,
    /// Time the server has to react to each file, in milliseconds (1 to 86400000).
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Offer permessage-deflate in the handshake (with --listen: accept the
    /// client's offer) and judge the bytes as compressed traffic: needed for repro
    /// files of `deflate.*` cases, fuzz findings named `finding-N-deflate-*` and
    /// recordings of connections that agreed to it (their `conn-N.note` says so).
    /// The other side must agree, or the file is reported as info and not judged.
    #[arg(long)]
    pub offer_deflate: bool,
    /// Files of saved client bytes (repro files, proxy recordings, fuzz crashes).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub tls: super::tls::ClientTls,
    #[command(flatten)]
    pub serve_tls: super::tls::ServerTls,
}

impl RunCommand for Replay {
    async fn run(self) -> anyhow::Result<u8> {
        let timeout = millis("--timeout-ms", self.timeout_ms)?;
        // Every file is checked before anything is sent (and read again when its
        // turn comes, so only one is in memory at a time).
        for file in &self.files {
            let rec = read_recording(file).map_err(anyhow::Error::msg)?;
            if let Some(w) = rec.warning.as_ref().filter(|_| self.listen.is_none()) {
                eprintln!("warning: {w}");
            }
            if !self.offer_deflate && crate::replay::recorded_with_deflate(file) {
                eprintln!(
                    "warning: {} was recorded with permessage-deflate agreed: replay it with --offer-deflate",
                    file.display()
                );
            }
        }
        let mut failed = false;
        let mut print = |r: CaseResult| -> anyhow::Result<()> {
            failed |= r.verdict == Verdict::Fail;
            stdout(&format!(
                "{}: expected {}, observed {} -> {}{}\n",
                r.id,
                serde_json::to_string(&r.expected)?,
                serde_json::to_string(&r.observed)?,
                r.verdict.as_str(),
                r.note.map(|n| format!(" ({n})")).unwrap_or_default()
            ))?;
            Ok(())
        };
        if let Some(listen) = &self.listen {
            let wait = Duration::from_secs(bounded("--wait-s", self.wait_s, MAX_MS / 1000)?);
            let (client, _) = super::fuzz::serve_client(
                listen,
                &self.serve_tls,
                "replay listening on {URL} (one file per client connection)",
                (timeout, wait),
                self.files.len(),
            )
            .await?;
            for file in &self.files {
                let bytes = read_recording(file).map_err(anyhow::Error::msg)?.bytes;
                let Some(r) = replay_to_client(&client, file, bytes, self.offer_deflate).await
                else {
                    bail!("no client connected within --wait-s {}", wait.as_secs());
                };
                print(r)?;
            }
            return Ok(u8::from(failed));
        }
        let Some(target) = &self.target else {
            bail!("give --target URL (a server) or --listen HOST:PORT (a client)");
        };
        let target = WsUrl::parse(target)?;
        let tls = self.tls.connector([&target])?;
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
        for file in &self.files {
            let bytes = read_recording(file).map_err(anyhow::Error::msg)?.bytes;
            print(replay_bytes(&cfg, file, bytes, self.offer_deflate).await)?;
        }
        Ok(u8::from(failed))
    }
}
