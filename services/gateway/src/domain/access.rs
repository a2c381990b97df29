//! Who may do what at the gateway: the client registry's administrators,
//! registered clients (checked against their registration), and the
//! municipality's employees reading referrals in intake, assigned to their
//! unit or attached to a relay log they hold or lead.

use bti_proto::gateway::Placement;
use bti_runtime::auth::{Principal, Role, SCOPE_ADMIN};
use bti_runtime::peers::caselog::ActiveLog;
use bti_runtime::{ApiError, ApiResult};

use super::{ClientRecord, ReferralRecord, UnitName};

/// The operator (an internal principal with the admin scope).
pub fn is_operator(p: &Principal) -> bool {
    p.is_service() && p.has_scope(SCOPE_ADMIN)
}

/// Who may administer client registrations: the operator, or a municipal
/// administrator for a client that acts for their municipality only.
pub fn may_administer(p: &Principal, c: &ClientRecord) -> bool {
    if is_operator(p) {
        return true;
    }
    match p.tenant() {
        Some(t) if p.has_role(Role::MunicipalAdmin) => {
            c.tenant_list() == [t] && c.unit_tenant() == t
        }
        _ => false,
    }
}

/// Who may read a registration: the operator, or a municipal administrator
/// of a municipality it acts for.
pub fn may_see_client(p: &Principal, c: &ClientRecord) -> bool {
    is_operator(p)
        || p.tenant()
            .is_some_and(|t| p.has_role(Role::MunicipalAdmin) && c.acts_for(t))
}

/// The municipality whose clients `p` lists when asking for `requested`
/// (empty: all, for the operator; their own, for an administrator).
pub fn clients_listed_for(p: &Principal, requested: &str) -> ApiResult<String> {
    if is_operator(p) {
        return Ok(requested.to_string());
    }
    match p.tenant() {
        Some(t) if p.has_role(Role::MunicipalAdmin) && (requested.is_empty() || requested == t) => {
            Ok(t.to_string())
        }
        _ => Err(ApiError::PermissionDenied(
            "clients are listed by the operator or a municipal administrator of the municipality"
                .into(),
        )),
    }
}

/// A client token checked against the client's registration: enabled, the
/// same organisation, the scope both in the token and granted, and, when a
/// certificate is pinned, that certificate presented over mutual TLS.
pub fn check_registration(
    c: &ClientRecord,
    organization_number: &str,
    token_scopes: &[String],
    scope: &str,
    presented_certificate: Option<&str>,
) -> ApiResult<()> {
    let denied = |m: String| Err(ApiError::PermissionDenied(m));
    if c.disabled {
        return denied("the client is disabled".into());
    }
    if c.organization_number != organization_number {
        return denied("the token's organisation is not the registered client's".into());
    }
    if !token_scopes.iter().any(|s| s == scope) {
        return denied(format!("the token lacks the scope {scope}"));
    }
    if !c.allows_scope(scope) {
        return denied(format!("the client is not granted the scope {scope}"));
    }
    if !c.certificate_sha256.is_empty()
        && presented_certificate != Some(c.certificate_sha256.as_str())
    {
        return denied("the client certificate is not the registered one".into());
    }
    Ok(())
}

/// The municipality's employees who run intake: unit leaders and the
/// municipal administrator.
pub fn intake_staff(p: &Principal, tenant: &str) -> bool {
    p.is_tenant_role(tenant, Role::UnitLeader) || p.is_tenant_role(tenant, Role::MunicipalAdmin)
}

/// Whether intake staff see a waiting referral's content: unit leaders do,
/// unless it is restricted (then only the leader of the unit it is assigned
/// to, or the relay log's holder and leaders, read it); the municipal
/// administrator follows the flow without reading content.
pub fn intake_content_visible(p: &Principal, r: &ReferralRecord) -> bool {
    p.is_tenant_role(&r.tenant, Role::UnitLeader) && !r.is_restricted()
}

/// Whether the one who assigns `r` to `unit` reads what they assigned: if
/// they could in intake, or they lead that unit.
pub fn assigner_reads(p: &Principal, r: &ReferralRecord, unit: &str) -> bool {
    intake_content_visible(p, r) || (p.works_in(unit) && p.has_role(Role::UnitLeader))
}

