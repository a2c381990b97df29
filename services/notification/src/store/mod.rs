//! Notification storage: one trait, a PostgreSQL and a SQLite backend sharing
//! the SQL in `sql.rs`, each with its own migrations.

use async_trait::async_trait;
use bti_runtime::ApiResult;
use bti_runtime::db::{Db, Migrations};
use bti_runtime::events::OutboxEvent;
use chrono::{DateTime, Utc};

use crate::domain::access::{LogParticipantRecord, LogRecord};
use crate::domain::{
    AttemptRecord, DeliveryRecord, NotificationRecord, PreferencesRecord, SubscriptionRecord,
    TemplateRecord, WebhookDeliveryRecord,
};
use bti_runtime::db::Idem;

mod logs_sql;
mod postgres;
mod sql;
mod sqlite;
mod webhooks_sql;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// A notification to create, its queued deliveries and its event.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub notification: NotificationRecord,
    pub deliveries: Vec<DeliveryRecord>,
    pub event: OutboxEvent,
}

/// Notifications to archive as settled, and the event to write if any were:
/// those caused by `cause` of `kinds`, or, when `kinds` is empty, every one
/// whose resource is `cause` or lies under it (a log closed, a participant
/// removed from it).
#[derive(Debug, Clone)]
pub struct Settle {
    pub tenant: String,
    pub cause: String,
    pub kinds: Vec<String>,
    /// Only this recipient's, or everyone's.
    pub recipient: Option<String>,
    pub event: OutboxEvent,
}

/// How a claimed delivery ended (or when it is tried again).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// PENDING (retry at `due_time`), SENT, FAILED or CANCELLED.
    pub state: String,
    pub due_time: DateTime<Utc>,
    pub last_error: String,
    pub event: Option<OutboxEvent>,
}

/// How a claimed webhook delivery ended (or when it is tried again).
#[derive(Debug, Clone)]
pub struct WebhookOutcome {
    /// PENDING (retry at `due_time`), DELIVERED or FAILED.
    pub state: String,
    pub due_time: DateTime<Utc>,
    /// 0 when no response came.
    pub http_status: i64,
    pub last_error: String,
    pub endpoint: Endpoint,
}

/// What an attempt means for its subscription.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// Nothing to record about it (the attempt was not made).
    Unchanged,
    /// It answered 2xx: its run of failures is over.
    Succeeded,
    /// It failed: a run of failures starts now unless one is under way.
    Failing(DateTime<Utc>),
    /// 410 Gone or five days of failures: disabled, with its event; its
    /// other pending deliveries fail.
    Disable(OutboxEvent),
}

#[async_trait]
pub trait NotificationStore: WebhookStore + LogStore + Send + Sync {
    /// Handles event `event_id` once: records it, creates `created` with
    /// their deliveries, queues `webhooks` and archives what `settled`
    /// names, in one transaction with their events. False (and nothing
    /// changes) when the event was handled before.
    async fn apply_event(
        &self,
        event_id: &str,
        now: DateTime<Utc>,
        created: &[NewNotification],
        settled: &[Settle],
        webhooks: &[WebhookDeliveryRecord],
    ) -> ApiResult<bool>;

    async fn get_notification(
        &self,
        tenant: &str,
        id: &str,
    ) -> ApiResult<Option<NotificationRecord>>;
    /// A recipient's notifications in `states`, newest first, ids below
    /// `before` (empty: from the newest).
    async fn list_notifications(
        &self,
        tenant: &str,
        recipient: &str,
        states: &[crate::domain::State],
        before: &str,
        limit: i64,
    ) -> ApiResult<Vec<NotificationRecord>>;
    /// A recipient's notifications in the inbox created after id `after`,
    /// oldest first (for watching).
    async fn list_new_notifications(
        &self,
        tenant: &str,
        recipient: &str,
        after: &str,
        limit: i64,
    ) -> ApiResult<Vec<NotificationRecord>>;
    async fn count_unread(&self, tenant: &str, recipient: &str) -> ApiResult<i64>;
    /// Stores `n`'s new state if it is still at `n.version` (else ABORTED).
    async fn update_notification(&self, n: &NotificationRecord) -> ApiResult<NotificationRecord>;
    /// Marks every unread or seen notification of the recipient read.
    async fn mark_all_read(
        &self,
        tenant: &str,
        recipient: &str,
        now: DateTime<Utc>,
    ) -> ApiResult<i64>;

    async fn get_preferences(
        &self,
        tenant: &str,
        recipient: &str,
    ) -> ApiResult<Option<PreferencesRecord>>;
    /// Inserts (version 0) or replaces (at `p.version`, else ABORTED) the
    /// preferences, returning them at their new version.
    async fn put_preferences(&self, p: &PreferencesRecord) -> ApiResult<PreferencesRecord>;

