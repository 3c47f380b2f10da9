//! `--spec FILE`: Autobahn|Testsuite's spec files, read so that a project can
//! point wschaos at the file it already has. fuzzingclient.json (for
//! check-server): `servers` (each `url` and optional `agent`), `cases`,
//! `exclude-cases`, `exclude-agent-cases`, `outdir`. fuzzingserver.json (for
//! check-client): `url`, `outdir`, `cases`, `exclude-cases`,
//! `exclude-agent-cases`. Other keys (`options`, `protocols`, `key`, `cert`,
//! `webport`) are accepted and ignored.
//!
//! Case patterns are Autobahn ids (`"1.*"`, `"6.4.1"`, `"12.*"`: the cases of ours
//! that cover them) or our ids (`"rsv.*"`); `*` matches anything. A pattern that
//! matches neither is an error, as is a file that is missing, not JSON, or has a
//! value of the wrong type.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::bail;
use serde_json::Value;
use wschaos_codec::cases::id_matches;

use crate::catalogue::Case;

/// One server of a fuzzingclient spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecServer {
    pub url: String,
    pub agent: Option<String>,
}

/// What wschaos reads from a spec file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spec {
    pub path: PathBuf,
    pub outdir: Option<PathBuf>,
    /// fuzzingserver's `url` (where check-client listens).
    pub url: Option<String>,
    pub servers: Vec<SpecServer>,
    pub cases: Vec<String>,
    pub exclude_cases: Vec<String>,
    /// `agent glob -> case patterns` not run for the agents it matches.
    pub exclude_agent_cases: Vec<(String, Vec<String>)>,
}

impl Spec {
    /// Reads and checks a spec file.
    pub fn load(path: &Path) -> anyhow::Result<Spec> {
        let p = path.display();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => bail!("--spec {p}: cannot read it: {e}"),
        };
        let v: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => bail!("--spec {p}: not JSON ({e})"),
        };
        Spec::from_value(path, &v)
    }

    pub fn from_value(path: &Path, v: &Value) -> anyhow::Result<Spec> {
        let p = path.display();
        let Value::Object(top) = v else {
            bail!("--spec {p}: expected a JSON object");
        };
        let string = |key: &str, v: &Value| -> anyhow::Result<String> {
            match v {
                Value::String(s) => Ok(s.clone()),
                _ => bail!("--spec {p}: \"{key}\" must be a string"),
            }
        };
        let strings = |key: &str, v: &Value| -> anyhow::Result<Vec<String>> {
            match v {
                Value::Array(a) => a
                    .iter()
                    .map(|x| match x {
                        Value::String(s) => Ok(s.clone()),
                        _ => bail!("--spec {p}: \"{key}\" must be a list of strings"),
                    })
                    .collect(),
                _ => bail!("--spec {p}: \"{key}\" must be a list of strings"),
            }
        };
        let mut spec = Spec {
            path: path.to_owned(),
            cases: vec!["*".into()],
            ..Spec::default()
        };
        if let Some(v) = top.get("outdir") {
            spec.outdir = Some(PathBuf::from(string("outdir", v)?));
        }
        if let Some(v) = top.get("url") {
            spec.url = Some(string("url", v)?);
        }
        if let Some(v) = top.get("cases") {
            spec.cases = strings("cases", v)?;
        }
        if let Some(v) = top.get("exclude-cases") {
            spec.exclude_cases = strings("exclude-cases", v)?;
        }
        if let Some(v) = top.get("exclude-agent-cases") {
            let Value::Object(m) = v else {
                bail!(
                    "--spec {p}: \"exclude-agent-cases\" must be an object of agent glob -> list of case patterns"
                );
            };
            for (agent, list) in m {
                spec.exclude_agent_cases
                    .push((agent.clone(), strings("exclude-agent-cases", list)?));
            }
        }
        if let Some(v) = top.get("servers") {
            let Value::Array(servers) = v else {
                bail!("--spec {p}: \"servers\" must be a list of objects with \"url\"");
            };
            for (i, s) in servers.iter().enumerate() {
                let Value::Object(s) = s else {
                    bail!("--spec {p}: servers[{i}] must be an object with \"url\"");
                };
                let Some(url) = s.get("url") else {
                    bail!("--spec {p}: servers[{i}] has no \"url\"");
                };
                let url = string("servers[].url", url)?;
                let agent = match s.get("agent") {
                    None | Some(Value::Null) => None,
                    Some(a) => Some(string("servers[].agent", a)?),
                };
                spec.servers.push(SpecServer { url, agent });
            }
        }
        Ok(spec)
    }
}

/// Whether our case `c` is matched by a spec pattern: as one of our ids, or as
/// an Autobahn id that `c` covers.
fn matches(pattern: &str, c: &Case) -> bool {
    id_matches(pattern, &c.id) || c.autobahn.iter().any(|a| id_matches(pattern, a))
}

