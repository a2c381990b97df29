//! A unit's meeting series: its dates become the unit's BTI meetings with
//! their slots, in one transaction.

use bti_proto::scheduling::*;
use bti_runtime::api::{PageToken, new_id, page_size};
use bti_runtime::auth::Principal;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::{App, json};
use crate::api::convert;
use crate::domain::access::{leads, permission_denied};
use crate::domain::*;
use crate::domain::{attendance, recurrence};
use crate::store::Idem;

impl App {
    pub async fn create_meeting_series(
        &self,
        p: &Principal,
        r: CreateMeetingSeriesRequest,
    ) -> ApiResult<MeetingSeries> {
        let unit = UnitName::parse("parent", &r.parent)?;
        if !leads(p, &r.parent) {
            return Err(permission_denied(
                "only the unit's leaders create its meeting series",
            ));
        }
        let idem = Idem::of(&r.request_id, &r)?;
        let s = r.meeting_series.unwrap_or_default();
        let mut v = Violations::new();
        v.text("meeting_series.display_name", &s.display_name, 200);
        v.optional_text("meeting_series.location", &s.location, 200);
        let tz = v.check(
            "meeting_series.time_zone",
            recurrence::time_zone(&s.time_zone),
        );
        let duration = convert::duration(&mut v, "meeting_series.duration", s.duration.as_ref());
        let slot = convert::duration(
            &mut v,
            "meeting_series.slot_duration",
            s.slot_duration.as_ref(),
        );
        if s.slot_capacity < 0 || s.slot_capacity > 20 {
            v.add("meeting_series.slot_capacity", "must be between 1 and 20");
        }
        if s.standing_units.is_empty() {
            v.add(
                "meeting_series.standing_units",
                "required: the standing team",
            );
        }
        for (i, u) in s.standing_units.iter().enumerate() {
            let field = format!("meeting_series.standing_units[{i}]");
            match UnitName::parse(&field, u) {
                Ok(n) if n.tenant == unit.tenant => {}
                Ok(_) => v.add(field, "must be a unit of the same municipality"),
                Err(_) => v.add(field, "must be tenants/{tenant}/units/{unit}"),
            }
        }
        let mut starts = Vec::new();
        if let Some(tz) = tz {
            match (s.recurrence.is_empty(), s.start_times.is_empty()) {
                (false, true) => match recurrence::expand(&s.first_start, &s.recurrence, tz) {
                    Ok(d) => starts = d,
                    Err(e) if s.first_start.is_empty() => v.add(
                        "meeting_series.first_start",
                        format!("required with a recurrence ({e})"),
                    ),
                    Err(e) => v.add("meeting_series.recurrence", e),
                },
                (true, false) => match recurrence::explicit(&s.start_times, tz) {
                    Ok(d) => starts = d,
                    Err((i, e)) => v.add(format!("meeting_series.start_times[{i}]"), e),
                },
                _ => v.add(
                    "meeting_series.recurrence",
                    "give either a recurrence or start_times",
                ),
            }
        }
        let slot_starts = match (duration, slot) {
            (Some(d), Some(sl)) => match recurrence::slots(chrono::DateTime::UNIX_EPOCH, d, sl) {
                Ok(x) => x.len(),
                Err(e) => {
                    v.add("meeting_series.slot_duration", e);
                    0
                }
            },
            _ => 0,
        };
        v.finish()?;
        for (i, u) in s.standing_units.iter().enumerate() {
            if !self.directory.unit_exists(u).await? {
                return Err(ApiError::invalid(
                    format!("meeting_series.standing_units[{i}]"),
                    "unknown unit",
                ));
            }
        }
        let (duration, slot) = (duration.expect("checked"), slot.expect("checked"));
        let now = self.now();
        let series = SeriesRecord {
            tenant: unit.tenant.clone(),
            unit: unit.unit.clone(),
            id: new_id(),
            display_name: s.display_name.clone(),
            time_zone: tz.map(|t| t.name().to_string()).unwrap_or_default(),
            first_start: s.first_start.clone(),
            recurrence: json(&s.recurrence),
            start_times: json(&s.start_times),
            duration_secs: duration.num_seconds(),
            slot_secs: slot.num_seconds(),
            slot_capacity: i64::from(s.slot_capacity.max(1)),
            location: s.location.clone(),
            standing_units: json(&s.standing_units),
            version: 1,
            create_time: now,
        };
        let mut meetings = Vec::with_capacity(starts.len());
        let mut slots = Vec::with_capacity(starts.len() * slot_starts);
        for start in starts {
            let mut m =
                self.unit_meeting(p, &unit, start, duration, &s.location, &series.name(), now);
            let team = s.standing_units.iter().map(|u| attendance::Wanted {
                role: ParticipantRole::Unit.as_str_name().to_string(),
                unit: u.clone(),
                ..Default::default()
            });
            let id = m.meeting.id.clone();
            attendance::add(&mut m.participants, &unit.tenant, &id, team.collect());
            for (i, t) in recurrence::slots(start, duration, slot)
                .expect("checked")
                .into_iter()
                .enumerate()
            {
                slots.push(SlotRecord {
                    tenant: unit.tenant.clone(),
                    unit: unit.unit.clone(),
                    meeting: m.meeting.id.clone(),
                    id: (i + 1).to_string(),
                    start_time: t,
                    duration_secs: slot.num_seconds(),
                    capacity: series.slot_capacity,
                    booked: 0,
                });
            }
            meetings.push(m);
        }
        let stored = self
            .store
            .create_series(&series, &meetings, &slots, &idem)
            .await?;
        let names = self
            .store
            .series_meetings(&stored.tenant, &stored.name())
            .await?;
        self.committed(convert::series(&stored, names))
    }

