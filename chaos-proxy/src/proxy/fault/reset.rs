//! `reset[:after=D,p=P]`: resets both TCP connections (RST, no Close frame) once
//! `after` has passed, on each connection with probability `p` (seeded). What the
//! endpoints make of it is their business: RFC 6455 calls it an abnormal closure.

use super::{Fault, Transport};

#[derive(Debug)]
pub struct Reset;

impl Fault for Reset {
    fn transport(&self) -> Option<Transport> {
        Some(Transport::Reset)
    }
}
