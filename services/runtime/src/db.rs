//! Storage plumbing for both backends: pools picked by URL scheme, migrations
//! (the runtime's own tables first, then the service's), and the two things
//! every write transaction may need, whatever the backend: claiming an
//! idempotency key and enqueueing an outbox event.
//!
//! Services write their SQL once and instantiate it for `PgConnection` and
//! `SqliteConnection`; what differs per backend (how a write transaction
//! starts, migrations) lives here or in the service's backend module.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::{ApiError, ApiResult};
use crate::events::OutboxEvent;

/// A connection pool to one service's database.
#[derive(Clone, Debug)]
pub enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A service's migrations, one set per backend.
pub struct Migrations {
    pub postgres: Migrator,
    pub sqlite: Migrator,
}

impl Db {
    /// Connects by URL scheme: `postgres://` / `postgresql://` or `sqlite://`
    /// (the file is created when missing).
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Db> {
        Self::connect_with(url, max_connections, Duration::from_secs(5)).await
    }

    /// Like [`Db::connect`]; a call waits at most `acquire_timeout` for a
    /// connection (then UNAVAILABLE) while the database cannot be reached.
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> anyhow::Result<Db> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?.application_name("bti");
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(acquire_timeout)
                .connect_with(opts)
                .await?;
            Ok(Db::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30));
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections.clamp(1, 8))
                .connect_with(opts)
                .await?;
            Ok(Db::Sqlite(pool))
        } else {
            anyhow::bail!("database url must start with postgres://, postgresql:// or sqlite:")
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Postgres(_) => "postgres",
            Db::Sqlite(_) => "sqlite",
        }
    }

    /// Runs the runtime's plumbing migrations, then the service's. On
    /// PostgreSQL sqlx holds an advisory lock, so pods starting together
    /// migrate once.
    pub async fn migrate(&self, service: &Migrations) -> anyhow::Result<()> {
        match self {
            Db::Postgres(pool) => {
                let mut plumbing = sqlx::migrate!("migrations/postgres");
                plumbing.dangerous_set_table_name("_bti_runtime_migrations");
                plumbing.run(pool).await?;
                service.postgres.run(pool).await?;
            }
            Db::Sqlite(pool) => {
                let mut plumbing = sqlx::migrate!("migrations/sqlite");
                plumbing.dangerous_set_table_name("_bti_runtime_migrations");
                plumbing.run(pool).await?;
                service.sqlite.run(pool).await?;
            }
        }
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Db::Postgres(p) => p.close().await,
            Db::Sqlite(p) => p.close().await,
        }
    }
}

/// What the two backends spell differently in otherwise shared SQL.
pub trait Dialect {
    /// `column` is one of the strings in the JSON array bound at `param` (a
    /// list of any length as one bound value). On PostgreSQL an array
    /// comparison, which an index can serve whatever the list's length.
    fn in_list(column: &str, param: &str) -> String;
}

impl Dialect for sqlx::Postgres {
    fn in_list(column: &str, param: &str) -> String {
        format!("{column} = ANY(ARRAY(SELECT jsonb_array_elements_text(CAST({param} AS jsonb))))")
    }
}

impl Dialect for sqlx::Sqlite {
    fn in_list(column: &str, param: &str) -> String {
        format!("{column} IN (SELECT value FROM json_each({param}))")
    }
}

/// `items` as the JSON array [`Dialect::json_list`] reads.
pub fn json_list<S: AsRef<str>>(items: &[S]) -> String {
    serde_json::Value::from(items.iter().map(|s| s.as_ref()).collect::<Vec<_>>()).to_string()
}

/// Starts a write transaction. SQLite needs `BEGIN IMMEDIATE` so that two
/// writers never both upgrade from a read lock and deadlock into SQLITE_BUSY;
/// PostgreSQL's default READ COMMITTED plus conditional updates is enough.
pub async fn begin_write_sqlite(
    pool: &SqlitePool,
) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// Idempotency of a create: the client's request id (if any) and a
/// fingerprint of the request.
#[derive(Debug, Clone, Default)]
pub struct Idem {
    pub request_id: Option<String>,
    pub fingerprint: String,
}

