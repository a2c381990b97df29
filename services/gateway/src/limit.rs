//! Per-client quotas as a tower layer around the gateway's gRPC service: a
//! token bucket per client id (its registered rate, a second's worth of
//! burst) and a cap on its calls in flight. Over either, the call is answered
//! RESOURCE_EXHAUSTED with `RetryInfo` before it reaches the handler. The
//! layer sits inside authentication, so it keys on the verified client id,
//! and records that id on the request span (never anything about the subject).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bti_runtime::ApiError;
use bti_runtime::auth::Principal;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::server::NamedService;

struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
    in_flight: Arc<Semaphore>,
}

/// Buckets kept before idle ones are forgotten.
const MAX_BUCKETS: usize = 10_000;
/// A bucket unused this long has refilled (rates are at least 1/s).
const IDLE: Duration = Duration::from_secs(60);

/// Quota state shared by the layer and the API (which tells it each client's
/// registered rate when it loads the registration).
pub struct Limits {
    default_rate: u32,
    max_in_flight: usize,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limits {
    pub fn new(default_rate: u32, max_in_flight: usize) -> Arc<Self> {
        Arc::new(Limits {
            default_rate: default_rate.max(1),
            max_in_flight: max_in_flight.max(1),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    fn bucket<'a>(&self, map: &'a mut HashMap<String, Bucket>, client: &str) -> &'a mut Bucket {
        if map.len() >= MAX_BUCKETS && !map.contains_key(client) {
            // Buckets are made before the registration is checked, so any
            // validly signed client id makes one: forget the idle ones (a
            // refilled bucket with nothing in flight is the same as none).
            let now = Instant::now();
            let max_in_flight = self.max_in_flight;
            map.retain(|_, b| {
                b.in_flight.available_permits() < max_in_flight || now.duration_since(b.last) < IDLE
            });
        }
        map.entry(client.to_string()).or_insert_with(|| Bucket {
            rate: f64::from(self.default_rate),
            tokens: f64::from(self.default_rate),
            last: Instant::now(),
            in_flight: Arc::new(Semaphore::new(self.max_in_flight)),
        })
    }

    /// The client's registered requests per second (takes effect at once).
    pub fn set_rate(&self, client: &str, per_second: u32) {
        let mut map = self.buckets.lock().expect("limits poisoned");
        let b = self.bucket(&mut map, client);
        let rate = f64::from(per_second.max(1));
        if (b.rate - rate).abs() > f64::EPSILON {
            b.rate = rate;
            b.tokens = b.tokens.min(rate);
        }
    }

    /// Takes a token and an in-flight slot, or says how long to wait.
    pub fn admit(&self, client: &str) -> Result<OwnedSemaphorePermit, ApiError> {
        let mut map = self.buckets.lock().expect("limits poisoned");
        let b = self.bucket(&mut map, client);
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * b.rate).min(b.rate);
        b.last = now;
        if b.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - b.tokens) / b.rate);
            return Err(ApiError::ResourceExhausted(
                format!("rate limit of {} requests per second exceeded", b.rate),
                wait.max(Duration::from_millis(1)),
            ));
        }
        let permit = b.in_flight.clone().try_acquire_owned().map_err(|_| {
            ApiError::ResourceExhausted(
                format!("at most {} calls in flight per client", self.max_in_flight),
                Duration::from_millis(100),
            )
        })?;
        b.tokens -= 1.0;
        Ok(permit)
    }
}

/// Wraps a gRPC service with the per-client quotas.
#[derive(Clone)]
pub struct ClientLimit<S> {
    inner: S,
    limits: Arc<Limits>,
}

impl<S> ClientLimit<S> {
    pub fn new(inner: S, limits: Arc<Limits>) -> Self {
        ClientLimit { inner, limits }
    }
}

impl<S: NamedService> NamedService for ClientLimit<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B, RB> tower::Service<http::Request<B>> for ClientLimit<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let admitted = match req.extensions().get::<Principal>() {
            Some(Principal::Client { client_id, .. }) => {
                tracing::Span::current().record("client", client_id.as_str());
                let admitted = self.limits.admit(client_id).map(Some);
                if admitted.is_err() {
                    bti_runtime::metrics::quota_rejected(client_id);
                }
                admitted
            }
            _ => Ok(None),
        };
        Box::pin(async move {
            match admitted {
                Ok(permit) => {
                    let response = inner.call(req).await;
                    drop(permit);
                    response
                }
                Err(e) => {
                    let status: tonic::Status = e.into();
                    Ok(status.into_http())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_rate_as_burst_then_waits() {
        let limits = Limits::new(20, 100);
        limits.set_rate("a", 3);
        let held: Vec<_> = (0..3).map(|_| limits.admit("a").unwrap()).collect();
        match limits.admit("a") {
            Err(ApiError::ResourceExhausted(_, wait)) => {
                assert!(wait > Duration::ZERO && wait <= Duration::from_millis(334));
            }
            other => panic!("expected RESOURCE_EXHAUSTED, got {other:?}"),
        }
        // Another client has its own bucket.
        assert!(limits.admit("b").is_ok());
        drop(held);
    }

    #[test]
    fn idle_buckets_are_forgotten_when_there_are_too_many() {
        let limits = Limits::new(20, 4);
        let busy = limits.admit("busy").unwrap();
        {
            let mut map = limits.buckets.lock().unwrap();
            let long_ago = Instant::now() - IDLE - Duration::from_secs(1);
            map.get_mut("busy").unwrap().last = long_ago;
            for i in 0..MAX_BUCKETS - 1 {
                let b = limits.bucket(&mut map, &format!("c{i}"));
                b.last = long_ago;
            }
            assert_eq!(map.len(), MAX_BUCKETS);
        }
        let _newcomer = limits.admit("newcomer").unwrap();
        let map = limits.buckets.lock().unwrap();
        // The idle ones went; the one with a call in flight and the new one stay.
        assert_eq!(map.len(), 2);
        assert!(map.contains_key("busy") && map.contains_key("newcomer"));
        drop(map);
        drop(busy);
    }

    #[test]
    fn calls_in_flight_are_capped_per_client() {
        let limits = Limits::new(1000, 2);
        let a = limits.admit("a").unwrap();
        let _b = limits.admit("a").unwrap();
        assert!(matches!(
            limits.admit("a"),
            Err(ApiError::ResourceExhausted(..))
        ));
        drop(a);
        assert!(limits.admit("a").is_ok());
    }
}
