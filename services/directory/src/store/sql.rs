//! The directory's SQL, written once for both backends. `$N` placeholders work
//! on PostgreSQL and (through sqlx) on SQLite; types are those both drivers
//! encode (TEXT, BIGINT/INTEGER, BOOLEAN, timestamps, dates).

macro_rules! directory_sql_store {
    ($store:ident, $db:ty) => {
        use async_trait::async_trait;
        use bti_runtime::db::{Claim, Plumbing, check_versioned, write_error};
        use bti_runtime::events::OutboxEvent;
        use bti_runtime::{ApiError, ApiResult};

        use super::{DirectoryStore, Idem};
        use crate::domain::*;

        type Tx = sqlx::Transaction<'static, $db>;

        impl $store {
            /// Opens a write transaction and claims the create's idempotency
            /// key; `Err(name)` is a replay of an earlier create of `name`.
            async fn start_create(&self, scope: &str, name: &str, idem: &Idem) -> ApiResult<Result<Tx, String>> {
                let mut tx = self.begin().await?;
                match tx.claim(scope, idem, name).await? {
                    Claim::New => Ok(Ok(tx)),
                    Claim::Replay(existing) => Ok(Err(existing)),
                }
            }

            async fn finish(&self, tx: Tx, event: &OutboxEvent) -> ApiResult<()> {
                bti_runtime::db::commit_with(tx, event).await
            }

            async fn exists(&self, tx: &mut Tx, sql: &'static str, keys: &[&str]) -> ApiResult<bool> {
                let mut q = sqlx::query_scalar::<_, i64>(sql);
                for k in keys {
                    q = q.bind(*k);
                }
                Ok(q.fetch_one(&mut **tx).await? > 0)
            }
        }

        #[async_trait]
        impl DirectoryStore for $store {
            fn backend(&self) -> &'static str {
                <$db as sqlx::Database>::NAME
            }

            async fn create_tenant(&self, r: &TenantRecord, idem: &Idem, event: OutboxEvent) -> ApiResult<TenantRecord> {
                let name = tenant_name(&r.id);
                let mut tx = match self.start_create("CreateTenant", &name, idem).await? {
                    Ok(tx) => tx,
                    Err(existing) => {
                        let n = TenantName::parse("name", &existing)?;
                        return self.get_tenant(&n.tenant).await?.ok_or(ApiError::NotFound(existing));
                    }
                };
                sqlx::query(
                    "INSERT INTO tenants (id, display_name, youth_consent_age, require_all_guardians_consent, \
                     version, create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&r.id)
                .bind(&r.display_name)
                .bind(r.youth_consent_age)
                .bind(r.require_all_guardians_consent)
                .bind(r.version)
                .bind(r.create_time)
                .bind(r.update_time)
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(e, &name))?;
                self.finish(tx, &event).await?;
                Ok(r.clone())
            }

            async fn get_tenant(&self, id: &str) -> ApiResult<Option<TenantRecord>> {
                Ok(sqlx::query_as("SELECT * FROM tenants WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_tenants(&self, after: &str, limit: i64) -> ApiResult<Vec<TenantRecord>> {
                Ok(sqlx::query_as("SELECT * FROM tenants WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn update_tenant(&self, r: &TenantRecord, event: OutboxEvent) -> ApiResult<TenantRecord> {
                let name = tenant_name(&r.id);
                let mut tx = self.begin().await?;
                let rows = sqlx::query(
                    "UPDATE tenants SET display_name = $1, youth_consent_age = $2, \
                     require_all_guardians_consent = $3, update_time = $4, version = version + 1 \
                     WHERE id = $5 AND version = $6",
                )
                .bind(&r.display_name)
                .bind(r.youth_consent_age)
                .bind(r.require_all_guardians_consent)
                .bind(r.update_time)
                .bind(&r.id)
                .bind(r.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let exists = rows == 0
                    && self.exists(&mut tx, "SELECT COUNT(*) FROM tenants WHERE id = $1", &[&r.id]).await?;
                check_versioned(rows, exists, &name)?;
                self.finish(tx, &event).await?;
                Ok(TenantRecord { version: r.version + 1, ..r.clone() })
            }

            async fn create_unit(&self, r: &UnitRecord, idem: &Idem, event: OutboxEvent) -> ApiResult<UnitRecord> {
                let name = unit_name(&r.tenant, &r.id);
                let mut tx = match self.start_create("CreateUnit", &name, idem).await? {
                    Ok(tx) => tx,
                    Err(existing) => {
                        let n = UnitName::parse("name", &existing)?;
                        return self.get_unit(&n.tenant, &n.unit).await?.ok_or(ApiError::NotFound(existing));
                    }
                };
                sqlx::query(
                    "INSERT INTO units (tenant, id, display_name, unit_type, organization_number, version, \
                     create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&r.tenant)
                .bind(&r.id)
                .bind(&r.display_name)
                .bind(&r.unit_type)
                .bind(&r.organization_number)
                .bind(r.version)
                .bind(r.create_time)
                .bind(r.update_time)
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(e, &name))?;
                self.finish(tx, &event).await?;
                Ok(r.clone())
            }

            async fn get_unit(&self, tenant: &str, id: &str) -> ApiResult<Option<UnitRecord>> {
                Ok(sqlx::query_as("SELECT * FROM units WHERE tenant = $1 AND id = $2")
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_units(&self, tenant: &str, unit_type: &str, after: &str, limit: i64) -> ApiResult<Vec<UnitRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM units WHERE tenant = $1 AND ($2 = '' OR unit_type = $2) AND id > $3 \
                     ORDER BY id LIMIT $4",
                )
                .bind(tenant)
                .bind(unit_type)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn update_unit(&self, r: &UnitRecord, event: OutboxEvent) -> ApiResult<UnitRecord> {
                let name = unit_name(&r.tenant, &r.id);
                let mut tx = self.begin().await?;
                let rows = sqlx::query(
                    "UPDATE units SET display_name = $1, unit_type = $2, organization_number = $3, \
                     update_time = $4, version = version + 1 WHERE tenant = $5 AND id = $6 AND version = $7",
                )
                .bind(&r.display_name)
                .bind(&r.unit_type)
                .bind(&r.organization_number)
                .bind(r.update_time)
                .bind(&r.tenant)
                .bind(&r.id)
                .bind(r.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let exists = rows == 0
                    && self
                        .exists(&mut tx, "SELECT COUNT(*) FROM units WHERE tenant = $1 AND id = $2", &[&r.tenant, &r.id])
                        .await?;
                check_versioned(rows, exists, &name)?;
                self.finish(tx, &event).await?;
                Ok(UnitRecord { version: r.version + 1, ..r.clone() })
            }

            async fn create_member(&self, r: &MemberRecord, idem: &Idem, event: OutboxEvent) -> ApiResult<MemberRecord> {
                let name = member_name(&r.tenant, &r.unit, &r.id);
                let mut tx = match self.start_create("CreateMember", &name, idem).await? {
                    Ok(tx) => tx,
                    Err(existing) => {
                        let n = MemberName::parse("name", &existing)?;
                        return self
                            .get_member(&n.tenant, &n.unit, &n.member)
                            .await?
                            .ok_or(ApiError::NotFound(existing));
                    }
                };
                sqlx::query(
                    "INSERT INTO members (tenant, unit, id, subject, display_name, role, absent, version, \
                     create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&r.tenant)
                .bind(&r.unit)
                .bind(&r.id)
                .bind(&r.subject)
                .bind(&r.display_name)
                .bind(&r.role)
                .bind(r.absent)
                .bind(r.version)
                .bind(r.create_time)
                .bind(r.update_time)
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(e, &name))?;
                self.finish(tx, &event).await?;
                Ok(r.clone())
            }

            async fn get_member(&self, tenant: &str, unit: &str, id: &str) -> ApiResult<Option<MemberRecord>> {
                Ok(sqlx::query_as("SELECT * FROM members WHERE tenant = $1 AND unit = $2 AND id = $3")
                    .bind(tenant)
                    .bind(unit)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_members(&self, tenant: &str, unit: &str, after: &str, limit: i64) -> ApiResult<Vec<MemberRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM members WHERE tenant = $1 AND unit = $2 AND id > $3 ORDER BY id LIMIT $4",
                )
                .bind(tenant)
                .bind(unit)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn update_member(&self, r: &MemberRecord, event: OutboxEvent) -> ApiResult<MemberRecord> {
                let name = member_name(&r.tenant, &r.unit, &r.id);
                let mut tx = self.begin().await?;
                let rows = sqlx::query(
                    "UPDATE members SET display_name = $1, role = $2, absent = $3, update_time = $4, \
                     version = version + 1 WHERE tenant = $5 AND unit = $6 AND id = $7 AND version = $8",
                )
                .bind(&r.display_name)
                .bind(&r.role)
                .bind(r.absent)
                .bind(r.update_time)
                .bind(&r.tenant)
                .bind(&r.unit)
                .bind(&r.id)
                .bind(r.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let exists = rows == 0 && self.member_exists(&mut tx, r).await?;
                check_versioned(rows, exists, &name)?;
                self.finish(tx, &event).await?;
                Ok(MemberRecord { version: r.version + 1, ..r.clone() })
            }

            async fn delete_member(&self, r: &MemberRecord, event: OutboxEvent) -> ApiResult<()> {
                let name = member_name(&r.tenant, &r.unit, &r.id);
                let mut tx = self.begin().await?;
                let rows = sqlx::query(
                    "DELETE FROM members WHERE tenant = $1 AND unit = $2 AND id = $3 AND version = $4",
                )
                .bind(&r.tenant)
                .bind(&r.unit)
                .bind(&r.id)
                .bind(r.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let exists = rows == 0 && self.member_exists(&mut tx, r).await?;
                check_versioned(rows, exists, &name)?;
                self.finish(tx, &event).await
            }

            async fn create_person(&self, r: &PersonRecord, idem: &Idem, event: OutboxEvent) -> ApiResult<PersonRecord> {
                let name = person_name(&r.tenant, &r.id);
                let mut tx = match self.start_create("CreatePerson", &name, idem).await? {
                    Ok(tx) => tx,
                    Err(existing) => {
                        let n = PersonName::parse("name", &existing)?;
                        return self.get_person(&n.tenant, &n.person).await?.ok_or(ApiError::NotFound(existing));
                    }
                };
                // ON CONFLICT: a duplicate national id must not raise a unique
                // violation, which PostgreSQL would log with the key's value.
                let inserted = sqlx::query(
                    "INSERT INTO persons (tenant, id, kind, national_id, given_name, family_name, birth_date, \
                     version, create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&r.tenant)
                .bind(&r.id)
                .bind(&r.kind)
                .bind(&r.national_id)
                .bind(&r.given_name)
                .bind(&r.family_name)
                .bind(r.birth_date)
                .bind(r.version)
                .bind(r.create_time)
                .bind(r.update_time)
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(e, &name))?
                .rows_affected();
                if inserted == 0 {
                    // The id is fresh, so the national id is taken; the error
                    // names the tenant, never the number.
                    return Err(ApiError::AlreadyExists(format!(
                        "a person with this national id in {}",
                        tenant_name(&r.tenant)
                    )));
                }
                self.finish(tx, &event).await?;
                Ok(r.clone())
            }

            async fn get_person(&self, tenant: &str, id: &str) -> ApiResult<Option<PersonRecord>> {
                Ok(sqlx::query_as("SELECT * FROM persons WHERE tenant = $1 AND id = $2")
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_persons(&self, tenant: &str, kind: &str, after: &str, limit: i64) -> ApiResult<Vec<PersonRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM persons WHERE tenant = $1 AND ($2 = '' OR kind = $2) AND id > $3 \
                     ORDER BY id LIMIT $4",
                )
                .bind(tenant)
                .bind(kind)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn update_person(&self, r: &PersonRecord, event: OutboxEvent) -> ApiResult<PersonRecord> {
                let name = person_name(&r.tenant, &r.id);
                let mut tx = self.begin().await?;
                let rows = sqlx::query(
                    "UPDATE persons SET kind = $1, given_name = $2, family_name = $3, update_time = $4, \
                     version = version + 1 WHERE tenant = $5 AND id = $6 AND version = $7",
                )
                .bind(&r.kind)
                .bind(&r.given_name)
                .bind(&r.family_name)
                .bind(r.update_time)
                .bind(&r.tenant)
                .bind(&r.id)
                .bind(r.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let exists = rows == 0
                    && self
                        .exists(&mut tx, "SELECT COUNT(*) FROM persons WHERE tenant = $1 AND id = $2", &[&r.tenant, &r.id])
                        .await?;
                check_versioned(rows, exists, &name)?;
                self.finish(tx, &event).await?;
                Ok(PersonRecord { version: r.version + 1, ..r.clone() })
            }

            async fn lookup_person(&self, tenant: &str, national_id: &str) -> ApiResult<Option<PersonRecord>> {
                Ok(sqlx::query_as("SELECT * FROM persons WHERE tenant = $1 AND national_id = $2")
                    .bind(tenant)
                    .bind(national_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn create_guardianship(
                &self,
                r: &GuardianshipRecord,
                idem: &Idem,
                event: OutboxEvent,
            ) -> ApiResult<GuardianshipRecord> {
                let name = guardianship_name(&r.tenant, &r.person, &r.id);
                let mut tx = match self.start_create("CreateGuardianship", &name, idem).await? {
                    Ok(tx) => tx,
                    Err(existing) => {
                        let n = GuardianshipName::parse("name", &existing)?;
                        return self
                            .get_guardianship(&n.tenant, &n.person, &n.guardianship)
                            .await?
                            .ok_or(ApiError::NotFound(existing));
                    }
                };
                sqlx::query(
                    "INSERT INTO guardianships (tenant, person, id, guardian, parental_responsibility, version, \
                     create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&r.tenant)
                .bind(&r.person)
                .bind(&r.id)
                .bind(&r.guardian)
                .bind(r.parental_responsibility)
                .bind(r.version)
                .bind(r.create_time)
                .bind(r.update_time)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    write_error(
                        e,
                        &format!("guardianship of {} for {}", person_name(&r.tenant, &r.person), person_name(&r.tenant, &r.guardian)),
                    )
                })?;
                self.finish(tx, &event).await?;
                Ok(r.clone())
            }

            async fn get_guardianship(&self, tenant: &str, person: &str, id: &str) -> ApiResult<Option<GuardianshipRecord>> {
                Ok(sqlx::query_as("SELECT * FROM guardianships WHERE tenant = $1 AND person = $2 AND id = $3")
                    .bind(tenant)
                    .bind(person)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_guardianships(
                &self,
                tenant: &str,
                person: &str,
                after: &str,
                limit: i64,
            ) -> ApiResult<Vec<GuardianshipRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM guardianships WHERE tenant = $1 AND person = $2 AND id > $3 ORDER BY id LIMIT $4",
                )
                .bind(tenant)
                .bind(person)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn update_guardianship(&self, r: &GuardianshipRecord, event: OutboxEvent) -> ApiResult<GuardianshipRecord> {
                let name = guardianship_name(&r.tenant, &r.person, &r.id);
                let mut tx = self.begin().await?;
                let rows = sqlx::query(
                    "UPDATE guardianships SET parental_responsibility = $1, update_time = $2, version = version + 1 \
                     WHERE tenant = $3 AND person = $4 AND id = $5 AND version = $6",
                )
                .bind(r.parental_responsibility)
                .bind(r.update_time)
                .bind(&r.tenant)
                .bind(&r.person)
                .bind(&r.id)
                .bind(r.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let exists = rows == 0 && self.guardianship_exists(&mut tx, r).await?;
                check_versioned(rows, exists, &name)?;
                self.finish(tx, &event).await?;
                Ok(GuardianshipRecord { version: r.version + 1, ..r.clone() })
            }

            async fn delete_guardianship(&self, r: &GuardianshipRecord, event: OutboxEvent) -> ApiResult<()> {
                let name = guardianship_name(&r.tenant, &r.person, &r.id);
                let mut tx = self.begin().await?;
                let rows = sqlx::query(
                    "DELETE FROM guardianships WHERE tenant = $1 AND person = $2 AND id = $3 AND version = $4",
                )
                .bind(&r.tenant)
                .bind(&r.person)
                .bind(&r.id)
                .bind(r.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let exists = rows == 0 && self.guardianship_exists(&mut tx, r).await?;
                check_versioned(rows, exists, &name)?;
                self.finish(tx, &event).await
            }
        }

        impl $store {
            async fn member_exists(&self, tx: &mut Tx, r: &MemberRecord) -> ApiResult<bool> {
                self.exists(
                    tx,
                    "SELECT COUNT(*) FROM members WHERE tenant = $1 AND unit = $2 AND id = $3",
                    &[&r.tenant, &r.unit, &r.id],
                )
                .await
            }

            async fn guardianship_exists(&self, tx: &mut Tx, r: &GuardianshipRecord) -> ApiResult<bool> {
                self.exists(
                    tx,
                    "SELECT COUNT(*) FROM guardianships WHERE tenant = $1 AND person = $2 AND id = $3",
                    &[&r.tenant, &r.person, &r.id],
                )
                .await
            }
        }
    };
}

pub(crate) use directory_sql_store;
