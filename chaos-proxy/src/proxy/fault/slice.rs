//! `slice:max=N`: forwards each chunk in TCP writes of at most N bytes, splitting
//! frames anywhere. Endpoints must cope, so the connection must keep working.

use rand_chacha::ChaCha8Rng;

use super::{Fault, FaultKind, FaultSpec, Shape, SpecError, TransportFault};

pub const HELP: &str = "slice:max=N(1) — splits frames across TCP writes of at most N bytes; the connection keeps working";

#[derive(Debug)]
pub struct Slice {
    /// Largest TCP write, in bytes (default 1, at least 1).
    pub max: usize,
}

impl Slice {
    pub fn from_spec(spec: &FaultSpec) -> Result<Self, SpecError> {
        spec.only(&["max"])?;
        let max = spec.param::<usize>("max")?.unwrap_or(1);
        if max == 0 {
            return Err(spec.bad("max=0: slices need at least one byte"));
        }
        Ok(Slice { max })
    }
}

impl Fault for Slice {
    fn kind(&self) -> FaultKind<'_> {
        FaultKind::Transport(self)
    }
}

impl TransportFault for Slice {
    fn shape(&self, shape: &mut Shape, _rng: &mut ChaCha8Rng) {
        shape.slice = shape.slice.min(self.max);
    }

    fn what(&self) -> String {
        format!("split writes into at most {} bytes", self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_byte_at_a_time_by_default() {
        let fault = Slice::from_spec(&FaultSpec::parse("slice").unwrap()).unwrap();
        let mut shape = Shape::NONE;
        fault
            .transport()
            .unwrap()
            .shape(&mut shape, &mut super::super::test_rng());
        assert_eq!(shape.slice, 1);
        let seven = Slice::from_spec(&FaultSpec::parse("slice:max=7").unwrap()).unwrap();
        seven.shape(&mut shape, &mut super::super::test_rng());
        assert_eq!(shape.slice, 1, "the smallest slice wins");
    }
}
