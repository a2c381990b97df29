//! The client registry: external systems, their organisation, the
//! municipalities and unit they act for, scopes, rate and pinned certificate.

use bti_proto::gateway::*;
use bti_runtime::api::{
    PageToken, check_etag, page_size, paginate, update_paths, validate_resource_id,
};
use bti_runtime::auth::Caller;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::App;
use crate::api::convert::client_msg;
use crate::domain::access::{clients_listed_for, may_administer, may_see_client};
use crate::domain::validate::{CLIENT_UPDATE_PATHS, client_record, merge_client};
use crate::domain::*;

impl App {
    pub async fn create_client(&self, p: &Caller, r: CreateClientRequest) -> ApiResult<Client> {
        let c = r
            .client
            .ok_or_else(|| ApiError::invalid("client", "required"))?;
        let mut v = Violations::new();
        v.check("client_id", validate_resource_id(&r.client_id));
        let mut record = client_record(&c, self.default_rate(), self.now(), &mut v);
        v.finish()?;
        record.id = r.client_id.clone();
        if !may_administer(p, &record) {
            return Err(ApiError::PermissionDenied(
                "clients are registered by the operator, or by a municipal administrator for their own municipality".into(),
            ));
        }
        self.require_unit(&record.unit).await?;
        let event = self.client_changed(&record);
        self.store.create_client(&record, event).await?;
        self.committed(client_msg(&record))
    }

    pub async fn get_client(&self, p: &Caller, r: GetClientRequest) -> ApiResult<Client> {
        Ok(client_msg(&self.visible_client(p, "name", &r.name).await?))
    }

    pub async fn list_clients(
        &self,
        p: &Caller,
        r: ListClientsRequest,
    ) -> ApiResult<ListClientsResponse> {
        let tenant = clients_listed_for(p, &r.tenant)?;
        let query = ["ListClients", tenant.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .list_clients(&tenant, after.as_deref().unwrap_or(""), size + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |c| c.id.clone(), &query);
        Ok(ListClientsResponse {
            clients: rows.iter().map(client_msg).collect(),
            next_page_token,
        })
    }

    pub async fn update_client(&self, p: &Caller, r: UpdateClientRequest) -> ApiResult<Client> {
        let c = r
            .client
            .ok_or_else(|| ApiError::invalid("client", "required"))?;
        let paths = update_paths("update_mask", r.update_mask.as_ref(), &CLIENT_UPDATE_PATHS)?;
        let current = self.visible_client(p, "client.name", &c.name).await?;
        if !may_administer(p, &current) {
            return Err(ApiError::PermissionDenied(
                "only the operator may change a client acting for several municipalities".into(),
            ));
        }
        check_etag(&c.name, &c.etag, current.version)?;
        // Validate the merged registration as a whole.
        let merged = merge_client(client_msg(&current), &c, &paths);
        let mut v = Violations::new();
        let mut record = client_record(&merged, self.default_rate(), self.now(), &mut v);
        v.finish()?;
        record.id = current.id.clone();
        record.create_time = current.create_time;
        record.version = current.version + 1;
        if !may_administer(p, &record) {
            return Err(ApiError::PermissionDenied(
                "a municipal administrator registers clients for their own municipality only"
                    .into(),
            ));
        }
        if record.unit != current.unit {
            self.require_unit(&record.unit).await?;
        }
        let event = self.client_changed(&record);
        self.store
            .update_client(&record, current.version, event)
            .await?;
        self.committed(client_msg(&record))
    }

    fn default_rate(&self) -> i32 {
        self.cfg.default_rate_per_second as i32
    }

    fn client_changed(&self, c: &ClientRecord) -> bti_runtime::events::OutboxEvent {
        self.event(
            &c.name(),
            &c.unit_tenant(),
            &ClientChanged { client: c.name() },
        )
    }

    /// The registration `name` names, if the caller may see it; NOT_FOUND
    /// otherwise.
    async fn visible_client(&self, p: &Caller, field: &str, name: &str) -> ApiResult<ClientRecord> {
        let id = ClientName::parse(field, name)?.client;
        match self.store.client(&id).await? {
            Some(c) if may_see_client(p, &c) => Ok(c),
            _ => Err(ApiError::NotFound(name.to_string())),
        }
    }

    async fn require_unit(&self, unit: &str) -> ApiResult<()> {
        if self.peers.directory.unit_exists(unit).await? {
            Ok(())
        } else {
            Err(ApiError::invalid(
                "client.unit",
                "no such unit in the directory",
            ))
        }
    }
}
