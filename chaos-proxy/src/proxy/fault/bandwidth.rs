//! `bandwidth:kbps=N`: limits a direction to N kilobits per second.

use super::{Fault, FaultKind, FaultSpec, SpecError, Transport};

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
        FaultKind::Transport(Transport::Bandwidth { kbps: self.kbps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_its_rate() {
        assert!(FaultSpec::parse("bandwidth").is_err());
        let fault = Bandwidth::from_spec(&FaultSpec::parse("bandwidth:kbps=64").unwrap()).unwrap();
        assert_eq!(fault.transport(), Some(Transport::Bandwidth { kbps: 64 }));
    }
}
