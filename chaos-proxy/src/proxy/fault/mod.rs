//! Faults: the trait every fault implements, the `--fault` spec syntax
//! (`NAME[@DIRECTION][:key=value,...]`), and the registry that maps names to
//! implementations, one file each (the toxiproxy shape). A frame fault makes
//! exactly one violation and says which close codes the receiver then owes.

use std::collections::BTreeMap;
use std::time::Duration;

use wschaos_codec::{CloseCode, FrameHeader};

mod bad_close_code;
mod bandwidth;
mod bitflip_header;
mod flip_mask;
mod fragment_control;
mod inject_extension;
mod invalid_utf8;
mod latency;
mod length_msb;
mod non_minimal_length;
mod orphan_continuation;
mod oversize_control;
mod reserved_opcode;
mod reset;
mod set_rsv;
mod slice;
mod strip_extensions;

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

/// Every fault name the registry knows, in the order `--help` lists them.
pub const NAMES: &[&str] = &[
    "flip-mask",
    "set-rsv",
    "reserved-opcode",
    "oversize-control",
    "fragment-control",
    "orphan-continuation",
    "bad-close-code",
    "invalid-utf8",
    "length-msb",
    "non-minimal-length",
    "bitflip-header",
    "strip-extensions",
    "inject-extension",
    "latency",
    "slice",
    "bandwidth",
    "reset",
];

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
        if !NAMES.contains(&name) {
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
        for kv in rest
            .into_iter()
            .flat_map(|r| r.split(','))
            .filter(|s| !s.is_empty())
        {
            let (k, v) = kv.split_once('=').ok_or_else(syntax)?;
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
                        bad(format!("after={v} is not a duration like 500ms or 2s"))
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

    fn param<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, SpecError> {
        match self.params.get(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| SpecError::BadValue {
                spec: self.text.clone(),
                problem: format!("{key}={v} is not valid"),
            }),
        }
    }

    /// Only these fault-specific keys are allowed.
    fn only(&self, keys: &[&str]) -> Result<(), SpecError> {
        match self.params.keys().find(|k| !keys.contains(&k.as_str())) {
            None => Ok(()),
            Some(k) => Err(SpecError::BadValue {
                spec: self.text.clone(),
                problem: format!(
                    "{} takes no key {k:?} (keys: {})",
                    self.name,
                    keys.join(", ")
                ),
            }),
        }
    }

    fn no_params(&self) -> Result<(), SpecError> {
        match self.params.keys().next() {
            None => Ok(()),
            Some(k) => Err(SpecError::BadValue {
                spec: self.text.clone(),
                problem: format!("{} takes no key {k:?}", self.name),
            }),
        }
    }
}

fn parse_duration(v: &str) -> Option<Duration> {
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        _ => None,
    }
}

/// What a frame fault sees of the frame about to be forwarded.
#[derive(Debug, Clone, Copy)]
pub struct FrameCtx<'a> {
    pub dir: Dir,
    pub header: &'a FrameHeader,
    /// 1-based index of the frame in its direction.
    pub index: u64,
    /// A fragmented data message is open in this direction.
    pub in_message: bool,
    /// permessage-deflate was negotiated.
    pub deflate: bool,
}

/// How the payload of an edited frame changes on its way through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadEdit {
    Keep,
    /// Remove the masking (the header's key is gone): forward plaintext.
    Unmask {
        key: [u8; 4],
    },
    /// Mask with a key the sender never used.
    Mask {
        key: [u8; 4],
    },
    /// Replace plaintext bytes from `offset` (mask-aware).
    Set {
        offset: u64,
        bytes: Vec<u8>,
    },
    /// Append plaintext bytes after the payload (the header's length includes
    /// them), masked with the frame's key if it has one.
    Append(Vec<u8>),
}

/// One frame fault's edit, and what it obliges the receiver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameEdit {
    pub header: FrameHeader,
    pub payload: PayloadEdit,
    /// Close codes the receiver may answer with; empty means the RFC leaves the
    /// reaction open (reported as info).
    pub expected: Vec<CloseCode>,
    /// One line on what was done, for the report.
    pub what: String,
}

/// What a handshake edit obliges the client to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadExpect {
    /// A client that required the extension closes with 1010, and one that then
    /// receives compressed frames with 1002; carrying on is legal (info).
    MandatoryExtension,
    /// The client must not open the connection: closing TCP is the pass.
    RefuseOpen,
    /// Nothing is owed; the reaction is reported.
    Info,
}

/// A handshake edit: the new head, and what it obliges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadEdit {
    pub head: Vec<u8>,
    pub what: String,
    pub expect: HeadExpect,
}

/// What a transport fault does to a direction's byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Latency { ms: u64, jitter: u64 },
    Slice { max: usize },
    Bandwidth { kbps: u64 },
    Reset,
}

/// A fault. Implementations are small and pure: they see one frame or one head
/// and return an edit; when and where they fire is the relay's business.
pub trait Fault: Send + Sync + std::fmt::Debug {
    /// Edits a frame header (and payload) to make exactly one violation, or `None`
    /// when this frame is not one the fault can act on.
    fn edit_frame(&self, _ctx: &FrameCtx<'_>, _rand: u64) -> Option<FrameEdit> {
        None
    }

    /// A transport fault acts on the TCP stream, not on frames.
    fn transport(&self) -> Option<Transport> {
        None
    }

