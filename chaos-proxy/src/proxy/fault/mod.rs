//! Faults: the trait every fault implements, the edits a fault returns, and the
//! registry that maps names to implementations. Each fault is one file (the
//! toxiproxy shape): its parameters, how it reads them from a spec, its help
//! line, what it does, and its test. A frame fault makes exactly one violation
//! and says which close codes the receiver then owes. `ADDING.md` beside this
//! file says how to add one.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use wschaos_codec::{CloseCode, FrameHeader};

use crate::catalogue::Expect;

mod spec;
pub use spec::{Dir, DirSel, FaultSpec, SpecError, Trigger};

mod bad_close_code;
mod bandwidth;
mod bitflip_header;
mod flip_mask;
mod fragment_control;
mod inject_extension;
mod invalid_utf8;
mod latency;
mod length_msb;
mod limit_data;
mod non_minimal_length;
mod orphan_continuation;
mod oversize_control;
mod reserved_opcode;
mod reset;
mod set_rsv;
mod slice;
mod slow_close;
mod strip_extensions;
mod timeout;

/// One row of the registry.
pub struct Entry {
    /// The name a `--fault` spec starts with.
    pub name: &'static str,
    /// One line for `--help`: the spec with its keys and defaults, and what it does.
    pub help: &'static str,
    /// Reads the fault's own keys from a spec and builds it.
    pub build: fn(&FaultSpec) -> Result<Box<dyn Fault>, SpecError>,
}

/// Every fault, in the order `--help` lists them. A name is written here only.
/// The longest time any fault key takes (a day, as the command line's time options).
pub const MAX_MS: u64 = 86_400_000;

pub const REGISTRY: &[Entry] = &[
    Entry {
        name: "flip-mask",
        help: flip_mask::HELP,
        build: |s| Ok(Box::new(flip_mask::FlipMask::from_spec(s)?)),
    },
    Entry {
        name: "set-rsv",
        help: set_rsv::HELP,
        build: |s| Ok(Box::new(set_rsv::SetRsv::from_spec(s)?)),
    },
    Entry {
        name: "reserved-opcode",
        help: reserved_opcode::HELP,
        build: |s| Ok(Box::new(reserved_opcode::ReservedOpcode::from_spec(s)?)),
    },
    Entry {
        name: "oversize-control",
        help: oversize_control::HELP,
        build: |s| Ok(Box::new(oversize_control::OversizeControl::from_spec(s)?)),
    },
    Entry {
        name: "fragment-control",
        help: fragment_control::HELP,
        build: |s| Ok(Box::new(fragment_control::FragmentControl::from_spec(s)?)),
    },
    Entry {
        name: "orphan-continuation",
        help: orphan_continuation::HELP,
        build: |s| {
            Ok(Box::new(
                orphan_continuation::OrphanContinuation::from_spec(s)?,
            ))
        },
    },
    Entry {
        name: "bad-close-code",
        help: bad_close_code::HELP,
        build: |s| Ok(Box::new(bad_close_code::BadCloseCode::from_spec(s)?)),
    },
    Entry {
        name: "invalid-utf8",
        help: invalid_utf8::HELP,
        build: |s| Ok(Box::new(invalid_utf8::InvalidUtf8::from_spec(s)?)),
    },
    Entry {
        name: "length-msb",
        help: length_msb::HELP,
        build: |s| Ok(Box::new(length_msb::LengthMsb::from_spec(s)?)),
    },
    Entry {
        name: "non-minimal-length",
        help: non_minimal_length::HELP,
        build: |s| {
            Ok(Box::new(non_minimal_length::NonMinimalLength::from_spec(
                s,
            )?))
        },
    },
    Entry {
        name: "bitflip-header",
        help: bitflip_header::HELP,
        build: |s| Ok(Box::new(bitflip_header::BitflipHeader::from_spec(s)?)),
    },
    Entry {
        name: "strip-extensions",
        help: strip_extensions::HELP,
        build: |s| Ok(Box::new(strip_extensions::StripExtensions::from_spec(s)?)),
    },
    Entry {
        name: "inject-extension",
        help: inject_extension::HELP,
        build: |s| Ok(Box::new(inject_extension::InjectExtension::from_spec(s)?)),
    },
    Entry {
        name: "latency",
        help: latency::HELP,
        build: |s| Ok(Box::new(latency::Latency::from_spec(s)?)),
    },
    Entry {
        name: "slice",
        help: slice::HELP,
        build: |s| Ok(Box::new(slice::Slice::from_spec(s)?)),
    },
    Entry {
        name: "bandwidth",
        help: bandwidth::HELP,
        build: |s| Ok(Box::new(bandwidth::Bandwidth::from_spec(s)?)),
    },
    Entry {
        name: "reset",
        help: reset::HELP,
        build: |s| Ok(Box::new(reset::Reset::from_spec(s)?)),
    },
    Entry {
        name: "timeout",
        help: timeout::HELP,
        build: |s| Ok(Box::new(timeout::Timeout::from_spec(s)?)),
    },
    Entry {
        name: "slow-close",
        help: slow_close::HELP,
        build: |s| Ok(Box::new(slow_close::SlowClose::from_spec(s)?)),
    },
    Entry {
        name: "limit-data",
        help: limit_data::HELP,
        build: |s| Ok(Box::new(limit_data::LimitData::from_spec(s)?)),
    },
];

