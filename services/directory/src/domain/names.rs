//! The directory's resource names.

bti_runtime::resource_name!(
    /// `tenants/{tenant}`: a municipality, by kommunenummer.
    pub struct TenantName = "tenants/{tenant}" { tenant }
);
bti_runtime::resource_name!(
    /// A unit of a municipality.
    pub struct UnitName = "tenants/{tenant}/units/{unit}" { tenant, unit }
);
bti_runtime::resource_name!(
    /// A staff member of a unit.
    pub struct MemberName = "tenants/{tenant}/units/{unit}/members/{member}" { tenant, unit, member }
);
bti_runtime::resource_name!(
    /// A person (child, youth, guardian, pregnant woman).
    pub struct PersonName = "tenants/{tenant}/persons/{person}" { tenant, person }
);
bti_runtime::resource_name!(
    /// A guardianship of a person.
    pub struct GuardianshipName =
        "tenants/{tenant}/persons/{person}/guardianships/{guardianship}"
        { tenant, person, guardianship }
);

pub fn tenant_name(id: &str) -> String {
    TenantName::new(id).to_string()
}
pub fn unit_name(tenant: &str, id: &str) -> String {
    UnitName::new(tenant, id).to_string()
}
pub fn member_name(tenant: &str, unit: &str, id: &str) -> String {
    MemberName::new(tenant, unit, id).to_string()
}
pub fn person_name(tenant: &str, id: &str) -> String {
    PersonName::new(tenant, id).to_string()
}
pub fn guardianship_name(tenant: &str, person: &str, id: &str) -> String {
    GuardianshipName::new(tenant, person, id).to_string()
}
