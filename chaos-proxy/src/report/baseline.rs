//! `--baseline OLD`: compares this run with an earlier one, given as a
//! `wschaos.json` (one report, or several under `"reports"`) or an `index.json`
//! (Autobahn's, or ours, keyed by our ids or by Autobahn ids), and lists what got
//! better and what got worse, the way tungstenite's CI compares its run with a
//! committed expected-results.json. A case is graded good (pass, info; Autobahn's
//! OK, INFORMATIONAL or UNIMPLEMENTED with a close behaviour of OK or
//! INFORMATIONAL), lenient (non-strict; Autobahn's NON-STRICT, WRONG CODE or
//! UNCLEAN) or failed. An id of the baseline that is an Autobahn id is compared
//! with the worst of our cases that cover it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::Verdict;
use super::autobahn_index::AgentRun;

/// How good a result is: 2 good, 1 lenient, 0 failed.
pub type Grade = u8;

pub fn grade(v: Verdict) -> Grade {
    match v {
        Verdict::Pass | Verdict::Info => 2,
        Verdict::NonStrict => 1,
        Verdict::Fail => 0,
    }
}

fn word(g: Grade) -> &'static str {
    match g {
        2 => "good",
        1 => "lenient",
        _ => "failed",
    }
}

/// An entry of an index.json: our verdict when it carries one, else Autobahn's
/// behaviours.
fn grade_entry(e: &Value) -> Option<(Grade, String)> {
    if let Some(v) = e.get("wschaos").and_then(Value::as_str) {
        let verdict: Verdict = serde_json::from_value(Value::String(v.to_owned())).ok()?;
        return Some((grade(verdict), v.to_owned()));
    }
    let b = e.get("behavior")?.as_str()?;
    let c = e
        .get("behaviorClose")
        .and_then(Value::as_str)
        .unwrap_or("OK");
    let g = match (b, c) {
        ("OK" | "INFORMATIONAL" | "UNIMPLEMENTED", "OK" | "INFORMATIONAL") => 2,
        ("FAILED", _) => 0,
        ("NON-STRICT", _) | (_, "WRONG CODE" | "UNCLEAN") => 1,
        _ => 0,
    };
    Some((g, format!("{b}/{c}")))
}

/// One agent's baseline: id -> (grade, label).
type Cases = BTreeMap<String, (Grade, String)>;
/// The baseline: agent (None: a report that named none) -> its cases.
type Old = BTreeMap<Option<String>, Cases>;

/// Reads a baseline file; a one-line error when it is neither format.
pub fn load(path: &Path) -> anyhow::Result<Old> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--baseline {}: cannot read it", path.display()))?;
    let neither = || {
        anyhow::anyhow!(
            "--baseline {}: neither a wschaos.json report nor an Autobahn index.json",
            path.display()
        )
    };
    let v: Value = serde_json::from_str(&text).map_err(|_| neither())?;
    let Value::Object(top) = &v else {
        bail!(neither());
    };
    let mut old = Old::new();
    if top.get("tool").and_then(Value::as_str) == Some("wschaos") {
        let reports: Vec<&Value> = match top.get("reports") {
            Some(Value::Array(all)) => all.iter().collect(),
            _ => vec![&v],
        };
        for r in reports {
            let agent = r.get("agent").and_then(Value::as_str).map(str::to_owned);
            let cases = r
                .get("cases")
                .and_then(Value::as_array)
                .ok_or_else(neither)?;
            let map = old.entry(agent).or_default();
            for c in cases {
                let id = c.get("id").and_then(Value::as_str).ok_or_else(neither)?;
                let verdict: Verdict = c
                    .get("verdict")
                    .cloned()
                    .and_then(|v| serde_json::from_value(v).ok())
                    .ok_or_else(neither)?;
                map.insert(id.to_owned(), (grade(verdict), verdict.as_str().to_owned()));
            }
        }
        return Ok(old);
    }
    for (agent, cases) in top {
        let Value::Object(cases) = cases else {
            bail!(neither());
        };
        let map = old.entry(Some(agent.clone())).or_default();
        for (id, e) in cases {
            map.insert(id.clone(), grade_entry(e).ok_or_else(neither)?);
        }
    }
    Ok(old)
}

/// What changed against the baseline.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub better: Vec<String>,
    pub worse: Vec<String>,
    /// Ids (or agents) of the baseline this run has no result for.
    pub missing: Vec<String>,
    pub compared: usize,
}

impl Comparison {
    /// The lines printed after the run.
    pub fn render(&self, path: &Path) -> String {
        let mut out = format!(
            "baseline {}: {} compared, {} better, {} worse, {} not in this run\n",
            path.display(),
            self.compared,
            self.better.len(),
            self.worse.len(),
            self.missing.len()
        );
        for (what, list) in [("worse ", &self.worse), ("better", &self.better)] {
            for l in list {
                out.push_str(&format!("{what}  {l}\n"));
            }
        }
        for l in self.missing.iter().take(20) {
            out.push_str(&format!("missing {l}\n"));
        }
        if self.missing.len() > 20 {
            out.push_str(&format!(
                "missing ... and {} more\n",
                self.missing.len() - 20
            ));
        }
        out
    }
}