impl Idem {
    /// From a create request's `request_id` field and the request itself.
    pub fn of(request_id: &str, request: &impl prost::Message) -> ApiResult<Idem> {
        Ok(Idem {
            request_id: crate::api::validate_request_id("request_id", request_id)?,
            fingerprint: crate::api::request_fingerprint(&request.encode_to_vec()),
        })
    }

    /// What the (fingerprint, resource) stored for this key, if any, means:
    /// a new create, a replay of the same request, or a reused key.
    pub fn judge(&self, stored: Option<(String, String)>) -> ApiResult<Claim> {
        match stored {
            None => Ok(Claim::New),
            Some((fingerprint, existing)) if fingerprint == self.fingerprint => {
                Ok(Claim::Replay(existing))
            }
            Some(_) => Err(ApiError::invalid(
                "request_id",
                "was already used for a different request",
            )),
        }
    }
}

/// Writes `event` to the outbox and commits: the last step of every write.
pub async fn commit_with<DB>(
    mut tx: sqlx::Transaction<'static, DB>,
    event: &OutboxEvent,
) -> ApiResult<()>
where
    DB: sqlx::Database,
    DB::Connection: Plumbing,
{
    tx.enqueue(event).await?;
    tx.commit().await?;
    Ok(())
}

/// What a transaction found when it claimed an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First use of the key: go on and create.
    New,
    /// The key was used before for the same request: return this resource.
    Replay(String),
}

/// The operations every service transaction shares, for both backends.
#[async_trait]
pub trait Plumbing: Send {
    /// Writes `event` to the outbox in the current transaction.
    async fn enqueue(&mut self, event: &OutboxEvent) -> sqlx::Result<()>;

    /// The (fingerprint, resource) stored for a key, if any.
    async fn stored_key(
        &mut self,
        scope: &str,
        request_id: &str,
    ) -> sqlx::Result<Option<(String, String)>>;

    /// Inserts the key or returns the (fingerprint, resource) stored for it.
    async fn claim_key(
        &mut self,
        scope: &str,
        request_id: &str,
        fingerprint: &str,
        resource: &str,
    ) -> sqlx::Result<Option<(String, String)>>;

    /// Claims the create's idempotency key (if any) for `resource` within the
    /// transaction. A concurrent claim of the same key waits on the key's
    /// unique index (or on SQLite's write lock) and then sees the winner's row.
    async fn claim(&mut self, scope: &str, idem: &Idem, resource: &str) -> ApiResult<Claim> {
        let Some(request_id) = idem.request_id.as_deref() else {
            return Ok(Claim::New);
        };
        let stored = self
            .claim_key(scope, request_id, &idem.fingerprint, resource)
            .await?;
        idem.judge(stored)
    }
}

