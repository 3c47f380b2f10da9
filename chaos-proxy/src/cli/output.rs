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

/// What makes wschaos a drop-in where Autobahn|Testsuite runs: its spec files,
/// several agents in one run, its report directory, and a baseline to compare with.
#[derive(clap::Args)]
pub struct DropIn {
    /// Write DIR/index.json (Autobahn's schema, our verdict in "wschaos"),
    /// DIR/<agent>_case_<id>.json (each case's full exchange), DIR/wschaos.json
    /// and DIR/index.html (self-contained). A spec's "outdir" sets it.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// An Autobahn|Testsuite spec file (fuzzingclient.json for check-server,
    /// fuzzingserver.json for check-client): servers, cases, exclude-cases,
    /// exclude-agent-cases, outdir. Case patterns are Autobahn ids ("1.*") or ours
    /// ("rsv.*").
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Compare with an earlier run (a wschaos.json or an index.json, ours or
    /// Autobahn's): print what got better and worse; the exit status is then 1
    /// only when something got worse.
    #[arg(long, value_name = "OLD")]
    pub baseline: Option<PathBuf>,
    /// Key index.json by Autobahn ids (each from the worst of our cases covering
    /// it), to diff it against the index.json an Autobahn run left.
    #[arg(long)]
    pub autobahn_ids: bool,
}

impl DropIn {
    /// Where repro files go: `--repro-dir` (or `FILE.repro` next to `--out`),
    /// else `DIR/repro/` of the report directory, so its repro commands work.
    pub fn repro_dir(&self, output: &Output) -> Option<PathBuf> {
        output
            .repro_dir()
            .or_else(|| self.report_dir.as_ref().map(|d| d.join("repro")))
    }

    /// Reads the spec and checks the report directory and baseline before any
    /// case runs. Returns the spec, if any.
    pub fn check(&mut self) -> anyhow::Result<Option<super::spec::Spec>> {
        let spec = match &self.spec {
            Some(path) => Some(super::spec::Spec::load(path)?),
            None => None,
        };
        if self.report_dir.is_none() {
            self.report_dir = spec.as_ref().and_then(|s| s.outdir.clone());
        }
        if let Some(dir) = &self.report_dir {
            super::ensure_writable_dir("--report-dir", dir)?;
        }
        if let Some(old) = &self.baseline {
            report::baseline::load(old)?;
        }
        if self.autobahn_ids && self.report_dir.is_none() {
            anyhow::bail!("--autobahn-ids needs --report-dir (or a spec with \"outdir\")");
        }
        Ok(spec)
    }
}

/// Writes the reports of a run of one or more agents: `output` as it asks
/// (several agents: one text table each, the multi-report JSON, one JUnit suite
/// each), the report directory, and the baseline comparison. Returns the exit
/// status: 2 when the run was interrupted; with a baseline, 1 when something got
/// worse; else 1 when a case failed; else 0.
pub fn emit_runs(
    runs: &[report::autobahn_index::AgentRun],
    output: &Output,
    drop_in: &DropIn,
) -> anyhow::Result<u8> {
    let status = match runs {
        [one] if one.report.agent.is_none() => emit(&one.report, output)?,
        _ => emit_many(runs, output)?,
    };
    if let Some(dir) = &drop_in.report_dir {
        report::dir::write(dir, runs, drop_in.autobahn_ids)?;
        eprintln!(
            "report directory: {} (index.html, index.json, wschaos.json, {} case files)",
            dir.display(),
            runs.iter().map(|r| r.report.cases.len()).sum::<usize>()
        );
    }
    if status == super::EXIT_INTERRUPTED {
        return Ok(status);
    }
    match &drop_in.baseline {
        Some(old) => {
            let cmp = report::baseline::compare(&report::baseline::load(old)?, runs);
            eprint!("{}", cmp.render(old));
            Ok(u8::from(!cmp.worse.is_empty()))
        }
        None => Ok(status),
    }
}

fn emit_many(runs: &[report::autobahn_index::AgentRun], output: &Output) -> anyhow::Result<u8> {
    let reports: Vec<Report> = runs
        .iter()
        .map(|r| {
            let mut report = r.report.clone();
            report.agent = Some(r.agent.clone());
            report
        })
        .collect();
    let to_file = output.out.is_some();
    let body = match output.format {
        Format::Text => {
            let color = !to_file && report::text::use_color_for_stdout();
            let mut s = String::new();
            for r in &reports {
                s.push_str(&format!(
                    "=== agent {}\n",
                    report::text::escape(r.agent.as_deref().unwrap_or(""))
                ));
                s.push_str(&report::text::render(r, color));
            }
            s
        }
        Format::Json => report::dir::wschaos_json(runs),
        Format::Junit => report::junit::render_many(&reports.iter().collect::<Vec<_>>()),
    };
    match &output.out {
        Some(path) => {
            std::fs::write(path, body)
                .with_context(|| format!("cannot write {}", path.display()))?;
            for r in &reports {
                let s = r.summary;
                eprintln!(
                    "{}: {} pass, {} non-strict, {} fail, {} info",
                    r.agent.as_deref().unwrap_or(""),
                    s.pass,
                    s.non_strict,
                    s.fail,
                    s.info
                );
            }
            eprintln!("report written to {}", path.display());
        }
        None => super::stdout(&body)?,
    }
    Ok(if reports.iter().any(|r| r.partial) {
        super::EXIT_INTERRUPTED
    } else {
        reports.iter().map(Report::exit_code).max().unwrap_or(0)
    })
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
