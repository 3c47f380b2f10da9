//! The three report renderers, checked on one report that holds every verdict and every
//! kind of observation: JSON against `report-schema.json` and its own parser, JUnit as
//! XML a CI reads, and the text table as a person reads it.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use wschaos::report::*;

const SCHEMA: &str = include_str!("../report-schema.json");

/// A peer-chosen reason with an escape sequence, a newline, a quote and more than 40
/// characters: everything the text table must defuse.
const HOSTILE_REASON: &str = "\u{1b}[31mred\nand a reason far longer than forty \"characters\"";

fn case(
    id: &str,
    expected: ExpectedReport,
    observed: Observed,
    verdict: Verdict,
    note: Option<&str>,
) -> CaseResult {
    CaseResult {
        id: id.to_owned(),
        description: format!("what {id} sends"),
        expected,
        observed,
        verdict,
        duration_ms: 1234,
        note: note.map(str::to_owned),
        repro: None,
        wire: None,
    }
}

fn codes(codes: &[u16]) -> ExpectedReport {
    ExpectedReport::Codes(codes.to_vec())
}

fn word(word: &str) -> ExpectedReport {
    ExpectedReport::Word(word.to_owned())
}

fn close(code: Option<u16>, reason: &str) -> Observed {
    Observed::Close {
        code: code.map(wschaos_codec::CloseCode::from),
        reason: reason.to_owned(),
    }
}

/// 3 pass, 2 non-strict, 2 fail, 2 info, given out of order so sorting is exercised.
fn sample() -> Report {
    let mut rsv1 = case(
        "frame.rsv1",
        codes(&[1002]),
        close(Some(1007), HOSTILE_REASON),
        Verdict::Fail,
        Some("closed, but with a code that blames the payload"),
    );
    rsv1.repro = Some("repro/frame.rsv1.bin".to_owned());
    rsv1.duration_ms = 25;
    let long_note = "the endpoint went on reading after the interleaved control frame ".repeat(4);
    let cases = vec![
        case(
            "timing.slowloris",
            word("info"),
            Observed::Timeout,
            Verdict::Info,
            None,
        ),
        case(
            "close.code.reserved",
            codes(&[1002]),
            close(Some(1002), "reserved \"code\""),
            Verdict::Pass,
            None,
        ),
        rsv1,
        case(
            "handshake.version",
            word("http-400"),
            Observed::HandshakeRefused { status: 426 },
            Verdict::NonStrict,
            Some("426 Upgrade Required instead of 400"),
        ),
        case(
            "frame.ping.oversize",
            codes(&[1002]),
            Observed::TcpClose,
            Verdict::NonStrict,
            Some("dropped the connection without a Close frame"),
        ),
        case(
            "utf8.invalid.text",
            codes(&[1007, 1002]),
            close(None, ""),
            Verdict::Fail,
            None,
        ),
        case(
            "data.echo",
            word("echo"),
            Observed::Echo,
            Verdict::Pass,
            None,
        ),
        case(
            "frag.interleave",
            word("info"),
            Observed::Continued,
            Verdict::Info,
            Some(&long_note),
        ),
        case(
            "handshake.no-key",
            word("http-400"),
            Observed::HandshakeRefused { status: 400 },
            Verdict::Pass,
            None,
        ),
    ];
    Report::new(
        Mode::Server,
        "ws://127.0.0.1:9001/echo".to_owned(),
        42,
        "2026-05-01T12:00:00Z".to_owned(),
        cases,
    )
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(SCHEMA).expect("report-schema.json is JSON");
    assert!(
        jsonschema::draft202012::meta::is_valid(&schema),
        "report-schema.json is not a valid draft 2020-12 schema"
    );
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("report-schema.json compiles")
}

fn schema_errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect()
}

fn case_mut<'a>(report: &'a mut Value, id: &str) -> &'a mut Value {
    report["cases"]
        .as_array_mut()
        .expect("cases is an array")
        .iter_mut()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no case {id}"))
}

