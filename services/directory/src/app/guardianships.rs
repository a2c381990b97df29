//! Guardianships: who is a child's guardian, and with parental
//! responsibility (which decides who must consent).

use bti_proto::directory::*;
use bti_runtime::api::{PageToken, check_etag, new_id, page_size, paginate, update_paths};
use bti_runtime::auth::Principal;
use bti_runtime::db::Idem;
use bti_runtime::events::OutboxEvent;
use bti_runtime::{ApiError, ApiResult};

use super::App;
use crate::api::convert::guardianship_msg;
use crate::domain::access::{can_administer_tenant, can_work_in_tenant};
use crate::domain::*;

impl App {
    fn guardianship_event(&self, r: &GuardianshipRecord, deleted: bool) -> OutboxEvent {
        let name = guardianship_name(&r.tenant, &r.person, &r.id);
        self.event(
            &name,
            &r.tenant,
            &GuardianshipChanged {
                guardianship: name.clone(),
                guardian: person_name(&r.tenant, &r.guardian),
                parental_responsibility: r.parental_responsibility,
                deleted,
            },
        )
    }

    async fn guardianship(&self, n: &GuardianshipName) -> ApiResult<GuardianshipRecord> {
        self.store
            .get_guardianship(&n.tenant, &n.person, &n.guardianship)
            .await?
            .ok_or_else(|| ApiError::NotFound(n.to_string()))
    }

    pub async fn create_guardianship(
        &self,
        p: &Principal,
        r: CreateGuardianshipRequest,
    ) -> ApiResult<Guardianship> {
        let idem = Idem::of(&r.request_id, &r)?;
        let child = PersonName::parse("parent", &r.parent)?;
        can_work_in_tenant(p, &child.tenant)?;
        let g = r.guardianship.unwrap_or_default();
        let guardian = PersonName::parse("guardianship.guardian", &g.guardian)?;
        if guardian.tenant != child.tenant {
            return Err(ApiError::invalid(
                "guardianship.guardian",
                "must be a person in the same tenant",
            ));
        }
        if guardian.person == child.person {
            return Err(ApiError::invalid(
                "guardianship.guardian",
                "a person cannot be their own guardian",
            ));
        }
        self.person(&child).await?;
        let guardian = self.person(&guardian).await?;
        if guardian.kind != PersonKind::Guardian.as_str_name() {
            return Err(ApiError::invalid(
                "guardianship.guardian",
                "must be a person of kind GUARDIAN",
            ));
        }
        let now = self.now();
        let record = GuardianshipRecord {
            tenant: child.tenant.clone(),
            person: child.person.clone(),
            id: new_id(),
            guardian: guardian.id,
            parental_responsibility: g.parental_responsibility,
            version: 1,
            create_time: now,
            update_time: now,
        };
        let ev = self.guardianship_event(&record, false);
        let saved = self.store.create_guardianship(&record, &idem, ev).await?;
        self.committed(guardianship_msg(&saved))
    }

    pub async fn get_guardianship(
        &self,
        p: &Principal,
        r: GetGuardianshipRequest,
    ) -> ApiResult<Guardianship> {
        let n = GuardianshipName::parse("name", &r.name)?;
        can_work_in_tenant(p, &n.tenant)?;
        Ok(guardianship_msg(&self.guardianship(&n).await?))
    }

    pub async fn list_guardianships(
        &self,
        p: &Principal,
        r: ListGuardianshipsRequest,
    ) -> ApiResult<ListGuardianshipsResponse> {
        let person = PersonName::parse("parent", &r.parent)?;
        can_work_in_tenant(p, &person.tenant)?;
        let query = ["ListGuardianships", r.parent.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .list_guardianships(
                &person.tenant,
                &person.person,
                after.as_deref().unwrap_or(""),
                size + 1,
            )
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |g| g.id.clone(), &query);
        Ok(ListGuardianshipsResponse {
            guardianships: rows.iter().map(guardianship_msg).collect(),
            next_page_token,
        })
    }

    pub async fn update_guardianship(
        &self,
        p: &Principal,
        r: UpdateGuardianshipRequest,
    ) -> ApiResult<Guardianship> {
        let g = r
            .guardianship
            .ok_or_else(|| ApiError::invalid("guardianship", "required"))?;
        let n = GuardianshipName::parse("guardianship.name", &g.name)?;
        can_administer_tenant(p, &n.tenant)?;
        update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &["parental_responsibility"],
        )?;
        let mut record = self.guardianship(&n).await?;
        check_etag(&g.name, &g.etag, record.version)?;
        record.parental_responsibility = g.parental_responsibility;
        record.update_time = self.now();
        let ev = self.guardianship_event(&record, false);
        let saved = self.store.update_guardianship(&record, ev).await?;
        self.committed(guardianship_msg(&saved))
    }

    pub async fn delete_guardianship(
        &self,
        p: &Principal,
        r: DeleteGuardianshipRequest,
    ) -> ApiResult<()> {
        let n = GuardianshipName::parse("name", &r.name)?;
        can_administer_tenant(p, &n.tenant)?;
        let record = self.guardianship(&n).await?;
        check_etag(&r.name, &r.etag, record.version)?;
        let ev = self.guardianship_event(&record, true);
        self.store.delete_guardianship(&record, ev).await?;
        self.committed(())
    }
}
