//! `slow-close:ms=N`: toxiproxy's slow_close toxic. When the sender in its
//! direction ends (EOF), the end is passed on to the receiver (the FIN, a TCP
//! half-close) N ms later; every byte read before it is delivered as usual.
//! Endpoints must cope, so the connection keeps working.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use super::{Fault, FaultKind, FaultSpec, Shape, SpecError, TransportFault};

pub const HELP: &str = "slow-close:ms=N(required) — when a side ends (EOF), passes its FIN on N ms \
                        later (1 to 86400000); data is delivered as usual; the connection keeps \
                        working";

/// The longest hold: one day (a shutdown cuts it short after its grace).
pub use super::MAX_MS;

#[derive(Debug)]
pub struct SlowClose {
    /// How long the FIN is held, in ms.
    pub ms: u64,
}

impl SlowClose {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.only(&["ms"])?;
        let ms = spec.required("ms", 1..=MAX_MS)?;
        Ok(SlowClose { ms })
    }
}

impl Fault for SlowClose {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Transport(self)
    }
}

impl TransportFault for SlowClose {
    /// Chunks pass untouched: only the end of the stream is held.
    fn shape(&self, _shape: &mut Shape, _rng: &mut ChaCha8Rng) {}

    fn fin_delay(&self) -> Duration {
        Duration::from_millis(self.ms)
    }

    fn what(&self) -> String {
        format!("passed the end of the stream (FIN) on {} ms late", self.ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(spec: &str) -> Result<SlowClose, SpecError> {
        SlowClose::from_spec(&FaultSpec::parse(spec)?)
    }

    #[test]
    fn holds_only_the_fin() {
        let fault = build("slow-close@s2c:ms=300").unwrap();
        let t = fault.transport().unwrap();
        let mut shape = Shape::NONE;
        t.shape(&mut shape, &mut super::super::test_rng());
        assert_eq!(shape, Shape::NONE, "chunks pass untouched");
        assert_eq!(t.fin_delay(), Duration::from_millis(300));
        assert_eq!(t.closes_after(), None);
        assert!(!t.lossy() && !t.resets());
        assert!(t.what().contains("300 ms"));
    }

    #[test]
    fn refuses_out_of_range_values_naming_key_and_range() {
        assert_eq!(build("slow-close:ms=1").unwrap().ms, 1);
        assert_eq!(build("slow-close:ms=86400000").unwrap().ms, MAX_MS);
        for spec in [
            "slow-close:ms=0",
            "slow-close:ms=86400001",
            "slow-close:ms=18446744073709551615",
            "slow-close:ms=99999999999999999999",
            "slow-close:ms=soon",
        ] {
            let e = build(spec).unwrap_err().to_string();
            assert!(
                e.contains("ms=") && e.contains("1..=86400000"),
                "{spec}: {e}"
            );
            assert_eq!(e.lines().count(), 1);
        }
        assert!(
            build("slow-close")
                .unwrap_err()
                .to_string()
                .contains("needs ms=N")
        );
        assert!(build("slow-close:delay=5").is_err());
    }
}
