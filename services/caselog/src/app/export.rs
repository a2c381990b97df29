//! The export: everything about a log, its access log included, as one
//! document (a guardian's right of access). Each part read is logged.

use bti_proto::caselog::*;
use bti_runtime::api::timestamp;
use bti_runtime::auth::Principal;
use bti_runtime::{ApiError, ApiResult};

use super::App;
use crate::api::convert::*;
use crate::domain::access::require_read;
use crate::domain::*;
use crate::store::Order;

/// Every row of a part.
const ALL: i64 = i64::MAX;

fn all<T, M>(rows: Vec<T>, msg: fn(&T) -> M) -> Vec<M> {
    rows.iter().map(msg).collect()
}

impl App {
    pub async fn export_case_log(
        &self,
        p: &Principal,
        r: ExportCaseLogRequest,
    ) -> ApiResult<CaseLogExport> {
        let name = CaseLogName::parse("name", &r.name)?;
        let a = self.authorize(p, &name).await?;
        require_read(&a.cap)?;
        let (tenant, id) = (a.tenant(), a.id());
        let row = |what: &str| a.access(&name.part(what), AccessAction::Export, "ExportCaseLog");
        let s = &self.store;
        let (log, _) = s
            .read_log(tenant, id, 0, &row("caseLog"))
            .await?
            .ok_or_else(|| ApiError::NotFound(r.name.clone()))?;
        Ok(CaseLogExport {
            case_log: Some(case_log_msg(&log, &[])),
            level_changes: all(
                s.level_changes(tenant, id, "", ALL, &row("levelChanges"))
                    .await?,
                level_change_msg,
            ),
            goals: all(s.goals(tenant, id, "", ALL, &row("goals")).await?, goal_msg),
            measures: all(
                s.measures(tenant, id, "", ALL, &row("measures")).await?,
                measure_msg,
            ),
            evaluations: all(
                s.evaluations(tenant, id, "", "", ALL, &row("evaluations"))
                    .await?,
                evaluation_msg,
            ),
            entries: all(
                s.entries(tenant, id, "", ALL, Order::Oldest, &row("entries"))
                    .await?,
                entry_msg,
            ),
            participants: all(
                s.participants(tenant, id, "", ALL, &row("participants"))
                    .await?,
                participant_msg,
            ),
            handovers: all(
                s.handovers(tenant, id, "", ALL, &row("handovers")).await?,
                handover_msg,
            ),
            transfers: all(
                s.transfers(tenant, id, "", ALL, &row("transfers")).await?,
                transfer_msg,
            ),
            referrals: all(
                s.referrals(
                    tenant,
                    id,
                    "",
                    ALL,
                    a.cap.sees_restricted(),
                    &row("referrals"),
                )
                .await?,
                referral_msg,
            ),
            access_log: all(
                s.access_log(
                    tenant,
                    id,
                    "",
                    ALL,
                    a.cap.is_family(),
                    &row("accessLogEntries"),
                )
                .await?,
                access_msg,
            ),
            export_time: Some(timestamp(a.at)),
        })
    }
}
