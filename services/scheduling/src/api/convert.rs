//! Records <-> protobuf messages, and the request fields only the API
//! layer interprets (durations, times, links, filters).

use bti_proto::scheduling::*;
use bti_runtime::api::{enum_of, etag, timestamp};
use bti_runtime::{ApiError, ApiResult, Violations};
use chrono::{DateTime, Utc};

use crate::domain::attendance::Wanted;
use crate::domain::filter;
use crate::domain::*;
use crate::store::{DeadlineQuery, MeetingQuery};

fn list(value: &str) -> Vec<String> {
    serde_json::from_str(value).unwrap_or_default()
}

fn duration_of(secs: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: secs,
        nanos: 0,
    })
}

pub fn series(s: &SeriesRecord, meetings: Vec<String>) -> MeetingSeries {
    MeetingSeries {
        name: s.name(),
        display_name: s.display_name.clone(),
        time_zone: s.time_zone.clone(),
        first_start: s.first_start.clone(),
        recurrence: list(&s.recurrence),
        start_times: list(&s.start_times),
        duration: duration_of(s.duration_secs),
        slot_duration: duration_of(s.slot_secs),
        slot_capacity: s.slot_capacity as i32,
        location: s.location.clone(),
        standing_units: list(&s.standing_units),
        meetings,
        create_time: Some(timestamp(s.create_time)),
        etag: etag(s.version),
    }
}

pub fn participant(p: &ParticipantRecord) -> Participant {
    Participant {
        role: enum_of(ParticipantRole::from_str_name, &p.role),
        unit: p.unit.clone(),
        professional: p.professional.clone(),
        person: p.person.clone(),
        representation: p.representation.clone(),
        response: enum_of(ParticipantResponse::from_str_name, &p.response),
    }
}

pub fn meeting(v: &MeetingView) -> Meeting {
    let m = &v.meeting;
    Meeting {
        name: m.name(),
        kind: enum_of(MeetingKind::from_str_name, &m.kind),
        case_log: m.case_log.clone(),
        meeting_series: m.series.clone(),
        slot: m.slot.clone(),
        start_time: Some(timestamp(m.start_time)),
        duration: duration_of(m.duration_secs),
        location: m.location.clone(),
        video_link: m.video_link.clone(),
        agenda: list(&m.agenda),
        participants: v.active_participants().map(participant).collect(),
        organizer: m.organizer.clone(),
        state: enum_of(MeetingState::from_str_name, &m.state),
        slot_duration: None,
        slot_capacity: 0,
        minutes_entry: m.minutes_entry.clone(),
        sequence: m.sequence,
        create_time: Some(timestamp(m.create_time)),
        update_time: Some(timestamp(m.update_time)),
        etag: etag(m.version),
    }
}

pub fn slot(s: &SlotRecord) -> Slot {
    Slot {
        name: s.name(),
        start_time: Some(timestamp(s.start_time)),
        duration: duration_of(s.duration_secs),
        capacity: s.capacity as i32,
        booked: s.booked as i32,
        state: if s.booked >= s.capacity {
            SlotState::Busy
        } else {
            SlotState::Free
        } as i32,
    }
}

pub fn deadline(d: &DeadlineRecord) -> Deadline {
    Deadline {
        name: d.name(),
        kind: enum_of(DeadlineKind::from_str_name, &d.kind),
        case_log: d.case_log.clone(),
        resource: d.resource.clone(),
        unit: d.unit.clone(),
        responsible: d.responsible.clone(),
        due_time: Some(timestamp(d.due_time)),
        remind_time: Some(timestamp(d.remind_time)),
        escalate_time: Some(timestamp(d.escalate_time)),
        state: enum_of(DeadlineState::from_str_name, &d.state),
        stage: enum_of(DeadlineStage::from_str_name, &d.stage),
        close_time: d.close_time.map(timestamp),
        create_time: Some(timestamp(d.create_time)),
        update_time: Some(timestamp(d.update_time)),
        etag: etag(d.version),
    }
}

pub fn access_record(a: &AccessRow) -> AccessRecord {
    AccessRecord {
        name: format!("{}/schedulingAccessRecords/{}", a.subject, a.id),
        actor: a.actor.clone(),
        resource: a.resource.clone(),
        action: a.action.clone(),
        purpose: a.purpose.clone(),
        create_time: Some(timestamp(a.create_time)),
    }
}

pub fn wanted(p: &Participant) -> Wanted {
    Wanted {
        role: ParticipantRole::try_from(p.role)
            .unwrap_or(ParticipantRole::Unspecified)
            .as_str_name()
            .to_string(),
        unit: p.unit.clone(),
        professional: p.professional.clone(),
        person: p.person.clone(),
        representation: p.representation.clone(),
    }
}

