//! `reset[:after=D,p=P]`: resets both TCP connections (RST, no Close frame) once
//! `after` has passed, on each connection with probability `p` (seeded). What the
//! endpoints make of it is their business: RFC 6455 calls it an abnormal closure.

use super::{Fault, FaultKind, FaultSpec, SpecError, Transport};

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
        FaultKind::Transport(Transport::Reset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets() {
        let fault = Reset::from_spec(&FaultSpec::parse("reset:after=2s").unwrap()).unwrap();
        assert_eq!(fault.transport(), Some(Transport::Reset));
    }
}
