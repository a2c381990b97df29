//! The baton and transfer state machine. One holder at a time; the holder
//! keeps the baton until a new holder accepts an offer (or a unit leader
//! reassigns it while the holder is absent). At most one offer is open; a
//! transfer is an offer to the receiving unit that completes the move when
//! accepted. When the baton passes, the former holder stays on as a
//! participant for her unit while consent covers it, unless the offer
//! released her.
//!
//! Every function here is pure: it takes what the log looks like and returns
//! what changes; the application layer reads, asks consent, and commits.

use bti_proto::caselog::{HandoverState, TransferState};
use bti_runtime::api::{check_etag, new_id};
use bti_runtime::{ApiError, ApiResult};
use chrono::{DateTime, Utc};

use super::access::{Capacity, require_may_answer};
use super::{CaseLogRecord, HandoverRecord, LogContext, ParticipantRecord, TransferRecord};

/// What a participant row created for a former holder says her task is.
pub const FORMER_HOLDER_TASKS: &str = "Tidlegare stafetthaldar";

/// The baton moving from the log's holder to another professional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    pub from: String,
    pub from_unit: String,
    pub to: String,
    pub to_unit: String,
    pub at: DateTime<Utc>,
    /// A unit leader reassigned it (no offer was accepted).
    pub reassigned: bool,
    /// The offer said the former holder leaves the log.
    pub release_former: bool,
}

/// What becomes of the former holder when the baton passes.
#[derive(Debug, Clone, PartialEq)]
pub enum FormerHolder {
    /// Released by the offer, no longer covered by consent, or the new holder herself.
    Leaves,
    /// Already a participant for her unit.
    Stays,
    /// Joins as a participant for her unit: the row to add.
    Joins(ParticipantRecord),
}

impl FormerHolder {
    pub fn stays(&self) -> bool {
        !matches!(self, FormerHolder::Leaves)
    }
}

impl Pass {
    fn from_holder(log: &CaseLogRecord, to: &str, to_unit: &str, at: DateTime<Utc>) -> Pass {
        Pass {
            from: log.holder.clone(),
            from_unit: log.holder_unit.clone(),
            to: to.to_string(),
            to_unit: to_unit.to_string(),
            at,
            reassigned: false,
            release_former: false,
        }
    }

    /// Whether the former holder may stay at all; if so, the caller asks
    /// whether consent still covers `from_unit` and calls [`Pass::former_holder`].
    pub fn former_may_stay(&self) -> bool {
        !self.release_former && self.from != self.to
    }

    /// What becomes of the former holder, given whether consent covers her unit.
    pub fn former_holder(
        &self,
        log: &CaseLogRecord,
        participants: &[ParticipantRecord],
        covered: bool,
    ) -> FormerHolder {
        if !self.former_may_stay() || !covered {
            return FormerHolder::Leaves;
        }
        let already = participants
            .iter()
            .any(|p| !p.removed && p.unit == self.from_unit && p.professional == self.from);
        if already {
            return FormerHolder::Stays;
        }
        FormerHolder::Joins(ParticipantRecord {
            tenant: log.tenant.clone(),
            case_log: log.id.clone(),
            id: new_id(),
            unit: self.from_unit.clone(),
            professional: self.from.clone(),
            tasks: FORMER_HOLDER_TASKS.into(),
            removed: false,
            remove_time: None,
            version: 1,
            create_time: self.at,
        })
    }

    /// The log with the new holder.
    fn apply(&self, log: &mut CaseLogRecord) {
        log.holder = self.to.clone();
        log.holder_unit = self.to_unit.clone();
        log.holder_since = self.at;
    }
}

/// The open offer and its transfer, ended because the baton moved otherwise
/// or the log closed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Voided {
    pub handover: Option<HandoverRecord>,
    pub transfer: Option<TransferRecord>,
}

