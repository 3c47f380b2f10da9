//! Autobahn|Testsuite's report files from our results, so that what reads
//! Autobahn's `index.json` today keeps working: `agent -> case id -> {behavior,
//! behaviorClose, duration, remoteCloseCode, reportfile}` plus our own verdict
//! (`"wschaos"`), and one `<agent>_case_<id>.json` per case with the full exchange.
//!
//! How our verdicts map to Autobahn's words. The pass rules projects apply to
//! index.json (Autobahn's PROTOCOL notes) must pass exactly when our verdict is
//! `pass` or `info`:
//!
//! | ours | behavior | behaviorClose |
//! |---|---|---|
//! | pass | OK | OK |
//! | info | INFORMATIONAL | INFORMATIONAL |
//! | non-strict | FAILED | WRONG CODE (another error code) or UNCLEAN (no Close) |
//! | fail | FAILED | WRONG CODE (closed with a code not owed) or FAILED |
//!
//! NON-STRICT is never written: fastwebsockets' and coder/websocket's rules count
//! it as a pass (behavior in {OK, NON-STRICT, INFORMATIONAL}), while our
//! non-strict is a connection failed without the Close it owed, which Autobahn's
//! own behaviorClose calls WRONG CODE or UNCLEAN. UNIMPLEMENTED is never written
//! either (an info case whose extension was not negotiated is INFORMATIONAL; its
//! note says so): wsproto's and fastwebsockets' rules fail on it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{CaseResult, Observed, Report, Verdict};

/// Autobahn's `behavior` and `behaviorClose` for one of our results.
pub fn behaviors(r: &CaseResult) -> (&'static str, &'static str) {
    let code = matches!(&r.observed, Observed::Close { code: Some(_), .. });
    match r.verdict {
        Verdict::Pass => ("OK", "OK"),
        Verdict::Info => ("INFORMATIONAL", "INFORMATIONAL"),
        Verdict::NonStrict if code => ("FAILED", "WRONG CODE"),
        Verdict::NonStrict => ("FAILED", "UNCLEAN"),
        Verdict::Fail if code => ("FAILED", "WRONG CODE"),
        Verdict::Fail => ("FAILED", "FAILED"),
    }
}

/// The code of the Close the endpoint sent, as `remoteCloseCode` (null: none, or
/// an empty Close).
pub fn remote_close_code(r: &CaseResult) -> Value {
    match &r.observed {
        Observed::Close { code: Some(c), .. } => json!(u16::from(*c)),
        _ => Value::Null,
    }
}

