//! SQLite backend of the notification store (the embedded `bti dev` database).

use sqlx::sqlite::SqlitePool;

/// Notification store on SQLite.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub fn new(pool: SqlitePool) -> Self {
        SqliteStore { pool }
    }

    async fn begin(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        bti_runtime::db::begin_write_sqlite(&self.pool).await
    }
}

// BEGIN IMMEDIATE already serializes claims; SQLite has no row locks.
super::sql::notification_sql_store!(SqliteStore, sqlx::Sqlite, "");
super::webhooks_sql::webhook_sql_store!(SqliteStore, sqlx::Sqlite, "");
super::logs_sql::log_sql_store!(SqliteStore, sqlx::Sqlite);