macro_rules! impl_plumbing {
    ($conn:ty) => {
        #[async_trait]
        impl Plumbing for $conn {
            async fn enqueue(&mut self, e: &OutboxEvent) -> sqlx::Result<()> {
                sqlx::query(
                    "INSERT INTO bti_outbox (id, source, event_type, subject, tenant, time, data, traceparent) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&e.id)
                .bind(&e.source)
                .bind(&e.event_type)
                .bind(&e.subject)
                .bind(&e.tenant)
                .bind(e.time)
                .bind(&e.data)
                .bind(&e.traceparent)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn claim_key(
                &mut self,
                scope: &str,
                request_id: &str,
                fingerprint: &str,
                resource: &str,
            ) -> sqlx::Result<Option<(String, String)>> {
                let inserted = sqlx::query(
                    "INSERT INTO bti_idempotency (scope, request_id, fingerprint, resource, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, request_id) DO NOTHING",
                )
                .bind(scope)
                .bind(request_id)
                .bind(fingerprint)
                .bind(resource)
                .bind(Utc::now())
                .execute(&mut *self)
                .await?
                .rows_affected();
                if inserted == 1 {
                    return Ok(None);
                }
                self.stored_key(scope, request_id).await
            }

            async fn stored_key(
                &mut self,
                scope: &str,
                request_id: &str,
            ) -> sqlx::Result<Option<(String, String)>> {
                sqlx::query_as::<_, (String, String)>(
                    "SELECT fingerprint, resource FROM bti_idempotency WHERE scope = $1 AND request_id = $2",
                )
                .bind(scope)
                .bind(request_id)
                .fetch_optional(&mut *self)
                .await
            }
        }
    };
}

impl_plumbing!(sqlx::PgConnection);
impl_plumbing!(sqlx::SqliteConnection);

/// An outbox row read back for publishing.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OutboxRow {
    pub seq: i64,
    pub id: String,
    pub source: String,
    pub event_type: String,
    pub subject: String,
    pub tenant: String,
    pub time: DateTime<Utc>,
    pub data: Vec<u8>,
    pub traceparent: String,
}

const SELECT_OUTBOX: &str = "SELECT seq, id, source, event_type, subject, tenant, time, data, traceparent \
     FROM bti_outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1";
const SELECT_OUTBOX_SEQ: &str =
    "SELECT seq FROM bti_outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1";

impl Db {
    /// Publishes up to `limit` unpublished outbox rows in order with `publish`
    /// and marks them published. Returns how many were published. On
    /// PostgreSQL the rows stay locked (SKIP LOCKED) while they are published,
    /// so several replicas never publish the same batch at once.
    pub(crate) async fn relay_batch<F, Fut>(&self, limit: i64, publish: F) -> anyhow::Result<usize>
    where
        F: Fn(OutboxRow) -> Fut + Send + Sync,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
    {
        match self {
            Db::Postgres(pool) => {
                // The mark needs no flush to disk before the next batch: a
                // mark lost in a crash only publishes the rows again, and
                // JetStream's de-duplication by message id absorbs that. The
                // rows are marked and locked in one statement and published
                // before the commit; a failed publish rolls the marks back.
                let mut tx = pool
                    .begin_with("BEGIN; SET LOCAL synchronous_commit = off")
                    .await?;
                let sql = format!(
                    "UPDATE bti_outbox SET published_at = $2 WHERE seq IN \
                     ({SELECT_OUTBOX_SEQ} FOR UPDATE SKIP LOCKED) \
                     RETURNING seq, id, source, event_type, subject, tenant, time, data, traceparent"
                );
                let mut rows: Vec<OutboxRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(limit)
                    .bind(Utc::now())
                    .fetch_all(&mut *tx)
                    .await?;
                rows.sort_by_key(|r| r.seq);
                let n = rows.len();
                for row in rows {
                    publish(row).await?;
                }
                tx.commit().await?;
                Ok(n)
            }
            Db::Sqlite(pool) => {
                // One relay per SQLite file (the dev process), so no locking.
                let rows: Vec<OutboxRow> = sqlx::query_as(SELECT_OUTBOX)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
                let n = rows.len();
                for row in rows {
                    let seq = row.seq;
                    publish(row).await?;
                    sqlx::query("UPDATE bti_outbox SET published_at = $1 WHERE seq = $2")
                        .bind(Utc::now())
                        .bind(seq)
                        .execute(pool)
                        .await?;
                }
                Ok(n)
            }
        }
    }
}

/// How a database error should be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The connection or the server is gone or refusing: a retry may cure it.
    Unavailable,
    /// A serialization failure or deadlock: the client may retry.
    Conflict,
    /// A string the database cannot store (PostgreSQL refuses NUL).
    BadText,
    Other,
}

