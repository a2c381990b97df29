//! gRPC surface of the directory: request validation, authorization, and
//! conversion between records and contract messages.

use std::sync::Arc;

use bti_proto::directory::directory_service_server::{DirectoryService, DirectoryServiceServer};
use bti_proto::directory::*;
use bti_runtime::api::{
    PageToken, check_etag, etag, new_id, page_size, paginate, parse_name, timestamp, update_paths,
    validate_resource_id,
};
use bti_runtime::auth::principal;
use bti_runtime::events::{OutboxEvent, OutboxSignal};
use bti_runtime::ids::{
    parse_national_id, validate_municipality_number, validate_organization_number,
};
use bti_runtime::{ApiError, ApiResult, Violations};
use chrono::Datelike;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::domain::{self, *};
use crate::store::{DirectoryStore, Idem};

/// The directory's gRPC service.
#[derive(Clone)]
pub struct DirectoryApi {
    store: Arc<dyn DirectoryStore>,
    outbox: OutboxSignal,
}

impl DirectoryApi {
    pub fn new(store: Arc<dyn DirectoryStore>, outbox: OutboxSignal) -> Self {
        DirectoryApi { store, outbox }
    }

    pub fn into_server(self) -> DirectoryServiceServer<Self> {
        DirectoryServiceServer::new(self)
    }

    fn event<M: prost::Name>(&self, subject: &str, tenant: &str, payload: &M) -> OutboxEvent {
        OutboxEvent::new(SOURCE, subject, tenant, payload)
    }

    /// Called after a committed write so the relay publishes promptly.
    fn committed<T>(&self, value: T) -> ApiResult<T> {
        self.outbox.wake();
        Ok(value)
    }

    async fn tenant(&self, id: &str) -> ApiResult<TenantRecord> {
        self.store
            .get_tenant(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(tenant_name(id)))
    }

    async fn unit(&self, tenant: &str, id: &str) -> ApiResult<UnitRecord> {
        self.store
            .get_unit(tenant, id)
            .await?
            .ok_or_else(|| ApiError::NotFound(unit_name(tenant, id)))
    }

    async fn person(&self, tenant: &str, id: &str) -> ApiResult<PersonRecord> {
        self.store
            .get_person(tenant, id)
            .await?
            .ok_or_else(|| ApiError::NotFound(person_name(tenant, id)))
    }
}

fn idem(request_id: &str, request: &impl Message) -> ApiResult<Idem> {
    Idem::of(request_id, request)
}

fn reply<T>(result: ApiResult<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

// Record → message conversions.

fn tenant_msg(r: &TenantRecord) -> Tenant {
    Tenant {
        name: tenant_name(&r.id),
        display_name: r.display_name.clone(),
        settings: Some(TenantSettings {
            youth_consent_age: r.youth_consent_age,
            require_all_guardians_consent: r.require_all_guardians_consent,
        }),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag(r.version),
    }
}

fn unit_msg(r: &UnitRecord) -> Unit {
    Unit {
        name: unit_name(&r.tenant, &r.id),
        display_name: r.display_name.clone(),
        r#type: UnitType::from_str_name(&r.unit_type).map_or(0, |t| t as i32),
        organization_number: r.organization_number.clone(),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag(r.version),
    }
}

fn member_msg(r: &MemberRecord) -> Member {
    Member {
        name: member_name(&r.tenant, &r.unit, &r.id),
        subject: r.subject.clone(),
        display_name: r.display_name.clone(),
        role: MemberRole::from_str_name(&r.role).map_or(0, |t| t as i32),
        absent: r.absent,
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag(r.version),
    }
}

fn person_msg(r: &PersonRecord) -> Person {
    Person {
        name: person_name(&r.tenant, &r.id),
        kind: PersonKind::from_str_name(&r.kind).map_or(0, |t| t as i32),
        national_id: r.national_id.clone(),
        given_name: r.given_name.clone(),
        family_name: r.family_name.clone(),
        birth_date: Some(bti_proto::google::r#type::Date {
            year: r.birth_date.year(),
            month: r.birth_date.month() as i32,
            day: r.birth_date.day() as i32,
        }),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag(r.version),
    }
}

