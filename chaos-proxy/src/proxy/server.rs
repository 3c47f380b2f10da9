//! The proxy's tokio edges, in the mini-redis shape: [`run`] owns the start-up
//! (report writer, control API) and the shutdown; a `Listener` accepts and
//! spawns one `Handler` per connection, which connects upstream, runs one
//! [`pump`] per direction through the connection's sans-IO `Relay`, settles
//! injections as their receivers react, and judges the transport faults when
//! the connection ends. Shutdown stops reading, gives connections `grace` to
//! deliver what is in flight, then settles and reports everything known.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::{Instrument, debug, info, info_span, warn};
use wschaos_codec::handshake::{MAX_HANDSHAKE_BYTES, parse_request};

use crate::proxy::fault::{Dir, DirSel, FaultSpec};
use crate::proxy::metrics::{ConnGuard, Metrics};
use crate::proxy::pump::{Applied, PumpCtx, pump, turned_true};
use crate::proxy::record::Recording;
use crate::proxy::relay::{ActiveFault, Relay};
use crate::proxy::state::ProxyState;
pub use crate::proxy::state::Totals;
pub use crate::report::jsonl::ReportLine;
use crate::seed::derive_seed;
use crate::tls::{Conn, ProxyTls, host_of};
use crate::verdict;

/// Connections relayed at once by default; more wait in the accept queue.
pub const MAX_CONNECTIONS: usize = 4096;
/// Pause after a failed accept (e.g. out of file descriptors), so the loop
/// does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub struct ProxyConfig {
    /// HOST:PORT of the real server.
    pub upstream: String,
    pub seed: u64,
    pub state: Arc<ProxyState>,
    /// Timeouts and limits (the documented defaults unless changed).
    pub settings: Settings,
    /// `--record DIR`: save the streams of every connection a fault hit.
    pub record: Option<PathBuf>,
    /// `--report FILE`: one JSON line per settled fault.
    pub report: Option<PathBuf>,
    /// Every report line is also sent here (tests, embedding).
    pub tap: Option<mpsc::Sender<ReportLine>>,
    /// The control API's listener (`--api`).
    pub api: Option<TcpListener>,
    /// TLS from clients and to the server (both off by default).
    pub tls: ProxyTls,
}

impl ProxyConfig {
    /// A configuration with the documented defaults.
    pub fn new(upstream: impl Into<String>, seed: u64, state: Arc<ProxyState>) -> ProxyConfig {
        ProxyConfig {
            upstream: upstream.into(),
            seed,
            state,
            settings: Settings::default(),
            record: None,
            report: None,
            tap: None,
            api: None,
            tls: ProxyTls::default(),
        }
    }

    /// The banner printed at start-up.
    pub fn describe(&self, listen: std::net::SocketAddr) -> String {
        let faults: Vec<String> = self.state.list().into_iter().map(|f| f.spec).collect();
        let tls = |on: bool| if on { "wss://" } else { "" };
        format!(
            "wschaos proxy listening on {}{listen}, upstream {}{}, seed {}, faults: {}",
            tls(self.tls.listen.is_some()),
            tls(self.tls.upstream.is_some()),
            self.upstream,
            self.seed,
            if faults.is_empty() {
                "none (transparent)".to_owned()
            } else {
                faults.join(" ")
            }
        )
    }
}

/// What every handler of one proxy's listener shares.
struct Shared {
    /// The proxy's name in report lines (`None`: lines without one).
    name: Option<String>,
    upstream: String,
    seed: u64,
    state: Arc<ProxyState>,
    reaction_timeout: Duration,
    connect_timeout: Duration,
    record: Option<PathBuf>,
    grace: Duration,
    handshake_timeout: Duration,
    idle_timeout: Option<Duration>,
    report: mpsc::Sender<ReportLine>,
    tls: ProxyTls,
}

