//! A consent's immutable revisions: its history.

use bti_proto::consent::*;
use bti_runtime::api::{PageToken, page_size, paginate};
use bti_runtime::auth::Principal;
use bti_runtime::{ApiError, ApiResult};

use super::App;
use crate::api::convert::revision_msg;
use crate::domain::*;

impl App {
    pub async fn get_consent_revision(
        &self,
        p: &Principal,
        r: GetConsentRevisionRequest,
    ) -> ApiResult<ConsentRevision> {
        let n = RevisionName::parse("name", &r.name)?;
        let view = self
            .readable(p, "name", &consent_name(&n.tenant, &n.consent))
            .await?;
        let revision: i64 = n
            .revision
            .parse()
            .map_err(|_| ApiError::NotFound(r.name.clone()))?;
        let found = self
            .store
            .get_revision(&view.consent.tenant, &view.consent.id, revision)
            .await?
            .ok_or(ApiError::NotFound(r.name))?;
        Ok(revision_msg(&found))
    }

    pub async fn list_consent_revisions(
        &self,
        p: &Principal,
        r: ListConsentRevisionsRequest,
    ) -> ApiResult<ListConsentRevisionsResponse> {
        let view = self.readable(p, "parent", &r.parent).await?;
        let query = ["ListConsentRevisions", r.parent.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after = match PageToken::decode("page_token", &r.page_token, &query)? {
            Some(t) => t.after.parse().map_err(|_| {
                ApiError::invalid("page_token", "is not a page token of this query")
            })?,
            None => 0,
        };
        let rows = self
            .store
            .list_revisions(&view.consent.tenant, &view.consent.id, after, size + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |r| r.revision.to_string(), &query);
        Ok(ListConsentRevisionsResponse {
            revisions: rows.iter().map(revision_msg).collect(),
            next_page_token,
        })
    }
}
