//! The `--fault` spec syntax, `NAME[@c2s|s2c|both][:key=value,...]`: the name,
//! the directions, the common trigger keys (`p`, `nth`, `after`), and the
//! fault's own keys, which its file reads with [`FaultSpec::param`].

use std::collections::BTreeMap;
use std::time::Duration;

use super::{NAMES, build, lookup};

/// The direction traffic flows in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    C2s,
    S2c,
}

impl Dir {
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::C2s => "c2s",
            Dir::S2c => "s2c",
        }
    }

    pub fn reverse(self) -> Dir {
        match self {
            Dir::C2s => Dir::S2c,
            Dir::S2c => Dir::C2s,
        }
    }
}

/// Which directions a fault acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirSel {
    One(Dir),
    Both,
}

impl DirSel {
    pub fn matches(self, dir: Dir) -> bool {
        matches!(self, DirSel::Both) || self == DirSel::One(dir)
    }
}

/// When a fault fires, among the frames it applies to. At most one frame fault
/// is injected per direction per connection, so each verdict has one cause.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trigger {
    /// Fire on each applicable frame with this probability (seeded RNG).
    pub p: Option<f64>,
    /// Fire on the Nth frame of the direction (1-based), if the fault applies to it.
    pub nth: Option<u64>,
    /// Only once this much time has passed since the connection opened.
    pub after: Option<Duration>,
}

/// A parsed `--fault` spec.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    pub name: String,
    pub dir: DirSel,
    pub trigger: Trigger,
    /// Fault-specific keys (e.g. `bit` for set-rsv, `code` for bad-close-code).
    pub params: BTreeMap<String, String>,
    /// The spec as the user wrote it, for reports.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("bad fault spec {0:?}: expected NAME[@c2s|s2c|both][:key=value,...]")]
    Syntax(String),
    #[error("unknown fault {0:?} (known: {known})", known = NAMES.join(", "))]
    UnknownFault(String),
    #[error("bad fault spec {spec:?}: {problem}")]
    BadValue { spec: String, problem: String },
}

impl FaultSpec {
    pub fn parse(text: &str) -> Result<FaultSpec, SpecError> {
        let syntax = || SpecError::Syntax(text.to_owned());
        let bad = |problem: String| SpecError::BadValue {
            spec: text.to_owned(),
            problem,
        };
        let (head, rest) = match text.split_once(':') {
            Some((h, r)) => (h, Some(r)),
            None => (text, None),
        };
        let (name, dir) = match head.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (head, None),
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(syntax());
        }
        if lookup(name).is_none() {
            return Err(SpecError::UnknownFault(name.to_owned()));
        }
        let dir = match dir {
            None | Some("both") => DirSel::Both,
            Some("c2s") => DirSel::One(Dir::C2s),
            Some("s2c") => DirSel::One(Dir::S2c),
            Some(other) => return Err(bad(format!("direction {other:?} is not c2s, s2c or both"))),
        };
        let mut trigger = Trigger {
            p: None,
            nth: None,
            after: None,
        };
        let mut params = BTreeMap::new();
        let mut seen: Vec<&str> = Vec::new();
        for kv in rest
            .into_iter()
            .flat_map(|r| r.split(','))
            .filter(|s| !s.is_empty())
        {
            let (k, v) = kv.split_once('=').ok_or_else(syntax)?;
            if seen.contains(&k) {
                return Err(bad(format!("key {k} given twice")));
            }
            seen.push(k);
            match k {
                "p" => {
                    let p: f64 = v
                        .parse()
                        .map_err(|_| bad(format!("p={v} is not a number")))?;
                    if !(0.0..=1.0).contains(&p) {
                        return Err(bad(format!("p={v} is not between 0 and 1")));
                    }
                    trigger.p = Some(p);
                }
                "nth" => {
                    let n: u64 = v
                        .parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| bad(format!("nth={v} is not a positive integer")))?;
                    trigger.nth = Some(n);
                }
                "after" => {
                    trigger.after = Some(parse_duration(v).ok_or_else(|| {
                        bad(format!(
                            "after={v} is not a duration like 500ms, 2s or 5m (at most a day)"
                        ))
                    })?)
                }
                _ => {
                    params.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        let spec = FaultSpec {
            name: name.to_owned(),
            dir,
            trigger,
            params,
            text: text.to_owned(),
        };
        // Building validates the fault's own keys.
        build(&spec)?;
        Ok(spec)
    }

    /// A one-line error about this spec.
    pub(super) fn bad(&self, problem: impl Into<String>) -> SpecError {
        SpecError::BadValue {
            spec: self.text.clone(),
            problem: problem.into(),
        }
    }

    /// The value of a fault-specific key, parsed; `None` when it is not given.
    pub(super) fn param<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, SpecError> {
        match self.params.get(key) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| self.bad(format!("{key}={v} is not valid"))),
        }
    }

    /// A whole-number key that must lie in `range`; `None` when it is not given.
    /// Anything else (not a number, negative, past `u64`, out of range) is a
    /// one-line error naming the key and the range.
    pub(super) fn ranged(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<u64>, SpecError> {
        let Some(v) = self.params.get(key) else {
            return Ok(None);
        };
        v.parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .map(Some)
            .ok_or_else(|| {
                self.bad(format!(
                    "{key}={v} is not a whole number in {}..={}",
                    range.start(),
                    range.end()
                ))
            })
    }

    /// A required [`Self::ranged`] key.
    pub(super) fn required(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, SpecError> {
        self.ranged(key, range.clone())?.ok_or_else(|| {
            self.bad(format!(
                "{} needs {key}=N with N in {}..={}",
                self.name,
                range.start(),
                range.end()
            ))
        })
    }

    /// Only these fault-specific keys are allowed.
    pub(super) fn only(&self, keys: &[&str]) -> Result<(), SpecError> {
        match self.params.keys().find(|k| !keys.contains(&k.as_str())) {
            None => Ok(()),
            Some(k) => Err(self.bad(format!(
                "{} takes no key {k:?} (keys: {})",
                self.name,
                keys.join(", ")
            ))),
        }
    }

    /// The fault takes no keys of its own.
    pub(super) fn no_params(&self) -> Result<(), SpecError> {
        match self.params.keys().next() {
            None => Ok(()),
            Some(k) => Err(self.bad(format!("{} takes no key {k:?}", self.name))),
        }
    }
}

/// `500ms`, `2s` or `1m`.
/// `500ms`, `2s`, `5m`, at most a day ([`super::MAX_MS`]); `None` otherwise.
fn parse_duration(v: &str) -> Option<Duration> {
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        _ => None,
    }?;
    (ms <= super::MAX_MS).then(|| Duration::from_millis(ms))
}
