//! `wschaos demo`: the built-in targets through the whole server suite.

use super::{MAX_JOBS, RunCommand, bounded, millis, stdout};

/// Start built-in conforming and broken targets and run the server suite on each.
#[derive(clap::Args)]
#[command(after_long_help = "\
Starts a conforming tokio-tungstenite echo server and four deliberately broken ones on \
ephemeral 127.0.0.1 ports, runs the server suite against each and prints what each gets wrong.

Exit status: 0 when the conforming target passes and every broken one is caught, 1 when \
a target did not behave as designed, 2 for usage errors.

Example:
  wschaos demo --jobs 4")]
pub struct Demo {
    /// Seed for the run's randomness (keys, masks, payloads); the demo defaults to 1
    /// so its output is the same every time.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Time each case's target has to react, in milliseconds (1 to 86400000).
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Cases run at once against each target, each on its own connection (1 to 4096).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub jobs: u64,
}

impl RunCommand for Demo {
    async fn run(self) -> anyhow::Result<u8> {
        let timeout = millis("--timeout-ms", self.timeout_ms)?;
        let jobs = bounded("--jobs", self.jobs, MAX_JOBS)? as usize;
        let color = crate::report::text::use_color_for_stdout();
        let outcome = crate::demo::run(self.seed, timeout, jobs, color).await?;
        let verdict = if outcome.as_designed {
            "the conforming target passes; every broken target is caught"
        } else {
            "unexpected: a target did not behave as designed (see above)"
        };
        stdout(&format!("{}\n{verdict}\n", outcome.text))?;
        Ok(if outcome.as_designed { 0 } else { 1 })
    }
}
