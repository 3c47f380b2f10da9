//! `reset[:after=D,p=P]`: resets both TCP connections (RST, no Close frame) once
//! `after` has passed, on each connection with probability `p` (seeded). What the
//! endpoints make of it is their business: RFC 6455 calls it an abnormal closure.

use rand_chacha::ChaCha8Rng;

use super::{Fault, FaultKind, FaultSpec, Shape, SpecError, TransportFault};

pub const HELP: &str = "reset — resets both TCP connections (RST, no Close) once after=D(0) has \
                        passed; nothing is owed (info)";

#[derive(Debug)]
pub struct Reset;

impl Reset {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.no_params()?;
        Ok(Reset)
    }
}

impl Fault for Reset {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Transport(self)
    }
}

impl TransportFault for Reset {
    /// A reset does not touch chunks: the connection's task fires it.
    fn shape(&self, _shape: &mut Shape, _rng: &mut ChaCha8Rng) {}

    fn resets(&self) -> bool {
        true
    }

    fn what(&self) -> String {
        "reset both TCP connections (RST)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets() {
        let fault = Reset::from_spec(&FaultSpec::parse("reset:after=2s").unwrap()).unwrap();
        let t = fault.transport().unwrap();
        assert!(t.resets());
        let mut shape = Shape::NONE;
        t.shape(&mut shape, &mut super::super::test_rng());
        assert_eq!(shape, Shape::NONE, "a reset shapes no chunk");
    }
}
