//! The outermost layer of every gRPC call, whatever service it reaches: a
//! server span named after the method (`bti.caselog.v1.CaseLogService/CreateCaseLog`)
//! with OpenTelemetry's RPC attributes, parented on the caller's
//! `traceparent`; the call counted, timed and tracked in flight; and one
//! info line when it ends, with service, method, code and duration.
//!
//! Method names come from the contracts' descriptors, so a client sending
//! made-up paths cannot grow the metrics' label sets: an unknown method is
//! `unknown`.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use tonic::body::Body;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `(rpc.service, rpc.method)` pairs this binary knows.
fn known_methods() -> &'static HashSet<(String, String)> {
    static KNOWN: OnceLock<HashSet<(String, String)>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let mut known = HashSet::new();
        if let Ok(pool) = prost_reflect::DescriptorPool::decode(bti_proto::FILE_DESCRIPTOR_SET) {
            for s in pool.services() {
                for m in s.methods() {
                    known.insert((s.full_name().to_string(), m.name().to_string()));
                }
            }
        }
        for (s, m) in [
            ("grpc.health.v1.Health", "Check"),
            ("grpc.health.v1.Health", "Watch"),
            (
                "grpc.reflection.v1.ServerReflection",
                "ServerReflectionInfo",
            ),
            (
                "grpc.reflection.v1alpha.ServerReflection",
                "ServerReflectionInfo",
            ),
        ] {
            known.insert((s.to_string(), m.to_string()));
        }
        known
    })
}

/// What a path names: (rpc.service, rpc.method, the BTI service's short
/// name), with `unknown` for what no contract defines.
fn classify(path: &str) -> (String, String, Arc<str>) {
    let known = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .filter(|(s, m)| known_methods().contains(&(s.to_string(), m.to_string())));
    match known {
        Some((s, m)) => {
            let short = match s.split('.').collect::<Vec<_>>().as_slice() {
                ["bti", service, ..] => service.to_string(),
                _ => "grpc".to_string(),
            };
            (s.to_string(), m.to_string(), short.into())
        }
        None => ("unknown".into(), "unknown".into(), "unknown".into()),
    }
}

/// Upper-snake name of a gRPC status code (`OK`, `INVALID_ARGUMENT`).
pub fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// Codes that mark a server span as an error (OpenTelemetry's gRPC rules).
fn is_server_error(code: i32) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

/// One call being served.
struct Call {
    span: tracing::Span,
    service: Arc<str>,
    method: String,
    quiet: bool,
    started: Instant,
    done: bool,
}

impl Call {
    fn start<B>(req: &http::Request<B>) -> Call {
        let (rpc_service, method, service) = classify(req.uri().path());
        // Health probes and reflection come every few seconds: counted, not traced.
        let quiet = &*service == "grpc";
        let span = if quiet {
            tracing::Span::none()
        } else {
            let span = tracing::info_span!(
                "grpc",
                otel.name = %format!("{rpc_service}/{method}"),
                otel.kind = "server",
                otel.status_code = tracing::field::Empty,
                rpc.system = "grpc",
                rpc.service = %rpc_service,
                rpc.method = %method,
                rpc.grpc.status_code = tracing::field::Empty,
                service.name = %crate::telemetry::service_name(&service),
                principal = tracing::field::Empty,
                client = tracing::field::Empty,
            );
            let _ = span.set_parent(crate::telemetry::extract_headers(req.headers()));
            span
        };
        crate::metrics::global()
            .in_flight
            .with_label_values(&[&*service])
            .inc();
        Call {
            span,
            service,
            method,
            quiet,
            started: Instant::now(),
            done: false,
        }
    }

    fn finish(&mut self, code: i32) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let elapsed = self.started.elapsed();
        let name = code_name(code);
        let m = crate::metrics::global();
        let service = &*self.service;
        m.in_flight.with_label_values(&[service]).dec();
        m.calls
            .with_label_values(&[service, &self.method, name])
            .inc();
        m.duration
            .with_label_values(&[service, &self.method])
            .observe(elapsed.as_secs_f64());
        self.span.record("rpc.grpc.status_code", code);
        if is_server_error(code) {
            self.span.record("otel.status_code", "ERROR");
        }
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        self.span.in_scope(|| {
            if self.quiet {
                tracing::debug!(service, method = %self.method, code = name, duration_ms, "call");
            } else {
                tracing::info!(service, method = %self.method, code = name, duration_ms, "call");
            }
        });
    }

    /// Finishes now if the headers carry the status (trailers-only), else
    /// when the body's trailers pass.
    fn watch(mut self, resp: http::Response<Body>) -> http::Response<Body> {
        if let Some(code) = grpc_status(resp.headers()) {
            self.finish(code);
            return resp;
        }
        resp.map(|inner| Body::new(Observed { inner, call: self }))
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // The response was dropped before its status: the client went away.
        self.finish(1);
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<i32> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// A response body that finishes its call when the trailers pass.
struct Observed {
    inner: Body,
    call: Call,
}

impl http_body::Body for Observed {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(grpc_status) {
                    this.call.finish(code);
                }
            }
            Poll::Ready(Some(Err(_))) => this.call.finish(2),
            Poll::Ready(None) => this.call.finish(2),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Observes every call (see the module).
#[derive(Clone, Copy, Default)]
pub struct ObserveLayer;

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for Observe<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let mut call = Call::start(&req);
        let span = call.span.clone();
        let service = call.service.clone();
        let fut = span.in_scope(|| self.inner.call(req));
        Box::pin(async move {
            let result = crate::telemetry::in_service(service, fut.instrument(span)).await;
            match result {
                Ok(resp) => Ok(call.watch(resp)),
                Err(e) => {
                    call.finish(2);
                    Err(e)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_named_by_the_contracts() {
        let (s, m, short) = classify("/bti.caselog.v1.CaseLogService/CreateCaseLog");
        assert_eq!(
            (s.as_str(), m.as_str(), &*short),
            ("bti.caselog.v1.CaseLogService", "CreateCaseLog", "caselog")
        );
        let (_, _, short) = classify("/grpc.health.v1.Health/Check");
        assert_eq!(&*short, "grpc");
        for made_up in [
            "/bti.caselog.v1.CaseLogService/Nope",
            "/x/y",
            "/01017012345/z",
            "",
        ] {
            assert_eq!(classify(made_up).1, "unknown", "{made_up}");
        }
    }

    #[test]
    fn codes_have_their_canonical_names() {
        assert_eq!(code_name(0), "OK");
        assert_eq!(code_name(3), "INVALID_ARGUMENT");
        assert_eq!(code_name(16), "UNAUTHENTICATED");
        assert_eq!(code_name(99), "UNKNOWN");
    }
}
