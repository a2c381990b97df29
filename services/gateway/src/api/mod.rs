//! The gateway's gRPC surface: one forwarder per RPC into the application
//! layer. Tonic types end here. The application takes the [`Caller`], not
//! just the principal: a client registered with a certificate is checked
//! against the one it presented over mutual TLS.

pub mod convert;

use bti_proto::gateway::gateway_service_server::{GatewayService, GatewayServiceServer};
use bti_proto::gateway::*;
use bti_runtime::api::reply;
use bti_runtime::auth::Caller;
use tonic::{Request, Response, Status};

use crate::app::App;

/// `bti.gateway.v1.GatewayService` over the application layer.
#[derive(Clone)]
pub struct Api(pub App);

impl Api {
    /// The generated server, decoding messages up to the configured size.
    pub fn into_server(self) -> GatewayServiceServer<Self> {
        let max = self.0.config().max_request_bytes;
        GatewayServiceServer::new(self).max_decoding_message_size(max)
    }
}

/// Opens a handler: the caller (principal and certificate) and the message.
fn unpack<T>(req: Request<T>) -> Result<(Caller, T), Status> {
    let caller = Caller::of(&req)?;
    Ok((caller, req.into_inner()))
}

#[tonic::async_trait]
impl GatewayService for Api {
    async fn create_client(
        &self,
        r: Request<CreateClientRequest>,
    ) -> Result<Response<Client>, Status> {
        let (c, m) = unpack(r)?;
        reply(self.0.create_client(&c, m).await)
    }
    async fn get_client(&self, r: Request<GetClientRequest>) -> Result<Response<Client>, Status> {
        let (c, m) = unpack(r)?;
        reply(self.0.get_client(&c, m).await)
    }
    async fn list_clients(
        &self,
        r: Request<ListClientsRequest>,
    ) -> Result<Response<ListClientsResponse>, Status> {
        let (c, m) = unpack(r)?;
        reply(self.0.list_clients(&c, m).await)
    }
    async fn update_client(
        &self,
        r: Request<UpdateClientRequest>,
    ) -> Result<Response<Client>, Status> {
        let (c, m) = unpack(r)?;
        reply(self.0.update_client(&c, m).await)
    }
    async fn create_referral(
        &self,
        r: Request<CreateReferralRequest>,
    ) -> Result<Response<Referral>, Status> {
        let (c, m) = unpack(r)?;
        reply(self.0.create_referral(&c, m).await)
    }
    async fn get_referral(
        &self,
        r: Request<GetReferralRequest>,
    ) -> Result<Response<Referral>, Status> {
        let (c, m) = unpack(r)?;
        reply(self.0.get_referral(&c, m).await)
    }
    async fn list_referrals(
        &self,
        r: Request<ListReferralsRequest>,
    ) -> Result<Response<ListReferralsResponse>, Status> {
        let (c, m) = unpack(r)?;
        reply(self.0.list_referrals(&c, m).await)
    }
    async fn report_referral_status(
        &self,
        r: Request<ReportReferralStatusRequest>,
    ) -> Result<Response<Referral>, Status> {
        let (c, m) = unpack(r)?;
        reply(self.0.report_referral_status(&c, m).await)
    }
    async fn lift_restriction(
        &self,
        r: Request<LiftRestrictionRequest>,
    ) -> Result<Response<Referral>, Status> {
        let (c, m) = unpack(r)?;
        reply(self.0.lift_restriction(&c, m).await)
    }
    async fn list_overdue_referrals(
        &self,
        r: Request<ListOverdueReferralsRequest>,
    ) -> Result<Response<ListOverdueReferralsResponse>, Status> {
        let (c, m) = unpack(r)?;
        reply(self.0.list_overdue_referrals(&c, m).await)
    }
    async fn list_intake_referrals(
        &self,
        r: Request<ListIntakeReferralsRequest>,
    ) -> Result<Response<ListIntakeReferralsResponse>, Status> {
        let (c, m) = unpack(r)?;
        reply(self.0.list_intake_referrals(&c, m).await)
    }
    async fn assign_referral(
        &self,
        r: Request<AssignReferralRequest>,
    ) -> Result<Response<Referral>, Status> {
        let (c, m) = unpack(r)?;
        reply(self.0.assign_referral(&c, m).await)
    }
    async fn list_assigned_referrals(
        &self,
        r: Request<ListAssignedReferralsRequest>,
    ) -> Result<Response<ListAssignedReferralsResponse>, Status> {
        let (c, m) = unpack(r)?;
        reply(self.0.list_assigned_referrals(&c, m).await)
    }
    async fn get_subject_summary(
        &self,
        r: Request<GetSubjectSummaryRequest>,
    ) -> Result<Response<SubjectSummary>, Status> {
        let (c, m) = unpack(r)?;
        reply(self.0.get_subject_summary(&c, m).await)
    }
}
