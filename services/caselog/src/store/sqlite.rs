//! SQLite backend of the relay log store (the embedded `bti dev` database).

use sqlx::sqlite::SqlitePool;

// Claim, Work and ApiResult come in with `caselog_sql_store!`.

/// Relay log store on SQLite.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// In-process, a round trip costs next to nothing, and SQLite has no
    /// data-modifying CTEs: logged reads keep their explicit transaction.
    const ONE_STATEMENT: bool = false;

    pub fn new(pool: SqlitePool) -> Self {
        SqliteStore { pool }
    }

    async fn begin(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        bti_runtime::db::begin_write_sqlite(&self.pool).await
    }

    /// Every write goes through the generic transaction here.
    async fn append_entry(&self, _: &Work) -> ApiResult<Option<Claim>> {
        Ok(None)
    }
}

super::sql::caselog_sql_store!(SqliteStore, sqlx::Sqlite);
