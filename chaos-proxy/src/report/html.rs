//! `index.html` of `--report-dir`: one self-contained page (no script, no network,
//! no external font; it works from file://). A matrix of cases × agents grouped
//! by category (the id's prefix before the first '.'), each cell coloured by
//! verdict and showing the close code; counts per agent and per category; a
//! filter (a checkbox, CSS only) that leaves the cases not every agent passed;
//! and a panel per agent and case, opened by its cell (`:target`), with the
//! description, expected and observed reaction, the decoded wire log and the
//! repro commands.
//!
//! Written by hand rather than with a template crate: the page is one table and
//! its panels, and every string that reaches it goes through [`esc`], which
//! also makes control and bidi characters visible (payloads and close reasons
//! come from the peer under test).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::autobahn_index::{AgentRun, behaviors, repro_commands};
use super::exchange::Dir;
use super::text::{format_expected, format_observed};
use super::{CaseResult, Observed, Verdict};

/// Escapes text for HTML content and quoted attributes. Control characters
/// (but newline and tab) and the bidi controls are written as visible `\x..` /
/// `\u{..}` escapes, so that peer-sent text can neither break the markup nor
/// disguise itself.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{feff}' => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The category of a case id: its prefix before the first '.'.
pub fn category(id: &str) -> &str {
    id.split_once('.').map_or(id, |(c, _)| c)
}

fn class(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Pass) => "v-pass",
        Some(Verdict::Info) => "v-info",
        Some(Verdict::NonStrict) => "v-nonstrict",
        Some(Verdict::Fail) => "v-fail",
        None => "v-missing",
    }
}

/// What a matrix cell shows: the close code, or a short word for the reaction.
fn cell_text(r: &CaseResult) -> String {
    match &r.observed {
        Observed::Close { code: Some(c), .. } => u16::from(*c).to_string(),
        Observed::Close { code: None, .. } => "close".into(),
        Observed::TcpClose => "tcp".into(),
        Observed::Echo => "echo".into(),
        Observed::Continued => "cont".into(),
        Observed::Timeout => "timeout".into(),
        Observed::HandshakeRefused { status } => format!("http {status}"),
    }
}

