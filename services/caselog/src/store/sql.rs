//! The relay log's SQL, written once for both backends.

macro_rules! caselog_sql_store {
    ($store:ident, $db:ty) => {
        use async_trait::async_trait;
        use bti_runtime::db::{Claim, Plumbing, check_versioned, write_error};
        use bti_runtime::{ApiError, ApiResult};
        use chrono::{DateTime, NaiveDate, Utc};

        use super::{Applied, CaseLogStore, CountRow, LogContext, Op, Order, OverviewRow, Work};
        use crate::domain::*;

        type Tx = sqlx::Transaction<'static, $db>;

        async fn insert_access(tx: &mut Tx, a: &AccessRecord) -> ApiResult<()> {
            sqlx::query(
                "INSERT INTO access_log (tenant, case_log, id, actor, acting_as, unit, resource, action, purpose, \
                 basis, create_time, restricted_referral) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&a.tenant)
            .bind(&a.case_log)
            .bind(&a.id)
            .bind(&a.actor)
            .bind(&a.acting_as)
            .bind(&a.unit)
            .bind(&a.resource)
            .bind(&a.action)
            .bind(&a.purpose)
            .bind(&a.basis)
            .bind(a.create_time)
            .bind(&a.restricted_referral)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Reads with the read's access row committed in the same transaction.
        macro_rules! logged_read {
            ($self:ident, $access:ident, |$tx:ident| $read:expr) => {{
                let mut $tx = $self.pool.begin().await?;
                let rows = $read;
                insert_access(&mut $tx, $access).await?;
                $tx.commit().await?;
                Ok(rows)
            }};
        }

        async fn count(tx: &mut Tx, sql: &'static str, keys: &[&str]) -> ApiResult<bool> {
            let mut q = sqlx::query_scalar::<_, i64>(sql);
            for k in keys {
                q = q.bind(*k);
            }
            Ok(q.fetch_one(&mut **tx).await? > 0)
        }

        async fn apply_op(tx: &mut Tx, op: &Op) -> ApiResult<()> {
            match op {
                Op::InsertCaseLog(r) => {
                    sqlx::query(
                        "INSERT INTO case_logs (tenant, id, subject, subject_kind, unit, concern, concern_degree, \
                         level, state, holder, holder_unit, holder_since, pending_handover, pending_transfer, \
                         consent_revision, close_reason, close_time, last_activity_time, version, create_time, \
                         update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                         $16, $17, $18, $19, $20, $21)",
                    )
                    .bind(&r.tenant)
                    .bind(&r.id)
                    .bind(&r.subject)
                    .bind(&r.subject_kind)
                    .bind(&r.unit)
                    .bind(&r.concern)
                    .bind(&r.concern_degree)
                    .bind(&r.level)
                    .bind(&r.state)
                    .bind(&r.holder)
                    .bind(&r.holder_unit)
                    .bind(r.holder_since)
                    .bind(&r.pending_handover)
                    .bind(&r.pending_transfer)
                    .bind(&r.consent_revision)
                    .bind(&r.close_reason)
                    .bind(r.close_time)
                    .bind(r.last_activity_time)
                    .bind(r.version)
                    .bind(r.create_time)
                    .bind(r.update_time)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| write_error(e, &r.name()))?;
                }
                Op::UpdateCaseLog(r) => {
                    let rows = sqlx::query(
                        "UPDATE case_logs SET unit = $1, level = $2, state = $3, holder = $4, holder_unit = $5, \
                         holder_since = $6, pending_handover = $7, pending_transfer = $8, close_reason = $9, \
                         close_time = $10, last_activity_time = $11, update_time = $12, version = version + 1 \
                         WHERE tenant = $13 AND id = $14 AND version = $15",
                    )
                    .bind(&r.unit)
                    .bind(&r.level)
                    .bind(&r.state)
                    .bind(&r.holder)
                    .bind(&r.holder_unit)
                    .bind(r.holder_since)
                    .bind(&r.pending_handover)
                    .bind(&r.pending_transfer)
                    .bind(&r.close_reason)
                    .bind(r.close_time)
                    .bind(r.last_activity_time)
                    .bind(r.update_time)
                    .bind(&r.tenant)
                    .bind(&r.id)
                    .bind(r.version)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                    let exists = rows == 0
                        && count(tx, "SELECT COUNT(*) FROM case_logs WHERE tenant = $1 AND id = $2", &[&r.tenant, &r.id]).await?;
                    check_versioned(rows, exists, &r.name())?;
                }
                Op::Touch { tenant, id, at } => {
                    let rows = sqlx::query(
                        "UPDATE case_logs SET last_activity_time = $1 WHERE tenant = $2 AND id = $3 \
                         AND state = 'CASE_LOG_STATE_ACTIVE'",
                    )
                    .bind(*at)
                    .bind(tenant)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                    if rows == 0 {
                        return Err(ApiError::precondition(
                            "CASE_LOG_CLOSED",
                            case_log_name(tenant, id),
                            "the relay log is closed and read-only",
                        ));
                    }
                }
                Op::InsertEntry(r) => {
                    // A correction must name an entry of the same log.
                    let rows = sqlx::query(
                        "INSERT INTO entries (tenant, case_log, id, kind, text, corrects, author, author_unit, \
                         create_time) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE $6 = '' OR EXISTS \
                         (SELECT 1 FROM entries e WHERE e.tenant = $1 AND e.case_log = $2 AND e.id = $6)",
                    )
                    .bind(&r.tenant)
                    .bind(&r.case_log)
                    .bind(&r.id)
                    .bind(&r.kind)
                    .bind(&r.text)
                    .bind(&r.corrects)
                    .bind(&r.author)
                    .bind(&r.author_unit)
                    .bind(r.create_time)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                    if rows == 0 {
                        return Err(ApiError::invalid("entry.corrects", "no such entry in this relay log"));
                    }
                }
                Op::InsertLevelChange(r) => {
                    sqlx::query(
                        "INSERT INTO level_changes (tenant, case_log, id, from_level, to_level, reason, actor, \
                         create_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(&r.tenant)
                    .bind(&r.case_log)
                    .bind(&r.id)
                    .bind(&r.from_level)
                    .bind(&r.to_level)
                    .bind(&r.reason)
                    .bind(&r.actor)
                    .bind(r.create_time)
                    .execute(&mut **tx)
                    .await?;
                }
                Op::InsertGoal(r) | Op::UpdateGoal(r) => {
                    let insert = matches!(op, Op::InsertGoal(_));
                    let rows = if insert {
                        sqlx::query(
                            "INSERT INTO goals (tenant, case_log, id, description, achieved, version, create_time, \
                             update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        )
                        .bind(&r.tenant)
                        .bind(&r.case_log)
                        .bind(&r.id)
                        .bind(&r.description)
                        .bind(r.achieved)
                        .bind(r.version)
                        .bind(r.create_time)
                        .bind(r.update_time)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected()
                    } else {
                        sqlx::query(
                            "UPDATE goals SET description = $1, achieved = $2, update_time = $3, version = version + 1 \
                             WHERE tenant = $4 AND case_log = $5 AND id = $6 AND version = $7",
                        )
                        .bind(&r.description)
                        .bind(r.achieved)
                        .bind(r.update_time)
                        .bind(&r.tenant)
                        .bind(&r.case_log)
                        .bind(&r.id)
                        .bind(r.version)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected()
                    };
                    check_versioned(rows, true, &child_name(&r.tenant, &r.case_log, "goals", &r.id))?;
                }
                Op::InsertMeasure(r) | Op::UpdateMeasure(r) => {
                    let rows = if matches!(op, Op::InsertMeasure(_)) {
                        sqlx::query(
                            "INSERT INTO measures (tenant, case_log, id, description, goal, responsible_unit, \
                             responsible_professional, start_date, evaluate_by_date, state, version, create_time, \
                             update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                        )
                        .bind(&r.tenant)
                        .bind(&r.case_log)
                        .bind(&r.id)
                        .bind(&r.description)
                        .bind(&r.goal)
                        .bind(&r.responsible_unit)
                        .bind(&r.responsible_professional)
                        .bind(r.start_date)
                        .bind(r.evaluate_by_date)
                        .bind(&r.state)
                        .bind(r.version)
                        .bind(r.create_time)
                        .bind(r.update_time)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected()
                    } else {
                        sqlx::query(
                            "UPDATE measures SET description = $1, responsible_unit = $2, responsible_professional = $3, \
                             evaluate_by_date = $4, state = $5, update_time = $6, version = version + 1 \
                             WHERE tenant = $7 AND case_log = $8 AND id = $9 AND version = $10",
                        )
                        .bind(&r.description)
                        .bind(&r.responsible_unit)
                        .bind(&r.responsible_professional)
                        .bind(r.evaluate_by_date)
                        .bind(&r.state)
                        .bind(r.update_time)
                        .bind(&r.tenant)
                        .bind(&r.case_log)
                        .bind(&r.id)
                        .bind(r.version)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected()
                    };
                    check_versioned(rows, true, &child_name(&r.tenant, &r.case_log, "measures", &r.id))?;
                }
                Op::InsertEvaluation(r) => {
                    sqlx::query(
                        "INSERT INTO evaluations (tenant, case_log, measure, id, decision, child_experience, summary, \
                         evaluation_date, author, create_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(&r.tenant)
                    .bind(&r.case_log)
                    .bind(&r.measure)
                    .bind(&r.id)
                    .bind(&r.decision)
                    .bind(&r.child_experience)
                    .bind(&r.summary)
                    .bind(r.evaluation_date)
                    .bind(&r.author)
                    .bind(r.create_time)
                    .execute(&mut **tx)
                    .await?;
                }
                Op::InsertParticipant(r) | Op::UpdateParticipant(r) => {
                    let rows = if matches!(op, Op::InsertParticipant(_)) {
                        sqlx::query(
                            "INSERT INTO participants (tenant, case_log, id, unit, professional, tasks, removed, \
                             remove_time, version, create_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                        )
                        .bind(&r.tenant)
                        .bind(&r.case_log)
                        .bind(&r.id)
                        .bind(&r.unit)
                        .bind(&r.professional)
                        .bind(&r.tasks)
                        .bind(r.removed)
                        .bind(r.remove_time)
                        .bind(r.version)
                        .bind(r.create_time)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected()
                    } else {
                        sqlx::query(
                            "UPDATE participants SET tasks = $1, removed = $2, remove_time = $3, version = version + 1 \
                             WHERE tenant = $4 AND case_log = $5 AND id = $6 AND version = $7",
                        )
                        .bind(&r.tasks)
                        .bind(r.removed)
                        .bind(r.remove_time)
                        .bind(&r.tenant)
                        .bind(&r.case_log)
                        .bind(&r.id)
                        .bind(r.version)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected()
                    };
                    check_versioned(rows, true, &child_name(&r.tenant, &r.case_log, "participants", &r.id))?;
                }
                Op::InsertHandover(r) => {
                    sqlx::query(
                        "INSERT INTO handovers (tenant, case_log, id, to_professional, to_unit, from_professional, \
                         message, state, transfer, version, create_time, decide_time) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    )
                    .bind(&r.tenant)
                    .bind(&r.case_log)
                    .bind(&r.id)
                    .bind(&r.to_professional)
                    .bind(&r.to_unit)
                    .bind(&r.from_professional)
                    .bind(&r.message)
                    .bind(&r.state)
                    .bind(&r.transfer)
                    .bind(r.version)
                    .bind(r.create_time)
                    .bind(r.decide_time)
                    .execute(&mut **tx)
                    .await?;
                }
                Op::UpdateHandover { record: r, from_state } => {
                    let rows = sqlx::query(
                        "UPDATE handovers SET state = $1, decide_time = $2, version = version + 1 \
                         WHERE tenant = $3 AND case_log = $4 AND id = $5 AND state = $6",
                    )
                    .bind(&r.state)
                    .bind(r.decide_time)
                    .bind(&r.tenant)
                    .bind(&r.case_log)
                    .bind(&r.id)
                    .bind(from_state)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                    if rows != 1 {
                        return Err(ApiError::Aborted(format!(
                            "{} was decided concurrently",
                            child_name(&r.tenant, &r.case_log, "handovers", &r.id)
                        )));
                    }
                }
                Op::InsertTransfer(r) => {
                    sqlx::query(
                        "INSERT INTO transfers (tenant, case_log, id, to_unit, to_professional, reason, note, state, \
                         handover, create_time, decide_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    )
                    .bind(&r.tenant)
                    .bind(&r.case_log)
                    .bind(&r.id)
                    .bind(&r.to_unit)
                    .bind(&r.to_professional)
                    .bind(&r.reason)
                    .bind(&r.note)
                    .bind(&r.state)
                    .bind(&r.handover)
                    .bind(r.create_time)
                    .bind(r.decide_time)
                    .execute(&mut **tx)
                    .await?;
                }
                Op::UpdateTransfer { record: r, from_state } => {
                    let rows = sqlx::query(
                        "UPDATE transfers SET state = $1, decide_time = $2 \
                         WHERE tenant = $3 AND case_log = $4 AND id = $5 AND state = $6",
                    )
                    .bind(&r.state)
                    .bind(r.decide_time)
                    .bind(&r.tenant)
                    .bind(&r.case_log)
                    .bind(&r.id)
                    .bind(from_state)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                    if rows != 1 {
                        return Err(ApiError::Aborted("the transfer changed concurrently".into()));
                    }
                }
                Op::InsertReferral(r) => {
                    sqlx::query(
                        "INSERT INTO attached_referrals (tenant, case_log, id, referral, kind, restricted, legal_basis, \
                         from_organization, create_time, from_unit, client) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    )
                    .bind(&r.tenant)
                    .bind(&r.case_log)
                    .bind(&r.id)
                    .bind(&r.referral)
                    .bind(&r.kind)
                    .bind(r.restricted)
                    .bind(&r.legal_basis)
                    .bind(&r.from_organization)
                    .bind(r.create_time)
                    .bind(&r.from_unit)
                    .bind(&r.client)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| write_error(e, &r.name()))?;
                }
                Op::LiftReferral { tenant, case_log, id } => {
                    let rows = sqlx::query(
                        "UPDATE attached_referrals SET restricted = $1 \
                         WHERE tenant = $2 AND case_log = $3 AND id = $4 AND restricted",
                    )
                    .bind(false)
                    .bind(tenant)
                    .bind(case_log)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                    if rows != 1 {
                        return Err(ApiError::Aborted(child_name(tenant, case_log, "referrals", id)));
                    }
                }
                Op::InsertHolder { tenant, case_log, professional, unit, since } => {
                    sqlx::query(
                        "INSERT INTO holder_history (tenant, case_log, seq, professional, unit, since) \
                         SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5 FROM holder_history \
                         WHERE tenant = $1 AND case_log = $2",
                    )
                    .bind(tenant)
                    .bind(case_log)
                    .bind(professional)
                    .bind(unit)
                    .bind(*since)
                    .execute(&mut **tx)
                    .await?;
                }
            }
            Ok(())
        }

        #[async_trait]
        impl CaseLogStore for $store {
            async fn apply(&self, work: Work) -> ApiResult<Applied> {
                let mut tx = self.begin().await?;
                if let Some((scope, idem, name)) = &work.idem
                    && let Claim::Replay(existing) = tx.claim(scope, idem, name).await?
                {
                    return Ok(Applied::Replay(existing));
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
                Ok(Applied::Done)
            }

            async fn replayed(&self, scope: &str, idem: &super::Idem) -> ApiResult<Option<String>> {
                let Some(request_id) = idem.request_id.as_deref() else { return Ok(None) };
                let row: Option<(String, String)> = sqlx::query_as(
                    "SELECT fingerprint, resource FROM bti_idempotency WHERE scope = $1 AND request_id = $2",
                )
                .bind(scope)
                .bind(request_id)
                .fetch_optional(&self.pool)
                .await?;
                match row {
                    None => Ok(None),
                    Some((fp, resource)) if fp == idem.fingerprint => Ok(Some(resource)),
                    Some(_) => Err(ApiError::invalid("request_id", "was already used for a different request")),
                }
            }

            async fn context(&self, tenant: &str, id: &str) -> ApiResult<Option<LogContext>> {
                let mut conn = self.pool.acquire().await?;
                let log: Option<CaseLogRecord> = sqlx::query_as("SELECT * FROM case_logs WHERE tenant = $1 AND id = $2")
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
                let Some(log) = log else { return Ok(None) };
                let participants = sqlx::query_as(
                    "SELECT * FROM participants WHERE tenant = $1 AND case_log = $2 AND removed = FALSE ORDER BY id",
                )
                .bind(tenant)
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
                let pending_handover = if log.pending_handover.is_empty() {
                    None
                } else {
                    sqlx::query_as("SELECT * FROM handovers WHERE tenant = $1 AND case_log = $2 AND id = $3")
                        .bind(tenant)
                        .bind(id)
                        .bind(&log.pending_handover)
                        .fetch_optional(&mut *conn)
                        .await?
                };
                Ok(Some(LogContext { log, participants, pending_handover }))
            }

            async fn read_log(
                &self,
                tenant: &str,
                id: &str,
                entries: i64,
                access: &AccessRecord,
            ) -> ApiResult<Option<(CaseLogRecord, Vec<EntryRecord>)>> {
                let mut tx = self.pool.begin().await?;
                let log: Option<CaseLogRecord> = sqlx::query_as("SELECT * FROM case_logs WHERE tenant = $1 AND id = $2")
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(log) = log else { return Ok(None) };
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

            async fn log_reads(&self, access: &[AccessRecord]) -> ApiResult<()> {
                if access.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await?;
                for a in access {
                    insert_access(&mut tx, a).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn entries(&self, tenant: &str, log: &str, after: &str, limit: i64, order: Order, access: &AccessRecord) -> ApiResult<Vec<EntryRecord>> {
                logged_read!(self, access, |tx| match order {
                    Order::Newest => sqlx::query_as(
                        "SELECT * FROM entries WHERE tenant = $1 AND case_log = $2 AND ($3 = '' OR id < $3) \
                         ORDER BY id DESC LIMIT $4",
                    ),
                    Order::Oldest => sqlx::query_as(
                        "SELECT * FROM entries WHERE tenant = $1 AND case_log = $2 AND id > $3 ORDER BY id LIMIT $4",
                    ),
                }
                .bind(tenant)
                .bind(log)
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?)
            }

            async fn entry(&self, tenant: &str, log: &str, id: &str, access: &AccessRecord) -> ApiResult<Option<EntryRecord>> {
                logged_read!(self, access, |tx| sqlx::query_as(
                    "SELECT * FROM entries WHERE tenant = $1 AND case_log = $2 AND id = $3"
                )
                .bind(tenant)
                .bind(log)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?)
            }

            async fn level_changes(&self, tenant: &str, log: &str, after: &str, limit: i64, access: &AccessRecord) -> ApiResult<Vec<LevelChangeRecord>> {
                logged_read!(self, access, |tx| sqlx::query_as(
                    "SELECT * FROM level_changes WHERE tenant = $1 AND case_log = $2 AND id > $3 ORDER BY id LIMIT $4"
                )
                .bind(tenant)
                .bind(log)
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?)
            }

            async fn goals(&self, tenant: &str, log: &str, after: &str, limit: i64, access: &AccessRecord) -> ApiResult<Vec<GoalRecord>> {
                logged_read!(self, access, |tx| sqlx::query_as(
                    "SELECT * FROM goals WHERE tenant = $1 AND case_log = $2 AND id > $3 ORDER BY id LIMIT $4"
                )
                .bind(tenant)
                .bind(log)
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?)
            }

            async fn measures(&self, tenant: &str, log: &str, after: &str, limit: i64, access: &AccessRecord) -> ApiResult<Vec<MeasureRecord>> {
                logged_read!(self, access, |tx| sqlx::query_as(
                    "SELECT * FROM measures WHERE tenant = $1 AND case_log = $2 AND id > $3 ORDER BY id LIMIT $4"
                )
                .bind(tenant)
                .bind(log)
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?)
            }

            async fn evaluations(&self, tenant: &str, log: &str, measure: &str, after: &str, limit: i64, access: &AccessRecord) -> ApiResult<Vec<EvaluationRecord>> {
                logged_read!(self, access, |tx| sqlx::query_as(
                    "SELECT * FROM evaluations WHERE tenant = $1 AND case_log = $2 AND ($3 = '' OR measure = $3) \
                     AND id > $4 ORDER BY id LIMIT $5"
                )
                .bind(tenant)
                .bind(log)
                .bind(measure)
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?)
            }

            async fn participants(&self, tenant: &str, log: &str, after: &str, limit: i64, access: &AccessRecord) -> ApiResult<Vec<ParticipantRecord>> {
                logged_read!(self, access, |tx| sqlx::query_as(
                    "SELECT * FROM participants WHERE tenant = $1 AND case_log = $2 AND id > $3 ORDER BY id LIMIT $4"
                )
                .bind(tenant)
                .bind(log)
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?)
            }

            async fn handovers(&self, tenant: &str, log: &str, after: &str, limit: i64, access: &AccessRecord) -> ApiResult<Vec<HandoverRecord>> {
                logged_read!(self, access, |tx| sqlx::query_as(
                    "SELECT * FROM handovers WHERE tenant = $1 AND case_log = $2 AND id > $3 ORDER BY id LIMIT $4"
                )
                .bind(tenant)
                .bind(log)
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?)
            }

            async fn transfers(&self, tenant: &str, log: &str, after: &str, limit: i64, access: &AccessRecord) -> ApiResult<Vec<TransferRecord>> {
                logged_read!(self, access, |tx| sqlx::query_as(
                    "SELECT * FROM transfers WHERE tenant = $1 AND case_log = $2 AND id > $3 ORDER BY id LIMIT $4"
                )
                .bind(tenant)
                .bind(log)
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?)
            }

            async fn access_log(&self, tenant: &str, log: &str, after: &str, limit: i64, family: bool, access: &AccessRecord) -> ApiResult<Vec<AccessRecord>> {
                // The reader's own row goes in first, so the listing shows it.
                let mut tx = self.pool.begin().await?;
                insert_access(&mut tx, access).await?;
                let rows = sqlx::query_as(
                    "SELECT * FROM access_log WHERE tenant = $1 AND case_log = $2 AND ($3 = '' OR id < $3) \
                     AND (NOT $5 OR (acting_as <> 'ACTING_AS_SERVICE' AND (restricted_referral = '' OR NOT EXISTS ( \
                         SELECT 1 FROM attached_referrals r WHERE r.tenant = access_log.tenant \
                         AND r.case_log = access_log.case_log AND r.id = access_log.restricted_referral \
                         AND r.restricted)))) \
                     ORDER BY id DESC LIMIT $4",
                )
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
                let mut tx = self.pool.begin().await?;
                let rows: Vec<ReferralRecord> = sqlx::query_as(
                    "SELECT * FROM attached_referrals WHERE tenant = $1 AND case_log = $2 AND ($3 = '' OR id < $3) \
                     AND ($5 OR NOT restricted) ORDER BY id DESC LIMIT $4",
                )
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

            async fn summary(&self, tenant: &str, log: &str, access: &AccessRecord) -> ApiResult<Option<super::SummaryRows>> {
                let mut tx = self.pool.begin().await?;
                let Some(record) = sqlx::query_as::<_, CaseLogRecord>("SELECT * FROM case_logs WHERE tenant = $1 AND id = $2")
                    .bind(tenant)
                    .bind(log)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(None);
                };
                let level_changes = sqlx::query_as("SELECT * FROM level_changes WHERE tenant = $1 AND case_log = $2 ORDER BY id")
                    .bind(tenant)
                    .bind(log)
                    .fetch_all(&mut *tx)
                    .await?;
                let measures = sqlx::query_as("SELECT * FROM measures WHERE tenant = $1 AND case_log = $2 ORDER BY id")
                    .bind(tenant)
                    .bind(log)
                    .fetch_all(&mut *tx)
                    .await?;
                let evaluations = sqlx::query_as("SELECT * FROM evaluations WHERE tenant = $1 AND case_log = $2 ORDER BY id")
                    .bind(tenant)
                    .bind(log)
                    .fetch_all(&mut *tx)
                    .await?;
                let holders = sqlx::query_as(
                    "SELECT professional, unit, since FROM holder_history WHERE tenant = $1 AND case_log = $2 ORDER BY seq",
                )
                .bind(tenant)
                .bind(log)
                .fetch_all(&mut *tx)
                .await?;
                insert_access(&mut tx, access).await?;
                tx.commit().await?;
                Ok(Some(super::SummaryRows { log: record, level_changes, measures, evaluations, holders }))
            }

            async fn holders(&self, tenant: &str, log: &str) -> ApiResult<Vec<(String, String, DateTime<Utc>)>> {
                Ok(sqlx::query_as(
                    "SELECT professional, unit, since FROM holder_history WHERE tenant = $1 AND case_log = $2 ORDER BY seq",
                )
                .bind(tenant)
                .bind(log)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn referral(&self, tenant: &str, log: &str, id: &str) -> ApiResult<Option<ReferralRecord>> {
                Ok(sqlx::query_as("SELECT * FROM attached_referrals WHERE tenant = $1 AND case_log = $2 AND id = $3")
                    .bind(tenant)
                    .bind(log)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
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
                Ok(sqlx::query_as("SELECT * FROM goals WHERE tenant = $1 AND case_log = $2 AND id = $3")
                    .bind(tenant).bind(log).bind(id).fetch_optional(&self.pool).await?)
            }

            async fn measure(&self, tenant: &str, log: &str, id: &str) -> ApiResult<Option<MeasureRecord>> {
                Ok(sqlx::query_as("SELECT * FROM measures WHERE tenant = $1 AND case_log = $2 AND id = $3")
                    .bind(tenant).bind(log).bind(id).fetch_optional(&self.pool).await?)
            }

            async fn participant(&self, tenant: &str, log: &str, id: &str) -> ApiResult<Option<ParticipantRecord>> {
                Ok(sqlx::query_as("SELECT * FROM participants WHERE tenant = $1 AND case_log = $2 AND id = $3")
                    .bind(tenant).bind(log).bind(id).fetch_optional(&self.pool).await?)
            }

            async fn handover(&self, tenant: &str, log: &str, id: &str) -> ApiResult<Option<HandoverRecord>> {
                Ok(sqlx::query_as("SELECT * FROM handovers WHERE tenant = $1 AND case_log = $2 AND id = $3")
                    .bind(tenant).bind(log).bind(id).fetch_optional(&self.pool).await?)
            }

            async fn transfer(&self, tenant: &str, log: &str, id: &str) -> ApiResult<Option<TransferRecord>> {
                Ok(sqlx::query_as("SELECT * FROM transfers WHERE tenant = $1 AND case_log = $2 AND id = $3")
                    .bind(tenant).bind(log).bind(id).fetch_optional(&self.pool).await?)
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
