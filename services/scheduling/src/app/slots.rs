//! Slots of a unit's BTI meeting, and booking a case into one: the
//! meeting of the case, organized by the log's baton holder, attended by the
//! standing units that the child's consent covers.

use bti_proto::scheduling::*;
use bti_runtime::api::{new_id, page_size};
use bti_runtime::auth::Principal;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::App;
use super::series::{next_offset, offset_of};
use crate::api::convert;
use crate::domain::access::permission_denied;
use crate::domain::attendance::{self, Proposal, Wanted};
use crate::domain::*;
use crate::store::{Idem, NewMeeting};

impl App {
    pub async fn list_slots(
        &self,
        p: &Principal,
        r: ListSlotsRequest,
    ) -> ApiResult<ListSlotsResponse> {
        let seen = self.seen(p, "parent", &r.parent).await?;
        let m = &seen.view.meeting;
        let size = page_size("page_size", r.page_size)?;
        let query = [r.parent.as_str()];
        let offset = offset_of(&r.page_token, &query)?;
        let all = self.store.list_slots(&m.tenant, &m.unit, &m.id).await?;
        let rows: Vec<_> = all
            .into_iter()
            .skip(offset as usize)
            .take(size as usize + 1)
            .collect();
        let (rows, next) = next_offset(rows, offset, size, &query);
        Ok(ListSlotsResponse {
            slots: rows.iter().map(convert::slot).collect(),
            next_page_token: next,
        })
    }

    pub async fn book_slot(&self, p: &Principal, r: BookSlotRequest) -> ApiResult<Meeting> {
        let sn = SlotName::parse("slot", &r.slot)?;
        let ln = CaseLogName::parse("case_log", &r.case_log)?;
        let idem = Idem::of(&r.request_id, &r)?;
        let wanted: Vec<Wanted> = r.participants.iter().map(convert::wanted).collect();
        let mut v = Violations::new();
        attendance::check_wanted("participants", &wanted, &mut v);
        for (i, a) in r.agenda.iter().enumerate() {
            v.text(&format!("agenda[{i}]"), a, 500);
        }
        if ln.tenant != sn.tenant {
            v.add("case_log", "must be a relay log of the slot's municipality");
        }
        v.finish()?;
        let not_found = || ApiError::NotFound(r.slot.clone());
        let meeting_name = MeetingName::new(&sn.tenant, &sn.unit, &sn.meeting).to_string();
        let parent = self
            .store
            .get_meeting(&sn.tenant, &sn.meeting)
            .await?
            .filter(|m| m.meeting.unit == sn.unit && !m.meeting.is_case())
            .ok_or_else(not_found)?;
        if !p.is_employee_of(&sn.tenant) {
            return Err(not_found());
        }
        let slot = self
            .store
            .get_slot(&sn.tenant, &sn.unit, &sn.meeting, &sn.slot)
            .await?
            .ok_or_else(not_found)?;
        if !parent.meeting.is_scheduled() || slot.start_time <= self.now() {
            return Err(ApiError::precondition(
                "MEETING_NOT_BOOKABLE",
                meeting_name,
                "the meeting is past, held or cancelled",
            ));
        }
        let log = self.holders_log(p, &r.case_log).await?;
        let mut standing = Self::standing_units_of(&parent);
        standing.sort();
        standing.dedup();
        let mut covered = Vec::new();
        for u in &standing {
            if self.covered(&log.subject, u).await? {
                covered.push(u.clone());
            }
        }
        let id = new_id();
        let participants = self.case_participants(&log, &id, &covered, wanted).await?;
        let mut meeting = self.case_meeting(
            &log,
            &UnitName::new(&sn.tenant, &sn.unit),
            id,
            MeetingKind::Bti,
            (slot.start_time, slot.duration_secs),
            (&parent.meeting.location, ""),
            &r.agenda,
        );
        meeting.series = parent.meeting.series.clone();
        meeting.slot = slot.name();
        let view = MeetingView {
            meeting,
            participants,
        };
        let access = [self.access(
            p,
            &sn.tenant,
            &log.subject,
            &view.meeting.name(),
            true,
            "BookSlot: baton holder".into(),
        )];
        let events = [self.scheduled_event(&view)];
        let stored = self
            .store
            .create_meeting(
                NewMeeting {
                    view: &view,
                    slots: &[],
                    takes: Some(&slot),
                    access: &access,
                    events: &events,
                },
                "BookSlot",
                &idem,
            )
            .await?;
        self.committed(convert::meeting(&stored))
    }