/// Frames shown per case, and payload bytes per frame, in the page (the case
/// files have more): a page with several agents must stay light.
const HTML_FRAMES: usize = 24;
const HTML_PAYLOAD: usize = 128;

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em;color:#1b1f24;background:#fff}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.2em 0 .4em}
table{border-collapse:collapse}th,td{padding:2px 6px;border:1px solid #d0d7de;text-align:left;vertical-align:top}
.summary td.n{text-align:right}
.matrix td.cell{text-align:center;min-width:4.5em;font-variant-numeric:tabular-nums}
.matrix td.cell a{color:inherit;text-decoration:none;display:block}
.matrix th.case{font-weight:normal;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
tr.cathead th,tr.cathead td{background:#f6f8fa;font-weight:600}
.v-pass{background:#c9f2d0}.v-info{background:#dde7f7}.v-nonstrict{background:#ffe8a3}.v-fail{background:#ffc4c4}.v-missing{background:#eee;color:#777}
.legend span{padding:1px 8px;margin-right:6px;border:1px solid #d0d7de}
#only-bad:checked~table.matrix tr.allgood,#nonpassing:target~table.matrix tr.allgood{display:none}
.panel{display:none}
.panel:target{display:block;position:fixed;top:1em;right:1em;bottom:1em;width:min(62em,70%);overflow:auto;background:#fff;border:1px solid #8c959f;box-shadow:0 4px 24px rgba(0,0,0,.25);padding:1em 1.2em}
.panel .close{float:right;font-size:1.3em;text-decoration:none}
.panel dl{display:grid;grid-template-columns:10em 1fr;gap:2px 12px}.panel dt{color:#57606a}.panel dd{margin:0}
pre{background:#f6f8fa;padding:.5em;overflow:auto;white-space:pre-wrap;word-break:break-all;font-size:12px}
table.wire{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
table.wire td.p{max-width:40em;word-break:break-all}
.sent{color:#0a3069}.received{color:#6e3b00}.viol{color:#a40e26}
"#;

/// A count cell, coloured only when there is something to count.
fn count(n: usize, class: &str) -> String {
    if n == 0 {
        "<td class=\"n\">0</td>".to_owned()
    } else {
        format!("<td class=\"n {class}\">{n}</td>")
    }
}

/// Renders the page for every agent of the run.
pub fn render(runs: &[AgentRun]) -> String {
    // Every case id any agent ran, in id order, grouped by category.
    let mut ids: Vec<&str> = runs
        .iter()
        .flat_map(|r| r.report.cases.iter().map(|c| c.id.as_str()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let results: Vec<BTreeMap<&str, &CaseResult>> = runs
        .iter()
        .map(|r| r.report.cases.iter().map(|c| (c.id.as_str(), c)).collect())
        .collect();
    let mut cats: Vec<(&str, Vec<(usize, &str)>)> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let cat = category(id);
        match cats.last_mut() {
            Some((c, list)) if *c == cat => list.push((i, id)),
            _ => cats.push((cat, vec![(i, id)])),
        }
    }

    let mut h = String::with_capacity(64 * 1024);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
    h.push_str("<title>wschaos report</title><style>");
    h.push_str(STYLE);
    h.push_str("</style></head><body>\n");
    // The target of the filter's link (#nonpassing): first, so the page opens at its top.
    h.push_str("<span id=\"nonpassing\"></span>\n");
    let mode = runs.first().map_or("", |r| r.report.mode.as_str());
    let started = runs.first().map_or("", |r| r.report.started.as_str());
    let _ = writeln!(
        h,
        "<h1>wschaos report</h1><p>mode: {} · started: {} · wschaos {} · {} agent(s), {} case(s)</p>",
        esc(mode),
        esc(started),
        esc(env!("CARGO_PKG_VERSION")),
        runs.len(),
        ids.len()
    );

    h.push_str("<h2>Agents</h2><table class=\"summary\"><tr><th>agent</th><th>target</th><th>seed</th><th>pass</th><th>non-strict</th><th>fail</th><th>info</th><th>not run</th></tr>\n");
    for r in runs {
        let s = r.report.summary;
        let missing = ids.len() - r.report.cases.len();
        let _ = writeln!(
            h,
            "<tr class=\"agent\"><th>{}</th><td>{}</td><td class=\"n\">{}</td>{}{}{}{}<td class=\"n\">{}</td></tr>",
            esc(&r.agent),
            esc(&r.report.target),
            r.report.seed,
            count(s.pass, "v-pass"),
            count(s.non_strict, "v-nonstrict"),
            count(s.fail, "v-fail"),
            count(s.info, "v-info"),
            missing + r.report.not_run
        );
    }
    h.push_str("</table>\n");

    h.push_str("<h2>Cases</h2>\n<p class=\"legend\"><span class=\"v-pass\">pass</span><span class=\"v-info\">info</span><span class=\"v-nonstrict\">non-strict</span><span class=\"v-fail\">fail</span><span class=\"v-missing\">not run</span> A cell shows the close code the endpoint sent (tcp: no Close; echo: it carried on). Click a cell for the exchange.</p>\n");
    h.push_str("<input type=\"checkbox\" id=\"only-bad\"><label for=\"only-bad\"> show only cases some agent did not pass (non-strict, fail, not run)</label> · <a href=\"#nonpassing\">a link to that view</a>\n");
    h.push_str("<table class=\"matrix\" id=\"matrix\"><thead><tr><th>case</th>");
    for r in runs {
        let _ = write!(h, "<th class=\"agent\">{}</th>", esc(&r.agent));
    }
    h.push_str("</tr></thead>\n");
    for (cat, list) in &cats {
        let _ = write!(
            h,
            "<tbody class=\"cat\"><tr class=\"cathead\"><th>{} ({} cases)</th>",
            esc(cat),
            list.len()
        );
        for res in &results {
            let mut n = [0usize; 5];
            for (_, id) in list {
                let slot = match res.get(id).map(|c| c.verdict) {
                    Some(Verdict::Pass) => 0,
                    Some(Verdict::Info) => 1,
                    Some(Verdict::NonStrict) => 2,
                    Some(Verdict::Fail) => 3,
                    None => 4,
                };
                n[slot] += 1;
            }
            let mut parts = vec![format!("{} pass", n[0])];
            for (k, word) in [(1, "info"), (2, "non-strict"), (3, "fail"), (4, "not run")] {
                if n[k] > 0 {
                    parts.push(format!("{} {word}", n[k]));
                }
            }
            let cls = if n[3] > 0 {
                "v-fail"
            } else if n[2] > 0 || n[4] > 0 {
                "v-nonstrict"
            } else {
                "v-pass"
            };
            let _ = write!(h, "<td class=\"catcount {cls}\">{}</td>", parts.join(" · "));
        }
        h.push_str("</tr>\n");
        for (i, id) in list {
            let all_good = results.iter().all(|res| {
                res.get(id)
                    .is_some_and(|c| matches!(c.verdict, Verdict::Pass | Verdict::Info))
            });
            let _ = write!(
                h,
                "<tr class=\"row{}\"><th class=\"case\">{}</th>",
                if all_good { " allgood" } else { "" },
                esc(id)
            );
            for (a, res) in results.iter().enumerate() {
                match res.get(id) {
                    Some(c) => {
                        let _ = write!(
                            h,
                            "<td class=\"cell {}\" data-agent=\"{a}\" title=\"{} · {}\"><a href=\"#p-{a}-{i}\">{}</a></td>",
                            class(Some(c.verdict)),
                            esc(&runs[a].agent),
                            c.verdict.as_str(),
                            esc(&cell_text(c))
                        );
                    }
                    None => {
                        let _ = write!(
                            h,
                            "<td class=\"cell v-missing\" data-agent=\"{a}\" title=\"not run\">–</td>"
                        );
                    }
                }
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody>\n");
    }
    h.push_str("</table>\n");

    for (a, run) in runs.iter().enumerate() {
        for (i, id) in ids.iter().enumerate() {
            if let Some(c) = results[a].get(id) {
                panel(&mut h, run, a, i, c);
            }
        }
    }
    h.push_str("</body></html>\n");
    h
}

fn panel(h: &mut String, run: &AgentRun, a: usize, i: usize, c: &CaseResult) {
    let (behavior, close) = behaviors(c);
    let _ = write!(
        h,
        "<section class=\"panel\" id=\"p-{a}-{i}\"><a class=\"close\" href=\"#matrix\" title=\"close\">×</a><h2>{} <span class=\"{}\">{}</span></h2><dl>",
        esc(&c.id),
        class(Some(c.verdict)),
        c.verdict.as_str()
    );
    let mut row = |k: &str, v: String| {
        let _ = write!(h, "<dt>{}</dt><dd>{v}</dd>", esc(k));
    };
    row("agent", esc(&run.agent));
    row("description", esc(&c.description));
    row("expected", esc(&format_expected(&c.expected)));
    row("observed", esc(&format_observed_full(&c.observed)));
    if let Some(n) = &c.note {
        row("note", esc(n));
    }
    row("duration", format!("{} ms", c.duration_ms));
    if let Some(ab) = run.autobahn.get(&c.id).filter(|v| !v.is_empty()) {
        row("Autobahn ids", esc(&ab.join(", ")));
    }
    row(
        "Autobahn grade",
        format!("behavior {} · behaviorClose {}", esc(behavior), esc(close)),
    );
    h.push_str("</dl>");
    let cmds = repro_commands(&run.report, c);
    let _ = write!(h, "<h3>Repro</h3><pre>{}</pre>", esc(&cmds.join("\n")));
    match &c.wire {
        None => h.push_str("<p>No wire log was recorded for this case.</p>"),
        Some(w) => {
            let d = w.decode();
            let _ = write!(
                h,
                "<h3>Frames</h3><p>{} bytes sent, {} received.</p>",
                d.octets_sent, d.octets_received
            );
            for n in &d.notes {
                let _ = write!(h, "<p class=\"viol\">{}</p>", esc(n));
            }
            h.push_str("<table class=\"wire\"><tr><th>t ms</th><th>dir</th><th>opcode</th><th>flags</th><th>length</th><th>payload</th></tr>");
            for f in d.frames.iter().take(HTML_FRAMES) {
                let (arrow, cls) = match f.dir {
                    Dir::Sent => ("→ sent", "sent"),
                    Dir::Received => ("← recv", "received"),
                };
                let mut payload = String::new();
                if let Some(code) = f.close_code() {
                    let _ = write!(payload, "code {code} ");
                }
                let shown = f.payload.len().min(HTML_PAYLOAD);
                match f.text() {
                    Some(t) => {
                        let cut: String = t.chars().take(HTML_PAYLOAD).collect();
                        let _ = write!(payload, "“{}”", esc(&cut));
                    }
                    None => payload.push_str(&esc(&f.hex()[..2 * shown])),
                }
                if shown as u64 != f.length {
                    let _ = write!(
                        payload,
                        " <i>(first {shown} of {} bytes; the case file has up to {})</i>",
                        f.length,
                        super::exchange::PAYLOAD_SHOWN
                    );
                }
                if let Some(v) = &f.violation {
                    let _ = write!(payload, "<br><span class=\"viol\">{}</span>", esc(v));
                }
                let _ = write!(
                    h,
                    "<tr class=\"{cls}\"><td>{:.1}</td><td>{arrow}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"p\">{payload}</td></tr>",
                    f.at_us as f64 / 1000.0,
                    esc(&f.opcode_name),
                    esc(&f.flags()),
                    f.length
                );
            }
            h.push_str("</table>");
            if d.frames.len() > HTML_FRAMES {
                let _ = write!(
                    h,
                    "<p>… and {} more frames: see the case file.</p>",
                    d.frames.len() - HTML_FRAMES
                );
            }
            let head = |s: &str| esc(&s.replace("\r\n", "\n"));
            let _ = write!(
                h,
                "<details><summary>Upgrade request and response</summary><pre>{}</pre><pre>{}</pre></details>",
                head(&d.http_request),
                head(&d.http_response)
            );
        }
    }
    h.push_str("</section>\n");
}

/// The observation in full (the text report shortens the reason).
fn format_observed_full(o: &Observed) -> String {
    match o {
        Observed::Close { code, reason } => match code {
            Some(c) => format!("close {} {reason:?}", u16::from(*c)),
            None => "close (empty)".into(),
        },
        other => format_observed(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_controls_and_bidi() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(
            esc("a\u{0}b\u{1b}[31m\r\u{7f}\u{85}"),
            "a\\x00b\\x1b[31m\\x0d\\x7f\\x85"
        );
        assert_eq!(esc("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(esc("line\nnext\ttab é"), "line\nnext\ttab é");
    }

    #[test]
    fn peer_text_cannot_escape_its_cell() {
        use crate::report::{ExpectedReport, Mode, Report};
        let evil = "</td></tr><img src=x onerror=alert(1)>\u{0}";
        let case = CaseResult {
            id: "close.evil".into(),
            description: evil.into(),
            expected: ExpectedReport::Codes(vec![1002]),
            observed: Observed::Close {
                code: Some(wschaos_codec::CloseCode::from(1002)),
                reason: evil.into(),
            },
            verdict: Verdict::Pass,
            duration_ms: 1,
            note: Some(evil.into()),
            repro: None,
            wire: None,
        };
        let run = AgentRun {
            agent: evil.into(),
            report: Report::new(Mode::Server, evil.into(), 1, "t".into(), vec![case]),
            autobahn: Default::default(),
        };
        let html = render(&[run]);
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains('\u{0}'));
        assert!(!html.contains("<script"));
        assert_eq!(html.matches("class=\"cell ").count(), 1);
    }
}
