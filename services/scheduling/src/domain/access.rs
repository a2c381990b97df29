//! Who may see and change meetings and deadlines. Consent is asked by the
//! application on top of these rules: a professional sees a case's meeting
//! only while the child's consent covers the unit they act for.

use bti_proto::scheduling::ParticipantRole;
use bti_runtime::ApiError;
use bti_runtime::auth::{Principal, Role};

use super::{DeadlineRecord, MeetingView, ParticipantRecord};

pub fn permission_denied(why: &str) -> ApiError {
    ApiError::PermissionDenied(why.to_string())
}

/// A leader of `unit`.
pub fn leads(p: &Principal, unit: &str) -> bool {
    p.has_role(Role::UnitLeader) && p.works_in(unit)
}

/// How `p` stands to a meeting, if at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Organizes it (a case's baton holder; a unit meeting's creator).
    Organizer,
    /// Leads the meeting's unit: oversight.
    UnitLeader,
    /// A participant, acting for `unit` when a professional.
    Participant { id: String, unit: String },
    /// Works in the unit or a standing unit of a unit's BTI meeting.
    UnitMember,
}

impl Standing {
    /// Why access is allowed, for the access log.
    pub fn basis(&self) -> &'static str {
        match self {
            Standing::Organizer => "organizer (baton holder)",
            Standing::UnitLeader => "oversight by the unit's leader",
            Standing::Participant { unit, .. } if unit.is_empty() => {
                "participant (right of access)"
            }
            Standing::Participant { .. } => "participant by consent",
            Standing::UnitMember => "member of the meeting's unit",
        }
    }

    pub fn may_change(&self) -> bool {
        matches!(self, Standing::Organizer | Standing::UnitLeader)
    }
}

/// The caller's participant row on the meeting, if any: a professional by
/// subject (or a unit they work in), a guardian or the youth by person.
pub fn participant_of<'a>(p: &Principal, v: &'a MeetingView) -> Option<&'a ParticipantRecord> {
    row_of(p, v).filter(|q| !q.removed)
}

/// The caller's row on the meeting, also one taken off (whose calendar
/// says CANCEL): active rows first, and a named row before their unit's
/// (the professional's own answer beats their unit's).
pub fn row_of<'a>(p: &Principal, v: &'a MeetingView) -> Option<&'a ParticipantRecord> {
    let unit_role = ParticipantRole::Unit.as_str_name();
    let mine = |q: &&ParticipantRecord| match p {
        Principal::Employee { subject, .. } => {
            (!q.professional.is_empty() && &q.professional == subject)
                || (q.role == unit_role && p.works_in(&q.unit))
        }
        Principal::Guardian { person, .. } | Principal::Youth { person, .. } => &q.person == person,
        _ => false,
    };
    v.participants
        .iter()
        .filter(mine)
        .min_by_key(|q| (q.removed, q.role == unit_role))
}

/// How `p` stands to the meeting by the meeting's own records (consent is
/// checked separately for professionals).
pub fn standing(p: &Principal, v: &MeetingView, standing_units: &[String]) -> Option<Standing> {
    let m = &v.meeting;
    if p.tenant() != Some(m.tenant.as_str()) {
        return None;
    }
    if matches!(p, Principal::Employee { subject, .. } if subject == &m.organizer) {
        return Some(Standing::Organizer);
    }
    let unit = format!("tenants/{}/units/{}", m.tenant, m.unit);
    if leads(p, &unit) {
        return Some(Standing::UnitLeader);
    }
    if let Some(q) = participant_of(p, v) {
        return Some(Standing::Participant {
            id: q.id.clone(),
            unit: q.unit.clone(),
        });
    }
    if !m.is_case() && (p.works_in(&unit) || standing_units.iter().any(|u| p.works_in(u))) {
        return Some(Standing::UnitMember);
    }
    None
}

/// Whether `p` may see a deadline: its owner, or a leader of its unit.
pub fn may_read_deadline(p: &Principal, d: &DeadlineRecord) -> bool {
    if p.tenant() != Some(d.tenant.as_str()) {
        return false;
    }
    let own = matches!(p, Principal::Employee { subject, .. } if !d.responsible.is_empty() && subject == &d.responsible);
    own || leads(p, &d.unit)
}

