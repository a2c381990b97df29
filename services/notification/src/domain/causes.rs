//! What another service's event means for inboxes: who is told of what, and
//! which earlier notifications it settles. Pure: decoding and mapping only.

use bti_proto::caselog::{self, HandoverState, TransferState};
use bti_proto::gateway;
use bti_proto::scheduling;
use bti_proto::types::{EventEnvelope, Recipient};
use prost::{Message, Name};

use super::kinds::{Kind, RESOLVED_BY_DEADLINE_COMPLETED, Role};
use super::records::{person, professional};

/// Someone to tell of something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub tenant: String,
    /// The stored recipient key (see `records::professional`, `records::person`).
    pub recipient: String,
    pub role: Role,
    pub kind: Kind,
    /// What awaits them.
    pub resource: String,
    /// What settles it later.
    pub cause: String,
    /// A restricted referral is never told to a guardian.
    pub restricted: bool,
    /// The relay log it concerns (empty: none), whose access decides
    /// whether it still goes out.
    pub case_log: String,
    /// The unit an offer or transfer was made to (the recipient's standing
    /// while it is open).
    pub via_unit: String,
}

/// Who a group intent is for, resolved by the application (the directory
/// knows them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// The guardians with parental responsibility of the log's child.
    GuardiansOf(String),
    /// The present members of a unit.
    MembersOf(String),
}

/// Someone to tell, each of a group: `intent` with the recipient left empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub audience: Audience,
    pub intent: Intent,
}

/// Notifications this event settles: of `kinds` caused by `cause`, or, when
/// `kinds` is empty, all at or under the resource `cause` (of `recipient`
/// only, when set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    pub tenant: String,
    pub cause: String,
    pub kinds: Vec<Kind>,
    pub recipient: Option<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Effects {
    pub notify: Vec<Intent>,
    pub groups: Vec<Group>,
    pub resolve: Vec<Resolve>,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.notify.is_empty() && self.groups.is_empty() && self.resolve.is_empty()
    }
}

/// The tenant of a `tenants/{tenant}/…` name, else the envelope's.
fn tenant_of(name: &str, e: &EventEnvelope) -> String {
    name.strip_prefix("tenants/")
        .and_then(|rest| rest.split('/').next())
        .filter(|t| !t.is_empty())
        .unwrap_or(&e.tenant)
        .to_string()
}

/// `tenants/{t}/caseLogs/{l}` of a resource under a log, else empty.
fn case_log_of(name: &str) -> String {
    super::access::case_log_of(name).unwrap_or_default()
}

fn decode<M: Message + Default>(e: &EventEnvelope) -> Result<M, prost::DecodeError> {
    M::decode(e.data.as_slice())
}

fn is<M: Name>(e: &EventEnvelope) -> bool {
    e.r#type == M::full_name()
}

/// A recipient of the scheduling service: a professional or a person.
fn recipient(r: &Recipient) -> Option<(String, Role)> {
    if !r.professional.is_empty() {
        Some((professional(&r.professional), Role::Professional))
    } else if !r.person.is_empty() {
        Some((person(&r.person), Role::Guardian))
    } else {
        None
    }
}

struct Builder<'a> {
    e: &'a EventEnvelope,
    fx: Effects,
}

