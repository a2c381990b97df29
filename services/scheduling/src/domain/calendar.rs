//! Invitations as RFC 5545 calendars, one per recipient: a stable UID, a
//! SEQUENCE that rises on every change, METHOD REQUEST or CANCEL, the
//! organizing unit and the recipient's own answer. Nothing in it names a
//! person or says what the case is: the summary is "BTI-møte", the place is
//! the unit's, the description a link into BTI, and the only attendee is
//! the recipient under an opaque address.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus, Property};

/// What every invitation's summary says.
pub const SUMMARY: &str = "BTI-møte";

/// One meeting as a recipient sees it in their calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite<'a> {
    /// The meeting's id (the UID's local part).
    pub meeting_id: &'a str,
    pub sequence: i64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The organizing unit's display name, and its resource name.
    pub unit_name: &'a str,
    pub unit: &'a str,
    /// The room, if any (set by the unit, not about the case).
    pub location: &'a str,
    /// Where the meeting is opened in BTI.
    pub link: &'a str,
    pub video_link: &'a str,
    /// The recipient's opaque participant id, and their answer (an
    /// RFC 5545 PARTSTAT).
    pub attendee: &'a str,
    pub partstat: &'a str,
    pub cancelled: bool,
    pub stamp: DateTime<Utc>,
}

impl Invite<'_> {
    pub fn uid(&self) -> String {
        format!("{}@scheduling.bti.no", self.meeting_id)
    }

    fn event(&self) -> Event {
        let mut e = Event::new();
        let place = if self.location.is_empty() {
            self.unit_name.to_string()
        } else {
            format!("{}, {}", self.unit_name, self.location)
        };
        let mut description = format!("Opne møtet i BTI: {}", self.link);
        if !self.video_link.is_empty() {
            description.push_str(&format!("\nDigitalt møte: {}", self.video_link));
        }
        e.uid(&self.uid())
            .sequence(self.sequence.clamp(0, u32::MAX as i64) as u32)
            .timestamp(self.stamp)
            .starts(self.start)
            .ends(self.end)
            .summary(SUMMARY)
            .location(&place)
            .description(&description)
            .url(self.link)
            .status(if self.cancelled {
                EventStatus::Cancelled
            } else {
                EventStatus::Confirmed
            });
        let mut organizer = Property::new("ORGANIZER", format!("urn:bti:{}", self.unit));
        organizer.add_parameter("CN", self.unit_name);
        e.append_property(organizer);
        let mut attendee = Property::new("ATTENDEE", format!("urn:uuid:{}", self.attendee));
        attendee
            .add_parameter("ROLE", "REQ-PARTICIPANT")
            .add_parameter("PARTSTAT", self.partstat)
            .add_parameter("RSVP", "TRUE");
        e.append_property(attendee);
        e.done()
    }
}

/// The RFC 5545 PARTSTAT of an answer (a proto enum name).
pub fn partstat(response: &str) -> &'static str {
    match response {
        "PARTICIPANT_RESPONSE_ACCEPTED" => "ACCEPTED",
        "PARTICIPANT_RESPONSE_DECLINED" => "DECLINED",
        "PARTICIPANT_RESPONSE_TENTATIVE" => "TENTATIVE",
        _ => "NEEDS-ACTION",
    }
}

fn calendar(method: &str) -> Calendar {
    let mut c = Calendar::empty();
    c.append_property(Property::new("VERSION", "2.0"))
        .append_property(Property::new("PRODID", "-//BTI//scheduling//NO"))
        .append_property(Property::new("CALSCALE", "GREGORIAN"))
        .append_property(Property::new("METHOD", method));
    c
}

/// One recipient's invitation: `REQUEST`, or `CANCEL` when the meeting is
/// cancelled or they were taken off it.
pub fn invitation(invite: &Invite<'_>) -> (String, String) {
    let method = if invite.cancelled {
        "CANCEL"
    } else {
        "REQUEST"
    };
    let mut c = calendar(method);
    c.push(invite.event());
    (method.to_string(), c.done().to_string())
}

/// A recipient's feed of their meetings (METHOD PUBLISH).
pub fn feed(invites: &[Invite<'_>]) -> String {
    let mut c = calendar("PUBLISH");
    for i in invites {
        c.push(i.event());
    }
    c.done().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn invite(cancelled: bool) -> Invite<'static> {
        Invite {
            meeting_id: "m1",
            sequence: 3,
            start: Utc.with_ymd_and_hms(2026, 10, 6, 11, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2026, 10, 6, 11, 30, 0).unwrap(),
            unit_name: "Sauda ungdomsskule",
            unit: "tenants/4242/units/school",
            location: "Møterom 2",
            link: "https://bti.example/meetings/m1",
            video_link: "",
            attendee: "p-123",
            partstat: "ACCEPTED",
            cancelled,
            stamp: Utc.with_ymd_and_hms(2026, 9, 1, 8, 0, 0).unwrap(),
        }
    }

    fn unfold(s: &str) -> String {
        s.replace("\r\n ", "").replace("\r\n\t", "")
    }

    #[test]
    fn a_request_carries_uid_sequence_times_organizer_and_the_recipients_answer() {
        let (method, ics) = invitation(&invite(false));
        let ics = unfold(&ics);
        assert_eq!(method, "REQUEST");
        for line in [
            "METHOD:REQUEST",
            "UID:m1@scheduling.bti.no",
            "SEQUENCE:3",
            "DTSTART:20261006T110000Z",
            "DTEND:20261006T113000Z",
            "SUMMARY:BTI-møte",
            "STATUS:CONFIRMED",
            "PARTSTAT=ACCEPTED",
            "CN=Sauda ungdomsskule",
        ] {
            assert!(ics.contains(line), "{line} in {ics}");
        }
        assert_eq!(ics.matches("ATTENDEE").count(), 1);
        assert!(ics.contains("urn:uuid:p-123"));
    }

    #[test]
    fn a_cancellation_keeps_the_uid() {
        let (method, ics) = invitation(&invite(true));
        assert_eq!(method, "CANCEL");
        let ics = unfold(&ics);
        assert!(ics.contains("METHOD:CANCEL") && ics.contains("STATUS:CANCELLED"));
        assert!(ics.contains("UID:m1@scheduling.bti.no"));
    }

    #[test]
    fn a_feed_holds_every_meeting_once() {
        let ics = feed(&[invite(false), invite(false)]);
        assert!(ics.contains("METHOD:PUBLISH"));
        assert_eq!(ics.matches("BEGIN:VEVENT").count(), 2);
        assert_eq!(partstat("PARTICIPANT_RESPONSE_UNSPECIFIED"), "NEEDS-ACTION");
        assert_eq!(partstat("PARTICIPANT_RESPONSE_TENTATIVE"), "TENTATIVE");
        assert_eq!(partstat("PARTICIPANT_RESPONSE_DECLINED"), "DECLINED");
    }
}