#[test]
fn sample_covers_every_verdict_and_observation() {
    let report = sample();
    assert_eq!(
        report.summary,
        Summary {
            pass: 3,
            non_strict: 2,
            fail: 2,
            info: 2
        }
    );
    let kinds: BTreeSet<&str> = report
        .cases
        .iter()
        .map(|c| match c.observed {
            Observed::Close { .. } => "close",
            Observed::TcpClose => "tcp-close",
            Observed::Echo => "echo",
            Observed::Continued => "continued",
            Observed::Timeout => "timeout",
            Observed::HandshakeRefused { .. } => "handshake-refused",
        })
        .collect();
    assert_eq!(kinds.len(), 6);
}

#[test]
fn json_round_trips() {
    let report = sample();
    let text = json::render(&report);
    assert!(text.ends_with("}\n"), "pretty JSON with a trailing newline");
    assert!(text.contains("\n  \"tool\": \"wschaos\""), "pretty-printed");
    assert_eq!(json::parse(&text).expect("own output parses"), report);
}

#[test]
fn json_parse_refuses_other_schema_versions_and_verdicts() {
    let mut value: Value = serde_json::from_str(&json::render(&sample())).unwrap();
    value["schema"] = json!(2);
    let err = json::parse(&value.to_string()).expect_err("schema 2 must be refused");
    assert!(err.to_string().contains("schema version 2"), "{err}");

    let mut value: Value = serde_json::from_str(&json::render(&sample())).unwrap();
    case_mut(&mut value, "data.echo")["verdict"] = json!("maybe");
    assert!(json::parse(&value.to_string()).is_err());
}

#[test]
fn json_matches_schema() {
    let validator = validator();
    let value: Value = serde_json::from_str(&json::render(&sample())).unwrap();
    assert_eq!(schema_errors(&validator, &value), Vec::<String>::new());

    let empty = Report::new(
        Mode::Proxy,
        String::new(),
        u64::MAX,
        now_rfc3339(),
        Vec::new(),
    );
    let value: Value = serde_json::from_str(&json::render(&empty)).unwrap();
    assert_eq!(schema_errors(&validator, &value), Vec::<String>::new());
}

#[test]
fn schema_rejects_broken_reports() {
    type Breakage = fn(&mut Value);
    let breakages: [(&str, Breakage); 16] = [
        ("verdict maybe", |r| {
            case_mut(r, "data.echo")["verdict"] = json!("maybe")
        }),
        ("unknown observed kind", |r| {
            case_mut(r, "data.echo")["observed"]["kind"] = json!("exploded")
        }),
        ("close code above u16", |r| {
            case_mut(r, "frame.rsv1")["observed"]["code"] = json!(70000)
        }),
        ("close without reason", |r| {
            let observed = case_mut(r, "frame.rsv1")["observed"]
                .as_object_mut()
                .unwrap();
            observed.remove("reason");
        }),
        ("refusal without status", |r| {
            let observed = case_mut(r, "handshake.no-key")["observed"]
                .as_object_mut()
                .unwrap();
            observed.remove("status");
        }),
        ("reason on tcp-close", |r| {
            case_mut(r, "frame.ping.oversize")["observed"]["reason"] = json!("bye")
        }),
        ("extra key on observed", |r| {
            case_mut(r, "data.echo")["observed"]["bytes"] = json!(3)
        }),
        ("extra key on case", |r| {
            case_mut(r, "data.echo")["surprise"] = json!(true)
        }),
        ("negative expected code", |r| {
            case_mut(r, "utf8.invalid.text")["expected"] = json!([1007, -1])
        }),
        ("missing duration", |r| {
            let case = case_mut(r, "data.echo").as_object_mut().unwrap();
            case.remove("duration_ms");
        }),
        ("negative seed", |r| r["seed"] = json!(-1)),
        ("started not a date-time", |r| {
            r["started"] = json!("yesterday")
        }),
        ("schema 2", |r| r["schema"] = json!(2)),
        ("unknown mode", |r| r["mode"] = json!("both")),
        ("count as a string", |r| r["summary"]["fail"] = json!("2")),
        ("no summary", |r| {
            r.as_object_mut().unwrap().remove("summary");
        }),
    ];
    let validator = validator();
    let good: Value = serde_json::from_str(&json::render(&sample())).unwrap();
    for (what, breakage) in breakages {
        let mut broken = good.clone();
        breakage(&mut broken);
        assert_ne!(broken, good, "{what}: the breakage changed nothing");
        assert!(
            !validator.is_valid(&broken),
            "{what}: the schema accepted a broken report"
        );
    }
}

