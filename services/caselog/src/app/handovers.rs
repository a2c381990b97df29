//! The baton: offers (handovers) accepted, declined or withdrawn, and a unit
//! leader's reassignment while the holder is absent. When the baton passes,
//! the former holder stays on as a participant for her unit while consent
//! covers it, unless the offer released her.

use bti_proto::caselog::*;
use bti_runtime::api::{check_etag, new_id};
use bti_runtime::auth::Principal;
use bti_runtime::db::{Claim, Idem};
use bti_runtime::events::OutboxEvent;
use bti_runtime::{ApiError, ApiResult};

use super::{App, Authorized, required};
use crate::api::convert::{case_log_msg, handover_msg};
use crate::domain::access::{Purpose, require_active, require_holder, require_reassigner};
use crate::domain::baton::{self, FormerHolder, Pass, Voided, answer_offer};
use crate::domain::validate;
use crate::domain::*;
use crate::store::{Op, Work};

impl App {
    pub async fn create_handover(
        &self,
        p: &Principal,
        r: CreateHandoverRequest,
    ) -> ApiResult<Handover> {
        let idem = Idem::of(&r.request_id, &r)?;
        let parent = CaseLogName::parse("parent", &r.parent)?;
        let a = self.authorize(p, &parent).await?;
        require_holder(&a.cap)?;
        // A retry of an offer made is answered before the checks the offer changed.
        if let Some(existing) = self.store.replayed("CreateHandover", &idem).await? {
            return self.replay_handover(existing).await;
        }
        require_active(a.log())?;
        let h = required(r.handover, "handover")?;
        let new = validate::new_handover(a.tenant(), &h)?;
        let to_unit = new.to_unit.to_string();
        if new.to == a.log().holder && to_unit == a.log().holder_unit {
            return Err(ApiError::invalid(
                "handover.to_professional",
                "already holds the baton",
            ));
        }
        let open = parent.handover(&a.log().pending_handover).to_string();
        baton::require_no_open_offer(a.log(), open)?;
        self.consent_covers(&a.log().subject, &to_unit, "handover.to_unit")
            .await?;
        let record = baton::offer(
            a.log(),
            &new.to,
            &to_unit,
            &new.message,
            "",
            new.release_former_holder,
            a.at,
        );
        let name = parent.handover(&record.id).to_string();
        let mut log = a.log().changed(a.at);
        log.pending_handover = record.id.clone();
        let claim = self
            .commit(Work {
                idem: Some(("CreateHandover".into(), idem, name.clone())),
                ops: vec![Op::UpdateCaseLog(log), Op::InsertHandover(record.clone())],
                access: vec![a.access(&name, AccessAction::Create, "CreateHandover")],
                events: vec![offered_event(&a, &record)],
            })
            .await?;
        match claim {
            Claim::New => Ok(handover_msg(&record)),
            Claim::Replay(existing) => self.replay_handover(existing).await,
        }
    }

    async fn replay_handover(&self, existing: String) -> ApiResult<Handover> {
        Self::replayed(
            existing,
            HandoverName::parse,
            async |n| {
                self.store
                    .handover(&n.tenant, &n.case_log, &n.handover)
                    .await
            },
            handover_msg,
        )
        .await
    }

    pub async fn list_handovers(
        &self,
        p: &Principal,
        r: ListHandoversRequest,
    ) -> ApiResult<ListHandoversResponse> {
        let (handovers, next_page_token) = self
            .list_page(
                p,
                &r.parent,
                "ListHandovers",
                r.page_size,
                &r.page_token,
                async |a, page, access| {
                    self.store
                        .handovers(a.tenant(), a.id(), &page.after, page.limit(), access)
                        .await
                },
                |h| &h.id,
                handover_msg,
            )
            .await?;
        Ok(ListHandoversResponse {
            handovers,
            next_page_token,
        })
    }

    pub async fn accept_handover(
        &self,
        p: &Principal,
        r: AcceptHandoverRequest,
    ) -> ApiResult<Handover> {
        self.answer(p, &r.name, &r.etag, HandoverState::Accepted)
            .await
    }

