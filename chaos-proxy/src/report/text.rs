//! Plain-text report for people at a terminal: a header naming the run, one aligned
//! row per case with the worst verdicts first, and a one-line summary at the end.

use std::io::IsTerminal;

use super::{CaseResult, ExpectedReport, Observed, Report, Verdict};

/// Rows are kept to this many columns by shortening the note, the only free-form cell.
const LINE_WIDTH: usize = 140;
/// Close reasons come from the peer and run to 123 bytes; the table cannot spare that.
const REASON_WIDTH: usize = 40;
/// Below this a note says nothing useful, so a row with wide cells runs long instead.
const MIN_NOTE_WIDTH: usize = 24;
const GAP: usize = 2;
const HEADERS: [&str; 4] = ["VERDICT", "ID", "EXPECTED", "OBSERVED"];

pub fn render(report: &Report, color: bool) -> String {
    let mut cases: Vec<&CaseResult> = report.cases.iter().collect();
    cases.sort_by(|a, b| (a.verdict, &a.id).cmp(&(b.verdict, &b.id)));
    let rows: Vec<[String; 4]> = cases
        .iter()
        .map(|c| {
            [
                c.verdict.as_str().to_owned(),
                escape(&c.id),
                format_expected(&c.expected),
                format_observed(&c.observed),
            ]
        })
        .collect();

    let mut widths = HEADERS.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let used: usize = widths.iter().map(|w| w + GAP).sum();
    let note_width = LINE_WIDTH.saturating_sub(used).max(MIN_NOTE_WIDTH);

    let mut out = format!(
        "wschaos {}  mode: {}  target: {}  seed: {}  started: {}\n",
        escape(&report.version),
        report.mode.as_str(),
        escape(&report.target),
        report.seed,
        escape(&report.started),
    );
    out.push_str(&line(
        HEADERS.map(|h| (h.to_owned(), h.len())),
        &widths,
        "NOTE",
    ));
    for (case, row) in cases.iter().zip(rows) {
        let mut cells = row.map(|cell| {
            let w = width(&cell);
            (cell, w)
        });
        // Painted after measuring: colour codes take no columns.
        cells[0].0 = paint(case.verdict, color);
        let note = case
            .note
            .as_deref()
            .map_or_else(String::new, |n| clip_words(n, note_width));
        out.push_str(&line(cells, &widths, &note));
    }
    out.push_str(&summary_line(report, color));
    out
}

/// Colour for a person at a terminal only, and never when NO_COLOR asks for none
/// (set and non-empty, as no-color.org defines it).
pub fn use_color_for_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `1002`, `1007|1002`, or the word (`echo`, `info`, `http-400`, ...).
pub fn format_expected(expected: &ExpectedReport) -> String {
    match expected {
        ExpectedReport::Codes(codes) => codes
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join("|"),
        ExpectedReport::Word(word) => escape(word),
    }
}

/// `close 1002 "reason"`, `close (no code)`, `tcp-close`, `http 426`, ...; the peer's
/// reason is shortened and escaped so it cannot break the table or the terminal.
pub fn format_observed(observed: &Observed) -> String {
    match observed {
        Observed::Close { code, reason } => {
            let mut s = match code {
                Some(code) => format!("close {code}"),
                None => "close (no code)".to_owned(),
            };
            if !reason.is_empty() {
                s.push_str(&format!(" \"{}\"", clip(reason, REASON_WIDTH, true)));
            }
            s
        }
        Observed::TcpClose => "tcp-close".to_owned(),
        Observed::Echo => "echo".to_owned(),
        Observed::Continued => "continued".to_owned(),
        Observed::Timeout => "timeout".to_owned(),
        Observed::HandshakeRefused { status } => format!("http {status}"),
    }
}

fn line(cells: [(String, usize); 4], widths: &[usize; 4], note: &str) -> String {
    let mut line = String::new();
    for ((shown, plain_width), w) in cells.iter().zip(widths) {
        line.push_str(shown);
        line.push_str(&" ".repeat(w - plain_width + GAP));
    }
    line.push_str(note);
    line.truncate(line.trim_end().len());
    line.push('\n');
    line
}

