//! Layered configuration: built-in defaults, then an optional TOML file, then
//! `BTI__…` environment variables (`__` separates levels, so
//! `BTI__DATABASE__URL` sets `database.url`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::auth::AuthConfig;

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Settings {
    /// Address the gRPC server listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub events: EventsConfig,
    #[serde(default)]
    pub internal: InternalConfig,
    /// Addresses of the other services this one calls, by service name (for
    /// example `directory = "http://bti-directory:50051"`). `bti dev` points
    /// them all at itself.
    #[serde(default)]
    pub peers: std::collections::BTreeMap<String, String>,
    /// How often a peer's name is resolved again, so calls follow its
    /// replicas (a Kubernetes headless Service) as they come and go.
    #[serde(default = "default_resolve")]
    pub peer_resolve_secs: u64,
    /// Settings of individual services, by service name (for example
    /// `[service.gateway]`, `BTI__SERVICE__GATEWAY__…`); each service
    /// defines and documents its own section.
    #[serde(default)]
    pub service: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Service-to-service identity: the internal issuer's key, mounted from a
/// secret. Every service also lists this issuer under `auth.issuers` (its
/// `<issuer>.jwks.json` in the same directory).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct InternalConfig {
    /// Directory holding `<issuer>.ed25519.pk8`; required by services that call others.
    #[serde(default)]
    pub key_dir: Option<PathBuf>,
    #[serde(default = "default_internal_issuer")]
    pub issuer: String,
}

fn default_internal_issuer() -> String {
    crate::auth::INTERNAL_ISSUER.into()
}

impl Default for InternalConfig {
    fn default() -> Self {
        InternalConfig {
            key_dir: None,
            issuer: default_internal_issuer(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DatabaseConfig {
    /// `postgres://…` or `sqlite://path`. Required by `bti serve`.
    #[serde(default)]
    pub url: Option<String>,
    /// Maximum pool connections.
    #[serde(default = "default_pool")]
    pub max_connections: u32,
    /// How long a call waits for a connection before it is UNAVAILABLE.
    #[serde(default = "default_acquire")]
    pub acquire_timeout_secs: u64,
}

fn default_acquire() -> u64 {
    5
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ServerConfig {
    /// Per-request timeout, seconds (a shorter `grpc-timeout` from the client wins).
    #[serde(default = "default_timeout")]
    pub request_timeout_secs: u64,
    /// Requests handled at once across all connections; more wait.
    #[serde(default = "default_concurrency")]
    pub concurrency_limit: usize,
    /// How long shutdown waits for in-flight calls before giving up.
    #[serde(default = "default_drain")]
    pub shutdown_grace_secs: u64,
    /// Serve TLS (and accept client certificates) instead of plaintext h2c.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// How often each service's database is probed; health is NOT_SERVING
    /// while it cannot be reached.
    #[serde(default = "default_probe")]
    pub db_probe_secs: u64,
    /// Admin port serving Prometheus metrics at `/metrics` (for example
    /// `0.0.0.0:9464`); off when unset.
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
}

fn default_probe() -> u64 {
    2
}

/// Server TLS. With `client_ca_path`, clients may present a certificate
/// issued by that CA (mutual TLS); it stays optional at the handshake so
/// internal callers without one still connect, and services that require one
/// (the gateway, for clients with a pinned certificate) check it per call.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert_path: PathBuf,
    /// PEM private key.
    pub key_path: PathBuf,
    /// PEM CA bundle that client certificates must chain to.
    #[serde(default)]
    pub client_ca_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LogConfig {
    /// `text` or `json`.
    #[serde(default = "default_format")]
    pub format: String,
    /// `tracing` filter directive, overridden by `RUST_LOG`.
    #[serde(default = "default_filter")]
    pub filter: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EventsConfig {
    /// NATS server for the distributed bus; empty means the in-process bus.
    #[serde(default)]
    pub nats_url: Option<String>,
    /// JetStream stream that holds every BTI event.
    #[serde(default = "default_stream")]
    pub stream: String,
}

fn default_listen() -> SocketAddr {
    "127.0.0.1:50051".parse().unwrap()
}
fn default_resolve() -> u64 {
    10
}
fn default_pool() -> u32 {
    16
}
fn default_timeout() -> u64 {
    30
}
fn default_concurrency() -> usize {
    512
}
fn default_drain() -> u64 {
    20
}
fn default_format() -> String {
    "text".into()
}
fn default_filter() -> String {
    "info".into()
}
fn default_stream() -> String {
    "BTI".into()
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            max_connections: default_pool(),
            acquire_timeout_secs: default_acquire(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            request_timeout_secs: default_timeout(),
            concurrency_limit: default_concurrency(),
            shutdown_grace_secs: default_drain(),
            tls: None,
            db_probe_secs: default_probe(),
            admin_listen: None,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: default_format(),
            filter: default_filter(),
        }
    }
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            nats_url: None,
            stream: default_stream(),
        }
    }
}

impl Settings {
    /// The `[service.<name>]` section as the service's own settings type;
    /// absent fields take its defaults.
    pub fn service_section<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
    ) -> anyhow::Result<T> {
        match self.service.get(name) {
            None => Ok(T::default()),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| anyhow::anyhow!("service.{name}: {e}")),
        }
    }

    /// Loads defaults → `file` (if given) → `BTI__…` environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        Self::load_with_env(file, std::env::vars())
    }

    /// Like [`Settings::load`] with an explicit environment, for tests.
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Settings> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(PathBuf::from(path)).required(true));
        }
        let env: std::collections::HashMap<String, String> = env.into_iter().collect();
        builder = builder.add_source(
            config::Environment::with_prefix("BTI")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(env)),
        );
        Ok(builder.build()?.try_deserialize()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_then_file_then_env() {
        let dir = std::env::temp_dir().join(format!("bti-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bti.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\n[database]\nurl = \"sqlite://file.db\"\n[server]\nconcurrency_limit = 7\n",
        )
        .unwrap();
        let s = Settings::load_with_env(
            Some(&file),
            [
                (
                    "BTI__DATABASE__URL".to_string(),
                    "postgres://db/x".to_string(),
                ),
                ("BTI__LOG__FORMAT".to_string(), "json".to_string()),
                ("UNRELATED".to_string(), "1".to_string()),
            ],
        )
        .unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.database.url.as_deref(), Some("postgres://db/x"));
        assert_eq!(s.server.concurrency_limit, 7);
        assert_eq!(s.server.request_timeout_secs, 30);
        assert_eq!(s.log.format, "json");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_file_is_an_error() {
        assert!(Settings::load_with_env(Some(Path::new("/nonexistent/bti.toml")), []).is_err());
    }
}
