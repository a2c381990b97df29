//! Evaluations of measures, with the decision taken: end the measure, it
//! works but continue, try other measures, or bring in other services.

use bti_proto::caselog::*;
use bti_runtime::api::new_id;
use bti_runtime::auth::Principal;
use bti_runtime::db::Idem;
use bti_runtime::{ApiError, ApiResult};

use super::{App, Page, required};
use crate::api::convert::evaluation_msg;
use crate::domain::access::{require_active, require_read, require_write};
use crate::domain::validate;
use crate::domain::*;
use crate::store::{Op, Work};

impl App {
    pub async fn create_evaluation(
        &self,
        p: &Principal,
        r: CreateEvaluationRequest,
    ) -> ApiResult<Evaluation> {
        let idem = Idem::of(&r.request_id, &r)?;
        let parent = MeasureName::parse("parent", &r.parent)?;
        let a = self.authorize(p, &parent.log()).await?;
        require_write(&a.cap)?;
        require_active(a.log())?;
        let e = required(r.evaluation, "evaluation")?;
        let new = validate::new_evaluation(&e)?;
        let measure = self
            .store
            .measure(a.tenant(), a.id(), &parent.measure)
            .await?
            .ok_or_else(|| ApiError::NotFound(r.parent.clone()))?;
        let record = EvaluationRecord {
            tenant: a.tenant().to_string(),
            case_log: a.id().to_string(),
            measure: parent.measure.clone(),
            id: new_id(),
            decision: new.decision.as_str_name().into(),
            child_experience: new.child_experience,
            summary: new.summary,
            evaluation_date: new.date,
            author: a.author(),
            create_time: a.at,
        };
        let name = parent.evaluation(&record.id).to_string();
        let mut ops = vec![a.touch(), Op::InsertEvaluation(record.clone())];
        // "End the measure" ends it; the other decisions keep it running.
        if new.decision == EvaluationDecision::EndMeasure
            && measure.state == MeasureState::Active.as_str_name()
        {
            ops.push(Op::UpdateMeasure(MeasureRecord {
                state: MeasureState::Ended.as_str_name().into(),
                update_time: a.at,
                ..measure
            }));
        }
        let recorded = EvaluationRecorded {
            evaluation: name.clone(),
            decision: new.decision as i32,
            measure: r.parent.clone(),
        };
        let claim = self
            .commit(Work {
                idem: Some(("CreateEvaluation".into(), idem, name.clone())),
                ops,
                access: vec![a.access(&name, AccessAction::Create, "CreateEvaluation")],
                events: vec![a.event(&name, &recorded)],
            })
            .await?;
        Self::created(
            claim,
            record,
            EvaluationName::parse,
            async |n| {
                let access = a.access(
                    &n.to_string(),
                    AccessAction::Read,
                    "CreateEvaluation (retry)",
                );
                let all = self
                    .store
                    .evaluations(&n.tenant, &n.case_log, &n.measure, "", i64::MAX, &access)
                    .await?;
                Ok(all.into_iter().find(|e| e.id == n.evaluation))
            },
            evaluation_msg,
        )
        .await
    }

    pub async fn list_evaluations(
        &self,
        p: &Principal,
        r: ListEvaluationsRequest,
    ) -> ApiResult<ListEvaluationsResponse> {
        let parent = MeasureName::parse("parent", &r.parent)?;
        let a = self.authorize(p, &parent.log()).await?;
        require_read(&a.cap)?;
        let page = Page::new("ListEvaluations", &[&r.parent], r.page_size, &r.page_token)?;
        let access = a.access(&r.parent, AccessAction::Read, "ListEvaluations");
        let rows = self
            .store
            .evaluations(
                a.tenant(),
                a.id(),
                &parent.measure,
                &page.after,
                page.limit(),
                &access,
            )
            .await?;
        let (evaluations, next_page_token) = page.finish(rows, |e| &e.id, evaluation_msg);
        Ok(ListEvaluationsResponse {
            evaluations,
            next_page_token,
        })
    }
}
