//! `latency:ms=N,jitter=N`: holds each chunk in its direction for N ms plus up to
//! `jitter` ms (seeded). A transport fault: traffic must still flow unchanged.

use super::{Fault, Transport};

#[derive(Debug)]
pub struct Latency {
    pub ms: u64,
    pub jitter: u64,
}

impl Fault for Latency {
    fn transport(&self) -> Option<Transport> {
        Some(Transport::Latency {
            ms: self.ms,
            jitter: self.jitter,
        })
    }
}
