//! Relay-log storage: one trait, a PostgreSQL and a SQLite backend sharing
//! the SQL in `sql.rs` (reads) and `ops.rs` (writes), each with its own
//! migrations.
//!
//! Every write is a [`Work`]: ordered operations applied in one transaction
//! together with their access-log rows and outbox events, or not at all.
//! Every read takes the access-log row that describes it and commits it in
//! the same transaction as the read, before anything is returned.

use async_trait::async_trait;
use bti_runtime::ApiResult;
use bti_runtime::db::{Claim, Db, Migrations};
use bti_runtime::events::OutboxEvent;
use chrono::{DateTime, Utc};

use crate::domain::*;

mod ops;
mod postgres;
mod sql;
mod sqlite;

pub use crate::domain::{LogContext, SummaryRows};
pub use bti_runtime::db::Idem;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// One operation of a write. Updates apply only at the record's `version`
/// (else the whole write is ABORTED) and bump it; `UpdateHandover` also
/// requires the stored state to be `from_state`.
#[derive(Debug, Clone)]
pub enum Op {
    InsertCaseLog(CaseLogRecord),
    UpdateCaseLog(CaseLogRecord),
    /// Records activity on an active log; refuses (FAILED_PRECONDITION) a
    /// closed one, so a write racing a close cannot slip in after it.
    Touch {
        tenant: String,
        id: String,
        at: DateTime<Utc>,
    },
    InsertEntry(EntryRecord),
    InsertLevelChange(LevelChangeRecord),
    InsertGoal(GoalRecord),
    UpdateGoal(GoalRecord),
    InsertMeasure(MeasureRecord),
    UpdateMeasure(MeasureRecord),
    InsertEvaluation(EvaluationRecord),
    InsertParticipant(ParticipantRecord),
    UpdateParticipant(ParticipantRecord),
    InsertHandover(HandoverRecord),
    UpdateHandover {
        record: HandoverRecord,
        from_state: String,
    },
    InsertTransfer(TransferRecord),
    UpdateTransfer {
        record: TransferRecord,
        from_state: String,
    },
    /// Attaches a referral; a second attach of the same referral to the log
    /// is ALREADY_EXISTS (the unique index backs racing attaches).
    InsertReferral(ReferralRecord),
    /// Lifts a referral's restriction; ABORTED when it is not restricted (a
    /// concurrent lift won).
    LiftReferral {
        tenant: String,
        case_log: String,
        id: String,
    },
    InsertHolder {
        tenant: String,
        case_log: String,
        professional: String,
        unit: String,
        since: DateTime<Utc>,
    },
}

/// A write: its operations, the access-log rows describing it and its events.
#[derive(Debug, Clone, Default)]
pub struct Work {
    /// For creates: the idempotency key, the created resource's name and the
    /// key's scope. A replay returns that name without applying anything.
    pub idem: Option<(String, Idem, String)>,
    pub ops: Vec<Op>,
    pub access: Vec<AccessRecord>,
    pub events: Vec<OutboxEvent>,
}

/// A unit's active log with what a unit leader's oversight needs.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OverviewRow {
    pub id: String,
    pub level: String,
    pub holder: String,
    pub holder_unit: String,
    pub holder_since: DateTime<Utc>,
    pub create_time: DateTime<Utc>,
    pub last_activity_time: DateTime<Utc>,
    pub overdue_evaluations: i64,
}

/// Active logs per unit and level.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CountRow {
    pub unit: String,
    pub level: String,
    pub active: i64,
    pub older_than_a_year: i64,
}

/// Collections listed newest or oldest first by id (ids are time-ordered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Oldest,
    Newest,
}

#[async_trait]
pub trait CaseLogStore: Send + Sync {
    /// Applies the write; `Claim::Replay` (applying nothing) when its
    /// idempotency key was used before for the same request.
    async fn apply(&self, work: Work) -> ApiResult<Claim>;

    /// The resource an earlier create with this key made, if any; for creates
    /// whose preconditions a successful first attempt changes (offers), so a
    /// retry gets the first result rather than a precondition failure.
    async fn replayed(&self, scope: &str, idem: &Idem) -> ApiResult<Option<String>>;

    /// The log with its active participants, open offer and pending transfer (no access row:
    /// this is the authorization read; the request's own read logs itself).
    async fn context(&self, tenant: &str, id: &str) -> ApiResult<Option<LogContext>>;

    /// The hot read: the log and its newest entries, with the access row, in
    /// one transaction.
    async fn read_log(
        &self,
        tenant: &str,
        id: &str,
        entries: i64,
        access: &AccessRecord,
    ) -> ApiResult<Option<(CaseLogRecord, Vec<EntryRecord>)>>;

    async fn list_case_logs(
        &self,
        tenant: &str,
        subject: &str,
        state: &str,
        after: &str,
        limit: i64,
    ) -> ApiResult<Vec<CaseLogRecord>>;

    /// A page of the logs `professional` may take part in (a superset the
    /// caller judges): held by them, with an active participant for one of
    /// `units` (named them or the whole unit), or offered to them; each with
    /// its active participants and pending handover and transfer, read at
    /// once. (A unit leader's oversight lists no content: it is
    /// ListCaseLogOverviews.)
    #[allow(clippy::too_many_arguments)]
    async fn professional_contexts(
        &self,
        tenant: &str,
        professional: &str,
        units: &[String],
        subject: &str,
        state: &str,
        after: &str,
        limit: i64,
    ) -> ApiResult<Vec<LogContext>>;

