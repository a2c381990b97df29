//! Scheduling storage: one trait, a PostgreSQL and a SQLite backend sharing
//! the SQL in `sql.rs`, each with its own migrations. Every write commits
//! with its events and access-log rows, or not at all.

use async_trait::async_trait;
use bti_runtime::ApiResult;
use bti_runtime::db::{Db, Migrations};
use bti_runtime::events::OutboxEvent;
use chrono::{DateTime, Utc};

use crate::domain::*;

mod postgres;
mod sql;
mod sqlite;

pub use bti_runtime::db::Idem;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Which meetings a list wants.
#[derive(Debug, Clone, Default)]
pub struct MeetingQuery {
    pub tenant: String,
    /// A unit id, or empty for every unit (then `mine` decides).
    pub unit: String,
    /// For every unit: only those the caller organizes or takes part in,
    /// as a professional subject, a person, or one of their units.
    pub mine: Option<Mine>,
    pub case_log: String,
    pub subject: String,
    pub state: String,
    pub kind: String,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub offset: i64,
    pub limit: i64,
}

/// The caller, for "my meetings".
#[derive(Debug, Clone, Default)]
pub struct Mine {
    pub professional: String,
    pub person: String,
    /// `,unit1,unit2,` (matched with LIKE on both backends).
    pub units: String,
}

/// Which deadlines a list wants.
#[derive(Debug, Clone, Default)]
pub struct DeadlineQuery {
    pub tenant: String,
    pub responsible: String,
    /// `,unit1,unit2,`: units whose deadlines the caller sees as leader.
    pub led_units: String,
    pub unit: String,
    pub state: String,
    pub stage: String,
    pub kind: String,
    pub case_log: String,
    pub offset: i64,
    pub limit: i64,
}

/// A new meeting and what comes with it.
pub struct NewMeeting<'a> {
    pub view: &'a MeetingView,
    pub slots: &'a [SlotRecord],
    /// For a booking: the slot whose place it takes.
    pub takes: Option<&'a SlotRecord>,
    pub access: &'a [AccessRow],
    pub events: &'a [OutboxEvent],
}

#[async_trait]
pub trait SchedulingStore: Send + Sync {
    /// A series with the meetings (and slots) it produced.
    async fn create_series(
        &self,
        s: &SeriesRecord,
        meetings: &[MeetingView],
        slots: &[SlotRecord],
        idem: &Idem,
    ) -> ApiResult<SeriesRecord>;
    async fn get_series(
        &self,
        tenant: &str,
        unit: &str,
        id: &str,
    ) -> ApiResult<Option<SeriesRecord>>;
    async fn list_series(
        &self,
        tenant: &str,
        unit: &str,
        offset: i64,
        limit: i64,
    ) -> ApiResult<Vec<SeriesRecord>>;
    /// The meetings a series produced, by start.
    async fn series_meetings(&self, tenant: &str, series: &str) -> ApiResult<Vec<String>>;

    /// A meeting (with its slots, or taking a place in a slot: FAILED_PRECONDITION
    /// SLOT_FULL when none is left).
    async fn create_meeting(
        &self,
        m: NewMeeting<'_>,
        scope: &str,
        idem: &Idem,
    ) -> ApiResult<MeetingView>;
    async fn get_meeting(&self, tenant: &str, id: &str) -> ApiResult<Option<MeetingView>>;
    async fn list_meetings(&self, q: &MeetingQuery) -> ApiResult<Vec<MeetingView>>;
    /// Stores `v` (read at `v.meeting.version`, else ABORTED), replacing its
    /// participants; `frees` gives back the place it took in its slot.
    async fn save_meeting(
        &self,
        v: &MeetingView,
        frees: bool,
        access: &[AccessRow],
        events: &[OutboxEvent],
    ) -> ApiResult<MeetingView>;
    /// One participant's answer; the meeting itself is unchanged.
    async fn set_response(
        &self,
        tenant: &str,
        participant: &str,
        response: &str,
        access: &[AccessRow],
    ) -> ApiResult<()>;
    async fn list_slots(
        &self,
        tenant: &str,
        unit: &str,
        meeting: &str,
    ) -> ApiResult<Vec<SlotRecord>>;
    async fn get_slot(
        &self,
        tenant: &str,
        unit: &str,
        meeting: &str,
        id: &str,
    ) -> ApiResult<Option<SlotRecord>>;

    /// Inserts the deadline of `d.cause`, or, when one exists and is open,
    /// moves it to `d`'s timing and owner. Returns the stored deadline.
    async fn upsert_deadline(&self, d: &DeadlineRecord) -> ApiResult<DeadlineRecord>;
    async fn get_deadline(&self, tenant: &str, id: &str) -> ApiResult<Option<DeadlineRecord>>;
    async fn deadline_by_cause(
        &self,
        tenant: &str,
        cause: &str,
    ) -> ApiResult<Option<DeadlineRecord>>;
    async fn list_deadlines(&self, q: &DeadlineQuery) -> ApiResult<Vec<DeadlineRecord>>;
    /// Stores `d` (read at `d.version`, else ABORTED) with its events.
    async fn save_deadline(
        &self,
        d: &DeadlineRecord,
        access: &[AccessRow],
        events: &[OutboxEvent],
    ) -> ApiResult<DeadlineRecord>;
    /// Open deadlines with a stage to pass at `now`.
    async fn due_deadlines(&self, now: DateTime<Utc>, limit: i64)
    -> ApiResult<Vec<DeadlineRecord>>;
    /// Open deadlines of a log.
    async fn open_deadlines_of(
        &self,
        tenant: &str,
        case_log: &str,
    ) -> ApiResult<Vec<DeadlineRecord>>;

    async fn upsert_log(&self, l: &LogRecord) -> ApiResult<()>;
    async fn get_log(&self, tenant: &str, case_log: &str) -> ApiResult<Option<LogRecord>>;
    async fn active_logs_of(&self, tenant: &str, subject: &str) -> ApiResult<Vec<LogRecord>>;

    /// A consent's end of validity (`None`: none), and whether it is in force.
    async fn upsert_consent(&self, c: &ConsentValidity) -> ApiResult<()>;
    /// The child's consents in force.
    async fn consents_of(&self, tenant: &str, subject: &str) -> ApiResult<Vec<ConsentValidity>>;

    /// Access-log rows of reads (writes add theirs in their transaction).
    async fn log_access(&self, rows: &[AccessRow]) -> ApiResult<()>;
    async fn list_access(
        &self,
        tenant: &str,
        subject: &str,
        offset: i64,
        limit: i64,
    ) -> ApiResult<Vec<AccessRow>>;

    /// Whether the event was handled already.
    async fn handled(&self, event: &str) -> ApiResult<bool>;
    async fn mark_handled(&self, event: &str, at: DateTime<Utc>) -> ApiResult<()>;
}

pub fn migrations() -> Migrations {
    Migrations {
        postgres: sqlx::migrate!("migrations/postgres"),
        sqlite: sqlx::migrate!("migrations/sqlite"),
    }
}

/// The store for `db`'s backend. Run [`migrations`] before serving from it.
pub fn for_db(db: &Db) -> std::sync::Arc<dyn SchedulingStore> {
    match db {
        Db::Postgres(pool) => std::sync::Arc::new(PgStore::new(pool.clone())),
        Db::Sqlite(pool) => std::sync::Arc::new(SqliteStore::new(pool.clone())),
    }
}
