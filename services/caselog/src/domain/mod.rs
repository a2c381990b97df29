//! The relay log's domain, pure: the stored records, resource names,
//! validation of what clients send (`validate`), who may act (`access`), the
//! baton and transfer state machine (`baton`), closing (`closing`) and the
//! external summary's redaction (`summary`). Nothing here does I/O.

pub mod access;
pub mod baton;
pub mod closing;
pub mod names;
pub mod summary;
pub mod validate;

pub use access::Capacity;
pub use names::*;

use bti_proto::caselog::{
    CaseLogState, ConcernArea, ConcernDegree, EntryKind, EvaluationDecision, Level,
};
use chrono::{DateTime, NaiveDate, Utc};

/// Event source of the relay log service.
pub const SOURCE: &str = "//bti.no/caselog";

/// How many entries GetCaseLog returns with the log.
pub const LATEST_ENTRIES: i64 = 20;
/// Longest free text accepted (entries, concern, summaries).
pub const MAX_TEXT: usize = 20_000;
/// Longest short text (reasons, tasks, messages, descriptions).
pub const MAX_SHORT: usize = 1_000;
/// Longest identity-provider subject of a professional.
pub const MAX_SUBJECT: usize = 200;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CaseLogRecord {
    pub tenant: String,
    pub id: String,
    pub subject: String,
    pub subject_kind: String,
    pub unit: String,
    pub concern: String,
    pub concern_degree: String,
    pub concern_area: String,
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
    pub fn log_name(&self) -> CaseLogName {
        CaseLogName::new(&self.tenant, &self.id)
    }

    pub fn name(&self) -> String {
        self.log_name().to_string()
    }

    pub fn is_active(&self) -> bool {
        self.state == CaseLogState::Active.as_str_name()
    }

    /// The log as written back after a change at `at` (the store applies it
    /// at the version read, and bumps it).
    pub fn changed(&self, at: DateTime<Utc>) -> CaseLogRecord {
        CaseLogRecord {
            update_time: at,
            last_activity_time: at,
            ..self.clone()
        }
    }

    /// The log as the store holds it after a change (`changed`) applied.
    pub fn saved(self) -> CaseLogRecord {
        CaseLogRecord {
            version: self.version + 1,
            ..self
        }
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
    /// The former holder leaves the log when the baton passes (by default
    /// she stays on as a participant).
    pub release_former_holder: bool,
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
        ReferralName::new(&self.tenant, &self.case_log, &self.id).to_string()
    }
}

/// A holder in the baton's history: professional, unit, since.
pub type HolderRow = (String, String, DateTime<Utc>);

/// The state authorization and the baton need about one log.
#[derive(Debug, Clone)]
pub struct LogContext {
    pub log: CaseLogRecord,
    /// The active participants.
    pub participants: Vec<ParticipantRecord>,
    pub pending_handover: Option<HandoverRecord>,
    pub pending_transfer: Option<TransferRecord>,
}

/// What an external system's summary is made of, read in one transaction.
#[derive(Debug, Clone)]
pub struct SummaryRows {
    pub log: CaseLogRecord,
    pub level_changes: Vec<LevelChangeRecord>,
    pub measures: Vec<MeasureRecord>,
    pub evaluations: Vec<EvaluationRecord>,
    pub holders: Vec<HolderRow>,
}

// Enum validation: stored by name; `UNSPECIFIED` (where required) and unknown
// numbers are refused.

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

/// Optional: unspecified is allowed, unknown values are not.
pub fn concern_degree(value: i32) -> Result<ConcernDegree, String> {
    ConcernDegree::try_from(value).map_err(|_| "unknown degree".into())
}

/// Optional: unspecified is allowed, unknown values are not.
pub fn concern_area(value: i32) -> Result<ConcernArea, String> {
    ConcernArea::try_from(value).map_err(|_| "unknown concern area".into())
}

pub fn evaluation_decision(value: i32) -> Result<EvaluationDecision, String> {
    match EvaluationDecision::try_from(value) {
        Ok(EvaluationDecision::Unspecified) | Err(_) => {
            Err("required: one of the four decisions".into())
        }
        Ok(d) => Ok(d),
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Records for the domain's unit tests.

    use super::*;

    pub const SCHOOL: &str = "tenants/4201/units/school";
    pub const NURSE: &str = "tenants/4201/units/nurse";

    pub fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
    }

    pub fn log() -> CaseLogRecord {
        let t = at();
        CaseLogRecord {
            tenant: "4201".into(),
            id: "c".into(),
            subject: "tenants/4201/persons/p".into(),
            subject_kind: "SUBJECT_KIND_CHILD".into(),
            unit: SCHOOL.into(),
            concern: "x".into(),
            concern_degree: "CONCERN_DEGREE_UNSPECIFIED".into(),
            concern_area: "CONCERN_AREA_UNSPECIFIED".into(),
            level: "LEVEL_1".into(),
            state: "CASE_LOG_STATE_ACTIVE".into(),
            holder: "kari".into(),
            holder_unit: SCHOOL.into(),
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

    pub fn participant(unit: &str, professional: &str, removed: bool) -> ParticipantRecord {
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
            create_time: at(),
        }
    }

    pub fn offer_to(to: &str, unit: &str) -> HandoverRecord {
        HandoverRecord {
            tenant: "4201".into(),
            case_log: "c".into(),
            id: "h".into(),
            to_professional: to.into(),
            to_unit: unit.into(),
            from_professional: "kari".into(),
            message: String::new(),
            state: "HANDOVER_STATE_OFFERED".into(),
            transfer: String::new(),
            version: 1,
            create_time: at(),
            decide_time: None,
            release_former_holder: false,
        }
    }

    pub fn transfer(to_unit: &str) -> TransferRecord {
        TransferRecord {
            tenant: "4201".into(),
            case_log: "c".into(),
            id: "t".into(),
            to_unit: to_unit.into(),
            to_professional: "nils".into(),
            reason: "TRANSFER_REASON_MOVING".into(),
            note: String::new(),
            state: "TRANSFER_STATE_PENDING".into(),
            handover: "h".into(),
            create_time: at(),
            decide_time: None,
        }
    }

    /// A log with `offer` open (and its transfer pending, if it has one).
    pub fn with_offer(offer: &HandoverRecord) -> CaseLogRecord {
        CaseLogRecord {
            pending_handover: offer.id.clone(),
            pending_transfer: offer.transfer.clone(),
            ..log()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_logs_start_at_level_one() {
        assert!(level(Level::Level0 as i32).is_err());
        assert!(level(0).is_err());
        assert!(level(99).is_err());
        assert_eq!(level(Level::Level2 as i32).unwrap(), Level::Level2);
    }

    #[test]
    fn optional_enums_refuse_only_unknown_values() {
        assert_eq!(concern_area(0).unwrap(), ConcernArea::Unspecified);
        assert_eq!(concern_area(2).unwrap(), ConcernArea::Environment);
        assert!(concern_area(99).is_err());
        assert!(concern_degree(-1).is_err());
        assert_eq!(
            entry_kind(EntryKind::GuardianContact as i32).unwrap(),
            EntryKind::GuardianContact
        );
        assert!(evaluation_decision(0).is_err());
    }
}