/// Sorts a sqlx error by what the client should be told.
pub fn classify(err: &sqlx::Error) -> Failure {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => Failure::Unavailable,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                let code = pg.code();
                // Class 08: connection exception; 57P0x: shutting down or
                // starting up; 53xxx: out of resources (connections).
                if code.starts_with("08") || code.starts_with("57P") || code.starts_with("53") {
                    return Failure::Unavailable;
                }
                return match code {
                    "40001" | "40P01" => Failure::Conflict,
                    "22021" | "22P05" => Failure::BadText,
                    _ => Failure::Other,
                };
            }
            // SQLite's extended result code; the primary code is its low byte.
            let code = db
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .unwrap_or_default();
            match code & 0xff {
                // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN
                5 | 6 | 10 | 13 | 14 => Failure::Unavailable,
                _ => Failure::Other,
            }
        }
        _ => Failure::Other,
    }
}

impl Db {
    /// Pool connections `(in use, idle, max)`.
    pub fn pool_state(&self) -> (i64, i64, i64) {
        let (size, idle, max) = match self {
            Db::Postgres(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
            Db::Sqlite(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
        };
        let (size, idle) = (i64::from(size), idle as i64);
        ((size - idle).max(0), idle, i64::from(max))
    }

    /// Outbox events not yet published, and how long the oldest has waited.
    pub async fn outbox_backlog(&self) -> anyhow::Result<(i64, Duration)> {
        const SQL: &str = "SELECT COUNT(*), MIN(time) FROM bti_outbox WHERE published_at IS NULL";
        let (n, oldest): (i64, Option<DateTime<Utc>>) = match self {
            Db::Postgres(p) => sqlx::query_as(SQL).fetch_one(p).await?,
            Db::Sqlite(p) => {
                let (n, t): (i64, Option<String>) = sqlx::query_as(SQL).fetch_one(p).await?;
                let t = t
                    .and_then(|t| DateTime::parse_from_rfc3339(&t.replace(' ', "T")).ok())
                    .map(|t| t.with_timezone(&Utc));
                (n, t)
            }
        };
        let age = oldest
            .and_then(|t| (Utc::now() - t).to_std().ok())
            .unwrap_or_default();
        Ok((n, age))
    }

    /// Whether the database answers now (a `SELECT 1` within `timeout`).
    pub async fn ping(&self, timeout: Duration) -> anyhow::Result<()> {
        let query = async {
            match self {
                Db::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.map(drop),
                Db::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.map(drop),
            }
        };
        match tokio::time::timeout(timeout, query).await {
            Ok(r) => Ok(r?),
            Err(_) => anyhow::bail!("the database did not answer within {timeout:?}"),
        }
    }
}

/// Maps a failed write: a unique violation is ALREADY_EXISTS for `resource`, a
/// foreign-key violation is FAILED_PRECONDITION (something it refers to is
/// gone); anything else is internal.
pub fn write_error(err: sqlx::Error, resource: &str) -> ApiError {
    use sqlx::error::ErrorKind;
    if let Some(db) = err.as_database_error() {
        match db.kind() {
            ErrorKind::UniqueViolation => return ApiError::AlreadyExists(resource.to_string()),
            ErrorKind::ForeignKeyViolation => {
                return ApiError::precondition(
                    "REFERENCE_MISSING",
                    resource,
                    "a resource it refers to does not exist",
                );
            }
            _ => {}
        }
    }
    err.into()
}

/// Outcome of a conditional (`… AND version = $n`) update or delete: one row
/// means it applied; none means the resource changed since it was read
/// (ABORTED) or is gone (NOT_FOUND).
pub fn check_versioned(rows_affected: u64, still_exists: bool, resource: &str) -> ApiResult<()> {
    match (rows_affected, still_exists) {
        (1, _) => Ok(()),
        (_, true) => Err(ApiError::EtagMismatch(resource.to_string())),
        (_, false) => Err(ApiError::NotFound(resource.to_string())),
    }
}
