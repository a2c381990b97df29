//! Status reports: statuses only move forward (SUBMITTED, RECEIVED,
//! INVESTIGATION_OPENED, CLOSED), closing carries the feedback to the
//! reporter, and an investigation may be extended once opened.

use bti_proto::gateway::ReferralStatus;
use bti_runtime::{ApiError, ApiResult, Violations};
use chrono::{DateTime, Utc};

use super::{MAX_TEXT, ReferralRecord};

fn rank(s: ReferralStatus) -> u8 {
    match s {
        ReferralStatus::Unspecified => 0,
        ReferralStatus::Submitted => 1,
        ReferralStatus::Received => 2,
        ReferralStatus::InvestigationOpened => 3,
        ReferralStatus::Closed => 4,
    }
}

/// What a status report does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Moves forward (steps may be skipped).
    Advance,
    /// The same status again: a retry, nothing changes.
    Repeat,
}

fn reportable(to: ReferralStatus) -> bool {
    !matches!(to, ReferralStatus::Unspecified | ReferralStatus::Submitted)
}

/// Statuses only move forward.
pub fn transition(from: ReferralStatus, to: ReferralStatus) -> Result<Transition, String> {
    if !reportable(to) {
        return Err("must be RECEIVED, INVESTIGATION_OPENED or CLOSED".into());
    }
    match rank(to).cmp(&rank(from)) {
        std::cmp::Ordering::Greater => Ok(Transition::Advance),
        std::cmp::Ordering::Equal => Ok(Transition::Repeat),
        std::cmp::Ordering::Less => Err(format!(
            "cannot go back from {} to {}",
            from.as_str_name(),
            to.as_str_name()
        )),
    }
}

/// [`transition`] as the API answers it: a status a client may not report
/// is INVALID_ARGUMENT, going back FAILED_PRECONDITION.
pub fn step(from: ReferralStatus, to: ReferralStatus) -> ApiResult<Transition> {
    transition(from, to).map_err(|m| {
        if reportable(to) {
            ApiError::precondition("STATUS_CANNOT_GO_BACK", "status", m)
        } else {
            ApiError::invalid("status", m)
        }
    })
}

/// The rest of a status report: feedback only (and required) when closing,
/// and an extension only once an investigation is opened.
pub fn check_report(to: ReferralStatus, feedback: &str, extended: bool, v: &mut Violations) {
    if to == ReferralStatus::Closed {
        v.text("feedback", feedback, MAX_TEXT);
    } else if !feedback.is_empty() {
        v.add("feedback", "only with REFERRAL_STATUS_CLOSED");
    }
    if extended
        && !matches!(
            to,
            ReferralStatus::InvestigationOpened | ReferralStatus::Closed
        )
    {
        v.add(
            "investigation_extended",
            "only once an investigation is opened",
        );
    }
}

/// Applies an advancing status report at `t`.
pub fn apply_status(
    r: &mut ReferralRecord,
    to: ReferralStatus,
    feedback: &str,
    extended: bool,
    t: DateTime<Utc>,
) {
    r.status = to.as_str_name().to_string();
    match to {
        ReferralStatus::Received => r.received_time = r.received_time.or(Some(t)),
        ReferralStatus::InvestigationOpened => {
            r.investigation_time = r.investigation_time.or(Some(t));
        }
        ReferralStatus::Closed => {
            r.closed_time = Some(t);
            r.feedback = feedback.to_string();
        }
        _ => {}
    }
    r.investigation_extended |= extended;
    r.update_time = t;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_only_move_forward() {
        use ReferralStatus::*;
        assert_eq!(transition(Submitted, Closed), Ok(Transition::Advance));
        assert_eq!(transition(Received, Received), Ok(Transition::Repeat));
        assert!(transition(Closed, Received).is_err());
        assert!(transition(Received, Submitted).is_err());
        assert!(transition(Received, Unspecified).is_err());
    }

    #[test]
    fn going_back_is_a_precondition_and_submitted_no_status_to_report() {
        use ReferralStatus::*;
        let code = |r: ApiResult<Transition>| tonic::Status::from(r.unwrap_err()).code();
        assert_eq!(
            code(step(Closed, Received)),
            tonic::Code::FailedPrecondition
        );
        assert_eq!(
            code(step(Received, Submitted)),
            tonic::Code::InvalidArgument
        );
    }

    #[test]
    fn feedback_goes_with_closing_and_extensions_with_investigations() {
        use ReferralStatus::*;
        let fields = |to, feedback, extended| {
            let mut v = Violations::new();
            check_report(to, feedback, extended, &mut v);
            match v.finish() {
                Ok(()) => Vec::new(),
                Err(ApiError::InvalidArgument(f)) => f.into_iter().map(|f| f.field).collect(),
                Err(e) => panic!("{e:?}"),
            }
        };
        assert!(fields(Closed, "Avslutta.", true).is_empty());
        assert_eq!(fields(Closed, "", false), vec!["feedback"]);
        assert_eq!(fields(Closed, "a\u{0}b", false), vec!["feedback"]);
        assert_eq!(fields(Received, "x", false), vec!["feedback"]);
        assert_eq!(fields(Received, "", true), vec!["investigation_extended"]);
        assert!(fields(InvestigationOpened, "", true).is_empty());
    }
}
