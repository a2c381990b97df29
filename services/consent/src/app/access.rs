//! The access question every other service asks, on every request.

use bti_proto::consent::*;
use bti_runtime::auth::Principal;
use bti_runtime::{ApiError, ApiResult};

use super::App;
use crate::domain::access::can_check;
use crate::domain::*;

impl App {
    /// Reads committed state every time and decides at this instant, so a
    /// withdrawal or an expiry applies to the very next question.
    pub async fn check_access(
        &self,
        p: &Principal,
        r: CheckAccessRequest,
    ) -> ApiResult<CheckAccessResponse> {
        let subject = PersonName::parse("subject", &r.subject)?;
        let unit = UnitName::parse("unit", &r.unit)?;
        if subject.tenant != unit.tenant {
            return Err(ApiError::invalid(
                "unit",
                "must be a unit of the subject's municipality",
            ));
        }
        let purpose = purpose(r.purpose).map_err(|e| ApiError::invalid("purpose", e))?;
        can_check(p, &subject.tenant)?;
        let tenant = &subject.tenant;
        let candidates = self
            .store
            .access_candidates(tenant, &r.subject, &r.unit, purpose.as_str_name())
            .await?;
        Ok(match decide(&candidates, self.now()) {
            Access::Allowed { consent, revision } => CheckAccessResponse {
                allowed: true,
                consent: consent_name(tenant, &consent),
                revision: revision_name(tenant, &consent, revision),
                denial_reason: 0,
            },
            Access::Denied(reason) => CheckAccessResponse {
                allowed: false,
                consent: String::new(),
                revision: String::new(),
                denial_reason: reason as i32,
            },
        })
    }
}
