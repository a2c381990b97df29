//! Closing a relay log: it becomes read-only; the open offer is withdrawn
//! and its transfer cancelled with it; a closing note is kept as an entry.

use bti_proto::caselog::{CaseLogState, CloseReason, EntryKind};
use bti_runtime::api::new_id;
use chrono::{DateTime, Utc};

use super::baton::{Voided, void_open_offer};
use super::{EntryRecord, LogContext};

/// What closing changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Closing {
    pub log: super::CaseLogRecord,
    pub voided: Voided,
    /// The closing note, when one was given.
    pub note: Option<EntryRecord>,
}

/// Closes the log for `reason`; `note` (trimmed, possibly empty) is written
/// by `author` for `author_unit`.
pub fn close(
    ctx: &LogContext,
    reason: CloseReason,
    note: &str,
    author: &str,
    author_unit: &str,
    at: DateTime<Utc>,
) -> Closing {
    let mut log = ctx.log.changed(at);
    log.state = CaseLogState::Closed.as_str_name().into();
    log.close_reason = reason.as_str_name().into();
    log.close_time = Some(at);
    let voided = void_open_offer(&mut log, ctx, at);
    let note = (!note.is_empty()).then(|| EntryRecord {
        tenant: log.tenant.clone(),
        case_log: log.id.clone(),
        id: new_id(),
        kind: EntryKind::Note.as_str_name().into(),
        text: note.into(),
        corrects: String::new(),
        author: author.into(),
        author_unit: author_unit.into(),
        create_time: at,
    });
    Closing { log, voided, note }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::domain::HandoverRecord;

    #[test]
    fn closing_withdraws_the_offer_and_cancels_its_transfer() {
        let h = HandoverRecord {
            transfer: "t".into(),
            ..offer_to("nils", NURSE)
        };
        let ctx = LogContext {
            log: with_offer(&h),
            participants: vec![],
            pending_handover: Some(h),
            pending_transfer: Some(transfer(NURSE)),
        };
        let c = close(
            &ctx,
            CloseReason::ConcernResolved,
            "Uroa er borte",
            "kari",
            SCHOOL,
            at(),
        );
        assert!(!c.log.is_active());
        assert_eq!(c.log.close_reason, "CLOSE_REASON_CONCERN_RESOLVED");
        assert!(c.log.pending_handover.is_empty() && c.log.pending_transfer.is_empty());
        assert_eq!(c.voided.handover.unwrap().state, "HANDOVER_STATE_WITHDRAWN");
        assert_eq!(c.voided.transfer.unwrap().state, "TRANSFER_STATE_CANCELLED");
        assert_eq!(c.note.unwrap().text, "Uroa er borte");
    }

    #[test]
    fn a_quiet_close_of_a_log_without_offers_changes_only_the_log() {
        let ctx = LogContext {
            log: log(),
            participants: vec![],
            pending_handover: None,
            pending_transfer: None,
        };
        let c = close(&ctx, CloseReason::ConsentWithdrawn, "", "caselog", "", at());
        assert_eq!(c.voided, Voided::default());
        assert!(c.note.is_none());
        assert_eq!(c.log.close_time, Some(at()));
    }
}
