//! PostgreSQL backend of the gateway store.

use sqlx::postgres::PgPool;

/// Gateway store on PostgreSQL.
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

super::sql::gateway_sql_store!(PgStore, sqlx::Postgres);
