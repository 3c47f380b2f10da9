//! `latency:ms=N,jitter=N`: holds each chunk in its direction for N ms plus up to
//! `jitter` ms (seeded). A transport fault: traffic must still flow unchanged.

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{Fault, FaultKind, FaultSpec, Shape, SpecError, TransportFault};

pub const HELP: &str = "latency:ms=N(100),jitter=N(0) — holds each chunk N ms plus up to jitter ms \
                        (seeded; each at most 86400000); the connection keeps working";

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
        let ms = spec.ranged("ms", 0..=super::MAX_MS)?.unwrap_or(100);
        let jitter = spec.ranged("jitter", 0..=super::MAX_MS)?.unwrap_or(0);
        Ok(Latency { ms, jitter })
    }
}

impl Fault for Latency {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Transport(self)
    }
}

impl TransportFault for Latency {
    fn shape(&self, shape: &mut Shape, rng: &mut ChaCha8Rng) {
        let ms = self.ms.saturating_add(rng.random_range(0..=self.jitter));
        shape.delay = shape.delay.saturating_add(Duration::from_millis(ms));
    }

    fn what(&self) -> String {
        format!(
            "delayed each chunk by {} ms (+ up to {} ms)",
            self.ms, self.jitter
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_100_ms_without_jitter_by_default() {
        let fault = Latency::from_spec(&FaultSpec::parse("latency").unwrap()).unwrap();
        assert_eq!((fault.ms, fault.jitter), (100, 0));
        assert_eq!(fault.edit_head(super::super::Dir::C2s, b""), None);
        let mut shape = Shape::NONE;
        let mut rng = super::super::test_rng();
        fault.transport().unwrap().shape(&mut shape, &mut rng);
        fault.shape(&mut shape, &mut rng);
        assert_eq!(shape.delay, Duration::from_millis(200), "delays add up");
        assert_eq!((shape.slice, shape.kbps), (usize::MAX, u64::MAX));
        let jittery =
            Latency::from_spec(&FaultSpec::parse("latency:ms=5,jitter=10").unwrap()).unwrap();
        for _ in 0..50 {
            let mut shape = Shape::NONE;
            jittery.shape(&mut shape, &mut rng);
            assert!((5..=15).contains(&shape.delay.as_millis()), "{shape:?}");
        }
    }
}
