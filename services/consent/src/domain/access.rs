//! Who may do what with consents: pure decisions from the principal and
//! the consent (the guardians with parental responsibility come from the
//! directory, resolved by the caller only when they can matter).

use bti_runtime::auth::{Principal, Role};
use bti_runtime::{ApiError, ApiResult};

use super::{ConsentView, GrantorRecord, RepresentationRecord};

fn denied() -> ApiError {
    ApiError::PermissionDenied("not allowed for this principal".into())
}

/// The person a guardian or youth principal signed in as.
pub fn signed_in_person(p: &Principal) -> Option<&str> {
    match p {
        Principal::Guardian { person, .. } | Principal::Youth { person, .. } => Some(person),
        _ => None,
    }
}

/// Whether an employee works in one of `units`.
pub fn works_in_any(p: &Principal, units: &[String]) -> bool {
    units.iter().any(|u| p.works_in(u))
}

/// Reading a consent: services; the municipal administrator; employees of a
/// covered unit; the subject; the subject's guardians with parental
/// responsibility (`guardians`, resolved only when needed).
pub fn can_read(p: &Principal, view: &ConsentView, guardians: &[String]) -> bool {
    let tenant = &view.consent.tenant;
    p.is_service()
        || p.is_tenant_role(tenant, Role::MunicipalAdmin)
        || (p.is_employee_of(tenant) && works_in_any(p, &view.units))
        || signed_in_person(p)
            .is_some_and(|me| me == view.consent.subject || guardians.iter().any(|g| g == me))
}

/// Changing units or validity, or withdrawing: as reading, but not services
/// and not the administrator (they do not act on behalf of families).
pub fn can_change(p: &Principal, view: &ConsentView, guardians: &[String]) -> bool {
    let tenant = &view.consent.tenant;
    (p.is_employee_of(tenant) && works_in_any(p, &view.units))
        || signed_in_person(p)
            .is_some_and(|me| me == view.consent.subject || guardians.iter().any(|g| g == me))
}

/// Asking CheckAccess: services and employees of the tenant.
pub fn can_check(p: &Principal, tenant: &str) -> ApiResult<()> {
    if p.is_service() || p.is_employee_of(tenant) {
        Ok(())
    } else {
        Err(denied())
    }
}

pub fn permission_denied() -> ApiError {
    denied()
}

/// Recording a consent: an employee of the tenant working in a unit it
/// covers, or a grantor signed in (a guardian for their child, a youth for
/// themself).
pub fn can_record(
    p: &Principal,
    tenant: &str,
    units: &[String],
    grantors: &[GrantorRecord],
) -> bool {
    let is_grantor = signed_in_person(p).is_some_and(|me| grantors.iter().any(|g| g.person == me));
    (p.is_employee_of(tenant) && works_in_any(p, units)) || is_grantor
}

/// Recording a representation: the guardian signed in, or an employee of the tenant.
pub fn can_record_representation(p: &Principal, tenant: &str, guardian: &str) -> bool {
    signed_in_person(p) == Some(guardian) || p.is_employee_of(tenant)
}

/// Seeing a representation: services, employees of the tenant, the guardian.
pub fn can_see_representation(p: &Principal, r: &RepresentationRecord) -> bool {
    p.is_service()
        || p.is_employee_of(&r.tenant)
        || signed_in_person(p) == Some(r.guardian.as_str())
}

