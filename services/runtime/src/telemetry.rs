//! Tracing setup: text or JSON logs (JSON lines carry the OpenTelemetry
//! `trace_id` and `span_id`), OpenTelemetry spans for every call, and OTLP
//! export only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. W3C trace context
//! is read from incoming gRPC metadata and event envelopes, and written to
//! outgoing calls and outbox rows, so one call and the events it causes are
//! one trace.
//!
//! Which service a span belongs to: the resource's `service.name` is the
//! process (`bti-caselog` under `bti serve caselog`, `bti-dev` under `bti
//! dev`), and every span the runtime opens also carries a `service.name`
//! attribute naming the service it ran in (`bti-caselog`), so spans of one
//! `bti dev` process are told apart by that attribute.
//!
//! Span fields are limited to method names, status codes, principal kinds,
//! client ids and resource names; request bodies (national ids, names, case
//! text) and SQL parameters are never recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{
    Span as _, SpanKind, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogConfig;

tokio::task_local! {
    /// The service whose code runs in this task (a call's handler, a task).
    static SERVICE: Arc<str>;
}

/// Runs `f` as work of `service` (its short name, `caselog`): database spans
/// and metrics made inside are attributed to it.
pub async fn in_service<F: std::future::Future>(service: Arc<str>, f: F) -> F::Output {
    SERVICE.scope(service, f).await
}

/// The service the current task works for, if any.
pub fn current_service() -> Option<Arc<str>> {
    SERVICE.try_with(Arc::clone).ok()
}

/// `service.name` of a service's spans: `bti-<service>`.
pub fn service_name(service: &str) -> String {
    format!("bti-{service}")
}

/// Database backends by service, for `db.system` on database spans.
fn backends() -> &'static Mutex<HashMap<String, &'static str>> {
    static B: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    B.get_or_init(Default::default)
}

/// Records which database system `service` uses (`postgresql`, `sqlite`).
pub fn register_backend(service: &str, system: &'static str) {
    backends()
        .lock()
        .expect("backends poisoned")
        .insert(service.to_string(), system);
}

/// Keeps the OTLP pipeline alive; flushes spans on drop.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Exports every finished span now.
    pub fn flush(&self) {
        if let Some(p) = &self.provider {
            let _ = p.force_flush();
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// Where logs and spans go, for [`init_with`].
pub struct Output {
    /// Log lines (stdout by default).
    pub writer: tracing_subscriber::fmt::writer::BoxMakeWriter,
    /// OTLP/gRPC endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` by default).
    pub otlp_endpoint: Option<String>,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            writer: tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stdout),
            otlp_endpoint: std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
                .ok()
                .filter(|e| !e.is_empty()),
        }
    }
}

/// Installs the global subscriber for process `process` (`bti-dev`,
/// `bti-caselog`). Call once per process.
pub fn init(process: &str, log: &LogConfig) -> anyhow::Result<TelemetryGuard> {
    init_with(process, log, Output::default())
}

/// Like [`init`], writing logs and spans where `out` says.
pub fn init_with(process: &str, log: &LogConfig, out: Output) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.filter));
    let fmt = match log.format.as_str() {
        "json" => tracing_subscriber::fmt::layer()
            .event_format(JsonLine)
            .with_writer(out.writer)
            .boxed(),
        "text" => tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_writer(out.writer)
            .boxed(),
        other => anyhow::bail!("log.format must be text or json, not {other}"),
    };
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(process.to_string())
        .build();
    // Spans exist (and carry ids into logs and peer calls) even when nothing
    // exports them.
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    let exporting = out.otlp_endpoint.is_some();
    if let Some(endpoint) = &out.otlp_endpoint {
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer("bti");
    // Only the runtime's and the services' own spans and events become
    // OpenTelemetry data; libraries' (h2, hyper, sqlx) stay out of traces.
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer.clone())
        .with_location(false)
        .with_threads(false)
        .with_filter(Targets::new().with_target("bti", LevelFilter::INFO));
    let db = exporting.then(|| {
        // A filtered layer sees only the spans its filter lets through: the
        // calls' spans too, so that a statement finds its parent.
        DbSpans { tracer }.with_filter(
            Targets::new()
                .with_target("sqlx::query", LevelFilter::DEBUG)
                .with_target("bti", LevelFilter::INFO),
        )
    });
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel)
        .with(db)
        .try_init()?;
    Ok(TelemetryGuard {
        provider: exporting.then_some(provider),
    })
}

/// The OpenTelemetry context of the current span (empty outside a span).
fn current_context() -> opentelemetry::Context {
    tracing::Span::current().context()
}

/// `(trace_id, span_id)` of the span `id`, if it belongs to a valid trace.
fn ids_of(id: &tracing::span::Id) -> Option<(String, String)> {
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    let cx = tracing_opentelemetry::get_otel_context(id, &dispatch)?;
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid()
        .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
}