fn guardianship_msg(r: &GuardianshipRecord) -> Guardianship {
    Guardianship {
        name: guardianship_name(&r.tenant, &r.person, &r.id),
        guardian: person_name(&r.tenant, &r.guardian),
        parental_responsibility: r.parental_responsibility,
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag(r.version),
    }
}

impl DirectoryApi {
    async fn do_create_tenant(&self, req: Request<CreateTenantRequest>) -> ApiResult<Tenant> {
        let p = principal(&req)?;
        domain::can_administer_platform(&p)?;
        let idem = idem(&req.get_ref().request_id, req.get_ref())?;
        let r = req.into_inner();
        let mut v = Violations::new();
        v.check("tenant_id", validate_municipality_number(&r.tenant_id));
        let t = r.tenant.unwrap_or_default();
        v.text("tenant.display_name", &t.display_name, MAX_NAME);
        let settings = t.settings.unwrap_or_default();
        let age = match settings.youth_consent_age {
            0 => Some(DEFAULT_YOUTH_CONSENT_AGE),
            n => v.check("tenant.settings.youth_consent_age", youth_consent_age(n)),
        };
        v.finish()?;
        let now = bti_runtime::api::now();
        let record = TenantRecord {
            id: r.tenant_id.clone(),
            display_name: t.display_name.trim().to_string(),
            youth_consent_age: age.unwrap_or(DEFAULT_YOUTH_CONSENT_AGE),
            require_all_guardians_consent: settings.require_all_guardians_consent,
            version: 1,
            create_time: now,
            update_time: now,
        };
        let name = tenant_name(&record.id);
        let ev = self.event(
            &name,
            &record.id,
            &TenantCreated {
                tenant: name.clone(),
            },
        );
        let saved = self.store.create_tenant(&record, &idem, ev).await?;
        self.committed(tenant_msg(&saved))
    }

    async fn do_get_tenant(&self, req: Request<GetTenantRequest>) -> ApiResult<Tenant> {
        let p = principal(&req)?;
        let ids = parse_name("name", &req.get_ref().name, TENANT_PATTERN)?;
        domain::can_read_tenant(&p, ids[0])?;
        Ok(tenant_msg(&self.tenant(ids[0]).await?))
    }

    async fn do_list_tenants(
        &self,
        req: Request<ListTenantsRequest>,
    ) -> ApiResult<ListTenantsResponse> {
        let p = principal(&req)?;
        domain::can_administer_platform(&p)?;
        let r = req.into_inner();
        let query = ["ListTenants"];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .list_tenants(after.as_deref().unwrap_or(""), size + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |t| t.id.clone(), &query);
        Ok(ListTenantsResponse {
            tenants: rows.iter().map(tenant_msg).collect(),
            next_page_token,
        })
    }

