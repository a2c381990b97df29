//! Who may still be told of something about a relay log: the relay log's
//! own rule (caselog's `domain/access.rs`), applied to this service's record
//! of each log from the relay log's events. Pure: the application asks the
//! consent service (every time, never cached) about the units this returns,
//! and the directory about membership and guardianship.

use super::kinds::Kind;

/// What the relay log's events have said about one log.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LogRecord {
    pub tenant: String,
    pub case_log: String,
    /// The directory's opaque person name of the child.
    pub subject: String,
    /// The owning unit.
    pub unit: String,
    /// The baton holder's subject and unit.
    pub holder: String,
    pub holder_unit: String,
    pub active: bool,
}

/// A unit (or one professional of it) taking part in a log.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LogParticipantRecord {
    pub tenant: String,
    pub case_log: String,
    pub participant: String,
    pub unit: String,
    /// Empty: the unit as a whole (its members).
    pub professional: String,
    pub removed: bool,
}

/// A unit through which a professional could read a log, once consent
/// covers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Through {
    /// As its holder, or as the named participant, or offered the baton:
    /// the log says so.
    Named(String),
    /// As a member of a unit taking part as a whole: the directory must say
    /// they are on its staff.
    Member(String),
}

impl Through {
    pub fn unit(&self) -> &str {
        match self {
            Through::Named(u) | Through::Member(u) => u,
        }
    }
}

/// The units through which professional `subject` could read `log`, in the
/// order to ask consent about them: the holder's unit (if they hold it),
/// units they take part through, and the unit an open offer or transfer was
/// made to them for (`via_unit`, only for those kinds: the notification is
/// settled when the offer is decided).
pub fn professional_candidates(
    subject: &str,
    kind: Kind,
    via_unit: &str,
    log: &LogRecord,
    participants: &[LogParticipantRecord],
) -> Vec<Through> {
    let mut out = Vec::new();
    let mut push = |t: Through| {
        if !t.unit().is_empty() && !out.contains(&t) {
            out.push(t);
        }
    };
    if log.holder == subject {
        push(Through::Named(log.holder_unit.clone()));
    }
    for p in participants.iter().filter(|p| !p.removed) {
        if p.professional == subject {
            push(Through::Named(p.unit.clone()));
        } else if p.professional.is_empty() {
            push(Through::Member(p.unit.clone()));
        }
    }
    if matches!(kind, Kind::HandoverOffered | Kind::TransferToUnit) {
        push(Through::Named(via_unit.to_string()));
    }
    out
}

/// The units whose leaders oversee the log (its own and the holder's):
/// oversight needs no consent, as in the relay log.
pub fn oversight_units(log: &LogRecord) -> Vec<String> {
    let mut out = vec![log.unit.clone()];
    if log.holder_unit != log.unit && !log.holder_unit.is_empty() {
        out.push(log.holder_unit.clone());
    }
    out
}

/// The log a resource name lies under (`tenants/{t}/caseLogs/{l}/…`).
pub fn case_log_of(name: &str) -> Option<String> {
    let parts: Vec<&str> = name.split('/').collect();
    (parts.len() >= 4 && parts[0] == "tenants" && parts[2] == "caseLogs" && !parts[3].is_empty())
        .then(|| parts[..4].join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> LogRecord {
        LogRecord {
            tenant: "t".into(),
            case_log: "tenants/t/caseLogs/l".into(),
            subject: "tenants/t/persons/c".into(),
            unit: "tenants/t/units/school".into(),
            holder: "kari".into(),
            holder_unit: "tenants/t/units/school".into(),
            active: true,
        }
    }

    fn part(id: &str, unit: &str, professional: &str, removed: bool) -> LogParticipantRecord {
        LogParticipantRecord {
            tenant: "t".into(),
            case_log: "tenants/t/caseLogs/l".into(),
            participant: id.into(),
            unit: unit.into(),
            professional: professional.into(),
            removed,
        }
    }

    #[test]
    fn the_holder_and_named_participants_stand_by_the_log() {
        let ps = [
            part("a", "tenants/t/units/nurse", "nils", false),
            part("b", "tenants/t/units/ppt", "", false),
            part("c", "tenants/t/units/cw", "nils", true),
        ];
        assert_eq!(
            professional_candidates("kari", Kind::EntryAdded, "", &log(), &ps),
            [
                Through::Named("tenants/t/units/school".into()),
                Through::Member("tenants/t/units/ppt".into())
            ]
        );
        assert_eq!(
            professional_candidates("nils", Kind::EntryAdded, "", &log(), &ps),
            [
                Through::Named("tenants/t/units/nurse".into()),
                Through::Member("tenants/t/units/ppt".into())
            ]
        );
    }

    #[test]
    fn removed_participants_and_strangers_have_no_unit() {
        let ps = [part("c", "tenants/t/units/cw", "berit", true)];
        assert!(professional_candidates("berit", Kind::MeetingInvited, "", &log(), &ps).is_empty());
        let mut moved = log();
        moved.holder = "ola".into();
        assert!(
            professional_candidates("kari", Kind::DeadlineReminder, "", &moved, &[]).is_empty()
        );
    }

    #[test]
    fn an_offer_stands_by_its_unit_only_for_offers() {
        let via = "tenants/t/units/nurse";
        assert_eq!(
            professional_candidates("nils", Kind::HandoverOffered, via, &log(), &[]),
            [Through::Named(via.into())]
        );
        assert!(professional_candidates("nils", Kind::MeetingChanged, via, &log(), &[]).is_empty());
    }

    #[test]
    fn oversight_and_log_names() {
        let mut l = log();
        assert_eq!(oversight_units(&l), ["tenants/t/units/school"]);
        l.holder_unit = "tenants/t/units/nurse".into();
        assert_eq!(oversight_units(&l).len(), 2);
        assert_eq!(
            case_log_of("tenants/t/caseLogs/l/handovers/h").as_deref(),
            Some("tenants/t/caseLogs/l")
        );
        assert_eq!(case_log_of("tenants/t/meetings/m"), None);
        assert_eq!(case_log_of("tenants/t/caseLogs/"), None);
    }
}
