//! `wschaos cases`: the catalogue with each case's expected reaction.

use clap::ValueEnum;

use super::{RunCommand, stdout};
use crate::catalogue::{Case, CatalogueOptions, Side, catalogue};
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
  wschaos cases --side client --format json")]
pub struct Cases {
    /// text: one line per case (id, expected, description); json: an array of
    /// {id, description, expected}.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CasesFormat,
    /// Which catalogue: server (cases check-server sends) or client (cases
    /// check-client serves).
    #[arg(long, value_enum, default_value = "server")]
    pub side: Side,
    /// Include the deflate.* cases that check-server --offer-deflate runs.
    #[arg(long)]
    pub offer_deflate: bool,
}

impl RunCommand for Cases {
    async fn run(self) -> anyhow::Result<u8> {
        let opts = CatalogueOptions {
            offer_deflate: self.offer_deflate,
        };
        let cases = catalogue(self.side, 0, opts);
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
        .map(|c| serde_json::json!({"id": c.id, "description": c.description, "expected": c.expect.report()}))
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
