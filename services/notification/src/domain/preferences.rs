//! A person's preferences and what they mean for one notification: per kind
//! and channel on or off (unmutable kinds always on), a daily digest instead
//! of single e-mails, and quiet hours in Europe/Oslo during which e-mail
//! waits. The inbox is never delayed: it is where one looks, not a push.

use super::kinds::{Channel, Kind};
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Oslo;
use std::collections::BTreeSet;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preferences {
    /// (kind, channel) pairs the person turned off.
    pub muted: BTreeSet<(Kind, Channel)>,
    /// Collect e-mails into one a day, sent at this local time.
    pub digest_at: Option<NaiveTime>,
    /// Quiet hours, local time; may span midnight (22:00–07:00).
    pub quiet: Option<(NaiveTime, NaiveTime)>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum PreferenceError {
    /// The kind cannot be muted (returned as a field violation).
    Unmutable(Kind),
    /// Quiet hours must not be empty.
    EmptyQuietHours,
}

impl Preferences {
    /// Mute or unmute one pair; unmutable kinds refuse.
    pub fn set(&mut self, kind: Kind, channel: Channel, on: bool) -> Result<(), PreferenceError> {
        if on {
            self.muted.remove(&(kind, channel));
        } else if kind.unmutable() {
            return Err(PreferenceError::Unmutable(kind));
        } else {
            self.muted.insert((kind, channel));
        }
        Ok(())
    }

    pub fn set_quiet(
        &mut self,
        quiet: Option<(NaiveTime, NaiveTime)>,
    ) -> Result<(), PreferenceError> {
        if let Some((a, b)) = quiet
            && a == b
        {
            return Err(PreferenceError::EmptyQuietHours);
        }
        self.quiet = quiet;
        Ok(())
    }

    pub fn enabled(&self, kind: Kind, channel: Channel) -> bool {
        kind.unmutable() || !self.muted.contains(&(kind, channel))
    }

    /// When (if at all) the notification goes out on `channel`.
    pub fn decide(&self, kind: Kind, channel: Channel, now: DateTime<Utc>) -> Decision {
        if !self.enabled(kind, channel) {
            return Decision::Muted;
        }
        if channel == Channel::Inbox {
            return Decision::Now;
        }
        // A baton offered or an escalated deadline is not held for a digest.
        if let Some(at) = self.digest_at
            && !kind.unmutable()
        {
            return Decision::Digest(self.defer(next_local(now, at)));
        }
        let at = self.defer(now);
        if at == now {
            Decision::Now
        } else {
            Decision::At(at)
        }
    }

    /// Move `t` out of quiet hours (to their end), or leave it.
    pub fn defer(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let Some((start, end)) = self.quiet else {
            return t;
        };
        let local = t.with_timezone(&Oslo).time();
        let inside = if start < end {
            local >= start && local < end
        } else {
            local >= start || local < end
        };
        if inside { next_local(t, end) } else { t }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Muted,
    Now,
    /// Send a single e-mail at this time (after quiet hours).
    At(DateTime<Utc>),
    /// Add to the digest sent at this time.
    Digest(DateTime<Utc>),
}

/// The first instant at or after `now` whose Oslo wall time is `at`. On the
/// day clocks go forward a missing time moves an hour on; on the day they go
/// back the earlier of the two is used.
pub fn next_local(now: DateTime<Utc>, at: NaiveTime) -> DateTime<Utc> {
    let today = now.with_timezone(&Oslo).date_naive();
    for day in 0..3 {
        let date = today + Duration::days(day);
        let naive = date.and_time(at);
        let local = Oslo.from_local_datetime(&naive).earliest().or_else(|| {
            Oslo.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        });
        if let Some(l) = local {
            let u = l.with_timezone(&Utc);
            if u >= now {
                return u;
            }
        }
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn oslo(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Oslo.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn muting_per_kind_and_channel() {
        let mut p = Preferences::default();
        p.set(Kind::EntryAdded, Channel::Email, false).unwrap();
        let now = oslo(2026, 12, 2, 12, 0);
        assert_eq!(
            p.decide(Kind::EntryAdded, Channel::Email, now),
            Decision::Muted
        );
        assert_eq!(
            p.decide(Kind::EntryAdded, Channel::Inbox, now),
            Decision::Now
        );
        p.set(Kind::EntryAdded, Channel::Email, true).unwrap();
        assert_eq!(
            p.decide(Kind::EntryAdded, Channel::Email, now),
            Decision::Now
        );
    }

    #[test]
    fn unmutable_kinds_refuse_muting() {
        let mut p = Preferences::default();
        assert_eq!(
            p.set(Kind::HandoverOffered, Channel::Email, false),
            Err(PreferenceError::Unmutable(Kind::HandoverOffered))
        );
        // Even if stored muted by some older version, they go out.
        p.muted.insert((Kind::DeadlineEscalated, Channel::Email));
        assert!(p.enabled(Kind::DeadlineEscalated, Channel::Email));
    }

    #[test]
    fn quiet_hours_in_oslo_across_midnight_and_dst() {
        let mut p = Preferences::default();
        p.set_quiet(Some((t(22, 0), t(7, 0)))).unwrap();
        // Winter (UTC+1): 23:30 Oslo waits till 07:00 Oslo next day.
        let late = oslo(2026, 12, 2, 23, 30);
        assert_eq!(
            p.decide(Kind::EntryAdded, Channel::Email, late),
            Decision::At(oslo(2026, 12, 3, 7, 0))
        );
        // 03:00 waits till 07:00 the same day.
        assert_eq!(p.defer(oslo(2026, 12, 3, 3, 0)), oslo(2026, 12, 3, 7, 0));
        // Summer (UTC+2) uses Oslo time, not UTC: 21:30 Oslo is 19:30 UTC.
        let summer = oslo(2026, 7, 1, 21, 30);
        assert_eq!(
            p.decide(Kind::EntryAdded, Channel::Email, summer),
            Decision::Now
        );
        // The inbox is never delayed.
        assert_eq!(
            p.decide(Kind::EntryAdded, Channel::Inbox, late),
            Decision::Now
        );
        assert_eq!(
            p.set_quiet(Some((t(1, 0), t(1, 0)))),
            Err(PreferenceError::EmptyQuietHours)
        );
    }

    #[test]
    fn digest_collects_except_unmutable() {
        let p = Preferences {
            digest_at: Some(t(8, 0)),
            ..Default::default()
        };
        let noon = oslo(2026, 12, 2, 12, 0);
        assert_eq!(
            p.decide(Kind::EntryAdded, Channel::Email, noon),
            Decision::Digest(oslo(2026, 12, 3, 8, 0))
        );
        assert_eq!(
            p.decide(Kind::HandoverOffered, Channel::Email, noon),
            Decision::Now
        );
    }

    #[test]
    fn next_local_over_spring_forward() {
        // 2026-03-29 02:30 does not exist in Oslo; it becomes 03:30 CEST.
        let before = oslo(2026, 3, 29, 1, 0);
        assert_eq!(next_local(before, t(2, 30)), oslo(2026, 3, 29, 3, 30));
    }
}
