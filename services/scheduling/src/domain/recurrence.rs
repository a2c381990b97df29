//! A series' dates: RFC 5545 recurrence (RRULE and EXDATE, via the `rrule`
//! crate) or an explicit list, as local times in the series' time zone, and
//! each meeting divided into bookable slots.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// More meetings than any unit holds in years: a recurrence without an end
/// is refused rather than truncated silently.
pub const MAX_MEETINGS: usize = 60;

/// Slots per meeting, at most.
pub const MAX_SLOTS: i64 = 24;

/// The series' time zone, `Europe/Oslo` when empty.
pub fn time_zone(name: &str) -> Result<Tz, String> {
    if name.is_empty() {
        return Ok(chrono_tz::Europe::Oslo);
    }
    name.parse::<Tz>()
        .map_err(|_| "must be an IANA time zone such as Europe/Oslo".into())
}

/// `YYYY-MM-DDTHH:MM` (seconds optional) in `tz`, refusing times that do
/// not exist (the spring-forward hour) and taking the earlier of ambiguous
/// ones.
pub fn local_time(value: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let naive = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| "must be a local date-time, YYYY-MM-DDTHH:MM".to_string())?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| "does not exist in the time zone (daylight saving change)".into())
}

/// The starts of a recurrence: `lines` are `RRULE:` and `EXDATE:` lines;
/// EXDATEs without a TZID are local times of `tz`.
pub fn expand(first_start: &str, lines: &[String], tz: Tz) -> Result<Vec<DateTime<Utc>>, String> {
    let start = local_time(first_start, tz)?;
    let local = start.with_timezone(&tz).format("%Y%m%dT%H%M%S");
    let mut text = format!("DTSTART;TZID={}:{local}", tz.name());
    let mut rules = 0;
    for line in lines {
        let line = line.trim();
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("RRULE:") {
            if !upper.contains("COUNT=") && !upper.contains("UNTIL=") {
                return Err("every RRULE needs COUNT or UNTIL".into());
            }
            rules += 1;
            text.push('\n');
            text.push_str(line);
        } else if let Some(dates) = upper.strip_prefix("EXDATE:") {
            text.push_str(&format!("\nEXDATE;TZID={}:{dates}", tz.name()));
        } else if upper.starts_with("EXDATE;") {
            text.push('\n');
            text.push_str(line);
        } else {
            return Err("only RRULE and EXDATE lines are allowed".into());
        }
    }
    if rules < 1 {
        return Err("needs at least one RRULE".into());
    }
    let set: rrule::RRuleSet = text.parse().map_err(|e| format!("is not RFC 5545: {e}"))?;
    let result = set.all(MAX_MEETINGS as u16 + 1);
    if result.dates.len() > MAX_MEETINGS {
        return Err(format!("produces more than {MAX_MEETINGS} meetings"));
    }
    Ok(result.dates.iter().map(|d| d.with_timezone(&Utc)).collect())
}

/// The starts of an explicit list, sorted, refusing duplicates.
pub fn explicit(values: &[String], tz: Tz) -> Result<Vec<DateTime<Utc>>, (usize, String)> {
    if values.len() > MAX_MEETINGS {
        return Err((MAX_MEETINGS, format!("at most {MAX_MEETINGS} meetings")));
    }
    let mut out = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let t = local_time(v, tz).map_err(|e| (i, e))?;
        if out.contains(&t) {
            return Err((i, "appears twice".into()));
        }
        out.push(t);
    }
    out.sort();
    Ok(out)
}

