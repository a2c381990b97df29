//! Events: the outbox record a store writes in its transaction, the bus trait
//! with an in-process and a NATS JetStream implementation, and the relay that
//! moves committed outbox rows onto the bus (at least once; consumers dedupe by
//! event id).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bti_proto::types::EventEnvelope;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use prost::Message;
use tokio::sync::{Notify, broadcast};

use crate::db::Db;

/// An event as written to the outbox.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    pub id: String,
    pub source: String,
    pub event_type: String,
    pub subject: String,
    pub tenant: String,
    pub time: DateTime<Utc>,
    pub data: Vec<u8>,
    pub traceparent: String,
}

impl OutboxEvent {
    /// Builds an event carrying `payload`, typed by the payload's full name.
    pub fn new<M: prost::Name>(source: &str, subject: &str, tenant: &str, payload: &M) -> Self {
        OutboxEvent {
            id: uuid::Uuid::now_v7().to_string(),
            source: source.to_string(),
            event_type: M::full_name(),
            subject: subject.to_string(),
            tenant: tenant.to_string(),
            time: Utc::now(),
            data: payload.encode_to_vec(),
            traceparent: crate::telemetry::current_traceparent(),
        }
    }

    pub fn envelope(&self) -> EventEnvelope {
        EventEnvelope {
            id: self.id.clone(),
            source: self.source.clone(),
            r#type: self.event_type.clone(),
            subject: self.subject.clone(),
            time: Some(crate::api::timestamp(self.time)),
            data: self.data.clone(),
            traceparent: self.traceparent.clone(),
            tenant: self.tenant.clone(),
        }
    }
}

/// A received event; `ack` it once handled (no-op on the in-process bus).
pub struct Delivery {
    pub envelope: EventEnvelope,
    message: Option<async_nats::jetstream::Message>,
    /// The in-process consumer's count of events not yet handled.
    pending: Option<Arc<AtomicI64>>,
}

impl Delivery {
    pub async fn ack(&self) -> anyhow::Result<()> {
        if let Some(p) = &self.pending {
            p.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(m) = &self.message {
            m.ack()
                .await
                .map_err(|e| anyhow::anyhow!("ack failed: {e}"))?;
        }
        Ok(())
    }
}

/// The event bus behind which in-process and NATS delivery are interchangeable.
#[async_trait]
pub trait EventBus: Send + Sync {
    async fn publish(&self, envelope: &EventEnvelope) -> anyhow::Result<()>;

    /// Events of one package (`type_prefix` ending in `.`, for example
    /// `bti.consent.v1.`), of one exact type, or all (empty), for the named
    /// durable consumer.
    async fn subscribe(
        &self,
        consumer: &str,
        type_prefix: &str,
    ) -> anyhow::Result<BoxStream<'static, anyhow::Result<Delivery>>>;

    /// Events the durable consumer `consumer` has not yet handled, if the
    /// bus can tell.
    async fn pending(&self, _consumer: &str) -> anyhow::Result<Option<u64>> {
        Ok(None)
    }

    /// The stream's name, for metrics (`in-process` or the JetStream stream).
    fn stream_name(&self) -> String {
        "in-process".into()
    }
}

/// An in-process consumer's type prefix and its count of events published
/// but not yet acknowledged.
type Subscription = (String, Arc<AtomicI64>);

/// Broadcast bus for `bti dev` and tests: every subscriber sees events
/// published after it subscribed.
#[derive(Clone)]
pub struct InProcessBus {
    tx: broadcast::Sender<EventEnvelope>,
    /// Per consumer: its type prefix and its events published but not yet
    /// acknowledged.
    consumers: Arc<Mutex<HashMap<String, Subscription>>>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        InProcessBus {
            tx: broadcast::channel(4096).0,
            consumers: Default::default(),
        }
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, envelope: &EventEnvelope) -> anyhow::Result<()> {
        // No subscriber is not an error: the event is durable in the outbox.
        for (prefix, pending) in self.consumers.lock().expect("consumers poisoned").values() {
            if envelope.r#type.starts_with(prefix.as_str()) {
                pending.fetch_add(1, Ordering::Relaxed);
            }
        }
        let _ = self.tx.send(envelope.clone());
        Ok(())
    }

    async fn pending(&self, consumer: &str) -> anyhow::Result<Option<u64>> {
        let consumers = self.consumers.lock().expect("consumers poisoned");
        Ok(consumers
            .get(consumer)
            .map(|(_, p)| p.load(Ordering::Relaxed).max(0) as u64))
    }

    async fn subscribe(
        &self,
        consumer: &str,
        type_prefix: &str,
    ) -> anyhow::Result<BoxStream<'static, anyhow::Result<Delivery>>> {
        let prefix = type_prefix.to_string();
        let counter = self
            .consumers
            .lock()
            .expect("consumers poisoned")
            .entry(consumer.to_string())
            .or_insert_with(|| (prefix.clone(), Arc::default()))
            .1
            .clone();
        let stream = tokio_stream::wrappers::BroadcastStream::new(self.tx.subscribe()).filter_map(
            move |r| {
                let prefix = prefix.clone();
                let counter = counter.clone();
                async move {
                    match r {
                        Ok(envelope) if envelope.r#type.starts_with(&prefix) => {
                            Some(Ok(Delivery {
                                envelope,
                                message: None,
                                pending: Some(counter),
                            }))
                        }
                        Ok(_) => None,
                        Err(e) => Some(Err(anyhow::anyhow!("subscriber lagged: {e}"))),
                    }
                }
            },
        );
        Ok(stream.boxed())
    }
}

