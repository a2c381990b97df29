//! PostgreSQL backend of the scheduling store.

use sqlx::postgres::PgPool;

/// Scheduling store on PostgreSQL.
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

super::sql::scheduling_sql_store!(PgStore, sqlx::Postgres);
