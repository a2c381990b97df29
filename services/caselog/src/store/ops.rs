//! The relay log's write operations, written once for both backends: each
//! [`Op`](super::Op) as SQL, and the access-log row every read and write
//! commits. Instantiated inside each backend's module by `caselog_sql_store!`.

macro_rules! caselog_ops {
    ($db:ty) => {
        mod ops {
        use bti_runtime::db::{check_versioned, write_error};
        use bti_runtime::{ApiError, ApiResult};

        use crate::domain::*;
        use crate::store::Op;

        pub(super) type Tx = sqlx::Transaction<'static, $db>;

        type QueryAs<'q, O> = sqlx::query::QueryAs<'q, $db, O, <$db as sqlx::Database>::Arguments>;

        /// The access log's columns, in the order [`bind_access`] binds them.
        pub(super) const ACCESS_COLUMNS: &str = "tenant, case_log, id, actor, acting_as, unit, resource, action, \
            purpose, basis, create_time, restricted_referral";

        /// `sql` (binding `$1`..`$n`) behind a data-modifying CTE that inserts
        /// the read's access row from `$n+1`..`$n+12`. PostgreSQL runs the two
        /// as one statement in one implicit transaction, and the driver reads
        /// on to ReadyForQuery, after the commit, before it hands back the
        /// rows: the row is durable before the answer, in one round trip
        /// instead of four (BEGIN, read, insert, COMMIT).
        pub(super) fn with_access(sql: &str, n: usize) -> sqlx::AssertSqlSafe<String> {
            access_cte(sql, n, "")
        }

        /// [`with_access`] with the inserted row readable as `bti_access`.
        pub(super) fn with_access_returning(sql: &str, n: usize) -> sqlx::AssertSqlSafe<String> {
            access_cte(sql, n, " RETURNING *")
        }

        fn access_cte(sql: &str, n: usize, returning: &str) -> sqlx::AssertSqlSafe<String> {
            let values: Vec<String> = (n + 1..=n + 12).map(|i| format!("${i}")).collect();
            sqlx::AssertSqlSafe(format!(
                "WITH bti_access AS (INSERT INTO access_log ({ACCESS_COLUMNS}) VALUES ({}){returning}) {sql}",
                values.join(", ")
            ))
        }

        /// Binds an access row's twelve values after whatever `q` bound.
        pub(super) fn bind_access<'q, O>(q: QueryAs<'q, O>, a: &'q AccessRecord) -> QueryAs<'q, O> {
            q.bind(&a.tenant)
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
        }

        pub(super) fn log_closed(tenant: &str, id: &str) -> ApiError {
            ApiError::precondition("CASE_LOG_CLOSED", case_log_name(tenant, id), "the relay log is closed and read-only")
        }

        pub(super) fn no_corrected_entry() -> ApiError {
            ApiError::invalid("entry.corrects", "no such entry in this relay log")
        }

        pub(super) async fn insert_access(tx: &mut Tx, a: &AccessRecord) -> ApiResult<()> {
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

        /// Several access rows in one statement (a listing's, one per log).
        /// Well below either backend's limit of bound values per statement.
        pub(super) const ACCESS_ROWS_PER_STATEMENT: usize = 500;

        pub(super) async fn insert_access_rows(
            conn: &mut <$db as sqlx::Database>::Connection,
            rows: &[AccessRecord],
        ) -> ApiResult<()> {
            for chunk in rows.chunks(ACCESS_ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO access_log (tenant, case_log, id, actor, acting_as, unit, resource, action, purpose, \
                     basis, create_time, restricted_referral) ",
                );
                q.push_values(chunk, |mut b, a| {
                    b.push_bind(&a.tenant)
                        .push_bind(&a.case_log)
                        .push_bind(&a.id)
                        .push_bind(&a.actor)
                        .push_bind(&a.acting_as)
                        .push_bind(&a.unit)
                        .push_bind(&a.resource)
                        .push_bind(&a.action)
                        .push_bind(&a.purpose)
                        .push_bind(&a.basis)
                        .push_bind(a.create_time)
                        .push_bind(&a.restricted_referral);
                });
                q.build().execute(&mut *conn).await?;
            }
            Ok(())
        }


        async fn count(tx: &mut Tx, sql: &'static str, keys: &[&str]) -> ApiResult<bool> {
            let mut q = sqlx::query_scalar::<_, i64>(sql);
            for k in keys {
                q = q.bind(*k);
            }
            Ok(q.fetch_one(&mut **tx).await? > 0)
        }

        pub(super) async fn apply_op(tx: &mut Tx, op: &Op) -> ApiResult<()> {
            match op {
                Op::InsertCaseLog(r) => {
                    sqlx::query(
                        "INSERT INTO case_logs (tenant, id, subject, subject_kind, unit, concern, concern_degree, \
                         level, state, holder, holder_unit, holder_since, pending_handover, pending_transfer, \
                         consent_revision, close_reason, close_time, last_activity_time, version, create_time, \
                         update_time, concern_area) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                         $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
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
                    .bind(&r.concern_area)
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
                        return Err(log_closed(tenant, id));
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
                        return Err(no_corrected_entry());
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
                    check_versioned(rows, true, &GoalName::new(&r.tenant, &r.case_log, &r.id).to_string())?;
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
                    check_versioned(rows, true, &MeasureName::new(&r.tenant, &r.case_log, &r.id).to_string())?;
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
                    check_versioned(rows, true, &ParticipantName::new(&r.tenant, &r.case_log, &r.id).to_string())?;
                }
                Op::InsertHandover(r) => {
                    sqlx::query(
                        "INSERT INTO handovers (tenant, case_log, id, to_professional, to_unit, from_professional, \
                         message, state, transfer, version, create_time, decide_time, release_former_holder) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
                    .bind(r.release_former_holder)
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
                            HandoverName::new(&r.tenant, &r.case_log, &r.id)
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
                        return Err(ApiError::Aborted(ReferralName::new(tenant, case_log, id).to_string()));
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
        }
        use ops::{
            ACCESS_ROWS_PER_STATEMENT, Tx, apply_op, bind_access, insert_access, insert_access_rows, with_access,
            with_access_returning,
        };
    };
}

pub(crate) use caselog_ops;