    /// A municipality's own template `<kind>/<language>`, if it has one.
    async fn get_template(&self, tenant: &str, id: &str) -> ApiResult<Option<TemplateRecord>>;
    /// Inserts (version 0) or replaces (at `t.version`, else ABORTED).
    async fn put_template(&self, t: &TemplateRecord) -> ApiResult<TemplateRecord>;

    /// Claims up to `limit` pending deliveries due at `now` until
    /// `claim_until`, counting an attempt for each. On PostgreSQL the rows
    /// are locked with SKIP LOCKED, so two workers never claim the same one.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        limit: i64,
    ) -> ApiResult<Vec<DeliveryRecord>>;
    /// Records how a claimed delivery ended.
    async fn finish_delivery(
        &self,
        id: &str,
        outcome: &Outcome,
        now: DateTime<Utc>,
    ) -> ApiResult<()>;
    /// A notification's deliveries, oldest first.
    async fn list_deliveries(
        &self,
        tenant: &str,
        notification: &str,
    ) -> ApiResult<Vec<DeliveryRecord>>;
}

/// What the relay log's events say about each log: its subject, units,
/// holder and participants (upserts, so a redelivered event changes
/// nothing).
#[async_trait]
pub trait LogStore: Send + Sync {
    async fn put_log(&self, log: &LogRecord) -> ApiResult<()>;
    async fn get_log(&self, tenant: &str, case_log: &str) -> ApiResult<Option<LogRecord>>;
    async fn put_log_participant(&self, p: &LogParticipantRecord) -> ApiResult<()>;
    /// Removed ones included, by participant id.
    async fn log_participants(
        &self,
        tenant: &str,
        case_log: &str,
    ) -> ApiResult<Vec<LogParticipantRecord>>;
}

/// Webhook subscriptions and their delivery queue.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Creates `s` once per request id (a replay returns the first).
    async fn create_subscription(
        &self,
        s: &SubscriptionRecord,
        idem: &Idem,
    ) -> ApiResult<SubscriptionRecord>;
    /// Any state, deleted ones included.
    async fn get_subscription(
        &self,
        tenant: &str,
        id: &str,
    ) -> ApiResult<Option<SubscriptionRecord>>;
    /// Not deleted ones, by id after `after`.
    async fn list_subscriptions(
        &self,
        tenant: &str,
        after: &str,
        limit: i64,
    ) -> ApiResult<Vec<SubscriptionRecord>>;
    /// Active and disabled ones (what a disabled one misses is recorded).
    async fn live_subscriptions(&self, tenant: &str) -> ApiResult<Vec<SubscriptionRecord>>;
    /// Makes `s` (read at `s.version`) active again with no failures, and
    /// queues its failed deliveries anew, due at `now`.
    async fn enable_subscription(
        &self,
        s: &SubscriptionRecord,
        now: DateTime<Utc>,
    ) -> ApiResult<SubscriptionRecord>;
    /// Stores `s` if still at `s.version` (else ABORTED), with `event`.
    async fn update_subscription(
        &self,
        s: &SubscriptionRecord,
        event: Option<OutboxEvent>,
    ) -> ApiResult<SubscriptionRecord>;
    /// Like `claim_deliveries`, for webhooks.
    async fn claim_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        limit: i64,
    ) -> ApiResult<Vec<WebhookDeliveryRecord>>;
    async fn finish_webhook_delivery(
        &self,
        d: &WebhookDeliveryRecord,
        outcome: &WebhookOutcome,
        now: DateTime<Utc>,
    ) -> ApiResult<()>;
    /// A delivery's attempts, oldest first.
    async fn list_webhook_attempts(
        &self,
        tenant: &str,
        delivery: &str,
    ) -> ApiResult<Vec<AttemptRecord>>;
    /// A subscription's deliveries, newest first, ids below `before`.
    async fn list_webhook_deliveries(
        &self,
        tenant: &str,
        subscription: &str,
        before: &str,
        limit: i64,
    ) -> ApiResult<Vec<WebhookDeliveryRecord>>;
}

pub fn migrations() -> Migrations {
    Migrations {
        postgres: sqlx::migrate!("migrations/postgres"),
        sqlite: sqlx::migrate!("migrations/sqlite"),
    }
}

/// The store for `db`'s backend. Run [`migrations`] before serving from it.
pub fn for_db(db: &Db) -> std::sync::Arc<dyn NotificationStore> {
    match db {
        Db::Postgres(pool) => std::sync::Arc::new(PgStore::new(pool.clone())),
        Db::Sqlite(pool) => std::sync::Arc::new(SqliteStore::new(pool.clone())),
    }
}
