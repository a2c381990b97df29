//! PostgreSQL backend of the consent store.

use sqlx::postgres::PgPool;

/// Consent store on PostgreSQL.
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

super::sql::consent_sql_store!(PgStore, sqlx::Postgres);
