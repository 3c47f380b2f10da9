//! `wschaos cases`: the catalogue with each case's expected reaction.

use clap::ValueEnum;

use super::{RunCommand, stdout};
use crate::autobahn::{CategoryCoverage, coverage};
use crate::catalogue::{Case, Side, catalogue};
use crate::report::text::format_expected;

#[derive(Clone, Copy, ValueEnum)]
pub enum CasesFormat {
    Text,
    Json,
}

/// Print the case catalogue with the expected reactions.
#[derive(clap::Args)]
#[command(after_long_help = "\
Exit status: 0, or 2 for usage errors.

Example:
  wschaos cases --side client --format json
  wschaos cases --autobahn --side client    # coverage of Autobahn|Testsuite's cases")]
pub struct Cases {
    /// text: one line per case (id, expected, description); json: an array of
    /// {id, description, expected}.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CasesFormat,
    /// Which catalogue: server (cases check-server sends) or client (cases
    /// check-client serves).
    #[arg(long, value_enum, default_value = "server")]
    pub side: Side,
    /// Accepted so that existing scripts keep working; it changes nothing: the
    /// deflate.* cases always run, each offering permessage-deflate, and are
    /// `info` ("extension not negotiated") where the server does not agree.
    #[arg(long, hide_short_help = true)]
    pub offer_deflate: bool,
    /// Instead of the cases: how many of Autobahn|Testsuite's cases this side's
    /// catalogue covers, per category, and the ids it does not cover yet.
    #[arg(long)]
    pub autobahn: bool,
}

impl RunCommand for Cases {
    async fn run(self) -> anyhow::Result<u8> {
        let cases = catalogue(self.side, 0);
        if self.autobahn {
            let cov = coverage(&cases);
            let body = match self.format {
                CasesFormat::Json => format!("{}\n", serde_json::to_string_pretty(&cov)?),
                CasesFormat::Text => render_coverage(self.side, &cov),
            };
            stdout(&body)?;
            return Ok(0);
        }
        let body = match self.format {
            CasesFormat::Json => render_json(&cases)?,
            CasesFormat::Text => render_text(&cases),
        };
        stdout(&body)?;
        Ok(0)
    }
}

pub fn render_json(cases: &[Case]) -> serde_json::Result<String> {
    let list: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.id,
                "description": c.description,
                "expected": c.expect.report(),
                "autobahn": c.autobahn,
            })
        })
        .collect();
    Ok(format!("{}\n", serde_json::to_string_pretty(&list)?))
}

pub fn render_text(cases: &[Case]) -> String {
    let mut text = String::new();
    for c in cases {
        let expected = format_expected(&c.expect.report());
        text.push_str(&format!(
            "{:<44} {:<12} {}\n",
            c.id, expected, c.description
        ));
    }
    text.push_str(&format!("{} cases\n", cases.len()));
    text
}

/// The coverage table: one row per Autobahn category, then the total; the ids not
/// covered yet follow each row, wrapped.
pub fn render_coverage(side: Side, cov: &[CategoryCoverage]) -> String {
    let side = match side {
        Side::Server => "server",
        Side::Client => "client",
    };
    let mut text = format!(
        "Autobahn|Testsuite cases covered by the {side} catalogue\n{:<52} {:>5} {:>8}\n",
        "category", "cases", "covered"
    );
    for c in cov {
        let name = format!("{} {}", c.category, c.name);
        text.push_str(&format!("{name:<52} {:>5} {:>8}\n", c.cases, c.covered));
        let mut line = String::from("    not covered:");
        for id in &c.uncovered {
            if line.len() + id.len() > 88 {
                text.push_str(&line);
                text.push('\n');
                line = " ".repeat("    not covered:".len());
            }
            line.push(' ');
            line.push_str(id);
        }
        if !c.uncovered.is_empty() {
            text.push_str(&line);
            text.push('\n');
        }
    }
    let (cases, covered) = cov
        .iter()
        .fold((0, 0), |(a, b), c| (a + c.cases, b + c.covered));
    text.push_str(&format!("{:<52} {cases:>5} {covered:>8}\n", "all"));
    text
}
