//! Directory storage: one trait, a PostgreSQL and a SQLite backend. The SQL is
//! written once (`sql.rs`) and instantiated for each backend's connection
//! type; each backend module owns its pool, its migrations and how it opens a
//! write transaction.

use async_trait::async_trait;
use bti_runtime::ApiResult;
use bti_runtime::db::{Db, Migrations};
use bti_runtime::events::OutboxEvent;

use crate::domain::{GuardianshipRecord, MemberRecord, PersonRecord, TenantRecord, UnitRecord};

mod postgres;
mod sql;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

pub use bti_runtime::db::Idem;

/// Every write commits with its outbox event in one transaction. Updates and
/// deletes take the record as the caller last read it: the change applies only
/// if the stored version is still `version` (else ABORTED), and the stored
/// version becomes `version + 1`.
#[async_trait]
pub trait DirectoryStore: Send + Sync {
    fn backend(&self) -> &'static str;

    async fn create_tenant(
        &self,
        r: &TenantRecord,
        idem: &Idem,
        event: OutboxEvent,
    ) -> ApiResult<TenantRecord>;
    async fn get_tenant(&self, id: &str) -> ApiResult<Option<TenantRecord>>;
    async fn list_tenants(&self, after: &str, limit: i64) -> ApiResult<Vec<TenantRecord>>;
    async fn update_tenant(&self, r: &TenantRecord, event: OutboxEvent) -> ApiResult<TenantRecord>;

    async fn create_unit(
        &self,
        r: &UnitRecord,
        idem: &Idem,
        event: OutboxEvent,
    ) -> ApiResult<UnitRecord>;
    async fn get_unit(&self, tenant: &str, id: &str) -> ApiResult<Option<UnitRecord>>;
    async fn list_units(
        &self,
        tenant: &str,
        unit_type: &str,
        after: &str,
        limit: i64,
    ) -> ApiResult<Vec<UnitRecord>>;
    async fn update_unit(&self, r: &UnitRecord, event: OutboxEvent) -> ApiResult<UnitRecord>;

    async fn create_member(
        &self,
        r: &MemberRecord,
        idem: &Idem,
        event: OutboxEvent,
    ) -> ApiResult<MemberRecord>;
    async fn get_member(
        &self,
        tenant: &str,
        unit: &str,
        id: &str,
    ) -> ApiResult<Option<MemberRecord>>;
    async fn list_members(
        &self,
        tenant: &str,
        unit: &str,
        after: &str,
        limit: i64,
    ) -> ApiResult<Vec<MemberRecord>>;
    async fn update_member(&self, r: &MemberRecord, event: OutboxEvent) -> ApiResult<MemberRecord>;
    async fn delete_member(&self, r: &MemberRecord, event: OutboxEvent) -> ApiResult<()>;

    async fn create_person(
        &self,
        r: &PersonRecord,
        idem: &Idem,
        event: OutboxEvent,
    ) -> ApiResult<PersonRecord>;
    async fn get_person(&self, tenant: &str, id: &str) -> ApiResult<Option<PersonRecord>>;
    async fn list_persons(
        &self,
        tenant: &str,
        kind: &str,
        after: &str,
        limit: i64,
    ) -> ApiResult<Vec<PersonRecord>>;
    async fn update_person(&self, r: &PersonRecord, event: OutboxEvent) -> ApiResult<PersonRecord>;
    async fn lookup_person(
        &self,
        tenant: &str,
        national_id: &str,
    ) -> ApiResult<Option<PersonRecord>>;

    async fn create_guardianship(
        &self,
        r: &GuardianshipRecord,
        idem: &Idem,
        event: OutboxEvent,
    ) -> ApiResult<GuardianshipRecord>;
    async fn get_guardianship(
        &self,
        tenant: &str,
        person: &str,
        id: &str,
    ) -> ApiResult<Option<GuardianshipRecord>>;
    async fn list_guardianships(
        &self,
        tenant: &str,
        person: &str,
        after: &str,
        limit: i64,
    ) -> ApiResult<Vec<GuardianshipRecord>>;
    async fn update_guardianship(
        &self,
        r: &GuardianshipRecord,
        event: OutboxEvent,
    ) -> ApiResult<GuardianshipRecord>;
    async fn delete_guardianship(
        &self,
        r: &GuardianshipRecord,
        event: OutboxEvent,
    ) -> ApiResult<()>;
}

/// The directory's migrations for each backend.
pub fn migrations() -> Migrations {
    Migrations {
        postgres: sqlx::migrate!("migrations/postgres"),
        sqlite: sqlx::migrate!("migrations/sqlite"),
    }
}

/// The store for `db`'s backend. Run [`migrations`] before serving from it.
pub fn for_db(db: &Db) -> std::sync::Arc<dyn DirectoryStore> {
    match db {
        Db::Postgres(pool) => std::sync::Arc::new(PgStore::new(pool.clone())),
        Db::Sqlite(pool) => std::sync::Arc::new(SqliteStore::new(pool.clone())),
    }
}
