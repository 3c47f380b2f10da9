//! State shared by every connection of one proxy and the control API: the active
//! faults (each with an id, changeable at runtime), the verdict totals and the
//! proxy's metrics.
//! Connections take a snapshot of the faults per chunk, so a change applies from
//! the next frame on without restarting anything.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;

use crate::proxy::fault::{FaultSpec, SpecError};
use crate::proxy::metrics::{ConnGuard, ProxyMetrics};
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
    /// Where this proxy counts: set once, when the proxy is registered (a
    /// state made by a caller, as `wschaos proxy --listen` does, is registered
    /// by `server::run`); until then the counts go nowhere.
    metrics: std::sync::OnceLock<ProxyMetrics>,
    detached: ProxyMetrics,
}

impl ProxyState {
    /// A proxy's state whose counts go nowhere until [`ProxyState::register_metrics`].
    pub fn new(specs: Vec<FaultSpec>) -> Result<ProxyState, SpecError> {
        let state = ProxyState::default();
        for spec in specs {
            state.add_spec(spec)?;
        }
        Ok(state)
    }

    /// A proxy's state counting into `metrics` (see [`crate::proxy::metrics`]).
    pub fn with_metrics(
        specs: Vec<FaultSpec>,
        metrics: ProxyMetrics,
    ) -> Result<ProxyState, SpecError> {
        let state = ProxyState::new(specs)?;
        state.register_metrics(metrics);
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

    /// Changes fault `id`: `patch` is a whole new spec, or keys merged into its
    /// spec (a `None` value removes the key); the result is parsed again. `None`
    /// when there is no fault with that id; an error (and no change) when the
    /// new spec does not parse.
    pub fn update(&self, id: u64, patch: &FaultPatch) -> Option<Result<FaultEntry, SpecError>> {
        let mut f = self.faults.write().unwrap_or_else(|e| e.into_inner());
        let at = f.entries.iter().position(|(i, _)| *i == id)?;
        let text = match patch {
            FaultPatch::Spec(text) => text.clone(),
            FaultPatch::Keys(keys) => merge_keys(&f.entries[at].1.text, keys),
        };
        let spec =
            match FaultSpec::parse(&text).and_then(|s| ActiveFault::new(s.clone()).map(|_| s)) {
                Ok(s) => s,
                Err(e) => return Some(Err(e)),
            };
        f.entries[at].1 = spec;
        f.compiled = Arc::new(compile(&f.entries));
        Some(Ok(FaultEntry { id, spec: text }))
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

    /// This proxy's metrics.
    pub fn metrics(&self) -> &ProxyMetrics {
        self.metrics.get().unwrap_or(&self.detached)
    }

    /// Counts into `metrics` from now on; false when the state counts into
    /// registered metrics already (they are kept).
    pub fn register_metrics(&self, metrics: ProxyMetrics) -> bool {
        self.metrics.set(metrics).is_ok()
    }

    /// Counts a connection; it is counted as open until the guard is dropped.
    #[must_use = "the connection is open while the guard lives"]
    pub fn count_connection(&self) -> ConnGuard {
        self.totals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .connections += 1;
        self.metrics().connection()
    }

    /// Counts a settled injection of `fault` (its spec) in the totals and metrics.
    pub fn count_verdict(&self, fault: &str, verdict: Option<Verdict>) {
        self.metrics().injection(fault, verdict);
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

/// A change to a fault (`PATCH /proxies/NAME/faults/ID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultPatch {
    /// A whole new spec.
    Spec(String),
    /// Keys to set (`Some`) or remove (`None`) in the current spec.
    Keys(Vec<(String, Option<String>)>),
}

/// `spec` (`NAME[@DIR][:k=v,...]`) with `keys` set or removed; the keys it
/// had keep their order, new ones are appended.
fn merge_keys(spec: &str, keys: &[(String, Option<String>)]) -> String {
    let (head, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let mut pairs: Vec<(String, String)> = rest
        .split(',')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    for (k, v) in keys {
        let at = pairs.iter().position(|(pk, _)| pk == k);
        match (at, v) {
            (Some(i), Some(v)) => pairs[i].1 = v.clone(),
            (Some(i), None) => {
                pairs.remove(i);
            }
            (None, Some(v)) => pairs.push((k.clone(), v.clone())),
            (None, None) => {}
        }
    }
    if pairs.is_empty() {
        return head.to_owned();
    }
    let kv: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{head}:{}", kv.join(","))
}

fn compile(entries: &[(u64, FaultSpec)]) -> Vec<ActiveFault> {
    // Every spec was built once when added, so this cannot fail.
    entries
        .iter()
        .filter_map(|(_, s)| ActiveFault::new(s.clone()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(kv: &[(&str, Option<&str>)]) -> FaultPatch {
        FaultPatch::Keys(
            kv.iter()
                .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
                .collect(),
        )
    }

    #[test]
    fn a_patch_merges_keys_and_parses_again() {
        let state =
            ProxyState::new(vec![FaultSpec::parse("set-rsv@c2s:bit=2,p=0.1").unwrap()]).unwrap();
        let e = state.update(1, &keys(&[("p", Some("0.5")), ("nth", Some("3"))]));
        assert_eq!(e.unwrap().unwrap().spec, "set-rsv@c2s:bit=2,p=0.5,nth=3");
        let e = state.update(1, &keys(&[("p", None), ("nth", None), ("bit", None)]));
        assert_eq!(e.unwrap().unwrap().spec, "set-rsv@c2s");
        assert_eq!(state.faults()[0].spec.text, "set-rsv@c2s");
        // A bad value leaves the fault as it was.
        assert!(
            state
                .update(1, &keys(&[("p", Some("2"))]))
                .unwrap()
                .is_err()
        );
        assert_eq!(state.list()[0].spec, "set-rsv@c2s");
        let e = state.update(1, &FaultPatch::Spec("flip-mask@s2c".into()));
        assert_eq!(e.unwrap().unwrap().spec, "flip-mask@s2c");
        assert_eq!(state.list()[0].id, 1);
        assert!(state.update(9, &FaultPatch::Spec("reset".into())).is_none());
    }
}