/// Runs one proxy on `listener` until `shutdown` resolves, then settles every
/// open connection, flushes the report and returns the totals. Fails only if
/// the report file cannot be created. The proxy is named `default`; the API
/// (`cfg.api`) may add more, whose totals are included.
pub async fn run(
    listener: TcpListener,
    mut cfg: ProxyConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<Totals> {
    let (stop_tx, stop) = watch::channel(false);
    let hub = Hub::new(
        cfg.settings.clone(),
        cfg.report.as_deref(),
        cfg.tap.take(),
        false,
        stop,
    )
    .await?;
    // A state the caller made counts into this run's metrics, as the
    // proxies the hub makes itself do.
    cfg.state.register_metrics(hub.metrics.proxy(DEFAULT_NAME));
    let proxy = NamedProxy::new(
        DEFAULT_NAME.to_owned(),
        listener.local_addr()?,
        cfg.upstream,
        cfg.seed,
        cfg.state,
        cfg.record,
        None,
        cfg.tls,
    );
    hub.insert(proxy.clone())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    hub.start_on(&proxy, listener)?;
    if let Some(api) = cfg.api.take() {
        tokio::spawn(crate::proxy::api::serve(
            api,
            hub.clone(),
            hub.shutdown.clone(),
        ));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    hub.finish().await
}

/// The name of the proxy given on the command line, and the one the
/// single-proxy API endpoints prefer.
pub const DEFAULT_NAME: &str = "default";

/// Timeouts and limits every proxy of a process shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub reaction_timeout: Duration,
    pub connect_timeout: Duration,
    pub grace: Duration,
    pub max_connections: usize,
    pub handshake_timeout: Duration,
    pub idle_timeout: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            reaction_timeout: Duration::from_millis(2000),
            connect_timeout: Duration::from_secs(5),
            grace: Duration::from_secs(2),
            max_connections: MAX_CONNECTIONS,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: None,
        }
    }
}

/// One named proxy as the config file or the API defines it.
#[derive(Debug, Clone)]
pub struct ProxyDef {
    pub name: String,
    pub listen: SocketAddr,
    pub upstream: String,
    pub faults: Vec<FaultSpec>,
    pub seed: u64,
    pub enabled: bool,
    /// Its own report file; without one its lines go to the global report.
    pub report: Option<PathBuf>,
    pub record: Option<PathBuf>,
    pub tls: ProxyTls,
}

/// Why a proxy could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("a proxy named {0:?} exists already")]
    Taken(String),
    #[error("{0}")]
    Bad(String),
}

