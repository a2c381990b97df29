//! The gateway's resource names, and the names of other services' resources
//! it reads (municipalities, units).

bti_runtime::resource_name!(
    /// A registered external system.
    pub struct ClientName = "clients/{client}" { client }
);
bti_runtime::resource_name!(
    /// A referral received by the gateway.
    pub struct ReferralName = "referrals/{referral}" { referral }
);
bti_runtime::resource_name!(
    /// A municipality, by kommunenummer.
    pub struct TenantName = "tenants/{tenant}" { tenant }
);
bti_runtime::resource_name!(
    /// A unit of a municipality (the directory's).
    pub struct UnitName = "tenants/{tenant}/units/{unit}" { tenant, unit }
);

pub fn client_name(id: &str) -> String {
    ClientName::new(id).to_string()
}

pub fn referral_name(id: &str) -> String {
    ReferralName::new(id).to_string()
}

/// The kommunenummer of a stored unit name, empty if it is not one.
pub fn unit_tenant(unit: &str) -> String {
    UnitName::parse("unit", unit)
        .map(|u| u.tenant)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_render_and_units_know_their_municipality() {
        assert_eq!(client_name("cw"), "clients/cw");
        assert_eq!(referral_name("r1"), "referrals/r1");
        assert_eq!(unit_tenant("tenants/4201/units/barnevern"), "4201");
        assert_eq!(unit_tenant("units/x"), "");
    }
}
