//! State shared by every proxied connection and the control API: the active
//! faults (each with an id, changeable at runtime) and the verdict totals.
//! Connections take a snapshot of the faults per chunk, so a change applies from
//! the next frame on without restarting anything.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;

use crate::proxy::fault::{FaultSpec, SpecError};
use crate::proxy::relay::ActiveFault;
use crate::report::Verdict;

/// Totals over a proxy run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub connections: u64,
    pub injections: u64,
    pub pass: u64,
    #[serde(rename = "non-strict")]
    pub non_strict: u64,
    pub fail: u64,
    pub info: u64,
}

/// A fault as listed by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultEntry {
    pub id: u64,
    pub spec: String,
}

#[derive(Debug, Default)]
struct Faults {
    entries: Vec<(u64, FaultSpec)>,
    compiled: Arc<Vec<ActiveFault>>,
}

#[derive(Debug, Default)]
pub struct ProxyState {
    faults: RwLock<Faults>,
    totals: Mutex<Totals>,
    next_id: AtomicU64,
}

impl ProxyState {
    pub fn new(specs: Vec<FaultSpec>) -> Result<ProxyState, SpecError> {
        let state = ProxyState::default();
        for spec in specs {
            state.add_spec(spec)?;
        }
        Ok(state)
    }

    /// The active faults, as one connection sees them for one chunk.
    pub fn faults(&self) -> Arc<Vec<ActiveFault>> {
        self.faults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .compiled
            .clone()
    }

    pub fn list(&self) -> Vec<FaultEntry> {
        let f = self.faults.read().unwrap_or_else(|e| e.into_inner());
        f.entries
            .iter()
            .map(|(id, s)| FaultEntry {
                id: *id,
                spec: s.text.clone(),
            })
            .collect()
    }

    /// Parses and activates a fault spec; returns its entry.
    pub fn add(&self, text: &str) -> Result<FaultEntry, SpecError> {
        self.add_spec(FaultSpec::parse(text)?)
    }

    fn add_spec(&self, spec: FaultSpec) -> Result<FaultEntry, SpecError> {
        ActiveFault::new(spec.clone())?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let text = spec.text.clone();
        let mut f = self.faults.write().unwrap_or_else(|e| e.into_inner());
        f.entries.push((id, spec));
        f.compiled = Arc::new(compile(&f.entries));
        Ok(FaultEntry { id, spec: text })
    }

    /// Removes a fault; false when there is none with that id.
    pub fn remove(&self, id: u64) -> bool {
        let mut f = self.faults.write().unwrap_or_else(|e| e.into_inner());
        let before = f.entries.len();
        f.entries.retain(|(i, _)| *i != id);
        let removed = f.entries.len() != before;
        f.compiled = Arc::new(compile(&f.entries));
        removed
    }

    pub fn clear_faults(&self) {
        let mut f = self.faults.write().unwrap_or_else(|e| e.into_inner());
        *f = Faults::default();
    }

    pub fn totals(&self) -> Totals {
        *self.totals.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes every fault and zeroes the totals.
    pub fn reset(&self) {
        self.clear_faults();
        *self.totals.lock().unwrap_or_else(|e| e.into_inner()) = Totals::default();
    }

    pub fn count_connection(&self) {
        self.totals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .connections += 1;
    }

    pub fn count_verdict(&self, verdict: Option<Verdict>) {
        let mut t = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        t.injections += 1;
        match verdict {
            Some(Verdict::Pass) => t.pass += 1,
            Some(Verdict::NonStrict) => t.non_strict += 1,
            Some(Verdict::Fail) => t.fail += 1,
            Some(Verdict::Info) | None => t.info += 1,
        }
    }
}

fn compile(entries: &[(u64, FaultSpec)]) -> Vec<ActiveFault> {
    // Every spec was built once when added, so this cannot fail.
    entries
        .iter()
        .filter_map(|(_, s)| ActiveFault::new(s.clone()).ok())
        .collect()
}
