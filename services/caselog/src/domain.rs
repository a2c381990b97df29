//! Relay-log domain: records, the capacities in which someone may act on a
//! log, and validation.

use bti_proto::caselog::{ActingAs, CaseLogState, EntryKind, Level};
use chrono::{DateTime, NaiveDate, Utc};

/// Event source of the relay log service.
pub const SOURCE: &str = "//bti.no/caselog";

pub const TENANT_PATTERN: &str = "tenants/{tenant}";
pub const CASE_LOG_PATTERN: &str = "tenants/{tenant}/caseLogs/{case_log}";
pub const PERSON_PATTERN: &str = "tenants/{tenant}/persons/{person}";
pub const UNIT_PATTERN: &str = "tenants/{tenant}/units/{unit}";
pub const ENTRY_PATTERN: &str = "tenants/{tenant}/caseLogs/{case_log}/entries/{entry}";
pub const HANDOVER_PATTERN: &str = "tenants/{tenant}/caseLogs/{case_log}/handovers/{handover}";
pub const GOAL_PATTERN: &str = "tenants/{tenant}/caseLogs/{case_log}/goals/{goal}";
pub const MEASURE_PATTERN: &str = "tenants/{tenant}/caseLogs/{case_log}/measures/{measure}";
pub const PARTICIPANT_PATTERN: &str =
    "tenants/{tenant}/caseLogs/{case_log}/participants/{participant}";
pub const EVALUATION_PATTERN: &str =
    "tenants/{tenant}/caseLogs/{case_log}/measures/{measure}/evaluations/{evaluation}";
pub const TRANSFER_PATTERN: &str = "tenants/{tenant}/caseLogs/{case_log}/transfers/{transfer}";

pub fn case_log_name(tenant: &str, id: &str) -> String {
    format!("tenants/{tenant}/caseLogs/{id}")
}

/// `tenants/{t}/caseLogs/{c}/{collection}/{id}`.
pub fn child_name(tenant: &str, case_log: &str, collection: &str, id: &str) -> String {
    format!("tenants/{tenant}/caseLogs/{case_log}/{collection}/{id}")
}

