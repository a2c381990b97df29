//! Staff lists of units, kept by their leaders.

use bti_proto::directory::*;
use bti_runtime::api::{PageToken, check_etag, enum_of, new_id, page_size, paginate, update_paths};
use bti_runtime::auth::Principal;
use bti_runtime::db::Idem;
use bti_runtime::events::OutboxEvent;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::App;
use crate::api::convert::member_msg;
use crate::domain::access::{can_manage_staff, can_work_in_tenant};
use crate::domain::*;

impl App {
    fn member_event(&self, r: &MemberRecord, deleted: bool) -> OutboxEvent {
        let name = member_name(&r.tenant, &r.unit, &r.id);
        self.event(
            &name,
            &r.tenant,
            &MemberChanged {
                member: name.clone(),
                role: enum_of(MemberRole::from_str_name, &r.role),
                absent: r.absent,
                deleted,
            },
        )
    }

    async fn member(&self, n: &MemberName) -> ApiResult<MemberRecord> {
        self.store
            .get_member(&n.tenant, &n.unit, &n.member)
            .await?
            .ok_or_else(|| ApiError::NotFound(n.to_string()))
    }

    pub async fn create_member(&self, p: &Principal, r: CreateMemberRequest) -> ApiResult<Member> {
        let idem = Idem::of(&r.request_id, &r)?;
        let unit = UnitName::parse("parent", &r.parent)?;
        can_manage_staff(p, &unit.tenant, &unit.unit)?;
        let m = r.member.unwrap_or_default();
        let mut v = Violations::new();
        v.text("member.subject", &m.subject, MAX_NAME);
        v.text("member.display_name", &m.display_name, MAX_NAME);
        let role = v.check("member.role", member_role(m.role));
        v.finish()?;
        self.unit(&unit).await?;
        let now = self.now();
        let record = MemberRecord {
            tenant: unit.tenant.clone(),
            unit: unit.unit.clone(),
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

    pub async fn get_member(&self, p: &Principal, r: GetMemberRequest) -> ApiResult<Member> {
        let n = MemberName::parse("name", &r.name)?;
        can_work_in_tenant(p, &n.tenant)?;
        Ok(member_msg(&self.member(&n).await?))
    }

    pub async fn list_members(
        &self,
        p: &Principal,
        r: ListMembersRequest,
    ) -> ApiResult<ListMembersResponse> {
        let unit = UnitName::parse("parent", &r.parent)?;
        can_work_in_tenant(p, &unit.tenant)?;
        let query = ["ListMembers", r.parent.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .list_members(
                &unit.tenant,
                &unit.unit,
                after.as_deref().unwrap_or(""),
                size + 1,
            )
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |m| m.id.clone(), &query);
        Ok(ListMembersResponse {
            members: rows.iter().map(member_msg).collect(),
            next_page_token,
        })
    }

    pub async fn update_member(&self, p: &Principal, r: UpdateMemberRequest) -> ApiResult<Member> {
        let m = r
            .member
            .ok_or_else(|| ApiError::invalid("member", "required"))?;
        let n = MemberName::parse("member.name", &m.name)?;
        can_manage_staff(p, &n.tenant, &n.unit)?;
        let paths = update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &["display_name", "role", "absent"],
        )?;
        let mut record = self.member(&n).await?;
        check_etag(&m.name, &m.etag, record.version)?;
        let mut v = Violations::new();
        for path in &paths {
            match path.as_str() {
                "display_name" => {
                    v.text("member.display_name", &m.display_name, MAX_NAME);
                    record.display_name = m.display_name.trim().to_string();
                }
                "role" => {
                    if let Some(role) = v.check("member.role", member_role(m.role)) {
                        record.role = role.as_str_name().to_string();
                    }
                }
                "absent" => record.absent = m.absent,
                _ => unreachable!("update_paths checked the mask"),
            }
        }
        v.finish()?;
        record.update_time = self.now();
        let ev = self.member_event(&record, false);
        let saved = self.store.update_member(&record, ev).await?;
        self.committed(member_msg(&saved))
    }

    pub async fn delete_member(&self, p: &Principal, r: DeleteMemberRequest) -> ApiResult<()> {
        let n = MemberName::parse("name", &r.name)?;
        can_manage_staff(p, &n.tenant, &n.unit)?;
        let record = self.member(&n).await?;
        check_etag(&r.name, &r.etag, record.version)?;
        let ev = self.member_event(&record, true);
        self.store.delete_member(&record, ev).await?;
        self.committed(())
    }
}
