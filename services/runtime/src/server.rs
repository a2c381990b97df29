//! The gRPC server every process runs, whatever services it mounts: per-service
//! health (NOT_SERVING until the caller says the service is ready), server
//! reflection v1 and v1alpha limited to what is mounted, authentication,
//! a request timeout, a global concurrency limit, a span, metrics and a log
//! line per call (see `observe`), and graceful
//! shutdown that drains in-flight calls.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::auth::{AuthLayer, Verifier};
use crate::config::ServerConfig;

/// The gRPC services one process mounts.
#[derive(Default)]
pub struct ServiceSet {
    routes: RoutesBuilder,
    names: Vec<String>,
}

impl ServiceSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add<S>(&mut self, svc: S) -> &mut Self
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
        self.names.push(S::NAME.to_string());
        self.routes.add_service(svc);
        self
    }

    /// Fully qualified names of the mounted services.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// A started server.
pub struct Running {
    pub local_addr: SocketAddr,
    health: HealthReporter,
    names: Vec<String>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// The health reporter, for reporting services and tasks by name.
    pub fn health(&self) -> HealthReporter {
        self.health.clone()
    }

    /// Marks every mounted service (and the server as a whole) SERVING.
    pub async fn set_serving(&self) {
        self.set_all(ServingStatus::Serving).await;
    }

    pub async fn set_not_serving(&self) {
        self.set_all(ServingStatus::NotServing).await;
    }

    async fn set_all(&self, status: ServingStatus) {
        for name in &self.names {
            self.health.set_service_status(name, status).await;
        }
        self.health.set_service_status("", status).await;
    }

    /// Stops accepting, drains in-flight calls and waits for the server.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await?
    }

    /// Waits until the server stops by itself (its shutdown signal fired).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await?
    }
}

/// Starts serving `set` on `listener`. Services report NOT_SERVING until
/// [`Running::set_serving`]; the server stops when `shutdown` resolves or
/// [`Running::shutdown`] is called, waiting at most `shutdown_grace_secs` for
/// in-flight calls.
pub async fn start(
    listener: TcpListener,
    cfg: &ServerConfig,
    verifier: Arc<Verifier>,
    mut set: ServiceSet,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let local_addr = listener.local_addr()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    let names = set.names.clone();

    let mut reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(bti_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name("grpc.health.v1.Health")
        .with_service_name("grpc.reflection.v1.ServerReflection");
    for name in &names {
        reflection = reflection.with_service_name(name.clone());
    }
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(bti_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name("grpc.health.v1.Health")
        .with_service_name("grpc.reflection.v1alpha.ServerReflection");
    let reflection_v1alpha = names
        .iter()
        .fold(reflection_v1alpha, |b, n| b.with_service_name(n.clone()));
    set.routes.add_service(health_service);
    set.routes.add_service(reflection.build_v1()?);
    set.routes.add_service(reflection_v1alpha.build_v1alpha()?);

    for name in names.iter().map(String::as_str).chain([""]) {
        health
            .set_service_status(name, ServingStatus::NotServing)
            .await;
    }

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (fired_tx, fired_rx) = oneshot::channel::<()>();
    let signal = async move {
        tokio::select! {
            _ = shutdown => {}
            _ = stop_rx => {}
        }
        tracing::info!("shutting down: draining in-flight calls");
        let _ = fired_tx.send(());
    };
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &cfg.tls {
        use tonic::transport::{Certificate, Identity, ServerTlsConfig};
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| anyhow::anyhow!("read {}: {e}", p.display()))
        };
        let mut config = ServerTlsConfig::new().identity(Identity::from_pem(
            read(&tls.cert_path)?,
            read(&tls.key_path)?,
        ));
        if let Some(ca) = &tls.client_ca_path {
            config = config
                .client_ca_root(Certificate::from_pem(read(ca)?))
                .client_auth_optional(true);
        }
        builder = builder.tls_config(config)?;
    }
    let router = builder
        .timeout(Duration::from_secs(cfg.request_timeout_secs))
        .layer(crate::observe::ObserveLayer)
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            cfg.concurrency_limit,
        ))
        .layer(AuthLayer::new(verifier))
        .layer(crate::screen::ScreenLayer::new()?)
        .add_routes(set.routes.routes());
    // No Nagle: a response spanning several segments would otherwise wait on
    // the client's delayed ACK (~40 ms); found by bti-bench.
    let incoming = tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)));
    let grace = Duration::from_secs(cfg.shutdown_grace_secs);
    let task = tokio::spawn(async move {
        let server = router.serve_with_incoming_shutdown(incoming, signal);
        tokio::pin!(server);
        tokio::select! {
            biased;
            r = &mut server => return r.map_err(anyhow::Error::from),
            _ = fired_rx => {}
        }
        // The signal fired: tonic stops accepting and drains; bound the wait.
        match tokio::time::timeout(grace, server).await {
            Ok(r) => r.map_err(anyhow::Error::from),
            Err(_) => {
                tracing::warn!("shutdown grace elapsed with calls still in flight");
                Ok(())
            }
        }
    });
    Ok(Running {
        local_addr,
        health,
        names,
        stop: Some(stop_tx),
        task,
    })
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
