//! Meetings: created outside a series (an urgent unit meeting, a case's
//! collaboration or evaluation meeting), read, moved, cancelled, completed
//! and answered. Every read and write of a case's meeting is access-logged.

use bti_proto::scheduling::*;
use bti_runtime::api::{check_etag, new_id, page_size, update_paths};
use bti_runtime::auth::Principal;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::series::{next_offset, offset_of};
use super::{App, Seen, json};
use crate::api::convert;
use crate::domain::access::{Standing, leads, participant_of, permission_denied};
use crate::domain::attendance::{self, Wanted};
use crate::domain::recurrence;
use crate::domain::*;
use crate::store::{Idem, MeetingQuery, NewMeeting};

impl App {
    pub async fn create_meeting(
        &self,
        p: &Principal,
        r: CreateMeetingRequest,
    ) -> ApiResult<Meeting> {
        let unit = UnitName::parse("parent", &r.parent)?;
        let idem = Idem::of(&r.request_id, &r)?;
        let m = r.meeting.clone().unwrap_or_default();
        let mut v = Violations::new();
        let kind = MeetingKind::try_from(m.kind).unwrap_or(MeetingKind::Unspecified);
        let start = convert::time(&mut v, "meeting.start_time", m.start_time.as_ref());
        let duration = convert::duration(&mut v, "meeting.duration", m.duration.as_ref());
        v.optional_text("meeting.location", &m.location, 200);
        convert::check_link(&mut v, "meeting.video_link", &m.video_link);
        for (i, a) in m.agenda.iter().enumerate() {
            v.text(&format!("meeting.agenda[{i}]"), a, 500);
        }
        let wanted: Vec<Wanted> = m.participants.iter().map(convert::wanted).collect();
        attendance::check_wanted("meeting.participants", &wanted, &mut v);
        match kind {
            MeetingKind::Unspecified => v.add("meeting.kind", "required"),
            MeetingKind::Bti if !m.case_log.is_empty() => v.add(
                "meeting.case_log",
                "a case takes a BTI meeting's slot with BookSlot",
            ),
            MeetingKind::Bti => {}
            _ if m.case_log.is_empty() => {
                v.add("meeting.case_log", "required for a case's meeting")
            }
            _ => {}
        }
        if let Some(s) = start
            && s <= self.now()
        {
            v.add("meeting.start_time", "must be in the future");
        }
        let slot = if kind == MeetingKind::Bti {
            let sd = m.slot_duration.as_ref().or(m.duration.as_ref());
            convert::duration(&mut v, "meeting.slot_duration", sd)
        } else {
            None
        };
        v.finish()?;
        let (start, duration) = (start.expect("checked"), duration.expect("checked"));
        let now = self.now();
        if kind == MeetingKind::Bti {
            if !leads(p, &r.parent) {
                return Err(permission_denied(
                    "only the unit's leaders call an extra BTI meeting",
                ));
            }
            let slot = slot.expect("checked");
            let starts = recurrence::slots(start, duration, slot)
                .map_err(|e| ApiError::invalid("meeting.slot_duration", e))?;
            let mut view = self.unit_meeting(p, &unit, start, duration, &m.location, "", now);
            view.meeting.video_link = m.video_link.clone();
            for w in wanted {
                if w.role == ParticipantRole::Unit.as_str_name() {
                    attendance::add(
                        &mut view.participants,
                        &unit.tenant,
                        &view.meeting.id.clone(),
                        vec![w],
                    );
                }
            }
            let slots: Vec<SlotRecord> = starts
                .into_iter()
                .enumerate()
                .map(|(i, t)| SlotRecord {
                    tenant: unit.tenant.clone(),
                    unit: unit.unit.clone(),
                    meeting: view.meeting.id.clone(),
                    id: (i + 1).to_string(),
                    start_time: t,
                    duration_secs: slot.num_seconds(),
                    capacity: i64::from(m.slot_capacity.max(1)),
                    booked: 0,
                })
                .collect();
            let stored = self
                .store
                .create_meeting(
                    NewMeeting {
                        view: &view,
                        slots: &slots,
                        takes: None,
                        access: &[],
                        events: &[self.scheduled_event(&view)],
                    },
                    "CreateMeeting",
                    &idem,
                )
                .await?;
            return self.committed(convert::meeting(&stored));
        }
        let log = self.holders_log(p, &m.case_log).await?;
        if log.tenant != unit.tenant {
            return Err(ApiError::invalid(
                "meeting.case_log",
                "must be a relay log of the unit's municipality",
            ));
        }
        let id = new_id();
        let participants = self.case_participants(&log, &id, &[], wanted).await?;
        let view = MeetingView {
            meeting: self.case_meeting(
                &log,
                &unit,
                id,
                kind,
                (start, duration.num_seconds()),
                (&m.location, &m.video_link),
                &m.agenda,
            ),
            participants,
        };
        let access = [self.access(
            p,
            &unit.tenant,
            &log.subject,
            &view.meeting.name(),
            true,
            "CreateMeeting: baton holder".into(),
        )];
        let stored = self
            .store
            .create_meeting(
                NewMeeting {
                    view: &view,
                    slots: &[],
                    takes: None,
                    access: &access,
                    events: &[self.scheduled_event(&view)],
                },
                "CreateMeeting",
                &idem,
            )
            .await?;
        self.committed(convert::meeting(&stored))
    }

