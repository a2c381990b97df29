//! Gateway storage: the client registry, referral intake records with their
//! attachments, idempotency keys and the access log. One trait, a PostgreSQL
//! and a SQLite backend sharing the SQL in `sql.rs`, each with its own
//! migrations.
//!
//! A referral is written in two steps because routing it calls other
//! services: [`GatewayStore::begin_referral`] claims the request id and
//! stores the referral as pending (so a racing or later retry finds it), and
//! [`GatewayStore::settle_referral`] records where it landed together with its
//! event, once. A pending referral is never listed; the retry or the sweep
//! settles it.

use async_trait::async_trait;
use bti_runtime::ApiResult;
use bti_runtime::db::{Db, Migrations};
use bti_runtime::events::OutboxEvent;
use chrono::{DateTime, Utc};

use crate::domain::*;

mod postgres;
mod sql;
mod sqlite;

pub use crate::domain::NewAttachment;
pub use bti_runtime::db::{Claim, Idem};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[async_trait]
pub trait GatewayStore: Send + Sync {
    /// Registers a client; ALREADY_EXISTS for a taken id.
    async fn create_client(&self, c: &ClientRecord, event: OutboxEvent) -> ApiResult<()>;
    async fn client(&self, id: &str) -> ApiResult<Option<ClientRecord>>;
    /// Clients by id; `tenant` (if not empty) keeps those acting for it.
    async fn list_clients(
        &self,
        tenant: &str,
        after: &str,
        limit: i64,
    ) -> ApiResult<Vec<ClientRecord>>;
    /// Stores `c` if the stored version is still `read_version` (else ABORTED).
    async fn update_client(
        &self,
        c: &ClientRecord,
        read_version: i64,
        event: OutboxEvent,
    ) -> ApiResult<()>;

    /// Claims `idem` under `scope` and stores `r` pending with its
    /// attachments and access row, in one transaction: [`Claim::New`] when
    /// stored, or the referral (by id) a first use of the key stored.
    async fn begin_referral(
        &self,
        scope: &str,
        idem: &Idem,
        r: &ReferralRecord,
        attachments: &[NewAttachment],
        access: &AccessRecord,
    ) -> ApiResult<Claim>;
    /// The (fingerprint, referral id) stored for a request id under `scope`,
    /// read before a create's checks so a retry gets the first result even
    /// if what those checks look at has changed since.
    async fn idempotency_key(
        &self,
        scope: &str,
        request_id: &str,
    ) -> ApiResult<Option<(String, String)>>;
    /// Records that a settle decided to attach the pending referral `id` to
    /// `case_log`, before the relay log is asked; `false` when another
    /// settle decided first (then follow its decision).
    async fn claim_attach(&self, id: &str, case_log: &str) -> ApiResult<bool>;
    /// Records where a pending referral landed, with its access row and
    /// event, if its recorded decision is still `decided` (the relay log it
    /// was to be attached to, or empty: none yet); `false` when another
    /// settle decided or finished first.
    async fn settle_referral(
        &self,
        r: &ReferralRecord,
        decided: &str,
        access: &AccessRecord,
        event: OutboxEvent,
    ) -> ApiResult<bool>;
    /// Unlogged read, for authorization and routing.
    async fn referral(&self, id: &str) -> ApiResult<Option<ReferralRecord>>;
    /// The read a caller gets: the referral and its attachments' metadata,
    /// committed together with its access row.
    async fn read_referral(
        &self,
        id: &str,
        access: &AccessRecord,
    ) -> ApiResult<Option<(ReferralRecord, Vec<AttachmentRecord>)>>;
    /// Stores `r` if its version is still `read_version` (else ABORTED), with
    /// the access row (if any) and events.
    async fn update_referral(
        &self,
        r: &ReferralRecord,
        read_version: i64,
        access: Option<&AccessRecord>,
        events: Vec<OutboxEvent>,
    ) -> ApiResult<()>;
    /// A client's settled referrals, newest first.
    async fn client_referrals(
        &self,
        client: &str,
        before: &str,
        limit: i64,
    ) -> ApiResult<Vec<ReferralRecord>>;
    /// Settled child-welfare reports not closed, oldest first; `client` empty
    /// for all clients.
    async fn open_reports(
        &self,
        client: &str,
        after: &str,
        limit: i64,
    ) -> ApiResult<Vec<ReferralRecord>>;
    /// A municipality's intake list, oldest first.
    async fn intake(&self, tenant: &str, after: &str, limit: i64)
    -> ApiResult<Vec<ReferralRecord>>;
    /// Referrals assigned to `unit` from intake, oldest first; restricted
    /// ones (not lifted) only with `include_restricted`.
    async fn assigned(
        &self,
        unit: &str,
        after: &str,
        limit: i64,
        include_restricted: bool,
    ) -> ApiResult<Vec<ReferralRecord>>;
    /// Referrals left pending since before `before` (a crashed or abandoned
    /// create), for the sweep to settle.
    async fn pending(&self, before: DateTime<Utc>, limit: i64) -> ApiResult<Vec<ReferralRecord>>;
    /// A child-welfare report from `client` carrying a legal basis, attached
    /// to `case_log`: the basis for a summary without consent.
    async fn basis_referral(
        &self,
        client: &str,
        person: &str,
        case_log: &str,
    ) -> ApiResult<Option<ReferralRecord>>;
    /// Access rows of reads that list several referrals.
    async fn log_access(&self, rows: &[AccessRecord]) -> ApiResult<()>;
    /// A referral's access log, oldest first.
    async fn access_log(&self, referral: &str) -> ApiResult<Vec<AccessRecord>>;
}

pub fn migrations() -> Migrations {
    Migrations {
        postgres: sqlx::migrate!("migrations/postgres"),
        sqlite: sqlx::migrate!("migrations/sqlite"),
    }
}

/// The store for `db`'s backend. Run [`migrations`] before serving from it.
pub fn for_db(db: &Db) -> std::sync::Arc<dyn GatewayStore> {
    match db {
        Db::Postgres(pool) => std::sync::Arc::new(PgStore::new(pool.clone())),
        Db::Sqlite(pool) => std::sync::Arc::new(SqliteStore::new(pool.clone())),
    }
}
