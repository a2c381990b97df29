//! Wiring and hosting, the same for every service and every way of running:
//! a service crate's `build(&Wiring)` returns a [`Service`] (its gRPC
//! servers, migrations and background [`Task`]s), and a [`Host`] runs one or
//! more of them in a process: `bti dev` (all of them, one port, SQLite),
//! `bti serve <service>` (one, PostgreSQL and NATS) and every test harness.
//!
//! The host serves gRPC at once with every service NOT_SERVING, migrates each
//! service's database, starts its outbox relay, its tasks and a database
//! probe, and reports SERVING when [`Running::open`] is called. Health then
//! follows the database: a service whose database cannot be reached answers
//! NOT_SERVING until it can. Each task is reported as `<service>/<task>` and
//! restarted with backoff if it stops; on shutdown the server drains first,
//! then tasks and relays stop and flush, then pools close.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::Channel;
use tonic_health::ServingStatus;
use tracing::Instrument;

use crate::auth::{LocalIssuer, Verifier};
use crate::client::ServiceCredentials;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::{Db, Migrations};
use crate::events::{EventBus, OutboxSignal};
use crate::server::ServiceSet;

/// Resolves once shutdown has begun; cheap to clone into every task.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Waits for shutdown.
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|s| *s).await;
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// A shutdown that never comes (for running a task by hand).
    pub fn never() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        std::mem::forget(tx);
        Shutdown(rx)
    }
}

type TaskFn = Arc<dyn Fn(Shutdown) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// Background work of a service, run by the host until shutdown and
/// restarted (with backoff) if it stops early.
#[derive(Clone)]
pub struct Task {
    pub name: String,
    run: TaskFn,
}

impl Task {
    /// A task that runs `f` until `shutdown`; returning early (Ok or Err)
    /// counts as a failure and restarts it.
    pub fn new<F, Fut>(name: &str, f: F) -> Task
    where
        F: Fn(Shutdown) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        Task {
            name: name.to_string(),
            run: Arc::new(move |s| Box::pin(f(s))),
        }
    }

    /// Runs `round` every `period` (first right away) until shutdown. A
    /// failed round is logged and the next one runs on time.
    pub fn every<F, Fut>(name: &str, period: Duration, round: F) -> Task
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<usize>> + Send + 'static,
    {
        let round = Arc::new(round);
        let task = name.to_string();
        Task::new(name, move |shutdown| {
            let round = round.clone();
            let task = task.clone();
            async move {
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let stop = shutdown.clone().wait();
                tokio::pin!(stop);
                loop {
                    tokio::select! {
                        _ = &mut stop => return Ok(()),
                        _ = tick.tick() => {}
                    }
                    let label = task_label(&task);
                    let rounds = &crate::metrics::global().task_rounds;
                    match round().await {
                        Ok(n) => {
                            rounds.with_label_values(&[label.as_str(), "ok"]).inc();
                            if n > 0 {
                                tracing::debug!(task = %label, changed = n, "round done")
                            }
                        }
                        Err(e) => {
                            rounds.with_label_values(&[label.as_str(), "failed"]).inc();
                            tracing::warn!(task = %label, error = %format!("{e:#}"), "round failed")
                        }
                    }
                }
            }
        })
    }

    /// Consumes events of `filter` (a type or a package prefix ending in `.`)
    /// as the durable consumer `durable`, shared by every replica, handing
    /// each to `handle` and acknowledging it once handled. An event whose
    /// handling fails is not acknowledged, so the bus delivers it again;
    /// handlers are idempotent by event id.
    pub fn consume<F, Fut>(
        name: &str,
        bus: Arc<dyn EventBus>,
        durable: &str,
        filter: &str,
        handle: F,
    ) -> Task
    where
        F: Fn(bti_proto::types::EventEnvelope) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let handle = Arc::new(handle);
        let (durable, filter) = (durable.to_string(), filter.to_string());
        Task::new(name, move |shutdown| {
            let (bus, handle) = (bus.clone(), handle.clone());
            let (durable, filter) = (durable.clone(), filter.clone());
            async move {
                use futures::StreamExt;
                let mut events = bus.subscribe(&durable, &filter).await?;
                let stop = shutdown.wait();
                tokio::pin!(stop);
                let stream = bus.stream_name();
                let mut lag = tokio::time::interval(Duration::from_secs(5));
                let m = crate::metrics::global();
                loop {
                    let next = tokio::select! {
                        _ = &mut stop => return Ok(()),
                        _ = lag.tick() => {
                            if let Ok(Some(n)) = bus.pending(&durable).await {
                                m.consumer_pending
                                    .with_label_values(&[durable.as_str(), stream.as_str()])
                                    .set(n as i64);
                            }
                            continue;
                        }
                        next = events.next() => next,
                    };
                    match next {
                        None => anyhow::bail!("the event stream ended"),
                        Some(Err(e)) => {
                            tracing::warn!(consumer = %durable, error = %format!("{e:#}"), "event stream")
                        }
                        Some(Ok(d)) => {
                            let span = consumer_span(&d.envelope, &durable, &stream);
                            let handled = handle(d.envelope.clone()).instrument(span.clone()).await;
                            let outcome = if handled.is_ok() { "ok" } else { "failed" };
                            m.events_handled
                                .with_label_values(&[durable.as_str(), outcome])
                                .inc();
                            let _entered = span.enter();
                            match handled {
                                Ok(()) => {
                                    if let Err(e) = d.ack().await {
                                        tracing::warn!(consumer = %durable, error = %e, "ack failed");
                                    }
                                }
                                Err(e) => {
                                    span.record("otel.status_code", "ERROR");
                                    tracing::warn!(
                                        consumer = %durable,
                                        event = %d.envelope.id,
                                        error = %format!("{e:#}"),
                                        "event not handled; it will be delivered again"
                                    )
                                }
                            }
                        }
                    }
                }
            }
        })
    }
}

