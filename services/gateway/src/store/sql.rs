//! The gateway's SQL, written once for both backends.

macro_rules! gateway_sql_store {
    ($store:ident, $db:ty) => {
        use async_trait::async_trait;
        use bti_runtime::db::{Claim, Plumbing, check_versioned, commit_with, write_error};
        use bti_runtime::events::OutboxEvent;
        use bti_runtime::ApiResult;
        use chrono::{DateTime, Utc};

        use super::{GatewayStore, Idem, NewAttachment};
        use crate::domain::*;

        type Tx = sqlx::Transaction<'static, $db>;

        const REFERRAL_COLUMNS: &str = "id, client, request_id, tenant, person, subject_kind, kind, \
             external_reference, from_organization, from_unit, content_kind, concern, background, \
             guardians_informed, fiks_json, restricted, legal_basis, lift_time, status, feedback, \
             placement, case_log, attached_referral, assigned_unit, investigation_extended, \
             received_time, investigation_time, closed_time, missed, version, create_time, update_time";

        impl $store {
            async fn insert_access(tx: &mut Tx, a: &AccessRecord) -> ApiResult<()> {
                sqlx::query(
                    "INSERT INTO access_log (id, referral, actor, action, purpose, basis, create_time) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&a.id)
                .bind(&a.referral)
                .bind(&a.actor)
                .bind(&a.action)
                .bind(&a.purpose)
                .bind(&a.basis)
                .bind(a.create_time)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            async fn referral_in(tx: &mut Tx, id: &str) -> ApiResult<Option<ReferralRecord>> {
                Ok(sqlx::query_as("SELECT * FROM referrals WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?)
            }

            async fn referrals(&self, sql: &'static str, a: &str, b: &str, limit: i64) -> ApiResult<Vec<ReferralRecord>> {
                Ok(sqlx::query_as(sql)
                    .bind(a)
                    .bind(b)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }
        }

        #[async_trait]
        impl GatewayStore for $store {
            async fn create_client(&self, c: &ClientRecord, event: OutboxEvent) -> ApiResult<()> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO clients (id, display_name, organization_number, tenants, scopes, unit, \
                     certificate_sha256, rate_limit_per_second, disabled, version, create_time, update_time) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(&c.id)
                .bind(&c.display_name)
                .bind(&c.organization_number)
                .bind(&c.tenants)
                .bind(&c.scopes)
                .bind(&c.unit)
                .bind(&c.certificate_sha256)
                .bind(c.rate_limit_per_second)
                .bind(c.disabled)
                .bind(c.version)
                .bind(c.create_time)
                .bind(c.update_time)
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(e, &c.name()))?;
                commit_with(tx, &event).await
            }

            async fn client(&self, id: &str) -> ApiResult<Option<ClientRecord>> {
                Ok(sqlx::query_as("SELECT * FROM clients WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_clients(&self, tenant: &str, after: &str, limit: i64) -> ApiResult<Vec<ClientRecord>> {
                // `tenants` is space-separated; pad it so a whole-word match is a LIKE.
                Ok(sqlx::query_as(
                    "SELECT * FROM clients WHERE ($1 = '' OR (' ' || tenants || ' ') LIKE ('% ' || $1 || ' %')) \
                     AND id > $2 ORDER BY id LIMIT $3",
                )
                .bind(tenant)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn update_client(&self, c: &ClientRecord, read_version: i64, event: OutboxEvent) -> ApiResult<()> {
                let mut tx = self.begin().await?;
                let rows = sqlx::query(
                    "UPDATE clients SET display_name = $1, tenants = $2, scopes = $3, unit = $4, \
                     certificate_sha256 = $5, rate_limit_per_second = $6, disabled = $7, \
                     update_time = $8, version = version + 1 WHERE id = $9 AND version = $10",
                )
                .bind(&c.display_name)
                .bind(&c.tenants)
                .bind(&c.scopes)
                .bind(&c.unit)
                .bind(&c.certificate_sha256)
                .bind(c.rate_limit_per_second)
                .bind(c.disabled)
                .bind(c.update_time)
                .bind(&c.id)
                .bind(read_version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let exists = rows == 1
                    || sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM clients WHERE id = $1")
                        .bind(&c.id)
                        .fetch_one(&mut *tx)
                        .await?
                        > 0;
                check_versioned(rows, exists, &c.name())?;
                commit_with(tx, &event).await
            }

            async fn idempotency_key(&self, scope: &str, request_id: &str) -> ApiResult<Option<(String, String)>> {
                Ok(self.pool.acquire().await?.stored_key(scope, request_id).await?)
            }

            async fn begin_referral(
                &self,
                scope: &str,
                idem: &Idem,
                r: &ReferralRecord,
                attachments: &[NewAttachment],
                access: &AccessRecord,
            ) -> ApiResult<Claim> {
                let mut tx = self.begin().await?;
                if let Claim::Replay(existing) = tx.claim(scope, idem, &r.id).await? {
                    return Ok(Claim::Replay(existing));
                }
                let sql = format!(
                    "INSERT INTO referrals ({REFERRAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
                     $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, \
                     $27, $28, $29, $30, $31, $32)"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&r.id)
                    .bind(&r.client)
                    .bind(&r.request_id)
                    .bind(&r.tenant)
                    .bind(&r.person)
                    .bind(&r.subject_kind)
                    .bind(&r.kind)
                    .bind(&r.external_reference)
                    .bind(&r.from_organization)
                    .bind(&r.from_unit)
                    .bind(&r.content_kind)
                    .bind(&r.concern)
                    .bind(&r.background)
                    .bind(r.guardians_informed)
                    .bind(&r.fiks_json)
                    .bind(r.restricted)
                    .bind(&r.legal_basis)
                    .bind(r.lift_time)
                    .bind(&r.status)
                    .bind(&r.feedback)
                    .bind(&r.placement)
                    .bind(&r.case_log)
                    .bind(&r.attached_referral)
                    .bind(&r.assigned_unit)
                    .bind(r.investigation_extended)
                    .bind(r.received_time)
                    .bind(r.investigation_time)
                    .bind(r.closed_time)
                    .bind(&r.missed)
                    .bind(r.version)
                    .bind(r.create_time)
                    .bind(r.update_time)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, &r.name()))?;
                for a in attachments {
                    sqlx::query(
                        "INSERT INTO referral_attachments (referral, position, filename, content_type, sha256, \
                         size_bytes, data) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&a.meta.referral)
                    .bind(a.meta.position)
                    .bind(&a.meta.filename)
                    .bind(&a.meta.content_type)
                    .bind(&a.meta.sha256)
                    .bind(a.meta.size_bytes)
                    .bind(&a.data)
                    .execute(&mut *tx)
                    .await?;
                }
                Self::insert_access(&mut tx, access).await?;
                tx.commit().await?;
                Ok(Claim::New)
            }

            async fn claim_attach(&self, id: &str, case_log: &str) -> ApiResult<bool> {
                let rows = sqlx::query(
                    "UPDATE referrals SET settle_log = $1, version = version + 1 \
                     WHERE id = $2 AND placement = $3 AND settle_log = ''",
                )
                .bind(case_log)
                .bind(id)
                .bind(PENDING)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(rows == 1)
            }

            async fn settle_referral(&self, r: &ReferralRecord, decided: &str, access: &AccessRecord, event: OutboxEvent) -> ApiResult<bool> {
                let mut tx = self.begin().await?;
                let rows = sqlx::query(
                    "UPDATE referrals SET placement = $1, case_log = $2, attached_referral = $3, \
                     update_time = $4, version = version + 1 WHERE id = $5 AND placement = $6 AND settle_log = $7",
                )
                .bind(&r.placement)
                .bind(&r.case_log)
                .bind(&r.attached_referral)
                .bind(r.update_time)
                .bind(&r.id)
                .bind(PENDING)
                .bind(decided)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if rows == 0 {
                    return Ok(false);
                }
                Self::insert_access(&mut tx, access).await?;
                commit_with(tx, &event).await?;
                Ok(true)
            }

            async fn referral(&self, id: &str) -> ApiResult<Option<ReferralRecord>> {
                Ok(sqlx::query_as("SELECT * FROM referrals WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn read_referral(
                &self,
                id: &str,
                access: &AccessRecord,
            ) -> ApiResult<Option<(ReferralRecord, Vec<AttachmentRecord>)>> {
                let mut tx = self.begin().await?;
                let Some(r) = Self::referral_in(&mut tx, id).await? else {
                    return Ok(None);
                };
                let attachments = sqlx::query_as(
                    "SELECT referral, position, filename, content_type, sha256, size_bytes \
                     FROM referral_attachments WHERE referral = $1 ORDER BY position",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
                Self::insert_access(&mut tx, access).await?;
                tx.commit().await?;
                Ok(Some((r, attachments)))
            }

            async fn update_referral(
                &self,
                r: &ReferralRecord,
                read_version: i64,
                access: Option<&AccessRecord>,
                events: Vec<OutboxEvent>,
            ) -> ApiResult<()> {
                let mut tx = self.begin().await?;
                let rows = sqlx::query(
                    "UPDATE referrals SET restricted = $1, lift_time = $2, status = $3, feedback = $4, \
                     placement = $5, assigned_unit = $6, investigation_extended = $7, received_time = $8, \
                     investigation_time = $9, closed_time = $10, missed = $11, update_time = $12, \
                     version = version + 1 WHERE id = $13 AND version = $14",
                )
                .bind(r.restricted)
                .bind(r.lift_time)
                .bind(&r.status)
                .bind(&r.feedback)
                .bind(&r.placement)
                .bind(&r.assigned_unit)
                .bind(r.investigation_extended)
                .bind(r.received_time)
                .bind(r.investigation_time)
                .bind(r.closed_time)
                .bind(&r.missed)
                .bind(r.update_time)
                .bind(&r.id)
                .bind(read_version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let exists = rows == 1 || Self::referral_in(&mut tx, &r.id).await?.is_some();
                check_versioned(rows, exists, &r.name())?;
                if let Some(a) = access {
                    Self::insert_access(&mut tx, a).await?;
                }
                for e in &events {
                    tx.enqueue(e).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn client_referrals(&self, client: &str, before: &str, limit: i64) -> ApiResult<Vec<ReferralRecord>> {
                self.referrals(
                    "SELECT * FROM referrals WHERE client = $1 AND placement <> 'PLACEMENT_UNSPECIFIED' \
                     AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3",
                    client,
                    before,
                    limit,
                )
                .await
            }

            async fn open_reports(&self, client: &str, after: &str, limit: i64) -> ApiResult<Vec<ReferralRecord>> {
                self.referrals(
                    "SELECT * FROM referrals WHERE ($1 = '' OR client = $1) \
                     AND kind = 'REFERRAL_KIND_CHILD_WELFARE_REPORT' AND status <> 'REFERRAL_STATUS_CLOSED' \
                     AND placement <> 'PLACEMENT_UNSPECIFIED' AND id > $2 ORDER BY id LIMIT $3",
                    client,
                    after,
                    limit,
                )
                .await
            }

            async fn intake(&self, tenant: &str, after: &str, limit: i64) -> ApiResult<Vec<ReferralRecord>> {
                self.referrals(
                    "SELECT * FROM referrals WHERE tenant = $1 AND placement = 'PLACEMENT_INTAKE' \
                     AND id > $2 ORDER BY id LIMIT $3",
                    tenant,
                    after,
                    limit,
                )
                .await
            }

            async fn assigned(&self, unit: &str, after: &str, limit: i64, include_restricted: bool) -> ApiResult<Vec<ReferralRecord>> {
                let sql = if include_restricted {
                    "SELECT * FROM referrals WHERE assigned_unit = $1 AND placement = 'PLACEMENT_ASSIGNED' \
                     AND id > $2 ORDER BY id LIMIT $3"
                } else {
                    "SELECT * FROM referrals WHERE assigned_unit = $1 AND placement = 'PLACEMENT_ASSIGNED' \
                     AND (NOT restricted OR lift_time IS NOT NULL) AND id > $2 ORDER BY id LIMIT $3"
                };
                self.referrals(sql, unit, after, limit).await
            }

            async fn pending(&self, before: DateTime<Utc>, limit: i64) -> ApiResult<Vec<ReferralRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM referrals WHERE placement = $1 AND create_time < $2 ORDER BY id LIMIT $3",
                )
                .bind(PENDING)
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn basis_referral(&self, client: &str, person: &str, case_log: &str) -> ApiResult<Option<ReferralRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM referrals WHERE client = $1 AND person = $2 AND case_log = $3 \
                     AND kind = 'REFERRAL_KIND_CHILD_WELFARE_REPORT' AND legal_basis <> '' \
                     AND placement = 'PLACEMENT_CASE_LOG' ORDER BY id DESC LIMIT 1",
                )
                .bind(client)
                .bind(person)
                .bind(case_log)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn log_access(&self, rows: &[AccessRecord]) -> ApiResult<()> {
                if rows.is_empty() {
                    return Ok(());
                }
                let mut tx = self.begin().await?;
                for a in rows {
                    Self::insert_access(&mut tx, a).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn access_log(&self, referral: &str) -> ApiResult<Vec<AccessRecord>> {
                Ok(sqlx::query_as("SELECT * FROM access_log WHERE referral = $1 ORDER BY id")
                    .bind(referral)
                    .fetch_all(&self.pool)
                    .await?)
            }
        }
    };
}

pub(crate) use gateway_sql_store;
