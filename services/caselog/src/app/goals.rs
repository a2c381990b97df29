//! Goals of the work.

use bti_proto::caselog::*;
use bti_runtime::api::{check_etag, new_id, update_paths};
use bti_runtime::auth::Principal;
use bti_runtime::db::Idem;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::{App, required};
use crate::api::convert::goal_msg;
use crate::domain::access::{require_active, require_write};
use crate::domain::validate;
use crate::domain::*;
use crate::store::{Op, Work};

impl App {
    pub async fn create_goal(&self, p: &Principal, r: CreateGoalRequest) -> ApiResult<Goal> {
        let idem = Idem::of(&r.request_id, &r)?;
        let parent = CaseLogName::parse("parent", &r.parent)?;
        let a = self.authorize(p, &parent).await?;
        require_write(&a.cap)?;
        require_active(a.log())?;
        let g = required(r.goal, "goal")?;
        let mut v = Violations::new();
        let description = validate::goal_description(&mut v, &g);
        v.finish()?;
        let record = GoalRecord {
            tenant: a.tenant().to_string(),
            case_log: a.id().to_string(),
            id: new_id(),
            description,
            achieved: g.achieved,
            version: 1,
            create_time: a.at,
            update_time: a.at,
        };
        let name = parent.goal(&record.id).to_string();
        let claim = self
            .commit(Work {
                idem: Some(("CreateGoal".into(), idem, name.clone())),
                ops: vec![a.touch(), Op::InsertGoal(record.clone())],
                access: vec![a.access(&name, AccessAction::Create, "CreateGoal")],
                events: vec![a.event(&name, &GoalChanged { goal: name.clone() })],
            })
            .await?;
        Self::created(
            claim,
            record,
            GoalName::parse,
            async |n| self.store.goal(&n.tenant, &n.case_log, &n.goal).await,
            goal_msg,
        )
        .await
    }

    pub async fn list_goals(
        &self,
        p: &Principal,
        r: ListGoalsRequest,
    ) -> ApiResult<ListGoalsResponse> {
        let (goals, next_page_token) = self
            .list_page(
                p,
                &r.parent,
                "ListGoals",
                r.page_size,
                &r.page_token,
                async |a, page, access| {
                    self.store
                        .goals(a.tenant(), a.id(), &page.after, page.limit(), access)
                        .await
                },
                |g| &g.id,
                goal_msg,
            )
            .await?;
        Ok(ListGoalsResponse {
            goals,
            next_page_token,
        })
    }

    pub async fn update_goal(&self, p: &Principal, r: UpdateGoalRequest) -> ApiResult<Goal> {
        let g = required(r.goal, "goal")?;
        let n = GoalName::parse("goal.name", &g.name)?;
        let paths = update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &["description", "achieved"],
        )?;
        let a = self.authorize(p, &n.log()).await?;
        require_write(&a.cap)?;
        require_active(a.log())?;
        let mut record = self
            .store
            .goal(&n.tenant, &n.case_log, &n.goal)
            .await?
            .ok_or_else(|| ApiError::NotFound(g.name.clone()))?;
        check_etag(&g.name, &g.etag, record.version)?;
        let mut v = Violations::new();
        for path in &paths {
            match path.as_str() {
                "description" => record.description = validate::goal_description(&mut v, &g),
                _ => record.achieved = g.achieved,
            }
        }
        v.finish()?;
        record.update_time = a.at;
        self.commit(Work {
            ops: vec![a.touch(), Op::UpdateGoal(record.clone())],
            access: vec![a.access(&g.name, AccessAction::Update, "UpdateGoal")],
            events: vec![a.event(
                &g.name,
                &GoalChanged {
                    goal: g.name.clone(),
                },
            )],
            ..Default::default()
        })
        .await?;
        Ok(goal_msg(&GoalRecord {
            version: record.version + 1,
            ..record
        }))
    }
}
