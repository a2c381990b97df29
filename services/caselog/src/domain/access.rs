//! Who may do what on a relay log: the capacity in which a caller acts,
//! decided per request from the log's holder, participants and open offer,
//! the consent service and the directory (the application layer asks those),
//! never from the caller's say-so; and the access-log row each act writes.

use bti_proto::caselog::{AccessAction, ActingAs};
use bti_runtime::api::new_id;
use bti_runtime::auth::{Principal, Role, SCOPE_GATEWAY};
use bti_runtime::{ApiError, ApiResult};
use chrono::{DateTime, Utc};

use super::{AccessRecord, CaseLogRecord, HandoverRecord, ParticipantRecord};

/// The capacity in which a caller acts on one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    pub acting_as: ActingAs,
    /// The unit the caller acts for (professionals).
    pub unit: String,
    /// The consent revision or legal basis that allows it.
    pub basis: String,
}

impl Capacity {
    /// May change the log's content (entries, measures, ...).
    pub fn may_write(&self) -> bool {
        matches!(self.acting_as, ActingAs::Holder | ActingAs::Participant)
    }

    pub fn is_holder(&self) -> bool {
        self.acting_as == ActingAs::Holder
    }

    /// The gateway, acting for an external client.
    pub fn is_gateway(&self) -> bool {
        self.acting_as == ActingAs::Service
    }

    /// Sees the log's attached referrals (their metadata, no text).
    pub fn sees_referrals(&self) -> bool {
        self.may_read() || self.acting_as == ActingAs::UnitLeader
    }

    /// Sees restricted referrals: only the holder and the unit's leader.
    pub fn sees_restricted(&self) -> bool {
        matches!(self.acting_as, ActingAs::Holder | ActingAs::UnitLeader)
    }

    /// Guardians and the youth see no trace of restricted referrals, nor the
    /// gateway's routing look-ups (which return no case content).
    pub fn is_family(&self) -> bool {
        matches!(self.acting_as, ActingAs::Guardian | ActingAs::Youth)
    }

    /// Reads everything in the log.
    pub fn may_read(&self) -> bool {
        matches!(
            self.acting_as,
            ActingAs::Holder
                | ActingAs::Participant
                | ActingAs::Guardian
                | ActingAs::Youth
                | ActingAs::HandoverRecipient
        )
    }

    /// A unit leader's oversight of the log's unit.
    pub fn oversight(unit: &str) -> Capacity {
        Capacity {
            acting_as: ActingAs::UnitLeader,
            unit: unit.to_string(),
            basis: "oversight (unit leader)".into(),
        }
    }

    /// The relay log itself, acting on a consent event.
    pub fn system(basis: String) -> Capacity {
        Capacity {
            acting_as: ActingAs::Service,
            unit: String::new(),
            basis,
        }
    }
}

/// What the caller is about to do, for the order in which their capacities
/// are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Anything: the strongest capacity first (holder, participant, offered).
    Any,
    /// Accepting or declining the open offer: being the professional offered
    /// the baton comes first, whatever else they are in the log.
    AnswerOffer,
}

/// Units through which an employee could act on a log, in the order to try
/// them: the holder's unit (if they hold it), units they participate
/// through, and the unit of an offer made to them (first, when answering it).
pub fn professional_candidates(
    subject: &str,
    works_in: impl Fn(&str) -> bool,
    log: &CaseLogRecord,
    participants: &[ParticipantRecord],
    pending: Option<&HandoverRecord>,
    purpose: Purpose,
) -> Vec<(ActingAs, String)> {
    let mut out = Vec::new();
    if log.holder == subject && works_in(&log.holder_unit) {
        out.push((ActingAs::Holder, log.holder_unit.clone()));
    }
    for p in participants.iter().filter(|p| !p.removed) {
        if (p.professional.is_empty() || p.professional == subject) && works_in(&p.unit) {
            out.push((ActingAs::Participant, p.unit.clone()));
        }
    }
    if let Some(h) = pending
        && h.to_professional == subject
        && works_in(&h.to_unit)
    {
        let offered = (ActingAs::HandoverRecipient, h.to_unit.clone());
        match purpose {
            Purpose::AnswerOffer => out.insert(0, offered),
            Purpose::Any => out.push(offered),
        }
    }
    out
}

/// The unit a unit leader oversees the log through (its own unit, or the
/// holder's), if `p` leads either.
pub fn leader_unit(p: &Principal, log: &CaseLogRecord) -> Option<String> {
    let leads = |u: &str| p.has_role(Role::UnitLeader) && p.works_in(u);
    [&log.unit, &log.holder_unit]
        .into_iter()
        .find(|u| leads(u))
        .cloned()
}