/// Compares this run's agents with the baseline's. With one agent on each side
/// they are compared whatever their names; else by name.
pub fn compare(old: &Old, runs: &[AgentRun]) -> Comparison {
    let mut cmp = Comparison::default();
    let pairs: Vec<(&Option<String>, &Cases, Option<&AgentRun>)> =
        if old.len() == 1 && runs.len() == 1 {
            old.iter().map(|(a, m)| (a, m, runs.first())).collect()
        } else {
            old.iter()
                .map(|(a, m)| {
                    let run = runs.iter().find(|r| Some(&r.agent) == a.as_ref());
                    (a, m, run)
                })
                .collect()
        };
    for (agent, cases, run) in pairs {
        let name = agent.clone().unwrap_or_else(|| "(unnamed)".into());
        let Some(run) = run else {
            cmp.missing.push(format!("agent {name}: not in this run"));
            continue;
        };
        let ours: BTreeMap<&str, Verdict> = run
            .report
            .cases
            .iter()
            .map(|c| (c.id.as_str(), c.verdict))
            .collect();
        let by_autobahn = run.by_autobahn_id();
        for (id, (old_grade, old_label)) in cases {
            let now = ours
                .get(id.as_str())
                .copied()
                .or_else(|| by_autobahn.get(id).map(|(w, _)| w.verdict));
            let Some(now) = now else {
                cmp.missing.push(format!("{}  {id}", run.agent));
                continue;
            };
            cmp.compared += 1;
            let g = grade(now);
            let line = format!(
                "{}  {id}  {old_label} ({}) -> {} ({})",
                run.agent,
                word(*old_grade),
                now.as_str(),
                word(g)
            );
            if g < *old_grade {
                cmp.worse.push(line);
            } else if g > *old_grade {
                cmp.better.push(line);
            }
        }
    }
    cmp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{CaseResult, ExpectedReport, Mode, Observed, Report};

    fn run(verdicts: &[(&str, Verdict)]) -> AgentRun {
        let cases = verdicts
            .iter()
            .map(|(id, v)| CaseResult {
                id: (*id).to_owned(),
                description: String::new(),
                expected: ExpectedReport::Codes(vec![1002]),
                observed: Observed::TcpClose,
                verdict: *v,
                duration_ms: 1,
                note: None,
                repro: None,
                wire: None,
            })
            .collect();
        let mut autobahn = BTreeMap::new();
        autobahn.insert("rsv.rsv1".to_owned(), vec!["3.1".to_owned()]);
        autobahn.insert("rsv.rsv1+chop1".to_owned(), vec!["3.1".to_owned()]);
        AgentRun {
            agent: "srv".into(),
            report: Report::new(Mode::Server, "ws://x/".into(), 1, "t".into(), cases),
            autobahn,
        }
    }

    fn file(name: &str, body: &str) -> std::path::PathBuf {
        let p =
            std::env::temp_dir().join(format!("wschaos-baseline-{}-{name}", std::process::id()));
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn autobahn_index_and_our_report_compare_both_ways() {
        let now = run(&[
            ("rsv.rsv1", Verdict::Pass),
            ("rsv.rsv1+chop1", Verdict::NonStrict),
            ("ok.text", Verdict::Pass),
        ]);
        let ab = file(
            "ab.json",
            r#"{"Other": {"3.1": {"behavior": "OK", "behaviorClose": "OK"},
                          "1.1.1": {"behavior": "OK", "behaviorClose": "OK"}}}"#,
        );
        let cmp = compare(&load(&ab).unwrap(), std::slice::from_ref(&now));
        assert_eq!(cmp.worse.len(), 1, "{cmp:?}");
        assert!(cmp.worse[0].contains("3.1"), "{cmp:?}");
        assert_eq!(cmp.missing.len(), 1);
        let ours = file(
            "ours.json",
            r#"{"tool": "wschaos", "schema": 1, "cases": [
                {"id": "rsv.rsv1", "verdict": "fail"}, {"id": "ok.text", "verdict": "pass"}]}"#,
        );
        let cmp = compare(&load(&ours).unwrap(), &[now]);
        assert_eq!((cmp.better.len(), cmp.worse.len(), cmp.compared), (1, 0, 2));
        for bad in [
            "[1,2]",
            "not json",
            r#"{"a": 1}"#,
            r#"{"a": {"1.1": {"x": 1}}}"#,
        ] {
            let e = load(&file("bad.json", bad)).unwrap_err().to_string();
            assert!(e.contains("neither") && !e.contains('\n'), "{e}");
        }
    }
}
