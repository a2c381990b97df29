//! Municipalities (tenants).

use bti_proto::directory::*;
use bti_runtime::api::{PageToken, check_etag, page_size, paginate, update_paths};
use bti_runtime::auth::Principal;
use bti_runtime::db::Idem;
use bti_runtime::ids::validate_municipality_number;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::App;
use crate::api::convert::tenant_msg;
use crate::domain::access::{can_administer_platform, can_administer_tenant, can_read_tenant};
use crate::domain::*;

impl App {
    pub async fn create_tenant(&self, p: &Principal, r: CreateTenantRequest) -> ApiResult<Tenant> {
        can_administer_platform(p)?;
        let idem = Idem::of(&r.request_id, &r)?;
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
        let now = self.now();
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

    pub async fn get_tenant(&self, p: &Principal, r: GetTenantRequest) -> ApiResult<Tenant> {
        let n = TenantName::parse("name", &r.name)?;
        can_read_tenant(p, &n.tenant)?;
        Ok(tenant_msg(&self.tenant(&n.tenant).await?))
    }

    pub async fn list_tenants(
        &self,
        p: &Principal,
        r: ListTenantsRequest,
    ) -> ApiResult<ListTenantsResponse> {
        can_administer_platform(p)?;
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

    pub async fn update_tenant(&self, p: &Principal, r: UpdateTenantRequest) -> ApiResult<Tenant> {
        let t = r
            .tenant
            .ok_or_else(|| ApiError::invalid("tenant", "required"))?;
        let n = TenantName::parse("tenant.name", &t.name)?;
        can_administer_tenant(p, &n.tenant)?;
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
        let mut record = self.tenant(&n.tenant).await?;
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
        record.update_time = self.now();
        let ev = self.event(
            &t.name,
            &n.tenant,
            &TenantUpdated {
                tenant: t.name.clone(),
                changed_fields: paths.clone(),
            },
        );
        let saved = self.store.update_tenant(&record, ev).await?;
        self.committed(tenant_msg(&saved))
    }
}
