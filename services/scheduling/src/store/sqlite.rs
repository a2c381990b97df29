//! SQLite backend of the scheduling store (the embedded `bti dev` database).

use sqlx::sqlite::SqlitePool;

/// Scheduling store on SQLite.
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

super::sql::scheduling_sql_store!(SqliteStore, sqlx::Sqlite);
