//! The summary of the BTI work for an external system, through the gateway:
//! on the consent that covers the client's unit or on the legal basis of a
//! child-welfare report it attached; no free text.

use bti_proto::caselog::*;
use bti_runtime::auth::Principal;
use bti_runtime::{ApiError, ApiResult};

use super::App;
use crate::api::convert::summary_msg;
use crate::domain::access::{client_actor, legal_basis, require_gateway};
use crate::domain::summary::redact;
use crate::domain::validate;
use crate::domain::*;

impl App {
    pub async fn get_case_log_summary(
        &self,
        p: &Principal,
        r: GetCaseLogSummaryRequest,
    ) -> ApiResult<CaseLogSummary> {
        let name = CaseLogName::parse("name", &r.name)?;
        let a = self.authorize(p, &name).await?;
        require_gateway(&a.cap)?;
        validate::summary_request(a.tenant(), &r)?;
        // The external system learns nothing about a log it has no basis for.
        let not_found = || ApiError::NotFound(r.name.clone());
        let (basis, restricted_referral) = match self
            .peers
            .consent
            .relay_log_revision(&a.log().subject, &r.on_behalf_of_unit)
            .await?
        {
            Some(revision) => (revision, String::new()),
            None if !r.legal_basis_referral.is_empty() => {
                match self
                    .store
                    .referral_by_source(a.tenant(), a.id(), &r.legal_basis_referral)
                    .await?
                {
                    Some(x)
                        if x.kind == ReferralKind::ChildWelfareReport.as_str_name()
                            && !x.legal_basis.is_empty()
                            && x.client == r.client =>
                    {
                        let shown = if x.restricted { x.id } else { String::new() };
                        (legal_basis(&x.legal_basis), shown)
                    }
                    _ => return Err(not_found()),
                }
            }
            None => return Err(not_found()),
        };
        let row = AccessRecord {
            actor: client_actor(&r.client),
            acting_as: ActingAs::ExternalSystem.as_str_name().into(),
            unit: r.on_behalf_of_unit.clone(),
            purpose: "GetCaseLogSummary: summary for an external system".into(),
            basis,
            restricted_referral,
            ..a.access(
                &name.part("summary"),
                AccessAction::Read,
                "GetCaseLogSummary",
            )
        };
        let rows = self
            .store
            .summary(a.tenant(), a.id(), &row)
            .await?
            .ok_or_else(not_found)?;
        Ok(summary_msg(&redact(rows)))
    }
}
