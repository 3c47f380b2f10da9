//! `latency:ms=N,jitter=N`: holds each chunk in its direction for N ms plus up to
//! `jitter` ms (seeded). A transport fault: traffic must still flow unchanged.

use super::{Fault, FaultKind, FaultSpec, SpecError, Transport};

pub const HELP: &str = "latency:ms=N(100),jitter=N(0) — holds each chunk N ms plus up to jitter ms \
                        (seeded); the connection keeps working";

#[derive(Debug)]
pub struct Latency {
    /// Delay of every chunk, in ms (default 100).
    pub ms: u64,
    /// Up to this many ms more, drawn per chunk (default 0).
    pub jitter: u64,
}

impl Latency {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.only(&["ms", "jitter"])?;
        let ms = spec.param::<u64>("ms")?.unwrap_or(100);
        let jitter = spec.param::<u64>("jitter")?.unwrap_or(0);
        Ok(Latency { ms, jitter })
    }
}

impl Fault for Latency {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Transport(Transport::Latency {
            ms: self.ms,
            jitter: self.jitter,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_100_ms_without_jitter_by_default() {
        let fault = Latency::from_spec(&FaultSpec::parse("latency").unwrap()).unwrap();
        let expected = Transport::Latency { ms: 100, jitter: 0 };
        assert_eq!(fault.transport(), Some(expected));
        assert_eq!(fault.edit_head(super::super::Dir::C2s, b""), None);
    }
}
