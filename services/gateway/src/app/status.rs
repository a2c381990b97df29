//! What the sending client reports after the fact: the referral's status
//! (which meets the statutory deadlines), lifting a restriction, and its
//! reports with a deadline overdue.

use bti_proto::gateway::*;
use bti_runtime::api::{PageToken, check_etag, page_size, paginate};
use bti_runtime::auth::Caller;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::App;
use crate::api::convert::referral_msgs;
use crate::domain::access::own_basis;
use crate::domain::deadlines::is_overdue;
use crate::domain::status::{check_report, step};
use crate::domain::*;

impl App {
    pub async fn report_referral_status(
        &self,
        caller: &Caller,
        q: ReportReferralStatusRequest,
    ) -> ApiResult<Referral> {
        let c = self.client(caller, SCOPE_REFERRALS_WRITE).await?;
        let current = self.own_settled(&c, &q.name).await?;
        check_etag(&q.name, &q.etag, current.version)?;
        let to = ReferralStatus::try_from(q.status).unwrap_or_default();
        let step = step(current.status(), to)?;
        let mut v = Violations::new();
        check_report(to, &q.feedback, q.investigation_extended, &mut v);
        v.finish()?;
        let extends = q.investigation_extended && !current.investigation_extended;
        if step == Transition::Repeat && !extends {
            return self
                .unchanged(caller, &current, "ReportReferralStatus: unchanged")
                .await;
        }
        let mut updated = current.clone();
        apply_status(
            &mut updated,
            to,
            q.feedback.trim(),
            q.investigation_extended,
            self.now(),
        );
        let row = self.access(
            &current.id,
            caller,
            "UPDATE",
            &format!("ReportReferralStatus: {}", to.as_str_name()),
            &own_basis(&current),
        );
        let event = self.event(
            &current.name(),
            &current.tenant,
            &ReferralStatusReported {
                referral: current.name(),
                status: to as i32,
            },
        );
        self.save(&current, updated, row, event).await
    }

    pub async fn lift_restriction(
        &self,
        caller: &Caller,
        q: LiftRestrictionRequest,
    ) -> ApiResult<Referral> {
        let c = self.client(caller, SCOPE_REFERRALS_WRITE).await?;
        let current = self.own_settled(&c, &q.name).await?;
        if !current.restricted {
            return Err(ApiError::precondition(
                "NOT_RESTRICTED",
                &q.name,
                "the referral is not restricted",
            ));
        }
        if current.lift_time.is_some() {
            return self
                .unchanged(caller, &current, "LiftRestriction: already lifted")
                .await;
        }
        check_etag(&q.name, &q.etag, current.version)?;
        if !current.attached_referral.is_empty() {
            self.peers.relay.lift(&current.attached_referral).await?;
        }
        let mut updated = current.clone();
        updated.lift_time = Some(self.now());
        let row = self.access(
            &current.id,
            caller,
            "UPDATE",
            "LiftRestriction",
            &own_basis(&current),
        );
        let event = self.event(
            &current.name(),
            &current.tenant,
            &RestrictionLifted {
                referral: current.name(),
            },
        );
        self.save(&current, updated, row, event).await
    }

    pub async fn list_overdue_referrals(
        &self,
        caller: &Caller,
        q: ListOverdueReferralsRequest,
    ) -> ApiResult<ListOverdueReferralsResponse> {
        let c = self.client(caller, SCOPE_REFERRALS_READ).await?;
        let query = ["ListOverdueReferrals", c.id.as_str()];
        let size = page_size("page_size", q.page_size)?;
        let mut after = PageToken::decode("page_token", &q.page_token, &query)?
            .map(|t| t.after)
            .unwrap_or_default();
        let at = self.now();
        let mut rows = Vec::new();
        // Overdue is a function of the clock, so it is filtered here over the
        // client's open reports, in id order, until a page and one more is found.
        while rows.len() as i64 <= size {
            let batch = self.store.open_reports(&c.id, &after, 200).await?;
            let Some(last) = batch.last() else { break };
            after = last.id.clone();
            rows.extend(batch.into_iter().filter(|r| is_overdue(r, at)));
        }
        rows.truncate(size as usize + 1);
        let (rows, next_page_token) = paginate(rows, size, |r| r.id.clone(), &query);
        self.log_reads(caller, &rows, "ListOverdueReferrals", own_basis)
            .await?;
        Ok(ListOverdueReferralsResponse {
            referrals: referral_msgs(&rows, at),
            next_page_token,
        })
    }
}
