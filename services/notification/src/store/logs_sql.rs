//! The record of each relay log this service keeps from the relay log's
//! events (for access at send time), written once for both backends.

macro_rules! log_sql_store {
    ($store:ident, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use bti_runtime::ApiResult;

            use crate::domain::access::{LogParticipantRecord, LogRecord};
            use crate::store::LogStore;

            #[async_trait]
            impl LogStore for $store {
                async fn put_log(&self, l: &LogRecord) -> ApiResult<()> {
                    sqlx::query(
                        "INSERT INTO notification_logs (tenant, case_log, subject, unit, holder, holder_unit, active) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant, case_log) DO UPDATE SET \
                         subject = excluded.subject, unit = excluded.unit, holder = excluded.holder, \
                         holder_unit = excluded.holder_unit, active = excluded.active",
                    )
                    .bind(&l.tenant)
                    .bind(&l.case_log)
                    .bind(&l.subject)
                    .bind(&l.unit)
                    .bind(&l.holder)
                    .bind(&l.holder_unit)
                    .bind(l.active)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn get_log(&self, tenant: &str, case_log: &str) -> ApiResult<Option<LogRecord>> {
                    Ok(sqlx::query_as("SELECT * FROM notification_logs WHERE tenant = $1 AND case_log = $2")
                        .bind(tenant)
                        .bind(case_log)
                        .fetch_optional(&self.pool)
                        .await?)
                }

                async fn put_log_participant(&self, p: &LogParticipantRecord) -> ApiResult<()> {
                    sqlx::query(
                        "INSERT INTO notification_log_participants (tenant, case_log, participant, unit, professional, removed) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, case_log, participant) DO UPDATE SET \
                         unit = excluded.unit, professional = excluded.professional, removed = excluded.removed",
                    )
                    .bind(&p.tenant)
                    .bind(&p.case_log)
                    .bind(&p.participant)
                    .bind(&p.unit)
                    .bind(&p.professional)
                    .bind(p.removed)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn log_participants(
                    &self,
                    tenant: &str,
                    case_log: &str,
                ) -> ApiResult<Vec<LogParticipantRecord>> {
                    Ok(sqlx::query_as(
                        "SELECT * FROM notification_log_participants WHERE tenant = $1 AND case_log = $2 \
                         ORDER BY participant",
                    )
                    .bind(tenant)
                    .bind(case_log)
                    .fetch_all(&self.pool)
                    .await?)
                }
            }
        };
    };
}

pub(crate) use log_sql_store;
