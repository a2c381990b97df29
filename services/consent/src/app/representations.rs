//! Representations: a guardian's consent that a professional represents
//! them in meetings.

use bti_proto::consent::*;
use bti_runtime::api::{
    PageToken, check_etag, check_optional_timestamp, new_id, page_size, paginate,
};
use bti_runtime::auth::Principal;
use bti_runtime::db::Idem;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::App;
use crate::api::convert::representation_msg;
use crate::domain::access::{
    can_record_representation, can_revoke_representation, can_see_representation, permission_denied,
};
use crate::domain::input::{method_of, same_tenant_person, units_of};
use crate::domain::*;

impl App {
    async fn representation(&self, p: &Principal, name: &str) -> ApiResult<RepresentationRecord> {
        let n = RepresentationName::parse("name", name)?;
        match self
            .store
            .get_representation(&n.tenant, &n.representation)
            .await?
        {
            Some(r) if can_see_representation(p, &r) => Ok(r),
            _ => Err(ApiError::NotFound(name.to_string())),
        }
    }

    pub async fn create_representation(
        &self,
        p: &Principal,
        r: CreateRepresentationRequest,
    ) -> ApiResult<Representation> {
        let idem = Idem::of(&r.request_id, &r)?;
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        let rep = r
            .representation
            .ok_or_else(|| ApiError::invalid("representation", "required"))?;
        same_tenant_person("representation.guardian", &tenant, &rep.guardian)?;
        same_tenant_person("representation.subject", &tenant, &rep.subject)?;
        let mut v = Violations::new();
        v.text("representation.representative", &rep.representative, 200);
        let unit = units_of(
            "representation.representative_unit",
            &tenant,
            std::slice::from_ref(&rep.representative_unit),
            &mut v,
        );
        let method = method_of("representation.method", rep.method.as_ref(), p, &mut v);
        let at = self.now();
        let valid_until = v
            .check(
                "representation.valid_until",
                check_optional_timestamp(rep.valid_until.as_ref()),
            )
            .flatten();
        if valid_until.is_some_and(|u| u <= at) {
            v.add("representation.valid_until", "must be in the future");
        }
        v.finish()?;
        if !can_record_representation(p, &tenant, &rep.guardian) {
            return Err(permission_denied());
        }
        if !self
            .directory
            .guardians(&rep.subject)
            .await?
            .contains(&rep.guardian)
        {
            return Err(ApiError::invalid(
                "representation.guardian",
                "is not a guardian with parental responsibility for the subject",
            ));
        }
        if !self.directory.unit_exists(&unit[0]).await? {
            return Err(ApiError::invalid(
                "representation.representative_unit",
                "unknown unit",
            ));
        }
        let (method, method_reference) = method.expect("validated");
        let record = RepresentationRecord {
            tenant: tenant.clone(),
            id: new_id(),
            guardian: rep.guardian.clone(),
            subject: rep.subject.clone(),
            representative: rep.representative.trim().to_string(),
            representative_unit: unit[0].clone(),
            method,
            method_reference,
            valid_until,
            revoked: false,
            version: 1,
            create_time: at,
            update_time: at,
        };
        let name = representation_name(&tenant, &record.id);
        let ev = self.event(
            &name,
            &tenant,
            &RepresentationGranted {
                representation: name.clone(),
                subject: record.subject.clone(),
                representative_unit: record.representative_unit.clone(),
                guardian: record.guardian.clone(),
                representative: record.representative.clone(),
            },
        );
        let saved = self.store.create_representation(&record, &idem, ev).await?;
        self.committed(representation_msg(&saved))
    }

    pub async fn get_representation(
        &self,
        p: &Principal,
        r: GetRepresentationRequest,
    ) -> ApiResult<Representation> {
        Ok(representation_msg(&self.representation(p, &r.name).await?))
    }

    pub async fn list_representations(
        &self,
        p: &Principal,
        r: ListRepresentationsRequest,
    ) -> ApiResult<ListRepresentationsResponse> {
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        if !(p.is_service() || p.tenant() == Some(&tenant)) {
            return Err(permission_denied());
        }
        let query = ["ListRepresentations", r.parent.as_str(), r.subject.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .list_representations(
                &tenant,
                &r.subject,
                after.as_deref().unwrap_or(""),
                size + 1,
            )
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |r| r.id.clone(), &query);
        Ok(ListRepresentationsResponse {
            representations: rows
                .iter()
                .filter(|r| can_see_representation(p, r))
                .map(representation_msg)
                .collect(),
            next_page_token,
        })
    }

    pub async fn revoke_representation(
        &self,
        p: &Principal,
        r: RevokeRepresentationRequest,
    ) -> ApiResult<Representation> {
        let mut record = self.representation(p, &r.name).await?;
        if !can_revoke_representation(p, &record) {
            return Err(permission_denied());
        }
        check_etag(&r.name, &r.etag, record.version)?;
        if record.revoked {
            return Err(ApiError::precondition(
                "ALREADY_REVOKED",
                &r.name,
                "the representation is already revoked",
            ));
        }
        record.revoked = true;
        record.update_time = self.now();
        let ev = self.event(
            &r.name,
            &record.tenant,
            &RepresentationRevoked {
                representation: r.name.clone(),
                subject: record.subject.clone(),
            },
        );
        let saved = self.store.update_representation(&record, ev).await?;
        self.committed(representation_msg(&saved))
    }
}