impl Builder<'_> {
    fn tell(&mut self, recipient: Option<(String, Role)>, kind: Kind, resource: &str, cause: &str) {
        self.tell_restricted(recipient, kind, resource, cause, false)
    }

    fn tell_restricted(
        &mut self,
        recipient: Option<(String, Role)>,
        kind: Kind,
        resource: &str,
        cause: &str,
        restricted: bool,
    ) {
        if let Some(mut i) = self.intent(kind, resource, cause, &case_log_of(resource)) {
            let Some((recipient, role)) = recipient else {
                return;
            };
            i.recipient = recipient;
            i.role = role;
            i.restricted = restricted;
            self.fx.notify.push(i);
        }
    }

    /// Tells of something in (or about) the log `case_log`: a meeting names
    /// its log, which its name does not show.
    fn tell_in(
        &mut self,
        recipient: Option<(String, Role)>,
        kind: Kind,
        resource: &str,
        case_log: &str,
    ) {
        if let (Some((recipient, role)), Some(mut i)) =
            (recipient, self.intent(kind, resource, resource, case_log))
        {
            i.recipient = recipient;
            i.role = role;
            self.fx.notify.push(i);
        }
    }

    /// An intent for nobody yet; `None` without a resource.
    fn intent(&self, kind: Kind, resource: &str, cause: &str, case_log: &str) -> Option<Intent> {
        (!resource.is_empty()).then(|| Intent {
            tenant: tenant_of(resource, self.e),
            recipient: String::new(),
            role: Role::Professional,
            kind,
            resource: resource.into(),
            cause: cause.into(),
            restricted: false,
            case_log: case_log.into(),
            via_unit: String::new(),
        })
    }

    /// A professional offered something for `unit` (a baton, a transfer).
    fn offer(&mut self, subject: &str, unit: &str, kind: Kind, resource: &str) {
        if subject.is_empty() {
            return;
        }
        if let Some(mut i) = self.intent(kind, resource, resource, &case_log_of(resource)) {
            i.recipient = professional(subject);
            i.via_unit = unit.into();
            self.fx.notify.push(i);
        }
    }

    /// Everyone of `audience`, told as `role`.
    fn tell_group(
        &mut self,
        audience: Audience,
        role: Role,
        kind: Kind,
        resource: &str,
        via_unit: &str,
    ) {
        if let Some(mut intent) = self.intent(kind, resource, resource, &case_log_of(resource)) {
            intent.role = role;
            intent.via_unit = via_unit.into();
            self.fx.groups.push(Group { audience, intent });
        }
    }

    fn professional(&mut self, subject: &str, kind: Kind, resource: &str, cause: &str) {
        let r = (!subject.is_empty()).then(|| (professional(subject), Role::Professional));
        self.tell(r, kind, resource, cause)
    }

    fn settle(&mut self, cause: &str, kinds: &[Kind]) {
        if !cause.is_empty() && !kinds.is_empty() {
            self.fx.resolve.push(Resolve {
                tenant: tenant_of(cause, self.e),
                cause: cause.into(),
                kinds: kinds.to_vec(),
                recipient: None,
            });
        }
    }

    /// Everything about `resource` and what lies under it, for `recipient`
    /// or everyone: what they may no longer open is not sent either.
    fn withdraw(&mut self, resource: &str, recipient: Option<String>) {
        if !resource.is_empty() {
            self.fx.resolve.push(Resolve {
                tenant: tenant_of(resource, self.e),
                cause: resource.into(),
                kinds: Vec::new(),
                recipient,
            });
        }
    }
}

