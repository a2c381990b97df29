//! The relay log's store, written once for both backends: `apply` (a write
//! with its access rows and events, see `ops.rs`) and the reads, each
//! logged read committing its access row in the same transaction.
//!
//! Logged reads open their transaction with the backend's `begin()`, the
//! same as writes: on SQLite that is `BEGIN IMMEDIATE`, because a logged read
//! writes (its access row). A deferred transaction that reads first and then
//! writes can find its snapshot stale once another writer committed, and
//! SQLite answers SQLITE_BUSY at once instead of waiting; taking the write
//! lock up front makes it wait its turn (busy timeout) instead.

macro_rules! caselog_sql_store {
    ($store:ident, $db:ty) => {
        use async_trait::async_trait;
        use bti_runtime::db::{Claim, Plumbing};
        use bti_runtime::ApiResult;
        use chrono::{DateTime, NaiveDate, Utc};

        use super::{CaseLogStore, CountRow, Idem, Order, OverviewRow, Work};
        use crate::domain::*;

        super::ops::caselog_ops!($db);

        /// `SELECT *` of a log's child table, one page by id after `$3`, `$4` rows.
        macro_rules! page_of {
            ($table:literal) => {
                concat!(
                    "SELECT * FROM ", $table,
                    " WHERE tenant = $1 AND case_log = $2 AND id > $3 ORDER BY id LIMIT $4"
                )
            };
        }

        /// One row of a log's child table by id.
        macro_rules! row_of {
            ($table:literal) => {
                concat!("SELECT * FROM ", $table, " WHERE tenant = $1 AND case_log = $2 AND id = $3")
            };
        }

        /// All of a log's rows of a child table, oldest first.
        macro_rules! all_of {
            ($table:literal) => {
                concat!("SELECT * FROM ", $table, " WHERE tenant = $1 AND case_log = $2 ORDER BY id")
            };
        }

        const HOLDERS: &str =
            "SELECT professional, unit, since FROM holder_history WHERE tenant = $1 AND case_log = $2 ORDER BY seq";

        /// A participant's columns beside its log's (`p_*`, empty without one).
        #[derive(sqlx::FromRow)]
        struct JoinedParticipant {
            p_id: Option<String>,
            p_unit: Option<String>,
            p_professional: Option<String>,
            p_tasks: Option<String>,
            p_remove_time: Option<DateTime<Utc>>,
            p_version: Option<i64>,
            p_create_time: Option<DateTime<Utc>>,
        }

        impl JoinedParticipant {
            fn record(self, log: &CaseLogRecord) -> Option<ParticipantRecord> {
                Some(ParticipantRecord {
                    tenant: log.tenant.clone(),
                    case_log: log.id.clone(),
                    id: self.p_id?,
                    unit: self.p_unit?,
                    professional: self.p_professional?,
                    tasks: self.p_tasks?,
                    removed: false,
                    remove_time: self.p_remove_time,
                    version: self.p_version?,
                    create_time: self.p_create_time?,
                })
            }
        }

        impl $store {
            /// A page of `sql` (`page_of!`) with the read's access row, in one transaction.
            async fn page<T>(&self, sql: &'static str, tenant: &str, log: &str, after: &str, limit: i64, access: &AccessRecord) -> ApiResult<Vec<T>>
            where
                T: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
            {
                if Self::ONE_STATEMENT {
                    let q = sqlx::query_as(with_access(sql, 4)).bind(tenant).bind(log).bind(after).bind(limit);
                    return Ok(bind_access(q, access).fetch_all(&self.pool).await?);
                }
                let mut tx = self.begin().await?;
                let rows = sqlx::query_as(sql).bind(tenant).bind(log).bind(after).bind(limit).fetch_all(&mut *tx).await?;
                insert_access(&mut tx, access).await?;
                tx.commit().await?;
                Ok(rows)
            }

            /// An unlogged row of `sql` (`row_of!`): to check a write's target.
            async fn row<T>(&self, sql: &'static str, tenant: &str, log: &str, id: &str) -> ApiResult<Option<T>>
            where
                T: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
            {
                Ok(sqlx::query_as(sql).bind(tenant).bind(log).bind(id).fetch_optional(&self.pool).await?)
            }
        }

        async fn all<T>(tx: &mut Tx, sql: &'static str, tenant: &str, log: &str) -> ApiResult<Vec<T>>
        where
            T: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
        {
            Ok(sqlx::query_as(sql).bind(tenant).bind(log).fetch_all(&mut **tx).await?)
        }

        async fn case_log(tx: &mut Tx, tenant: &str, id: &str) -> ApiResult<Option<CaseLogRecord>> {
            Ok(sqlx::query_as("SELECT * FROM case_logs WHERE tenant = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?)
        }

        #[async_trait]
        impl CaseLogStore for $store {
            async fn apply(&self, work: Work) -> ApiResult<Claim> {
                if let Some(claim) = self.append_entry(&work).await? {
                    return Ok(claim);
                }
                let mut tx = self.begin().await?;
                if let Some((scope, idem, name)) = &work.idem
                    && let Claim::Replay(existing) = tx.claim(scope, idem, name).await?
                {
                    return Ok(Claim::Replay(existing));
                }
                for op in &work.ops {
                    apply_op(&mut tx, op).await?;
                }
                for a in &work.access {
                    insert_access(&mut tx, a).await?;
                }
                for e in &work.events {
                    tx.enqueue(e).await?;
                }
                tx.commit().await?;
                Ok(Claim::New)
            }

            async fn replayed(&self, scope: &str, idem: &Idem) -> ApiResult<Option<String>> {
                let Some(request_id) = idem.request_id.as_deref() else { return Ok(None) };
                let mut conn = self.pool.acquire().await?;
                let stored = conn.stored_key(scope, request_id).await?;
                Ok(match idem.judge(stored)? {
                    Claim::New => None,
                    Claim::Replay(existing) => Some(existing),
                })
            }

            async fn context(&self, tenant: &str, id: &str) -> ApiResult<Option<LogContext>> {
                use sqlx::FromRow;
                let mut conn = self.pool.acquire().await?;
                // The log and its active participants in one round trip: one
                // row per participant (or one with no participant).
                let rows = sqlx::query(
                    "SELECT l.*, p.id AS p_id, p.unit AS p_unit, p.professional AS p_professional, \
                     p.tasks AS p_tasks, p.remove_time AS p_remove_time, p.version AS p_version, \
                     p.create_time AS p_create_time FROM case_logs l LEFT JOIN participants p \
                     ON p.tenant = l.tenant AND p.case_log = l.id AND p.removed = FALSE \
                     WHERE l.tenant = $1 AND l.id = $2 ORDER BY p.id",
                )
                .bind(tenant)
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
                let Some(first) = rows.first() else { return Ok(None) };
                let log = CaseLogRecord::from_row(first)?;
                let participants = rows
                    .iter()
                    .map(JoinedParticipant::from_row)
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .filter_map(|p| p.record(&log))
                    .collect();
                let mut pending_handover = None;
                if !log.pending_handover.is_empty() {
                    pending_handover = sqlx::query_as(row_of!("handovers"))
                        .bind(tenant)
                        .bind(id)
                        .bind(&log.pending_handover)
                        .fetch_optional(&mut *conn)
                        .await?;
                }
                let mut pending_transfer = None;
                if !log.pending_transfer.is_empty() {
                    pending_transfer = sqlx::query_as(row_of!("transfers"))
                        .bind(tenant)
                        .bind(id)
                        .bind(&log.pending_transfer)
                        .fetch_optional(&mut *conn)
                        .await?;
                }
                Ok(Some(LogContext { log, participants, pending_handover, pending_transfer }))
            }

            async fn read_log(
                &self,
                tenant: &str,
                id: &str,
                entries: i64,
                access: &AccessRecord,
            ) -> ApiResult<Option<(CaseLogRecord, Vec<EntryRecord>)>> {
                let mut tx = self.begin().await?;
                let Some(log) = case_log(&mut tx, tenant, id).await? else { return Ok(None) };
                let latest = sqlx::query_as(
                    "SELECT * FROM entries WHERE tenant = $1 AND case_log = $2 ORDER BY id DESC LIMIT $3",
                )
                .bind(tenant)
                .bind(id)
                .bind(entries)
                .fetch_all(&mut *tx)
                .await?;
                insert_access(&mut tx, access).await?;
                tx.commit().await?;
                Ok(Some((log, latest)))
            }

            async fn list_case_logs(
                &self,
                tenant: &str,
                subject: &str,
                state: &str,
                after: &str,
                limit: i64,
            ) -> ApiResult<Vec<CaseLogRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM case_logs WHERE tenant = $1 AND ($2 = '' OR subject = $2) \
                     AND ($3 = '' OR state = $3) AND id > $4 ORDER BY id LIMIT $5",
                )
                .bind(tenant)
                .bind(subject)
                .bind(state)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn professional_contexts(
                &self,
                tenant: &str,
                professional: &str,
                units: &[String],
                subject: &str,
                state: &str,
                after: &str,
                limit: i64,
            ) -> ApiResult<Vec<LogContext>> {
                use bti_runtime::db::{json_list, Dialect};
                static LOGS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!(
                        "SELECT * FROM case_logs WHERE tenant = $1 AND id > $2 AND ($3 = '' OR subject = $3) \
                         AND ($4 = '' OR state = $4) AND id IN ( \
                           SELECT id FROM case_logs WHERE tenant = $1 AND holder = $5 \
                           UNION SELECT case_log FROM participants WHERE tenant = $1 AND removed = FALSE \
                             AND {} AND (professional = '' OR professional = $5) \
                           UNION SELECT case_log FROM handovers WHERE tenant = $1 AND to_professional = $5 \
                             AND state = 'HANDOVER_STATE_OFFERED') \
                         ORDER BY id LIMIT $7",
                        <$db as Dialect>::in_list("unit", "$6")
                    )
                });
                static PARTICIPANTS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!(
                        "SELECT * FROM participants WHERE tenant = $1 AND removed = FALSE \
                         AND {} ORDER BY case_log, id",
                        <$db as Dialect>::in_list("case_log", "$2")
                    )
                });
                static PENDING: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
                    ["handovers", "transfers"].map(|t| {
                        format!(
                            "SELECT x.* FROM {t} x JOIN case_logs l ON l.tenant = x.tenant AND l.id = x.case_log \
                             AND l.pending_{} = x.id WHERE x.tenant = $1 AND {}",
                            &t[..t.len() - 1],
                            <$db as Dialect>::in_list("x.case_log", "$2")
                        )
                    })
                });
                let mut conn = self.pool.acquire().await?;
                let logs: Vec<CaseLogRecord> = sqlx::query_as(sqlx::AssertSqlSafe(LOGS.as_str()))
                    .bind(tenant)
                    .bind(after)
                    .bind(subject)
                    .bind(state)
                    .bind(professional)
                    .bind(json_list(units))
                    .bind(limit)
                    .fetch_all(&mut *conn)
                    .await?;
                if logs.is_empty() {
                    return Ok(Vec::new());
                }
                let ids = json_list(&logs.iter().map(|l| l.id.as_str()).collect::<Vec<_>>());
                let participants: Vec<ParticipantRecord> = sqlx::query_as(sqlx::AssertSqlSafe(PARTICIPANTS.as_str()))
                    .bind(tenant)
                    .bind(&ids)
                    .fetch_all(&mut *conn)
                    .await?;
                let pending = |l: &CaseLogRecord| !l.pending_handover.is_empty() || !l.pending_transfer.is_empty();
                let (mut handovers, mut transfers): (Vec<HandoverRecord>, Vec<TransferRecord>) = (Vec::new(), Vec::new());
                if logs.iter().any(pending) {
                    handovers = sqlx::query_as(sqlx::AssertSqlSafe(PENDING[0].as_str()))
                        .bind(tenant)
                        .bind(&ids)
                        .fetch_all(&mut *conn)
                        .await?;
                    transfers = sqlx::query_as(sqlx::AssertSqlSafe(PENDING[1].as_str()))
                        .bind(tenant)
                        .bind(&ids)
                        .fetch_all(&mut *conn)
                        .await?;
                }
                Ok(logs
                    .into_iter()
                    .map(|log| LogContext {
                        participants: participants.iter().filter(|p| p.case_log == log.id).cloned().collect(),
                        pending_handover: handovers.iter().find(|h| h.case_log == log.id).cloned(),
                        pending_transfer: transfers.iter().find(|t| t.case_log == log.id).cloned(),
                        log,
                    })
                    .collect())
            }

            async fn log_reads(&self, access: &[AccessRecord]) -> ApiResult<()> {
                if access.is_empty() {
                    return Ok(());
                }
                if Self::ONE_STATEMENT && access.len() <= ACCESS_ROWS_PER_STATEMENT {
                    // One statement commits on its own: no BEGIN and COMMIT.
                    let mut conn = self.pool.acquire().await?;
                    return insert_access_rows(&mut conn, access).await;
                }
                let mut tx = self.begin().await?;
                insert_access_rows(&mut tx, access).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn entries(&self, tenant: &str, log: &str, after: &str, limit: i64, order: Order, access: &AccessRecord) -> ApiResult<Vec<EntryRecord>> {
                let sql = match order {
                    Order::Newest => {
                        "SELECT * FROM entries WHERE tenant = $1 AND case_log = $2 AND ($3 = '' OR id < $3) \
                         ORDER BY id DESC LIMIT $4"
                    }
                    Order::Oldest => page_of!("entries"),
                };
                self.page(sql, tenant, log, after, limit, access).await
            }

            async fn entry(&self, tenant: &str, log: &str, id: &str, access: &AccessRecord) -> ApiResult<Option<EntryRecord>> {
                if Self::ONE_STATEMENT {
                    let q = sqlx::query_as(with_access(row_of!("entries"), 3)).bind(tenant).bind(log).bind(id);
                    return Ok(bind_access(q, access).fetch_all(&self.pool).await?.pop());
                }
                let mut tx = self.begin().await?;
                let row = sqlx::query_as(row_of!("entries")).bind(tenant).bind(log).bind(id).fetch_optional(&mut *tx).await?;
                insert_access(&mut tx, access).await?;
                tx.commit().await?;
                Ok(row)
            }

            async fn level_changes(&self, tenant: &str, log: &str, after: &str, limit: i64, access: &AccessRecord) -> ApiResult<Vec<LevelChangeRecord>> {
                self.page(page_of!("level_changes"), tenant, log, after, limit, access).await
            }

            async fn goals(&self, tenant: &str, log: &str, after: &str, limit: i64, access: &AccessRecord) -> ApiResult<Vec<GoalRecord>> {
                self.page(page_of!("goals"), tenant, log, after, limit, access).await
            }

            async fn measures(&self, tenant: &str, log: &str, after: &str, limit: i64, access: &AccessRecord) -> ApiResult<Vec<MeasureRecord>> {
                self.page(page_of!("measures"), tenant, log, after, limit, access).await
            }

            async fn evaluations(&self, tenant: &str, log: &str, measure: &str, after: &str, limit: i64, access: &AccessRecord) -> ApiResult<Vec<EvaluationRecord>> {
                const SQL: &str = "SELECT * FROM evaluations WHERE tenant = $1 AND case_log = $2 \
                    AND ($3 = '' OR measure = $3) AND id > $4 ORDER BY id LIMIT $5";
                if Self::ONE_STATEMENT {
                    let q = sqlx::query_as(with_access(SQL, 5)).bind(tenant).bind(log).bind(measure).bind(after).bind(limit);
                    return Ok(bind_access(q, access).fetch_all(&self.pool).await?);
                }
                let mut tx = self.begin().await?;
                let rows = sqlx::query_as(SQL)
                .bind(tenant)
                .bind(log)
                .bind(measure)
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                insert_access(&mut tx, access).await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn participants(&self, tenant: &str, log: &str, after: &str, limit: i64, access: &AccessRecord) -> ApiResult<Vec<ParticipantRecord>> {
                self.page(page_of!("participants"), tenant, log, after, limit, access).await
            }

            async fn handovers(&self, tenant: &str, log: &str, after: &str, limit: i64, access: &AccessRecord) -> ApiResult<Vec<HandoverRecord>> {
                self.page(page_of!("handovers"), tenant, log, after, limit, access).await
            }

            async fn transfers(&self, tenant: &str, log: &str, after: &str, limit: i64, access: &AccessRecord) -> ApiResult<Vec<TransferRecord>> {
                self.page(page_of!("transfers"), tenant, log, after, limit, access).await
            }

            async fn access_log(&self, tenant: &str, log: &str, after: &str, limit: i64, family: bool, access: &AccessRecord) -> ApiResult<Vec<AccessRecord>> {
                // Rows of `access_log` (a table, or the table with the reader's
                // own row) newest first, families' without restricted referrals
                // and the gateway's look-ups.
                macro_rules! page_of_access {
                    ($from:literal) => {
                        concat!(
                            "SELECT * FROM ", $from, " WHERE tenant = $1 AND case_log = $2 AND ($3 = '' OR id < $3) \
                             AND (NOT $5 OR (acting_as <> 'ACTING_AS_SERVICE' AND (restricted_referral = '' OR NOT EXISTS ( \
                                 SELECT 1 FROM attached_referrals r WHERE r.tenant = access_log.tenant \
                                 AND r.case_log = access_log.case_log AND r.id = access_log.restricted_referral \
                                 AND r.restricted)))) \
                             ORDER BY id DESC LIMIT $4"
                        )
                    };
                }
                if Self::ONE_STATEMENT {
                    // The reader's own row is in the listing: the insert's
                    // RETURNING beside the table (a statement does not see
                    // its own CTE's insert).
                    let sql = with_access_returning(
                        page_of_access!("(SELECT * FROM bti_access UNION ALL SELECT * FROM access_log \
                                         WHERE tenant = $1 AND case_log = $2) access_log"),
                        5,
                    );
                    let q = sqlx::query_as(sql).bind(tenant).bind(log).bind(after).bind(limit).bind(family);
                    return Ok(bind_access(q, access).fetch_all(&self.pool).await?);
                }
                // The reader's own row goes in first, so the listing shows it.
                let mut tx = self.begin().await?;
                insert_access(&mut tx, access).await?;
                let rows = sqlx::query_as(page_of_access!("access_log"))
                    .bind(tenant)
                    .bind(log)
                    .bind(after)
                    .bind(limit)
                    .bind(family)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn referrals(
                &self,
                tenant: &str,
                log: &str,
                before: &str,
                limit: i64,
                with_restricted: bool,
                listing: &AccessRecord,
            ) -> ApiResult<Vec<ReferralRecord>> {
                const SQL: &str = "SELECT * FROM attached_referrals WHERE tenant = $1 AND case_log = $2 \
                    AND ($3 = '' OR id < $3) AND ($5 OR NOT restricted) ORDER BY id DESC LIMIT $4";
                if Self::ONE_STATEMENT {
                    let q = sqlx::query_as(with_access(SQL, 5)).bind(tenant).bind(log).bind(before).bind(limit).bind(with_restricted);
                    return Ok(bind_access(q, listing).fetch_all(&self.pool).await?);
                }
                let mut tx = self.begin().await?;
                let rows: Vec<ReferralRecord> = sqlx::query_as(SQL)
                .bind(tenant)
                .bind(log)
                .bind(before)
                .bind(limit)
                .bind(with_restricted)
                .fetch_all(&mut *tx)
                .await?;
                insert_access(&mut tx, listing).await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn summary(&self, tenant: &str, log: &str, access: &AccessRecord) -> ApiResult<Option<SummaryRows>> {
                let mut tx = self.begin().await?;
                let Some(record) = case_log(&mut tx, tenant, log).await? else { return Ok(None) };
                let level_changes = all(&mut tx, all_of!("level_changes"), tenant, log).await?;
                let measures = all(&mut tx, all_of!("measures"), tenant, log).await?;
                let evaluations = all(&mut tx, all_of!("evaluations"), tenant, log).await?;
                let holders = sqlx::query_as(HOLDERS).bind(tenant).bind(log).fetch_all(&mut *tx).await?;
                insert_access(&mut tx, access).await?;
                tx.commit().await?;
                Ok(Some(SummaryRows { log: record, level_changes, measures, evaluations, holders }))
            }

            async fn holders(&self, tenant: &str, log: &str) -> ApiResult<Vec<HolderRow>> {
                Ok(sqlx::query_as(HOLDERS).bind(tenant).bind(log).fetch_all(&self.pool).await?)
            }

            async fn referral(&self, tenant: &str, log: &str, id: &str) -> ApiResult<Option<ReferralRecord>> {
                self.row(row_of!("attached_referrals"), tenant, log, id).await
            }

            async fn referral_by_source(&self, tenant: &str, log: &str, referral: &str) -> ApiResult<Option<ReferralRecord>> {
                Ok(sqlx::query_as("SELECT * FROM attached_referrals WHERE tenant = $1 AND case_log = $2 AND referral = $3")
                    .bind(tenant)
                    .bind(log)
                    .bind(referral)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn goal(&self, tenant: &str, log: &str, id: &str) -> ApiResult<Option<GoalRecord>> {
                self.row(row_of!("goals"), tenant, log, id).await
            }

            async fn measure(&self, tenant: &str, log: &str, id: &str) -> ApiResult<Option<MeasureRecord>> {
                self.row(row_of!("measures"), tenant, log, id).await
            }

            async fn participant(&self, tenant: &str, log: &str, id: &str) -> ApiResult<Option<ParticipantRecord>> {
                self.row(row_of!("participants"), tenant, log, id).await
            }

            async fn handover(&self, tenant: &str, log: &str, id: &str) -> ApiResult<Option<HandoverRecord>> {
                self.row(row_of!("handovers"), tenant, log, id).await
            }

            async fn transfer(&self, tenant: &str, log: &str, id: &str) -> ApiResult<Option<TransferRecord>> {
                self.row(row_of!("transfers"), tenant, log, id).await
            }

            async fn overview(&self, tenant: &str, unit: &str, today: NaiveDate, after: &str, limit: i64) -> ApiResult<Vec<OverviewRow>> {
                Ok(sqlx::query_as(
                    "SELECT c.id, c.level, c.holder, c.holder_unit, c.holder_since, c.create_time, c.last_activity_time, \
                     (SELECT COUNT(*) FROM measures m WHERE m.tenant = c.tenant AND m.case_log = c.id \
                      AND m.state = 'MEASURE_STATE_ACTIVE' AND m.evaluate_by_date < $3) AS overdue_evaluations \
                     FROM case_logs c WHERE c.tenant = $1 AND c.unit = $2 AND c.state = 'CASE_LOG_STATE_ACTIVE' \
                     AND c.id > $4 ORDER BY c.id LIMIT $5",
                )
                .bind(tenant)
                .bind(unit)
                .bind(today)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn statistics(&self, tenant: &str, year_ago: DateTime<Utc>) -> ApiResult<(Vec<CountRow>, i64)> {
                let counts = sqlx::query_as(
                    "SELECT unit, level, COUNT(*) AS active, \
                     SUM(CASE WHEN create_time < $2 THEN 1 ELSE 0 END) AS older_than_a_year \
                     FROM case_logs WHERE tenant = $1 AND state = 'CASE_LOG_STATE_ACTIVE' \
                     GROUP BY unit, level ORDER BY unit, level",
                )
                .bind(tenant)
                .bind(year_ago)
                .fetch_all(&self.pool)
                .await?;
                let closed: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM case_logs WHERE tenant = $1 AND state = 'CASE_LOG_STATE_CLOSED' \
                     AND close_time >= $2",
                )
                .bind(tenant)
                .bind(year_ago)
                .fetch_one(&self.pool)
                .await?;
                Ok((counts, closed))
            }
        }
    };
}

pub(crate) use caselog_sql_store;