    /// Logs the access rows (one per log listed) with the listing.
    async fn log_reads(&self, access: &[AccessRecord]) -> ApiResult<()>;

    async fn entries(
        &self,
        tenant: &str,
        log: &str,
        after: &str,
        limit: i64,
        order: Order,
        access: &AccessRecord,
    ) -> ApiResult<Vec<EntryRecord>>;
    async fn entry(
        &self,
        tenant: &str,
        log: &str,
        id: &str,
        access: &AccessRecord,
    ) -> ApiResult<Option<EntryRecord>>;
    async fn level_changes(
        &self,
        tenant: &str,
        log: &str,
        after: &str,
        limit: i64,
        access: &AccessRecord,
    ) -> ApiResult<Vec<LevelChangeRecord>>;
    async fn goals(
        &self,
        tenant: &str,
        log: &str,
        after: &str,
        limit: i64,
        access: &AccessRecord,
    ) -> ApiResult<Vec<GoalRecord>>;
    async fn measures(
        &self,
        tenant: &str,
        log: &str,
        after: &str,
        limit: i64,
        access: &AccessRecord,
    ) -> ApiResult<Vec<MeasureRecord>>;
    async fn evaluations(
        &self,
        tenant: &str,
        log: &str,
        measure: &str,
        after: &str,
        limit: i64,
        access: &AccessRecord,
    ) -> ApiResult<Vec<EvaluationRecord>>;
    async fn participants(
        &self,
        tenant: &str,
        log: &str,
        after: &str,
        limit: i64,
        access: &AccessRecord,
    ) -> ApiResult<Vec<ParticipantRecord>>;
    async fn handovers(
        &self,
        tenant: &str,
        log: &str,
        after: &str,
        limit: i64,
        access: &AccessRecord,
    ) -> ApiResult<Vec<HandoverRecord>>;
    async fn transfers(
        &self,
        tenant: &str,
        log: &str,
        after: &str,
        limit: i64,
        access: &AccessRecord,
    ) -> ApiResult<Vec<TransferRecord>>;
    /// The access log, newest first. `family` (guardians, the youth) leaves
    /// out rows about referrals still restricted and the gateway's routing
    /// look-ups.
    async fn access_log(
        &self,
        tenant: &str,
        log: &str,
        after: &str,
        limit: i64,
        family: bool,
        access: &AccessRecord,
    ) -> ApiResult<Vec<AccessRecord>>;
    /// Attached referrals, newest first, without restricted ones unless
    /// `with_restricted`; the listing's row commits with the read.
    async fn referrals(
        &self,
        tenant: &str,
        log: &str,
        before: &str,
        limit: i64,
        with_restricted: bool,
        listing: &AccessRecord,
    ) -> ApiResult<Vec<ReferralRecord>>;
    /// The summary for an external system, with its access row.
    async fn summary(
        &self,
        tenant: &str,
        log: &str,
        access: &AccessRecord,
    ) -> ApiResult<Option<SummaryRows>>;
    async fn holders(&self, tenant: &str, log: &str) -> ApiResult<Vec<HolderRow>>;

    /// Unlogged single-row reads used to check a write's target.
    async fn referral(
        &self,
        tenant: &str,
        log: &str,
        id: &str,
    ) -> ApiResult<Option<ReferralRecord>>;
    /// The attachment of the gateway's `referral` to the log, if any.
    async fn referral_by_source(
        &self,
        tenant: &str,
        log: &str,
        referral: &str,
    ) -> ApiResult<Option<ReferralRecord>>;
    async fn goal(&self, tenant: &str, log: &str, id: &str) -> ApiResult<Option<GoalRecord>>;
    async fn measure(&self, tenant: &str, log: &str, id: &str) -> ApiResult<Option<MeasureRecord>>;
    async fn participant(
        &self,
        tenant: &str,
        log: &str,
        id: &str,
    ) -> ApiResult<Option<ParticipantRecord>>;
    async fn handover(
        &self,
        tenant: &str,
        log: &str,
        id: &str,
    ) -> ApiResult<Option<HandoverRecord>>;
    async fn transfer(
        &self,
        tenant: &str,
        log: &str,
        id: &str,
    ) -> ApiResult<Option<TransferRecord>>;

    /// Oversight: a unit's active logs with overdue-evaluation counts as of `today`.
    async fn overview(
        &self,
        tenant: &str,
        unit: &str,
        today: chrono::NaiveDate,
        after: &str,
        limit: i64,
    ) -> ApiResult<Vec<OverviewRow>>;
    /// Statistics: active logs per unit and level; logs closed since `since`.
    async fn statistics(
        &self,
        tenant: &str,
        year_ago: DateTime<Utc>,
    ) -> ApiResult<(Vec<CountRow>, i64)>;
}

pub fn migrations() -> Migrations {
    Migrations {
        postgres: sqlx::migrate!("migrations/postgres"),
        sqlite: sqlx::migrate!("migrations/sqlite"),
    }
}

/// The store for `db`'s backend. Run [`migrations`] before serving from it.
pub fn for_db(db: &Db) -> std::sync::Arc<dyn CaseLogStore> {
    match db {
        Db::Postgres(pool) => std::sync::Arc::new(PgStore::new(pool.clone())),
        Db::Sqlite(pool) => std::sync::Arc::new(SqliteStore::new(pool.clone())),
    }
}
