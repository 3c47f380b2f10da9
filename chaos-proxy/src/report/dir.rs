//! `--report-dir DIR`: everything a run leaves for people and tools, for every
//! agent of the run: Autobahn's `index.json` and `<agent>_case_<id>.json`, our
//! own `wschaos.json`, and the self-contained `index.html`.

use std::path::Path;

use anyhow::Context as _;
use serde_json::{Value, json};

use super::autobahn_index::{AgentRun, case_file, index, to_autobahn_json};
use super::{Report, SCHEMA_VERSION};

/// `wschaos.json`: the schema-1 report itself for a run of one agent (with its
/// `agent` field), and for several `{"tool", "schema", "version", "reports": [...]}`,
/// one schema-1 report per agent.
pub fn wschaos_json(runs: &[AgentRun]) -> String {
    let with_agent = |r: &AgentRun| {
        let mut report: Report = r.report.clone();
        report.agent = Some(r.agent.clone());
        report
    };
    let mut s = match runs {
        [one] => super::json::render(&with_agent(one)),
        _ => {
            let all: Vec<Report> = runs.iter().map(with_agent).collect();
            let v = json!({
                "tool": "wschaos",
                "schema": SCHEMA_VERSION,
                "version": env!("CARGO_PKG_VERSION"),
                "reports": all,
            });
            serde_json::to_string_pretty(&v).expect("reports serialize")
        }
    };
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// Writes every file of the report directory (created if missing).
pub fn write(dir: &Path, runs: &[AgentRun], by_autobahn: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--report-dir: cannot create directory {}", dir.display()))?;
    let put = |name: &str, body: &str| {
        std::fs::write(dir.join(name), body)
            .with_context(|| format!("cannot write {}", dir.join(name).display()))
    };
    for run in runs {
        let files = run.file_names();
        for c in &run.report.cases {
            let v: Value = case_file(run, c);
            let body = serde_json::to_string_pretty(&v).expect("case files serialize");
            put(&files[&c.id], &body)?;
        }
    }
    put("index.json", &to_autobahn_json(&index(runs, by_autobahn)))?;
    put("wschaos.json", &wschaos_json(runs))?;
    put("index.html", &super::html::render(runs))?;
    Ok(())
}
