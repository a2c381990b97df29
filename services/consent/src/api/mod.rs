//! The consent service's gRPC surface: one forwarder per RPC into the
//! application layer. Tonic types end here.

pub mod convert;

use bti_proto::consent::consent_service_server::{ConsentService, ConsentServiceServer};
use bti_proto::consent::*;
use bti_runtime::api::{reply, unpack};
use tonic::{Request, Response, Status};

use crate::app::App;

/// `bti.consent.v1.ConsentService` over the application layer.
#[derive(Clone)]
pub struct Api(pub App);

impl Api {
    pub fn into_server(self) -> ConsentServiceServer<Self> {
        ConsentServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl ConsentService for Api {
    async fn create_consent(
        &self,
        r: Request<CreateConsentRequest>,
    ) -> Result<Response<Consent>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_consent(&p, m).await)
    }
    async fn get_consent(
        &self,
        r: Request<GetConsentRequest>,
    ) -> Result<Response<Consent>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_consent(&p, m).await)
    }
    async fn list_consents(
        &self,
        r: Request<ListConsentsRequest>,
    ) -> Result<Response<ListConsentsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_consents(&p, m).await)
    }
    async fn update_consent(
        &self,
        r: Request<UpdateConsentRequest>,
    ) -> Result<Response<Consent>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.update_consent(&p, m).await)
    }
    async fn withdraw_consent(
        &self,
        r: Request<WithdrawConsentRequest>,
    ) -> Result<Response<Consent>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.withdraw_consent(&p, m).await)
    }
    async fn get_consent_revision(
        &self,
        r: Request<GetConsentRevisionRequest>,
    ) -> Result<Response<ConsentRevision>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_consent_revision(&p, m).await)
    }
    async fn list_consent_revisions(
        &self,
        r: Request<ListConsentRevisionsRequest>,
    ) -> Result<Response<ListConsentRevisionsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_consent_revisions(&p, m).await)
    }
    async fn check_access(
        &self,
        r: Request<CheckAccessRequest>,
    ) -> Result<Response<CheckAccessResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.check_access(&p, m).await)
    }
    async fn batch_check_access(
        &self,
        r: Request<BatchCheckAccessRequest>,
    ) -> Result<Response<BatchCheckAccessResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.batch_check_access(&p, m).await)
    }
    async fn create_representation(
        &self,
        r: Request<CreateRepresentationRequest>,
    ) -> Result<Response<Representation>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_representation(&p, m).await)
    }
    async fn get_representation(
        &self,
        r: Request<GetRepresentationRequest>,
    ) -> Result<Response<Representation>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_representation(&p, m).await)
    }
    async fn list_representations(
        &self,
        r: Request<ListRepresentationsRequest>,
    ) -> Result<Response<ListRepresentationsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_representations(&p, m).await)
    }
    async fn revoke_representation(
        &self,
        r: Request<RevokeRepresentationRequest>,
    ) -> Result<Response<Representation>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.revoke_representation(&p, m).await)
    }
}