    /// Edits the upgrade request (`C2s`) or the 101 response (`S2c`).
    fn edit_head(&self, _dir: Dir, _head: &[u8]) -> Option<HeadEdit> {
        None
    }
}

/// Builds the fault a spec names (the registry).
pub fn build(spec: &FaultSpec) -> Result<Box<dyn Fault>, SpecError> {
    Ok(match spec.name.as_str() {
        "flip-mask" => {
            spec.no_params()?;
            Box::new(flip_mask::FlipMask)
        }
        "set-rsv" => {
            let bit = spec.param::<u8>("bit")?.unwrap_or(1);
            if !(1..=3).contains(&bit) {
                return Err(SpecError::BadValue {
                    spec: spec.text.clone(),
                    problem: format!("bit={bit} is not 1, 2 or 3"),
                });
            }
            Box::new(set_rsv::SetRsv { bit })
        }
        "reserved-opcode" => {
            spec.no_params()?;
            Box::new(reserved_opcode::ReservedOpcode)
        }
        "fragment-control" => {
            spec.no_params()?;
            Box::new(fragment_control::FragmentControl)
        }
        "bad-close-code" => {
            let code = spec.param::<u16>("code")?.unwrap_or(1005);
            if CloseCode::from(code).is_valid_on_wire() {
                return Err(SpecError::BadValue {
                    spec: spec.text.clone(),
                    problem: format!("code={code} is a valid close code"),
                });
            }
            Box::new(bad_close_code::BadCloseCode { code })
        }
        "non-minimal-length" => {
            spec.no_params()?;
            Box::new(non_minimal_length::NonMinimalLength)
        }
        "strip-extensions" => {
            spec.no_params()?;
            Box::new(strip_extensions::StripExtensions)
        }
        "oversize-control" => {
            spec.no_params()?;
            Box::new(oversize_control::OversizeControl)
        }
        "orphan-continuation" => {
            spec.no_params()?;
            Box::new(orphan_continuation::OrphanContinuation)
        }
        "invalid-utf8" => {
            spec.no_params()?;
            Box::new(invalid_utf8::InvalidUtf8)
        }
        "length-msb" => {
            spec.no_params()?;
            Box::new(length_msb::LengthMsb)
        }
        "bitflip-header" => {
            spec.no_params()?;
            Box::new(bitflip_header::BitflipHeader)
        }
        "inject-extension" => {
            spec.no_params()?;
            Box::new(inject_extension::InjectExtension)
        }
        "latency" => {
            spec.only(&["ms", "jitter"])?;
            let ms = spec.param::<u64>("ms")?.unwrap_or(100);
            let jitter = spec.param::<u64>("jitter")?.unwrap_or(0);
            Box::new(latency::Latency { ms, jitter })
        }
        "slice" => {
            spec.only(&["max"])?;
            let max = spec.param::<usize>("max")?.unwrap_or(1);
            if max == 0 {
                return Err(SpecError::BadValue {
                    spec: spec.text.clone(),
                    problem: "max=0: slices need at least one byte".into(),
                });
            }
            Box::new(slice::Slice { max })
        }
        "bandwidth" => {
            spec.only(&["kbps"])?;
            let kbps = spec
                .param::<u64>("kbps")?
                .filter(|&k| k > 0)
                .ok_or_else(|| SpecError::BadValue {
                    spec: spec.text.clone(),
                    problem: "bandwidth needs kbps=N with N > 0".into(),
                })?;
            Box::new(bandwidth::Bandwidth { kbps })
        }
        "reset" => {
            spec.no_params()?;
            Box::new(reset::Reset)
        }
        other => return Err(SpecError::UnknownFault(other.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let s = FaultSpec::parse("set-rsv@c2s:bit=2,p=0.5").unwrap();
        assert_eq!(s.dir, DirSel::One(Dir::C2s));
        assert_eq!(s.trigger.p, Some(0.5));
        assert_eq!(s.params["bit"], "2");
        let s = FaultSpec::parse("flip-mask:nth=3,after=250ms").unwrap();
        assert_eq!(s.dir, DirSel::Both);
        assert_eq!(s.trigger.nth, Some(3));
        assert_eq!(s.trigger.after, Some(Duration::from_millis(250)));
        assert!(FaultSpec::parse("strip-extensions@s2c").is_ok());
        for ok in [
            "latency:ms=10,jitter=2",
            "slice:max=1",
            "bandwidth@s2c:kbps=64",
            "reset:after=2s,p=0.5",
        ] {
            assert!(FaultSpec::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_specs_with_one_line_errors() {
        for (spec, needle) in [
            ("nope", "unknown fault"),
            ("flip-mask@up", "direction"),
            ("flip-mask:p=2", "between 0 and 1"),
            ("flip-mask:nth=0", "positive integer"),
            ("flip-mask:after=soon", "duration"),
            ("flip-mask:bit=1", "takes no key"),
            ("set-rsv:bit=4", "bit=4"),
            ("bad-close-code:code=1000", "valid close code"),
            ("flip-mask:p", "expected NAME"),
            ("slice:max=0", "max=0"),
            ("bandwidth", "kbps"),
            ("latency:delay=5", "keys: ms, jitter"),
            ("latency:ms=soon", "ms=soon"),
            ("", "expected NAME"),
        ] {
            let e = FaultSpec::parse(spec).unwrap_err().to_string();
            assert!(e.contains(needle), "{spec}: {e}");
            assert_eq!(e.lines().count(), 1);
        }
    }
}
