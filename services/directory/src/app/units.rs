//! Units (kindergartens, schools, health clinics, PPT, child welfare, ...).

use bti_proto::directory::*;
use bti_runtime::api::{
    PageToken, check_etag, new_id, page_size, paginate, update_paths, validate_resource_id,
};
use bti_runtime::auth::Principal;
use bti_runtime::db::Idem;
use bti_runtime::ids::validate_organization_number;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::App;
use crate::api::convert::unit_msg;
use crate::domain::access::{can_administer_tenant, can_read_tenant};
use crate::domain::*;

impl App {
    pub async fn create_unit(&self, p: &Principal, r: CreateUnitRequest) -> ApiResult<Unit> {
        let idem = Idem::of(&r.request_id, &r)?;
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        can_administer_tenant(p, &tenant)?;
        let u = r.unit.unwrap_or_default();
        let mut v = Violations::new();
        v.text("unit.display_name", &u.display_name, MAX_NAME);
        let unit_type = v.check("unit.type", unit_type(u.r#type));
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
        self.tenant(&tenant).await?;
        let now = self.now();
        let record = UnitRecord {
            tenant: tenant.clone(),
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
        let name = unit_name(&tenant, &record.id);
        let ev = self.event(
            &name,
            &tenant,
            &UnitCreated {
                unit: name.clone(),
                r#type: u.r#type,
            },
        );
        let saved = self.store.create_unit(&record, &idem, ev).await?;
        self.committed(unit_msg(&saved))
    }

    pub async fn get_unit(&self, p: &Principal, r: GetUnitRequest) -> ApiResult<Unit> {
        let n = UnitName::parse("name", &r.name)?;
        can_read_tenant(p, &n.tenant)?;
        Ok(unit_msg(&self.unit(&n).await?))
    }

    pub async fn list_units(
        &self,
        p: &Principal,
        r: ListUnitsRequest,
    ) -> ApiResult<ListUnitsResponse> {
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        can_read_tenant(p, &tenant)?;
        let unit_type = match r.r#type {
            0 => String::new(),
            n => unit_type(n)
                .map_err(|e| ApiError::invalid("type", e))?
                .as_str_name()
                .to_string(),
        };
        let query = ["ListUnits", r.parent.as_str(), unit_type.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .list_units(
                &tenant,
                &unit_type,
                after.as_deref().unwrap_or(""),
                size + 1,
            )
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |u| u.id.clone(), &query);
        Ok(ListUnitsResponse {
            units: rows.iter().map(unit_msg).collect(),
            next_page_token,
        })
    }

    pub async fn update_unit(&self, p: &Principal, r: UpdateUnitRequest) -> ApiResult<Unit> {
        let u = r
            .unit
            .ok_or_else(|| ApiError::invalid("unit", "required"))?;
        let n = UnitName::parse("unit.name", &u.name)?;
        can_administer_tenant(p, &n.tenant)?;
        let paths = update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &["display_name", "type", "organization_number"],
        )?;
        let mut record = self.unit(&n).await?;
        check_etag(&u.name, &u.etag, record.version)?;
        let mut v = Violations::new();
        for path in &paths {
            match path.as_str() {
                "display_name" => {
                    v.text("unit.display_name", &u.display_name, MAX_NAME);
                    record.display_name = u.display_name.trim().to_string();
                }
                "type" => {
                    if let Some(t) = v.check("unit.type", unit_type(u.r#type)) {
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
        record.update_time = self.now();
        let ev = self.event(
            &u.name,
            &n.tenant,
            &UnitUpdated {
                unit: u.name.clone(),
                changed_fields: paths.clone(),
            },
        );
        let saved = self.store.update_unit(&record, ev).await?;
        self.committed(unit_msg(&saved))
    }
}