/// Whether `p` may reassign or cancel a deadline: a leader of its unit.
pub fn may_manage_deadline(p: &Principal, d: &DeadlineRecord) -> bool {
    p.tenant() == Some(d.tenant.as_str()) && leads(p, &d.unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MeetingRecord, attendance};
    use chrono::Utc;

    fn employee(subject: &str, unit: &str, roles: &[Role]) -> Principal {
        Principal::Employee {
            subject: subject.into(),
            tenant: "t".into(),
            units: vec![unit.into()],
            roles: roles.to_vec(),
        }
    }

    fn case_meeting() -> MeetingView {
        let now = Utc::now();
        let meeting = MeetingRecord {
            tenant: "t".into(),
            unit: "school".into(),
            id: "m".into(),
            kind: "MEETING_KIND_BTI".into(),
            case_log: "tenants/t/caseLogs/l".into(),
            subject: "tenants/t/persons/child".into(),
            series: String::new(),
            slot: String::new(),
            start_time: now,
            duration_secs: 1800,
            location: String::new(),
            video_link: String::new(),
            agenda: "[]".into(),
            organizer: "kari".into(),
            organizer_unit: "tenants/t/units/school".into(),
            state: "MEETING_STATE_SCHEDULED".into(),
            minutes_entry: String::new(),
            sequence: 0,
            version: 1,
            create_time: now,
            update_time: now,
        };
        let covered = vec!["tenants/t/units/nurse".to_string()];
        let guardians = vec!["tenants/t/persons/mother".to_string()];
        let participants = attendance::proposed(
            "t",
            "m",
            &attendance::Proposal {
                holder: "kari",
                holder_unit: "tenants/t/units/school",
                covered_standing: &covered,
                guardians: &guardians,
                child: "tenants/t/persons/child",
                child_age: 8,
            },
        );
        MeetingView {
            meeting,
            participants,
        }
    }

    #[test]
    fn standing_on_a_case_meeting() {
        let v = case_meeting();
        let school = "tenants/t/units/school";
        assert_eq!(
            standing(&employee("kari", school, &[Role::Employee]), &v, &[]),
            Some(Standing::Organizer)
        );
        assert_eq!(
            standing(&employee("rektor", school, &[Role::UnitLeader]), &v, &[]),
            Some(Standing::UnitLeader)
        );
        let nurse = standing(
            &employee("nils", "tenants/t/units/nurse", &[Role::Employee]),
            &v,
            &[],
        );
        assert!(
            matches!(nurse, Some(Standing::Participant { ref unit, .. }) if unit == "tenants/t/units/nurse")
        );
        // A colleague at the school is not on a case's meeting.
        assert_eq!(
            standing(&employee("ola", school, &[Role::Employee]), &v, &[]),
            None
        );
        let mother = Principal::Guardian {
            subject: "m".into(),
            tenant: "t".into(),
            person: "tenants/t/persons/mother".into(),
        };
        assert!(matches!(
            standing(&mother, &v, &[]),
            Some(Standing::Participant { .. })
        ));
        let stranger = Principal::Guardian {
            subject: "s".into(),
            tenant: "t".into(),
            person: "tenants/t/persons/stranger".into(),
        };
        assert_eq!(standing(&stranger, &v, &[]), None);
        let other_tenant = Principal::Employee {
            subject: "kari".into(),
            tenant: "u".into(),
            units: vec![],
            roles: vec![],
        };
        assert_eq!(standing(&other_tenant, &v, &[]), None);
    }

    #[test]
    fn a_named_professional_is_found_by_name_before_their_units_row() {
        let mut v = case_meeting();
        let (tenant, id) = (v.meeting.tenant.clone(), v.meeting.id.clone());
        let named = attendance::Wanted {
            role: "PARTICIPANT_ROLE_PROFESSIONAL".into(),
            unit: "tenants/t/units/nurse".into(),
            professional: "nils".into(),
            ..Default::default()
        };
        attendance::add(&mut v.participants, &tenant, &id, vec![named]);
        let nils = employee("nils", "tenants/t/units/nurse", &[Role::Employee]);
        let row = participant_of(&nils, &v).unwrap();
        assert_eq!(row.role, "PARTICIPANT_ROLE_PROFESSIONAL");
        // Found by name even when working elsewhere now.
        let moved = employee("nils", "tenants/t/units/ppt", &[Role::Employee]);
        assert_eq!(participant_of(&moved, &v).unwrap().professional, "nils");
        // A colleague of the nurse's unit gets the unit's row.
        let other = employee("siri", "tenants/t/units/nurse", &[Role::Employee]);
        assert_eq!(
            participant_of(&other, &v).unwrap().role,
            "PARTICIPANT_ROLE_UNIT"
        );
    }

    #[test]
    fn each_standing_says_why_in_the_access_log() {
        let with_unit = Standing::Participant {
            id: "x".into(),
            unit: "u".into(),
        };
        let without = Standing::Participant {
            id: "x".into(),
            unit: String::new(),
        };
        assert_eq!(with_unit.basis(), "participant by consent");
        assert_eq!(without.basis(), "participant (right of access)");
        assert_eq!(Standing::Organizer.basis(), "organizer (baton holder)");
        assert_eq!(
            Standing::UnitLeader.basis(),
            "oversight by the unit's leader"
        );
        assert_eq!(Standing::UnitMember.basis(), "member of the meeting's unit");
    }

    #[test]
    fn a_removed_unit_has_no_standing_and_only_organizer_and_leader_change() {
        let mut v = case_meeting();
        attendance::remove_units(&mut v.participants, &["tenants/t/units/nurse".to_string()]);
        assert_eq!(
            standing(
                &employee("nils", "tenants/t/units/nurse", &[Role::Employee]),
                &v,
                &[]
            ),
            None
        );
        assert!(Standing::Organizer.may_change() && Standing::UnitLeader.may_change());
        assert!(!Standing::UnitMember.may_change());
        assert!(
            !Standing::Participant {
                id: String::new(),
                unit: String::new()
            }
            .may_change()
        );
    }

    #[test]
    fn unit_meetings_are_seen_by_the_unit_and_its_standing_team() {
        let mut v = case_meeting();
        v.meeting.case_log.clear();
        v.participants.clear();
        let ppt = "tenants/t/units/ppt".to_string();
        let per = employee("per", &ppt, &[Role::Employee]);
        assert_eq!(standing(&per, &v, &[]), None);
        assert_eq!(
            standing(&per, &v, std::slice::from_ref(&ppt)),
            Some(Standing::UnitMember)
        );
        let ola = employee("ola", "tenants/t/units/school", &[Role::Employee]);
        assert_eq!(standing(&ola, &v, &[]), Some(Standing::UnitMember));
    }

    #[test]
    fn deadlines_are_seen_by_their_owner_and_the_units_leaders() {
        let now = Utc::now();
        let d = DeadlineRecord {
            tenant: "t".into(),
            id: "d".into(),
            kind: "DEADLINE_KIND_UNIT_REVIEW".into(),
            cause: "c".into(),
            case_log: "tenants/t/caseLogs/l".into(),
            subject: "tenants/t/persons/child".into(),
            resource: String::new(),
            unit: "tenants/t/units/school".into(),
            responsible: "kari".into(),
            due_time: now,
            remind_time: now,
            escalate_time: now,
            state: "DEADLINE_STATE_OPEN".into(),
            stage: "DEADLINE_STAGE_PENDING".into(),
            close_time: None,
            version: 1,
            create_time: now,
            update_time: now,
        };
        let school = "tenants/t/units/school";
        assert!(may_read_deadline(&employee("kari", school, &[]), &d));
        assert!(!may_read_deadline(&employee("ola", school, &[]), &d));
        assert!(may_read_deadline(
            &employee("rektor", school, &[Role::UnitLeader]),
            &d
        ));
        assert!(!may_read_deadline(
            &employee("boss", "tenants/t/units/other", &[Role::UnitLeader]),
            &d
        ));
        assert!(!may_manage_deadline(&employee("kari", school, &[]), &d));
        assert!(may_manage_deadline(
            &employee("rektor", school, &[Role::UnitLeader]),
            &d
        ));
    }
}