    /// A unit's BTI meeting at `start`, with its standing team as unit
    /// participants (the cases come by booking).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn unit_meeting(
        &self,
        p: &Principal,
        unit: &UnitName,
        start: chrono::DateTime<chrono::Utc>,
        duration: chrono::Duration,
        location: &str,
        series: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> MeetingView {
        let organizer = match p {
            Principal::Employee { subject, .. } => subject.clone(),
            other => other.label(),
        };
        MeetingView {
            meeting: MeetingRecord {
                tenant: unit.tenant.clone(),
                unit: unit.unit.clone(),
                id: new_id(),
                kind: MeetingKind::Bti.as_str_name().to_string(),
                case_log: String::new(),
                subject: String::new(),
                series: series.to_string(),
                slot: String::new(),
                start_time: start,
                duration_secs: duration.num_seconds(),
                location: location.to_string(),
                video_link: String::new(),
                agenda: "[]".into(),
                organizer,
                organizer_unit: unit.to_string(),
                state: MeetingState::Scheduled.as_str_name().to_string(),
                minutes_entry: String::new(),
                sequence: 0,
                version: 1,
                create_time: now,
                update_time: now,
            },
            participants: Vec::new(),
        }
    }

    pub async fn get_meeting_series(
        &self,
        p: &Principal,
        r: GetMeetingSeriesRequest,
    ) -> ApiResult<MeetingSeries> {
        let n = SeriesName::parse("name", &r.name)?;
        let not_found = || ApiError::NotFound(r.name.clone());
        let s = self
            .store
            .get_series(&n.tenant, &n.unit, &n.series)
            .await?
            .ok_or_else(not_found)?;
        if !p.is_employee_of(&n.tenant) {
            return Err(not_found());
        }
        let names = self.store.series_meetings(&s.tenant, &s.name()).await?;
        Ok(convert::series(&s, names))
    }

    pub async fn list_meeting_series(
        &self,
        p: &Principal,
        r: ListMeetingSeriesRequest,
    ) -> ApiResult<ListMeetingSeriesResponse> {
        let unit = UnitName::parse("parent", &r.parent)?;
        if !p.is_employee_of(&unit.tenant) {
            return Err(permission_denied(
                "only the municipality's employees see its meeting series",
            ));
        }
        let size = page_size("page_size", r.page_size)?;
        let query = [r.parent.as_str()];
        let offset = offset_of(&r.page_token, &query)?;
        let rows = self
            .store
            .list_series(&unit.tenant, &unit.unit, offset, size + 1)
            .await?;
        let (rows, next) = next_offset(rows, offset, size, &query);
        let mut out = Vec::with_capacity(rows.len());
        for s in rows {
            let names = self.store.series_meetings(&s.tenant, &s.name()).await?;
            out.push(convert::series(&s, names));
        }
        Ok(ListMeetingSeriesResponse {
            meeting_series: out,
            next_page_token: next,
        })
    }
}

/// The offset a page token carries (lists here are small and ordered by
/// time, where offsets are stable enough between pages).
pub(crate) fn offset_of(token: &str, query: &[&str]) -> ApiResult<i64> {
    Ok(match PageToken::decode("page_token", token, query)? {
        Some(t) => t
            .after
            .parse()
            .map_err(|_| ApiError::invalid("page_token", "is not a page token of this query"))?,
        None => 0,
    })
}

/// The next page's token after `offset` with `size` rows, if there are more.
pub(crate) fn next_offset<T>(
    mut rows: Vec<T>,
    offset: i64,
    size: i64,
    query: &[&str],
) -> (Vec<T>, String) {
    if rows.len() as i64 > size {
        rows.truncate(size as usize);
        (rows, PageToken::encode(&(offset + size).to_string(), query))
    } else {
        (rows, String::new())
    }
}
