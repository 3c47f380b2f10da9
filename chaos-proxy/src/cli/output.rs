//! What check-server and check-client share: which cases, the report's format and
//! destination (checked before any case runs), the repro directory, and emitting
//! the report with its summary line.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::ValueEnum;

use crate::report::{self, Report};

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Junit,
}

#[derive(clap::Args)]
pub struct Output {
    /// Report format: text (a table, coloured on a terminal), json (schema in
    /// report-schema.json) or junit (one <testcase> per case).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write the report to FILE instead of stdout. Its directory must exist; this
    /// is checked before any case runs.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Save the bytes of every non-pass case in DIR, for `wschaos replay` (created
    /// at start-up; default with --out: FILE.repro/, created only when needed).
    #[arg(long, value_name = "DIR")]
    pub repro_dir: Option<PathBuf>,
}

impl Output {
    /// `--repro-dir`, or `FILE.repro` next to `--out FILE` (its name kept byte for
    /// byte, even when it is not UTF-8).
    pub fn repro_dir(&self) -> Option<PathBuf> {
        self.repro_dir.clone().or_else(|| {
            self.out.as_ref().map(|p| {
                let mut name = OsString::from(p.as_os_str());
                name.push(".repro");
                PathBuf::from(name)
            })
        })
    }

    /// Checks `--out` and creates `--repro-dir` before any case runs, so a typo
    /// cannot throw a finished run away.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(out) = &self.out {
            super::check_writable_file(out)?;
        }
        if let Some(dir) = &self.repro_dir {
            super::ensure_writable_dir("--repro-dir", dir)?;
        } else if let Some(dir) = self.repro_dir().filter(|d| d.exists() && !d.is_dir()) {
            anyhow::bail!(
                "cannot save repro files in {}: it exists and is not a directory (use --repro-dir)",
                dir.display()
            );
        }
        Ok(())
    }
}

/// What check-server and check-client share: which cases, how to report, the
/// seed, the per-case timeout and whether non-strict fails the run.
#[derive(clap::Args)]
pub struct CaseRun {
    /// Run only cases whose id matches GLOB (`*` and `?`; repeatable). A glob that
    /// matches nothing is reported on stderr.
    #[arg(long = "case", value_name = "GLOB")]
    pub cases: Vec<String>,
    #[command(flatten)]
    pub output: Output,
    /// Seed for the run's randomness: Sec-WebSocket-Key nonces, masking keys and
    /// generated payloads. The same seed sends the same bytes. Default: random,
    /// printed on stderr.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Time each case's endpoint has to react, in milliseconds (1 to 86400000).
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Count non-strict (failed the connection without the right Close) as a
    /// failure: exit 1 and a JUnit <failure>. Without it non-strict is reported but
    /// does not fail the run.
    #[arg(long)]
    pub strict: bool,
    /// One line on stderr per finished case: `37/520 pass rsv.rsv2` (check-client
    /// also names the agent a harness gave).
    #[arg(long)]
    pub progress: bool,
}

/// Writes `report` as `output` asks and returns the exit status: 2 when the run
/// was interrupted, 1 when a case failed, else 0.
pub fn emit(report: &Report, output: &Output) -> anyhow::Result<u8> {
    let to_file = output.out.is_some();
    let body = match output.format {
        Format::Text => {
            report::text::render(report, !to_file && report::text::use_color_for_stdout())
        }
        Format::Json => report::json::render(report),
        Format::Junit => report::junit::render(report),
    };
    match &output.out {
        Some(path) => {
            std::fs::write(path, body)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let s = report.summary;
            let partial = if report.partial {
                format!(" (partial: {} cases not run)", report.not_run)
            } else {
                String::new()
            };
            eprintln!(
                "{} pass, {} non-strict, {} fail, {} info{partial}; report written to {}",
                s.pass,
                s.non_strict,
                s.fail,
                s.info,
                path.display()
            );
        }
        None => super::stdout(&body)?,
    }
    Ok(if report.partial {
        super::EXIT_INTERRUPTED
    } else {
        report.exit_code()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_repro_dir_keeps_a_non_utf8_name() {
        use std::os::unix::ffi::OsStrExt as _;
        let out = PathBuf::from(std::ffi::OsStr::from_bytes(b"/tmp/r\xff.json"));
        let output = Output {
            format: Format::Json,
            out: Some(out),
            repro_dir: None,
        };
        assert_eq!(
            output.repro_dir().unwrap().as_os_str().as_bytes(),
            b"/tmp/r\xff.json.repro"
        );
    }
}
