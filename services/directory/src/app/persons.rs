//! Persons: children, youths, guardians and pregnant women, with their
//! validated national ids (never logged; errors never echo them).

use bti_proto::directory::*;
use bti_runtime::api::{PageToken, check_etag, enum_of, new_id, page_size, paginate, update_paths};
use bti_runtime::auth::Principal;
use bti_runtime::db::Idem;
use bti_runtime::events::OutboxEvent;
use bti_runtime::ids::parse_national_id;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::App;
use crate::api::convert::person_msg;
use crate::domain::access::{
    can_administer_tenant, can_list_persons, can_read_person, can_work_in_tenant,
};
use crate::domain::*;

impl App {
    fn person_event(&self, r: &PersonRecord, created: bool) -> OutboxEvent {
        let name = person_name(&r.tenant, &r.id);
        self.event(
            &name,
            &r.tenant,
            &PersonChanged {
                person: name.clone(),
                kind: enum_of(PersonKind::from_str_name, &r.kind),
                created,
            },
        )
    }

    pub async fn create_person(&self, p: &Principal, r: CreatePersonRequest) -> ApiResult<Person> {
        let idem = Idem::of(&r.request_id, &r)?;
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        can_work_in_tenant(p, &tenant)?;
        let person = r.person.unwrap_or_default();
        let mut v = Violations::new();
        let kind = v.check("person.kind", person_kind(person.kind));
        let national_id = v.check(
            "person.national_id",
            parse_national_id(person.national_id.trim()),
        );
        v.text("person.given_name", &person.given_name, MAX_NAME);
        v.text("person.family_name", &person.family_name, MAX_NAME);
        v.finish()?;
        let national_id = national_id.expect("validated");
        self.tenant(&tenant).await?;
        let now = self.now();
        let record = PersonRecord {
            tenant: tenant.clone(),
            id: new_id(),
            kind: kind.expect("validated").as_str_name().to_string(),
            national_id: national_id.expose().to_string(),
            given_name: person.given_name.trim().to_string(),
            family_name: person.family_name.trim().to_string(),
            birth_date: national_id.birth_date,
            version: 1,
            create_time: now,
            update_time: now,
        };
        let ev = self.person_event(&record, true);
        let saved = self.store.create_person(&record, &idem, ev).await?;
        self.committed(person_msg(&saved))
    }

    pub async fn get_person(&self, p: &Principal, r: GetPersonRequest) -> ApiResult<Person> {
        let n = PersonName::parse("name", &r.name)?;
        can_read_person(p, &n.tenant, &r.name)?;
        Ok(person_msg(&self.person(&n).await?))
    }

    pub async fn list_persons(
        &self,
        p: &Principal,
        r: ListPersonsRequest,
    ) -> ApiResult<ListPersonsResponse> {
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        can_list_persons(p, &tenant)?;
        let kind = match r.kind {
            0 => String::new(),
            n => person_kind(n)
                .map_err(|e| ApiError::invalid("kind", e))?
                .as_str_name()
                .to_string(),
        };
        let query = ["ListPersons", r.parent.as_str(), kind.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .list_persons(&tenant, &kind, after.as_deref().unwrap_or(""), size + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |p| p.id.clone(), &query);
        Ok(ListPersonsResponse {
            persons: rows.iter().map(person_msg).collect(),
            next_page_token,
        })
    }

    pub async fn update_person(&self, p: &Principal, r: UpdatePersonRequest) -> ApiResult<Person> {
        let person = r
            .person
            .ok_or_else(|| ApiError::invalid("person", "required"))?;
        let n = PersonName::parse("person.name", &person.name)?;
        can_administer_tenant(p, &n.tenant)?;
        let paths = update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &["kind", "given_name", "family_name"],
        )?;
        let mut record = self.person(&n).await?;
        check_etag(&person.name, &person.etag, record.version)?;
        let mut v = Violations::new();
        for path in &paths {
            match path.as_str() {
                "kind" => {
                    if let Some(k) = v.check("person.kind", person_kind(person.kind)) {
                        record.kind = k.as_str_name().to_string();
                    }
                }
                "given_name" => {
                    v.text("person.given_name", &person.given_name, MAX_NAME);
                    record.given_name = person.given_name.trim().to_string();
                }
                "family_name" => {
                    v.text("person.family_name", &person.family_name, MAX_NAME);
                    record.family_name = person.family_name.trim().to_string();
                }
                _ => unreachable!("update_paths checked the mask"),
            }
        }
        v.finish()?;
        record.update_time = self.now();
        let ev = self.person_event(&record, false);
        let saved = self.store.update_person(&record, ev).await?;
        self.committed(person_msg(&saved))
    }

    pub async fn lookup_person(&self, p: &Principal, r: LookupPersonRequest) -> ApiResult<Person> {
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        can_work_in_tenant(p, &tenant)?;
        let id = parse_national_id(r.national_id.trim())
            .map_err(|e| ApiError::invalid("national_id", e))?;
        let found = self.store.lookup_person(&tenant, id.expose()).await?;
        found.map(|r| person_msg(&r)).ok_or_else(|| {
            ApiError::NotFound(format!("{}/persons with this national id", r.parent))
        })
    }
}
