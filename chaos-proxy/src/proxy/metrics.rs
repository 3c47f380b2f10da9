//! The proxy's Prometheus metrics, served by the control API as `GET /metrics`.
//!
//! Built on `prometheus-client` (the Prometheus project's own Rust client): its
//! counters and gauges are plain atomics behind an `Arc`, so a proxy resolves its
//! label sets once ([`Metrics::proxy`]) and the hot path (bytes per read, frames
//! per chunk) is one relaxed `fetch_add`, with no lock and no map lookup. It
//! encodes the OpenMetrics text format, which Prometheus scrapes natively.
//!
//! Every series carries the proxy's name (`proxy="default"` for the proxy given
//! on the command line). A deleted proxy's series are removed.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::proxy::fault::Dir;
use crate::report::Verdict;

const VERDICTS: [&str; 4] = ["pass", "non-strict", "fail", "info"];

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProxyLabel {
    proxy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirLabels {
    proxy: String,
    direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InjectionLabels {
    proxy: String,
    fault: String,
    verdict: String,
}

/// Every proxy's metrics in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    open: Family<ProxyLabel, Gauge>,
    connections: Family<ProxyLabel, Counter>,
    bytes: Family<DirLabels, Counter>,
    frames: Family<DirLabels, Counter>,
    injections: Family<InjectionLabels, Counter>,
    handshake_failures: Family<ProxyLabel, Counter>,
    upstream_errors: Family<ProxyLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let open = Family::<ProxyLabel, Gauge>::default();
        let connections = Family::<ProxyLabel, Counter>::default();
        let bytes = Family::<DirLabels, Counter>::default();
        let frames = Family::<DirLabels, Counter>::default();
        let injections = Family::<InjectionLabels, Counter>::default();
        let handshake_failures = Family::<ProxyLabel, Counter>::default();
        let upstream_errors = Family::<ProxyLabel, Counter>::default();
        // Counters get their `_total` suffix from the encoder.
        registry.register(
            "wschaos_proxy_connections_open",
            "Client connections being relayed now",
            open.clone(),
        );
        registry.register(
            "wschaos_proxy_connections",
            "Client connections accepted",
            connections.clone(),
        );
        registry.register(
            "wschaos_proxy_bytes",
            "Bytes read from the client (c2s) or the server (s2c), handshake included",
            bytes.clone(),
        );
        registry.register(
            "wschaos_proxy_frames",
            "WebSocket frame headers relayed, per direction",
            frames.clone(),
        );
        registry.register(
            "wschaos_proxy_injections",
            "Faults injected and settled, per fault name and verdict",
            injections.clone(),
        );
        registry.register(
            "wschaos_proxy_handshake_failures",
            "Connections whose opening handshake did not complete (refused upgrade, timeout, hang-up)",
            handshake_failures.clone(),
        );
        registry.register(
            "wschaos_proxy_upstream_errors",
            "Connections whose upstream could not be reached (connect failed or timed out; the client got a 502)",
            upstream_errors.clone(),
        );
        Metrics {
            registry,
            open,
            connections,
            bytes,
            frames,
            injections,
            handshake_failures,
            upstream_errors,
        }
    }

    /// The handles of one proxy's series, resolved once.
    pub fn proxy(&self, name: &str) -> ProxyMetrics {
        let p = ProxyLabel {
            proxy: name.to_owned(),
        };
        let d = |dir: Dir| DirLabels {
            proxy: name.to_owned(),
            direction: dir.as_str().to_owned(),
        };
        ProxyMetrics {
            name: name.to_owned(),
            open: self.open.get_or_create_owned(&p),
            connections: self.connections.get_or_create_owned(&p),
            bytes: [
                self.bytes.get_or_create_owned(&d(Dir::C2s)),
                self.bytes.get_or_create_owned(&d(Dir::S2c)),
            ],
            frames: [
                self.frames.get_or_create_owned(&d(Dir::C2s)),
                self.frames.get_or_create_owned(&d(Dir::S2c)),
            ],
            handshake_failures: self.handshake_failures.get_or_create_owned(&p),
            upstream_errors: self.upstream_errors.get_or_create_owned(&p),
            injections: self.injections.clone(),
        }
    }

    /// Removes a deleted proxy's series.
    pub fn forget(&self, name: &str) {
        let p = ProxyLabel {
            proxy: name.to_owned(),
        };
        for f in [
            &self.connections,
            &self.handshake_failures,
            &self.upstream_errors,
        ] {
            f.remove(&p);
        }
        self.open.remove(&p);
        for dir in [Dir::C2s, Dir::S2c] {
            let d = DirLabels {
                proxy: name.to_owned(),
                direction: dir.as_str().to_owned(),
            };
            self.bytes.remove(&d);
            self.frames.remove(&d);
        }
        // The family does not list its label sets: every fault name and verdict.
        for fault in crate::proxy::fault::NAMES {
            for verdict in VERDICTS {
                self.injections.remove(&InjectionLabels {
                    proxy: name.to_owned(),
                    fault: (*fault).to_owned(),
                    verdict: verdict.to_owned(),
                });
            }
        }
    }

    /// The OpenMetrics text exposition of every series.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// One proxy's series. Cloning shares the counters.
#[derive(Debug, Clone)]
pub struct ProxyMetrics {
    name: String,
    open: Gauge,
    connections: Counter,
    bytes: [Counter; 2],
    frames: [Counter; 2],
    handshake_failures: Counter,
    upstream_errors: Counter,
    injections: Family<InjectionLabels, Counter>,
}

impl Default for ProxyMetrics {
    /// Series registered nowhere (a proxy run without the API's registry).
    fn default() -> ProxyMetrics {
        Metrics::new().proxy("default")
    }
}

fn idx(dir: Dir) -> usize {
    match dir {
        Dir::C2s => 0,
        Dir::S2c => 1,
    }
}

impl ProxyMetrics {
    /// Bytes read in `dir`: one relaxed atomic add.
    #[inline]
    pub fn read(&self, dir: Dir, n: usize) {
        self.bytes[idx(dir)].inc_by(n as u64);
    }

    /// Frame headers relayed in `dir`.
    #[inline]
    pub fn frames(&self, dir: Dir, n: u64) {
        self.frames[idx(dir)].inc_by(n);
    }

    /// A connection was accepted: counted, and open until the guard is dropped.
    pub fn connection(&self) -> ConnGuard {
        self.connections.inc();
        self.open.inc();
        ConnGuard {
            open: self.open.clone(),
        }
    }

    pub fn handshake_failure(&self) {
        self.handshake_failures.inc();
    }

    pub fn upstream_error(&self) {
        self.upstream_errors.inc();
    }

    /// A settled injection of `fault` (a spec; its name is the label).
    pub fn injection(&self, fault: &str, verdict: Option<Verdict>) {
        let name = fault.split(['@', ':']).next().unwrap_or(fault);
        let verdict = match verdict {
            Some(Verdict::Pass) => "pass",
            Some(Verdict::NonStrict) => "non-strict",
            Some(Verdict::Fail) => "fail",
            Some(Verdict::Info) | None => "info",
        };
        self.injections
            .get_or_create(&InjectionLabels {
                proxy: self.name.clone(),
                fault: name.to_owned(),
                verdict: verdict.to_owned(),
            })
            .inc();
    }

    /// Totals read back (tests, the API).
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            open: self.open.get(),
            connections: self.connections.get(),
            bytes_c2s: self.bytes[0].get(),
            bytes_s2c: self.bytes[1].get(),
            frames_c2s: self.frames[0].get(),
            frames_s2c: self.frames[1].get(),
            handshake_failures: self.handshake_failures.get(),
            upstream_errors: self.upstream_errors.get(),
        }
    }
}

/// One proxy's counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub open: i64,
    pub connections: u64,
    pub bytes_c2s: u64,
    pub bytes_s2c: u64,
    pub frames_c2s: u64,
    pub frames_s2c: u64,
    pub handshake_failures: u64,
    pub upstream_errors: u64,
}

/// Keeps a connection counted as open.
#[derive(Debug)]
pub struct ConnGuard {
    open: Gauge,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.open.dec();
    }
}
