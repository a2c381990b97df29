//! The scheduling service's records and pure rules: recurrence, who attends
//! and who may act, the deadlines of the model, and the invitations.

pub mod access;
pub mod attendance;
pub mod calendar;
pub mod deadlines;
pub mod filter;
pub mod recurrence;

use chrono::{DateTime, Utc};

pub const SOURCE: &str = "//bti.no/scheduling";

bti_runtime::resource_name!(
    /// A unit.
    pub struct UnitName = "tenants/{tenant}/units/{unit}" { tenant, unit }
);
bti_runtime::resource_name!(
    /// A tenant.
    pub struct TenantName = "tenants/{tenant}" { tenant }
);
bti_runtime::resource_name!(
    /// A person in the directory.
    pub struct PersonName = "tenants/{tenant}/persons/{person}" { tenant, person }
);
bti_runtime::resource_name!(
    /// A relay log.
    pub struct CaseLogName = "tenants/{tenant}/caseLogs/{case_log}" { tenant, case_log }
);
bti_runtime::resource_name!(
    /// A unit's meeting series.
    pub struct SeriesName =
        "tenants/{tenant}/units/{unit}/meetingSeries/{series}" { tenant, unit, series }
);
bti_runtime::resource_name!(
    /// A meeting.
    pub struct MeetingName = "tenants/{tenant}/units/{unit}/meetings/{meeting}" { tenant, unit, meeting }
);
bti_runtime::resource_name!(
    /// A slot of a unit's BTI meeting.
    pub struct SlotName =
        "tenants/{tenant}/units/{unit}/meetings/{meeting}/slots/{slot}" { tenant, unit, meeting, slot }
);
bti_runtime::resource_name!(
    /// A deadline.
    pub struct DeadlineName = "tenants/{tenant}/deadlines/{deadline}" { tenant, deadline }
);

/// A series as stored. Lists are JSON arrays.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SeriesRecord {
    pub tenant: String,
    pub unit: String,
    pub id: String,
    pub display_name: String,
    pub time_zone: String,
    pub first_start: String,
    pub recurrence: String,
    pub start_times: String,
    pub duration_secs: i64,
    pub slot_secs: i64,
    pub slot_capacity: i64,
    pub location: String,
    pub standing_units: String,
    pub version: i64,
    pub create_time: DateTime<Utc>,
}

impl SeriesRecord {
    pub fn name(&self) -> String {
        SeriesName::new(&self.tenant, &self.unit, &self.id).to_string()
    }
}

/// A meeting as stored: a unit's BTI meeting (no case log, with slots), a
/// case booked into a slot, or a case's own meeting.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MeetingRecord {
    pub tenant: String,
    pub unit: String,
    pub id: String,
    pub kind: String,
    pub case_log: String,
    /// The child, for case meetings (never shown; for access checks and the
    /// access log).
    pub subject: String,
    pub series: String,
    pub slot: String,
    pub start_time: DateTime<Utc>,
    pub duration_secs: i64,
    pub location: String,
    pub video_link: String,
    /// JSON array of agenda points.
    pub agenda: String,
    pub organizer: String,
    pub organizer_unit: String,
    pub state: String,
    pub minutes_entry: String,
    pub sequence: i64,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl MeetingRecord {
    pub fn name(&self) -> String {
        MeetingName::new(&self.tenant, &self.unit, &self.id).to_string()
    }

    pub fn end_time(&self) -> DateTime<Utc> {
        self.start_time + chrono::Duration::seconds(self.duration_secs)
    }

    pub fn is_case(&self) -> bool {
        !self.case_log.is_empty()
    }

    pub fn is_scheduled(&self) -> bool {
        self.state == bti_proto::scheduling::MeetingState::Scheduled.as_str_name()
    }
}

/// Someone on a meeting. A participant taken off (a unit whose consent
/// ended) stays as `removed` so that their calendar gets its CANCEL.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ParticipantRecord {
    pub tenant: String,
    pub meeting: String,
    /// Opaque and stable: the calendar's attendee address.
    pub id: String,
    pub role: String,
    pub unit: String,
    pub professional: String,
    pub person: String,
    pub representation: String,
    pub response: String,
    pub removed: bool,
}

/// A meeting with its participants.
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingView {
    pub meeting: MeetingRecord,
    pub participants: Vec<ParticipantRecord>,
}

impl MeetingView {
    pub fn active_participants(&self) -> impl Iterator<Item = &ParticipantRecord> {
        self.participants.iter().filter(|p| !p.removed)
    }
}

/// A slot of a unit's BTI meeting.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SlotRecord {
    pub tenant: String,
    pub unit: String,
    pub meeting: String,
    pub id: String,
    pub start_time: DateTime<Utc>,
    pub duration_secs: i64,
    pub capacity: i64,
    pub booked: i64,
}

impl SlotRecord {
    pub fn name(&self) -> String {
        SlotName::new(&self.tenant, &self.unit, &self.meeting, &self.id).to_string()
    }
}

/// A deadline as stored. `cause` is unique per tenant: what derived it
/// (a log's guardian contact, a measure, a consent for a log, a log's n-th
/// review), so that a redelivered event finds it again.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeadlineRecord {
    pub tenant: String,
    pub id: String,
    pub kind: String,
    pub cause: String,
    pub case_log: String,
    pub subject: String,
    pub resource: String,
    pub unit: String,
    pub responsible: String,
    pub due_time: DateTime<Utc>,
    pub remind_time: DateTime<Utc>,
    pub escalate_time: DateTime<Utc>,
    pub state: String,
    pub stage: String,
    pub close_time: Option<DateTime<Utc>>,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl DeadlineRecord {
    pub fn name(&self) -> String {
        DeadlineName::new(&self.tenant, &self.id).to_string()
    }

    pub fn is_open(&self) -> bool {
        self.state == bti_proto::scheduling::DeadlineState::Open.as_str_name()
    }

    pub fn timing(&self) -> deadlines::Timing {
        deadlines::Timing {
            remind: self.remind_time,
            due: self.due_time,
            escalate: self.escalate_time,
        }
    }
}

/// What scheduling knows of a relay log, from the relay log's events.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LogRecord {
    pub tenant: String,
    pub case_log: String,
    pub subject: String,
    pub unit: String,
    pub holder: String,
    pub holder_unit: String,
    pub active: bool,
    pub open_time: DateTime<Utc>,
}

/// One row of the access log: who read or changed a child's meetings or
/// deadlines, and why it was allowed.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AccessRow {
    pub tenant: String,
    pub subject: String,
    pub id: String,
    pub actor: String,
    pub resource: String,
    pub action: String,
    pub purpose: String,
    pub create_time: DateTime<Utc>,
}

/// A child's consent as scheduling follows it: its end of validity.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ConsentValidity {
    pub tenant: String,
    pub consent: String,
    pub subject: String,
    pub valid_until: Option<DateTime<Utc>>,
    pub active: bool,
}