/// A guardian with parental responsibility for the subject.
pub fn guardian() -> Capacity {
    Capacity {
        acting_as: ActingAs::Guardian,
        unit: String::new(),
        basis: "parental responsibility".into(),
    }
}

/// The youth on their own log, at or above the municipality's consent age.
pub fn youth(age: u32, consent_age: u32) -> Option<Capacity> {
    (age >= consent_age).then(|| Capacity {
        acting_as: ActingAs::Youth,
        unit: String::new(),
        basis: "own relay log, at or above the consent age".into(),
    })
}

/// The gateway, routing external referrals.
pub fn gateway(p: &Principal) -> Option<Capacity> {
    (p.is_service() && p.has_scope(SCOPE_GATEWAY)).then(|| Capacity {
        acting_as: ActingAs::Service,
        unit: String::new(),
        basis: "routing external referrals".into(),
    })
}

/// The access-log row for `p` acting in `cap` on `resource` of the log
/// `tenant`/`case_log` at `at`.
#[allow(clippy::too_many_arguments)]
pub fn access_row(
    p: &Principal,
    cap: &Capacity,
    tenant: &str,
    case_log: &str,
    resource: &str,
    action: AccessAction,
    method: &str,
    at: DateTime<Utc>,
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
        create_time: at,
        restricted_referral: String::new(),
    }
}

/// The external client an access row names: `clients/{c}` as `client:{c}`.
pub fn client_actor(client: &str) -> String {
    format!(
        "client:{}",
        client.strip_prefix("clients/").unwrap_or(client)
    )
}

/// The basis an access row cites for a referral's legal basis.
pub fn legal_basis(basis: &str) -> String {
    format!("legal basis: {basis}")
}

/// Who an author or actor is in the log: an employee by subject, others by label.
pub fn subject_of(p: &Principal) -> String {
    match p {
        Principal::Employee { subject, .. } => subject.clone(),
        other => other.label(),
    }
}

fn denied(why: &str) -> ApiError {
    ApiError::PermissionDenied(why.into())
}

/// Readers see everything; others who know of the log (a unit leader) are
/// refused, not told it is missing.
pub fn require_read(cap: &Capacity) -> ApiResult<()> {
    cap.may_read()
        .then_some(())
        .ok_or_else(|| denied("oversight does not include the log's content"))
}

pub fn require_write(cap: &Capacity) -> ApiResult<()> {
    cap.may_write()
        .then_some(())
        .ok_or_else(|| denied("only the baton holder and participants write in the log"))
}

pub fn require_holder(cap: &Capacity) -> ApiResult<()> {
    cap.is_holder()
        .then_some(())
        .ok_or_else(|| denied("only the baton holder may do this"))
}

pub fn require_gateway(cap: &Capacity) -> ApiResult<()> {
    cap.is_gateway()
        .then_some(())
        .ok_or_else(|| denied("external referrals and summaries go through the gateway"))
}