/// Withdraws the open offer and cancels its transfer, clearing both from `log`.
pub fn void_open_offer(log: &mut CaseLogRecord, ctx: &LogContext, at: DateTime<Utc>) -> Voided {
    log.pending_handover.clear();
    log.pending_transfer.clear();
    Voided {
        handover: ctx.pending_handover.as_ref().map(|h| HandoverRecord {
            state: HandoverState::Withdrawn.as_str_name().into(),
            decide_time: Some(at),
            ..h.clone()
        }),
        transfer: ctx.pending_transfer.as_ref().map(|t| TransferRecord {
            state: TransferState::Cancelled.as_str_name().into(),
            decide_time: Some(at),
            ..t.clone()
        }),
    }
}

/// A new offer of the baton from the log's holder.
pub fn offer(
    log: &CaseLogRecord,
    to: &str,
    to_unit: &str,
    message: &str,
    transfer: &str,
    release_former_holder: bool,
    at: DateTime<Utc>,
) -> HandoverRecord {
    HandoverRecord {
        tenant: log.tenant.clone(),
        case_log: log.id.clone(),
        id: new_id(),
        to_professional: to.into(),
        to_unit: to_unit.into(),
        from_professional: log.holder.clone(),
        message: message.into(),
        state: HandoverState::Offered.as_str_name().into(),
        transfer: transfer.into(),
        version: 1,
        create_time: at,
        decide_time: None,
        release_former_holder,
    }
}

/// Whether a new offer may be made: one at a time.
pub fn require_no_open_offer(log: &CaseLogRecord, subject: String) -> ApiResult<()> {
    if log.pending_handover.is_empty() {
        Ok(())
    } else {
        Err(ApiError::precondition(
            "HANDOVER_PENDING",
            subject,
            "an offer is open; withdraw it first",
        ))
    }
}

/// What answering the open offer changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The log after the answer.
    pub log: CaseLogRecord,
    /// The offer, decided (at the version read).
    pub handover: HandoverRecord,
    /// The offer's transfer, completed or cancelled with it.
    pub transfer: Option<(TransferRecord, TransferState)>,
    /// When accepted: the baton passing.
    pub pass: Option<Pass>,
}

/// Accepts, declines or withdraws the open offer `handover` (by id) as
/// `actor`: the offer must still be open (FAILED_PRECONDITION), at `etag`
/// (ABORTED), on an active log; withdrawing is the holder's, answering the
/// offered professional's. A transfer completes when its offer is accepted
/// and is cancelled otherwise.
pub fn answer_offer(
    ctx: &LogContext,
    handover: &str,
    subject: &str,
    etag: &str,
    outcome: HandoverState,
    actor: &Capacity,
    at: DateTime<Utc>,
) -> ApiResult<Answer> {
    let h = ctx
        .pending_handover
        .as_ref()
        .filter(|h| h.id == handover)
        .ok_or_else(|| {
            ApiError::precondition("HANDOVER_NOT_OPEN", subject, "this offer is no longer open")
        })?;
    check_etag(subject, etag, h.version)?;
    super::access::require_active(&ctx.log)?;
    require_may_answer(actor, outcome == HandoverState::Withdrawn)?;
    let mut log = ctx.log.changed(at);
    log.pending_handover.clear();
    let pass = (outcome == HandoverState::Accepted).then(|| Pass {
        release_former: h.release_former_holder,
        ..Pass::from_holder(&ctx.log, &h.to_professional, &h.to_unit, at)
    });
    if let Some(pass) = &pass {
        pass.apply(&mut log);
    }
    let transfer = ctx
        .pending_transfer
        .as_ref()
        .filter(|t| !h.transfer.is_empty() && t.id == h.transfer)
        .map(|t| {
            let state = if outcome == HandoverState::Accepted {
                log.unit = t.to_unit.clone();
                TransferState::Completed
            } else {
                TransferState::Cancelled
            };
            log.pending_transfer.clear();
            let decided = TransferRecord {
                state: state.as_str_name().into(),
                decide_time: Some(at),
                ..t.clone()
            };
            (decided, state)
        });
    Ok(Answer {
        log,
        handover: HandoverRecord {
            state: outcome.as_str_name().into(),
            decide_time: Some(at),
            ..h.clone()
        },
        transfer,
        pass,
    })
}

/// What a unit leader's reassignment changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Reassignment {
    pub log: CaseLogRecord,
    pub pass: Pass,
    /// The open offer (and its transfer) end: the baton moved otherwise.
    pub voided: Voided,
}

