//! The municipality's intake: referrals no relay log took, triaged by unit
//! leaders and the municipal administrator and assigned to a unit, and each
//! unit's list of what was assigned to it.

use bti_proto::gateway::*;
use bti_runtime::api::{PageToken, check_etag, page_size, paginate};
use bti_runtime::auth::{Caller, Role};
use bti_runtime::{ApiError, ApiResult};

use super::App;
use crate::api::convert::{referral_msg, referral_msgs, shown_or_withheld};
use crate::domain::access::{
    assigner_reads, basis, intake_content_visible, intake_staff, may_list_assigned,
};
use crate::domain::*;

/// Why intake staff read a referral waiting in intake.
const TRIAGE: &str = "intake triage";

impl App {
    pub async fn list_intake_referrals(
        &self,
        p: &Caller,
        q: ListIntakeReferralsRequest,
    ) -> ApiResult<ListIntakeReferralsResponse> {
        let tenant = TenantName::parse("parent", &q.parent)?.tenant;
        if !intake_staff(p, &tenant) {
            return Err(ApiError::PermissionDenied(
                "the intake list is for the municipality's unit leaders and administrator".into(),
            ));
        }
        let query = ["ListIntakeReferrals", q.parent.as_str()];
        let size = page_size("page_size", q.page_size)?;
        let after = PageToken::decode("page_token", &q.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .intake(&tenant, after.as_deref().unwrap_or(""), size + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |r| r.id.clone(), &query);
        let shown: Vec<bool> = rows.iter().map(|r| intake_content_visible(p, r)).collect();
        let access: Vec<AccessRecord> = rows
            .iter()
            .zip(&shown)
            .map(|(r, &shown)| {
                let purpose = if shown {
                    "ListIntakeReferrals"
                } else {
                    "ListIntakeReferrals (content withheld)"
                };
                self.access(&r.id, p, "READ", purpose, &basis(r, TRIAGE))
            })
            .collect();
        self.store.log_access(&access).await?;
        let at = self.now();
        Ok(ListIntakeReferralsResponse {
            referrals: rows
                .iter()
                .zip(shown)
                .map(|(r, shown)| shown_or_withheld(referral_msg(r, &[], at), shown))
                .collect(),
            next_page_token,
        })
    }

    pub async fn assign_referral(
        &self,
        p: &Caller,
        q: AssignReferralRequest,
    ) -> ApiResult<Referral> {
        let current = match self.referral("name", &q.name).await {
            Ok(r) if p.is_employee_of(&r.tenant) && !r.is_pending() => r,
            Ok(_) => return Err(ApiError::NotFound(q.name.clone())),
            Err(e) => return Err(e),
        };
        if !intake_staff(p, &current.tenant) {
            return Err(ApiError::PermissionDenied(
                "referrals are assigned by a unit leader or the municipal administrator".into(),
            ));
        }
        let unit = UnitName::parse("unit", &q.unit)?;
        if unit.tenant != current.tenant {
            return Err(ApiError::invalid(
                "unit",
                "must be a unit of the referral's municipality",
            ));
        }
        if current.placement() != Placement::Intake {
            return Err(ApiError::precondition(
                "NOT_IN_INTAKE",
                &q.name,
                "only a referral waiting in intake can be assigned",
            ));
        }
        check_etag(&q.name, &q.etag, current.version)?;
        if !self.peers.directory.unit_exists(&q.unit).await? {
            return Err(ApiError::invalid("unit", "no such unit in the directory"));
        }
        let mut updated = current.clone();
        updated.placement = Placement::Assigned.as_str_name().into();
        updated.assigned_unit = q.unit.clone();
        let row = self.access(
            &current.id,
            p,
            "UPDATE",
            "AssignReferral",
            &basis(&current, TRIAGE),
        );
        let event = self.event(
            &current.name(),
            &current.tenant,
            &ReferralAssigned {
                referral: current.name(),
                unit: q.unit.clone(),
            },
        );
        let reads = assigner_reads(p, &current, &q.unit);
        let msg = self.save(&current, updated, row, event).await?;
        Ok(shown_or_withheld(msg, reads))
    }

    pub async fn list_assigned_referrals(
        &self,
        p: &Caller,
        q: ListAssignedReferralsRequest,
    ) -> ApiResult<ListAssignedReferralsResponse> {
        let unit = UnitName::parse("parent", &q.parent)?;
        if !may_list_assigned(p, &unit) {
            return Err(ApiError::PermissionDenied(
                "a unit's referrals are listed by those who work in it".into(),
            ));
        }
        let leader = p.has_role(Role::UnitLeader);
        let query = ["ListAssignedReferrals", q.parent.as_str()];
        let size = page_size("page_size", q.page_size)?;
        let after = PageToken::decode("page_token", &q.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .assigned(&q.parent, after.as_deref().unwrap_or(""), size + 1, leader)
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |r| r.id.clone(), &query);
        self.log_reads(p, &rows, "ListAssignedReferrals", |r| {
            basis(r, "receiving service")
        })
        .await?;
        Ok(ListAssignedReferralsResponse {
            referrals: referral_msgs(&rows, self.now()),
            next_page_token,
        })
    }
}
