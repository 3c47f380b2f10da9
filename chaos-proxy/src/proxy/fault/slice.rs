//! `slice:max=N`: forwards each chunk in TCP writes of at most N bytes, splitting
//! frames anywhere. Endpoints must cope, so the connection must keep working.

use super::{Fault, Transport};

#[derive(Debug)]
pub struct Slice {
    pub max: usize,
}

impl Fault for Slice {
    fn transport(&self) -> Option<Transport> {
        Some(Transport::Slice { max: self.max })
    }
}
