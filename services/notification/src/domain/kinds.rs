//! The kinds of notification and the channels they travel on.

/// What a notification says awaits the recipient. Never carries case content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    HandoverOffered,
    HandoverDecided,
    TransferToUnit,
    MeasureResponsible,
    MeetingInvited,
    MeetingChanged,
    MeetingCancelled,
    DeadlineReminder,
    DeadlineOverdue,
    DeadlineEscalated,
    ReferralAttached,
    ReferralAssigned,
    ConsentChanged,
    ConsentWithdrawn,
    LogClosed,
    EntryAdded,
}

impl Kind {
    pub const ALL: [Kind; 16] = [
        Kind::HandoverOffered,
        Kind::HandoverDecided,
        Kind::TransferToUnit,
        Kind::MeasureResponsible,
        Kind::MeetingInvited,
        Kind::MeetingChanged,
        Kind::MeetingCancelled,
        Kind::DeadlineReminder,
        Kind::DeadlineOverdue,
        Kind::DeadlineEscalated,
        Kind::ReferralAttached,
        Kind::ReferralAssigned,
        Kind::ConsentChanged,
        Kind::ConsentWithdrawn,
        Kind::LogClosed,
        Kind::EntryAdded,
    ];

    /// The stable name stored and sent in webhook payloads (`event type`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::HandoverOffered => "handover.offered",
            Kind::HandoverDecided => "handover.decided",
            Kind::TransferToUnit => "transfer.to_unit",
            Kind::MeasureResponsible => "measure.responsible",
            Kind::MeetingInvited => "meeting.invited",
            Kind::MeetingChanged => "meeting.changed",
            Kind::MeetingCancelled => "meeting.cancelled",
            Kind::DeadlineReminder => "deadline.reminder",
            Kind::DeadlineOverdue => "deadline.overdue",
            Kind::DeadlineEscalated => "deadline.escalated",
            Kind::ReferralAttached => "referral.attached",
            Kind::ReferralAssigned => "referral.assigned",
            Kind::ConsentChanged => "consent.changed",
            Kind::ConsentWithdrawn => "consent.withdrawn",
            Kind::LogClosed => "log.closed",
            Kind::EntryAdded => "entry.added",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A baton offered to you and an escalated deadline always reach you:
    /// muting them would let a child's case stall unseen.
    pub fn unmutable(self) -> bool {
        matches!(self, Kind::HandoverOffered | Kind::DeadlineEscalated)
    }

    /// Guardians are told of new entries and meetings in their child's log
    /// (and of consent and closing, which concern them directly), never of
    /// referrals, which may be restricted, nor of internal work routing.
    pub fn guardian_may_receive(self) -> bool {
        matches!(
            self,
            Kind::EntryAdded
                | Kind::MeetingInvited
                | Kind::MeetingChanged
                | Kind::MeetingCancelled
                | Kind::ConsentChanged
                | Kind::ConsentWithdrawn
                | Kind::LogClosed
        )
    }

    /// Meetings carry an iCalendar part; cancellation uses METHOD:CANCEL.
    pub fn calendar_method(self) -> Option<&'static str> {
        match self {
            Kind::MeetingInvited | Kind::MeetingChanged => Some("REQUEST"),
            Kind::MeetingCancelled => Some("CANCEL"),
            _ => None,
        }
    }

    /// The kind of a later event that settles an earlier notification: when
    /// it arrives for the same cause, the earlier one is archived.
    pub fn settles(self) -> &'static [Kind] {
        match self {
            Kind::HandoverDecided => &[Kind::HandoverOffered],
            Kind::MeetingCancelled => &[Kind::MeetingInvited, Kind::MeetingChanged],
            // DeadlineCompleted is not itself a notification kind; the
            // consumer resolves these directly.
            _ => &[],
        }
    }
}

/// Kinds that a deadline's completion resolves.
pub const RESOLVED_BY_DEADLINE_COMPLETED: [Kind; 3] = [
    Kind::DeadlineReminder,
    Kind::DeadlineOverdue,
    Kind::DeadlineEscalated,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Inbox,
    Email,
}

/// Who receives: professionals act for a unit, guardians for a child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Professional,
    Guardian,
}

/// Whether a recipient of `role` is told of `kind` at all. Restricted
/// referrals are never told to a guardian, whatever the kind says.
pub fn eligible(role: Role, kind: Kind, restricted: bool) -> bool {
    match role {
        Role::Professional => true,
        Role::Guardian => !restricted && kind.guardian_may_receive(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        let mut names: Vec<_> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Kind::ALL.len());
        assert_eq!(Kind::parse("nope"), None);
    }

    #[test]
    fn only_baton_offers_and_escalations_are_unmutable() {
        let unmutable: Vec<_> = Kind::ALL.into_iter().filter(|k| k.unmutable()).collect();
        assert_eq!(unmutable, [Kind::HandoverOffered, Kind::DeadlineEscalated]);
    }

    #[test]
    fn guardians_get_entries_and_meetings_never_referrals() {
        assert!(eligible(Role::Guardian, Kind::EntryAdded, false));
        assert!(eligible(Role::Guardian, Kind::MeetingInvited, false));
        assert!(!eligible(Role::Guardian, Kind::ReferralAttached, false));
        assert!(!eligible(Role::Guardian, Kind::HandoverOffered, false));
        assert!(!eligible(Role::Guardian, Kind::EntryAdded, true));
        assert!(eligible(Role::Professional, Kind::ReferralAttached, true));
    }

    #[test]
    fn settling_kinds() {
        assert_eq!(Kind::HandoverDecided.settles(), &[Kind::HandoverOffered]);
        assert_eq!(Kind::MeetingCancelled.calendar_method(), Some("CANCEL"));
        assert_eq!(Kind::MeetingChanged.calendar_method(), Some("REQUEST"));
        assert_eq!(Kind::EntryAdded.calendar_method(), None);
    }
}