/// `<service>/<task>` when the task runs for a service (it does under a host).
fn task_label(task: &str) -> String {
    match crate::telemetry::current_service() {
        Some(s) => format!("{s}/{task}"),
        None => task.to_string(),
    }
}

/// The consumer span of one event: OpenTelemetry's messaging `process`
/// span, a child of the span that committed the event (its `traceparent`,
/// stored in the outbox and carried by the bus).
fn consumer_span(
    e: &bti_proto::types::EventEnvelope,
    consumer: &str,
    stream: &str,
) -> tracing::Span {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let service = crate::telemetry::current_service();
    let span = tracing::info_span!(
        "event",
        otel.name = %format!("process {}", e.r#type),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        messaging.system = if stream == "in-process" { "in-process" } else { "nats" },
        messaging.operation.type = "process",
        messaging.destination.name = %stream,
        messaging.consumer.group.name = %consumer,
        messaging.message.id = %e.id,
        cloudevents.event_type = %e.r#type,
        service.name = %crate::telemetry::service_name(service.as_deref().unwrap_or("unknown")),
    );
    let _ = span.set_parent(crate::telemetry::extract_traceparent(&e.traceparent));
    span
}

type Mount = Box<dyn FnOnce(&mut ServiceSet) + Send>;

/// A built service, ready for a host.
pub struct Service {
    pub name: &'static str,
    db: Db,
    outbox: OutboxSignal,
    migrations: Migrations,
    mounts: Vec<Mount>,
    tasks: Vec<Task>,
}

impl Service {
    /// A service on `w`'s database with these migrations.
    pub fn new(w: &Wiring, migrations: Migrations) -> Service {
        Service {
            name: w.name,
            db: w.db.clone(),
            outbox: w.outbox.clone(),
            migrations,
            mounts: Vec::new(),
            tasks: Vec::new(),
        }
    }

    /// Serves a generated gRPC server (or a layer around one).
    pub fn serve<S>(mut self, svc: S) -> Service
    where
        S: tower::Service<http::Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.mounts.push(Box::new(move |set: &mut ServiceSet| {
            set.add(svc);
        }));
        self
    }

    /// Adds background work.
    pub fn task(mut self, task: Task) -> Service {
        self.tasks.push(task);
        self
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}

/// What a service is built from: its database, the bus, the clock, its
/// outbox signal, its peers and its configuration section.
#[derive(Clone)]
pub struct Wiring {
    pub name: &'static str,
    pub db: Db,
    pub bus: Arc<dyn EventBus>,
    pub clock: SharedClock,
    /// Wake after a commit so the relay publishes at once.
    pub outbox: OutboxSignal,
    pub peers: Peers,
    settings: Arc<Settings>,
}

impl Wiring {
    /// The `[service.<name>]` section as the service's settings type.
    pub fn section<T: serde::de::DeserializeOwned + Default>(&self) -> anyhow::Result<T> {
        self.settings.service_section(self.name)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// How a service reaches the others: their addresses, and the internal
/// issuer that signs its calls. One channel per peer address, shared by
/// every client of that peer.
#[derive(Clone)]
pub struct Peers {
    caller: &'static str,
    urls: Arc<BTreeMap<String, String>>,
    /// Set when every peer is the host itself.
    this_server: Option<String>,
    resolve_every: Duration,
    issuer: Option<Arc<LocalIssuer>>,
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

impl Peers {
    /// The channel to `peer` (`peers.<peer>` in the configuration).
    pub fn channel(&self, peer: &str) -> anyhow::Result<Channel> {
        let url = self
            .urls
            .get(peer)
            .or(self.this_server.as_ref())
            .with_context(|| {
                format!(
                    "peers.{peer} (BTI__PEERS__{}) is required: {} calls it",
                    peer.to_uppercase(),
                    self.caller
                )
            })?;
        let mut channels = self.channels.lock().expect("channels poisoned");
        if let Some(ch) = channels.get(url) {
            return Ok(ch.clone());
        }
        let ch = crate::client::peer_channel(url, self.resolve_every)?;
        channels.insert(url.clone(), ch.clone());
        Ok(ch)
    }

    /// Credentials signing calls as this service with `scopes`.
    pub fn credentials(&self, scopes: &str) -> anyhow::Result<ServiceCredentials> {
        let issuer = self.issuer.clone().with_context(|| {
            format!(
                "internal.key_dir (BTI__INTERNAL__KEY_DIR) is required: {} calls other services",
                self.caller
            )
        })?;
        Ok(ServiceCredentials::new(issuer, self.caller, scopes))
    }

    pub fn directory(&self) -> anyhow::Result<crate::peers::Directory> {
        Ok(crate::peers::Directory::new(
            self.channel("directory")?,
            self.credentials("")?,
        ))
    }

    pub fn consent(&self) -> anyhow::Result<crate::peers::ConsentChecker> {
        Ok(crate::peers::ConsentChecker::new(
            self.channel("consent")?,
            self.credentials("")?,
        ))
    }

    /// The relay log, called with `scopes`.
    pub fn caselog(&self, scopes: &str) -> anyhow::Result<crate::peers::CaseLog> {
        Ok(crate::peers::CaseLog::new(
            self.channel("caselog")?,
            self.credentials(scopes)?,
        ))
    }

    /// Scheduling, allowed to fetch a recipient's invitation.
    pub fn scheduling(&self) -> anyhow::Result<crate::peers::Scheduling> {
        Ok(crate::peers::Scheduling::new(
            self.channel("scheduling")?,
            self.credentials(crate::peers::scheduling::SCOPE_INVITATIONS)?,
        ))
    }
}

/// Where a host's services find their peers.
#[derive(Clone)]
pub enum PeerUrls {
    /// Every peer is this very server (`bti dev`, tests).
    ThisServer,
    /// Configured addresses (`peers.<service>`).
    Configured(BTreeMap<String, String>),
}

/// What a host is made of besides its services.
pub struct HostOptions {
    pub settings: Settings,
    pub verifier: Arc<Verifier>,
    pub bus: Arc<dyn EventBus>,
    pub clock: SharedClock,
    pub peers: PeerUrls,
    /// Signs service-to-service calls.
    pub issuer: Option<Arc<LocalIssuer>>,
    /// How often each service's database is probed for health.
    pub probe_every: Duration,
}

/// A bound, not yet serving host.
pub struct Host {
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    options: HostOptions,
    settings: Arc<Settings>,
    urls: Arc<BTreeMap<String, String>>,
    this_server: Option<String>,
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

impl Host {
    /// Binds `settings.listen`.
    pub async fn bind(options: HostOptions) -> anyhow::Result<Host> {
        let listen = options.settings.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listen on {listen}"))?;
        Self::on(listener, options)
    }

    /// Uses an already bound listener.
    pub fn on(listener: tokio::net::TcpListener, options: HostOptions) -> anyhow::Result<Host> {
        let local_addr = listener.local_addr()?;
        let (urls, this_server) = match &options.peers {
            PeerUrls::ThisServer => (
                BTreeMap::new(),
                Some(format!("http://127.0.0.1:{}", local_addr.port())),
            ),
            PeerUrls::Configured(urls) => (urls.clone(), None),
        };
        Ok(Host {
            listener,
            local_addr,
            settings: Arc::new(options.settings.clone()),
            urls: Arc::new(urls),
            this_server,
            channels: Arc::new(Mutex::new(HashMap::new())),
            options,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The wiring for service `name` on `db`.
    pub fn wiring(&self, name: &'static str, db: Db) -> Wiring {
        Wiring {
            name,
            db,
            bus: self.options.bus.clone(),
            clock: self.options.clock.clone(),
            outbox: OutboxSignal::default(),
            peers: Peers {
                caller: name,
                urls: self.urls.clone(),
                this_server: self.this_server.clone(),
                resolve_every: Duration::from_secs(self.settings.peer_resolve_secs.max(1)),
                issuer: self.options.issuer.clone(),
                channels: self.channels.clone(),
            },
            settings: self.settings.clone(),
        }
    }

    /// Serves `services` (NOT_SERVING until [`Running::open`]), migrates their
    /// databases and starts their relays, tasks and probes. The server stops
    /// when `shutdown` resolves or [`Running::shutdown`] is called.
    pub async fn start(
        self,
        services: Vec<Service>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Running> {
        let mut set = ServiceSet::new();
        let mut mounted = Vec::new();
        for mut s in services {
            let before = set.names().len();
            for mount in s.mounts.drain(..) {
                mount(&mut set);
            }
            let grpc_names = set.names()[before..].to_vec();
            mounted.push((s, grpc_names));
        }
        let server = crate::server::start(
            self.listener,
            &self.options.settings.server,
            self.options.verifier.clone(),
            set,
            shutdown,
        )
        .await?;
        let health = server.health();
        let (stop_tx, stop_rx) = watch::channel(false);
        let (open_tx, open_rx) = watch::channel(false);
        let stop = Shutdown(stop_rx);
        let mut handles = Vec::new();
        let mut dbs = Vec::new();
        let mut sources = crate::metrics::Sources::default();
        for (s, grpc_names) in mounted {
            crate::telemetry::register_backend(
                s.name,
                match s.db {
                    Db::Postgres(_) => "postgresql",
                    Db::Sqlite(_) => "sqlite",
                },
            );
            sources.add_db(s.name, s.db.clone());
            s.db.migrate(&s.migrations)
                .await
                .with_context(|| format!("migrate the {} database", s.name))?;
            handles.push(tokio::spawn(crate::telemetry::in_service(
                s.name.into(),
                crate::events::run_relay(
                    s.db.clone(),
                    self.options.bus.clone(),
                    s.outbox.clone(),
                    stop.clone().wait(),
                ),
            )));
            for task in s.tasks {
                handles.push(supervise(s.name, task, health.clone(), stop.clone()));
            }
            handles.push(tokio::spawn(probe(
                s.name,
                s.db.clone(),
                grpc_names,
                health.clone(),
                self.options.probe_every,
                open_rx.clone(),
                stop.clone(),
            )));
            dbs.push(s.db);
        }
        let admin_addr = match self.options.settings.server.admin_listen {
            Some(addr) => {
                let listener = crate::metrics::bind_admin(addr).await?;
                let bound = listener.local_addr()?;
                handles.push(crate::metrics::serve_admin(
                    listener,
                    sources,
                    stop.clone().wait(),
                ));
                tracing::info!(addr = %bound, "metrics at /metrics");
                Some(bound)
            }
            None => None,
        };
        Ok(Running {
            local_addr: self.local_addr,
            admin_addr,
            server: Some(server),
            open: open_tx,
            stop: stop_tx,
            handles,
            dbs,
        })
    }
}

/// Runs `task` until shutdown, restarting it with backoff when it stops
/// early, and reports it in health as `name`.
fn supervise(
    service: &'static str,
    task: Task,
    health: tonic_health::server::HealthReporter,
    stop: Shutdown,
) -> JoinHandle<()> {
    let name = format!("{service}/{}", task.name);
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            health
                .set_service_status(&name, ServingStatus::Serving)
                .await;
            let run = crate::telemetry::in_service(service.into(), (task.run)(stop.clone()));
            let result = tokio::spawn(run).await;
            if stop.is_set() {
                return;
            }
            crate::metrics::global()
                .task_restarts
                .with_label_values(&[name.as_str()])
                .inc();
            match result {
                Ok(Ok(())) => tracing::error!(task = %name, "task stopped; restarting"),
                Ok(Err(e)) => {
                    tracing::error!(task = %name, error = %format!("{e:#}"), "task failed; restarting")
                }
                Err(e) => tracing::error!(task = %name, error = %e, "task panicked; restarting"),
            }
            health
                .set_service_status(&name, ServingStatus::NotServing)
                .await;
            tokio::select! {
                _ = stop.clone().wait() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    })
}

/// Follows `db`: NOT_SERVING while it cannot be reached, SERVING again when
/// it answers (once the host is open).
async fn probe(
    service: &'static str,
    db: Db,
    grpc_names: Vec<String>,
    health: tonic_health::server::HealthReporter,
    every: Duration,
    mut open: watch::Receiver<bool>,
    stop: Shutdown,
) {
    let stopped = stop.clone().wait();
    tokio::pin!(stopped);
    tokio::select! {
        _ = &mut stopped => return,
        _ = open.wait_for(|o| *o) => {}
    }
    let mut up = true;
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = tokio::time::sleep(every) => {}
        }
        let ok = db.ping(every.max(Duration::from_secs(1))).await;
        let status = match (&ok, up) {
            (Err(e), true) => {
                tracing::error!(service, error = %format!("{e:#}"), "database unreachable: NOT_SERVING");
                ServingStatus::NotServing
            }
            (Ok(()), false) => {
                tracing::info!(service, "database reachable again: SERVING");
                ServingStatus::Serving
            }
            _ => continue,
        };
        up = ok.is_ok();
        for name in &grpc_names {
            health.set_service_status(name, status).await;
        }
    }
}

/// A running host.
pub struct Running {
    pub local_addr: SocketAddr,
    /// Where `/metrics` is served (`server.admin_listen`), if anywhere.
    pub admin_addr: Option<SocketAddr>,
    server: Option<crate::server::Running>,
    open: watch::Sender<bool>,
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
    dbs: Vec<Db>,
}

impl Running {
    /// Reports every service SERVING: the host takes calls for real.
    pub async fn open(&self) {
        if let Some(s) = &self.server {
            s.set_serving().await;
        }
        let _ = self.open.send(true);
    }

    /// Waits until the server stops by itself (its shutdown signal fired),
    /// then stops the rest.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let result = match self.server.take() {
            Some(s) => s.wait().await,
            None => Ok(()),
        };
        self.finish().await;
        result
    }

    /// Stops accepting, drains in-flight calls, then stops the rest.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let result = match self.server.take() {
            Some(s) => s.shutdown().await,
            None => Ok(()),
        };
        self.finish().await;
        result
    }

    async fn finish(&mut self) {
        let _ = self.stop.send(true);
        for h in self.handles.drain(..) {
            let _ = h.await;
        }
        for db in &self.dbs {
            db.close().await;
        }
        tracing::info!("stopped");
    }
}