/// Checks that every pattern matches one of our ids or an Autobahn id.
pub fn check_patterns<'a>(
    spec: &Path,
    key: &str,
    patterns: impl IntoIterator<Item = &'a String>,
    all: &[Case],
) -> anyhow::Result<()> {
    let autobahn = crate::autobahn::all();
    for pat in patterns {
        let ours = all.iter().any(|c| id_matches(pat, &c.id));
        let theirs = autobahn.iter().any(|a| id_matches(pat, a.id));
        if !ours && !theirs {
            bail!(
                "--spec {}: unknown case pattern {pat:?} in \"{key}\" (neither an Autobahn id such as \"1.*\" nor one of ours such as \"rsv.*\"; see `wschaos cases`)",
                spec.display()
            );
        }
    }
    Ok(())
}

/// The spec's selection: `cases` minus `exclude-cases`, in catalogue order. An
/// Autobahn pattern that none of our cases covers selects nothing (a note on
/// stderr says which).
pub fn select(spec: &Spec, all: Vec<Case>) -> anyhow::Result<Vec<Case>> {
    check_patterns(&spec.path, "cases", &spec.cases, &all)?;
    check_patterns(&spec.path, "exclude-cases", &spec.exclude_cases, &all)?;
    for (_, list) in &spec.exclude_agent_cases {
        check_patterns(&spec.path, "exclude-agent-cases", list, &all)?;
    }
    for pat in &spec.cases {
        if !all.iter().any(|c| matches(pat, c)) {
            eprintln!(
                "note: --spec case pattern {pat:?} selects nothing: no case of ours covers it yet (`wschaos cases --autobahn`)"
            );
        }
    }
    Ok(all
        .into_iter()
        .filter(|c| spec.cases.iter().any(|p| matches(p, c)))
        .filter(|c| !spec.exclude_cases.iter().any(|p| matches(p, c)))
        .collect())
}

/// The ids of `cases` that `exclude-agent-cases` takes away from `agent`.
pub fn excluded_for(spec: &Spec, agent: &str, cases: &[Case]) -> BTreeSet<String> {
    spec.exclude_agent_cases
        .iter()
        .filter(|(glob, _)| id_matches(glob, agent))
        .flat_map(|(_, list)| {
            cases
                .iter()
                .filter(|c| list.iter().any(|p| matches(p, c)))
                .map(|c| c.id.clone())
        })
        .collect()
}

/// `exclude-agent-cases` as `(agent glob, ids of cases it takes away)`.
pub fn agent_skips(spec: &Spec, cases: &[Case]) -> Vec<(String, BTreeSet<String>)> {
    spec.exclude_agent_cases
        .iter()
        .map(|(glob, list)| {
            let ids = cases
                .iter()
                .filter(|c| list.iter().any(|p| matches(p, c)))
                .map(|c| c.id.clone())
                .collect();
            (glob.clone(), ids)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{Side, catalogue};

    fn spec(json: &str) -> anyhow::Result<Spec> {
        Spec::from_value(Path::new("s.json"), &serde_json::from_str(json).unwrap())
    }

    #[test]
    fn autobahn_and_our_patterns_select_cases() {
        let s = spec(
            r#"{"cases": ["3.*", "rsv.rsv2"], "exclude-cases": ["3.2"], "outdir": "./reports/servers",
                "servers": [{"agent": "A", "url": "ws://127.0.0.1:1"}, {"url": "ws://127.0.0.1:2"}],
                "exclude-agent-cases": {"A*": ["rsv.*"]}, "options": {"failByDrop": false}}"#,
        )
        .unwrap();
        assert_eq!(s.servers.len(), 2);
        assert_eq!(s.servers[1].agent, None);
        assert_eq!(s.outdir.as_deref(), Some(Path::new("./reports/servers")));
        let all = catalogue(Side::Server, 1);
        let picked = select(&s, all.clone()).unwrap();
        assert!(picked.iter().any(|c| c.id == "rsv.rsv2"));
        assert!(picked.iter().any(|c| c.autobahn.iter().any(|a| a == "3.1")));
        assert!(
            !picked.iter().any(|c| c.autobahn.iter().any(|a| a == "3.2")),
            "excluded"
        );
        let ex = excluded_for(&s, "Alpha", &picked);
        assert!(ex.contains("rsv.rsv2"));
        assert!(excluded_for(&s, "B", &picked).is_empty());
    }

    #[test]
    fn bad_specs_are_one_line_errors() {
        let all = catalogue(Side::Server, 1);
        for (json, needle) in [
            ("[1]", "expected a JSON object"),
            (r#"{"cases": "1.*"}"#, "\"cases\" must be a list of strings"),
            (r#"{"cases": [1]}"#, "list of strings"),
            (r#"{"servers": [{"agent": "x"}]}"#, "has no \"url\""),
            (r#"{"servers": {"url": "x"}}"#, "\"servers\" must be"),
            (r#"{"outdir": 3}"#, "\"outdir\" must be a string"),
            (r#"{"exclude-agent-cases": []}"#, "must be an object"),
        ] {
            let e = spec(json).unwrap_err().to_string();
            assert!(e.contains(needle) && !e.contains('\n'), "{json}: {e}");
        }
        let s = spec(r#"{"cases": ["99.*"]}"#).unwrap();
        let e = select(&s, all).unwrap_err().to_string();
        assert!(e.contains("unknown case pattern \"99.*\""), "{e}");
        let missing = Spec::load(Path::new("/nonexistent/spec.json"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("cannot read"), "{missing}");
    }
}
