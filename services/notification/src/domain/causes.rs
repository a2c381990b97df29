//! What another service's event means for inboxes: who is told of what, and
//! which earlier notifications it settles. Pure: decoding and mapping only.

use bti_proto::caselog::{self, HandoverState, TransferState};
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
    pub resolve: Vec<Resolve>,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.notify.is_empty() && self.resolve.is_empty()
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

/// `tenants/{t}/caseLogs/{l}` of a resource under a log.
fn case_log_of(name: &str) -> String {
    name.split('/').take(4).collect::<Vec<_>>().join("/")
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
        let Some((recipient, role)) = recipient else {
            return;
        };
        if resource.is_empty() {
            return;
        }
        self.fx.notify.push(Intent {
            tenant: tenant_of(resource, self.e),
            recipient,
            role,
            kind,
            resource: resource.into(),
            cause: cause.into(),
            restricted,
        });
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
        b.professional(
            &m.to_professional,
            Kind::HandoverOffered,
            &m.handover,
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
            b.professional(
                &m.to_professional,
                Kind::HandoverOffered,
                &m.case_log,
                &m.case_log,
            );
        }
    } else if is::<caselog::TransferChanged>(e) {
        let m: caselog::TransferChanged = decode(e)?;
        match m.state() {
            TransferState::Pending => b.professional(
                &m.to_professional,
                Kind::TransferToUnit,
                &m.transfer,
                &m.transfer,
            ),
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
    } else if is::<scheduling::MeetingScheduled>(e) {
        let m: scheduling::MeetingScheduled = decode(e)?;
        for r in &m.recipients {
            b.tell(recipient(r), Kind::MeetingInvited, &m.meeting, &m.meeting);
        }
    } else if is::<scheduling::MeetingChanged>(e) {
        let m: scheduling::MeetingChanged = decode(e)?;
        for r in &m.recipients {
            b.tell(recipient(r), Kind::MeetingChanged, &m.meeting, &m.meeting);
        }
        for r in &m.removed {
            b.tell(recipient(r), Kind::MeetingCancelled, &m.meeting, &m.meeting);
        }
    } else if is::<scheduling::MeetingCancelled>(e) {
        let m: scheduling::MeetingCancelled = decode(e)?;
        b.settle(&m.meeting, Kind::MeetingCancelled.settles());
        for r in &m.recipients {
            b.tell(recipient(r), Kind::MeetingCancelled, &m.meeting, &m.meeting);
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