/// One JSON object per line: timestamp, level, target, the event's fields,
/// the current span's name, and its `trace_id` and `span_id`.
struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut fields = serde_json::Map::new();
        event.record(&mut JsonFields(&mut fields));
        let mut line = serde_json::Map::new();
        line.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        if let Some(span) = ctx.lookup_current() {
            line.insert("span".into(), span.name().into());
            let id = span.id();
            drop(span);
            if let Some((trace_id, span_id)) = ids_of(&id) {
                line.insert("trace_id".into(), trace_id.into());
                line.insert("span_id".into(), span_id.into());
            }
        }
        line.insert("fields".into(), fields.into());
        writeln!(writer, "{}", serde_json::Value::Object(line))
    }
}

struct JsonFields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl tracing::field::Visit for JsonFields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}

/// A client span per SQL statement, made from sqlx's `sqlx::query` event
/// (which it emits after each statement with its duration): named
/// `<operation> <service>` with `db.system` and `db.operation.name`, a child
/// of the span the statement ran in. Only statements inside a trace get one;
/// the statement's text and parameters are never recorded.
struct DbSpans {
    tracer: SdkTracer,
}

#[derive(Default)]
struct SqlxFields {
    summary: String,
    elapsed_secs: f64,
}

impl tracing::field::Visit for SqlxFields {
    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "summary" {
            self.summary = value.to_string();
        }
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = value;
        }
    }
}

impl<S> Layer<S> for DbSpans
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let Some(id) = ctx.event_span(event).map(|s| s.id()) else {
            return;
        };
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        let Some(parent) = tracing_opentelemetry::get_otel_context(&id, &dispatch) else {
            return;
        };
        if !parent.span().span_context().is_valid() {
            return;
        }
        let mut f = SqlxFields::default();
        event.record(&mut f);
        let operation = db_operation(&f.summary);
        let service = current_service();
        let system = service
            .as_deref()
            .and_then(|s| backends().lock().ok()?.get(s).copied())
            .unwrap_or("other_sql");
        let end = SystemTime::now();
        let start = end - Duration::from_secs_f64(f.elapsed_secs.max(0.0));
        let mut attributes = vec![
            KeyValue::new("db.system", system),
            KeyValue::new("db.system.name", system),
            KeyValue::new("db.operation", operation.clone()),
            KeyValue::new("db.operation.name", operation.clone()),
        ];
        let name = match &service {
            Some(s) => {
                attributes.push(KeyValue::new("db.namespace", s.to_string()));
                attributes.push(KeyValue::new("service.name", service_name(s)));
                format!("{operation} {s}")
            }
            None => operation,
        };
        let mut span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        span.end_with_timestamp(end);
    }
}

/// The SQL keyword a statement starts with (`SELECT`, `INSERT`, `BEGIN`).
fn db_operation(summary: &str) -> String {
    let word = summary
        .split(|c: char| !c.is_ascii_alphabetic())
        .find(|w| !w.is_empty())
        .unwrap_or("QUERY");
    word.to_ascii_uppercase()
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The trace context a request's `traceparent` header carries.
pub fn extract_headers(headers: &http::HeaderMap) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

struct OneHeader<'a>(&'a str);

impl Extractor for OneHeader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent" && !self.0.is_empty()).then_some(self.0)
    }
    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// The trace context of a W3C `traceparent` value (an event envelope's).
pub fn extract_traceparent(traceparent: &str) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&OneHeader(traceparent))
}

/// W3C `traceparent` of the current span, for event envelopes and peer calls.
pub fn current_traceparent() -> String {
    struct Capture(String);
    impl Injector for Capture {
        fn set(&mut self, key: &str, value: String) {
            if key == "traceparent" {
                self.0 = value;
            }
        }
    }
    let cx = current_context();
    if !cx.span().span_context().is_valid() {
        return String::new();
    }
    let mut c = Capture(String::new());
    TraceContextPropagator::new().inject_context(&cx, &mut c);
    c.0
}

use opentelemetry::propagation::TextMapPropagator as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_the_first_keyword() {
        assert_eq!(db_operation("SELECT fingerprint, resource FROM"), "SELECT");
        assert_eq!(db_operation("insert into bti_outbox …"), "INSERT");
        assert_eq!(db_operation("  BEGIN IMMEDIATE"), "BEGIN");
        assert_eq!(db_operation(""), "QUERY");
    }

    #[test]
    fn a_traceparent_round_trips() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let cx = extract_traceparent(tp);
        let sc = cx.span().span_context().clone();
        assert!(sc.is_valid() && sc.is_remote());
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(!extract_traceparent("").span().span_context().is_valid());
    }
}
