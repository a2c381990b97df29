//! The directory's application layer: one function per RPC, named after it,
//! taking the caller and the request message. Validation and authorization
//! rules live in `domain`; this layer reads, decides with them and commits.

mod guardianships;
mod members;
mod persons;
mod tenants;
mod units;

use std::sync::Arc;

use bti_runtime::clock::SharedClock;
use bti_runtime::events::{OutboxEvent, OutboxSignal};
use bti_runtime::{ApiError, ApiResult};
use chrono::{DateTime, Utc};

use crate::domain::*;
use crate::store::DirectoryStore;

/// The directory's state: its store, outbox signal and clock.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn DirectoryStore>,
    outbox: OutboxSignal,
    clock: SharedClock,
}

impl App {
    pub fn new(store: Arc<dyn DirectoryStore>, outbox: OutboxSignal, clock: SharedClock) -> Self {
        App {
            store,
            outbox,
            clock,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn event<M: prost::Name>(&self, subject: &str, tenant: &str, payload: &M) -> OutboxEvent {
        OutboxEvent::new(SOURCE, subject, tenant, payload)
    }

    /// After a committed write, so the relay publishes promptly.
    fn committed<T>(&self, value: T) -> ApiResult<T> {
        self.outbox.wake();
        Ok(value)
    }

    async fn tenant(&self, id: &str) -> ApiResult<TenantRecord> {
        self.store
            .get_tenant(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(tenant_name(id)))
    }

    async fn unit(&self, n: &UnitName) -> ApiResult<UnitRecord> {
        self.store
            .get_unit(&n.tenant, &n.unit)
            .await?
            .ok_or_else(|| ApiError::NotFound(n.to_string()))
    }

    async fn person(&self, n: &PersonName) -> ApiResult<PersonRecord> {
        self.store
            .get_person(&n.tenant, &n.person)
            .await?
            .ok_or_else(|| ApiError::NotFound(n.to_string()))
    }
}