/// Every fault name the registry knows, in the order `--help` lists them.
pub const NAMES: &[&str] = &names();

const fn names() -> [&'static str; REGISTRY.len()] {
    let mut out = [""; REGISTRY.len()];
    let mut i = 0;
    while i < REGISTRY.len() {
        out[i] = REGISTRY[i].name;
        i += 1;
    }
    out
}

/// The registry row for a fault name.
pub fn lookup(name: &str) -> Option<&'static Entry> {
    REGISTRY.iter().find(|e| e.name == name)
}

/// Builds the fault a spec names.
pub fn build(spec: &FaultSpec) -> Result<Box<dyn Fault>, SpecError> {
    let entry = lookup(&spec.name).ok_or_else(|| SpecError::UnknownFault(spec.name.clone()))?;
    (entry.build)(spec)
}

/// The fault list for `wschaos proxy --help`: the spec syntax, then one line per fault.
pub fn help_text() -> String {
    let mut out = String::from(
        "Faults: NAME[@c2s|s2c|both][:key=value,...]; every fault also takes \
         p=P (probability per frame), nth=N (the Nth frame) and after=D (e.g. 500ms). \
         Defaults in parentheses.\n",
    );
    for e in REGISTRY {
        out.push_str("  ");
        out.push_str(e.help);
        out.push('\n');
    }
    out
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

/// A handshake edit: the new head, and what it obliges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadEdit {
    pub head: Vec<u8>,
    pub what: String,
    /// In the checker's vocabulary, and one of the three a handshake fault can
    /// carry ([`Expect::is_handshake_fault`]): `MandatoryExtension` (a client
    /// that required the extension closes with 1010, one that then receives
    /// compressed frames with 1002; carrying on is legal), `RefuseOpen` (the
    /// client must not open the connection: closing TCP is the pass) or `Info`
    /// (nothing is owed; the reaction is reported).
    pub expect: Expect,
}

/// How one chunk is written, as the transport faults acting on it leave it:
/// delays add up, the smallest slice, rate and limit win, and a drop wins over
/// everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Held this long before it is written.
    pub delay: Duration,
    /// Written in TCP writes of at most this many bytes (each flushed).
    pub slice: usize,
    /// Followed by a pause that keeps the direction at this many kbit/s.
    pub kbps: u64,
    /// Read and not delivered at all.
    pub drop: bool,
    /// The direction delivers at most this many bytes in all while chunks carry
    /// a limit (what passes the limit is not delivered), then the connection
    /// is closed, FIN both ways. `u64::MAX`: no limit.
    pub limit: u64,
}