#[test]
fn junit_has_one_testcase_per_case_and_a_failure_per_fail() {
    let report = sample();
    let xml = junit::render(&report);
    let doc = roxmltree::Document::parse(&xml).expect("JUnit output is well-formed XML");

    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 1);
    let suite = suites[0];
    assert_eq!(suite.attribute("name"), Some("wschaos server"));
    for node in [root, suite] {
        let name = node.tag_name().name();
        assert_eq!(node.attribute("tests"), Some("9"), "{name} tests");
        assert_eq!(node.attribute("failures"), Some("2"), "{name} failures");
        assert_eq!(node.attribute("errors"), Some("0"), "{name} errors");
    }

    let property = |name: &str| {
        suite
            .descendants()
            .find(|n| n.has_tag_name("property") && n.attribute("name") == Some(name))
            .and_then(|n| n.attribute("value"))
    };
    assert_eq!(property("seed"), Some("42"));
    assert_eq!(property("target"), Some("ws://127.0.0.1:9001/echo"));

    let testcases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(testcases.len(), report.cases.len());
    let names: BTreeSet<&str> = testcases
        .iter()
        .filter_map(|t| t.attribute("name"))
        .collect();
    let ids: BTreeSet<&str> = report.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(names, ids);

    for tc in &testcases {
        let id = tc.attribute("name").unwrap();
        let case = report.cases.iter().find(|c| c.id == id).unwrap();
        let group = id.split('.').next().unwrap();
        assert_eq!(
            tc.attribute("classname"),
            Some(format!("wschaos.server.{group}").as_str())
        );
        let seconds: f64 = tc.attribute("time").unwrap().parse().unwrap();
        assert!(
            (seconds * 1000.0 - case.duration_ms as f64).abs() < 1.0,
            "{id} time"
        );

        let failures: Vec<_> = tc
            .children()
            .filter(|n| n.has_tag_name("failure"))
            .collect();
        let system_out = tc
            .children()
            .find(|n| n.has_tag_name("system-out"))
            .and_then(|n| n.text());
        match case.verdict {
            Verdict::Fail => {
                assert_eq!(failures.len(), 1, "{id}");
                let message = failures[0].attribute("message").unwrap();
                let expected = format!("expected {}", text::format_expected(&case.expected));
                assert!(message.contains(&expected), "{id}: {message}");
                let observed = format!("observed {}", text::format_observed(&case.observed));
                assert!(message.contains(&observed), "{id}: {message}");
            }
            Verdict::NonStrict | Verdict::Info => {
                assert!(failures.is_empty(), "{id}");
                let out = system_out.unwrap_or_else(|| panic!("{id} has no system-out"));
                let prefix = format!("{}: ", case.verdict.as_str());
                assert!(out.starts_with(&prefix), "{id}: {out}");
                if let Some(note) = &case.note {
                    assert!(out.contains(note.as_str()), "{id}: {out}");
                }
            }
            Verdict::Pass => {
                assert!(failures.is_empty(), "{id}");
                assert_eq!(system_out, None, "{id}");
            }
        }
    }

    let rsv1 = testcases
        .iter()
        .find(|t| t.attribute("name") == Some("frame.rsv1"))
        .unwrap();
    let body = rsv1
        .children()
        .find(|n| n.has_tag_name("failure"))
        .and_then(|n| n.text())
        .unwrap();
    assert!(body.contains("repro: repro/frame.rsv1.bin"), "{body}");
}

