//! Calling another BTI service: a lazily connected channel to its address and
//! an interceptor that signs each call as this service (a short-lived token
//! from the internal issuer) and carries the caller's trace context.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};

use crate::auth::{LocalIssuer, personas};

/// A channel that connects on first use and reconnects as needed.
pub fn lazy_channel(url: &str) -> anyhow::Result<Channel> {
    Ok(endpoint(url)?.connect_lazy())
}

/// The channel to a peer service, spread over all of its replicas:
///
/// - `http://a:50051,http://b:50051`: an explicit list, balanced;
/// - `http://<name>:<port>` where the name resolves to several addresses (a
///   Kubernetes headless Service): every address becomes an endpoint, and the
///   name is resolved again every `resolve_every`, so replicas that come and
///   go are followed; calls go to the less loaded of two ready endpoints
///   (power of two choices);
/// - an IP address, or an `https://` URL (TLS needs the name): one endpoint.
///
/// A ClusterIP Service behind one long-lived HTTP/2 connection would pin
/// every call to the pod that answered first; this is why peers are resolved
/// here (or handed to a service mesh, see the README).
pub fn peer_channel(spec: &str, resolve_every: Duration) -> anyhow::Result<Channel> {
    let urls: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    match urls.as_slice() {
        [] => anyhow::bail!("a peer address is empty"),
        [one] => {
            let uri: http::Uri = one.parse()?;
            let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
            let literal = host.parse::<std::net::IpAddr>().is_ok();
            if literal || uri.scheme_str() == Some("https") {
                return lazy_channel(one);
            }
            let port = uri.port_u16().unwrap_or(80);
            let (channel, tx) = Channel::balance_channel::<std::net::SocketAddr>(64);
            let (host, scheme) = (
                host.to_string(),
                uri.scheme_str().unwrap_or("http").to_string(),
            );
            tokio::spawn(async move {
                let mut known = std::collections::BTreeSet::new();
                loop {
                    match tokio::net::lookup_host((host.as_str(), port)).await {
                        Ok(found) => {
                            let found: std::collections::BTreeSet<_> = found.collect();
                            for change in address_changes(&known, &found) {
                                let change = match change {
                                    AddressChange::Insert(a) => {
                                        match endpoint(&format!("{scheme}://{a}")) {
                                            Ok(e) => {
                                                tonic::transport::channel::Change::Insert(a, e)
                                            }
                                            Err(_) => continue,
                                        }
                                    }
                                    AddressChange::Remove(a) => {
                                        tonic::transport::channel::Change::Remove(a)
                                    }
                                };
                                if tx.send(change).await.is_err() {
                                    return; // the channel is gone
                                }
                            }
                            known = found;
                        }
                        Err(e) => {
                            tracing::warn!(peer = %host, error = %e, "cannot resolve a peer; keeping its known addresses")
                        }
                    }
                    tokio::time::sleep(resolve_every).await;
                }
            });
            Ok(channel)
        }
        many => Ok(Channel::balance_list(
            many.iter()
                .map(|u| endpoint(u))
                .collect::<anyhow::Result<Vec<_>>>()?
                .into_iter(),
        )),
    }
}

/// How a peer's addresses changed between two resolutions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressChange {
    Insert(std::net::SocketAddr),
    Remove(std::net::SocketAddr),
}

/// The changes that turn `known` into `found`.
pub fn address_changes(
    known: &std::collections::BTreeSet<std::net::SocketAddr>,
    found: &std::collections::BTreeSet<std::net::SocketAddr>,
) -> Vec<AddressChange> {
    found
        .difference(known)
        .map(|a| AddressChange::Insert(*a))
        .chain(known.difference(found).map(|a| AddressChange::Remove(*a)))
        .collect()
}

fn endpoint(url: &str) -> anyhow::Result<Endpoint> {
    Ok(Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30)))
}

/// The current `authorization` value and when its token expires.
type CachedToken = Arc<Mutex<Option<(MetadataValue<tonic::metadata::Ascii>, i64)>>>;

const TOKEN_LIFETIME_SECS: i64 = 300;
const RENEW_BEFORE_SECS: i64 = 60;

/// Signs outgoing calls as the internal service `name` with `scopes`.
#[derive(Clone)]
pub struct ServiceCredentials {
    issuer: Arc<LocalIssuer>,
    name: String,
    scopes: String,
    cached: CachedToken,
}

impl ServiceCredentials {
    pub fn new(issuer: Arc<LocalIssuer>, name: &str, scopes: &str) -> Self {
        ServiceCredentials {
            issuer,
            name: name.to_string(),
            scopes: scopes.to_string(),
            cached: Arc::new(Mutex::new(None)),
        }
    }

    fn header(&self) -> Result<MetadataValue<tonic::metadata::Ascii>, tonic::Status> {
        let now = chrono::Utc::now().timestamp();
        let mut cached = self.cached.lock().expect("token cache poisoned");
        if let Some((value, exp)) = cached.as_ref()
            && *exp - RENEW_BEFORE_SECS > now
        {
            return Ok(value.clone());
        }
        let exp = now + TOKEN_LIFETIME_SECS;
        let token = self
            .issuer
            .sign(crate::auth::Claims {
                exp,
                ..personas::service(&self.name, &self.scopes)
            })
            .map_err(|_| tonic::Status::internal("cannot sign service token"))?;
        let value: MetadataValue<_> = format!("Bearer {token}")
            .parse()
            .map_err(|_| tonic::Status::internal("token is not ASCII"))?;
        *cached = Some((value.clone(), exp));
        Ok(value)
    }
}

