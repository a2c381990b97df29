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
    Ok(Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .connect_lazy())
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
