//! `timeout:ms=N`: toxiproxy's timeout toxic. Once it applies (from its `after`,
//! on each connection its `p` picks), every byte read in its direction is
//! dropped instead of delivered, and N ms later both connections are closed,
//! FIN both ways. With `ms=0` it never closes: data is only dropped while the
//! fault is active. Nothing is owed: the report line is info.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use super::{Fault, FaultKind, FaultSpec, Shape, SpecError, TransportFault};

pub const HELP: &str = "timeout:ms=N(required) — drops every byte in its direction once it \
                        applies and closes both connections (FIN) N ms later (0: never closes, \
                        only drops; at most 86400000); nothing is owed (info)";

/// The longest wait before the close: one day.
pub use super::MAX_MS;

#[derive(Debug)]
pub struct Timeout {
    /// Milliseconds from when it applies to the close; 0: never close.
    pub ms: u64,
}

impl Timeout {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.only(&["ms"])?;
        let ms = spec.required("ms", 0..=MAX_MS)?;
        Ok(Timeout { ms })
    }
}

impl Fault for Timeout {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Transport(self)
    }
}

impl TransportFault for Timeout {
    fn shape(&self, shape: &mut Shape, _rng: &mut ChaCha8Rng) {
        shape.drop = true;
    }

    fn closes_after(&self) -> Option<Duration> {
        (self.ms > 0).then(|| Duration::from_millis(self.ms))
    }

    fn lossy(&self) -> bool {
        true
    }

    fn what(&self) -> String {
        if self.ms == 0 {
            "dropped the bytes read (never closes)".to_owned()
        } else {
            format!(
                "dropped the bytes read, closing both connections (FIN) {} ms after it began",
                self.ms
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(spec: &str) -> Result<Timeout, SpecError> {
        Timeout::from_spec(&FaultSpec::parse(spec)?)
    }

    #[test]
    fn drops_every_chunk_and_closes_after_ms() {
        let fault = build("timeout@c2s:ms=250,after=1s").unwrap();
        let t = fault.transport().unwrap();
        let mut shape = Shape::NONE;
        t.shape(&mut shape, &mut super::super::test_rng());
        assert_eq!(
            shape,
            Shape {
                drop: true,
                ..Shape::NONE
            }
        );
        assert_eq!(t.closes_after(), Some(Duration::from_millis(250)));
        assert_eq!(t.fin_delay(), Duration::ZERO);
        assert!(t.lossy() && !t.resets());
        assert!(t.what().contains("250 ms"), "{}", t.what());
    }

    #[test]
    fn zero_only_drops() {
        let fault = build("timeout:ms=0").unwrap();
        assert_eq!(fault.closes_after(), None);
        assert!(fault.what().contains("never closes"));
        let mut shape = Shape::NONE;
        fault.shape(&mut shape, &mut super::super::test_rng());
        assert!(shape.drop);
    }

    #[test]
    fn refuses_out_of_range_values_naming_key_and_range() {
        assert_eq!(build("timeout:ms=86400000").unwrap().ms, MAX_MS);
        for spec in [
            "timeout:ms=86400001",
            "timeout:ms=18446744073709551615",
            "timeout:ms=18446744073709551616",
            "timeout:ms=-1",
            "timeout:ms=1.5",
            "timeout:ms=",
        ] {
            let e = build(spec).unwrap_err().to_string();
            assert!(
                e.contains("ms=") && e.contains("0..=86400000"),
                "{spec}: {e}"
            );
            assert_eq!(e.lines().count(), 1);
        }
        let e = build("timeout").unwrap_err().to_string();
        assert!(
            e.contains("needs ms=N") && e.contains("0..=86400000"),
            "{e}"
        );
        assert!(build("timeout:ms=5,bytes=3").is_err());
    }
}
