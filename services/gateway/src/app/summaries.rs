//! A consented summary of a subject's relay log for an external system: on
//! consent for the client's unit, or on a restricted child-welfare report it
//! sent (its legal basis). The relay log decides and logs the read.

use bti_proto::gateway::referral_subject::Identity;
use bti_proto::gateway::*;
use bti_runtime::auth::Caller;
use bti_runtime::ids::{parse_national_id, validate_municipality_number};
use bti_runtime::{ApiError, ApiResult, Violations};

use super::App;
use crate::api::convert::subject_summary;
use crate::domain::*;

impl App {
    pub async fn get_subject_summary(
        &self,
        caller: &Caller,
        q: GetSubjectSummaryRequest,
    ) -> ApiResult<SubjectSummary> {
        let c = self.client(caller, SCOPE_SUMMARIES_READ).await?;
        let mut v = Violations::new();
        v.check("tenant", validate_municipality_number(&q.tenant));
        let nid = match q.subject.as_ref().and_then(|s| s.identity.as_ref()) {
            Some(Identity::NationalId(id)) | Some(Identity::UnbornChildOf(id)) => {
                if parse_national_id(id).is_err() {
                    v.add(
                        "subject",
                        "not a valid national id (fødselsnummer or D-number)",
                    );
                }
                id.clone()
            }
            None => {
                v.add("subject", "required: national_id or unborn_child_of");
                String::new()
            }
        };
        v.finish()?;
        if !c.acts_for(&q.tenant) {
            return Err(ApiError::PermissionDenied(
                "the client may not act for this municipality".into(),
            ));
        }
        // One answer for every way of not having a basis, so the client
        // learns nothing about a subject it may not see.
        let not_found = || ApiError::NotFound("subject summary".into());
        // Consent covers units of the subject's own municipality, and a
        // referral from a unit elsewhere goes to intake, never onto the log.
        if c.unit_tenant() != q.tenant {
            return Err(not_found());
        }
        let person = self
            .peers
            .directory
            .lookup_person(&q.tenant, &nid)
            .await?
            .ok_or_else(not_found)?;
        let log = self
            .peers
            .relay
            .active_log(&q.tenant, &person)
            .await?
            .ok_or_else(not_found)?;
        let basis = self
            .store
            .basis_referral(&c.id, &person, &log.name)
            .await?
            .map(|r| r.name())
            .unwrap_or_default();
        let summary = self
            .peers
            .relay
            .summary(&log.name, &c.unit, &c.name(), &basis)
            .await?
            .ok_or_else(not_found)?;
        Ok(subject_summary(summary))
    }
}
