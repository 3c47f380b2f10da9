//! JUnit XML for CI dashboards: one suite per run, one test case per wschaos case.
//! Only `fail` is a JUnit failure (and `non-strict` with `--strict`); otherwise
//! `non-strict` and `info` pass, since they do not fail a run either, but say why
//! in `<system-out>`. A partial (interrupted) run has `partial` and `not-run`
//! suite properties.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use super::text::{format_expected, format_observed};
use super::{CaseResult, Report, Verdict};

pub fn render(report: &Report) -> String {
    render_many(&[report])
}

/// One suite per report (per agent of a run of several, named after it).
pub fn render_many(reports: &[&Report]) -> String {
    let mut junit = quick_junit::Report::new("wschaos");
    let mut all = Duration::ZERO;
    for report in reports {
        let (suite, total) = suite(report);
        all += total;
        junit.add_test_suite(suite);
    }
    junit.set_time(all);
    let mut xml = junit
        .to_string()
        .expect("writing XML into memory cannot fail");
    if !xml.ends_with('\n') {
        xml.push('\n');
    }
    xml
}

fn suite(report: &Report) -> (TestSuite, Duration) {
    let mode = report.mode.as_str();
    let name = match &report.agent {
        Some(agent) => format!("wschaos {mode} {agent}"),
        None => format!("wschaos {mode}"),
    };
    let mut suite = TestSuite::new(name);
    suite.add_properties([
        Property::new("seed", report.seed.to_string()),
        Property::new("target", report.target.as_str()),
        Property::new("started", report.started.as_str()),
        Property::new("version", report.version.as_str()),
    ]);
    // An interrupted run lists only the cases that completed; the properties say so
    // (the cases that did not run have no verdict to give a <testcase>).
    if report.partial {
        suite.add_properties([
            Property::new("partial", "true"),
            Property::new("not-run", report.not_run.to_string()),
        ]);
    }
    let mut total = Duration::ZERO;
    for case in &report.cases {
        let time = Duration::from_millis(case.duration_ms);
        total += time;
        suite.add_test_case(test_case(mode, case, time, report.fails(case.verdict)));
    }
    suite.set_time(total);
    (suite, total)
}

fn test_case(mode: &str, case: &CaseResult, time: Duration, fails: bool) -> TestCase {
    let observed = format!("observed {}", format_observed(&case.observed));
    let outcome = format!("expected {}, {observed}", format_expected(&case.expected));
    let status = if fails {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status
            .set_message(outcome.as_str())
            .set_type(case.verdict.as_str())
            .set_description(failure_text(case, &outcome));
        status
    } else {
        TestCaseStatus::success()
    };

    let group = case
        .id
        .split_once('.')
        .map_or(case.id.as_str(), |(group, _)| group);
    let mut test_case = TestCase::new(case.id.as_str(), status);
    test_case
        .set_classname(format!("wschaos.{mode}.{group}"))
        .set_time(time);
    // An info case expects nothing in particular, so only what happened is worth saying.
    let detail = match case.verdict {
        Verdict::Pass | Verdict::Fail => None,
        Verdict::NonStrict => Some(outcome),
        Verdict::Info => Some(observed),
    };
    if let Some(detail) = detail {
        let mut out = format!("{}: ", case.verdict.as_str());
        if let Some(note) = &case.note {
            out.push_str(&format!("{note}\n"));
        }
        out.push_str(&format!("{detail}\n"));
        test_case.set_system_out(out);
    }
    test_case
}

/// The failure's body: what the case tests and how to reproduce it, which the
/// one-line message has no room for.
fn failure_text(case: &CaseResult, outcome: &str) -> String {
    let mut text = format!("{}\n{outcome}\n", case.description);
    if let Some(note) = &case.note {
        text.push_str(&format!("note: {note}\n"));
    }
    if let Some(repro) = &case.repro {
        text.push_str(&format!("repro: {repro}\n"));
    }
    text
}