    /// Logs a read of a case's meeting.
    /// The access row of a read of a case's meeting (a unit's has none).
    fn read_row(&self, p: &Principal, seen: &Seen, method: &str) -> Option<AccessRow> {
        let m = &seen.view.meeting;
        m.is_case().then(|| {
            let why = format!("{method}: {}", seen.standing.basis());
            self.access(p, &m.tenant, &m.subject, &m.name(), false, why)
        })
    }

    pub async fn get_meeting(&self, p: &Principal, r: GetMeetingRequest) -> ApiResult<Meeting> {
        let seen = self.seen(p, "name", &r.name).await?;
        let rows: Vec<AccessRow> = self.read_row(p, &seen, "GetMeeting").into_iter().collect();
        self.store.log_access(&rows).await?;
        Ok(convert::meeting(&seen.view))
    }

    pub async fn list_meetings(
        &self,
        p: &Principal,
        r: ListMeetingsRequest,
    ) -> ApiResult<ListMeetingsResponse> {
        let (tenant, unit) = match r.parent.strip_suffix("/units/-") {
            Some(t) => (TenantName::parse("parent", t)?.tenant, String::new()),
            None => {
                let u = UnitName::parse("parent", &r.parent)?;
                (u.tenant, u.unit)
            }
        };
        if p.tenant() != Some(tenant.as_str()) {
            return Err(permission_denied(
                "only the municipality's people see its meetings",
            ));
        }
        let filter = convert::meeting_filter(&r.filter)?;
        let size = page_size("page_size", r.page_size)?;
        let query = [r.parent.as_str(), r.filter.as_str()];
        let offset = offset_of(&r.page_token, &query)?;
        let mine = unit.is_empty().then(|| Self::mine(p));
        let rows = self
            .store
            .list_meetings(&MeetingQuery {
                tenant: tenant.clone(),
                unit,
                mine,
                offset,
                limit: size + 1,
                ..filter
            })
            .await?;
        let (views, next) = next_offset(rows, offset, size, &query);
        let mut out = Vec::with_capacity(views.len());
        let mut rows = Vec::new();
        for view in views {
            // The same rule as a Get: what the caller may not see is left out.
            if let Some(seen) = self.judge(p, view).await? {
                rows.extend(self.read_row(p, &seen, "ListMeetings"));
                out.push(convert::meeting(&seen.view));
            }
        }
        // One commit for the page's access rows, before the answer.
        self.store.log_access(&rows).await?;
        Ok(ListMeetingsResponse {
            meetings: out,
            next_page_token: next,
        })
    }

    /// The meeting, if `p` may change it and it is still scheduled.
    async fn changeable(&self, p: &Principal, name: &str, etag: &str) -> ApiResult<Seen> {
        let seen = self.seen(p, "name", name).await?;
        if !seen.standing.may_change() {
            return Err(permission_denied(
                "only the organizer or the unit's leaders change a meeting",
            ));
        }
        check_etag(name, etag, seen.view.meeting.version)?;
        if !seen.view.meeting.is_scheduled() {
            return Err(ApiError::precondition(
                "MEETING_NOT_SCHEDULED",
                name,
                "the meeting is held or cancelled",
            ));
        }
        Ok(seen)
    }