/// Autobahn's agent cleaning for file names: lowercase, every character outside
/// `[a-z0-9]` becomes `_`.
pub fn clean_agent(agent: &str) -> String {
    agent
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A case id in a file name: letters, digits, `-` and `.` kept (an Autobahn id's
/// dots become `_`, as Autobahn writes them), anything else `_`.
pub fn clean_id(id: &str, autobahn: bool) -> String {
    id.chars()
        .map(|c| match c {
            '.' if autobahn => '_',
            c if c.is_ascii_alphanumeric() || c == '-' || c == '.' => c,
            _ => '_',
        })
        .collect()
}

/// One agent's results and what they need for the report files.
#[derive(Debug, Clone)]
pub struct AgentRun {
    pub agent: String,
    pub report: Report,
    /// For each case id, the Autobahn ids it covers.
    pub autobahn: BTreeMap<String, Vec<String>>,
}

impl AgentRun {
    /// The per-case file names of this agent, unique even where cleaning makes
    /// two ids alike.
    pub fn file_names(&self) -> BTreeMap<String, String> {
        let prefix = clean_agent(&self.agent);
        let mut used = BTreeSet::new();
        let mut out = BTreeMap::new();
        for c in &self.report.cases {
            let base = format!("{prefix}_case_{}", clean_id(&c.id, false));
            let mut name = format!("{base}.json");
            let mut n = 2;
            while !used.insert(name.clone()) {
                name = format!("{base}_{n}.json");
                n += 1;
            }
            out.insert(c.id.clone(), name);
        }
        out
    }

    /// For each Autobahn id our cases cover, the result that decides it: the
    /// worst verdict among the cases covering it (the first such case in id order).
    pub fn by_autobahn_id(&self) -> BTreeMap<String, (&CaseResult, Vec<&str>)> {
        let mut out: BTreeMap<String, (&CaseResult, Vec<&str>)> = BTreeMap::new();
        for c in &self.report.cases {
            for a in self.autobahn.get(&c.id).into_iter().flatten() {
                match out.get_mut(a) {
                    Some((worst, all)) => {
                        all.push(&c.id);
                        if c.verdict < worst.verdict {
                            *worst = c;
                        }
                    }
                    None => {
                        out.insert(a.clone(), (c, vec![&c.id]));
                    }
                }
            }
        }
        out
    }
}

/// Autobahn's numeric order of ids (`1.1.8` < `1.2.1` < `10.1.1`); our ids
/// (not numbers) after them, in text order.
pub fn autobahn_order(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |s: &str| -> Option<Vec<u64>> { s.split('.').map(|p| p.parse().ok()).collect() };
    match (key(a), key(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

fn entry(r: &CaseResult, reportfile: &str) -> Value {
    let (behavior, close) = behaviors(r);
    json!({
        "behavior": behavior,
        "behaviorClose": close,
        "duration": r.duration_ms,
        "remoteCloseCode": remote_close_code(r),
        "reportfile": reportfile,
        "wschaos": r.verdict.as_str(),
    })
}

/// `index.json`: keyed by our case ids, or with `by_autobahn` by the Autobahn
/// ids our cases cover (each from its worst covering case, whose ids are listed
/// in `"wschaos_cases"`).
pub fn index(runs: &[AgentRun], by_autobahn: bool) -> Value {
    let mut top = serde_json::Map::new();
    for run in runs {
        let files = run.file_names();
        let mut cases = serde_json::Map::new();
        if by_autobahn {
            for (id, (worst, all)) in run.by_autobahn_id() {
                let mut e = entry(worst, &files[&worst.id]);
                e["wschaos_cases"] = json!(all);
                cases.insert(id, e);
            }
        } else {
            for c in &run.report.cases {
                cases.insert(c.id.clone(), entry(c, &files[&c.id]));
            }
        }
        top.insert(run.agent.clone(), Value::Object(cases));
    }
    Value::Object(top)
}

/// Autobahn writes index.json with sorted keys and an indent of 3.
pub fn to_autobahn_json(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(v, &mut ser).expect("JSON values serialize");
    let mut s = String::from_utf8(out).expect("serde_json writes UTF-8");
    s.push('\n');
    s
}

/// Shell-quotes a word for a command line a person copies.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@+,".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The commands that run a case again: the check itself with the same seed, and
/// for a saved repro file `wschaos replay`.
pub fn repro_commands(report: &Report, r: &CaseResult) -> Vec<String> {
    let id = shell_quote(&r.id);
    let target = shell_quote(&report.target);
    let mut out = Vec::new();
    match report.mode {
        super::Mode::Client => {
            out.push(format!(
                "wschaos check-client --listen 127.0.0.1:9001 --case {id} --seed {}   # then point the client at ws://127.0.0.1:9001/case/{}",
                report.seed, r.id
            ));
        }
        _ => {
            out.push(format!(
                "wschaos check-server --target {target} --case {id} --seed {}",
                report.seed
            ));
            if let Some(file) = &r.repro {
                let deflate = if r.id.contains("deflate.") {
                    " --offer-deflate"
                } else {
                    ""
                };
                out.push(format!(
                    "wschaos replay --target {target}{deflate} {}",
                    shell_quote(file)
                ));
            }
        }
    }
    out
}

/// Frames listed per case file (the rest are counted in `wirelogNotes`).
pub const CASE_FRAMES: usize = 256;

/// One `<agent>_case_<id>.json`: our result, Autobahn's words for it, and the
/// exchange decoded.
pub fn case_file(run: &AgentRun, r: &CaseResult) -> Value {
    let (behavior, close) = behaviors(r);
    let mut v = json!({
        "agent": run.agent,
        "id": r.id,
        "autobahn": run.autobahn.get(&r.id).cloned().unwrap_or_default(),
        "description": r.description,
        "expected": r.expected,
        "observed": r.observed,
        "wschaos": r.verdict.as_str(),
        "behavior": behavior,
        "behaviorClose": close,
        "remoteCloseCode": remote_close_code(r),
        "duration": r.duration_ms,
        "isServer": run.report.mode == super::Mode::Client,
        "target": run.report.target,
        "seed": run.report.seed,
        "repro": repro_commands(&run.report, r),
    });
    if let Some(n) = &r.note {
        v["note"] = json!(n);
    }
    // Autobahn's prose fields, which some harnesses print or match (aiohttp's
    // xfail list reads `result`): here in our words.
    let outcome = format!(
        "{}: expected {}, observed {}",
        r.verdict.as_str(),
        super::text::format_expected(&r.expected),
        super::text::format_observed(&r.observed)
    );
    v["result"] = json!(match &r.note {
        Some(n) => format!("{outcome} ({n})"),
        None => outcome,
    });
    v["resultClose"] = json!(format!("behaviorClose {close}"));
    if let Some(f) = &r.repro {
        v["reproFile"] = json!(f);
    }
    if let Some(w) = &r.wire {
        let d = w.decode();
        v["httpRequest"] = json!(d.http_request);
        v["httpResponse"] = json!(d.http_response);
        v["wirelog"] = Value::Array(
            d.frames
                .iter()
                .take(CASE_FRAMES)
                .map(|f| f.to_json())
                .collect(),
        );
        v["octets"] = json!({"sent": d.octets_sent, "received": d.octets_received});
        let mut notes = d.notes.clone();
        if d.frames.len() > CASE_FRAMES {
            notes.push(format!(
                "{} more frames recorded, not listed",
                d.frames.len() - CASE_FRAMES
            ));
        }
        if !notes.is_empty() {
            v["wirelogNotes"] = json!(notes);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_as_autobahn_does() {
        assert_eq!(clean_agent("websockets.asyncio"), "websockets_asyncio");
        assert_eq!(clean_agent("Tungstenite/0.30 (x)"), "tungstenite_0_30__x_");
        assert_eq!(clean_id("1.1.1", true), "1_1_1");
        assert_eq!(clean_id("rsv.rsv1+chop1", false), "rsv.rsv1_chop1");
        assert_eq!(clean_id("../../etc/passwd", false), ".._.._etc_passwd");
    }

    #[test]
    fn autobahn_ids_sort_numerically() {
        let mut ids = vec!["12.1.1", "10.1.1", "1.2.1", "9.1.1", "1.1.8", "ok.text"];
        ids.sort_by(|a, b| autobahn_order(a, b));
        assert_eq!(
            ids,
            ["1.1.8", "1.2.1", "9.1.1", "10.1.1", "12.1.1", "ok.text"]
        );
    }

    #[test]
    fn quoting_is_safe() {
        assert_eq!(shell_quote("rsv.rsv1+chop1"), "rsv.rsv1+chop1");
        assert_eq!(shell_quote("a b'c"), r"'a b'\''c'");
    }
}