/// The slots of a meeting from `start` lasting `length`: as many whole
/// `slot` lengths as fit.
pub fn slots(
    start: DateTime<Utc>,
    length: Duration,
    slot: Duration,
) -> Result<Vec<DateTime<Utc>>, String> {
    if slot <= Duration::zero() {
        return Err("must be positive".into());
    }
    let n = length.num_seconds() / slot.num_seconds();
    if n < 1 {
        return Err("must fit the meeting at least once".into());
    }
    if n > MAX_SLOTS {
        return Err(format!(
            "divides the meeting into more than {MAX_SLOTS} slots"
        ));
    }
    Ok((0..n).map(|i| start + slot * i as i32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    fn oslo() -> Tz {
        chrono_tz::Europe::Oslo
    }

    #[test]
    fn saudas_first_year_is_two_before_christmas_then_three_in_spring() {
        // Every second month from October, five times: October and December,
        // then February, April and June.
        let dates = expand(
            "2026-10-06T13:00",
            &["RRULE:FREQ=MONTHLY;INTERVAL=2;BYDAY=1TU;COUNT=5".into()],
            oslo(),
        )
        .unwrap();
        let christmas = Utc.with_ymd_and_hms(2026, 12, 24, 0, 0, 0).unwrap();
        let summer = Utc.with_ymd_and_hms(2027, 7, 1, 0, 0, 0).unwrap();
        assert_eq!(dates.iter().filter(|d| **d < christmas).count(), 2);
        assert_eq!(
            dates
                .iter()
                .filter(|d| **d >= christmas && **d < summer)
                .count(),
            3
        );
        // 13:00 local is 12:00 UTC in winter and 11:00 UTC in summer time.
        assert_eq!(
            dates[0],
            Utc.with_ymd_and_hms(2026, 10, 6, 11, 0, 0).unwrap()
        );
        assert_eq!(
            dates[1],
            Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
        );
        assert_eq!(dates[4].month(), 6);
    }

    #[test]
    fn exdates_are_local_times_of_the_series() {
        let dates = expand(
            "2026-10-06T13:00",
            &[
                "RRULE:FREQ=WEEKLY;COUNT=3".into(),
                "EXDATE:20261013T130000".into(),
            ],
            oslo(),
        )
        .unwrap();
        assert_eq!(dates.len(), 2);
        assert_eq!(
            dates[1],
            Utc.with_ymd_and_hms(2026, 10, 20, 11, 0, 0).unwrap()
        );
    }

    #[test]
    fn unbounded_or_foreign_lines_are_refused() {
        for lines in [
            vec!["RRULE:FREQ=WEEKLY".to_string()],
            vec!["RDATE:20261013T130000".to_string()],
            vec![],
            vec!["RRULE:FREQ=DAILY;COUNT=400".to_string()],
            vec!["RRULE:FREQ=SOMETIMES;COUNT=2".to_string()],
        ] {
            assert!(
                expand("2026-10-06T13:00", &lines, oslo()).is_err(),
                "{lines:?}"
            );
        }
        let exactly = vec![format!("RRULE:FREQ=DAILY;COUNT={MAX_MEETINGS}")];
        assert_eq!(
            expand("2026-10-06T13:00", &exactly, oslo()).unwrap().len(),
            MAX_MEETINGS
        );
    }

    #[test]
    fn a_rule_ends_by_count_or_until_and_lists_and_slots_have_exact_bounds() {
        // Two rules together: the first Tuesdays and the third Thursdays.
        let two = expand(
            "2026-10-06T13:00",
            &[
                "RRULE:FREQ=MONTHLY;BYDAY=1TU;COUNT=2".into(),
                "RRULE:FREQ=MONTHLY;BYDAY=3TH;COUNT=2".into(),
            ],
            oslo(),
        )
        .unwrap();
        assert_eq!(two.len(), 4);
        let until = expand(
            "2026-10-06T13:00",
            &["RRULE:FREQ=WEEKLY;UNTIL=20261021T000000Z".into()],
            oslo(),
        )
        .unwrap();
        assert_eq!(until.len(), 3);
        let e = expand("2026-10-06T13:00", &["RRULE:FREQ=WEEKLY".into()], oslo()).unwrap_err();
        assert!(e.contains("COUNT or UNTIL"), "{e}");
        let sixty: Vec<String> = (0..MAX_MEETINGS)
            .map(|i| format!("2027-01-01T{:02}:{:02}", i / 60 + 8, i % 60))
            .collect();
        assert_eq!(explicit(&sixty, oslo()).unwrap().len(), MAX_MEETINGS);
        let mut more = sixty.clone();
        more.push("2027-02-01T08:00".into());
        assert!(explicit(&more, oslo()).is_err());
        let t = Utc.with_ymd_and_hms(2026, 10, 6, 11, 0, 0).unwrap();
        assert_eq!(
            slots(t, Duration::minutes(30), Duration::minutes(30)).unwrap(),
            vec![t]
        );
    }

    #[test]
    fn local_times_across_daylight_saving() {
        assert!(local_time("2027-03-28T02:30", oslo()).is_err());
        assert_eq!(
            local_time("2026-10-25T02:30", oslo()).unwrap(),
            Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap()
        );
        assert!(local_time("2026-10-25", oslo()).is_err());
        assert!(time_zone("Mars/Olympus").is_err());
        assert_eq!(time_zone("").unwrap(), oslo());
    }

    #[test]
    fn explicit_lists_sort_and_refuse_duplicates() {
        let v = vec![
            "2026-11-10T09:00".to_string(),
            "2026-10-06T09:00".to_string(),
        ];
        let d = explicit(&v, oslo()).unwrap();
        assert!(d[0] < d[1]);
        let dup = vec![
            "2026-10-06T09:00".to_string(),
            "2026-10-06T09:00".to_string(),
        ];
        assert_eq!(explicit(&dup, oslo()).unwrap_err().0, 1);
    }

    #[test]
    fn a_meeting_divides_into_whole_slots() {
        let t = Utc.with_ymd_and_hms(2026, 10, 6, 11, 0, 0).unwrap();
        let s = slots(t, Duration::minutes(120), Duration::minutes(45)).unwrap();
        assert_eq!(s, vec![t, t + Duration::minutes(45)]);
        assert!(slots(t, Duration::minutes(30), Duration::minutes(45)).is_err());
        assert!(slots(t, Duration::minutes(30), Duration::zero()).is_err());
        assert_eq!(
            slots(t, Duration::minutes(24), Duration::minutes(1))
                .unwrap()
                .len(),
            24
        );
        assert!(slots(t, Duration::minutes(25), Duration::minutes(1)).is_err());
    }
}