fn summary_line(report: &Report, color: bool) -> String {
    let s = &report.summary;
    let counts = [
        (Verdict::Pass, s.pass),
        (Verdict::NonStrict, s.non_strict),
        (Verdict::Fail, s.fail),
        (Verdict::Info, s.info),
    ]
    .map(|(verdict, n)| format!("{n} {}", paint(verdict, color && n > 0)));
    // Every case that ran, also when the rows shown were filtered (the demo).
    let total = report.cases_run();
    let noun = if total == 1 { "case" } else { "cases" };
    let mut out = format!("summary: {} ({total} {noun})\n", counts.join(", "));
    if report.strict {
        out.push_str("strict: non-strict cases fail the run\n");
    }
    if report.partial {
        out.push_str(&format!(
            "partial report: the run was interrupted; {} selected cases did not run or finish\n",
            report.not_run
        ));
    }
    out
}

fn paint(verdict: Verdict, color: bool) -> String {
    let word = verdict.as_str();
    if !color {
        return word.to_owned();
    }
    let sgr = match verdict {
        Verdict::Fail => "1;31",
        Verdict::NonStrict => "33",
        Verdict::Info => "36",
        Verdict::Pass => "32",
    };
    format!("\x1b[{sgr}m{word}\x1b[0m")
}

/// Columns are counted in chars, which is what `format!` padding counts too.
fn width(s: &str) -> usize {
    s.chars().count()
}

pub fn escape(s: &str) -> String {
    clip(s, usize::MAX, false)
}

/// Like [`clip`], but a cut falls between words (at the last space that fits), so
/// no word in the NOTE column is left half-written.
fn clip_words(s: &str, max: usize) -> String {
    let full = clip(s, usize::MAX, false);
    if width(&full) <= max {
        return full;
    }
    let cut = clip(s, max, false);
    let kept = cut.trim_end_matches('…');
    let next = full[kept.len()..].chars().next();
    let boundary = match kept.rfind(' ') {
        _ if next == Some(' ') => kept.trim_end(),
        Some(i) if i > 0 => kept[..i].trim_end(),
        // One long word: cutting it is the only way to fit.
        _ => kept,
    };
    format!("{boundary}…")
}

/// Escapes control and other non-printable characters (as Rust's `escape_debug` does),
/// plus `"` and `\` when the result goes between quotes, and shortens the escaped text
/// to `max` columns, ending it with `…` when something was cut.
fn clip(s: &str, max: usize, quoted: bool) -> String {
    let mut out = String::new();
    let mut used = 0;
    let mut unit = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        unit.clear();
        match c {
            '"' | '\\' if quoted => unit.extend(c.escape_default()),
            '"' | '\\' | '\'' => unit.push(c),
            _ => unit.extend(c.escape_debug()),
        }
        let unit_width = width(&unit);
        // Keep a column for the ellipsis unless this is the last character.
        let room = if chars.peek().is_some() {
            max.saturating_sub(1)
        } else {
            max
        };
        if used + unit_width > room {
            out.push('…');
            break;
        }
        out.push_str(&unit);
        used += unit_width;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_cut_between_words() {
        let note = "closed with 1000 on a violation, which says the data was fine";
        let cut = clip_words(note, 24);
        assert_eq!(cut, "closed with 1000 on a…");
        assert!(width(&cut) <= 24);
        assert_eq!(clip_words("short", 24), "short");
        assert_eq!(clip_words("abcdefghijklmnopqrstuvwxyz", 10), "abcdefghi…");
    }

    #[test]
    fn summary_counts_every_case_run_and_says_when_partial() {
        use crate::report::{CaseResult, ExpectedReport, Mode, Observed};
        let case = |id: &str, verdict| CaseResult {
            id: id.to_owned(),
            description: String::new(),
            expected: ExpectedReport::Word("echo".into()),
            observed: Observed::Echo,
            verdict,
            duration_ms: 0,
            note: None,
            repro: None,
            wire: None,
        };
        let report = Report::new(
            Mode::Server,
            "ws://x/".into(),
            1,
            "t".into(),
            vec![case("a", Verdict::Pass), case("b", Verdict::Fail)],
        );
        let mut shown = report.clone();
        shown.cases.retain(|c| c.verdict == Verdict::Fail);
        assert!(render(&shown, false).contains("(2 cases)"));
        let partial = report.interrupted(3);
        let text = render(&partial, false);
        assert!(
            text.contains("partial report") && text.contains("3 selected cases"),
            "{text}"
        );
    }
}
