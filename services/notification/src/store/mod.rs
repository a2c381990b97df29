//! Notification storage: one trait, a PostgreSQL and a SQLite backend sharing
//! the SQL in `sql.rs`, each with its own migrations.

use async_trait::async_trait;
use bti_runtime::ApiResult;
use bti_runtime::db::{Db, Migrations};
use bti_runtime::events::OutboxEvent;
use chrono::{DateTime, Utc};

use crate::domain::{DeliveryRecord, NotificationRecord, PreferencesRecord};

mod postgres;
mod sql;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// A notification to create, its queued deliveries and its event.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub notification: NotificationRecord,
    pub deliveries: Vec<DeliveryRecord>,
    pub event: OutboxEvent,
}

/// Notifications of `kinds` caused by `cause` to archive as settled, and the
/// event to write if any were.
#[derive(Debug, Clone)]
pub struct Settle {
    pub tenant: String,
    pub cause: String,
    pub kinds: Vec<String>,
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

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Handles event `event_id` once: records it, creates `created` with
    /// their deliveries and archives what `settled` names, in one
    /// transaction with their events. False (and nothing changes) when the
    /// event was handled before.
    async fn apply_event(
        &self,
        event_id: &str,
        now: DateTime<Utc>,
        created: &[NewNotification],
        settled: &[Settle],
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
