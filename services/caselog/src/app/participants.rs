//! Participants: units (or named professionals of them) taking part, from
//! units the consent covers.

use bti_proto::caselog::*;
use bti_runtime::api::{check_etag, new_id, update_paths};
use bti_runtime::auth::Principal;
use bti_runtime::db::Idem;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::{App, required};
use crate::api::convert::participant_msg;
use crate::domain::access::{require_active, require_holder};
use crate::domain::validate;
use crate::domain::*;
use crate::store::{Op, Work};

fn changed(name: &str, p: &ParticipantRecord) -> ParticipantChanged {
    ParticipantChanged {
        participant: name.to_string(),
        unit: p.unit.clone(),
        removed: p.removed,
        professional: p.professional.clone(),
    }
}

impl App {
    pub async fn create_participant(
        &self,
        p: &Principal,
        r: CreateParticipantRequest,
    ) -> ApiResult<Participant> {
        let idem = Idem::of(&r.request_id, &r)?;
        let parent = CaseLogName::parse("parent", &r.parent)?;
        let a = self.authorize(p, &parent).await?;
        require_holder(&a.cap)?;
        require_active(a.log())?;
        let part = required(r.participant, "participant")?;
        let new = validate::new_participant(a.tenant(), &part)?;
        let unit = new.unit.to_string();
        self.consent_covers(&a.log().subject, &unit, "participant.unit")
            .await?;
        let record = ParticipantRecord {
            tenant: a.tenant().to_string(),
            case_log: a.id().to_string(),
            id: new_id(),
            unit,
            professional: new.professional,
            tasks: new.tasks,
            removed: false,
            remove_time: None,
            version: 1,
            create_time: a.at,
        };
        let name = parent.participant(&record.id).to_string();
        let claim = self
            .commit(Work {
                idem: Some(("CreateParticipant".into(), idem, name.clone())),
                ops: vec![a.touch(), Op::InsertParticipant(record.clone())],
                access: vec![a.access(&name, AccessAction::Create, "CreateParticipant")],
                events: vec![a.event(&name, &changed(&name, &record))],
            })
            .await?;
        Self::created(
            claim,
            record,
            ParticipantName::parse,
            async |n| {
                self.store
                    .participant(&n.tenant, &n.case_log, &n.participant)
                    .await
            },
            participant_msg,
        )
        .await
    }

    pub async fn list_participants(
        &self,
        p: &Principal,
        r: ListParticipantsRequest,
    ) -> ApiResult<ListParticipantsResponse> {
        let (participants, next_page_token) = self
            .list_page(
                p,
                &r.parent,
                "ListParticipants",
                r.page_size,
                &r.page_token,
                async |a, page, access| {
                    self.store
                        .participants(a.tenant(), a.id(), &page.after, page.limit(), access)
                        .await
                },
                |p| &p.id,
                participant_msg,
            )
            .await?;
        let participants = participants
            .into_iter()
            .filter(|p| r.show_removed || p.remove_time.is_none())
            .collect();
        Ok(ListParticipantsResponse {
            participants,
            next_page_token,
        })
    }

    pub async fn update_participant(
        &self,
        p: &Principal,
        r: UpdateParticipantRequest,
    ) -> ApiResult<Participant> {
        let part = required(r.participant, "participant")?;
        update_paths("update_mask", r.update_mask.as_ref(), &["tasks"])?;
        let mut v = Violations::new();
        let tasks = validate::participant_tasks(&mut v, &part);
        v.finish()?;
        self.change_participant(p, &part.name, &part.etag, "UpdateParticipant", |x, _| {
            x.tasks = tasks
        })
        .await
    }

    pub async fn delete_participant(
        &self,
        p: &Principal,
        r: DeleteParticipantRequest,
    ) -> ApiResult<Participant> {
        self.change_participant(p, &r.name, &r.etag, "DeleteParticipant", |x, at| {
            x.removed = true;
            x.remove_time = Some(at);
        })
        .await
    }

    async fn change_participant(
        &self,
        p: &Principal,
        name: &str,
        etag: &str,
        method: &str,
        change: impl FnOnce(&mut ParticipantRecord, chrono::DateTime<chrono::Utc>),
    ) -> ApiResult<Participant> {
        let n = ParticipantName::parse("name", name)?;
        let a = self.authorize(p, &n.log()).await?;
        require_holder(&a.cap)?;
        require_active(a.log())?;
        let mut record = self
            .store
            .participant(&n.tenant, &n.case_log, &n.participant)
            .await?
            .filter(|p| !p.removed)
            .ok_or_else(|| ApiError::NotFound(name.to_string()))?;
        check_etag(name, etag, record.version)?;
        change(&mut record, a.at);
        self.commit(Work {
            ops: vec![a.touch(), Op::UpdateParticipant(record.clone())],
            access: vec![a.access(name, AccessAction::Update, method)],
            events: vec![a.event(name, &changed(name, &record))],
            ..Default::default()
        })
        .await?;
        Ok(participant_msg(&ParticipantRecord {
            version: record.version + 1,
            ..record
        }))
    }
}
