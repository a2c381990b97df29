//! Prometheus metrics of a process, served as text on the admin port
//! (`server.admin_listen`, `GET /metrics`), off the gRPC port.
//!
//! Labels are only ever service and method names, status codes, task and
//! consumer names, stream names and client ids: never anything a request
//! carries about a person.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::db::Db;

/// Every metric the runtime keeps; one set per process ([`global`]).
pub struct Metrics {
    pub registry: Registry,
    /// `bti_rpc_server_calls_total{service,method,code}`.
    pub calls: IntCounterVec,
    /// `bti_rpc_server_duration_seconds{service,method}`.
    pub duration: HistogramVec,
    /// `bti_rpc_server_in_flight{service}`.
    pub in_flight: IntGaugeVec,
    /// `bti_quota_rejections_total{client}`.
    pub quota_rejections: IntCounterVec,
    /// `bti_task_rounds_total{task,outcome}`: rounds of periodic sweeps.
    pub task_rounds: IntCounterVec,
    /// `bti_task_restarts_total{task}`: background tasks that stopped.
    pub task_restarts: IntCounterVec,
    /// `bti_events_handled_total{consumer,outcome}`.
    pub events_handled: IntCounterVec,
    /// `bti_consumer_pending_events{consumer,stream}`: published, not yet handled.
    pub consumer_pending: IntGaugeVec,
    /// `bti_outbox_waiting_events{service}`.
    pub outbox_waiting: IntGaugeVec,
    /// `bti_outbox_oldest_age_seconds{service}`.
    pub outbox_oldest: GaugeVec,
    /// `bti_db_pool_connections{service,state}`: state `in_use`, `idle`, `max`.
    pub pool: IntGaugeVec,
    /// `bti_db_pool_timeouts_total{service}`: calls that waited for a
    /// connection until `database.acquire_timeout_secs`.
    pub pool_timeouts: IntCounterVec,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("registered once");
    c
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(g.clone())).expect("registered once");
    g
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "bti_rpc_server_duration_seconds",
                "Time from a call's arrival to its status, by service and method.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["service", "method"],
        )
        .expect("valid metric");
        r.register(Box::new(duration.clone()))
            .expect("registered once");
        let outbox_oldest = GaugeVec::new(
            Opts::new(
                "bti_outbox_oldest_age_seconds",
                "Age of the oldest outbox event not yet published (0 when none waits).",
            ),
            &["service"],
        )
        .expect("valid metric");
        r.register(Box::new(outbox_oldest.clone()))
            .expect("registered once");
        Metrics {
            calls: counter(
                &r,
                "bti_rpc_server_calls_total",
                "gRPC calls served, by service, method and status code.",
                &["service", "method", "code"],
            ),
            duration,
            in_flight: gauge(
                &r,
                "bti_rpc_server_in_flight",
                "gRPC calls being served now.",
                &["service"],
            ),
            quota_rejections: counter(
                &r,
                "bti_quota_rejections_total",
                "Calls refused RESOURCE_EXHAUSTED by a client's quota.",
                &["client"],
            ),
            task_rounds: counter(
                &r,
                "bti_task_rounds_total",
                "Rounds of periodic background sweeps, by outcome (ok, failed).",
                &["task", "outcome"],
            ),
            task_restarts: counter(
                &r,
                "bti_task_restarts_total",
                "Background tasks that stopped or failed and were restarted.",
                &["task"],
            ),
            events_handled: counter(
                &r,
                "bti_events_handled_total",
                "Events handed to a consumer, by outcome (ok, failed).",
                &["consumer", "outcome"],
            ),
            consumer_pending: gauge(
                &r,
                "bti_consumer_pending_events",
                "Events on the bus a consumer has not yet handled (its lag).",
                &["consumer", "stream"],
            ),
            outbox_waiting: gauge(
                &r,
                "bti_outbox_waiting_events",
                "Committed outbox events not yet published to the bus.",
                &["service"],
            ),
            outbox_oldest,
            pool: gauge(
                &r,
                "bti_db_pool_connections",
                "Database pool connections by state (in_use, idle, max).",
                &["service", "state"],
            ),
            pool_timeouts: counter(
                &r,
                "bti_db_pool_timeouts_total",
                "Calls that gave up waiting for a database connection.",
                &["service"],
            ),
            registry: r,
        }
    }
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(Metrics::new)
}

/// Counts a call refused by `client`'s quota.
pub fn quota_rejected(client: &str) {
    global().quota_rejections.with_label_values(&[client]).inc();
}

/// Counts a call of the current service that timed out waiting for a
/// database connection.
pub(crate) fn pool_timed_out() {
    let service = crate::telemetry::current_service();
    global()
        .pool_timeouts
        .with_label_values(&[service.as_deref().unwrap_or("unknown")])
        .inc();
}

/// What a host reads when it is scraped: its services' databases.
#[derive(Clone, Default)]
pub struct Sources {
    dbs: Vec<(&'static str, Db)>,
}

impl Sources {
    pub fn add_db(&mut self, service: &'static str, db: Db) {
        self.dbs.push((service, db));
    }

    /// Reads the outbox and pool gauges from the databases.
    async fn refresh(&self) {
        let m = global();
        for (service, db) in &self.dbs {
            let (in_use, idle, max) = db.pool_state();
            for (state, v) in [("in_use", in_use), ("idle", idle), ("max", max)] {
                m.pool.with_label_values(&[service, state]).set(v);
            }
            match db.outbox_backlog().await {
                Ok((waiting, oldest)) => {
                    m.outbox_waiting.with_label_values(&[service]).set(waiting);
                    m.outbox_oldest
                        .with_label_values(&[service])
                        .set(oldest.as_secs_f64());
                }
                Err(e) => {
                    tracing::debug!(service, error = %format!("{e:#}"), "outbox backlog unreadable")
                }
            }
        }
    }
}

/// The Prometheus text of every metric, after reading `sources`.
pub async fn render(sources: &Sources) -> String {
    sources.refresh().await;
    let mut out = Vec::new();
    let _ = TextEncoder::new().encode(&global().registry.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Serves `GET /metrics` on `listener` until `stop` resolves.
pub fn serve_admin(
    listener: tokio::net::TcpListener,
    sources: Sources,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let sources = Arc::new(sources);
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let sources = sources.clone();
            async move {
                (
                    [(
                        http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    render(&sources).await,
                )
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "admin server failed");
        }
    })
}

/// Binds the admin port.
pub async fn bind_admin(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    use anyhow::Context as _;
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("server.admin_listen: listen on {addr}"))
}
