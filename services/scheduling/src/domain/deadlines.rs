//! The deadlines of the BTI model: when each kind is due from what caused
//! it, when its owner is reminded, when it escalates to the unit's leaders,
//! and which stages a sweep at a given instant has passed.

use bti_proto::caselog::ConcernArea;
use bti_proto::directory::UnitType;
use bti_proto::scheduling::{DeadlineKind, DeadlineStage};
use chrono::{DateTime, Duration, Months, NaiveDate, TimeZone, Utc};

/// When a deadline is due, reminded and escalated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub remind: DateTime<Utc>,
    pub due: DateTime<Utc>,
    pub escalate: DateTime<Utc>,
}

/// How long before the due time the owner is reminded, and how long after
/// it an unmet deadline goes to the unit's leaders.
pub fn lead_and_grace(kind: DeadlineKind) -> (Duration, Duration) {
    match kind {
        DeadlineKind::GuardianContactEnvironment => (Duration::days(2), Duration::days(2)),
        DeadlineKind::GuardianContactDevelopment => (Duration::days(7), Duration::days(7)),
        DeadlineKind::MeasureEvaluation => (Duration::days(7), Duration::days(14)),
        DeadlineKind::UnitReview => (Duration::days(14), Duration::days(30)),
        DeadlineKind::ConsentRenewal => (Duration::days(30), Duration::zero()),
        _ => (Duration::days(7), Duration::days(7)),
    }
}

/// The timing of a `kind` deadline due at `due`.
pub fn timing(kind: DeadlineKind, due: DateTime<Utc>) -> Timing {
    let (lead, grace) = lead_and_grace(kind);
    Timing {
        remind: due - lead,
        due,
        escalate: due + grace,
    }
}

/// The guardian contact an employee owes after registering unease: within
/// one week when it is about the kindergarten or school environment, within
/// four weeks when it is about the child's development (and when not stated,
/// the general rule).
pub fn guardian_contact(
    area: ConcernArea,
    registered: DateTime<Utc>,
) -> (DeadlineKind, DateTime<Utc>) {
    match area {
        ConcernArea::Environment => (
            DeadlineKind::GuardianContactEnvironment,
            registered + Duration::weeks(1),
        ),
        _ => (
            DeadlineKind::GuardianContactDevelopment,
            registered + Duration::weeks(4),
        ),
    }
}

/// A measure is evaluated by the end of its evaluate-by date, in Norway.
pub fn evaluate_by(date: NaiveDate) -> DateTime<Utc> {
    let next = date.succ_opt().unwrap_or(date);
    chrono_tz::Europe::Oslo
        .from_local_datetime(&next.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&next.and_hms_opt(0, 0, 0).expect("midnight")))
}

/// How often a unit's leaders review each active log: twice a year, three
/// times for PPT and the refugee service.
pub fn review_interval(unit: UnitType) -> Months {
    match unit {
        UnitType::Ppt | UnitType::RefugeeService => Months::new(4),
        _ => Months::new(6),
    }
}

/// The next review after `from`.
pub fn next_review(from: DateTime<Utc>, unit: UnitType) -> DateTime<Utc> {
    from.checked_add_months(review_interval(unit))
        .unwrap_or(from)
}

/// A consent is renewed before its end of validity.
pub fn consent_renewal(valid_until: DateTime<Utc>) -> DateTime<Utc> {
    valid_until
}

/// The stage an open deadline of timing `t` is at on `now`.
pub fn stage_at(t: &Timing, now: DateTime<Utc>) -> DeadlineStage {
    if now >= t.escalate && now >= t.due {
        DeadlineStage::Escalated
    } else if now >= t.due {
        DeadlineStage::Overdue
    } else if now >= t.remind {
        DeadlineStage::Reminded
    } else {
        DeadlineStage::Pending
    }
}

fn rank(s: DeadlineStage) -> i32 {
    match s {
        DeadlineStage::Unspecified | DeadlineStage::Pending => 0,
        DeadlineStage::Reminded => 1,
        DeadlineStage::Overdue => 2,
        DeadlineStage::Escalated => 3,
    }
}

