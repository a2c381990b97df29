//! The child-welfare statutory deadlines of a report (barnevernsloven
//! §§ 2-1, 2-2, 2-3 in the 2023 act), and which of them the sweep reports
//! missed.

use bti_proto::gateway::ReferralKind;
use chrono::{DateTime, Duration, Months, Utc};

use super::ReferralRecord;

/// Statutory deadline kinds.
pub const REVIEW: &str = "review";
pub const FEEDBACK: &str = "feedback";
pub const INVESTIGATION: &str = "investigation";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlineView {
    pub kind: &'static str,
    pub due: DateTime<Utc>,
    pub met: Option<DateTime<Utc>>,
    pub overdue: bool,
}

fn first(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Review within 1 week (met by any acknowledgement), feedback to the
/// reporter within 3 weeks (met when an investigation is opened or the report
/// is closed with feedback), and, once opened, the investigation within
/// 3 months or 6 when extended (met when closed). Counted from receipt by the
/// gateway.
pub fn deadlines(r: &ReferralRecord, now: DateTime<Utc>) -> Vec<DeadlineView> {
    if r.kind() != ReferralKind::ChildWelfareReport {
        return Vec::new();
    }
    let view = |kind, due: DateTime<Utc>, met: Option<DateTime<Utc>>| DeadlineView {
        kind,
        due,
        met,
        overdue: met.is_none() && due < now,
    };
    let after_report = first(r.investigation_time, r.closed_time);
    let mut out = vec![
        view(
            REVIEW,
            r.create_time + Duration::days(7),
            first(r.received_time, after_report),
        ),
        view(FEEDBACK, r.create_time + Duration::days(21), after_report),
    ];
    if r.investigation_time.is_some() {
        let months = if r.investigation_extended { 6 } else { 3 };
        out.push(view(
            INVESTIGATION,
            r.create_time + Months::new(months),
            r.closed_time,
        ));
    }
    out
}

/// Some deadline of `r` is overdue at `now`.
pub fn is_overdue(r: &ReferralRecord, now: DateTime<Utc>) -> bool {
    deadlines(r, now).iter().any(|d| d.overdue)
}

/// The deadlines overdue at `now` that were not reported missed before, in
/// order: one DeadlineMissed each.
pub fn newly_missed(r: &ReferralRecord, now: DateTime<Utc>) -> Vec<&'static str> {
    deadlines(r, now)
        .iter()
        .filter(|d| d.overdue && !r.missed.split_whitespace().any(|m| m == d.kind))
        .map(|d| d.kind)
        .collect()
}

/// `r` with `kinds` recorded as reported missed.
pub fn record_missed(r: &ReferralRecord, kinds: &[&str]) -> ReferralRecord {
    let mut updated = r.clone();
    updated.missed = r
        .missed
        .split_whitespace()
        .chain(kinds.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    updated
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::apply_status;
    use crate::domain::fixtures::report;
    use bti_proto::gateway::ReferralStatus;

    fn kinds_overdue(r: &ReferralRecord, now: DateTime<Utc>) -> Vec<&'static str> {
        deadlines(r, now)
            .into_iter()
            .filter(|d| d.overdue)
            .map(|d| d.kind)
            .collect()
    }

    #[test]
    fn deadlines_fall_due_one_and_three_weeks_after_receipt() {
        let t0 = Utc::now();
        let mut r = report(t0);
        assert!(kinds_overdue(&r, t0 + Duration::days(6)).is_empty());
        assert_eq!(kinds_overdue(&r, t0 + Duration::days(8)), vec![REVIEW]);
        assert_eq!(
            kinds_overdue(&r, t0 + Duration::days(22)),
            vec![REVIEW, FEEDBACK]
        );
        apply_status(
            &mut r,
            ReferralStatus::Received,
            "",
            false,
            t0 + Duration::days(2),
        );
        assert_eq!(kinds_overdue(&r, t0 + Duration::days(22)), vec![FEEDBACK]);
    }

    #[test]
    fn investigation_runs_three_months_or_six_when_extended() {
        let t0 = Utc::now();
        let mut r = report(t0);
        apply_status(
            &mut r,
            ReferralStatus::InvestigationOpened,
            "",
            false,
            t0 + Duration::days(3),
        );
        let d = deadlines(&r, t0);
        assert_eq!(d.len(), 3);
        assert!(d[0].met.is_some() && d[1].met.is_some());
        assert_eq!(d[2].due, t0 + Months::new(3));
        assert_eq!(kinds_overdue(&r, t0 + Months::new(4)), vec![INVESTIGATION]);
        apply_status(&mut r, ReferralStatus::InvestigationOpened, "", true, t0);
        assert!(kinds_overdue(&r, t0 + Months::new(4)).is_empty());
        apply_status(&mut r, ReferralStatus::Closed, "done", false, t0);
        assert!(kinds_overdue(&r, t0 + Months::new(12)).is_empty());
    }

    #[test]
    fn only_child_welfare_reports_have_deadlines() {
        let mut r = report(Utc::now());
        r.kind = ReferralKind::Ppt.as_str_name().into();
        assert!(deadlines(&r, Utc::now() + Duration::days(400)).is_empty());
        assert!(!is_overdue(&r, Utc::now() + Duration::days(400)));
    }

    #[test]
    fn each_missed_deadline_is_selected_once() {
        let t0 = Utc::now();
        let r = report(t0);
        assert!(newly_missed(&r, t0 + Duration::days(6)).is_empty());
        let week = t0 + Duration::days(8);
        assert_eq!(newly_missed(&r, week), vec![REVIEW]);
        let r = record_missed(&r, &newly_missed(&r, week));
        assert_eq!(r.missed, "review");
        assert!(newly_missed(&r, week).is_empty(), "reported already");
        let later = t0 + Duration::days(22);
        assert_eq!(newly_missed(&r, later), vec![FEEDBACK]);
        let r = record_missed(&r, &newly_missed(&r, later));
        assert_eq!(r.missed, "review feedback");
        assert!(newly_missed(&r, later).is_empty());
    }
}
