//! The access log of a relay log: every read and write, which guardians read
//! (without traces of referrals still restricted, or of the gateway's
//! routing look-ups).

use bti_proto::caselog::*;
use bti_runtime::ApiResult;
use bti_runtime::auth::Principal;

use super::App;
use crate::api::convert::access_msg;

impl App {
    pub async fn list_access_log_entries(
        &self,
        p: &Principal,
        r: ListAccessLogEntriesRequest,
    ) -> ApiResult<ListAccessLogEntriesResponse> {
        let method = "ListAccessLogEntries";
        let (access_log_entries, next_page_token) = self
            .list_page(
                p,
                &r.parent,
                method,
                r.page_size,
                &r.page_token,
                async |a, page, _| {
                    // The reader's own row names the access log it lists.
                    let own = a.access(
                        &a.name().part("accessLogEntries"),
                        AccessAction::Read,
                        method,
                    );
                    let (after, limit, family) = (&page.after, page.limit(), a.cap.is_family());
                    self.store
                        .access_log(a.tenant(), a.id(), after, limit, family, &own)
                        .await
                },
                |x| &x.id,
                access_msg,
            )
            .await?;
        Ok(ListAccessLogEntriesResponse {
            access_log_entries,
            next_page_token,
        })
    }
}