    async fn do_update_tenant(&self, req: Request<UpdateTenantRequest>) -> ApiResult<Tenant> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let t = r
            .tenant
            .ok_or_else(|| ApiError::invalid("tenant", "required"))?;
        let ids = parse_name("tenant.name", &t.name, TENANT_PATTERN)?;
        domain::can_administer_tenant(&p, ids[0])?;
        let paths = update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &[
                "display_name",
                "settings",
                "settings.youth_consent_age",
                "settings.require_all_guardians_consent",
            ],
        )?;
        let mut record = self.tenant(ids[0]).await?;
        check_etag(&t.name, &t.etag, record.version)?;
        let settings = t.settings.unwrap_or_default();
        let mut v = Violations::new();
        for path in &paths {
            match path.as_str() {
                "display_name" => {
                    v.text("tenant.display_name", &t.display_name, MAX_NAME);
                    record.display_name = t.display_name.trim().to_string();
                }
                "settings"
                | "settings.youth_consent_age"
                | "settings.require_all_guardians_consent" => {
                    // `settings` replaces both; a sub-path replaces one.
                    let age_too = path != "settings.require_all_guardians_consent";
                    let all_too = path != "settings.youth_consent_age";
                    if age_too
                        && let Some(age) = v.check(
                            "tenant.settings.youth_consent_age",
                            youth_consent_age(settings.youth_consent_age),
                        )
                    {
                        record.youth_consent_age = age;
                    }
                    if all_too {
                        record.require_all_guardians_consent =
                            settings.require_all_guardians_consent;
                    }
                }
                _ => unreachable!("update_paths checked the mask"),
            }
        }
        v.finish()?;
        record.update_time = bti_runtime::api::now();
        let ev = self.event(
            &t.name,
            ids[0],
            &TenantUpdated {
                tenant: t.name.clone(),
                changed_fields: paths.clone(),
            },
        );
        let saved = self.store.update_tenant(&record, ev).await?;
        self.committed(tenant_msg(&saved))
    }

    async fn do_create_unit(&self, req: Request<CreateUnitRequest>) -> ApiResult<Unit> {
        let p = principal(&req)?;
        let idem = idem(&req.get_ref().request_id, req.get_ref())?;
        let r = req.into_inner();
        let ids = parse_name("parent", &r.parent, TENANT_PATTERN)?;
        let tenant = ids[0];
        domain::can_administer_tenant(&p, tenant)?;
        let u = r.unit.unwrap_or_default();
        let mut v = Violations::new();
        v.text("unit.display_name", &u.display_name, MAX_NAME);
        let unit_type = v.check("unit.type", domain::unit_type(u.r#type));
        if !u.organization_number.is_empty() {
            v.check(
                "unit.organization_number",
                validate_organization_number(&u.organization_number),
            );
        }
        if !r.unit_id.is_empty() {
            v.check("unit_id", validate_resource_id(&r.unit_id));
        }
        v.finish()?;
        self.tenant(tenant).await?;
        let now = bti_runtime::api::now();
        let record = UnitRecord {
            tenant: tenant.to_string(),
            id: if r.unit_id.is_empty() {
                new_id()
            } else {
                r.unit_id.clone()
            },
            display_name: u.display_name.trim().to_string(),
            unit_type: unit_type.expect("validated").as_str_name().to_string(),
            organization_number: u.organization_number.clone(),
            version: 1,
            create_time: now,
            update_time: now,
        };
        let name = unit_name(tenant, &record.id);
        let ev = self.event(
            &name,
            tenant,
            &UnitCreated {
                unit: name.clone(),
                r#type: u.r#type,
            },
        );
        let saved = self.store.create_unit(&record, &idem, ev).await?;
        self.committed(unit_msg(&saved))
    }

    async fn do_get_unit(&self, req: Request<GetUnitRequest>) -> ApiResult<Unit> {
        let p = principal(&req)?;
        let ids = parse_name("name", &req.get_ref().name, UNIT_PATTERN)?;
        domain::can_read_tenant(&p, ids[0])?;
        Ok(unit_msg(&self.unit(ids[0], ids[1]).await?))
    }

    async fn do_list_units(&self, req: Request<ListUnitsRequest>) -> ApiResult<ListUnitsResponse> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let ids = parse_name("parent", &r.parent, TENANT_PATTERN)?;
        domain::can_read_tenant(&p, ids[0])?;
        let unit_type = match r.r#type {
            0 => String::new(),
            n => domain::unit_type(n)
                .map_err(|e| ApiError::invalid("type", e))?
                .as_str_name()
                .to_string(),
        };
        let query = ["ListUnits", r.parent.as_str(), unit_type.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .list_units(ids[0], &unit_type, after.as_deref().unwrap_or(""), size + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |u| u.id.clone(), &query);
        Ok(ListUnitsResponse {
            units: rows.iter().map(unit_msg).collect(),
            next_page_token,
        })
    }

    async fn do_update_unit(&self, req: Request<UpdateUnitRequest>) -> ApiResult<Unit> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let u = r
            .unit
            .ok_or_else(|| ApiError::invalid("unit", "required"))?;
        let ids = parse_name("unit.name", &u.name, UNIT_PATTERN)?;
        domain::can_administer_tenant(&p, ids[0])?;
        let paths = update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &["display_name", "type", "organization_number"],
        )?;
        let mut record = self.unit(ids[0], ids[1]).await?;
        check_etag(&u.name, &u.etag, record.version)?;
        let mut v = Violations::new();
        for path in &paths {
            match path.as_str() {
                "display_name" => {
                    v.text("unit.display_name", &u.display_name, MAX_NAME);
                    record.display_name = u.display_name.trim().to_string();
                }
                "type" => {
                    if let Some(t) = v.check("unit.type", domain::unit_type(u.r#type)) {
                        record.unit_type = t.as_str_name().to_string();
                    }
                }
                "organization_number" => {
                    if !u.organization_number.is_empty() {
                        v.check(
                            "unit.organization_number",
                            validate_organization_number(&u.organization_number),
                        );
                    }
                    record.organization_number = u.organization_number.clone();
                }
                _ => unreachable!("update_paths checked the mask"),
            }
        }
        v.finish()?;
        record.update_time = bti_runtime::api::now();
        let ev = self.event(
            &u.name,
            ids[0],
            &UnitUpdated {
                unit: u.name.clone(),
                changed_fields: paths.clone(),
            },
        );
        let saved = self.store.update_unit(&record, ev).await?;
        self.committed(unit_msg(&saved))
    }

    fn member_event(&self, r: &MemberRecord, deleted: bool) -> OutboxEvent {
        let name = member_name(&r.tenant, &r.unit, &r.id);
        self.event(
            &name,
            &r.tenant,
            &MemberChanged {
                member: name.clone(),
                role: MemberRole::from_str_name(&r.role).map_or(0, |x| x as i32),
                absent: r.absent,
                deleted,
            },
        )
    }

    async fn do_create_member(&self, req: Request<CreateMemberRequest>) -> ApiResult<Member> {
        let p = principal(&req)?;
        let idem = idem(&req.get_ref().request_id, req.get_ref())?;
        let r = req.into_inner();
        let ids = parse_name("parent", &r.parent, UNIT_PATTERN)?;
        domain::can_manage_staff(&p, ids[0], ids[1])?;
        let m = r.member.unwrap_or_default();
        let mut v = Violations::new();
        v.text("member.subject", &m.subject, MAX_NAME);
        v.text("member.display_name", &m.display_name, MAX_NAME);
        let role = v.check("member.role", domain::member_role(m.role));
        v.finish()?;
        self.unit(ids[0], ids[1]).await?;
        let now = bti_runtime::api::now();
        let record = MemberRecord {
            tenant: ids[0].to_string(),
            unit: ids[1].to_string(),
            id: new_id(),
            subject: m.subject.trim().to_string(),
            display_name: m.display_name.trim().to_string(),
            role: role.expect("validated").as_str_name().to_string(),
            absent: m.absent,
            version: 1,
            create_time: now,
            update_time: now,
        };
        let ev = self.member_event(&record, false);
        let saved = self.store.create_member(&record, &idem, ev).await?;
        self.committed(member_msg(&saved))
    }

    async fn do_get_member(&self, req: Request<GetMemberRequest>) -> ApiResult<Member> {
        let p = principal(&req)?;
        let ids = parse_name("name", &req.get_ref().name, MEMBER_PATTERN)?;
        domain::can_work_in_tenant(&p, ids[0])?;
        let r = self
            .store
            .get_member(ids[0], ids[1], ids[2])
            .await?
            .ok_or_else(|| ApiError::NotFound(req.get_ref().name.clone()))?;
        Ok(member_msg(&r))
    }

    async fn do_list_members(
        &self,
        req: Request<ListMembersRequest>,
    ) -> ApiResult<ListMembersResponse> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let ids = parse_name("parent", &r.parent, UNIT_PATTERN)?;
        domain::can_work_in_tenant(&p, ids[0])?;
        let query = ["ListMembers", r.parent.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .list_members(ids[0], ids[1], after.as_deref().unwrap_or(""), size + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |m| m.id.clone(), &query);
        Ok(ListMembersResponse {
            members: rows.iter().map(member_msg).collect(),
            next_page_token,
        })
    }

    async fn do_update_member(&self, req: Request<UpdateMemberRequest>) -> ApiResult<Member> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let m = r
            .member
            .ok_or_else(|| ApiError::invalid("member", "required"))?;
        let ids = parse_name("member.name", &m.name, MEMBER_PATTERN)?;
        domain::can_manage_staff(&p, ids[0], ids[1])?;
        let paths = update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &["display_name", "role", "absent"],
        )?;
        let mut record = self
            .store
            .get_member(ids[0], ids[1], ids[2])
            .await?
            .ok_or_else(|| ApiError::NotFound(m.name.clone()))?;
        check_etag(&m.name, &m.etag, record.version)?;
        let mut v = Violations::new();
        for path in &paths {
            match path.as_str() {
                "display_name" => {
                    v.text("member.display_name", &m.display_name, MAX_NAME);
                    record.display_name = m.display_name.trim().to_string();
                }
                "role" => {
                    if let Some(role) = v.check("member.role", domain::member_role(m.role)) {
                        record.role = role.as_str_name().to_string();
                    }
                }
                "absent" => record.absent = m.absent,
                _ => unreachable!("update_paths checked the mask"),
            }
        }
        v.finish()?;
        record.update_time = bti_runtime::api::now();
        let ev = self.member_event(&record, false);
        let saved = self.store.update_member(&record, ev).await?;
        self.committed(member_msg(&saved))
    }

    async fn do_delete_member(&self, req: Request<DeleteMemberRequest>) -> ApiResult<()> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let ids = parse_name("name", &r.name, MEMBER_PATTERN)?;
        domain::can_manage_staff(&p, ids[0], ids[1])?;
        let record = self
            .store
            .get_member(ids[0], ids[1], ids[2])
            .await?
            .ok_or_else(|| ApiError::NotFound(r.name.clone()))?;
        check_etag(&r.name, &r.etag, record.version)?;
        let ev = self.member_event(&record, true);
        self.store.delete_member(&record, ev).await?;
        self.committed(())
    }

    fn person_event(&self, r: &PersonRecord, created: bool) -> OutboxEvent {
        let name = person_name(&r.tenant, &r.id);
        self.event(
            &name,
            &r.tenant,
            &PersonChanged {
                person: name.clone(),
                kind: PersonKind::from_str_name(&r.kind).map_or(0, |x| x as i32),
                created,
            },
        )
    }

    async fn do_create_person(&self, req: Request<CreatePersonRequest>) -> ApiResult<Person> {
        let p = principal(&req)?;
        let idem = idem(&req.get_ref().request_id, req.get_ref())?;
        let r = req.into_inner();
        let ids = parse_name("parent", &r.parent, TENANT_PATTERN)?;
        domain::can_work_in_tenant(&p, ids[0])?;
        let person = r.person.unwrap_or_default();
        let mut v = Violations::new();
        let kind = v.check("person.kind", domain::person_kind(person.kind));
        let national_id = v.check(
            "person.national_id",
            parse_national_id(person.national_id.trim()),
        );
        v.text("person.given_name", &person.given_name, MAX_NAME);
        v.text("person.family_name", &person.family_name, MAX_NAME);
        v.finish()?;
        let national_id = national_id.expect("validated");
        self.tenant(ids[0]).await?;
        let now = bti_runtime::api::now();
        let record = PersonRecord {
            tenant: ids[0].to_string(),
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

    async fn do_get_person(&self, req: Request<GetPersonRequest>) -> ApiResult<Person> {
        let p = principal(&req)?;
        let name = &req.get_ref().name;
        let ids = parse_name("name", name, PERSON_PATTERN)?;
        domain::can_read_person(&p, ids[0], name)?;
        Ok(person_msg(&self.person(ids[0], ids[1]).await?))
    }

    async fn do_list_persons(
        &self,
        req: Request<ListPersonsRequest>,
    ) -> ApiResult<ListPersonsResponse> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let ids = parse_name("parent", &r.parent, TENANT_PATTERN)?;
        domain::can_list_persons(&p, ids[0])?;
        let kind = match r.kind {
            0 => String::new(),
            n => domain::person_kind(n)
                .map_err(|e| ApiError::invalid("kind", e))?
                .as_str_name()
                .to_string(),
        };
        let query = ["ListPersons", r.parent.as_str(), kind.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .list_persons(ids[0], &kind, after.as_deref().unwrap_or(""), size + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |p| p.id.clone(), &query);
        Ok(ListPersonsResponse {
            persons: rows.iter().map(person_msg).collect(),
            next_page_token,
        })
    }

    async fn do_update_person(&self, req: Request<UpdatePersonRequest>) -> ApiResult<Person> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let person = r
            .person
            .ok_or_else(|| ApiError::invalid("person", "required"))?;
        let ids = parse_name("person.name", &person.name, PERSON_PATTERN)?;
        domain::can_administer_tenant(&p, ids[0])?;
        let paths = update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &["kind", "given_name", "family_name"],
        )?;
        let mut record = self.person(ids[0], ids[1]).await?;
        check_etag(&person.name, &person.etag, record.version)?;
        let mut v = Violations::new();
        for path in &paths {
            match path.as_str() {
                "kind" => {
                    if let Some(k) = v.check("person.kind", domain::person_kind(person.kind)) {
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
        record.update_time = bti_runtime::api::now();
        let ev = self.person_event(&record, false);
        let saved = self.store.update_person(&record, ev).await?;
        self.committed(person_msg(&saved))
    }

    async fn do_lookup_person(&self, req: Request<LookupPersonRequest>) -> ApiResult<Person> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let ids = parse_name("parent", &r.parent, TENANT_PATTERN)?;
        domain::can_work_in_tenant(&p, ids[0])?;
        let id = parse_national_id(r.national_id.trim())
            .map_err(|e| ApiError::invalid("national_id", e))?;
        let found = self.store.lookup_person(ids[0], id.expose()).await?;
        found.map(|r| person_msg(&r)).ok_or_else(|| {
            ApiError::NotFound(format!("{}/persons with this national id", r.parent))
        })
    }

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

    async fn do_create_guardianship(
        &self,
        req: Request<CreateGuardianshipRequest>,
    ) -> ApiResult<Guardianship> {
        let p = principal(&req)?;
        let idem = idem(&req.get_ref().request_id, req.get_ref())?;
        let r = req.into_inner();
        let ids = parse_name("parent", &r.parent, PERSON_PATTERN)?;
        let (tenant, child) = (ids[0], ids[1]);
        domain::can_work_in_tenant(&p, tenant)?;
        let g = r.guardianship.unwrap_or_default();
        let guardian_ids = parse_name("guardianship.guardian", &g.guardian, PERSON_PATTERN)?;
        if guardian_ids[0] != tenant {
            return Err(ApiError::invalid(
                "guardianship.guardian",
                "must be a person in the same tenant",
            ));
        }
        if guardian_ids[1] == child {
            return Err(ApiError::invalid(
                "guardianship.guardian",
                "a person cannot be their own guardian",
            ));
        }
        self.person(tenant, child).await?;
        let guardian = self.person(tenant, guardian_ids[1]).await?;
        if guardian.kind != PersonKind::Guardian.as_str_name() {
            return Err(ApiError::invalid(
                "guardianship.guardian",
                "must be a person of kind GUARDIAN",
            ));
        }
        let now = bti_runtime::api::now();
        let record = GuardianshipRecord {
            tenant: tenant.to_string(),
            person: child.to_string(),
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

    async fn guardianship(&self, name: &str, field: &str) -> ApiResult<GuardianshipRecord> {
        let ids = parse_name(field, name, GUARDIANSHIP_PATTERN)?;
        self.store
            .get_guardianship(ids[0], ids[1], ids[2])
            .await?
            .ok_or_else(|| ApiError::NotFound(name.to_string()))
    }

    async fn do_get_guardianship(
        &self,
        req: Request<GetGuardianshipRequest>,
    ) -> ApiResult<Guardianship> {
        let p = principal(&req)?;
        let name = &req.get_ref().name;
        let ids = parse_name("name", name, GUARDIANSHIP_PATTERN)?;
        domain::can_work_in_tenant(&p, ids[0])?;
        Ok(guardianship_msg(&self.guardianship(name, "name").await?))
    }

    async fn do_list_guardianships(
        &self,
        req: Request<ListGuardianshipsRequest>,
    ) -> ApiResult<ListGuardianshipsResponse> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let ids = parse_name("parent", &r.parent, PERSON_PATTERN)?;
        domain::can_work_in_tenant(&p, ids[0])?;
        let query = ["ListGuardianships", r.parent.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .list_guardianships(ids[0], ids[1], after.as_deref().unwrap_or(""), size + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |g| g.id.clone(), &query);
        Ok(ListGuardianshipsResponse {
            guardianships: rows.iter().map(guardianship_msg).collect(),
            next_page_token,
        })
    }

    async fn do_update_guardianship(
        &self,
        req: Request<UpdateGuardianshipRequest>,
    ) -> ApiResult<Guardianship> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let g = r
            .guardianship
            .ok_or_else(|| ApiError::invalid("guardianship", "required"))?;
        let ids = parse_name("guardianship.name", &g.name, GUARDIANSHIP_PATTERN)?;
        domain::can_administer_tenant(&p, ids[0])?;
        update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &["parental_responsibility"],
        )?;
        let mut record = self.guardianship(&g.name, "guardianship.name").await?;
        check_etag(&g.name, &g.etag, record.version)?;
        record.parental_responsibility = g.parental_responsibility;
        record.update_time = bti_runtime::api::now();
        let ev = self.guardianship_event(&record, false);
        let saved = self.store.update_guardianship(&record, ev).await?;
        self.committed(guardianship_msg(&saved))
    }

    async fn do_delete_guardianship(
        &self,
        req: Request<DeleteGuardianshipRequest>,
    ) -> ApiResult<()> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let ids = parse_name("name", &r.name, GUARDIANSHIP_PATTERN)?;
        domain::can_administer_tenant(&p, ids[0])?;
        let record = self.guardianship(&r.name, "name").await?;
        check_etag(&r.name, &r.etag, record.version)?;
        let ev = self.guardianship_event(&record, true);
        self.store.delete_guardianship(&record, ev).await?;
        self.committed(())
    }
}

#[tonic::async_trait]
impl DirectoryService for DirectoryApi {
    async fn create_tenant(
        &self,
        r: Request<CreateTenantRequest>,
    ) -> Result<Response<Tenant>, Status> {
        reply(self.do_create_tenant(r).await)
    }
    async fn get_tenant(&self, r: Request<GetTenantRequest>) -> Result<Response<Tenant>, Status> {
        reply(self.do_get_tenant(r).await)
    }
    async fn list_tenants(
        &self,
        r: Request<ListTenantsRequest>,
    ) -> Result<Response<ListTenantsResponse>, Status> {
        reply(self.do_list_tenants(r).await)
    }
    async fn update_tenant(
        &self,
        r: Request<UpdateTenantRequest>,
    ) -> Result<Response<Tenant>, Status> {
        reply(self.do_update_tenant(r).await)
    }
    async fn create_unit(&self, r: Request<CreateUnitRequest>) -> Result<Response<Unit>, Status> {
        reply(self.do_create_unit(r).await)
    }
    async fn get_unit(&self, r: Request<GetUnitRequest>) -> Result<Response<Unit>, Status> {
        reply(self.do_get_unit(r).await)
    }
    async fn list_units(
        &self,
        r: Request<ListUnitsRequest>,
    ) -> Result<Response<ListUnitsResponse>, Status> {
        reply(self.do_list_units(r).await)
    }
    async fn update_unit(&self, r: Request<UpdateUnitRequest>) -> Result<Response<Unit>, Status> {
        reply(self.do_update_unit(r).await)
    }
    async fn create_member(
        &self,
        r: Request<CreateMemberRequest>,
    ) -> Result<Response<Member>, Status> {
        reply(self.do_create_member(r).await)
    }
    async fn get_member(&self, r: Request<GetMemberRequest>) -> Result<Response<Member>, Status> {
        reply(self.do_get_member(r).await)
    }
    async fn list_members(
        &self,
        r: Request<ListMembersRequest>,
    ) -> Result<Response<ListMembersResponse>, Status> {
        reply(self.do_list_members(r).await)
    }
    async fn update_member(
        &self,
        r: Request<UpdateMemberRequest>,
    ) -> Result<Response<Member>, Status> {
        reply(self.do_update_member(r).await)
    }
    async fn delete_member(&self, r: Request<DeleteMemberRequest>) -> Result<Response<()>, Status> {
        reply(self.do_delete_member(r).await)
    }
    async fn create_person(
        &self,
        r: Request<CreatePersonRequest>,
    ) -> Result<Response<Person>, Status> {
        reply(self.do_create_person(r).await)
    }
    async fn get_person(&self, r: Request<GetPersonRequest>) -> Result<Response<Person>, Status> {
        reply(self.do_get_person(r).await)
    }
    async fn list_persons(
        &self,
        r: Request<ListPersonsRequest>,
    ) -> Result<Response<ListPersonsResponse>, Status> {
        reply(self.do_list_persons(r).await)
    }
    async fn update_person(
        &self,
        r: Request<UpdatePersonRequest>,
    ) -> Result<Response<Person>, Status> {
        reply(self.do_update_person(r).await)
    }
    async fn lookup_person(
        &self,
        r: Request<LookupPersonRequest>,
    ) -> Result<Response<Person>, Status> {
        reply(self.do_lookup_person(r).await)
    }
    async fn create_guardianship(
        &self,
        r: Request<CreateGuardianshipRequest>,
    ) -> Result<Response<Guardianship>, Status> {
        reply(self.do_create_guardianship(r).await)
    }
    async fn get_guardianship(
        &self,
        r: Request<GetGuardianshipRequest>,
    ) -> Result<Response<Guardianship>, Status> {
        reply(self.do_get_guardianship(r).await)
    }
    async fn list_guardianships(
        &self,
        r: Request<ListGuardianshipsRequest>,
    ) -> Result<Response<ListGuardianshipsResponse>, Status> {
        reply(self.do_list_guardianships(r).await)
    }
    async fn update_guardianship(
        &self,
        r: Request<UpdateGuardianshipRequest>,
    ) -> Result<Response<Guardianship>, Status> {
        reply(self.do_update_guardianship(r).await)
    }
    async fn delete_guardianship(
        &self,
        r: Request<DeleteGuardianshipRequest>,
    ) -> Result<Response<()>, Status> {
        reply(self.do_delete_guardianship(r).await)
    }
}
