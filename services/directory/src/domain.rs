//! Directory domain: the stored records, their validation, and who may do what.

use bti_proto::directory::{MemberRole, PersonKind, UnitType};
use bti_runtime::auth::{Principal, Role, SCOPE_ADMIN};
use bti_runtime::{ApiError, ApiResult};
use chrono::{DateTime, NaiveDate, Utc};

/// Event source of the directory.
pub const SOURCE: &str = "//bti.no/directory";

pub const DEFAULT_YOUTH_CONSENT_AGE: i32 = 15;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TenantRecord {
    pub id: String,
    pub display_name: String,
    pub youth_consent_age: i32,
    pub require_all_guardians_consent: bool,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UnitRecord {
    pub tenant: String,
    pub id: String,
    pub display_name: String,
    pub unit_type: String,
    pub organization_number: String,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MemberRecord {
    pub tenant: String,
    pub unit: String,
    pub id: String,
    pub subject: String,
    pub display_name: String,
    pub role: String,
    pub absent: bool,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// A person. `Debug` leaves out the national id and names.
#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct PersonRecord {
    pub tenant: String,
    pub id: String,
    pub kind: String,
    pub national_id: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl std::fmt::Debug for PersonRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonRecord")
            .field("tenant", &self.tenant)
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GuardianshipRecord {
    pub tenant: String,
    pub person: String,
    pub id: String,
    pub guardian: String,
    pub parental_responsibility: bool,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

// Resource names.

pub fn tenant_name(id: &str) -> String {
    format!("tenants/{id}")
}
pub fn unit_name(tenant: &str, id: &str) -> String {
    format!("tenants/{tenant}/units/{id}")
}
pub fn member_name(tenant: &str, unit: &str, id: &str) -> String {
    format!("tenants/{tenant}/units/{unit}/members/{id}")
}
pub fn person_name(tenant: &str, id: &str) -> String {
    format!("tenants/{tenant}/persons/{id}")
}
pub fn guardianship_name(tenant: &str, person: &str, id: &str) -> String {
    format!("tenants/{tenant}/persons/{person}/guardianships/{id}")
}

pub const TENANT_PATTERN: &str = "tenants/{tenant}";
pub const UNIT_PATTERN: &str = "tenants/{tenant}/units/{unit}";
pub const MEMBER_PATTERN: &str = "tenants/{tenant}/units/{unit}/members/{member}";
pub const PERSON_PATTERN: &str = "tenants/{tenant}/persons/{person}";
pub const GUARDIANSHIP_PATTERN: &str =
    "tenants/{tenant}/persons/{person}/guardianships/{guardianship}";

// Enum validation: stored by name, `UNSPECIFIED` and unknown numbers refused.

pub fn unit_type(value: i32) -> Result<UnitType, String> {
    match UnitType::try_from(value) {
        Ok(UnitType::Unspecified) => Err("required".into()),
        Ok(t) => Ok(t),
        Err(_) => Err("unknown unit type".into()),
    }
}

pub fn member_role(value: i32) -> Result<MemberRole, String> {
    match MemberRole::try_from(value) {
        Ok(MemberRole::Unspecified) => Err("required".into()),
        Ok(r) => Ok(r),
        Err(_) => Err("unknown role".into()),
    }
}

pub fn person_kind(value: i32) -> Result<PersonKind, String> {
    match PersonKind::try_from(value) {
        Ok(PersonKind::Unspecified) => Err("required".into()),
        Ok(k) => Ok(k),
        Err(_) => Err("unknown person kind".into()),
    }
}

pub fn youth_consent_age(value: i32) -> Result<i32, String> {
    if (12..=18).contains(&value) {
        Ok(value)
    } else {
        Err("must be between 12 and 18".into())
    }
}

/// Display names and person names: required, at most 200 characters.
pub const MAX_NAME: usize = 200;

// Authorization. Reads of another tenant's data and writes without the role
// are PERMISSION_DENIED; directory data is reference data, not case data, so
// its existence is not secret (the relay log hides existence instead).

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
    let leads = p.is_tenant_role(tenant, Role::UnitLeader) && p.works_in(&unit_name(tenant, unit));
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

    #[test]
    fn enums_refuse_unspecified_and_unknown() {
        assert!(unit_type(0).is_err());
        assert!(unit_type(999).is_err());
        assert_eq!(unit_type(2).unwrap(), UnitType::School);
        assert!(member_role(0).is_err());
        assert!(person_kind(42).is_err());
    }

    #[test]
    fn person_debug_hides_identity() {
        let p = PersonRecord {
            tenant: "4201".into(),
            id: "p1".into(),
            kind: "PERSON_KIND_CHILD".into(),
            national_id: "01010750160".into(),
            given_name: "Kari".into(),
            family_name: "Nordmann".into(),
            birth_date: NaiveDate::from_ymd_opt(2007, 1, 1).unwrap(),
            version: 1,
            create_time: Utc::now(),
            update_time: Utc::now(),
        };
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("01010750160")
                && !shown.contains("Kari")
                && !shown.contains("Nordmann")
        );
    }
}
