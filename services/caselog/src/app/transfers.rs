//! Transfers: the log moves to another unit when someone there accepts the
//! baton (an offer made with the transfer).

use bti_proto::caselog::*;
use bti_runtime::api::new_id;
use bti_runtime::auth::Principal;
use bti_runtime::db::{Claim, Idem};
use bti_runtime::{ApiError, ApiResult};

use super::handovers::{offered_event, transfer_event};
use super::{App, required};
use crate::api::convert::transfer_msg;
use crate::domain::access::{require_active, require_holder};
use crate::domain::baton;
use crate::domain::validate;
use crate::domain::*;
use crate::store::{Op, Work};

impl App {
    pub async fn create_transfer(
        &self,
        p: &Principal,
        r: CreateTransferRequest,
    ) -> ApiResult<Transfer> {
        let idem = Idem::of(&r.request_id, &r)?;
        let parent = CaseLogName::parse("parent", &r.parent)?;
        let a = self.authorize(p, &parent).await?;
        require_holder(&a.cap)?;
        if let Some(existing) = self.store.replayed("CreateTransfer", &idem).await? {
            return self.replay_transfer(existing).await;
        }
        require_active(a.log())?;
        let tr = required(r.transfer, "transfer")?;
        let new = validate::new_transfer(a.tenant(), &tr)?;
        let to_unit = new.to_unit.to_string();
        if to_unit == a.log().unit {
            return Err(ApiError::invalid(
                "transfer.to_unit",
                "the log already belongs to this unit",
            ));
        }
        baton::require_no_open_offer(a.log(), r.parent.clone())?;
        self.consent_covers(&a.log().subject, &to_unit, "transfer.to_unit")
            .await?;
        let transfer_id = new_id();
        let handover = baton::offer(
            a.log(),
            &new.to,
            &to_unit,
            &new.note,
            &transfer_id,
            false,
            a.at,
        );
        let record = TransferRecord {
            tenant: a.tenant().to_string(),
            case_log: a.id().to_string(),
            id: transfer_id,
            to_unit,
            to_professional: new.to,
            reason: new.reason.as_str_name().into(),
            note: new.note,
            state: TransferState::Pending.as_str_name().into(),
            handover: handover.id.clone(),
            create_time: a.at,
            decide_time: None,
        };
        let mut log = a.log().changed(a.at);
        log.pending_handover = handover.id.clone();
        log.pending_transfer = record.id.clone();
        let name = parent.transfer(&record.id).to_string();
        let claim = self
            .commit(Work {
                idem: Some(("CreateTransfer".into(), idem, name.clone())),
                ops: vec![
                    Op::UpdateCaseLog(log),
                    Op::InsertTransfer(record.clone()),
                    Op::InsertHandover(handover.clone()),
                ],
                access: vec![a.access(&name, AccessAction::Create, "CreateTransfer")],
                events: vec![
                    transfer_event(&a, &record, TransferState::Pending),
                    offered_event(&a, &handover),
                ],
            })
            .await?;
        match claim {
            Claim::New => Ok(transfer_msg(&record)),
            Claim::Replay(existing) => self.replay_transfer(existing).await,
        }
    }

    async fn replay_transfer(&self, existing: String) -> ApiResult<Transfer> {
        Self::replayed(
            existing,
            TransferName::parse,
            async |n| {
                self.store
                    .transfer(&n.tenant, &n.case_log, &n.transfer)
                    .await
            },
            transfer_msg,
        )
        .await
    }

    pub async fn list_transfers(
        &self,
        p: &Principal,
        r: ListTransfersRequest,
    ) -> ApiResult<ListTransfersResponse> {
        let (transfers, next_page_token) = self
            .list_page(
                p,
                &r.parent,
                "ListTransfers",
                r.page_size,
                &r.page_token,
                async |a, page, access| {
                    self.store
                        .transfers(a.tenant(), a.id(), &page.after, page.limit(), access)
                        .await
                },
                |t| &t.id,
                transfer_msg,
            )
            .await?;
        Ok(ListTransfersResponse {
            transfers,
            next_page_token,
        })
    }

    /// Withdraws the transfer's offer, which cancels the transfer.
    pub async fn cancel_transfer(
        &self,
        p: &Principal,
        r: CancelTransferRequest,
    ) -> ApiResult<Transfer> {
        let n = TransferName::parse("name", &r.name)?;
        let a = self.authorize(p, &n.log()).await?;
        require_holder(&a.cap)?;
        if a.log().pending_transfer != n.transfer {
            return Err(ApiError::precondition(
                "TRANSFER_NOT_PENDING",
                &r.name,
                "this transfer is not pending",
            ));
        }
        let handover = a.name().handover(&a.log().pending_handover).to_string();
        self.answer(p, &handover, "", HandoverState::Withdrawn)
            .await?;
        self.store
            .transfer(&n.tenant, &n.case_log, &n.transfer)
            .await?
            .map(|t| transfer_msg(&t))
            .ok_or(ApiError::NotFound(r.name))
    }
}
