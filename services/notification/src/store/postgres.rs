//! PostgreSQL backend of the notification store.

use sqlx::postgres::PgPool;

/// Notification store on PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub fn new(pool: PgPool) -> Self {
        PgStore { pool }
    }

    async fn begin(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.pool.begin().await
    }
}

// Replicas claim disjoint deliveries: a row another claim has locked is skipped.
super::sql::notification_sql_store!(PgStore, sqlx::Postgres, " FOR UPDATE SKIP LOCKED");
super::webhooks_sql::webhook_sql_store!(PgStore, sqlx::Postgres, " FOR UPDATE SKIP LOCKED");
super::logs_sql::log_sql_store!(PgStore, sqlx::Postgres);