/// Revoking one: whoever may see it, but not a service.
pub fn can_revoke_representation(p: &Principal, r: &RepresentationRecord) -> bool {
    !p.is_service() && can_see_representation(p, r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConsentRecord;
    use bti_runtime::auth::personas;

    const SCHOOL: &str = "tenants/4201/units/school";
    const PPT: &str = "tenants/4201/units/ppt";
    const CHILD: &str = "tenants/4201/persons/child";
    const MOTHER: &str = "tenants/4201/persons/mother";

    fn principal(claims: bti_runtime::auth::Claims) -> Principal {
        let c = claims;
        match c.bti_principal.as_deref() {
            Some("employee") => Principal::Employee {
                subject: c.sub,
                tenant: c.tenant.unwrap(),
                units: c.units,
                roles: c.roles,
            },
            Some("guardian") => Principal::Guardian {
                subject: c.sub,
                tenant: c.tenant.unwrap(),
                person: c.person.unwrap(),
            },
            Some("youth") => Principal::Youth {
                subject: c.sub,
                tenant: c.tenant.unwrap(),
                person: c.person.unwrap(),
            },
            _ => Principal::Service {
                name: c.sub,
                scopes: vec![],
            },
        }
    }

    fn view(units: &[&str]) -> ConsentView {
        let t = chrono::Utc::now();
        ConsentView {
            consent: ConsentRecord {
                tenant: "4201".into(),
                id: "c".into(),
                subject: CHILD.into(),
                purpose: "CONSENT_PURPOSE_RELAY_LOG_COLLABORATION".into(),
                grantors: "[]".into(),
                state: "CONSENT_STATE_ACTIVE".into(),
                revision: 1,
                valid_from: t,
                valid_until: None,
                withdraw_time: None,
                withdraw_reason: String::new(),
                version: 1,
                create_time: t,
                update_time: t,
            },
            units: units.iter().map(|u| u.to_string()).collect(),
        }
    }

    #[test]
    fn staff_of_covered_units_and_the_family_read_and_change_strangers_do_not() {
        let v = view(&[SCHOOL]);
        let teacher = principal(personas::employee(
            "t",
            "4201",
            &[SCHOOL],
            &[Role::Employee],
        ));
        let ppt = principal(personas::employee("p", "4201", &[PPT], &[Role::Employee]));
        let admin = principal(personas::employee(
            "a",
            "4201",
            &[],
            &[Role::MunicipalAdmin],
        ));
        let mother = principal(personas::guardian("m", "4201", MOTHER));
        let youth = principal(personas::youth("y", "4201", CHILD));
        let service = principal(personas::service("caselog", ""));
        let guardians = [MOTHER.to_string()];
        assert!(can_read(&teacher, &v, &[]) && can_change(&teacher, &v, &[]));
        assert!(!can_read(&ppt, &v, &[]) && !can_change(&ppt, &v, &[]));
        assert!(can_read(&admin, &v, &[]) && !can_change(&admin, &v, &[]));
        assert!(can_read(&service, &v, &[]) && !can_change(&service, &v, &[]));
        assert!(can_read(&mother, &v, &guardians) && can_change(&mother, &v, &guardians));
        assert!(
            !can_read(&mother, &v, &[]),
            "not her child without the directory saying so"
        );
        assert!(can_read(&youth, &v, &[]) && can_change(&youth, &v, &[]));
    }

    #[test]
    fn a_consent_is_recorded_by_covered_staff_or_a_grantor_signed_in() {
        let grantors = [GrantorRecord {
            person: MOTHER.into(),
            role: "GRANTOR_ROLE_GUARDIAN".into(),
        }];
        let units = [SCHOOL.to_string()];
        let teacher = principal(personas::employee(
            "t",
            "4201",
            &[SCHOOL],
            &[Role::Employee],
        ));
        let other_tenant = principal(personas::employee(
            "t",
            "4202",
            &[SCHOOL],
            &[Role::Employee],
        ));
        let ppt = principal(personas::employee("p", "4201", &[PPT], &[Role::Employee]));
        let mother = principal(personas::guardian("m", "4201", MOTHER));
        let stranger = principal(personas::guardian("s", "4201", "tenants/4201/persons/s"));
        assert!(can_record(&teacher, "4201", &units, &grantors));
        assert!(!can_record(&other_tenant, "4201", &units, &grantors));
        assert!(!can_record(&ppt, "4201", &units, &grantors));
        assert!(can_record(&mother, "4201", &units, &grantors));
        assert!(!can_record(&stranger, "4201", &units, &grantors));
    }

    #[test]
    fn representations_are_seen_by_staff_and_the_guardian_and_never_revoked_by_services() {
        let t = chrono::Utc::now();
        let r = RepresentationRecord {
            tenant: "4201".into(),
            id: "r".into(),
            guardian: MOTHER.into(),
            subject: CHILD.into(),
            representative: "nurse".into(),
            representative_unit: SCHOOL.into(),
            method: "oral".into(),
            method_reference: String::new(),
            valid_until: None,
            revoked: false,
            version: 1,
            create_time: t,
            update_time: t,
        };
        let mother = principal(personas::guardian("m", "4201", MOTHER));
        let stranger = principal(personas::guardian("s", "4201", "tenants/4201/persons/s"));
        let service = principal(personas::service("scheduling", ""));
        assert!(can_see_representation(&mother, &r) && can_revoke_representation(&mother, &r));
        assert!(!can_see_representation(&stranger, &r));
        assert!(can_see_representation(&service, &r) && !can_revoke_representation(&service, &r));
        assert!(can_record_representation(&mother, "4201", MOTHER));
        assert!(!can_record_representation(&stranger, "4201", MOTHER));
    }
}
