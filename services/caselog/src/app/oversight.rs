//! Oversight without case text: a unit leader's list of the unit's active
//! logs, and the municipal administrator's statistics.

use bti_proto::caselog::*;
use bti_runtime::ApiResult;
use bti_runtime::api::{enum_of, timestamp};
use bti_runtime::auth::Principal;

use super::{App, Page};
use crate::domain::access::{self, require_municipal_admin, require_unit_leader};
use crate::domain::*;

impl App {
    pub async fn list_case_log_overviews(
        &self,
        p: &Principal,
        r: ListCaseLogOverviewsRequest,
    ) -> ApiResult<ListCaseLogOverviewsResponse> {
        let unit = UnitName::parse("parent", &r.parent)?;
        require_unit_leader(p, &unit.tenant, &r.parent)?;
        let page = Page::new(
            "ListCaseLogOverviews",
            &[&r.parent],
            r.page_size,
            &r.page_token,
        )?;
        let at = self.now();
        let today = at.date_naive();
        let rows = self
            .store
            .overview(&unit.tenant, &r.parent, today, &page.after, page.limit())
            .await?;
        let (rows, next_page_token) = page.finish(rows, |o| &o.id, Clone::clone);
        let cap = Capacity::oversight(&r.parent);
        let mut overviews = Vec::with_capacity(rows.len());
        let mut reads = Vec::with_capacity(rows.len());
        // A unit's logs have few holders: ask the directory once for each.
        let mut absence = std::collections::HashMap::new();
        for o in rows {
            let key = (o.holder_unit.clone(), o.holder.clone());
            let absent = match absence.get(&key) {
                Some(a) => *a,
                None => {
                    let a = self
                        .peers
                        .directory
                        .member_absent(&o.holder_unit, &o.holder)
                        .await?
                        .unwrap_or(false);
                    absence.insert(key, a);
                    a
                }
            };
            let name = case_log_name(&unit.tenant, &o.id);
            reads.push(access::access_row(
                p,
                &cap,
                &unit.tenant,
                &o.id,
                &name,
                AccessAction::Read,
                "ListCaseLogOverviews",
                at,
            ));
            overviews.push(CaseLogOverview {
                case_log: name,
                level: enum_of(Level::from_str_name, &o.level),
                age_days: (today - o.create_time.date_naive()).num_days() as i32,
                holder: Some(BatonHolder {
                    professional: o.holder,
                    unit: o.holder_unit,
                    since: Some(timestamp(o.holder_since)),
                }),
                holder_absent: absent,
                overdue_evaluations: o.overdue_evaluations as i32,
                last_activity_time: Some(timestamp(o.last_activity_time)),
            });
        }
        self.store.log_reads(&reads).await?;
        Ok(ListCaseLogOverviewsResponse {
            overviews,
            next_page_token,
        })
    }

    pub async fn get_case_log_statistics(
        &self,
        p: &Principal,
        r: GetCaseLogStatisticsRequest,
    ) -> ApiResult<CaseLogStatistics> {
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        require_municipal_admin(p, &tenant)?;
        let (counts, closed) = self
            .store
            .statistics(&tenant, self.now() - chrono::Duration::days(365))
            .await?;
        Ok(CaseLogStatistics {
            counts: counts
                .into_iter()
                .map(|c| CaseLogCount {
                    unit: c.unit,
                    level: enum_of(Level::from_str_name, &c.level),
                    active: c.active as i32,
                    older_than_a_year: c.older_than_a_year as i32,
                })
                .collect(),
            closed_last_year: closed as i32,
        })
    }
}