    /// The relay log, if `p` holds its baton and consent still covers the
    /// holder's unit.
    pub(crate) async fn holders_log(&self, p: &Principal, case_log: &str) -> ApiResult<LogRecord> {
        let n = CaseLogName::parse("case_log", case_log)?;
        let unknown = || ApiError::invalid("case_log", "no active relay log of that name is known");
        let log = self
            .store
            .get_log(&n.tenant, case_log)
            .await?
            .filter(|l| l.active)
            .ok_or_else(unknown)?;
        let holds = matches!(p, Principal::Employee { subject, tenant, .. } if tenant == &n.tenant && subject == &log.holder);
        if !holds {
            return Err(permission_denied(
                "only the relay log's baton holder books its meetings",
            ));
        }
        if !self.covered(&log.subject, &log.holder_unit).await? {
            return Err(ApiError::precondition(
                "CONSENT_MISSING",
                case_log,
                "the child's consent no longer covers the holder's unit",
            ));
        }
        Ok(log)
    }

    /// A case meeting's participants: the holder, the `covered` standing
    /// units, the guardians, the child by age, and the wanted additions,
    /// each unit checked against the child's consent and each representative
    /// against the consent service's representation.
    pub(crate) async fn case_participants(
        &self,
        log: &LogRecord,
        meeting: &str,
        covered: &[String],
        wanted: Vec<Wanted>,
    ) -> ApiResult<Vec<ParticipantRecord>> {
        let today = self.now().date_naive();
        let facts = self.directory.subject(&log.subject, today).await?;
        let (guardians, age) = facts.map(|f| (f.guardians, f.age)).unwrap_or_default();
        let mut ps = attendance::proposed(
            &log.tenant,
            meeting,
            &Proposal {
                holder: &log.holder,
                holder_unit: &log.holder_unit,
                covered_standing: covered,
                guardians: &guardians,
                child: &log.subject,
                child_age: age,
            },
        );
        let wanted = self.checked_wanted(log, &guardians, wanted).await?;
        attendance::add(&mut ps, &log.tenant, meeting, wanted);
        Ok(ps)
    }

    /// The wanted participants, refused where consent does not cover a unit
    /// or a representation is not in force for that guardian of that child.
    pub(crate) async fn checked_wanted(
        &self,
        log: &LogRecord,
        guardians: &[String],
        wanted: Vec<Wanted>,
    ) -> ApiResult<Vec<Wanted>> {
        let mut v = Violations::new();
        let mut out = Vec::with_capacity(wanted.len());
        for (i, mut w) in wanted.into_iter().enumerate() {
            if w.role == ParticipantRole::Representative.as_str_name() {
                match self
                    .consent
                    .representation(&w.representation, self.now())
                    .await?
                {
                    Some(r)
                        if r.subject == log.subject
                            && r.guardian == w.person
                            && guardians.contains(&w.person) =>
                    {
                        w.professional = r.professional;
                        w.unit = r.unit;
                    }
                    _ => {
                        v.add(
                            format!("participants[{i}].representation"),
                            "no representation in force for this guardian of this child",
                        );
                        continue;
                    }
                }
            }
            if w.role == ParticipantRole::Guardian.as_str_name() && !guardians.contains(&w.person) {
                v.add(
                    format!("participants[{i}].person"),
                    "not a guardian with parental responsibility",
                );
                continue;
            }
            if !w.unit.is_empty() && !self.covered(&log.subject, &w.unit).await? {
                v.add(
                    format!("participants[{i}].unit"),
                    "the child's consent does not cover this unit",
                );
                continue;
            }
            out.push(w);
        }
        v.finish()?;
        Ok(out)
    }
}
