//! The access question every other service asks, on every request.

use bti_proto::consent::*;
use bti_runtime::auth::Principal;
use bti_runtime::{ApiError, ApiResult};

use super::App;
use crate::domain::access::can_check;
use crate::domain::*;

/// The most questions one BatchCheckAccess may ask.
const MAX_BATCH: usize = 1000;

/// A validated question: the subject's municipality and the purpose's name.
struct Question {
    tenant: String,
    purpose: &'static str,
}

/// Validates one question, naming its fields under `prefix`.
fn question(prefix: &str, r: &CheckAccessRequest) -> ApiResult<Question> {
    let subject = PersonName::parse(&format!("{prefix}subject"), &r.subject)?;
    let unit = UnitName::parse(&format!("{prefix}unit"), &r.unit)?;
    if subject.tenant != unit.tenant {
        return Err(ApiError::invalid(
            format!("{prefix}unit"),
            "must be a unit of the subject's municipality",
        ));
    }
    let purpose =
        purpose(r.purpose).map_err(|e| ApiError::invalid(format!("{prefix}purpose"), e))?;
    Ok(Question {
        tenant: subject.tenant,
        purpose: purpose.as_str_name(),
    })
}

fn answer(tenant: &str, access: Access) -> CheckAccessResponse {
    match access {
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
    }
}

impl App {
    /// Reads committed state every time and decides at this instant, so a
    /// withdrawal or an expiry applies to the very next question.
    pub async fn check_access(
        &self,
        p: &Principal,
        r: CheckAccessRequest,
    ) -> ApiResult<CheckAccessResponse> {
        let q = question("", &r)?;
        can_check(p, &q.tenant)?;
        let candidates = self
            .store
            .access_candidates(&q.tenant, &r.subject, &r.unit, q.purpose)
            .await?;
        Ok(answer(&q.tenant, decide(&candidates, self.now())))
    }

    /// Every question answered as `check_access` answers it, from one read
    /// of committed state.
    pub async fn batch_check_access(
        &self,
        p: &Principal,
        r: BatchCheckAccessRequest,
    ) -> ApiResult<BatchCheckAccessResponse> {
        if r.requests.len() > MAX_BATCH {
            return Err(ApiError::invalid(
                "requests",
                format!("at most {MAX_BATCH} questions"),
            ));
        }
        let questions = r
            .requests
            .iter()
            .enumerate()
            .map(|(i, q)| question(&format!("requests[{i}]."), q))
            .collect::<ApiResult<Vec<_>>>()?;
        let Some(tenant) = questions.first().map(|q| q.tenant.clone()) else {
            return Ok(BatchCheckAccessResponse::default());
        };
        if let Some(i) = questions.iter().position(|q| q.tenant != tenant) {
            return Err(ApiError::invalid(
                format!("requests[{i}].subject"),
                "must be of the same municipality as the first question",
            ));
        }
        can_check(p, &tenant)?;
        let distinct = |f: &dyn Fn(usize) -> String| {
            let mut v: Vec<String> = (0..questions.len()).map(f).collect();
            v.sort();
            v.dedup();
            v
        };
        let subjects = distinct(&|i| r.requests[i].subject.clone());
        let units = distinct(&|i| r.requests[i].unit.clone());
        let purposes = distinct(&|i| questions[i].purpose.to_string());
        let rows = self
            .store
            .access_candidates_batch(&tenant, &subjects, &units, &purposes)
            .await?;
        let now = self.now();
        let responses = r
            .requests
            .iter()
            .zip(&questions)
            .map(|(req, q)| {
                let candidates = candidates_for(&rows, &req.subject, &req.unit, q.purpose);
                answer(&tenant, decide(&candidates, now))
            })
            .collect();
        Ok(BatchCheckAccessResponse { responses })
    }
}