    pub async fn decline_handover(
        &self,
        p: &Principal,
        r: DeclineHandoverRequest,
    ) -> ApiResult<Handover> {
        validate::decline(&r)?;
        self.answer(p, &r.name, &r.etag, HandoverState::Declined)
            .await
    }

    pub async fn withdraw_handover(
        &self,
        p: &Principal,
        r: WithdrawHandoverRequest,
    ) -> ApiResult<Handover> {
        self.answer(p, &r.name, &r.etag, HandoverState::Withdrawn)
            .await
    }

    /// Accept, decline or withdraw the open offer `name`.
    pub(crate) async fn answer(
        &self,
        p: &Principal,
        name: &str,
        etag: &str,
        outcome: HandoverState,
    ) -> ApiResult<Handover> {
        let n = HandoverName::parse("name", name)?;
        // Whoever is offered the baton answers as the one offered, whatever
        // else she is in the log.
        let purpose = match outcome {
            HandoverState::Withdrawn => Purpose::Any,
            _ => Purpose::AnswerOffer,
        };
        let a = self.authorize_for(p, &n.log(), purpose).await?;
        let answer = answer_offer(&a.ctx, &n.handover, name, etag, outcome, &a.cap, a.at)?;
        let mut ops = vec![
            Op::UpdateCaseLog(answer.log.clone()),
            Op::UpdateHandover {
                record: answer.handover.clone(),
                from_state: HandoverState::Offered.as_str_name().into(),
            },
        ];
        let h = &answer.handover;
        let mut events = vec![a.event(
            name,
            &HandoverDecided {
                handover: name.to_string(),
                state: outcome as i32,
                to_professional: h.to_professional.clone(),
                from_professional: h.from_professional.clone(),
            },
        )];
        if let Some(pass) = &answer.pass {
            self.pass(&a, pass, &mut ops, &mut events).await?;
        }
        if let Some((t, state)) = &answer.transfer {
            events.push(transfer_event(&a, t, *state));
            ops.push(Op::UpdateTransfer {
                record: t.clone(),
                from_state: TransferState::Pending.as_str_name().into(),
            });
        }
        let method = match outcome {
            HandoverState::Accepted => "AcceptHandover",
            HandoverState::Declined => "DeclineHandover",
            _ => "WithdrawHandover",
        };
        self.commit(Work {
            ops,
            access: vec![a.access(name, AccessAction::Update, method)],
            events,
            ..Default::default()
        })
        .await
        .map_err(|e| match e {
            // The loser of a race sees why, not a bare version conflict.
            ApiError::EtagMismatch(_) => ApiError::Aborted(format!(
                "{name}: the log changed concurrently; read it again"
            )),
            other => other,
        })?;
        Ok(handover_msg(&HandoverRecord {
            version: answer.handover.version + 1,
            ..answer.handover
        }))
    }

    pub async fn reassign_baton(
        &self,
        p: &Principal,
        r: ReassignBatonRequest,
    ) -> ApiResult<CaseLog> {
        let a = self
            .authorize(p, &CaseLogName::parse("name", &r.name)?)
            .await?;
        require_reassigner(p, a.log())?;
        require_active(a.log())?;
        check_etag(&r.name, &r.etag, a.log().version)?;
        let (to, to_unit, reason) = validate::reassignment(a.tenant(), &r)?;
        let to_unit = to_unit.to_string();
        let absent = self
            .peers
            .directory
            .member_absent(&a.log().holder_unit, &a.log().holder)
            .await?;
        let change = baton::reassign(&a.ctx, &to, &to_unit, absent == Some(true), a.at)?;
        self.consent_covers(&a.log().subject, &to_unit, "to_unit")
            .await?;
        let mut ops = vec![
            Op::UpdateCaseLog(change.log.clone()),
            Op::InsertEntry(EntryRecord {
                tenant: change.log.tenant.clone(),
                case_log: change.log.id.clone(),
                id: new_id(),
                kind: EntryKind::Note.as_str_name().into(),
                text: format!("Stafetten er overført av einingsleiar: {reason}"),
                corrects: String::new(),
                author: a.author(),
                author_unit: a.cap.unit.clone(),
                create_time: a.at,
            }),
        ];
        let mut events = Vec::new();
        self.pass(&a, &change.pass, &mut ops, &mut events).await?;
        self.void(&a, &change.voided, &mut ops, &mut events);
        self.commit(Work {
            ops,
            access: vec![a.access(&r.name, AccessAction::Update, "ReassignBaton")],
            events,
            ..Default::default()
        })
        .await?;
        Ok(case_log_msg(&change.log.saved(), &[]))
    }

