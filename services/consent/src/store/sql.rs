//! The consent service's SQL, written once for both backends.

macro_rules! consent_sql_store {
    ($store:ident, $db:ty) => {
        use async_trait::async_trait;
        use bti_runtime::db::{Claim, Plumbing, check_versioned, commit_with, write_error};
        use bti_runtime::events::OutboxEvent;
        use bti_runtime::{ApiError, ApiResult};
        use chrono::{DateTime, Utc};

        use super::{ConsentStore, Idem};
        use crate::domain::*;

        type Tx = sqlx::Transaction<'static, $db>;

        impl $store {
            async fn units(&self, tenant: &str, consent: &str) -> ApiResult<Vec<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT unit FROM consent_units WHERE tenant = $1 AND consent = $2 ORDER BY unit",
                )
                .bind(tenant)
                .bind(consent)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn view(&self, consent: ConsentRecord) -> ApiResult<ConsentView> {
                let units = self.units(&consent.tenant, &consent.id).await?;
                Ok(ConsentView { consent, units })
            }

            async fn views(&self, rows: Vec<ConsentRecord>) -> ApiResult<Vec<ConsentView>> {
                let mut out = Vec::with_capacity(rows.len());
                for c in rows {
                    out.push(self.view(c).await?);
                }
                Ok(out)
            }

            async fn insert_revision(tx: &mut Tx, r: &RevisionRecord) -> ApiResult<()> {
                sqlx::query(
                    "INSERT INTO consent_revisions (tenant, consent, revision, kind, covered_units, state, \
                     valid_from, valid_until, method, method_reference, actor, reason, create_time) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(&r.tenant)
                .bind(&r.consent)
                .bind(r.revision)
                .bind(&r.kind)
                .bind(&r.covered_units)
                .bind(&r.state)
                .bind(r.valid_from)
                .bind(r.valid_until)
                .bind(&r.method)
                .bind(&r.method_reference)
                .bind(&r.actor)
                .bind(&r.reason)
                .bind(r.create_time)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            async fn replace_units(tx: &mut Tx, tenant: &str, consent: &str, units: &[String]) -> ApiResult<()> {
                sqlx::query("DELETE FROM consent_units WHERE tenant = $1 AND consent = $2")
                    .bind(tenant)
                    .bind(consent)
                    .execute(&mut **tx)
                    .await?;
                for unit in units {
                    sqlx::query("INSERT INTO consent_units (tenant, consent, unit) VALUES ($1, $2, $3)")
                        .bind(tenant)
                        .bind(consent)
                        .bind(unit)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            }
        }

        #[async_trait]
        impl ConsentStore for $store {
            async fn create_consent(
                &self,
                c: &ConsentRecord,
                units: &[String],
                rev: &RevisionRecord,
                idem: &Idem,
                event: OutboxEvent,
            ) -> ApiResult<ConsentView> {
                let name = c.name();
                let mut tx = self.begin().await?;
                if let Claim::Replay(existing) = tx.claim("CreateConsent", idem, &name).await? {
                    drop(tx);
                    let n = ConsentName::parse("name", &existing)?;
                    return self.get_consent(&n.tenant, &n.consent).await?.ok_or(ApiError::NotFound(existing));
                }
                sqlx::query(
                    "INSERT INTO consents (tenant, id, subject, purpose, grantors, state, revision, valid_from, \
                     valid_until, withdraw_time, withdraw_reason, version, create_time, update_time) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(&c.tenant)
                .bind(&c.id)
                .bind(&c.subject)
                .bind(&c.purpose)
                .bind(&c.grantors)
                .bind(&c.state)
                .bind(c.revision)
                .bind(c.valid_from)
                .bind(c.valid_until)
                .bind(c.withdraw_time)
                .bind(&c.withdraw_reason)
                .bind(c.version)
                .bind(c.create_time)
                .bind(c.update_time)
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(e, &name))?;
                for g in c.grantor_list() {
                    sqlx::query(
                        "INSERT INTO consent_grantors (tenant, consent, person) VALUES ($1, $2, $3) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(&c.tenant)
                    .bind(&c.id)
                    .bind(&g.person)
                    .execute(&mut *tx)
                    .await?;
                }
                Self::replace_units(&mut tx, &c.tenant, &c.id, units).await?;
                Self::insert_revision(&mut tx, rev).await?;
                commit_with(tx, &event).await?;
                Ok(ConsentView {
                    consent: c.clone(),
                    units: units.to_vec(),
                })
            }

            async fn get_consent(&self, tenant: &str, id: &str) -> ApiResult<Option<ConsentView>> {
                let row: Option<ConsentRecord> = sqlx::query_as("SELECT * FROM consents WHERE tenant = $1 AND id = $2")
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(c) => Ok(Some(self.view(c).await?)),
                    None => Ok(None),
                }
            }

            async fn list_consents(
                &self,
                tenant: &str,
                subject: &str,
                grantor: &str,
                after: &str,
                limit: i64,
            ) -> ApiResult<Vec<ConsentView>> {
                let rows: Vec<ConsentRecord> = sqlx::query_as(
                    "SELECT * FROM consents c WHERE c.tenant = $1 AND ($2 = '' OR c.subject = $2) \
                     AND ($3 = '' OR EXISTS (SELECT 1 FROM consent_grantors g \
                          WHERE g.tenant = c.tenant AND g.consent = c.id AND g.person = $3)) \
                     AND c.id > $4 ORDER BY c.id LIMIT $5",
                )
                .bind(tenant)
                .bind(subject)
                .bind(grantor)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                self.views(rows).await
            }

            async fn change_consent(
                &self,
                c: &ConsentRecord,
                units: &[String],
                rev: &RevisionRecord,
                event: OutboxEvent,
            ) -> ApiResult<ConsentView> {
                let name = c.name();
                let mut tx = self.begin().await?;
                let rows = sqlx::query(
                    "UPDATE consents SET state = $1, revision = $2, valid_until = $3, withdraw_time = $4, \
                     withdraw_reason = $5, update_time = $6, version = version + 1 \
                     WHERE tenant = $7 AND id = $8 AND version = $9",
                )
                .bind(&c.state)
                .bind(c.revision)
                .bind(c.valid_until)
                .bind(c.withdraw_time)
                .bind(&c.withdraw_reason)
                .bind(c.update_time)
                .bind(&c.tenant)
                .bind(&c.id)
                .bind(c.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let exists = rows == 0
                    && sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM consents WHERE tenant = $1 AND id = $2")
                        .bind(&c.tenant)
                        .bind(&c.id)
                        .fetch_one(&mut *tx)
                        .await?
                        > 0;
                check_versioned(rows, exists, &name)?;
                Self::replace_units(&mut tx, &c.tenant, &c.id, units).await?;
                Self::insert_revision(&mut tx, rev).await?;
                commit_with(tx, &event).await?;
                Ok(ConsentView {
                    consent: ConsentRecord {
                        version: c.version + 1,
                        ..c.clone()
                    },
                    units: units.to_vec(),
                })
            }

            async fn get_revision(&self, tenant: &str, consent: &str, revision: i64) -> ApiResult<Option<RevisionRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM consent_revisions WHERE tenant = $1 AND consent = $2 AND revision = $3",
                )
                .bind(tenant)
                .bind(consent)
                .bind(revision)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn list_revisions(
                &self,
                tenant: &str,
                consent: &str,
                after: i64,
                limit: i64,
            ) -> ApiResult<Vec<RevisionRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM consent_revisions WHERE tenant = $1 AND consent = $2 AND revision > $3 \
                     ORDER BY revision LIMIT $4",
                )
                .bind(tenant)
                .bind(consent)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn access_candidates(
                &self,
                tenant: &str,
                subject: &str,
                unit: &str,
                purpose: &str,
            ) -> ApiResult<Vec<Candidate>> {
                // One indexed read of committed state: a withdrawal that has
                // returned is always seen.
                Ok(sqlx::query_as(
                    "SELECT c.id, c.revision, c.state, c.valid_from, c.valid_until, \
                     EXISTS (SELECT 1 FROM consent_units u WHERE u.tenant = c.tenant AND u.consent = c.id \
                             AND u.unit = $3) AS covers \
                     FROM consents c WHERE c.tenant = $1 AND c.subject = $2 AND c.purpose = $4 ORDER BY c.id",
                )
                .bind(tenant)
                .bind(subject)
                .bind(unit)
                .bind(purpose)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn access_candidates_batch(
                &self,
                tenant: &str,
                subjects: &[String],
                units: &[String],
                purposes: &[String],
            ) -> ApiResult<Vec<CoveredCandidate>> {
                static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    use bti_runtime::db::Dialect;
                    format!(
                        "SELECT c.subject, c.purpose, c.id, c.revision, c.state, c.valid_from, c.valid_until, \
                         COALESCE(u.unit, '') AS unit FROM consents c \
                         LEFT JOIN consent_units u ON u.tenant = c.tenant AND u.consent = c.id AND {} \
                         WHERE c.tenant = $1 AND {} AND {} ORDER BY c.id",
                        <$db as Dialect>::in_list("u.unit", "$3"),
                        <$db as Dialect>::in_list("c.subject", "$2"),
                        <$db as Dialect>::in_list("c.purpose", "$4"),
                    )
                });
                use bti_runtime::db::json_list;
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(SQL.as_str()))
                    .bind(tenant)
                    .bind(json_list(subjects))
                    .bind(json_list(units))
                    .bind(json_list(purposes))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn expired_but_active(&self, now: DateTime<Utc>, limit: i64) -> ApiResult<Vec<ConsentView>> {
                let rows: Vec<ConsentRecord> = sqlx::query_as(
                    "SELECT * FROM consents WHERE state = 'CONSENT_STATE_ACTIVE' AND valid_until IS NOT NULL \
                     AND valid_until <= $1 ORDER BY valid_until LIMIT $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                self.views(rows).await
            }

            async fn create_representation(
                &self,
                r: &RepresentationRecord,
                idem: &Idem,
                event: OutboxEvent,
            ) -> ApiResult<RepresentationRecord> {
                let name = representation_name(&r.tenant, &r.id);
                let mut tx = self.begin().await?;
                if let Claim::Replay(existing) = tx.claim("CreateRepresentation", idem, &name).await? {
                    drop(tx);
                    let n = RepresentationName::parse("name", &existing)?;
                    return self
                        .get_representation(&n.tenant, &n.representation)
                        .await?
                        .ok_or(ApiError::NotFound(existing));
                }
                sqlx::query(
                    "INSERT INTO representations (tenant, id, guardian, subject, representative, \
                     representative_unit, method, method_reference, valid_until, revoked, version, create_time, \
                     update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(&r.tenant)
                .bind(&r.id)
                .bind(&r.guardian)
                .bind(&r.subject)
                .bind(&r.representative)
                .bind(&r.representative_unit)
                .bind(&r.method)
                .bind(&r.method_reference)
                .bind(r.valid_until)
                .bind(r.revoked)
                .bind(r.version)
                .bind(r.create_time)
                .bind(r.update_time)
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(e, &name))?;
                commit_with(tx, &event).await?;
                Ok(r.clone())
            }

            async fn get_representation(&self, tenant: &str, id: &str) -> ApiResult<Option<RepresentationRecord>> {
                Ok(sqlx::query_as("SELECT * FROM representations WHERE tenant = $1 AND id = $2")
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_representations(
                &self,
                tenant: &str,
                subject: &str,
                after: &str,
                limit: i64,
            ) -> ApiResult<Vec<RepresentationRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM representations WHERE tenant = $1 AND ($2 = '' OR subject = $2) AND id > $3 \
                     ORDER BY id LIMIT $4",
                )
                .bind(tenant)
                .bind(subject)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn update_representation(
                &self,
                r: &RepresentationRecord,
                event: OutboxEvent,
            ) -> ApiResult<RepresentationRecord> {
                let name = representation_name(&r.tenant, &r.id);
                let mut tx = self.begin().await?;
                let rows = sqlx::query(
                    "UPDATE representations SET revoked = $1, valid_until = $2, update_time = $3, \
                     version = version + 1 WHERE tenant = $4 AND id = $5 AND version = $6",
                )
                .bind(r.revoked)
                .bind(r.valid_until)
                .bind(r.update_time)
                .bind(&r.tenant)
                .bind(&r.id)
                .bind(r.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let exists = rows == 0
                    && sqlx::query_scalar::<_, i64>(
                        "SELECT COUNT(*) FROM representations WHERE tenant = $1 AND id = $2",
                    )
                    .bind(&r.tenant)
                    .bind(&r.id)
                    .fetch_one(&mut *tx)
                    .await?
                        > 0;
                check_versioned(rows, exists, &name)?;
                commit_with(tx, &event).await?;
                Ok(RepresentationRecord {
                    version: r.version + 1,
                    ..r.clone()
                })
            }
        }
    };
}

pub(crate) use consent_sql_store;