/// The stages a sweep at `now` moves an open deadline through, from the
/// stage it `was` at, in order; each is told once. A deadline created
/// already past its due time is not "reminded" after the fact.
pub fn stages_passed(was: DeadlineStage, t: &Timing, now: DateTime<Utc>) -> Vec<DeadlineStage> {
    let to = stage_at(t, now);
    let mut out = Vec::new();
    for s in [
        DeadlineStage::Reminded,
        DeadlineStage::Overdue,
        DeadlineStage::Escalated,
    ] {
        if rank(s) > rank(was) && rank(s) <= rank(to) {
            out.push(s);
        }
    }
    if out.len() > 1 && out[0] == DeadlineStage::Reminded {
        out.remove(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 8, 0, 0).unwrap()
    }

    #[test]
    fn guardian_contact_is_one_week_for_the_environment_and_four_for_development() {
        let t = at(2026, 9, 1);
        assert_eq!(
            guardian_contact(ConcernArea::Environment, t),
            (DeadlineKind::GuardianContactEnvironment, at(2026, 9, 8))
        );
        assert_eq!(
            guardian_contact(ConcernArea::Development, t),
            (DeadlineKind::GuardianContactDevelopment, at(2026, 9, 29))
        );
        assert_eq!(
            guardian_contact(ConcernArea::Unspecified, t).0,
            DeadlineKind::GuardianContactDevelopment
        );
    }

    #[test]
    fn each_kind_is_reminded_and_escalated_on_its_own_terms() {
        let d = Duration::days;
        assert_eq!(
            lead_and_grace(DeadlineKind::GuardianContactEnvironment),
            (d(2), d(2))
        );
        assert_eq!(
            lead_and_grace(DeadlineKind::GuardianContactDevelopment),
            (d(7), d(7))
        );
        assert_eq!(
            lead_and_grace(DeadlineKind::MeasureEvaluation),
            (d(7), d(14))
        );
        assert_eq!(lead_and_grace(DeadlineKind::UnitReview), (d(14), d(30)));
        assert_eq!(
            lead_and_grace(DeadlineKind::ConsentRenewal),
            (d(30), Duration::zero())
        );
    }

    #[test]
    fn evaluate_by_is_the_end_of_that_day_in_norway() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert_eq!(
            evaluate_by(d),
            Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap()
        );
        let summer = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
        assert_eq!(
            evaluate_by(summer),
            Utc.with_ymd_and_hms(2026, 6, 30, 22, 0, 0).unwrap()
        );
    }

    #[test]
    fn reviews_are_twice_a_year_and_three_times_for_ppt_and_refugee_service() {
        let t = at(2026, 1, 15);
        assert_eq!(next_review(t, UnitType::School), at(2026, 7, 15));
        assert_eq!(next_review(t, UnitType::Kindergarten), at(2026, 7, 15));
        assert_eq!(next_review(t, UnitType::Ppt), at(2026, 5, 15));
        assert_eq!(next_review(t, UnitType::RefugeeService), at(2026, 5, 15));
    }

    #[test]
    fn a_deadline_is_reminded_then_overdue_then_escalated() {
        let (kind, due) = guardian_contact(ConcernArea::Environment, at(2026, 9, 1));
        let t = timing(kind, due);
        assert_eq!(t.remind, at(2026, 9, 6));
        assert_eq!(t.escalate, at(2026, 9, 10));
        let before = t.remind - Duration::seconds(1);
        assert_eq!(stage_at(&t, before), DeadlineStage::Pending);
        assert_eq!(stage_at(&t, t.remind), DeadlineStage::Reminded);
        assert_eq!(stage_at(&t, t.due), DeadlineStage::Overdue);
        assert_eq!(
            stage_at(&t, t.escalate - Duration::seconds(1)),
            DeadlineStage::Overdue
        );
        assert_eq!(stage_at(&t, t.escalate), DeadlineStage::Escalated);
    }

    #[test]
    fn consent_renewal_escalates_at_the_end_of_validity() {
        let end = at(2027, 6, 1);
        let t = timing(DeadlineKind::ConsentRenewal, consent_renewal(end));
        assert_eq!(t.remind, at(2027, 5, 2));
        assert_eq!(stage_at(&t, end), DeadlineStage::Escalated);
    }

    #[test]
    fn each_stage_is_passed_once_and_in_order() {
        let t = timing(DeadlineKind::MeasureEvaluation, at(2026, 10, 20));
        let p = DeadlineStage::Pending;
        assert!(stages_passed(p, &t, t.remind - Duration::seconds(1)).is_empty());
        assert_eq!(
            stages_passed(p, &t, t.remind),
            vec![DeadlineStage::Reminded]
        );
        assert_eq!(
            stages_passed(DeadlineStage::Reminded, &t, t.due),
            vec![DeadlineStage::Overdue]
        );
        assert!(stages_passed(DeadlineStage::Overdue, &t, t.due).is_empty());
        assert_eq!(
            stages_passed(DeadlineStage::Overdue, &t, t.escalate),
            vec![DeadlineStage::Escalated]
        );
        // A clock that jumps past everything: overdue and escalated, not a
        // reminder after the fact.
        assert_eq!(
            stages_passed(p, &t, t.escalate),
            vec![DeadlineStage::Overdue, DeadlineStage::Escalated]
        );
        assert!(stages_passed(DeadlineStage::Escalated, &t, t.escalate).is_empty());
    }
}