/// A required positive duration of whole seconds, at most a day.
pub fn duration(
    v: &mut Violations,
    field: &str,
    d: Option<&prost_types::Duration>,
) -> Option<chrono::Duration> {
    match d {
        Some(d) if d.seconds > 0 && d.seconds <= 86_400 && d.nanos == 0 => {
            Some(chrono::Duration::seconds(d.seconds))
        }
        Some(_) => {
            v.add(field, "must be whole seconds between 1 second and 24 hours");
            None
        }
        None => {
            v.add(field, "required");
            None
        }
    }
}

/// A required timestamp.
pub fn time(
    v: &mut Violations,
    field: &str,
    t: Option<&prost_types::Timestamp>,
) -> Option<DateTime<Utc>> {
    match t {
        Some(t) => v.check(field, bti_runtime::api::check_timestamp(t)),
        None => {
            v.add(field, "required");
            None
        }
    }
}

/// A digital meeting's link: https, no credentials, bounded.
pub fn check_link(v: &mut Violations, field: &str, link: &str) {
    if link.is_empty() {
        return;
    }
    match url::Url::parse(link) {
        Ok(u)
            if u.scheme() == "https"
                && u.username().is_empty()
                && u.password().is_none()
                && link.len() <= 500 => {}
        _ => v.add(
            field,
            "must be an https link without credentials, at most 500 characters",
        ),
    }
}

fn enum_value<E>(
    field: &str,
    value: &str,
    prefix: &str,
    parse: fn(&str) -> Option<E>,
) -> ApiResult<String> {
    let full = if value.starts_with(prefix) {
        value.to_string()
    } else {
        format!("{prefix}{value}")
    };
    parse(&full)
        .map(|_| full)
        .ok_or_else(|| ApiError::invalid("filter", format!("{field}: unknown value {value}")))
}

fn when(value: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::invalid("filter", "start_time: must be an RFC 3339 time"))
}

fn terms(f: &str) -> ApiResult<Vec<filter::Term>> {
    filter::parse(f).map_err(|e| ApiError::invalid("filter", e))
}

/// ListMeetings' filter.
pub fn meeting_filter(f: &str) -> ApiResult<MeetingQuery> {
    let mut q = MeetingQuery::default();
    for t in terms(f)? {
        match (t.field.as_str(), t.op.as_str()) {
            ("case_log", "=") => q.case_log = t.value,
            ("state", "=") => {
                q.state = enum_value(
                    "state",
                    &t.value,
                    "MEETING_STATE_",
                    MeetingState::from_str_name,
                )?
            }
            ("kind", "=") => {
                q.kind = enum_value(
                    "kind",
                    &t.value,
                    "MEETING_KIND_",
                    MeetingKind::from_str_name,
                )?
            }
            ("start_time", ">=") => q.from = Some(when(&t.value)?),
            ("start_time", "<") => q.until = Some(when(&t.value)?),
            (field, op) => {
                return Err(ApiError::invalid(
                    "filter",
                    format!(
                        "{field} {op} is not supported: case_log =, state =, kind =, start_time >= and <"
                    ),
                ));
            }
        }
    }
    Ok(q)
}

/// ListDeadlines' filter, and whose deadlines it asks for (`me` or `unit`).
pub struct DeadlineFilter {
    pub query: DeadlineQuery,
    pub whose: Option<String>,
}

pub fn deadline_filter(f: &str) -> ApiResult<DeadlineFilter> {
    let mut out = DeadlineFilter {
        query: DeadlineQuery::default(),
        whose: None,
    };
    for t in terms(f)? {
        if t.op != "=" {
            return Err(ApiError::invalid(
                "filter",
                format!("{} supports only =", t.field),
            ));
        }
        let q = &mut out.query;
        match t.field.as_str() {
            "responsible" if t.value == "me" => out.whose = Some("me".into()),
            "responsible" => return Err(ApiError::invalid("filter", "responsible: only \"me\"")),
            "unit" => {
                UnitName::parse("filter", &t.value)?;
                q.unit = t.value;
                out.whose.get_or_insert_with(|| "unit".into());
            }
            "state" => {
                q.state = enum_value(
                    "state",
                    &t.value,
                    "DEADLINE_STATE_",
                    DeadlineState::from_str_name,
                )?
            }
            "stage" => {
                q.stage = enum_value(
                    "stage",
                    &t.value,
                    "DEADLINE_STAGE_",
                    DeadlineStage::from_str_name,
                )?
            }
            "kind" => {
                q.kind = enum_value(
                    "kind",
                    &t.value,
                    "DEADLINE_KIND_",
                    DeadlineKind::from_str_name,
                )?
            }
            "case_log" => q.case_log = t.value,
            other => {
                return Err(ApiError::invalid(
                    "filter",
                    format!(
                        "{other} is not supported: responsible, unit, state, stage, kind, case_log"
                    ),
                ));
            }
        }
    }
    Ok(out)
}
