//! Who may do what on a relay log, decided per request: the log's holder,
//! participants and open handover from the store, consent from the consent
//! service (asked every time), guardianship and age from the directory.

use bti_proto::caselog::{AccessAction, ActingAs};
use bti_runtime::api::{new_id, now};
use bti_runtime::auth::{Principal, Role, SCOPE_GATEWAY};
use bti_runtime::peers::{ConsentChecker, Directory};
use bti_runtime::{ApiError, ApiResult};

use crate::domain::*;
use crate::store::LogContext;

/// The peers the relay log asks.
#[derive(Clone)]
pub struct Peers {
    pub consent: ConsentChecker,
    pub directory: Directory,
}

impl Peers {
    /// The capacity in which `p` may act on the log, or `None` (then the log
    /// does not exist for them).
    pub async fn capacity(&self, p: &Principal, ctx: &LogContext) -> ApiResult<Option<Capacity>> {
        let log = &ctx.log;
        match p {
            Principal::Employee {
                subject, tenant, ..
            } if *tenant == log.tenant => {
                let candidates = professional_candidates(
                    subject,
                    |u| p.works_in(u),
                    log,
                    &ctx.participants,
                    ctx.pending_handover.as_ref(),
                );
                for (acting_as, unit) in candidates {
                    if let Some(revision) =
                        self.consent.relay_log_revision(&log.subject, &unit).await?
                    {
                        return Ok(Some(Capacity {
                            acting_as,
                            unit,
                            basis: revision,
                        }));
                    }
                }
                let leads = |u: &str| p.has_role(Role::UnitLeader) && p.works_in(u);
                if leads(&log.unit) || leads(&log.holder_unit) {
                    let unit = if leads(&log.unit) {
                        &log.unit
                    } else {
                        &log.holder_unit
                    };
                    return Ok(Some(Capacity {
                        acting_as: ActingAs::UnitLeader,
                        unit: unit.clone(),
                        basis: "oversight (unit leader)".into(),
                    }));
                }
                Ok(None)
            }
            Principal::Guardian { person, tenant, .. } if *tenant == log.tenant => {
                let guardians = self.directory.guardians(&log.subject).await?;
                Ok(guardians.iter().any(|g| g == person).then(|| Capacity {
                    acting_as: ActingAs::Guardian,
                    unit: String::new(),
                    basis: "parental responsibility".into(),
                }))
            }
            Principal::Youth { person, tenant, .. }
                if *tenant == log.tenant && *person == log.subject =>
            {
                let policy = self.directory.policy(tenant).await?;
                let facts = self.directory.subject(person, now().date_naive()).await?;
                Ok(facts
                    .filter(|f| f.age >= policy.youth_consent_age)
                    .map(|_| Capacity {
                        acting_as: ActingAs::Youth,
                        unit: String::new(),
                        basis: "own relay log, at or above the consent age".into(),
                    }))
            }
            Principal::Service { .. } if p.has_scope(SCOPE_GATEWAY) => Ok(Some(Capacity {
                acting_as: ActingAs::Service,
                unit: String::new(),
                basis: "routing external referrals".into(),
            })),
            _ => Ok(None),
        }
    }
}

/// An access-log row for `p` acting in `cap` on `resource` of the log `tenant`/`case_log`.
pub fn access_row(
    p: &Principal,
    cap: &Capacity,
    tenant: &str,
    case_log: &str,
    resource: &str,
    action: AccessAction,
    method: &str,
) -> AccessRecord {
    let why = match cap.acting_as {
        ActingAs::Guardian | ActingAs::Youth => "right of access",
        ActingAs::UnitLeader => "oversight",
        ActingAs::MunicipalAdmin => "administration",
        ActingAs::HandoverRecipient => "considering the offered baton",
        _ => "follow-up of the relay log",
    };
    AccessRecord {
        tenant: tenant.to_string(),
        case_log: case_log.to_string(),
        id: new_id(),
        actor: p.label(),
        acting_as: cap.acting_as.as_str_name().to_string(),
        unit: cap.unit.clone(),
        resource: resource.to_string(),
        action: action.as_str_name().to_string(),
        purpose: format!("{method}: {why}"),
        basis: cap.basis.clone(),
        create_time: now(),
        restricted_referral: String::new(),
    }
}

/// Readers see everything; others who know of the log (a unit leader) are
/// refused, not told it is missing.
pub fn require_read(cap: &Capacity) -> ApiResult<()> {
    if cap.may_read() {
        Ok(())
    } else {
        Err(ApiError::PermissionDenied(
            "oversight does not include the log's content".into(),
        ))
    }
}

pub fn require_write(cap: &Capacity) -> ApiResult<()> {
    if cap.may_write() {
        Ok(())
    } else {
        Err(ApiError::PermissionDenied(
            "only the baton holder and participants write in the log".into(),
        ))
    }
}

pub fn require_holder(cap: &Capacity) -> ApiResult<()> {
    if cap.is_holder() {
        Ok(())
    } else {
        Err(ApiError::PermissionDenied(
            "only the baton holder may do this".into(),
        ))
    }
}

pub fn require_active(log: &CaseLogRecord) -> ApiResult<()> {
    if log.is_active() {
        Ok(())
    } else {
        Err(ApiError::precondition(
            "CASE_LOG_CLOSED",
            log.name(),
            "the relay log is closed and read-only",
        ))
    }
}
