//! Consent storage: one trait, a PostgreSQL and a SQLite backend sharing the
//! SQL in `sql.rs`, each with its own migrations.

use async_trait::async_trait;
use bti_runtime::ApiResult;
use bti_runtime::db::{Db, Migrations};
use bti_runtime::events::OutboxEvent;
use chrono::{DateTime, Utc};

use crate::domain::{
    Candidate, ConsentRecord, ConsentView, CoveredCandidate, RepresentationRecord, RevisionRecord,
};

mod postgres;
mod sql;
mod sqlite;

pub use bti_runtime::db::Idem;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Every change of a consent is one transaction: the consent row (only if
/// still at the version it was read at, else ABORTED), its covered units, a
/// new immutable revision and the outbox event.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    async fn create_consent(
        &self,
        c: &ConsentRecord,
        units: &[String],
        rev: &RevisionRecord,
        idem: &Idem,
        event: OutboxEvent,
    ) -> ApiResult<ConsentView>;
    async fn get_consent(&self, tenant: &str, id: &str) -> ApiResult<Option<ConsentView>>;
    /// Consents of a tenant, optionally of one subject and/or grantor, by id.
    async fn list_consents(
        &self,
        tenant: &str,
        subject: &str,
        grantor: &str,
        after: &str,
        limit: i64,
    ) -> ApiResult<Vec<ConsentView>>;
    /// Stores `c` (read at `c.version`) with `units`, appends `rev`, writes `event`.
    async fn change_consent(
        &self,
        c: &ConsentRecord,
        units: &[String],
        rev: &RevisionRecord,
        event: OutboxEvent,
    ) -> ApiResult<ConsentView>;
    async fn get_revision(
        &self,
        tenant: &str,
        consent: &str,
        revision: i64,
    ) -> ApiResult<Option<RevisionRecord>>;
    async fn list_revisions(
        &self,
        tenant: &str,
        consent: &str,
        after: i64,
        limit: i64,
    ) -> ApiResult<Vec<RevisionRecord>>;
    /// The subject's consents for `purpose`, each saying whether it covers `unit`.
    async fn access_candidates(
        &self,
        tenant: &str,
        subject: &str,
        unit: &str,
        purpose: &str,
    ) -> ApiResult<Vec<Candidate>>;
    /// Every consent of `subjects` for one of `purposes` in one read, one row
    /// per covered unit among `units` (or one with `unit` empty).
    async fn access_candidates_batch(
        &self,
        tenant: &str,
        subjects: &[String],
        units: &[String],
        purposes: &[String],
    ) -> ApiResult<Vec<CoveredCandidate>>;
    /// Active consents whose valid-until has passed at `now`.
    async fn expired_but_active(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> ApiResult<Vec<ConsentView>>;

    async fn create_representation(
        &self,
        r: &RepresentationRecord,
        idem: &Idem,
        event: OutboxEvent,
    ) -> ApiResult<RepresentationRecord>;
    async fn get_representation(
        &self,
        tenant: &str,
        id: &str,
    ) -> ApiResult<Option<RepresentationRecord>>;
    async fn list_representations(
        &self,
        tenant: &str,
        subject: &str,
        after: &str,
        limit: i64,
    ) -> ApiResult<Vec<RepresentationRecord>>;
    async fn update_representation(
        &self,
        r: &RepresentationRecord,
        event: OutboxEvent,
    ) -> ApiResult<RepresentationRecord>;
}

pub fn migrations() -> Migrations {
    Migrations {
        postgres: sqlx::migrate!("migrations/postgres"),
        sqlite: sqlx::migrate!("migrations/sqlite"),
    }
}

/// The store for `db`'s backend. Run [`migrations`] before serving from it.
pub fn for_db(db: &Db) -> std::sync::Arc<dyn ConsentStore> {
    match db {
        Db::Postgres(pool) => std::sync::Arc::new(PgStore::new(pool.clone())),
        Db::Sqlite(pool) => std::sync::Arc::new(SqliteStore::new(pool.clone())),
    }
}
