//! The paths of Autobahn|Testsuite's fuzzingserver, so that the client harnesses
//! libraries already have drive `check-client` unchanged: `/getCaseCount`,
//! `/runCase?case=N&agent=A` (or `casetuple=ID`), `/getCaseInfo?case=N`,
//! `/getCaseStatus?case=N&agent=A` and `/updateReports?agent=A`. Case `N` is the
//! Nth of this run's numbered cases (1-based, catalogue order): every case that
//! follows a valid handshake. The cases that break the handshake itself are not
//! numbered: Autobahn has none, and a harness that (rightly) refuses such a 101
//! raises and never reaches `/updateReports`; they run through `/case/<id>`.
//! `casetuple` takes one of our case ids or an Autobahn id (the first of our
//! cases that covers it). Only `/runCase` (and our own `/case/<id>` and bare
//! paths) uses up a case.

use crate::catalogue::Case;
use crate::report::CaseResult;

/// What a request asks of check-client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /cases`: the case ids as JSON.
    Cases,
    /// `/getCaseCount`: how many cases this run has.
    CaseCount,
    /// `/getCaseInfo?case=N`: the case's id and description.
    CaseInfo(usize),
    /// `/getCaseStatus?case=N&agent=A`: that agent's verdict, once there is one.
    CaseStatus { index: usize, agent: Option<String> },
    /// `/updateReports?agent=A` (`shutdownOnComplete=true` or not): the harness
    /// of that agent (of every agent, when none is named) is done with its run.
    UpdateReports { agent: Option<String> },
    /// Run a case: `Some(index)`, or the next one not yet served.
    Run {
        index: Option<usize>,
        agent: Option<String>,
    },
    /// Answered with this HTTP status and text, using up nothing.
    Refuse(u16, String),
}

/// Whether a case is in Autobahn's numbering (see the module doc): a valid
/// handshake, plain or with permessage-deflate answered as the case's profile
/// says (Autobahn numbers its compression cases too; a harness that offers no
/// compression gets them as `info`, "extension not negotiated").
pub fn numbered(case: &Case) -> bool {
    use crate::catalogue::Setup;
    matches!(case.setup, Setup::Plain | Setup::Deflate(_))
}

/// Maps a request path to a route, against the run's `cases`; `numbered` holds
/// the indices of the numbered ones. Indices in the route are into `cases`.
pub fn route(path: &str, cases: &[Case], numbered: &[usize]) -> Route {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| percent_decode(v))
    };
    let number = |what: &str| -> Result<usize, Route> {
        let Some(n) = param("case") else {
            return Err(Route::Refuse(
                400,
                format!("{what} needs case=N (1 to {})\n", numbered.len()),
            ));
        };
        match n.parse::<usize>() {
            Ok(n) if (1..=numbered.len()).contains(&n) => Ok(numbered[n - 1]),
            _ => Err(Route::Refuse(
                404,
                format!(
                    "no case {n:?}: this run has cases 1 to {}\n",
                    numbered.len()
                ),
            )),
        }
    };
    match path {
        "/cases" => Route::Cases,
        "/getCaseCount" => Route::CaseCount,
        "/getCaseInfo" => number("/getCaseInfo").map_or_else(|r| r, Route::CaseInfo),
        "/getCaseStatus" => number("/getCaseStatus").map_or_else(
            |r| r,
            |index| Route::CaseStatus {
                index,
                agent: param("agent"),
            },
        ),
        "/updateReports" => Route::UpdateReports {
            agent: param("agent"),
        },
        "/runCase" => {
            let agent = param("agent");
            if let Some(t) = param("casetuple") {
                return match by_tuple(&t, cases) {
                    Some(i) => Route::Run {
                        index: Some(i),
                        agent,
                    },
                    None => Route::Refuse(
                        404,
                        format!("no case {t:?} in this run (GET /cases lists them)\n"),
                    ),
                };
            }
            match number("/runCase") {
                Ok(i) => Route::Run {
                    index: Some(i),
                    agent,
                },
                Err(r) => r,
            }
        }
        _ => match path.strip_prefix("/case/") {
            Some(id) => {
                let id = percent_decode(id);
                match cases.iter().position(|c| c.id == id) {
                    Some(i) => Route::Run {
                        index: Some(i),
                        agent: None,
                    },
                    None => Route::Refuse(
                        404,
                        format!("no case {id:?} in this run (GET /cases lists them)\n"),
                    ),
                }
            }
            None => Route::Run {
                index: None,
                agent: None,
            },
        },
    }
}

