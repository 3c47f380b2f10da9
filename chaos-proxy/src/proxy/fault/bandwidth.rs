//! `bandwidth:kbps=N`: limits a direction to N kilobits per second.

use rand_chacha::ChaCha8Rng;

use super::{Fault, FaultKind, FaultSpec, Shape, SpecError, TransportFault};

pub const HELP: &str =
    "bandwidth:kbps=N(required) — limits a direction to N kbit/s; the connection keeps working";

#[derive(Debug)]
pub struct Bandwidth {
    /// The limit in kbit/s; required, above 0.
    pub kbps: u64,
}

impl Bandwidth {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.only(&["kbps"])?;
        let kbps = spec
            .param::<u64>("kbps")?
            .filter(|&k| k > 0)
            .ok_or_else(|| spec.bad("bandwidth needs kbps=N with N > 0"))?;
        Ok(Bandwidth { kbps })
    }
}

impl Fault for Bandwidth {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Transport(self)
    }
}

impl TransportFault for Bandwidth {
    fn shape(&self, shape: &mut Shape, _rng: &mut ChaCha8Rng) {
        shape.kbps = shape.kbps.min(self.kbps);
    }

    fn what(&self) -> String {
        format!("limited to {} kbit/s", self.kbps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_its_rate() {
        assert!(FaultSpec::parse("bandwidth").is_err());
        let fault = Bandwidth::from_spec(&FaultSpec::parse("bandwidth:kbps=64").unwrap()).unwrap();
        let mut shape = Shape::NONE;
        fault
            .transport()
            .unwrap()
            .shape(&mut shape, &mut super::super::test_rng());
        assert_eq!(shape.kbps, 64);
        assert!(fault.what().contains("64 kbit/s"));
    }
}