impl Shape {
    /// Written at once, whole.
    pub const NONE: Shape = Shape {
        delay: Duration::ZERO,
        slice: usize::MAX,
        kbps: u64::MAX,
        drop: false,
        limit: u64::MAX,
    };
}

/// A fault that acts on a direction's TCP stream, not on frames.
pub trait TransportFault {
    /// Shapes the writing of one chunk; `rng` is the direction's seeded stream.
    /// A fault that does not shape chunks (`reset`) leaves `shape` alone.
    fn shape(&self, shape: &mut Shape, rng: &mut ChaCha8Rng);

    /// Whether this fault resets the whole connection (RST both ways) once its
    /// `after` has passed, instead of shaping chunks.
    fn resets(&self) -> bool {
        false
    }

    /// Closes both connections (FIN both ways) this long after its `after` has
    /// passed, on each connection it hits; `None`: never.
    fn closes_after(&self) -> Option<Duration> {
        None
    }

    /// When the sender in its direction ends (EOF), the end is passed on to the
    /// receiver (the FIN) this much later; what was read is delivered as usual.
    fn fin_delay(&self) -> Duration {
        Duration::ZERO
    }

    /// Whether it loses data or ends the connection (drops chunks, sets a limit,
    /// closes). Such a fault acts on a whole connection or not at all (its `p`
    /// is drawn once per connection, not per chunk), it is reported where it
    /// acted even without frames, and nothing is owed (its line is info).
    fn lossy(&self) -> bool {
        false
    }

    /// One line on what it does, for the report.
    fn what(&self) -> String;
}

