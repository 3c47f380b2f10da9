//! `limit-data:bytes=N`: toxiproxy's limit_data toxic. Once it applies (from its
//! `after`, on each connection its `p` picks), a direction it acts on delivers N
//! bytes more (each direction counts its own, as two toxics would), exactly:
//! the chunk that reaches N is cut there. Then both connections are closed, FIN
//! both ways. Nothing is owed: the report line is info.

use rand_chacha::ChaCha8Rng;

use super::{Fault, FaultKind, FaultSpec, Shape, SpecError, TransportFault};

pub const HELP: &str = "limit-data:bytes=N(required) — lets N bytes through in a direction \
                        (1 to 2^40), then closes both connections (FIN); nothing is owed (info)";

/// The largest limit: 1 TiB.
pub const MAX_BYTES: u64 = 1 << 40;

#[derive(Debug)]
pub struct LimitData {
    /// Bytes a direction delivers before the close.
    pub bytes: u64,
}

impl LimitData {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.only(&["bytes"])?;
        let bytes = spec.required("bytes", 1..=MAX_BYTES)?;
        Ok(LimitData { bytes })
    }
}

impl Fault for LimitData {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Transport(self)
    }
}

impl TransportFault for LimitData {
    fn shape(&self, shape: &mut Shape, _rng: &mut ChaCha8Rng) {
        shape.limit = shape.limit.min(self.bytes);
    }

    fn lossy(&self) -> bool {
        true
    }

    fn what(&self) -> String {
        format!(
            "closed both connections (FIN) once {} bytes had passed",
            self.bytes
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(spec: &str) -> Result<LimitData, SpecError> {
        LimitData::from_spec(&FaultSpec::parse(spec)?)
    }

    #[test]
    fn the_smallest_limit_wins() {
        let fault = build("limit-data@s2c:bytes=1000").unwrap();
        let t = fault.transport().unwrap();
        let mut rng = super::super::test_rng();
        let mut shape = Shape::NONE;
        t.shape(&mut shape, &mut rng);
        assert_eq!(
            shape,
            Shape {
                limit: 1000,
                ..Shape::NONE
            }
        );
        build("limit-data:bytes=10")
            .unwrap()
            .shape(&mut shape, &mut rng);
        assert_eq!(shape.limit, 10);
        t.shape(&mut shape, &mut rng);
        assert_eq!(shape.limit, 10, "a larger limit does not loosen it");
        assert!(t.lossy() && !t.resets() && t.closes_after().is_none());
        assert!(t.what().contains("1000 bytes"));
    }

    #[test]
    fn refuses_out_of_range_values_naming_key_and_range() {
        assert_eq!(build("limit-data:bytes=1").unwrap().bytes, 1);
        assert_eq!(
            build("limit-data:bytes=1099511627776").unwrap().bytes,
            MAX_BYTES
        );
        for spec in [
            "limit-data:bytes=0",
            "limit-data:bytes=1099511627777",
            "limit-data:bytes=18446744073709551615",
            "limit-data:bytes=18446744073709551616",
            "limit-data:bytes=1k",
        ] {
            let e = build(spec).unwrap_err().to_string();
            assert!(
                e.contains("bytes=") && e.contains("1..=1099511627776"),
                "{spec}: {e}"
            );
            assert_eq!(e.lines().count(), 1);
        }
        assert!(
            build("limit-data")
                .unwrap_err()
                .to_string()
                .contains("needs bytes=N")
        );
        assert!(build("limit-data:ms=5").is_err());
    }
}