impl Interceptor for ServiceCredentials {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let header = self.header()?;
        req.metadata_mut().insert("authorization", header);
        if let Some(left) = crate::deadline::remaining() {
            if left.is_zero() {
                return Err(tonic::Status::deadline_exceeded(
                    "the caller's deadline has passed",
                ));
            }
            req.set_timeout(left);
        }
        let traceparent = crate::telemetry::current_traceparent();
        if let Ok(v) = traceparent.parse()
            && !traceparent.is_empty()
        {
            req.metadata_mut().insert("traceparent", v);
        }
        Ok(req)
    }
}

/// Wraps `message` in a request with `authorization: Bearer <token>`.
pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn credentials() -> (std::path::PathBuf, ServiceCredentials) {
        let dir = std::env::temp_dir().join(format!("bti-client-{}", uuid::Uuid::new_v4()));
        let issuer = Arc::new(LocalIssuer::open(&dir).unwrap());
        (dir, ServiceCredentials::new(issuer, "caselog", ""))
    }

    #[test]
    fn resolutions_become_inserts_and_removes() {
        let a = |p: u16| std::net::SocketAddr::from(([10, 0, 0, 1], p));
        let known: std::collections::BTreeSet<_> = [a(1), a(2)].into();
        let found: std::collections::BTreeSet<_> = [a(2), a(3)].into();
        assert_eq!(
            address_changes(&known, &found),
            [AddressChange::Insert(a(3)), AddressChange::Remove(a(1))]
        );
        assert!(address_changes(&found, &found).is_empty());
    }

    /// Two replicas of a peer behind an explicit list: calls reach both.
    #[tokio::test]
    async fn calls_are_spread_over_every_replica() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tonic_health::pb::HealthCheckRequest;
        use tonic_health::pb::health_client::HealthClient;
        let mut urls = Vec::new();
        let mut counters = Vec::new();
        for _ in 0..2 {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            urls.push(format!("http://{}", listener.local_addr().unwrap()));
            let count = Arc::new(AtomicUsize::new(0));
            counters.push(count.clone());
            let (_, health) = tonic_health::server::health_reporter();
            let counting = tower::util::MapRequestLayer::new(move |r: http::Request<_>| {
                count.fetch_add(1, Ordering::SeqCst);
                r
            });
            tokio::spawn(
                tonic::transport::Server::builder()
                    .layer(counting)
                    .add_service(health)
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
            );
        }
        let channel = peer_channel(&urls.join(","), Duration::from_secs(1)).unwrap();
        for _ in 0..40 {
            HealthClient::new(channel.clone())
                .check(HealthCheckRequest::default())
                .await
                .unwrap();
        }
        let seen: Vec<usize> = counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
        assert_eq!(seen.iter().sum::<usize>(), 40);
        assert!(
            seen.iter().all(|n| *n > 0),
            "every replica got calls: {seen:?}"
        );
    }

    /// A name is resolved to its addresses (here `localhost`).
    #[tokio::test]
    async fn a_resolved_name_reaches_its_addresses() {
        use tonic_health::pb::HealthCheckRequest;
        use tonic_health::pb::health_client::HealthClient;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (_, health) = tonic_health::server::health_reporter();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let channel = peer_channel(
            &format!("http://localhost:{port}"),
            Duration::from_millis(200),
        )
        .unwrap();
        // `localhost` may resolve to ::1 too, where nothing listens: the
        // balancer keeps to the endpoint that is ready.
        let mut client = HealthClient::new(channel);
        let answer = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Ok(r) = client.check(HealthCheckRequest::default()).await {
                    return r;
                }
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the resolved endpoint answers");
        assert_eq!(answer.into_inner().status, 1);
    }

    #[tokio::test]
    async fn peer_calls_carry_the_callers_remaining_deadline() {
        let (dir, mut creds) = credentials();
        let outside = creds.call(tonic::Request::new(())).unwrap();
        assert!(outside.metadata().get("grpc-timeout").is_none());
        assert!(outside.metadata().get("authorization").is_some());
        let inside = crate::deadline::scope(Some(Instant::now() + Duration::from_secs(2)), async {
            creds.call(tonic::Request::new(())).unwrap()
        })
        .await;
        let timeout = inside
            .metadata()
            .get("grpc-timeout")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let left = crate::deadline::parse_grpc_timeout(&timeout).unwrap();
        assert!(
            left <= Duration::from_secs(2) && left > Duration::from_secs(1),
            "{timeout}"
        );
        // A passed deadline fails fast instead of calling.
        let late = crate::deadline::scope(Some(Instant::now()), async {
            creds.call(tonic::Request::new(()))
        })
        .await;
        assert_eq!(late.unwrap_err().code(), tonic::Code::DeadlineExceeded);
        let _ = std::fs::remove_dir_all(dir);
    }
}
