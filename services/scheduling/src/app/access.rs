//! The access log of a child's meetings and deadlines, for the guardians,
//! the youth and the municipality's administrators.

use bti_proto::scheduling::*;
use bti_runtime::api::page_size;
use bti_runtime::auth::{Principal, Role};
use bti_runtime::{ApiError, ApiResult};

use super::App;
use super::series::{next_offset, offset_of};
use crate::api::convert;
use crate::domain::*;

impl App {
    pub async fn list_access_records(
        &self,
        p: &Principal,
        r: ListAccessRecordsRequest,
    ) -> ApiResult<ListAccessRecordsResponse> {
        let n = PersonName::parse("parent", &r.parent)?;
        let allowed = match p {
            Principal::Youth { person, tenant, .. } => person == &r.parent && tenant == &n.tenant,
            Principal::Guardian { tenant, .. } if tenant == &n.tenant => {
                let Principal::Guardian { person, .. } = p else {
                    unreachable!()
                };
                self.directory.guardians(&r.parent).await?.contains(person)
            }
            _ => p.is_tenant_role(&n.tenant, Role::MunicipalAdmin),
        };
        if !allowed {
            return Err(ApiError::PermissionDenied(
                "the access log is for the child's guardians, the youth and administrators".into(),
            ));
        }
        let size = page_size("page_size", r.page_size)?;
        let query = [r.parent.as_str()];
        let offset = offset_of(&r.page_token, &query)?;
        let rows = self
            .store
            .list_access(&n.tenant, &r.parent, offset, size + 1)
            .await?;
        let (rows, next) = next_offset(rows, offset, size, &query);
        Ok(ListAccessRecordsResponse {
            access_records: rows.iter().map(convert::access_record).collect(),
            next_page_token: next,
        })
    }
}