/// Who lists a unit's assigned referrals: those who work in it.
pub fn may_list_assigned(p: &Principal, unit: &UnitName) -> bool {
    p.is_employee_of(&unit.tenant) && p.works_in(&unit.to_string())
}

/// The basis an access to `r` rests on: its legal basis while it is
/// restricted, else `otherwise` (why this caller may see it at all).
pub fn basis(r: &ReferralRecord, otherwise: &str) -> String {
    if r.is_restricted() {
        format!("legal basis: {}", r.legal_basis)
    } else {
        otherwise.to_string()
    }
}

/// Why a client reads its own referral.
pub fn own_basis(r: &ReferralRecord) -> String {
    basis(r, "own referral")
}

/// Whether deciding an employee's access to `r` needs the subject's active
/// relay log (it is attached to one, and nothing else rules them out).
pub fn employee_needs_log(p: &Principal, r: &ReferralRecord) -> bool {
    matches!(p, Principal::Employee { .. })
        && p.is_employee_of(&r.tenant)
        && r.placement() == Placement::CaseLog
}

/// Why an employee may read a referral, if they may: intake staff while it
/// waits in intake, the assigned unit, or the relay log's holder and the
/// leaders of its units (`log`: the subject's active log, when
/// [`employee_needs_log`]). Restricted referrals: leaders and the holder only.
pub fn employee_basis(
    p: &Principal,
    r: &ReferralRecord,
    log: Option<&ActiveLog>,
) -> Option<String> {
    let Principal::Employee { subject, .. } = p else {
        return None;
    };
    if !p.is_employee_of(&r.tenant) || r.is_pending() {
        return None;
    }
    let leader = p.has_role(Role::UnitLeader);
    let allowed = match r.placement() {
        Placement::Intake => intake_staff(p, &r.tenant),
        Placement::Assigned => p.works_in(&r.assigned_unit) && (leader || !r.is_restricted()),
        Placement::CaseLog => match log {
            Some(log) if log.name == r.case_log => {
                (log.holder == *subject && p.works_in(&log.holder_unit))
                    || (leader && (p.works_in(&log.unit) || p.works_in(&log.holder_unit)))
            }
            _ => false,
        },
        Placement::Unspecified => false,
    };
    allowed.then(|| basis(r, "receiving service"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{client, report};

    const CW: &str = "tenants/4201/units/barnevern";
    const SCHOOL: &str = "tenants/4201/units/school";

    fn employee(subject: &str, units: &[&str], roles: &[Role]) -> Principal {
        Principal::Employee {
            subject: subject.into(),
            tenant: "4201".into(),
            units: units.iter().map(|u| u.to_string()).collect(),
            roles: roles.to_vec(),
        }
    }

    fn operator() -> Principal {
        Principal::Service {
            name: "operator".into(),
            scopes: vec![SCOPE_ADMIN.into()],
        }
    }

    #[test]
    fn administrators_register_for_their_own_municipality_only() {
        let admin = employee("admin", &[], &[Role::MunicipalAdmin]);
        let operator = operator();
        let home = client("4201", CW);
        let shared = client("4201 4202", CW);
        let elsewhere = client("4201", "tenants/4202/units/barnevern");
        assert!(may_administer(&admin, &home));
        assert!(!may_administer(&admin, &shared));
        assert!(!may_administer(&admin, &elsewhere));
        assert!(may_administer(&operator, &shared));
        assert!(may_see_client(&admin, &shared), "it acts for 4201");
        let leader = employee("l", &[CW], &[Role::UnitLeader]);
        assert!(!may_administer(&leader, &home) && !may_see_client(&leader, &home));
        assert_eq!(clients_listed_for(&admin, "").unwrap(), "4201");
        assert!(clients_listed_for(&admin, "4202").is_err());
        assert_eq!(clients_listed_for(&operator, "").unwrap(), "");
        assert!(clients_listed_for(&leader, "").is_err());
    }

    #[test]
    fn a_token_must_match_its_registration() {
        let mut c = client("4201", CW);
        let scopes = vec!["bti:referrals.write".to_string()];
        let write = "bti:referrals.write";
        assert!(check_registration(&c, "974760673", &scopes, write, None).is_ok());
        assert!(check_registration(&c, "991825827", &scopes, write, None).is_err());
        assert!(check_registration(&c, "974760673", &[], write, None).is_err());
        let read = vec!["bti:referrals.read".to_string()];
        assert!(
            check_registration(&c, "974760673", &read, "bti:referrals.read", None).is_err(),
            "not granted"
        );
        c.certificate_sha256 = "ab".repeat(32);
        let pinned = "ab".repeat(32);
        assert!(check_registration(&c, "974760673", &scopes, write, None).is_err());
        assert!(check_registration(&c, "974760673", &scopes, write, Some("cd")).is_err());
        assert!(check_registration(&c, "974760673", &scopes, write, Some(&pinned)).is_ok());
        c.disabled = true;
        assert!(check_registration(&c, "974760673", &scopes, write, Some(&pinned)).is_err());
    }

    #[test]
    fn intake_is_for_leaders_and_the_administrator_and_restricted_content_is_withheld() {
        let leader = employee("l", &[CW], &[Role::UnitLeader]);
        let admin = employee("a", &[], &[Role::MunicipalAdmin]);
        let teacher = employee("t", &[SCHOOL], &[Role::Employee]);
        let mut r = report(chrono::Utc::now());
        assert!(intake_staff(&leader, "4201") && intake_staff(&admin, "4201"));
        assert!(!intake_staff(&teacher, "4201") && !intake_staff(&leader, "4202"));
        assert!(intake_content_visible(&leader, &r));
        assert!(!intake_content_visible(&admin, &r));
        r.restricted = true;
        r.legal_basis = "bvl § 13-2".into();
        assert!(!intake_content_visible(&leader, &r));
        assert!(assigner_reads(&leader, &r, CW), "leads the unit it goes to");
        assert!(!assigner_reads(&admin, &r, CW));
        assert_eq!(basis(&r, "intake triage"), "legal basis: bvl § 13-2");
        r.lift_time = Some(chrono::Utc::now());
        assert_eq!(own_basis(&r), "own referral");
    }

    #[test]
    fn employees_read_where_the_referral_is() {
        let holder = employee("kari", &[SCHOOL], &[Role::Employee]);
        let colleague = employee("ola", &[SCHOOL], &[Role::Employee]);
        let caseworker = employee("cw", &[CW], &[Role::Employee]);
        let cw_leader = employee("l", &[CW], &[Role::UnitLeader]);
        let log = ActiveLog {
            name: "tenants/4201/caseLogs/l1".into(),
            unit: SCHOOL.into(),
            holder: "kari".into(),
            holder_unit: SCHOOL.into(),
        };
        let mut r = report(chrono::Utc::now());
        // Assigned: the unit's staff, restricted ones its leaders only.
        r.placement = Placement::Assigned.as_str_name().into();
        r.assigned_unit = CW.into();
        assert!(employee_basis(&caseworker, &r, None).is_some());
        assert!(employee_basis(&holder, &r, None).is_none());
        r.restricted = true;
        assert!(employee_basis(&caseworker, &r, None).is_none());
        assert!(employee_basis(&cw_leader, &r, None).is_some());
        // On the relay log: its holder, not a colleague, and only that log.
        r.placement = Placement::CaseLog.as_str_name().into();
        r.case_log = log.name.clone();
        assert!(employee_needs_log(&holder, &r));
        assert!(employee_basis(&holder, &r, Some(&log)).is_some());
        assert!(employee_basis(&colleague, &r, Some(&log)).is_none());
        assert!(
            employee_basis(&holder, &r, None).is_none(),
            "the log closed"
        );
        r.case_log = "tenants/4201/caseLogs/other".into();
        assert!(employee_basis(&holder, &r, Some(&log)).is_none());
        // Pending: nobody; clients: never by this rule.
        r.placement = super::super::PENDING.into();
        assert!(!employee_needs_log(&holder, &r));
        assert!(employee_basis(&cw_leader, &r, None).is_none());
        let client = Principal::Client {
            client_id: "cw".into(),
            organization_number: "974760673".into(),
            scopes: vec!["bti:referrals.read".into()],
        };
        assert!(employee_basis(&client, &r, Some(&log)).is_none());
    }
}
