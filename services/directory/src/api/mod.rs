//! The directory's gRPC surface: one forwarder per RPC into the application
//! layer. Tonic types end here.

pub mod convert;

use bti_proto::directory::directory_service_server::{DirectoryService, DirectoryServiceServer};
use bti_proto::directory::*;
use bti_runtime::api::{reply, unpack};
use tonic::{Request, Response, Status};

use crate::app::App;

/// `bti.directory.v1.DirectoryService` over the application layer.
#[derive(Clone)]
pub struct Api(pub App);

impl Api {
    pub fn into_server(self) -> DirectoryServiceServer<Self> {
        DirectoryServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl DirectoryService for Api {
    async fn create_tenant(
        &self,
        r: Request<CreateTenantRequest>,
    ) -> Result<Response<Tenant>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_tenant(&p, m).await)
    }
    async fn get_tenant(&self, r: Request<GetTenantRequest>) -> Result<Response<Tenant>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_tenant(&p, m).await)
    }
    async fn list_tenants(
        &self,
        r: Request<ListTenantsRequest>,
    ) -> Result<Response<ListTenantsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_tenants(&p, m).await)
    }
    async fn update_tenant(
        &self,
        r: Request<UpdateTenantRequest>,
    ) -> Result<Response<Tenant>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.update_tenant(&p, m).await)
    }
    async fn create_unit(&self, r: Request<CreateUnitRequest>) -> Result<Response<Unit>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_unit(&p, m).await)
    }
    async fn get_unit(&self, r: Request<GetUnitRequest>) -> Result<Response<Unit>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_unit(&p, m).await)
    }
    async fn list_units(
        &self,
        r: Request<ListUnitsRequest>,
    ) -> Result<Response<ListUnitsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_units(&p, m).await)
    }
    async fn update_unit(&self, r: Request<UpdateUnitRequest>) -> Result<Response<Unit>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.update_unit(&p, m).await)
    }
    async fn create_member(
        &self,
        r: Request<CreateMemberRequest>,
    ) -> Result<Response<Member>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_member(&p, m).await)
    }
    async fn get_member(&self, r: Request<GetMemberRequest>) -> Result<Response<Member>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_member(&p, m).await)
    }
    async fn list_members(
        &self,
        r: Request<ListMembersRequest>,
    ) -> Result<Response<ListMembersResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_members(&p, m).await)
    }
    async fn update_member(
        &self,
        r: Request<UpdateMemberRequest>,
    ) -> Result<Response<Member>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.update_member(&p, m).await)
    }
    async fn delete_member(&self, r: Request<DeleteMemberRequest>) -> Result<Response<()>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.delete_member(&p, m).await)
    }
    async fn create_person(
        &self,
        r: Request<CreatePersonRequest>,
    ) -> Result<Response<Person>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_person(&p, m).await)
    }
    async fn get_person(&self, r: Request<GetPersonRequest>) -> Result<Response<Person>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_person(&p, m).await)
    }
    async fn list_persons(
        &self,
        r: Request<ListPersonsRequest>,
    ) -> Result<Response<ListPersonsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_persons(&p, m).await)
    }
    async fn update_person(
        &self,
        r: Request<UpdatePersonRequest>,
    ) -> Result<Response<Person>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.update_person(&p, m).await)
    }
    async fn lookup_person(
        &self,
        r: Request<LookupPersonRequest>,
    ) -> Result<Response<Person>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.lookup_person(&p, m).await)
    }
    async fn create_guardianship(
        &self,
        r: Request<CreateGuardianshipRequest>,
    ) -> Result<Response<Guardianship>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_guardianship(&p, m).await)
    }
    async fn get_guardianship(
        &self,
        r: Request<GetGuardianshipRequest>,
    ) -> Result<Response<Guardianship>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_guardianship(&p, m).await)
    }
    async fn list_guardianships(
        &self,
        r: Request<ListGuardianshipsRequest>,
    ) -> Result<Response<ListGuardianshipsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_guardianships(&p, m).await)
    }
    async fn update_guardianship(
        &self,
        r: Request<UpdateGuardianshipRequest>,
    ) -> Result<Response<Guardianship>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.update_guardianship(&p, m).await)
    }
    async fn delete_guardianship(
        &self,
        r: Request<DeleteGuardianshipRequest>,
    ) -> Result<Response<()>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.delete_guardianship(&p, m).await)
    }
}
