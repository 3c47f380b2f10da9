//! The `wschaos` command line, one file per subcommand (the cargo-fuzz `options/`
//! shape): each holds its `clap::Args` struct and a `run()`; `main.rs` only parses
//! and dispatches. What several commands share lives here: address and bound
//! checks with one-line errors, path checks made before any work starts, the seed,
//! logging, and stdout that tolerates a reader going away.
//!
//! Exit status: 0 when every case passed or is informational, 1 when any failed,
//! 2 for usage, configuration or connection errors and for an interrupted run.

pub mod cases;
pub mod check_client;
pub mod check_server;
pub mod demo;
pub mod fuzz;
pub mod output;
pub mod proxy;
pub mod replay;
pub mod signal;
pub mod spec;
pub mod tls;

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context as _, bail};

/// Exit status of an interrupted run (the partial report is still written).
pub const EXIT_INTERRUPTED: u8 = 2;

/// The upper bound of every time option: longer than any run needs, and far from
/// where adding it to a clock could overflow.
pub const MAX_MS: u64 = 24 * 60 * 60 * 1000;
/// The upper bound of `--jobs`: each job is one open connection.
pub const MAX_JOBS: u64 = 4096;

/// A subcommand: its parsed arguments and how to run them (cargo-fuzz's `RunCommand`).
pub trait RunCommand {
    /// Returns the exit status; an error is printed as one line and exits 2.
    fn run(self) -> impl std::future::Future<Output = anyhow::Result<u8>>;
}

/// Parses `HOST:PORT` given to `flag`, with the one-line error SPEC.md asks for
/// (clap's own value errors span several lines).
pub fn parse_addr(flag: &str, value: &str) -> anyhow::Result<SocketAddr> {
    value.parse().map_err(|_| {
        anyhow::anyhow!("bad {flag} address {value:?}: expected HOST:PORT, e.g. 127.0.0.1:9001")
    })
}

/// `value` of `flag` within 1..=max, or a one-line error naming the bound.
pub fn bounded(flag: &str, value: u64, max: u64) -> anyhow::Result<u64> {
    if value == 0 {
        bail!("{flag} must be at least 1");
    }
    if value > max {
        bail!("{flag} must be at most {max}");
    }
    Ok(value)
}

/// A millisecond option within 1 ms and one day.
pub fn millis(flag: &str, value: u64) -> anyhow::Result<std::time::Duration> {
    bounded(flag, value, MAX_MS).map(std::time::Duration::from_millis)
}

/// The seed given, or a random one that is printed so the run can be repeated.
pub fn seed_or_random(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let s = t ^ u64::from(std::process::id()).rotate_left(32);
        eprintln!("seed: {s} (pass --seed {s} to reproduce)");
        s
    })
}

/// Logs to stderr, coloured only on a terminal. A filter that does not parse is
/// an error rather than silently `warn`.
pub fn init_logging(filter: &str) -> anyhow::Result<()> {
    let parsed = tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| {
        let e = e.to_string().replace('\n', " ");
        anyhow::anyhow!("bad --log filter {filter:?}: {e}")
    })?;
    tracing_subscriber::fmt()
        .with_env_filter(parsed)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    Ok(())
}

/// Writes to stdout. A reader that went away (`wschaos cases | head`) is not an
/// error: the output was not wanted any more.
pub fn stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// Fails unless a report can be written at `path` later: its directory exists and
/// a file there can be opened for writing. An existing file is opened for append,
/// so nothing is truncated; a probe file this creates is removed again.
pub fn check_writable_file(path: &Path) -> anyhow::Result<()> {
    let fail = |e: &dyn std::fmt::Display| anyhow::anyhow!("cannot write {}: {e}", path.display());
    if path.is_dir() {
        return Err(fail(&"it is a directory"));
    }
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| fail(&e))?;
    if !existed {
        std::fs::remove_file(path).map_err(|e| fail(&e))?;
    }
    Ok(())
}

/// Creates `dir` (and its parents) and checks a file can be written in it.
pub fn ensure_writable_dir(flag: &str, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{flag}: cannot create directory {}", dir.display()))?;
    let probe = dir.join(format!(".wschaos-probe-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .with_context(|| format!("{flag}: cannot write in {}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Warns (one stderr line each) about `--case` globs that match no case id.
pub fn warn_unmatched_globs<'a>(globs: &[String], ids: impl Iterator<Item = &'a str> + Clone) {
    for glob in globs {
        if !ids
            .clone()
            .any(|id| wschaos_codec::cases::id_matches(glob, id))
        {
            eprintln!("warning: --case {glob:?} matches no case (see `wschaos cases`)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_reject_zero_and_huge_values() {
        assert_eq!(
            bounded("--jobs", 0, MAX_JOBS).unwrap_err().to_string(),
            "--jobs must be at least 1"
        );
        assert!(millis("--timeout-ms", u64::MAX).is_err());
        assert_eq!(millis("--timeout-ms", 5).unwrap().as_millis(), 5);
    }

    #[test]
    fn addresses_parse_with_one_line_errors() {
        assert_eq!(parse_addr("--listen", "127.0.0.1:9").unwrap().port(), 9);
        let e = parse_addr("--listen", "nowhere").unwrap_err().to_string();
        assert!(e.contains("--listen") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn writable_file_check_keeps_existing_content_and_leaves_no_probe() {
        let dir = std::env::temp_dir().join(format!("wschaos-cli-w-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let existing = dir.join("keep.txt");
        std::fs::write(&existing, "data").unwrap();
        check_writable_file(&existing).unwrap();
        assert_eq!(std::fs::read_to_string(&existing).unwrap(), "data");
        let fresh = dir.join("fresh.json");
        check_writable_file(&fresh).unwrap();
        assert!(!fresh.exists());
        assert!(check_writable_file(&dir.join("missing/x.json")).is_err());
        assert!(check_writable_file(&dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