/// What a fault is, with the behaviour that goes with it. Every fault states
/// its kind, so one that does nothing cannot compile.
pub enum FaultKind<'a> {
    /// Edits one frame of a direction.
    Frame(&'a dyn FrameFault),
    /// Edits the upgrade request (`C2s`) or the 101 response (`S2c`).
    Head(&'a dyn HeadFault),
    /// Acts on a direction's TCP stream, not on frames.
    Transport(&'a dyn TransportFault),
}

/// A fault. Implementations are small and pure: they see one frame or one head
/// and return an edit; when and where they fire is the relay's business.
pub trait Fault: Send + Sync + std::fmt::Debug {
    /// What kind of fault this is: `FaultKind::Frame(self)` for a [`FrameFault`],
    /// `FaultKind::Head(self)` for a [`HeadFault`], `FaultKind::Transport(self)`
    /// for a [`TransportFault`].
    fn kind(&self) -> FaultKind<'_>;

    /// Edits a frame header (and payload) to make exactly one violation, or `None`
    /// when this frame is not one the fault can act on (or it is no frame fault).
    fn edit_frame(&self, ctx: &FrameCtx<'_>, rand: u64) -> Option<FrameEdit> {
        match self.kind() {
            FaultKind::Frame(f) => f.edit(ctx, rand),
            _ => None,
        }
    }

    /// The transport fault this is; `None` for other faults.
    fn transport(&self) -> Option<&dyn TransportFault> {
        match self.kind() {
            FaultKind::Transport(t) => Some(t),
            _ => None,
        }
    }

    /// Edits the upgrade request (`C2s`) or the 101 response (`S2c`); `None`
    /// when the head is not one the fault can act on (or it is no head fault).
    fn edit_head(&self, dir: Dir, head: &[u8]) -> Option<HeadEdit> {
        match self.kind() {
            FaultKind::Head(f) => f.edit(dir, head),
            _ => None,
        }
    }
}

/// A fault that edits frames.
pub trait FrameFault {
    /// Edits a frame header (and payload) to make exactly one violation, or `None`
    /// when this frame is not one the fault can act on. `rand` is seeded.
    fn edit(&self, ctx: &FrameCtx<'_>, rand: u64) -> Option<FrameEdit>;
}

/// A fault that edits the handshake.
pub trait HeadFault {
    /// Edits the upgrade request (`C2s`) or the 101 response (`S2c`), or `None`
    /// when the head is not one the fault can act on.
    fn edit(&self, dir: Dir, head: &[u8]) -> Option<HeadEdit>;
}

/// The frame context the faults' unit tests edit: frame 1 of `dir`, no message
/// open, nothing negotiated.
#[cfg(test)]
pub(crate) fn sample_ctx(dir: Dir, header: &FrameHeader) -> FrameCtx<'_> {
    FrameCtx {
        dir,
        header,
        index: 1,
        in_message: false,
        deflate: false,
    }
}

/// A seeded generator for the transport faults' unit tests.
#[cfg(test)]
pub(crate) fn test_rng() -> ChaCha8Rng {
    rand::SeedableRng::seed_from_u64(7)
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
            "timeout@c2s:ms=0,after=1s",
            "slow-close@s2c:ms=500,p=0.5",
            "limit-data:bytes=1024",
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
            // The extremes of every time key: refused, never an overflow later.
            (
                "latency:ms=18446744073709551615",
                "ms=18446744073709551615 is not a whole number in 0..=86400000",
            ),
            ("latency:jitter=86400001", "jitter=86400001"),
            ("flip-mask:after=18446744073709551615m", "at most a day"),
            ("reset:after=1441m", "at most a day"),
            ("", "expected NAME"),
            ("flip-mask@c2s:p=0.1,p=0.2", "key p given twice"),
            ("set-rsv:bit=1,bit=2", "key bit given twice"),
            ("timeout", "timeout needs ms=N with N in 0..=86400000"),
            (
                "timeout:ms=86400001",
                "ms=86400001 is not a whole number in 0..=86400000",
            ),
            (
                "slow-close:ms=0",
                "ms=0 is not a whole number in 1..=86400000",
            ),
            (
                "limit-data:bytes=0",
                "bytes=0 is not a whole number in 1..=1099511627776",
            ),
            (
                "limit-data:bytes=18446744073709551616",
                "bytes=18446744073709551616 is not a whole number in 1..=",
            ),
        ] {
            let e = FaultSpec::parse(spec).unwrap_err().to_string();
            assert!(e.contains(needle), "{spec}: {e}");
            assert_eq!(e.lines().count(), 1);
        }
    }

    #[test]
    fn the_registry_writes_each_name_once() {
        assert_eq!(NAMES.len(), REGISTRY.len());
        for (i, e) in REGISTRY.iter().enumerate() {
            assert_eq!(NAMES[i], e.name);
            assert!(!NAMES[..i].contains(&e.name), "{} is listed twice", e.name);
            assert!(e.help.starts_with(e.name), "{}: {}", e.name, e.help);
            assert_eq!(e.help.lines().count(), 1, "{}", e.name);
            assert!(help_text().contains(e.help));
            // The bare name builds with the defaults, unless its help says a key is required.
            let bare = FaultSpec::parse(e.name);
            assert_eq!(bare.is_ok(), !e.help.contains("(required)"), "{bare:?}");
        }
    }

    #[test]
    fn head_edits_carry_a_handshake_expectation() {
        let request = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\
                        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                        Sec-WebSocket-Version: 13\r\n\
                        Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
        let response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                         Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
                         Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
        let mut edits = 0;
        for e in REGISTRY {
            let Ok(fault) = FaultSpec::parse(e.name).and_then(|s| build(&s)) else {
                continue;
            };
            for (dir, head) in [(Dir::C2s, &request[..]), (Dir::S2c, &response[..])] {
                if let Some(edit) = fault.edit_head(dir, head) {
                    edits += 1;
                    assert!(edit.expect.is_handshake_fault(), "{}: {edit:?}", e.name);
                }
            }
        }
        assert!(edits >= 4, "only {edits} head edits were made");
    }
}
