//! Where a new referral goes: onto the subject's active relay log, or into
//! the municipality's intake. The decision is made here from what is known,
//! asking for the next fact it needs; the application layer asks the relay
//! log and consent and hands the answers back.

use super::{ReferralRecord, unit_tenant};

/// What is known about a pending referral's route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routing {
    /// The client speaks through a unit of the subject's municipality. One
    /// registered for several (an inter-municipal service) sends the others'
    /// referrals to their intake: consent covers units of the subject's own
    /// municipality only.
    pub from_home_unit: bool,
    /// Restricted: attached without consent, on its legal basis. (A pending
    /// referral cannot have been lifted: lifting settles it first.)
    pub restricted: bool,
    /// Whether the subject has an active relay log (`None`: not asked yet).
    pub active_log: Option<bool>,
    /// Whether consent covers the sender's unit on that log (`None`: not
    /// asked yet).
    pub consent_covers_sender: Option<bool>,
}

/// A fact the decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// Does the subject have an active relay log?
    ActiveLog,
    /// Does consent on it cover the sender's unit?
    Consent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Ask(Question),
    /// Attach it to the active relay log.
    RelayLog,
    Intake,
}

impl Routing {
    /// Nothing asked yet about `r`.
    pub fn of(r: &ReferralRecord) -> Routing {
        Routing {
            from_home_unit: unit_tenant(&r.from_unit) == r.tenant,
            restricted: r.restricted,
            active_log: None,
            consent_covers_sender: None,
        }
    }

    /// The route, or the next question. The relay log is asked only for a
    /// client at home, consent only for an unrestricted referral with a log.
    pub fn decide(&self) -> Decision {
        if !self.from_home_unit {
            return Decision::Intake;
        }
        match self.active_log {
            None => return Decision::Ask(Question::ActiveLog),
            Some(false) => return Decision::Intake,
            Some(true) => {}
        }
        if self.restricted {
            return Decision::RelayLog;
        }
        match self.consent_covers_sender {
            None => Decision::Ask(Question::Consent),
            Some(true) => Decision::RelayLog,
            Some(false) => Decision::Intake,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::report;

    fn routing(home: bool, restricted: bool, log: Option<bool>, consent: Option<bool>) -> Routing {
        Routing {
            from_home_unit: home,
            restricted,
            active_log: log,
            consent_covers_sender: consent,
        }
    }

    #[test]
    fn a_client_away_from_home_goes_to_intake_without_asking() {
        assert_eq!(routing(false, true, None, None).decide(), Decision::Intake);
    }

    #[test]
    fn without_an_active_log_it_is_intake() {
        assert_eq!(
            routing(true, false, None, None).decide(),
            Decision::Ask(Question::ActiveLog)
        );
        assert_eq!(
            routing(true, true, Some(false), None).decide(),
            Decision::Intake
        );
    }

    #[test]
    fn restricted_referrals_need_no_consent() {
        assert_eq!(
            routing(true, true, Some(true), None).decide(),
            Decision::RelayLog
        );
    }

    #[test]
    fn others_follow_consent_for_the_senders_unit() {
        assert_eq!(
            routing(true, false, Some(true), None).decide(),
            Decision::Ask(Question::Consent)
        );
        assert_eq!(
            routing(true, false, Some(true), Some(true)).decide(),
            Decision::RelayLog
        );
        assert_eq!(
            routing(true, false, Some(true), Some(false)).decide(),
            Decision::Intake
        );
    }

    #[test]
    fn home_is_the_municipality_of_the_senders_unit() {
        let mut r = report(chrono::Utc::now());
        assert!(Routing::of(&r).from_home_unit);
        r.from_unit = "tenants/4202/units/barnevern".into();
        assert!(!Routing::of(&r).from_home_unit);
        r.restricted = true;
        assert!(Routing::of(&r).restricted);
    }
}