/// Gives the baton to `to` in `to_unit` while the holder is absent
/// (`holder_absent`, from the directory); otherwise FAILED_PRECONDITION.
pub fn reassign(
    ctx: &LogContext,
    to: &str,
    to_unit: &str,
    holder_absent: bool,
    at: DateTime<Utc>,
) -> ApiResult<Reassignment> {
    if !holder_absent {
        return Err(ApiError::precondition(
            "HOLDER_NOT_ABSENT",
            ctx.log.name(),
            "the baton is reassigned only while the holder is marked absent; otherwise offer a handover",
        ));
    }
    let mut log = ctx.log.changed(at);
    let voided = void_open_offer(&mut log, ctx, at);
    let pass = Pass {
        reassigned: true,
        ..Pass::from_holder(&ctx.log, to, to_unit, at)
    };
    pass.apply(&mut log);
    Ok(Reassignment { log, pass, voided })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use bti_proto::caselog::ActingAs;

    fn ctx(offer: Option<HandoverRecord>, transfer: Option<TransferRecord>) -> LogContext {
        LogContext {
            log: offer.as_ref().map(with_offer).unwrap_or_else(log),
            participants: vec![],
            pending_handover: offer,
            pending_transfer: transfer,
        }
    }

    fn as_(acting_as: ActingAs, unit: &str) -> Capacity {
        Capacity {
            acting_as,
            unit: unit.into(),
            basis: String::new(),
        }
    }

    #[test]
    fn accepting_passes_the_baton_and_the_former_holder_stays() {
        let c = ctx(Some(offer_to("nils", NURSE)), None);
        let recipient = as_(ActingAs::HandoverRecipient, NURSE);
        let a = answer_offer(&c, "h", "h", "", HandoverState::Accepted, &recipient, at()).unwrap();
        assert_eq!(
            (a.log.holder.as_str(), a.log.holder_unit.as_str()),
            ("nils", NURSE)
        );
        assert!(a.log.pending_handover.is_empty());
        assert_eq!(a.handover.state, "HANDOVER_STATE_ACCEPTED");
        let pass = a.pass.unwrap();
        assert_eq!(
            (pass.from.as_str(), pass.from_unit.as_str()),
            ("kari", SCHOOL)
        );
        match pass.former_holder(&c.log, &[], true) {
            FormerHolder::Joins(p) => {
                assert_eq!((p.unit.as_str(), p.professional.as_str()), (SCHOOL, "kari"))
            }
            other => panic!("{other:?}"),
        }
        // Already a participant for her unit: nothing to add, she stays.
        let ps = [participant(SCHOOL, "kari", false)];
        assert_eq!(pass.former_holder(&c.log, &ps, true), FormerHolder::Stays);
        // Consent no longer covers her unit: she leaves.
        assert_eq!(pass.former_holder(&c.log, &[], false), FormerHolder::Leaves);
    }

    #[test]
    fn an_offer_may_release_the_former_holder() {
        let released = HandoverRecord {
            release_former_holder: true,
            ..offer_to("nils", NURSE)
        };
        let c = ctx(Some(released), None);
        let recipient = as_(ActingAs::HandoverRecipient, NURSE);
        let a = answer_offer(&c, "h", "h", "", HandoverState::Accepted, &recipient, at()).unwrap();
        let pass = a.pass.unwrap();
        assert!(!pass.former_may_stay());
        assert_eq!(pass.former_holder(&c.log, &[], true), FormerHolder::Leaves);
    }

    #[test]
    fn only_the_right_person_answers_an_open_offer() {
        let c = ctx(Some(offer_to("nils", NURSE)), None);
        let holder = as_(ActingAs::Holder, SCHOOL);
        let recipient = as_(ActingAs::HandoverRecipient, NURSE);
        let participant = as_(ActingAs::Participant, NURSE);
        let answer = |outcome, who: &Capacity| answer_offer(&c, "h", "h", "", outcome, who, at());
        assert!(answer(HandoverState::Accepted, &holder).is_err());
        assert!(answer(HandoverState::Declined, &participant).is_err());
        assert!(answer(HandoverState::Withdrawn, &recipient).is_err());
        let declined = answer(HandoverState::Declined, &recipient).unwrap();
        assert_eq!(declined.log.holder, "kari");
        assert!(declined.pass.is_none());
        let withdrawn = answer(HandoverState::Withdrawn, &holder).unwrap();
        assert_eq!(withdrawn.handover.state, "HANDOVER_STATE_WITHDRAWN");
        // Another offer, or a stale etag, or a closed log.
        let gone = answer_offer(
            &c,
            "other",
            "x",
            "",
            HandoverState::Accepted,
            &recipient,
            at(),
        );
        assert!(matches!(
            gone,
            Err(ApiError::FailedPrecondition {
                reason: "HANDOVER_NOT_OPEN",
                ..
            })
        ));
        let stale = answer_offer(
            &c,
            "h",
            "h",
            "v9",
            HandoverState::Accepted,
            &recipient,
            at(),
        );
        assert!(matches!(stale, Err(ApiError::EtagMismatch(_))));
        let mut closed = c.clone();
        closed.log.state = "CASE_LOG_STATE_CLOSED".into();
        let late = answer_offer(
            &closed,
            "h",
            "h",
            "",
            HandoverState::Accepted,
            &recipient,
            at(),
        );
        assert!(matches!(
            late,
            Err(ApiError::FailedPrecondition {
                reason: "CASE_LOG_CLOSED",
                ..
            })
        ));
    }

    #[test]
    fn a_transfer_completes_with_its_accepted_offer_and_ends_with_any_other_answer() {
        let h = HandoverRecord {
            transfer: "t".into(),
            ..offer_to("nils", NURSE)
        };
        let c = ctx(Some(h), Some(transfer(NURSE)));
        let recipient = as_(ActingAs::HandoverRecipient, NURSE);
        let a = answer_offer(&c, "h", "h", "", HandoverState::Accepted, &recipient, at()).unwrap();
        assert_eq!(a.log.unit, NURSE);
        assert!(a.log.pending_transfer.is_empty());
        assert_eq!(a.transfer.as_ref().unwrap().1, TransferState::Completed);
        let d = answer_offer(&c, "h", "h", "", HandoverState::Declined, &recipient, at()).unwrap();
        assert_eq!(d.log.unit, SCHOOL);
        assert_eq!(d.transfer.unwrap().0.state, "TRANSFER_STATE_CANCELLED");
    }

    #[test]
    fn reassignment_needs_an_absent_holder_and_voids_the_open_offer() {
        let h = HandoverRecord {
            transfer: "t".into(),
            ..offer_to("nils", NURSE)
        };
        let c = ctx(Some(h), Some(transfer(NURSE)));
        assert!(matches!(
            reassign(&c, "ola", SCHOOL, false, at()),
            Err(ApiError::FailedPrecondition {
                reason: "HOLDER_NOT_ABSENT",
                ..
            })
        ));
        let r = reassign(&c, "ola", SCHOOL, true, at()).unwrap();
        assert_eq!(r.log.holder, "ola");
        assert!(r.log.pending_handover.is_empty() && r.log.pending_transfer.is_empty());
        assert_eq!(r.voided.handover.unwrap().state, "HANDOVER_STATE_WITHDRAWN");
        assert_eq!(r.voided.transfer.unwrap().state, "TRANSFER_STATE_CANCELLED");
        assert!(r.pass.reassigned && r.pass.former_may_stay());
    }

    #[test]
    fn one_offer_at_a_time() {
        assert!(require_no_open_offer(&log(), "l".into()).is_ok());
        let open = with_offer(&offer_to("nils", NURSE));
        assert!(matches!(
            require_no_open_offer(&open, "l".into()),
            Err(ApiError::FailedPrecondition {
                reason: "HANDOVER_PENDING",
                ..
            })
        ));
        let h = super::offer(&log(), "nils", NURSE, "m", "", true, at());
        assert_eq!(
            (h.from_professional.as_str(), h.state.as_str()),
            ("kari", "HANDOVER_STATE_OFFERED")
        );
        assert!(h.release_former_holder);
    }
}
