//! Who may do what in the directory. Reads of another tenant's data and
//! writes without the role are PERMISSION_DENIED; directory data is
//! reference data, not case data, so its existence is not secret (the relay
//! log hides existence instead).

use bti_runtime::auth::{Principal, Role, SCOPE_ADMIN};
use bti_runtime::{ApiError, ApiResult};

use super::UnitName;

fn denied() -> ApiError {
    ApiError::PermissionDenied("not allowed for this principal".into())
}

fn is_admin_service(p: &Principal) -> bool {
    p.is_service() && p.has_scope(SCOPE_ADMIN)
}

/// Creating tenants and listing all of them: operators.
pub fn can_administer_platform(p: &Principal) -> ApiResult<()> {
    if is_admin_service(p) {
        Ok(())
    } else {
        Err(denied())
    }
}

/// Changing a tenant, its units, persons and guardianships' responsibility.
pub fn can_administer_tenant(p: &Principal, tenant: &str) -> ApiResult<()> {
    if is_admin_service(p) || p.is_tenant_role(tenant, Role::MunicipalAdmin) {
        Ok(())
    } else {
        Err(denied())
    }
}

/// Reading a tenant and its units: anyone of that tenant, and services.
pub fn can_read_tenant(p: &Principal, tenant: &str) -> ApiResult<()> {
    if p.is_service() || p.tenant() == Some(tenant) {
        Ok(())
    } else {
        Err(denied())
    }
}

/// Maintaining a unit's staff list: its leader, the municipal administrator.
pub fn can_manage_staff(p: &Principal, tenant: &str, unit: &str) -> ApiResult<()> {
    let leads = p.is_tenant_role(tenant, Role::UnitLeader)
        && p.works_in(&UnitName::new(tenant, unit).to_string());
    if leads || is_admin_service(p) || p.is_tenant_role(tenant, Role::MunicipalAdmin) {
        Ok(())
    } else {
        Err(denied())
    }
}

/// Reading staff lists, registering and looking up persons and recording
/// guardianships: employees of the tenant and services.
pub fn can_work_in_tenant(p: &Principal, tenant: &str) -> ApiResult<()> {
    if p.is_service() || p.is_employee_of(tenant) {
        Ok(())
    } else {
        Err(denied())
    }
}

/// Reading one person: employees of the tenant, services, and the person
/// themselves (a guardian or youth signed in).
pub fn can_read_person(p: &Principal, tenant: &str, person_name: &str) -> ApiResult<()> {
    let is_self = matches!(p, Principal::Guardian { person, .. } | Principal::Youth { person, .. } if person == person_name);
    if is_self || p.is_service() || p.is_employee_of(tenant) {
        Ok(())
    } else {
        Err(denied())
    }
}

/// Listing a tenant's persons: the municipal administrator and services.
pub fn can_list_persons(p: &Principal, tenant: &str) -> ApiResult<()> {
    if p.is_service() || p.is_tenant_role(tenant, Role::MunicipalAdmin) {
        Ok(())
    } else {
        Err(denied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn employee(roles: &[Role], units: &[&str]) -> Principal {
        Principal::Employee {
            subject: "e".into(),
            tenant: "4201".into(),
            units: units.iter().map(|u| u.to_string()).collect(),
            roles: roles.to_vec(),
        }
    }

    #[test]
    fn staff_is_managed_by_the_units_own_leader_or_admins() {
        let leader = employee(&[Role::UnitLeader], &["tenants/4201/units/school"]);
        assert!(can_manage_staff(&leader, "4201", "school").is_ok());
        assert!(can_manage_staff(&leader, "4201", "kindergarten").is_err());
        assert!(can_manage_staff(&leader, "4202", "school").is_err());
        let admin = employee(&[Role::MunicipalAdmin], &[]);
        assert!(can_manage_staff(&admin, "4201", "kindergarten").is_ok());
        let teacher = employee(&[Role::Employee], &["tenants/4201/units/school"]);
        assert!(can_manage_staff(&teacher, "4201", "school").is_err());
    }
}