/// NATS JetStream bus: one stream (default `BTI`) holding the subjects
/// `<stream in lowercase>.<payload type>`, for example
/// `bti.bti.directory.v1.UnitCreated`; message id = event id, so JetStream
/// drops the duplicates a relay retry can produce.
pub struct NatsBus {
    js: async_nats::jetstream::Context,
    stream: String,
    prefix: String,
}

impl NatsBus {
    pub async fn connect(url: &str, stream: &str) -> anyhow::Result<Self> {
        let client = async_nats::connect(url).await?;
        let js = async_nats::jetstream::new(client);
        let prefix = stream.to_lowercase();
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: stream.to_string(),
            subjects: vec![format!("{prefix}.>")],
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("create stream {stream}: {e}"))?;
        Ok(NatsBus {
            js,
            stream: stream.to_string(),
            prefix,
        })
    }
}

impl NatsBus {
    /// Deletes the stream and everything in it (tests and decommissioning).
    pub async fn delete_stream(&self) -> anyhow::Result<()> {
        self.js
            .delete_stream(&self.stream)
            .await
            .map_err(|e| anyhow::anyhow!("delete stream: {e}"))?;
        Ok(())
    }
}

#[async_trait]
impl EventBus for NatsBus {
    async fn publish(&self, envelope: &EventEnvelope) -> anyhow::Result<()> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", envelope.id.as_str());
        if !envelope.traceparent.is_empty() {
            headers.insert("traceparent", envelope.traceparent.as_str());
        }
        self.js
            .publish_with_headers(
                format!("{}.{}", self.prefix, envelope.r#type),
                headers,
                envelope.encode_to_vec().into(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("publish: {e}"))?
            .await
            .map_err(|e| anyhow::anyhow!("publish ack: {e}"))?;
        Ok(())
    }

    async fn subscribe(
        &self,
        consumer: &str,
        type_prefix: &str,
    ) -> anyhow::Result<BoxStream<'static, anyhow::Result<Delivery>>> {
        use async_nats::jetstream::consumer::pull;
        let stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| anyhow::anyhow!("get stream: {e}"))?;
        let filter = if type_prefix.is_empty() || type_prefix.ends_with('.') {
            format!("{}.{}>", self.prefix, type_prefix)
        } else {
            format!("{}.{}", self.prefix, type_prefix)
        };
        let consumer = stream
            .get_or_create_consumer(
                consumer,
                pull::Config {
                    durable_name: Some(consumer.to_string()),
                    filter_subject: filter,
                    ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("create consumer: {e}"))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| anyhow::anyhow!("consume: {e}"))?;
        Ok(messages
            .map(|m| {
                let m = m.map_err(|e| anyhow::anyhow!("receive: {e}"))?;
                let envelope = EventEnvelope::decode(m.payload.as_ref())?;
                Ok(Delivery {
                    envelope,
                    message: Some(m),
                    pending: None,
                })
            })
            .boxed())
    }

    async fn pending(&self, consumer: &str) -> anyhow::Result<Option<u64>> {
        let stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| anyhow::anyhow!("get stream: {e}"))?;
        let info = stream
            .consumer_info(consumer)
            .await
            .map_err(|e| anyhow::anyhow!("consumer info: {e}"))?;
        Ok(Some(info.num_pending + info.num_ack_pending as u64))
    }

    fn stream_name(&self) -> String {
        self.stream.clone()
    }
}

/// Picks the bus from configuration: NATS when a URL is set, else in-process.
pub async fn bus_from_config(
    cfg: &crate::config::EventsConfig,
) -> anyhow::Result<Arc<dyn EventBus>> {
    match &cfg.nats_url {
        Some(url) if !url.is_empty() => Ok(Arc::new(NatsBus::connect(url, &cfg.stream).await?)),
        _ => Ok(Arc::new(InProcessBus::default())),
    }
}

/// Wakes a service's outbox relay after a commit, so events leave promptly
/// without tight polling.
#[derive(Clone, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Publishes committed outbox rows of `db` until `shutdown` resolves, then
/// drains what is left once.
pub async fn run_relay(
    db: Db,
    bus: Arc<dyn EventBus>,
    signal: OutboxSignal,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        match relay_once(&db, bus.as_ref()).await {
            // A full batch may have left more behind. A smaller one emptied
            // the outbox as of its claim: what commits later wakes the relay
            // (a wake while it works is kept for the next wait), so it does
            // not claim again only to find nothing, a round trip per event
            // at low load.
            Ok(n) if n >= RELAY_BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "outbox relay failed; retrying"),
        }
        tokio::select! {
            _ = signal.0.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = &mut shutdown => break,
        }
    }
    while let Ok(n) = relay_once(&db, bus.as_ref()).await {
        if n == 0 {
            break;
        }
    }
}

/// The most events one relay transaction claims.
const RELAY_BATCH: usize = 256;

/// Publishes one batch; returns how many events left the outbox.
pub async fn relay_once(db: &Db, bus: &dyn EventBus) -> anyhow::Result<usize> {
    db.relay_batch(RELAY_BATCH as i64, |row| async move {
        let event = OutboxEvent {
            id: row.id,
            source: row.source,
            event_type: row.event_type,
            subject: row.subject,
            tenant: row.tenant,
            time: row.time,
            data: row.data,
            traceparent: row.traceparent,
        };
        bus.publish(&event.envelope()).await
    })
    .await
}