/// How many entries GetCaseLog returns with the log.
pub const LATEST_ENTRIES: i64 = 20;
/// Longest free text accepted (entries, concern, summaries).
pub const MAX_TEXT: usize = 20_000;
pub const MAX_SHORT: usize = 1_000;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CaseLogRecord {
    pub tenant: String,
    pub id: String,
    pub subject: String,
    pub subject_kind: String,
    pub unit: String,
    pub concern: String,
    pub concern_degree: String,
    pub level: String,
    pub state: String,
    pub holder: String,
    pub holder_unit: String,
    pub holder_since: DateTime<Utc>,
    pub pending_handover: String,
    pub pending_transfer: String,
    pub consent_revision: String,
    pub close_reason: String,
    pub close_time: Option<DateTime<Utc>>,
    pub last_activity_time: DateTime<Utc>,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl CaseLogRecord {
    pub fn name(&self) -> String {
        case_log_name(&self.tenant, &self.id)
    }

    pub fn is_active(&self) -> bool {
        self.state == CaseLogState::Active.as_str_name()
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct EntryRecord {
    pub tenant: String,
    pub case_log: String,
    pub id: String,
    pub kind: String,
    pub text: String,
    pub corrects: String,
    pub author: String,
    pub author_unit: String,
    pub create_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LevelChangeRecord {
    pub tenant: String,
    pub case_log: String,
    pub id: String,
    pub from_level: String,
    pub to_level: String,
    pub reason: String,
    pub actor: String,
    pub create_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GoalRecord {
    pub tenant: String,
    pub case_log: String,
    pub id: String,
    pub description: String,
    pub achieved: bool,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MeasureRecord {
    pub tenant: String,
    pub case_log: String,
    pub id: String,
    pub description: String,
    pub goal: String,
    pub responsible_unit: String,
    pub responsible_professional: String,
    pub start_date: NaiveDate,
    pub evaluate_by_date: NaiveDate,
    pub state: String,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct EvaluationRecord {
    pub tenant: String,
    pub case_log: String,
    pub measure: String,
    pub id: String,
    pub decision: String,
    pub child_experience: String,
    pub summary: String,
    pub evaluation_date: NaiveDate,
    pub author: String,
    pub create_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ParticipantRecord {
    pub tenant: String,
    pub case_log: String,
    pub id: String,
    pub unit: String,
    pub professional: String,
    pub tasks: String,
    pub removed: bool,
    pub remove_time: Option<DateTime<Utc>>,
    pub version: i64,
    pub create_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HandoverRecord {
    pub tenant: String,
    pub case_log: String,
    pub id: String,
    pub to_professional: String,
    pub to_unit: String,
    pub from_professional: String,
    pub message: String,
    pub state: String,
    pub transfer: String,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub decide_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TransferRecord {
    pub tenant: String,
    pub case_log: String,
    pub id: String,
    pub to_unit: String,
    pub to_professional: String,
    pub reason: String,
    pub note: String,
    pub state: String,
    pub handover: String,
    pub create_time: DateTime<Utc>,
    pub decide_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AccessRecord {
    pub tenant: String,
    pub case_log: String,
    pub id: String,
    pub actor: String,
    pub acting_as: String,
    pub unit: String,
    pub resource: String,
    pub action: String,
    pub purpose: String,
    pub basis: String,
    pub create_time: DateTime<Utc>,
    /// The attached referral the row concerns, while it is restricted.
    pub restricted_referral: String,
}

/// A referral attached by the gateway on an external client's behalf.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReferralRecord {
    pub tenant: String,
    pub case_log: String,
    pub id: String,
    /// The gateway's `referrals/{referral}`.
    pub referral: String,
    pub kind: String,
    pub restricted: bool,
    pub legal_basis: String,
    pub from_organization: String,
    pub create_time: DateTime<Utc>,
    pub from_unit: String,
    /// `clients/{client}`.
    pub client: String,
}

impl ReferralRecord {
    pub fn name(&self) -> String {
        child_name(&self.tenant, &self.case_log, "referrals", &self.id)
    }
}

pub const REFERRAL_PATTERN: &str = "tenants/{tenant}/caseLogs/{case_log}/referrals/{referral}";

/// The capacity in which a caller acts on one log, decided per request from
/// the log's holder, participants and pending handover, the consent service
/// and the directory — never from the caller's say-so.
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
}

/// Units through which an employee could act on a log, best first: the
/// holder's unit (if they hold it), units they participate through, and the
/// unit of a handover offered to them.
pub fn professional_candidates(
    subject: &str,
    works_in: impl Fn(&str) -> bool,
    log: &CaseLogRecord,
    participants: &[ParticipantRecord],
    pending: Option<&HandoverRecord>,
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
        out.push((ActingAs::HandoverRecipient, h.to_unit.clone()));
    }
    out
}

pub fn level(value: i32) -> Result<Level, String> {
    match Level::try_from(value) {
        Ok(Level::Unspecified) => Err("required".into()),
        Ok(Level::Level0) => {
            Err("a shared relay log starts at level 1; level 0 work is not shared".into())
        }
        Ok(l) => Ok(l),
        Err(_) => Err("unknown level".into()),
    }
}

pub fn entry_kind(value: i32) -> Result<EntryKind, String> {
    match EntryKind::try_from(value) {
        Ok(EntryKind::Unspecified) => Err("required".into()),
        Ok(k) => Ok(k),
        Err(_) => Err("unknown entry kind".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> CaseLogRecord {
        let t = Utc::now();
        CaseLogRecord {
            tenant: "4201".into(),
            id: "c".into(),
            subject: "tenants/4201/persons/p".into(),
            subject_kind: "SUBJECT_KIND_CHILD".into(),
            unit: "tenants/4201/units/school".into(),
            concern: "x".into(),
            concern_degree: "CONCERN_DEGREE_UNSPECIFIED".into(),
            level: "LEVEL_1".into(),
            state: "CASE_LOG_STATE_ACTIVE".into(),
            holder: "kari".into(),
            holder_unit: "tenants/4201/units/school".into(),
            holder_since: t,
            pending_handover: String::new(),
            pending_transfer: String::new(),
            consent_revision: String::new(),
            close_reason: String::new(),
            close_time: None,
            last_activity_time: t,
            version: 1,
            create_time: t,
            update_time: t,
        }
    }

    fn participant(unit: &str, professional: &str, removed: bool) -> ParticipantRecord {
        ParticipantRecord {
            tenant: "4201".into(),
            case_log: "c".into(),
            id: "p".into(),
            unit: unit.into(),
            professional: professional.into(),
            tasks: String::new(),
            removed,
            remove_time: None,
            version: 1,
            create_time: Utc::now(),
        }
    }

    #[test]
    fn capacities_come_from_the_log_not_the_caller() {
        let school: &'static str = "tenants/4201/units/school";
        let nurse: &'static str = "tenants/4201/units/nurse";
        let works = |units: Vec<&'static str>| move |u: &str| units.contains(&u);
        let l = log();
        assert_eq!(
            professional_candidates("kari", works(vec![school]), &l, &[], None),
            [(ActingAs::Holder, school.to_string())]
        );
        // Holding the baton but not working in its unit any more: nothing.
        assert!(professional_candidates("kari", works(vec![nurse]), &l, &[], None).is_empty());
        let ps = [
            participant(nurse, "", false),
            participant(school, "per", true),
        ];
        assert_eq!(
            professional_candidates("ola", works(vec![nurse]), &l, &ps, None),
            [(ActingAs::Participant, nurse.to_string())]
        );
        // A removed participant is not one.
        assert!(professional_candidates("per", works(vec![school]), &l, &ps, None).is_empty());
        // A colleague in the same unit who is neither holder nor participant: nothing.
        assert!(professional_candidates("nils", works(vec![school]), &l, &[], None).is_empty());
    }

    #[test]
    fn shared_logs_start_at_level_one() {
        assert!(level(Level::Level0 as i32).is_err());
        assert!(level(0).is_err());
        assert!(level(99).is_err());
        assert_eq!(level(Level::Level2 as i32).unwrap(), Level::Level2);
    }
}
