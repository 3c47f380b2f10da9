//! The report model shared by the checker and the proxy: what each case expected,
//! what the endpoint did, and the verdict, plus the renderers (text, JSON schema
//! version 1, JUnit XML) and the exit code CI reads.

use serde::{Deserialize, Serialize};
use wschaos_codec::CloseCode;

pub mod autobahn_index;
pub mod baseline;
pub mod dir;
pub mod exchange;
pub mod html;
pub mod json;
pub mod jsonl;
pub mod junit;
pub mod text;

/// The JSON schema version written in every report.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Ordered worst first, so sorting puts failures at the top.
    Fail,
    NonStrict,
    Info,
    Pass,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::NonStrict => "non-strict",
            Verdict::Fail => "fail",
            Verdict::Info => "info",
        }
    }
}

/// What the endpoint that received the fault did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Observed {
    /// A Close frame arrived (`code` is absent for an empty Close payload).
    Close {
        #[serde(default, skip_serializing_if = "Option::is_none", with = "close_code")]
        code: Option<CloseCode>,
        reason: String,
    },
    /// FIN or RST with no Close frame.
    TcpClose,
    /// It answered as to valid traffic: echoed data, answered pings.
    Echo,
    /// It carried on in some other way (e.g. echoed only part of what was sent).
    Continued,
    /// Nothing decisive within the timeout.
    Timeout,
    /// The opening handshake was answered with this HTTP status.
    HandshakeRefused { status: u16 },
}

/// A Close frame's payload as received: the code (absent for an empty payload)
/// and the reason, decoded lossily.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClosePayload {
    pub code: Option<CloseCode>,
    pub reason: String,
}

impl ClosePayload {
    /// Reads a Close frame's plaintext payload (a 1-byte payload has no code).
    pub fn parse(payload: &[u8]) -> ClosePayload {
        match payload {
            [hi, lo, reason @ ..] => ClosePayload {
                code: Some(CloseCode::from(u16::from_be_bytes([*hi, *lo]))),
                reason: String::from_utf8_lossy(reason).into_owned(),
            },
            _ => ClosePayload::default(),
        }
    }
}

/// Close codes are numbers on the wire and in every report.
pub mod close_code {
    use serde::{Deserialize, Deserializer, Serializer};
    use wschaos_codec::CloseCode;

    pub fn serialize<S: Serializer>(code: &Option<CloseCode>, s: S) -> Result<S::Ok, S::Error> {
        match code {
            Some(c) => s.serialize_u16(u16::from(*c)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CloseCode>, D::Error> {
        Ok(Option::<u16>::deserialize(d)?.map(CloseCode::from))
    }

    /// For a list of codes.
    pub fn serialize_list<S: Serializer>(codes: &[CloseCode], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(codes.iter().map(|&c| u16::from(c)))
    }
}

/// What a case expected, as written in reports: a list of close codes, or a word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExpectedReport {
    Codes(Vec<u16>),
    /// `echo`, `info`, `tcp-close`, `http-400`, ...
    Word(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseResult {
    pub id: String,
    pub description: String,
    pub expected: ExpectedReport,
    pub observed: Observed,
    pub verdict: Verdict,
    pub duration_ms: u64,
    /// Why the verdict is what it is, when the observation alone does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A file holding the exact bytes sent after the handshake (`wschaos replay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repro: Option<String>,
    /// The bytes both ways, when the case was recorded (for `--report-dir`);
    /// never in the schema-1 JSON.
    #[serde(skip)]
    pub wire: Option<std::sync::Arc<exchange::WireLog>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub pass: usize,
    #[serde(rename = "non-strict")]
    pub non_strict: usize,
    pub fail: usize,
    pub info: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Server,
    Client,
    Proxy,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Server => "server",
            Mode::Client => "client",
            Mode::Proxy => "proxy",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub tool: String,
    pub schema: u32,
    pub version: String,
    pub mode: Mode,
    pub target: String,
    /// The name the endpoint under test goes by in a run of several (Autobahn's
    /// agent); absent in a run of one that gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub seed: u64,
    /// RFC 3339 UTC timestamp.
    pub started: String,
    pub cases: Vec<CaseResult>,
    pub summary: Summary,
    /// The run was interrupted: `cases` holds only the cases that completed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub partial: bool,
    /// How many selected cases did not run (or did not finish) in a partial run.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_run: usize,
    /// `--strict`: non-strict cases fail the run too.
    #[serde(default, skip_serializing_if = "is_false")]
    pub strict: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Report {
    pub fn new(
        mode: Mode,
        target: String,
        seed: u64,
        started: String,
        mut cases: Vec<CaseResult>,
    ) -> Report {
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        let summary = Summary::of(&cases);
        Report {
            tool: "wschaos".to_owned(),
            schema: SCHEMA_VERSION,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            mode,
            target,
            agent: None,
            seed,
            started,
            cases,
            summary,
            partial: false,
            not_run: 0,
            strict: false,
        }
    }

    /// Marks the report as cut short: `not_run` selected cases are missing from it.
    pub fn interrupted(mut self, not_run: usize) -> Report {
        self.partial = true;
        self.not_run = not_run;
        self
    }

    /// Makes non-strict cases fail the run (`--strict`).
    pub fn strict(mut self, strict: bool) -> Report {
        self.strict = strict;
        self
    }

    /// Whether `verdict` fails the run: `fail`, and with `--strict` `non-strict` too.
    pub fn fails(&self, verdict: Verdict) -> bool {
        verdict == Verdict::Fail || (self.strict && verdict == Verdict::NonStrict)
    }

    /// How many cases ran to a verdict (every row of the report, before any filter).
    pub fn cases_run(&self) -> usize {
        let s = self.summary;
        s.pass + s.non_strict + s.fail + s.info
    }

    /// SPEC.md exit status: 1 when any case failed, else 0 (non-strict and info
    /// do not fail a run, unless the run is strict, when non-strict does).
    pub fn exit_code(&self) -> u8 {
        u8::from(self.summary.fail > 0 || (self.strict && self.summary.non_strict > 0))
    }
}

impl Summary {
    pub fn of(cases: &[CaseResult]) -> Summary {
        let mut s = Summary::default();
        for c in cases {
            match c.verdict {
                Verdict::Pass => s.pass += 1,
                Verdict::NonStrict => s.non_strict += 1,
                Verdict::Fail => s.fail += 1,
                Verdict::Info => s.info += 1,
            }
        }
        s
    }
}

/// Current time as RFC 3339 UTC (seconds), without a date-time dependency.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days algorithm).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