/// A `casetuple`: one of our ids, else the first case covering that Autobahn id.
fn by_tuple(t: &str, cases: &[Case]) -> Option<usize> {
    cases
        .iter()
        .position(|c| c.id == t)
        .or_else(|| cases.iter().position(|c| c.autobahn.iter().any(|a| a == t)))
}

/// The JSON text frame `/getCaseInfo` answers with.
pub fn case_info(case: &Case) -> String {
    serde_json::json!({"id": case.id, "description": case.description}).to_string()
}

/// The JSON text frame `/getCaseStatus` answers with: the behavior index.json
/// gives the case (see `report::autobahn_index` for the mapping).
pub fn case_status(result: &CaseResult) -> String {
    let (behavior, _) = crate::report::autobahn_index::behaviors(result);
    serde_json::json!({"behavior": behavior}).to_string()
}

/// Case ids hold `+`, which clients may send percent-encoded (`%2B`).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|&c| hex(c)),
            b.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{Side, catalogue, select};

    fn cases() -> Vec<Case> {
        select(
            catalogue(Side::Client, 1),
            &[
                "ok.text".to_owned(),
                "ok.text-65536+chop997".to_owned(),
                "rsv.rsv1+chop1".to_owned(),
                "handshake.bad-accept".to_owned(),
            ],
        )
    }

    fn route(path: &str, cases: &[Case]) -> Route {
        let numbered: Vec<usize> = (0..cases.len()).filter(|&i| numbered(&cases[i])).collect();
        super::route(path, cases, &numbered)
    }

    #[test]
    fn autobahn_paths_map_to_routes() {
        let c = cases();
        assert_eq!(c.len(), 4);
        assert_eq!(
            route("/runCase?casetuple=handshake.bad-accept&agent=x", &c),
            Route::Run {
                index: Some(3),
                agent: Some("x".into())
            },
            "not numbered, but reachable by id"
        );
        assert_eq!(route("/getCaseCount", &c), Route::CaseCount);
        assert_eq!(route("/getCaseInfo?case=2", &c), Route::CaseInfo(1));
        assert_eq!(
            route("/getCaseStatus?case=3&agent=x", &c),
            Route::CaseStatus {
                index: 2,
                agent: Some("x".into())
            }
        );
        let run = |i, a: &str| Route::Run {
            index: Some(i),
            agent: Some(a.to_owned()),
        };
        assert_eq!(
            route("/runCase?case=1&agent=websockets", &c),
            run(0, "websockets")
        );
        assert_eq!(route("/runCase?agent=a%20b&case=3", &c), run(2, "a b"));
        assert_eq!(
            route("/runCase?casetuple=rsv.rsv1%2Bchop1&agent=x", &c),
            run(2, "x")
        );
        assert_eq!(route("/runCase?casetuple=1.1.8&agent=x", &c), run(1, "x"));
        assert_eq!(
            route("/updateReports?agent=x&shutdownOnComplete=true", &c),
            Route::UpdateReports {
                agent: Some("x".into())
            }
        );
        assert_eq!(
            route("/case/rsv.rsv1+chop1", &c),
            Route::Run {
                index: Some(2),
                agent: None
            }
        );
        assert_eq!(
            route("/anything", &c),
            Route::Run {
                index: None,
                agent: None
            }
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("rsv.rsv1%2Bchop1"), "rsv.rsv1+chop1");
        assert_eq!(percent_decode("a%2b%zz%"), "a+%zz%");
    }

    #[test]
    fn bad_numbers_are_refused_without_using_a_case() {
        let c = cases();
        for path in [
            "/runCase?case=0&agent=x",
            "/runCase?case=4&agent=x",
            "/runCase?case=x&agent=x",
            "/runCase?agent=x",
            "/getCaseInfo",
            "/getCaseInfo?case=99",
            "/runCase?casetuple=9.9.9&agent=x",
            "/case/nope",
        ] {
            assert!(
                matches!(route(path, &c), Route::Refuse(400 | 404, _)),
                "{path}"
            );
        }
    }
}