    /// The writes and events of the baton passing: the holder's history, the
    /// former holder joining as a participant (while consent covers her unit,
    /// unless released), and BatonPassed.
    async fn pass(
        &self,
        a: &Authorized,
        pass: &Pass,
        ops: &mut Vec<Op>,
        events: &mut Vec<OutboxEvent>,
    ) -> ApiResult<()> {
        let covered = pass.former_may_stay()
            && self
                .peers
                .consent
                .relay_log_revision(&a.log().subject, &pass.from_unit)
                .await?
                .is_some();
        let former = pass.former_holder(a.log(), &a.ctx.participants, covered);
        ops.push(Op::InsertHolder {
            tenant: a.tenant().to_string(),
            case_log: a.id().to_string(),
            professional: pass.to.clone(),
            unit: pass.to_unit.clone(),
            since: pass.at,
        });
        let log = a.name().to_string();
        events.push(a.event(
            &log,
            &BatonPassed {
                case_log: log.clone(),
                from_professional: pass.from.clone(),
                to_professional: pass.to.clone(),
                to_unit: pass.to_unit.clone(),
                reassigned: pass.reassigned,
                former_holder_stays: former.stays(),
            },
        ));
        if let FormerHolder::Joins(p) = former {
            let name = a.name().participant(&p.id).to_string();
            events.push(a.event(
                &name,
                &ParticipantChanged {
                    participant: name.clone(),
                    unit: p.unit.clone(),
                    removed: false,
                    professional: p.professional.clone(),
                },
            ));
            ops.push(Op::InsertParticipant(p));
        }
        Ok(())
    }

    /// The writes and events of an open offer (and its transfer) ending
    /// because the baton moved otherwise or the log closed.
    pub(crate) fn void(
        &self,
        a: &Authorized,
        voided: &Voided,
        ops: &mut Vec<Op>,
        events: &mut Vec<OutboxEvent>,
    ) {
        if let Some(h) = &voided.handover {
            let name = a.name().handover(&h.id).to_string();
            events.push(a.event(
                &name,
                &HandoverDecided {
                    handover: name.clone(),
                    state: HandoverState::Withdrawn as i32,
                    to_professional: h.to_professional.clone(),
                    from_professional: h.from_professional.clone(),
                },
            ));
            ops.push(Op::UpdateHandover {
                record: h.clone(),
                from_state: HandoverState::Offered.as_str_name().into(),
            });
        }
        if let Some(t) = &voided.transfer {
            events.push(transfer_event(a, t, TransferState::Cancelled));
            ops.push(Op::UpdateTransfer {
                record: t.clone(),
                from_state: TransferState::Pending.as_str_name().into(),
            });
        }
    }
}

/// HandoverOffered for `h`.
pub(super) fn offered_event(a: &Authorized, h: &HandoverRecord) -> OutboxEvent {
    let name = a.name().handover(&h.id).to_string();
    a.event(
        &name,
        &HandoverOffered {
            handover: name.clone(),
            to_professional: h.to_professional.clone(),
            to_unit: h.to_unit.clone(),
        },
    )
}

/// TransferChanged for `t` in `state`.
pub(super) fn transfer_event(
    a: &Authorized,
    t: &TransferRecord,
    state: TransferState,
) -> OutboxEvent {
    let name = a.name().transfer(&t.id).to_string();
    a.event(
        &name,
        &TransferChanged {
            transfer: name.clone(),
            to_unit: t.to_unit.clone(),
            state: state as i32,
            to_professional: t.to_professional.clone(),
        },
    )
}