/// Every proxy of one process, the report writers, the metrics and the
/// shutdown. The control API holds it to list, add, change and remove proxies.
pub struct Hub {
    settings: Settings,
    pub metrics: Metrics,
    shutdown: watch::Receiver<bool>,
    /// Lines of the proxies without a report file of their own; taken at the end.
    report: Mutex<Option<mpsc::Sender<ReportLine>>>,
    writers: Mutex<Vec<JoinHandle<std::io::Result<()>>>>,
    proxies: Mutex<BTreeMap<String, Arc<NamedProxy>>>,
    /// The totals of deleted proxies, which the run's totals keep.
    gone: Mutex<Totals>,
    /// Report lines carry their proxy's name (proxies from a config file).
    named: bool,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("proxies", &self.names())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    /// A hub writing the global report to `report` (created now) and `tap`;
    /// `named`: report lines carry the proxy's name. `shutdown` turning true
    /// stops every proxy.
    pub async fn new(
        settings: Settings,
        report: Option<&Path>,
        tap: Option<mpsc::Sender<ReportLine>>,
        named: bool,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<Arc<Hub>> {
        let file = match report {
            Some(p) => Some(tokio::fs::File::create(p).await?),
            None => None,
        };
        let (tx, lines) = mpsc::channel(1024);
        let writer = tokio::spawn(crate::report::jsonl::write(file, tap, lines));
        Ok(Arc::new(Hub {
            settings,
            metrics: Metrics::new(),
            shutdown,
            report: Mutex::new(Some(tx)),
            writers: Mutex::new(vec![writer]),
            proxies: Mutex::new(BTreeMap::new()),
            gone: Mutex::new(Totals::default()),
            named,
        }))
    }

    /// The proxies' names, in order.
    pub fn names(&self) -> Vec<String> {
        lock(&self.proxies).keys().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<Arc<NamedProxy>> {
        lock(&self.proxies).get(name).cloned()
    }

    pub fn all(&self) -> Vec<Arc<NamedProxy>> {
        lock(&self.proxies).values().cloned().collect()
    }

    /// Adds a proxy and, if it is enabled, binds its listener. Its own report
    /// file, if any, is created first.
    pub async fn add(self: &Arc<Hub>, def: ProxyDef) -> Result<Arc<NamedProxy>, AddError> {
        if lock(&self.proxies).contains_key(&def.name) {
            return Err(AddError::Taken(def.name));
        }
        let report = match &def.report {
            Some(path) => {
                let file = tokio::fs::File::create(path)
                    .await
                    .map_err(|e| AddError::Bad(format!("cannot write {}: {e}", path.display())))?;
                let (tx, lines) = mpsc::channel(1024);
                lock(&self.writers).push(tokio::spawn(crate::report::jsonl::write(
                    Some(file),
                    None,
                    lines,
                )));
                Some(tx)
            }
            None => None,
        };
        let state = ProxyState::with_metrics(def.faults, self.metrics.proxy(&def.name))
            .map_err(|e| AddError::Bad(e.to_string()))?;
        let proxy = NamedProxy::new(
            def.name,
            def.listen,
            def.upstream,
            def.seed,
            Arc::new(state),
            def.record,
            report,
            def.tls,
        );
        self.insert(proxy.clone())?;
        if def.enabled {
            if let Err(e) = self.enable(&proxy) {
                self.remove(&proxy.name);
                return Err(AddError::Bad(e.to_string()));
            }
        }
        Ok(proxy)
    }

    fn insert(&self, proxy: Arc<NamedProxy>) -> Result<(), AddError> {
        let mut all = lock(&self.proxies);
        if all.contains_key(&proxy.name) {
            return Err(AddError::Taken(proxy.name.clone()));
        }
        all.insert(proxy.name.clone(), proxy);
        Ok(())
    }

    fn remove(&self, name: &str) -> Option<Arc<NamedProxy>> {
        let proxy = lock(&self.proxies).remove(name)?;
        self.metrics.forget(name);
        Some(proxy)
    }

    /// Binds the proxy's listen address (the one it had, if its port was 0)
    /// and starts accepting. Enabling an enabled proxy changes nothing.
    pub fn enable(&self, proxy: &Arc<NamedProxy>) -> std::io::Result<SocketAddr> {
        if *self.shutdown.borrow() {
            return Err(std::io::Error::other("the proxy is shutting down"));
        }
        if let Some(local) = proxy.local() {
            return Ok(local);
        }
        let addr = *lock(&proxy.listen);
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        // As TcpListener::bind does: a port whose old connections linger in
        // TIME_WAIT can be bound again, so disable then enable works at once.
        socket.set_reuseaddr(true)?;
        socket
            .bind(addr)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        let listener = socket.listen(1024)?;
        self.start_on(proxy, listener)
    }

    /// Starts accepting on `listener` for `proxy`.
    fn start_on(
        &self,
        proxy: &Arc<NamedProxy>,
        listener: TcpListener,
    ) -> std::io::Result<SocketAddr> {
        let local = listener.local_addr()?;
        *lock(&proxy.listen) = local;
        let Some(report) = proxy.report_sender(self) else {
            return Err(std::io::Error::other("the proxy is shutting down"));
        };
        let shared = Arc::new(Shared {
            name: self.named.then(|| proxy.name.clone()),
            upstream: proxy.upstream.clone(),
            seed: proxy.seed,
            state: proxy.state.clone(),
            reaction_timeout: self.settings.reaction_timeout,
            connect_timeout: self.settings.connect_timeout,
            record: proxy.record.clone(),
            grace: self.settings.grace,
            handshake_timeout: self.settings.handshake_timeout,
            idle_timeout: self.settings.idle_timeout,
            report,
            tls: proxy.tls.clone(),
        });
        let (off, off_rx) = watch::channel(false);
        let task = tokio::spawn(serve_listener(
            Listener {
                listener,
                permits: Arc::new(Semaphore::new(self.settings.max_connections.max(1))),
                handlers: JoinSet::new(),
                shared,
                stop: watch::channel(false).1,
                ids: proxy.ids.clone(),
            },
            off_rx,
            self.shutdown.clone(),
        ));
        *lock(&proxy.running) = Some(Running { local, off, task });
        Ok(local)
    }

    /// Stops accepting (the port is closed) and closes the proxy's connections:
    /// they stop reading, deliver what is in flight within the grace, and their
    /// faults are settled and reported. Returns once that is done.
    pub async fn disable(&self, proxy: &NamedProxy) {
        let running = lock(&proxy.running).take();
        if let Some(r) = running {
            let _ = r.off.send(true);
            let _ =
                tokio::time::timeout(self.settings.grace + Duration::from_secs(1), r.task).await;
        }
    }

    /// Disables and removes a proxy; its totals stay in the run's.
    pub async fn delete(&self, name: &str) -> bool {
        let Some(proxy) = self.remove(name) else {
            return false;
        };
        self.disable(&proxy).await;
        lock(&proxy.report).take();
        let t = proxy.state.totals();
        add_totals(&mut lock(&self.gone), &t);
        true
    }

    /// The totals of every proxy, deleted ones included.
    pub fn totals(&self) -> Totals {
        let mut sum = *lock(&self.gone);
        for p in self.all() {
            add_totals(&mut sum, &p.state.totals());
        }
        sum
    }

    /// After the shutdown: waits for every proxy's connections to settle,
    /// flushes the reports and returns the totals.
    async fn finish(&self) -> std::io::Result<Totals> {
        let proxies = self.all();
        for p in &proxies {
            let running = lock(&p.running).take();
            if let Some(r) = running {
                // Each handler ends within its grace once told to stop.
                let _ = r.task.await;
            }
            lock(&p.report).take();
        }
        lock(&self.report).take();
        let writers = std::mem::take(&mut *lock(&self.writers));
        for w in writers {
            match w.await {
                Ok(r) => r?,
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
        Ok(self.totals())
    }
}

fn add_totals(sum: &mut Totals, t: &Totals) {
    sum.connections += t.connections;
    sum.injections += t.injections;
    sum.pass += t.pass;
    sum.non_strict += t.non_strict;
    sum.fail += t.fail;
    sum.info += t.info;
}

/// Runs the named proxies in `defs` until `shutdown` resolves (the API on
/// `api`, if given), then settles and reports everything and returns the
/// totals of all of them. `on_start` is called once every enabled proxy
/// listens (for the banner).
pub async fn run_many(
    defs: Vec<ProxyDef>,
    settings: Settings,
    report: Option<&Path>,
    api: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
    on_start: impl FnOnce(&Hub),
) -> anyhow::Result<Totals> {
    let (stop_tx, stop) = watch::channel(false);
    let hub = Hub::new(settings, report, None, true, stop).await?;
    for def in defs {
        let name = def.name.clone();
        hub.add(def)
            .await
            .map_err(|e| anyhow::anyhow!("proxy {name:?}: {e}"))?;
    }
    on_start(&hub);
    if let Some(api) = api {
        tokio::spawn(crate::proxy::api::serve(
            api,
            hub.clone(),
            hub.shutdown.clone(),
        ));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    Ok(hub.finish().await?)
}

/// One proxy of a [`Hub`]: its definition, its state, and its listener while
/// it is enabled.
pub struct NamedProxy {
    pub name: String,
    pub upstream: String,
    pub seed: u64,
    pub state: Arc<ProxyState>,
    /// Where it listens: as configured, then as bound (a port 0 made concrete).
    listen: Mutex<SocketAddr>,
    record: Option<PathBuf>,
    /// Its own report's writer, if it has one; taken when it is deleted.
    report: Mutex<Option<mpsc::Sender<ReportLine>>>,
    own_report: bool,
    tls: ProxyTls,
    /// Connection numbers go on across disable and enable.
    ids: Arc<AtomicU64>,
    running: Mutex<Option<Running>>,
}

/// An enabled proxy's listener task.
struct Running {
    local: SocketAddr,
    off: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl NamedProxy {
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: String,
        listen: SocketAddr,
        upstream: String,
        seed: u64,
        state: Arc<ProxyState>,
        record: Option<PathBuf>,
        report: Option<mpsc::Sender<ReportLine>>,
        tls: ProxyTls,
    ) -> Arc<NamedProxy> {
        Arc::new(NamedProxy {
            name,
            upstream,
            seed,
            state,
            listen: Mutex::new(listen),
            record,
            own_report: report.is_some(),
            report: Mutex::new(report),
            tls,
            ids: Arc::new(AtomicU64::new(0)),
            running: Mutex::new(None),
        })
    }

    /// The address it listens on, while enabled.
    pub fn local(&self) -> Option<SocketAddr> {
        lock(&self.running).as_ref().map(|r| r.local)
    }

    /// Its listen address: the bound one once it has listened.
    pub fn listen(&self) -> SocketAddr {
        *lock(&self.listen)
    }

    pub fn enabled(&self) -> bool {
        self.local().is_some()
    }

    /// Where its report lines go: its own report, else the global one.
    fn report_sender(&self, hub: &Hub) -> Option<mpsc::Sender<ReportLine>> {
        if self.own_report {
            lock(&self.report).clone()
        } else {
            lock(&hub.report).clone()
        }
    }

    /// The banner line for this proxy.
    pub fn describe(&self) -> String {
        let faults: Vec<String> = self.state.list().into_iter().map(|f| f.spec).collect();
        let tls = |on: bool| if on { "wss://" } else { "" };
        format!(
            "wschaos proxy {:?} {} {}{}, upstream {}{}, seed {}, faults: {}",
            self.name,
            if self.enabled() {
                "listening on"
            } else {
                "disabled, would listen on"
            },
            tls(self.tls.listen.is_some()),
            self.listen(),
            tls(self.tls.upstream.is_some()),
            self.upstream,
            self.seed,
            if faults.is_empty() {
                "none (transparent)".to_owned()
            } else {
                faults.join(" ")
            }
        )
    }
}

/// Accepts for one proxy until it is disabled or the process shuts down, then
/// closes the port and tells its connections to stop, and waits for them.
async fn serve_listener(
    mut server: Listener,
    off: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
) {
    let (stop_tx, stop) = watch::channel(false);
    server.stop = stop;
    tokio::select! {
        _ = server.run() => {}
        _ = turned_true(off) => {}
        _ = turned_true(shutdown) => {}
    }
    let Listener {
        listener,
        mut handlers,
        ..
    } = server;
    drop(listener);
    let _ = stop_tx.send(true);
    // Each handler ends within its grace once told to stop.
    while handlers.join_next().await.is_some() {}
}

struct Listener {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    handlers: JoinSet<()>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    ids: Arc<AtomicU64>,
}

impl Listener {
    /// Accepts until dropped; a connection over the cap waits for a slot.
    async fn run(&mut self) {
        loop {
            if self.permits.available_permits() == 0 {
                warn!(
                    "connection cap reached: new clients wait until a connection closes (--max-connections)"
                );
            }
            let Ok(permit) = self.permits.clone().acquire_owned().await else {
                return;
            };
            let (client, peer) = match self.listener.accept().await {
                Ok(a) => a,
                Err(e) => {
                    warn!("accept failed: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let handler = Handler {
                conn: self.ids.fetch_add(1, Ordering::Relaxed) + 1,
                shared: self.shared.clone(),
                stop: self.stop.clone(),
            };
            let span = match &self.shared.name {
                Some(name) => info_span!("conn", proxy = %name, id = handler.conn, %peer),
                None => info_span!("conn", id = handler.conn, %peer),
            };
            self.handlers.spawn(
                async move {
                    let _permit = permit;
                    handler.run(client).await;
                }
                .instrument(span),
            );
            // Reap finished handlers so the set stays as small as the live connections.
            while self.handlers.try_join_next().is_some() {}
        }
    }
}

struct Handler {
    conn: u64,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
}

impl Handler {
    async fn run(self, client: TcpStream) {
        let cfg = &*self.shared;
        let conn = self.conn;
        let _ = client.set_nodelay(true);
        let mut counted = Counted {
            _open: cfg.state.count_connection(),
            state: &cfg.state,
            stop: &self.stop,
            phase: ConnPhase::Accepted,
        };
        let mut client = match &cfg.tls.listen {
            None => Conn::from(client),
            Some(tls) => {
                let accepted = tokio::select! {
                    r = tokio::time::timeout(cfg.handshake_timeout, tls.accept(client)) => r,
                    _ = turned_true(self.stop.clone()) => return,
                };
                match accepted {
                    Ok(Ok(c)) => c,
                    Ok(Err(e)) => return info!("client: {e}"),
                    Err(_) => {
                        return info!(
                            "client: TLS handshake not done within {:?}",
                            cfg.handshake_timeout
                        );
                    }
                }
            }
        };
        counted.phase = ConnPhase::Connecting;
        let upstream = tokio::select! {
            r = tokio::time::timeout(cfg.connect_timeout, connect_upstream(cfg)) => r,
            _ = turned_true(self.stop.clone()) => return,
        };
        let upstream = match upstream {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return refuse(&mut client, &cfg.upstream, &e).await,
            Err(_) => return refuse(&mut client, &cfg.upstream, "connect timed out").await,
        };
        let reset = reset_after(&cfg.state.faults(), cfg.seed, conn);
        let reset_at = reset.as_ref().map(|(at, _)| *at);
        if reset_at.is_some() {
            // Closing with a zero linger sends RST instead of FIN.
            let _ = client.tcp().set_zero_linger();
            let _ = upstream.tcp().set_zero_linger();
        }
        counted.phase = ConnPhase::Relaying;
        let started = Instant::now();
        let relay = Arc::new(Mutex::new(Relay::new(cfg.seed, conn, cfg.reaction_timeout)));
        let recording = cfg
            .record
            .as_ref()
            .map(|_| Arc::new(Mutex::new(Recording::default())));
        let (reset_tx, reset_rx) = watch::channel(false);
        let injected = Arc::new(Notify::new());
        let applied = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(Notify::new());
        let activity = cfg.idle_timeout.map(|_| Arc::new(AtomicU64::new(0)));
        let ctx = PumpCtx {
            relay: relay.clone(),
            recording: recording.clone(),
            state: cfg.state.clone(),
            seed: cfg.seed,
            conn,
            started,
            stop: self.stop.clone(),
            reset: reset_at.map(|_| reset_rx),
            injected: injected.clone(),
            applied: applied.clone(),
            ended: ended.clone(),
            activity: activity.clone(),
        };
        // One task per direction, so each has its own backpressure and the two can
        // run on different workers; they keep this connection's tracing span.
        // Plain sockets split into owned halves; TLS streams (either side) split
        // through a lock, since one TLS session serves both directions.
        let span = tracing::Span::current();
        let mut pumps = JoinSet::new();
        match (client.into_plain(), upstream.into_plain()) {
            (Ok(client), Ok(upstream)) => {
                let (client_rd, client_wr) = client.into_split();
                let (up_rd, up_wr) = upstream.into_split();
                pumps.spawn(pump(Dir::C2s, client_rd, up_wr, ctx.clone()).instrument(span.clone()));
                pumps.spawn(pump(Dir::S2c, up_rd, client_wr, ctx).instrument(span));
            }
            (client, upstream) => {
                let (client_rd, client_wr) =
                    tokio::io::split(client.map_or_else(|c| c, Conn::from));
                let (up_rd, up_wr) = tokio::io::split(upstream.map_or_else(|c| c, Conn::from));
                pumps.spawn(pump(Dir::C2s, client_rd, up_wr, ctx.clone()).instrument(span.clone()));
                pumps.spawn(pump(Dir::S2c, up_rd, client_wr, ctx).instrument(span));
            }
        }
        let reset_fired = tokio::select! {
            _ = async { while pumps.join_next().await.is_some() {} } => false,
            _ = self.settle_as_they_come(&relay, &injected, started) => false,
            _ = sleep_or_never(reset_at) => true,
            _ = ended.notified() => {
                info!("a fault ended the connection: closing both sides (FIN)");
                false
            }
            _ = stopped_then(self.stop.clone(), cfg.grace) => false,
            _ = handshake_overdue(&relay, cfg.handshake_timeout) => {
                info!("opening handshake not done within {:?}: closing", cfg.handshake_timeout);
                false
            }
            _ = idle(activity.as_deref(), started, cfg.idle_timeout) => {
                info!("no traffic for {:?}: closing", cfg.idle_timeout.unwrap_or_default());
                false
            }
        };
        if reset_fired {
            info!("reset: closing both connections with RST");
            let _ = reset_tx.send(true);
            // The pumps drop their sockets at once; bounded all the same.
            let _ = tokio::time::timeout(cfg.grace, async {
                while pumps.join_next().await.is_some() {}
            })
            .await;
        }
        // After the grace ran out, whatever is still blocked is dropped.
        pumps.abort_all();
        while pumps.join_next().await.is_some() {}
        let now = started.elapsed();
        let (faulted, deflate, settled, transport_lines) = {
            let mut r = relay.lock().unwrap_or_else(|e| e.into_inner());
            let fired = reset
                .as_ref()
                .filter(|_| reset_fired)
                .map(|(_, what)| what.as_str());
            let lines = transport_lines(&r, conn, cfg.seed, &applied, fired, now);
            (r.any_injected(), r.deflate(), r.finish_at(now), lines)
        };
        counted.phase = {
            let r = relay.lock().unwrap_or_else(|e| e.into_inner());
            if r.opened() && !r.refused() {
                ConnPhase::Opened
            } else {
                ConnPhase::Relaying
            }
        };
        for i in settled {
            self.emit(ReportLine::injection(conn, cfg.seed, i)).await;
        }
        // A connection is recorded when a fault of any kind is reported on it.
        let transport_hits: Vec<String> = transport_lines
            .iter()
            .map(|l| format!("{} ({}): {}", l.fault, l.dir, l.what))
            .collect();
        for line in transport_lines {
            self.emit(line).await;
        }
        let hit = faulted || !transport_hits.is_empty();
        if let (Some(dir), Some(rec), true) = (&cfg.record, &recording, hit) {
            let rec = rec.lock().unwrap_or_else(|e| e.into_inner());
            match rec.write(dir, conn, deflate, &transport_hits) {
                Ok(paths) => {
                    info!(files = ?paths, truncated = rec.truncated, "connection recorded")
                }
                Err(e) => warn!("cannot record connection {conn} in {}: {e}", dir.display()),
            }
        }
        debug!("connection closed");
    }

    /// Reports injections as their receivers react. It sleeps until the earliest
    /// reaction deadline, or, with none pending, until a pump says the relay
    /// holds an injection: an idle connection costs no wake-ups. Never returns.
    async fn settle_as_they_come(&self, relay: &Mutex<Relay>, injected: &Notify, started: Instant) {
        loop {
            let next = relay
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .next_deadline();
            match next {
                Some(d) => {
                    let wait = d.saturating_sub(started.elapsed());
                    tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
                }
                None => injected.notified().await,
            }
            relay
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .tick(started.elapsed());
            // A slot in the report channel first, then the injection: if this
            // future is dropped while it waits, nothing settled is lost.
            while let Ok(slot) = self.shared.report.reserve().await {
                let next = relay
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take_next_settled();
                let Some(i) = next else { break };
                let mut line = ReportLine::injection(self.conn, self.shared.seed, i);
                line.proxy = self.shared.name.clone();
                self.shared.state.count_verdict(&line.fault, line.verdict);
                info!(fault = %line.fault, dir = %line.dir, verdict = ?line.verdict, "fault settled");
                slot.send(line);
            }
        }
    }

    async fn emit(&self, mut line: ReportLine) {
        line.proxy = self.shared.name.clone();
        self.shared.state.count_verdict(&line.fault, line.verdict);
        info!(fault = %line.fault, dir = %line.dir, verdict = ?line.verdict, "fault settled");
        let _ = self.shared.report.send(line).await;
    }
}

/// How far a connection got, for the metrics: when it ends before its
/// upstream was reached, that is an upstream error; before its opening
/// handshake was through (TLS from the client, or the WebSocket upgrade,
/// including one the server refused), a handshake failure. A connection ended
/// by a shutdown or by disabling its proxy is neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnPhase {
    Accepted,
    Connecting,
    Relaying,
    Opened,
}

struct Counted<'a> {
    _open: ConnGuard,
    state: &'a ProxyState,
    stop: &'a watch::Receiver<bool>,
    phase: ConnPhase,
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        if *self.stop.borrow() {
            return;
        }
        match self.phase {
            ConnPhase::Connecting => self.state.metrics().upstream_error(),
            ConnPhase::Accepted | ConnPhase::Relaying => self.state.metrics().handshake_failure(),
            ConnPhase::Opened => {}
        }
    }
}

/// The lines for the transport faults of a connection that has ended: one per
/// fault that acted on it while it carried frames (a lossy one wherever it
/// dropped data or ended the connection), and one for the reset that
/// fired (`reset_fired`: what it did, in its own words).
fn transport_lines(
    relay: &Relay,
    conn: u64,
    seed: u64,
    applied: &Mutex<Vec<Applied>>,
    reset_fired: Option<&str>,
    at: Duration,
) -> Vec<ReportLine> {
    let mut lines = Vec::new();
    let applied = applied.lock().unwrap_or_else(|e| e.into_inner());
    for a in applied.iter() {
        let (c2s, s2c) = match a.dir {
            DirSel::One(Dir::C2s) => (true, false),
            DirSel::One(Dir::S2c) => (false, true),
            DirSel::Both => (true, true),
        };
        if !a.lossy && !relay.carried_frames_since(c2s, s2c, a.after.unwrap_or(Duration::ZERO)) {
            continue;
        }
        // A fault that lost data or ended the connection is owed nothing, as a reset.
        let j = if a.lossy {
            verdict::reset()
        } else {
            verdict::transport(relay.unexplained_error_close())
        };
        lines.push(ReportLine::transport(
            conn,
            seed,
            &a.spec,
            dir_name(a.dir),
            a.what.clone(),
            j,
            at,
        ));
    }
    if let Some(what) = reset_fired {
        lines.push(ReportLine::transport(
            conn,
            seed,
            "reset",
            "both",
            what.to_owned(),
            verdict::reset(),
            at,
        ));
    }
    lines
}

fn dir_name(d: DirSel) -> &'static str {
    match d {
        DirSel::One(d) => d.as_str(),
        DirSel::Both => "both",
    }
}

/// When a resetting fault is to hit this connection (how long after it opened),
/// and what it does, in its own words.
fn reset_after(faults: &[ActiveFault], seed: u64, conn: u64) -> Option<(Duration, String)> {
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, conn, "reset"));
    faults
        .iter()
        .filter_map(|f| Some((f, f.fault.transport().filter(|t| t.resets())?)))
        .filter(|(f, _)| f.spec.trigger.p.is_none_or(|p| rng.random::<f64>() < p))
        .map(|(f, t)| (f.spec.trigger.after.unwrap_or(Duration::ZERO), t.what()))
        .min_by_key(|(at, _)| *at)
}

/// Resolves when the handshake is still not through after `timeout`.
async fn handshake_overdue(relay: &Mutex<Relay>, timeout: Duration) {
    tokio::time::sleep(timeout).await;
    if relay.lock().unwrap_or_else(|e| e.into_inner()).opened() {
        std::future::pending::<()>().await;
    }
}

/// Resolves once neither direction has read anything for `timeout`.
async fn idle(activity: Option<&AtomicU64>, started: Instant, timeout: Option<Duration>) {
    let (Some(activity), Some(timeout)) = (activity, timeout) else {
        return std::future::pending().await;
    };
    loop {
        let last = Duration::from_millis(activity.load(Ordering::Relaxed));
        let quiet = started.elapsed().saturating_sub(last);
        if quiet >= timeout {
            return;
        }
        tokio::time::sleep(timeout - quiet).await;
    }
}

/// Resolves `grace` after `stop` turned true.
async fn stopped_then(stop: watch::Receiver<bool>, grace: Duration) {
    turned_true(stop).await;
    tokio::time::sleep(grace).await;
}

async fn sleep_or_never(after: Option<Duration>) {
    match after {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Connects to the upstream, over TLS when configured (SNI and verification
/// with `--upstream-sni`, else the upstream's host); errors are one line.
async fn connect_upstream(cfg: &Shared) -> Result<Conn, String> {
    let tcp = TcpStream::connect(&cfg.upstream)
        .await
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    match &cfg.tls.upstream {
        None => Ok(Conn::from(tcp)),
        Some(tls) => tls.connect(tcp, host_of(&cfg.upstream)).await,
    }
}

/// Upstream unreachable: the client gets a clean 502 on its handshake.
async fn refuse(client: &mut Conn, upstream: &str, why: &str) {
    warn!("cannot connect to upstream {upstream}: {why}");
    // Read the request first (bounded) so the client sees an answer, not a reset.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while !matches!(parse_request(&buf), Ok(Some(_)) | Err(_))
            && buf.len() <= MAX_HANDSHAKE_BYTES
        {
            match client.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let body = format!("wschaos proxy: upstream {upstream} unreachable: {why}\n");
    let _ = client
        .write_all(&crate::http::response(502, "text/plain", &body))
        .await;
    let _ = client.shutdown().await;
}