/// The effects of `e`; events of types not listed here have none.
pub fn effects(e: &EventEnvelope) -> Result<Effects, prost::DecodeError> {
    let mut b = Builder {
        e,
        fx: Effects::default(),
    };
    if is::<caselog::HandoverOffered>(e) {
        let m: caselog::HandoverOffered = decode(e)?;
        b.offer(
            &m.to_professional,
            &m.to_unit,
            Kind::HandoverOffered,
            &m.handover,
        );
    } else if is::<caselog::HandoverDecided>(e) {
        let m: caselog::HandoverDecided = decode(e)?;
        b.settle(&m.handover, Kind::HandoverDecided.settles());
        // The one who offered learns the answer; a withdrawal is their own.
        if m.state() != HandoverState::Withdrawn {
            b.professional(
                &m.from_professional,
                Kind::HandoverDecided,
                &m.handover,
                &m.handover,
            );
        }
    } else if is::<caselog::BatonPassed>(e) {
        let m: caselog::BatonPassed = decode(e)?;
        // Accepting an offer needs no telling; a leader's reassignment does.
        if m.reassigned {
            b.offer(
                &m.to_professional,
                &m.to_unit,
                Kind::HandoverOffered,
                &m.case_log,
            );
        }
    } else if is::<caselog::TransferChanged>(e) {
        let m: caselog::TransferChanged = decode(e)?;
        match m.state() {
            // The one offered it, and the rest of the unit it is to.
            TransferState::Pending => {
                b.offer(
                    &m.to_professional,
                    &m.to_unit,
                    Kind::TransferToUnit,
                    &m.transfer,
                );
                if !m.to_unit.is_empty() {
                    let members = Audience::MembersOf(m.to_unit.clone());
                    b.tell_group(
                        members,
                        Role::Professional,
                        Kind::TransferToUnit,
                        &m.transfer,
                        &m.to_unit,
                    );
                }
            }
            _ => b.settle(&m.transfer, &[Kind::TransferToUnit]),
        }
    } else if is::<caselog::CaseLogClosed>(e) {
        let m: caselog::CaseLogClosed = decode(e)?;
        // Open offers and reminders about a closed log are moot.
        b.withdraw(&m.case_log, None);
        b.professional(&m.holder, Kind::LogClosed, &m.case_log, &m.case_log);
    } else if is::<caselog::ParticipantChanged>(e) {
        let m: caselog::ParticipantChanged = decode(e)?;
        if m.removed && !m.professional.is_empty() {
            let log = case_log_of(&m.participant);
            b.withdraw(&log, Some(professional(&m.professional)));
        }
    } else if is::<caselog::ReferralAttached>(e) {
        let m: caselog::ReferralAttached = decode(e)?;
        let r = (!m.holder.is_empty()).then(|| (professional(&m.holder), Role::Professional));
        let referral = m.attached_referral.as_str();
        b.tell_restricted(r, Kind::ReferralAttached, referral, referral, m.restricted);
    } else if is::<caselog::EntryAppended>(e) {
        let m: caselog::EntryAppended = decode(e)?;
        // Guardians hear that something new is in their child's log; the
        // professionals wrote it.
        let log = case_log_of(&m.entry);
        if !log.is_empty() {
            b.tell_group(
                Audience::GuardiansOf(log),
                Role::Guardian,
                Kind::EntryAdded,
                &m.entry,
                "",
            );
        }
    } else if is::<gateway::ReferralAssigned>(e) {
        let m: gateway::ReferralAssigned = decode(e)?;
        if !m.unit.is_empty() {
            let members = Audience::MembersOf(m.unit.clone());
            b.tell_group(
                members,
                Role::Professional,
                Kind::ReferralAssigned,
                &m.referral,
                &m.unit,
            );
        }
    } else if is::<scheduling::MeetingScheduled>(e) {
        let m: scheduling::MeetingScheduled = decode(e)?;
        for r in &m.recipients {
            b.tell_in(recipient(r), Kind::MeetingInvited, &m.meeting, &m.case_log);
        }
    } else if is::<scheduling::MeetingChanged>(e) {
        let m: scheduling::MeetingChanged = decode(e)?;
        for r in &m.recipients {
            b.tell_in(recipient(r), Kind::MeetingChanged, &m.meeting, &m.case_log);
        }
        for r in &m.removed {
            b.tell_in(
                recipient(r),
                Kind::MeetingCancelled,
                &m.meeting,
                &m.case_log,
            );
        }
    } else if is::<scheduling::MeetingCancelled>(e) {
        let m: scheduling::MeetingCancelled = decode(e)?;
        b.settle(&m.meeting, Kind::MeetingCancelled.settles());
        for r in &m.recipients {
            b.tell_in(
                recipient(r),
                Kind::MeetingCancelled,
                &m.meeting,
                &m.case_log,
            );
        }
    } else if is::<scheduling::DeadlineReminderDue>(e) {
        let m: scheduling::DeadlineReminderDue = decode(e)?;
        let what = if m.resource.is_empty() {
            &m.deadline
        } else {
            &m.resource
        };
        let owner = m.owner.as_ref().and_then(recipient);
        b.tell(owner, Kind::DeadlineReminder, what, &m.deadline);
    } else if is::<scheduling::DeadlineOverdue>(e) {
        let m: scheduling::DeadlineOverdue = decode(e)?;
        let what = if m.resource.is_empty() {
            &m.deadline
        } else {
            &m.resource
        };
        b.settle(&m.deadline, &[Kind::DeadlineReminder]);
        let owner = m.owner.as_ref().and_then(recipient);
        b.tell(owner, Kind::DeadlineOverdue, what, &m.deadline);
    } else if is::<scheduling::DeadlineEscalated>(e) {
        let m: scheduling::DeadlineEscalated = decode(e)?;
        let what = if m.resource.is_empty() {
            &m.deadline
        } else {
            &m.resource
        };
        for r in &m.escalated_to {
            b.tell(recipient(r), Kind::DeadlineEscalated, what, &m.deadline);
        }
    } else if is::<scheduling::DeadlineCompleted>(e) {
        let m: scheduling::DeadlineCompleted = decode(e)?;
        b.settle(&m.deadline, &RESOLVED_BY_DEADLINE_COMPLETED);
    }
    Ok(b.fx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope<M: Message + Name>(m: &M) -> EventEnvelope {
        EventEnvelope {
            id: "e1".into(),
            r#type: M::full_name(),
            tenant: "4201".into(),
            data: m.encode_to_vec(),
            ..Default::default()
        }
    }

    const H: &str = "tenants/4201/caseLogs/l/handovers/h";

    #[test]
    fn an_offer_tells_the_one_offered_and_its_decision_settles_it() {
        let fx = effects(&envelope(&caselog::HandoverOffered {
            handover: H.into(),
            to_professional: "p2".into(),
            to_unit: "tenants/4201/units/u".into(),
        }))
        .unwrap();
        assert_eq!(fx.notify.len(), 1);
        let i = &fx.notify[0];
        assert_eq!(
            (i.tenant.as_str(), i.recipient.as_str()),
            ("4201", "subject:p2")
        );
        assert_eq!((i.kind, i.cause.as_str()), (Kind::HandoverOffered, H));

        let fx = effects(&envelope(&caselog::HandoverDecided {
            handover: H.into(),
            state: HandoverState::Accepted as i32,
            to_professional: "p2".into(),
            from_professional: "p1".into(),
        }))
        .unwrap();
        assert_eq!(
            fx.resolve,
            [Resolve {
                tenant: "4201".into(),
                cause: H.into(),
                kinds: vec![Kind::HandoverOffered],
                recipient: None,
            }]
        );
        assert_eq!(fx.notify[0].recipient, "subject:p1");
        assert_eq!(fx.notify[0].kind, Kind::HandoverDecided);
    }

    #[test]
    fn meetings_tell_professionals_and_persons_deadlines_settle() {
        let fx = effects(&envelope(&scheduling::MeetingScheduled {
            meeting: "tenants/4201/meetings/m".into(),
            recipients: vec![
                Recipient {
                    professional: "p1".into(),
                    ..Default::default()
                },
                Recipient {
                    person: "tenants/4201/persons/g".into(),
                    ..Default::default()
                },
                Recipient::default(),
            ],
            ..Default::default()
        }))
        .unwrap();
        let who: Vec<_> = fx
            .notify
            .iter()
            .map(|i| (i.recipient.as_str(), i.role))
            .collect();
        assert_eq!(
            who,
            [
                ("subject:p1", Role::Professional),
                ("person:tenants/4201/persons/g", Role::Guardian)
            ]
        );
        let fx = effects(&envelope(&scheduling::DeadlineCompleted {
            deadline: "tenants/4201/deadlines/d".into(),
            ..Default::default()
        }))
        .unwrap();
        assert!(fx.notify.is_empty());
        assert_eq!(fx.resolve[0].kinds, RESOLVED_BY_DEADLINE_COMPLETED);
    }

    #[test]
    fn a_removed_participant_loses_what_concerns_the_log() {
        let fx = effects(&envelope(&caselog::ParticipantChanged {
            participant: "tenants/4201/caseLogs/l/participants/x".into(),
            unit: "tenants/4201/units/u".into(),
            removed: true,
            professional: "p3".into(),
        }))
        .unwrap();
        assert_eq!(
            fx.resolve,
            [Resolve {
                tenant: "4201".into(),
                cause: "tenants/4201/caseLogs/l".into(),
                kinds: vec![],
                recipient: Some("subject:p3".into()),
            }]
        );
        assert!(fx.notify.is_empty());
        let fx = effects(&envelope(&caselog::CaseLogClosed {
            case_log: "tenants/4201/caseLogs/l".into(),
            holder: "p1".into(),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(
            (fx.resolve[0].recipient.clone(), fx.notify[0].kind),
            (None, Kind::LogClosed)
        );
    }

    #[test]
    fn other_events_have_no_effect_and_garbage_is_an_error() {
        let fx = effects(&envelope(&caselog::GoalChanged { goal: "g".into() })).unwrap();
        assert!(fx.is_empty());
        let mut e = envelope(&caselog::HandoverOffered::default());
        e.data = vec![0xff, 0xff, 0xff];
        assert!(effects(&e).is_err());
    }
}