pub fn require_referral_reader(cap: &Capacity) -> ApiResult<()> {
    cap.sees_referrals().then_some(()).ok_or_else(|| {
        denied("attached referrals are shown to those who read the log and its unit's leader")
    })
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

/// Opening a log: an employee of the municipality.
pub fn require_employee_of(p: &Principal, tenant: &str) -> ApiResult<String> {
    let Principal::Employee { subject, .. } = p else {
        return Err(denied("relay logs are opened by employees"));
    };
    if !p.is_employee_of(tenant) {
        return Err(denied("not an employee of this municipality"));
    }
    Ok(subject.clone())
}

/// Opening a log in `unit`: the employee works there.
pub fn require_works_in(p: &Principal, unit: &str) -> ApiResult<()> {
    p.works_in(unit)
        .then_some(())
        .ok_or_else(|| denied("a relay log is opened in a unit the employee works in"))
}

/// Reassigning the baton: a leader of the log's unit or of the holder's.
pub fn require_reassigner(p: &Principal, log: &CaseLogRecord) -> ApiResult<()> {
    leader_unit(p, log)
        .map(drop)
        .ok_or_else(|| denied("a leader of the log's unit reassigns the baton"))
}

/// Oversight of `unit`'s logs: its leader.
pub fn require_unit_leader(p: &Principal, tenant: &str, unit: &str) -> ApiResult<()> {
    (p.is_tenant_role(tenant, Role::UnitLeader) && p.works_in(unit))
        .then_some(())
        .ok_or_else(|| denied("the unit's leader follows up its relay logs"))
}

/// Statistics: the municipal administrator.
pub fn require_municipal_admin(p: &Principal, tenant: &str) -> ApiResult<()> {
    p.is_tenant_role(tenant, Role::MunicipalAdmin)
        .then_some(())
        .ok_or_else(|| denied("statistics are for the municipal administrator"))
}

/// Answering an offer: withdrawing is the holder's, accepting and declining
/// are the offered professional's.
pub fn require_may_answer(cap: &Capacity, withdraw: bool) -> ApiResult<()> {
    if withdraw {
        require_holder(cap)
    } else if cap.acting_as == ActingAs::HandoverRecipient {
        Ok(())
    } else {
        Err(denied("only the professional offered the baton may answer"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn works(units: Vec<&'static str>) -> impl Fn(&str) -> bool {
        move |u: &str| units.contains(&u)
    }

    #[test]
    fn capacities_come_from_the_log_not_the_caller() {
        let l = log();
        let any = Purpose::Any;
        assert_eq!(
            professional_candidates("kari", works(vec![SCHOOL]), &l, &[], None, any),
            [(ActingAs::Holder, SCHOOL.to_string())]
        );
        // Holding the baton but not working in its unit any more: nothing.
        assert!(professional_candidates("kari", works(vec![NURSE]), &l, &[], None, any).is_empty());
        let ps = [
            participant(NURSE, "", false),
            participant(SCHOOL, "per", true),
        ];
        assert_eq!(
            professional_candidates("ola", works(vec![NURSE]), &l, &ps, None, any),
            [(ActingAs::Participant, NURSE.to_string())]
        );
        // A removed participant is not one.
        assert!(professional_candidates("per", works(vec![SCHOOL]), &l, &ps, None, any).is_empty());
        // A colleague in the same unit who is neither holder nor participant: nothing.
        assert!(
            professional_candidates("nils", works(vec![SCHOOL]), &l, &[], None, any).is_empty()
        );
    }

    #[test]
    fn a_participant_offered_the_baton_answers_as_the_one_offered() {
        let l = log();
        let ps = [participant(NURSE, "nils", false)];
        let h = offer_to("nils", NURSE);
        let got = |purpose| {
            professional_candidates("nils", works(vec![NURSE]), &l, &ps, Some(&h), purpose)
        };
        assert_eq!(got(Purpose::Any)[0].0, ActingAs::Participant);
        assert_eq!(
            got(Purpose::AnswerOffer),
            [
                (ActingAs::HandoverRecipient, NURSE.to_string()),
                (ActingAs::Participant, NURSE.to_string())
            ]
        );
        let recipient = Capacity {
            acting_as: ActingAs::HandoverRecipient,
            unit: NURSE.into(),
            basis: String::new(),
        };
        assert!(require_may_answer(&recipient, false).is_ok());
        assert!(require_may_answer(&recipient, true).is_err());
        let participant = Capacity {
            acting_as: ActingAs::Participant,
            ..recipient
        };
        assert!(require_may_answer(&participant, false).is_err());
    }

    #[test]
    fn what_each_capacity_may_do() {
        let cap = |acting_as| Capacity {
            acting_as,
            unit: String::new(),
            basis: String::new(),
        };
        use ActingAs::*;
        //        capacity            read   write  holder referrals restricted family
        let table = [
            (Holder, [true, true, true, true, true, false]),
            (Participant, [true, true, false, true, false, false]),
            (HandoverRecipient, [true, false, false, true, false, false]),
            (Guardian, [true, false, false, true, false, true]),
            (Youth, [true, false, false, true, false, true]),
            (UnitLeader, [false, false, false, true, true, false]),
            (Service, [false, false, false, false, false, false]),
        ];
        for (acting_as, expected) in table {
            let c = cap(acting_as);
            let got = [
                c.may_read(),
                c.may_write(),
                c.is_holder(),
                c.sees_referrals(),
                c.sees_restricted(),
                c.is_family(),
            ];
            assert_eq!(got, expected, "{acting_as:?}");
        }
        assert!(youth(15, 15).is_some());
        assert!(youth(14, 15).is_none());
    }

    #[test]
    fn leaders_oversee_the_logs_unit_or_the_holders() {
        let leader = Principal::Employee {
            subject: "rektor".into(),
            tenant: "4201".into(),
            units: vec![SCHOOL.into()],
            roles: vec![Role::UnitLeader],
        };
        assert_eq!(leader_unit(&leader, &log()).as_deref(), Some(SCHOOL));
        let elsewhere = CaseLogRecord {
            unit: NURSE.into(),
            holder_unit: NURSE.into(),
            ..log()
        };
        assert!(leader_unit(&leader, &elsewhere).is_none());
        assert!(require_reassigner(&leader, &elsewhere).is_err());
    }
}