#[test]
fn cells_render_each_expectation_and_observation() {
    assert_eq!(text::format_expected(&codes(&[1002])), "1002");
    assert_eq!(text::format_expected(&codes(&[1007, 1002])), "1007|1002");
    assert_eq!(text::format_expected(&word("echo")), "echo");
    assert_eq!(text::format_expected(&word("http-400")), "http-400");

    let cells = [
        (close(Some(1002), "going"), r#"close 1002 "going""#),
        (close(Some(1000), ""), "close 1000"),
        (close(None, ""), "close (no code)"),
        (Observed::TcpClose, "tcp-close"),
        (Observed::Echo, "echo"),
        (Observed::Continued, "continued"),
        (Observed::Timeout, "timeout"),
        (Observed::HandshakeRefused { status: 426 }, "http 426"),
        (
            close(Some(1007), HOSTILE_REASON),
            r#"close 1007 "\u{1b}[31mred\nand a reason far longer …""#,
        ),
        (
            close(Some(1002), r#"a "b" \ c"#),
            r#"close 1002 "a \"b\" \\ c""#,
        ),
        (
            close(Some(1002), &"é".repeat(40)),
            &format!("close 1002 \"{}\"", "é".repeat(40)),
        ),
    ];
    for (observed, want) in cells {
        assert_eq!(text::format_observed(&observed), want);
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find('\x1b') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('m').expect("SGR sequences end in m");
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn text_lists_worst_first_aligned_and_summed() {
    let report = sample();
    let out = text::render(&report, false);
    assert!(!out.contains('\x1b'), "escape byte without colour:\n{out}");
    assert!(out.ends_with('\n'));

    let lines: Vec<&str> = out.lines().collect();
    let header = lines[0];
    for part in [
        "mode: server",
        "target: ws://127.0.0.1:9001/echo",
        "seed: 42",
    ] {
        assert!(header.contains(part), "{header}");
    }
    assert_eq!(
        *lines.last().unwrap(),
        "summary: 3 pass, 2 non-strict, 2 fail, 2 info (9 cases)"
    );

    let columns = lines[1];
    let col = |name: &str| {
        columns
            .find(name)
            .unwrap_or_else(|| panic!("no {name} column"))
    };
    assert!(columns.starts_with("VERDICT"));
    let (id_at, expected_at, observed_at, note_at) =
        (col("ID"), col("EXPECTED"), col("OBSERVED"), col("NOTE"));

    let rows = &lines[2..lines.len() - 1];
    assert_eq!(rows.len(), report.cases.len());
    let mut shown = Vec::new();
    for row in rows {
        assert!(row.chars().count() <= 140, "row wider than 140: {row}");
        let chars: Vec<char> = row.chars().collect();
        let cell = |at: usize| -> String {
            chars[at..]
                .iter()
                .collect::<String>()
                .split("  ")
                .next()
                .unwrap()
                .to_owned()
        };
        let id = cell(id_at);
        let case = report
            .cases
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no case {id:?} at the ID column: {row}"));
        assert_eq!(cell(0), case.verdict.as_str(), "{row}");
        assert_eq!(
            cell(expected_at),
            text::format_expected(&case.expected),
            "{row}"
        );
        assert_eq!(
            cell(observed_at),
            text::format_observed(&case.observed),
            "{row}"
        );
        match &case.note {
            Some(note) if note.chars().count() <= 140 - note_at => {
                assert_eq!(chars[note_at..].iter().collect::<String>(), *note, "{row}");
            }
            Some(_) => assert!(row.ends_with('…'), "long note not shortened: {row}"),
            None => assert!(chars.len() < note_at, "note column not empty: {row}"),
        }
        shown.push((case.verdict, id));
    }
    let mut sorted = shown.clone();
    sorted.sort();
    assert_eq!(shown, sorted, "rows not worst first, then by id");
    assert_eq!(shown[0].0, Verdict::Fail);
    assert_eq!(shown.last().unwrap().0, Verdict::Pass);
}

#[test]
fn text_colours_verdicts_only_when_asked() {
    let report = sample();
    let plain = text::render(&report, false);
    let coloured = text::render(&report, true);
    assert!(coloured.contains("\x1b["));
    assert!(coloured.contains("\x1b[1;31mfail\x1b[0m"));
    assert!(coloured.contains("\x1b[32mpass\x1b[0m"));
    assert_eq!(strip_ansi(&coloured), plain, "colour must not move columns");
}

#[test]
fn text_summary_counts_a_single_case() {
    let report = Report::new(
        Mode::Client,
        "ws://127.0.0.1:1".to_owned(),
        0,
        now_rfc3339(),
        vec![case("a", word("echo"), Observed::Echo, Verdict::Pass, None)],
    );
    let out = text::render(&report, false);
    assert!(out.ends_with("summary: 1 pass, 0 non-strict, 0 fail, 0 info (1 case)\n"));
}