    pub async fn update_meeting(
        &self,
        p: &Principal,
        r: UpdateMeetingRequest,
    ) -> ApiResult<Meeting> {
        let m = r.meeting.unwrap_or_default();
        let paths = update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &[
                "start_time",
                "duration",
                "location",
                "video_link",
                "agenda",
                "participants",
            ],
        )?;
        let seen = self.changeable(p, &m.name, &m.etag).await?;
        let mut view = seen.view;
        let mut v = Violations::new();
        let mut moved = false;
        let mut removed = Vec::new();
        let wanted: Vec<Wanted> = m.participants.iter().map(convert::wanted).collect();
        for path in &paths {
            match path.as_str() {
                "start_time" => {
                    if !view.meeting.slot.is_empty() {
                        v.add(
                            "meeting.start_time",
                            "a booking follows its slot; book another slot instead",
                        );
                    } else if let Some(t) =
                        convert::time(&mut v, "meeting.start_time", m.start_time.as_ref())
                    {
                        if t <= self.now() {
                            v.add("meeting.start_time", "must be in the future");
                        }
                        moved |= t != view.meeting.start_time;
                        view.meeting.start_time = t;
                    }
                }
                "duration" => {
                    if let Some(d) =
                        convert::duration(&mut v, "meeting.duration", m.duration.as_ref())
                    {
                        moved |= d.num_seconds() != view.meeting.duration_secs;
                        view.meeting.duration_secs = d.num_seconds();
                    }
                }
                "location" => {
                    v.optional_text("meeting.location", &m.location, 200);
                    view.meeting.location = m.location.clone();
                }
                "video_link" => {
                    convert::check_link(&mut v, "meeting.video_link", &m.video_link);
                    view.meeting.video_link = m.video_link.clone();
                }
                "agenda" => {
                    for (i, a) in m.agenda.iter().enumerate() {
                        v.text(&format!("meeting.agenda[{i}]"), a, 500);
                    }
                    view.meeting.agenda = json(&m.agenda);
                }
                _ => attendance::check_wanted("meeting.participants", &wanted, &mut v),
            }
        }
        v.finish()?;
        if paths.iter().any(|p| p == "participants") {
            // The list sent is the whole list of additions: those not on it
            // (other than the organizer, guardians and child) are taken off.
            let keep: Vec<Wanted> = if view.meeting.is_case() {
                let log = self
                    .store
                    .get_log(&view.meeting.tenant, &view.meeting.case_log)
                    .await?
                    .ok_or_else(|| {
                        ApiError::precondition(
                            "CASE_LOG_CLOSED",
                            &view.meeting.case_log,
                            "the relay log is no longer active",
                        )
                    })?;
                let guardians = self.directory.guardians(&view.meeting.subject).await?;
                self.checked_wanted(&log, &guardians, wanted).await?
            } else {
                wanted
            };
            let fixed = [
                ParticipantRole::Organizer,
                ParticipantRole::Guardian,
                ParticipantRole::Child,
            ]
            .map(|r| r.as_str_name());
            for q in view.participants.iter_mut() {
                let listed = keep.iter().any(|w| {
                    w.role == q.role
                        && w.unit == q.unit
                        && w.professional == q.professional
                        && w.person == q.person
                });
                if !q.removed && !fixed.contains(&q.role.as_str()) && !listed {
                    q.removed = true;
                    removed.push(q.clone());
                }
            }
            let (tenant, id) = (view.meeting.tenant.clone(), view.meeting.id.clone());
            attendance::add(&mut view.participants, &tenant, &id, keep);
        }
        if moved {
            attendance::reset_responses(&mut view.participants);
        }
        view.meeting.sequence += 1;
        view.meeting.update_time = self.now();
        let access = self.write_row(p, &view, "UpdateMeeting", &seen.standing);
        let events = [self.changed_event(&view, &removed)];
        let stored = self
            .store
            .save_meeting(&view, false, &access, &events)
            .await?;
        self.committed(convert::meeting(&stored))
    }

    fn write_row(
        &self,
        p: &Principal,
        v: &MeetingView,
        method: &str,
        s: &Standing,
    ) -> Vec<AccessRow> {
        let m = &v.meeting;
        if m.is_case() {
            vec![self.access(
                p,
                &m.tenant,
                &m.subject,
                &m.name(),
                true,
                format!("{method}: {}", s.basis()),
            )]
        } else {
            Vec::new()
        }
    }

    pub async fn cancel_meeting(
        &self,
        p: &Principal,
        r: CancelMeetingRequest,
    ) -> ApiResult<Meeting> {
        let seen = self.changeable(p, &r.name, &r.etag).await?;
        let mut view = seen.view;
        view.meeting.state = MeetingState::Cancelled.as_str_name().to_string();
        view.meeting.sequence += 1;
        view.meeting.update_time = self.now();
        let access = self.write_row(p, &view, "CancelMeeting", &seen.standing);
        let events = [self.cancelled_event(&view)];
        let stored = self
            .store
            .save_meeting(&view, true, &access, &events)
            .await?;
        self.committed(convert::meeting(&stored))
    }

    pub async fn complete_meeting(
        &self,
        p: &Principal,
        r: CompleteMeetingRequest,
    ) -> ApiResult<Meeting> {
        let outcome = MeetingState::try_from(r.outcome).unwrap_or(MeetingState::Unspecified);
        let mut v = Violations::new();
        if !matches!(outcome, MeetingState::Held | MeetingState::NoShow) {
            v.add(
                "outcome",
                "must be MEETING_STATE_HELD or MEETING_STATE_NO_SHOW",
            );
        }
        v.finish()?;
        let seen = self.changeable(p, &r.name, &r.etag).await?;
        let mut view = seen.view;
        if !r.minutes_entry.is_empty() {
            let prefix = format!("{}/entries/", view.meeting.case_log);
            let ok = view.meeting.is_case()
                && r.minutes_entry.starts_with(&prefix)
                && bti_runtime::api::validate_resource_id(&r.minutes_entry[prefix.len()..]).is_ok();
            if !ok {
                return Err(ApiError::invalid(
                    "minutes_entry",
                    "must be an entry of the meeting's relay log",
                ));
            }
        }
        if view.meeting.start_time > self.now() {
            return Err(ApiError::precondition(
                "MEETING_NOT_STARTED",
                &r.name,
                "a meeting is completed once it has started",
            ));
        }
        view.meeting.state = outcome.as_str_name().to_string();
        view.meeting.minutes_entry = r.minutes_entry.clone();
        view.meeting.update_time = self.now();
        let access = self.write_row(p, &view, "CompleteMeeting", &seen.standing);
        let stored = self.store.save_meeting(&view, false, &access, &[]).await?;
        self.committed(convert::meeting(&stored))
    }

    pub async fn respond_to_meeting(
        &self,
        p: &Principal,
        r: RespondToMeetingRequest,
    ) -> ApiResult<Meeting> {
        let response =
            ParticipantResponse::try_from(r.response).unwrap_or(ParticipantResponse::Unspecified);
        if response == ParticipantResponse::Unspecified {
            return Err(ApiError::invalid(
                "response",
                "required: accepted, declined or tentative",
            ));
        }
        let seen = self.seen(p, "name", &r.name).await?;
        let mut view = seen.view;
        let Some(me) = participant_of(p, &view).cloned() else {
            return Err(permission_denied(
                "only a participant answers an invitation",
            ));
        };
        if !view.meeting.is_scheduled() {
            return Err(ApiError::precondition(
                "MEETING_NOT_SCHEDULED",
                &r.name,
                "the meeting is held or cancelled",
            ));
        }
        let access = self.write_row(
            p,
            &view,
            "RespondToMeeting",
            &Standing::Participant {
                id: me.id.clone(),
                unit: me.unit.clone(),
            },
        );
        self.store
            .set_response(
                &view.meeting.tenant,
                &me.id,
                response.as_str_name(),
                &access,
            )
            .await?;
        for q in view.participants.iter_mut().filter(|q| q.id == me.id) {
            q.response = response.as_str_name().to_string();
        }
        self.committed(convert::meeting(&view))
    }

    /// Cancels every future meeting of a log that closed.
    pub(crate) async fn cancel_for_log(&self, tenant: &str, case_log: &str) -> ApiResult<usize> {
        let mut n = 0;
        for mut view in self.future_case_meetings(tenant, case_log, "").await? {
            view.meeting.state = MeetingState::Cancelled.as_str_name().to_string();
            view.meeting.sequence += 1;
            view.meeting.update_time = self.now();
            let events = [self.cancelled_event(&view)];
            self.store.save_meeting(&view, true, &[], &events).await?;
            n += 1;
        }
        Ok(n)
    }

    /// The new holder organizes the log's future meetings (the former one
    /// stays on them as a professional when they stay on the log), and owns
    /// the consent renewals the former holder owned.
    pub(crate) async fn pass_baton(
        &self,
        log: &LogRecord,
        from: &str,
        stays: bool,
    ) -> ApiResult<usize> {
        let mut n = 0;
        for mut view in self
            .future_case_meetings(&log.tenant, &log.case_log, "")
            .await?
        {
            let organizer = ParticipantRole::Organizer.as_str_name();
            let mut removed = Vec::new();
            for q in view
                .participants
                .iter_mut()
                .filter(|q| q.role == organizer && !q.removed)
            {
                if stays {
                    q.role = ParticipantRole::Professional.as_str_name().to_string();
                } else {
                    q.removed = true;
                    removed.push(q.clone());
                }
            }
            let holder = Wanted {
                role: organizer.to_string(),
                unit: log.holder_unit.clone(),
                professional: log.holder.clone(),
                ..Default::default()
            };
            let (tenant, id) = (view.meeting.tenant.clone(), view.meeting.id.clone());
            attendance::add(&mut view.participants, &tenant, &id, vec![holder]);
            view.meeting.organizer = log.holder.clone();
            view.meeting.organizer_unit = log.holder_unit.clone();
            view.meeting.sequence += 1;
            view.meeting.update_time = self.now();
            let events = [self.changed_event(&view, &removed)];
            self.store.save_meeting(&view, false, &[], &events).await?;
            n += 1;
        }
        for mut d in self
            .store
            .open_deadlines_of(&log.tenant, &log.case_log)
            .await?
        {
            if d.kind == DeadlineKind::ConsentRenewal.as_str_name() && d.responsible == from {
                d.responsible = log.holder.clone();
                d.update_time = self.now();
                self.store.save_deadline(&d, &[], &[]).await?;
            }
        }
        Ok(n)
    }

    /// A guardian with parental responsibility joins the child's future
    /// meetings; one who no longer has it (or no longer is one) leaves them.
    pub(crate) async fn guardian_changed(
        &self,
        tenant: &str,
        subject: &str,
        guardian: &str,
        responsible: bool,
    ) -> ApiResult<usize> {
        let role = ParticipantRole::Guardian.as_str_name();
        let mut n = 0;
        for mut view in self.future_case_meetings(tenant, "", subject).await? {
            let on = |q: &ParticipantRecord| !q.removed && q.role == role && q.person == guardian;
            let present = view.participants.iter().any(on);
            let mut removed = Vec::new();
            if responsible && !present {
                let w = Wanted {
                    role: role.to_string(),
                    person: guardian.to_string(),
                    ..Default::default()
                };
                let (t, id) = (view.meeting.tenant.clone(), view.meeting.id.clone());
                attendance::add(&mut view.participants, &t, &id, vec![w]);
            } else if !responsible && present {
                for q in view.participants.iter_mut().filter(|q| on(q)) {
                    q.removed = true;
                    removed.push(q.clone());
                }
            } else {
                continue;
            }
            view.meeting.sequence += 1;
            view.meeting.update_time = self.now();
            let events = [self.changed_event(&view, &removed)];
            self.store.save_meeting(&view, false, &[], &events).await?;
            n += 1;
        }
        Ok(n)
    }

    /// Takes `units` off every future meeting of the child: their consent no
    /// longer covers them. Each meeting's change tells them (`removed`).
    pub(crate) async fn remove_units_for(
        &self,
        tenant: &str,
        subject: &str,
        units: &[String],
    ) -> ApiResult<usize> {
        // Another consent may still cover a unit: asked once, not per meeting.
        let mut still = Vec::new();
        for u in units {
            if !self.covered(subject, u).await? {
                still.push(u.clone());
            }
        }
        let mut n = 0;
        for mut view in self.future_case_meetings(tenant, "", subject).await? {
            let removed = attendance::remove_units(&mut view.participants, &still);
            if removed.is_empty() {
                continue;
            }
            view.meeting.sequence += 1;
            view.meeting.update_time = self.now();
            let events = [self.changed_event(&view, &removed)];
            self.store.save_meeting(&view, false, &[], &events).await?;
            n += 1;
        }
        Ok(n)
    }

    async fn future_case_meetings(
        &self,
        tenant: &str,
        case_log: &str,
        subject: &str,
    ) -> ApiResult<Vec<MeetingView>> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .store
                .list_meetings(&MeetingQuery {
                    tenant: tenant.to_string(),
                    case_log: case_log.to_string(),
                    subject: subject.to_string(),
                    state: MeetingState::Scheduled.as_str_name().to_string(),
                    from: Some(self.now()),
                    offset,
                    limit: 200,
                    ..Default::default()
                })
                .await?;
            let done = page.len() < 200;
            offset += page.len() as i64;
            out.extend(page.into_iter().filter(|v| v.meeting.is_case()));
            if done {
                return Ok(out);
            }
        }
    }
}
