//! Invitations: the caller's own calendar for one meeting, and their feed
//! of future meetings. A participant taken off a meeting (their unit's
//! consent ended) still gets its CANCEL; nobody else gets anything.

use bti_proto::scheduling::*;
use bti_runtime::auth::Principal;
use bti_runtime::{ApiError, ApiResult};

use super::App;
use crate::domain::access::row_of;
use crate::domain::calendar::{self, Invite};
use crate::domain::*;
use crate::store::MeetingQuery;

// The scope that lets the notification service fetch a recipient's
// invitation to attach it to their e-mail.
use bti_runtime::peers::scheduling::SCOPE_INVITATIONS;

/// The recipient as the principal whose invitation it is.
fn recipient_principal(tenant: &str, to: &bti_proto::types::Recipient) -> ApiResult<Principal> {
    if !to.person.is_empty() {
        return Ok(Principal::Guardian {
            subject: String::new(),
            tenant: tenant.to_string(),
            person: to.person.clone(),
        });
    }
    if to.professional.is_empty() && to.unit.is_empty() {
        return Err(ApiError::invalid(
            "recipient",
            "a professional, a unit or a person",
        ));
    }
    Ok(Principal::Employee {
        subject: to.professional.clone(),
        tenant: tenant.to_string(),
        units: if to.unit.is_empty() {
            Vec::new()
        } else {
            vec![to.unit.clone()]
        },
        roles: Vec::new(),
    })
}

impl App {
    async fn unit_name(&self, tenant: &str, unit: &str) -> ApiResult<String> {
        let name = UnitName::new(tenant, unit).to_string();
        Ok(self
            .directory
            .unit(&name)
            .await?
            .map(|u| u.display_name)
            .unwrap_or_default())
    }

    fn invite<'a>(
        &self,
        v: &'a MeetingView,
        row: &'a ParticipantRecord,
        unit_name: &'a str,
        unit: &'a str,
        link: &'a str,
    ) -> Invite<'a> {
        let m = &v.meeting;
        Invite {
            meeting_id: &m.id,
            sequence: m.sequence,
            start: m.start_time,
            end: m.end_time(),
            unit_name,
            unit,
            location: &m.location,
            link,
            video_link: &m.video_link,
            attendee: &row.id,
            partstat: calendar::partstat(&row.response),
            cancelled: row.removed || m.state == MeetingState::Cancelled.as_str_name(),
            stamp: m.update_time,
        }
    }

    pub async fn get_meeting_invitation(
        &self,
        caller: &Principal,
        r: GetMeetingInvitationRequest,
    ) -> ApiResult<MeetingInvitation> {
        let n = MeetingName::parse("name", &r.name)?;
        let stand_in;
        let p = match (&r.recipient, caller) {
            (None, _) => caller,
            (Some(to), Principal::Service { .. }) if caller.has_scope(SCOPE_INVITATIONS) => {
                stand_in = recipient_principal(&n.tenant, to)?;
                &stand_in
            }
            (Some(_), _) => {
                return Err(ApiError::PermissionDenied(
                    "another recipient's invitation is for the notification service".into(),
                ));
            }
        };
        let not_found = || ApiError::NotFound(r.name.clone());
        let view = self
            .store
            .get_meeting(&n.tenant, &n.meeting)
            .await?
            .filter(|v| v.meeting.unit == n.unit && p.tenant() == Some(n.tenant.as_str()))
            .ok_or_else(not_found)?;
        let row = row_of(p, &view).ok_or_else(not_found)?.clone();
        // A professional whose unit the consent no longer covers is told the
        // meeting is cancelled for them, and nothing more.
        let mut row = row;
        if view.meeting.is_case()
            && !row.removed
            && !row.unit.is_empty()
            && !self.covered(&view.meeting.subject, &row.unit).await?
        {
            row.removed = true;
        }
        let unit_name = self.unit_name(&n.tenant, &n.unit).await?;
        let unit = UnitName::new(&n.tenant, &n.unit).to_string();
        let link = self.link(&r.name);
        let invite = self.invite(&view, &row, &unit_name, &unit, &link);
        let uid = invite.uid();
        let (method, ics) = calendar::invitation(&invite);
        if view.meeting.is_case() {
            let why = if r.recipient.is_some() {
                "GetMeetingInvitation: the recipient's invitation, for their e-mail".to_string()
            } else {
                "GetMeetingInvitation: own invitation".to_string()
            };
            self.store
                .log_access(&[self.access(
                    caller,
                    &n.tenant,
                    &view.meeting.subject,
                    &r.name,
                    false,
                    why,
                )])
                .await?;
        }
        Ok(MeetingInvitation {
            meeting: r.name,
            method,
            sequence: view.meeting.sequence,
            uid,
            ics,
        })
    }

    pub async fn get_calendar_feed(
        &self,
        p: &Principal,
        _r: GetCalendarFeedRequest,
    ) -> ApiResult<CalendarFeed> {
        let Some(tenant) = p.tenant() else {
            return Err(ApiError::PermissionDenied(
                "a calendar feed is a person's own".into(),
            ));
        };
        let mine = Self::mine(p);
        let views = self
            .store
            .list_meetings(&MeetingQuery {
                tenant: tenant.to_string(),
                mine: Some(mine),
                state: MeetingState::Scheduled.as_str_name().to_string(),
                from: Some(self.now()),
                limit: 500,
                ..Default::default()
            })
            .await?;
        let mut kept = Vec::new();
        let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        for v in views {
            let Some(row) = crate::domain::access::participant_of(p, &v).cloned() else {
                continue;
            };
            if v.meeting.is_case()
                && !row.unit.is_empty()
                && !self.covered(&v.meeting.subject, &row.unit).await?
            {
                continue;
            }
            let unit = UnitName::new(&v.meeting.tenant, &v.meeting.unit).to_string();
            // One directory call per unit, not per meeting.
            let unit_name = match names.get(&unit) {
                Some(n) => n.clone(),
                None => {
                    let n = self.unit_name(&v.meeting.tenant, &v.meeting.unit).await?;
                    names.insert(unit.clone(), n.clone());
                    n
                }
            };
            let link = self.link(&v.meeting.name());
            kept.push((v, row, unit_name, unit, link));
        }
        let invites: Vec<Invite<'_>> = kept
            .iter()
            .map(|(v, row, name, unit, link)| self.invite(v, row, name, unit, link))
            .collect();
        let ics = calendar::feed(&invites);
        let rows: Vec<AccessRow> = kept
            .iter()
            .filter(|(v, ..)| v.meeting.is_case())
            .map(|(v, ..)| {
                self.access(
                    p,
                    &v.meeting.tenant,
                    &v.meeting.subject,
                    &v.meeting.name(),
                    false,
                    "GetCalendarFeed: own calendar".into(),
                )
            })
            .collect();
        self.store.log_access(&rows).await?;
        Ok(CalendarFeed {
            ics,
            meeting_count: invites.len() as i32,
        })
    }
}
