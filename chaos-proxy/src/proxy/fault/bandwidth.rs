//! `bandwidth:kbps=N`: limits a direction to N kilobits per second.

use super::{Fault, Transport};

#[derive(Debug)]
pub struct Bandwidth {
    pub kbps: u64,
}

impl Fault for Bandwidth {
    fn transport(&self) -> Option<Transport> {
        Some(Transport::Bandwidth { kbps: self.kbps })
    }
}
