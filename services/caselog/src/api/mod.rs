//! The relay log's gRPC surface: one forwarder per RPC into the application
//! layer. Tonic types end here.

pub mod convert;

use bti_proto::caselog::case_log_service_server::{CaseLogService, CaseLogServiceServer};
use bti_proto::caselog::*;
use bti_runtime::api::{reply, unpack};
use tonic::{Request, Response, Status};

use crate::app::App;

/// `bti.caselog.v1.CaseLogService` over the application layer.
#[derive(Clone)]
pub struct Api(pub App);

impl Api {
    pub fn into_server(self) -> CaseLogServiceServer<Self> {
        CaseLogServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl CaseLogService for Api {
    async fn create_case_log(
        &self,
        r: Request<CreateCaseLogRequest>,
    ) -> Result<Response<CaseLog>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_case_log(&p, m).await)
    }
    async fn get_case_log(
        &self,
        r: Request<GetCaseLogRequest>,
    ) -> Result<Response<CaseLog>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_case_log(&p, m).await)
    }
    async fn list_case_logs(
        &self,
        r: Request<ListCaseLogsRequest>,
    ) -> Result<Response<ListCaseLogsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_case_logs(&p, m).await)
    }
    async fn change_level(
        &self,
        r: Request<ChangeLevelRequest>,
    ) -> Result<Response<CaseLog>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.change_level(&p, m).await)
    }
    async fn list_level_changes(
        &self,
        r: Request<ListLevelChangesRequest>,
    ) -> Result<Response<ListLevelChangesResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_level_changes(&p, m).await)
    }
    async fn close_case_log(
        &self,
        r: Request<CloseCaseLogRequest>,
    ) -> Result<Response<CaseLog>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.close_case_log(&p, m).await)
    }
    async fn export_case_log(
        &self,
        r: Request<ExportCaseLogRequest>,
    ) -> Result<Response<CaseLogExport>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.export_case_log(&p, m).await)
    }
    async fn create_goal(&self, r: Request<CreateGoalRequest>) -> Result<Response<Goal>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_goal(&p, m).await)
    }
    async fn list_goals(
        &self,
        r: Request<ListGoalsRequest>,
    ) -> Result<Response<ListGoalsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_goals(&p, m).await)
    }
    async fn update_goal(&self, r: Request<UpdateGoalRequest>) -> Result<Response<Goal>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.update_goal(&p, m).await)
    }
    async fn create_measure(
        &self,
        r: Request<CreateMeasureRequest>,
    ) -> Result<Response<Measure>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_measure(&p, m).await)
    }
    async fn get_measure(
        &self,
        r: Request<GetMeasureRequest>,
    ) -> Result<Response<Measure>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_measure(&p, m).await)
    }
    async fn list_measures(
        &self,
        r: Request<ListMeasuresRequest>,
    ) -> Result<Response<ListMeasuresResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_measures(&p, m).await)
    }
    async fn update_measure(
        &self,
        r: Request<UpdateMeasureRequest>,
    ) -> Result<Response<Measure>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.update_measure(&p, m).await)
    }
    async fn create_evaluation(
        &self,
        r: Request<CreateEvaluationRequest>,
    ) -> Result<Response<Evaluation>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_evaluation(&p, m).await)
    }
    async fn list_evaluations(
        &self,
        r: Request<ListEvaluationsRequest>,
    ) -> Result<Response<ListEvaluationsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_evaluations(&p, m).await)
    }
    async fn create_entry(
        &self,
        r: Request<CreateEntryRequest>,
    ) -> Result<Response<Entry>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_entry(&p, m).await)
    }
    async fn get_entry(&self, r: Request<GetEntryRequest>) -> Result<Response<Entry>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_entry(&p, m).await)
    }
    async fn list_entries(
        &self,
        r: Request<ListEntriesRequest>,
    ) -> Result<Response<ListEntriesResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_entries(&p, m).await)
    }
    async fn create_participant(
        &self,
        r: Request<CreateParticipantRequest>,
    ) -> Result<Response<Participant>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_participant(&p, m).await)
    }
    async fn list_participants(
        &self,
        r: Request<ListParticipantsRequest>,
    ) -> Result<Response<ListParticipantsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_participants(&p, m).await)
    }
    async fn update_participant(
        &self,
        r: Request<UpdateParticipantRequest>,
    ) -> Result<Response<Participant>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.update_participant(&p, m).await)
    }
    async fn delete_participant(
        &self,
        r: Request<DeleteParticipantRequest>,
    ) -> Result<Response<Participant>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.delete_participant(&p, m).await)
    }
    async fn create_handover(
        &self,
        r: Request<CreateHandoverRequest>,
    ) -> Result<Response<Handover>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_handover(&p, m).await)
    }
    async fn list_handovers(
        &self,
        r: Request<ListHandoversRequest>,
    ) -> Result<Response<ListHandoversResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_handovers(&p, m).await)
    }
    async fn accept_handover(
        &self,
        r: Request<AcceptHandoverRequest>,
    ) -> Result<Response<Handover>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.accept_handover(&p, m).await)
    }
    async fn decline_handover(
        &self,
        r: Request<DeclineHandoverRequest>,
    ) -> Result<Response<Handover>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.decline_handover(&p, m).await)
    }
    async fn withdraw_handover(
        &self,
        r: Request<WithdrawHandoverRequest>,
    ) -> Result<Response<Handover>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.withdraw_handover(&p, m).await)
    }
    async fn reassign_baton(
        &self,
        r: Request<ReassignBatonRequest>,
    ) -> Result<Response<CaseLog>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.reassign_baton(&p, m).await)
    }
    async fn create_transfer(
        &self,
        r: Request<CreateTransferRequest>,
    ) -> Result<Response<Transfer>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_transfer(&p, m).await)
    }
    async fn list_transfers(
        &self,
        r: Request<ListTransfersRequest>,
    ) -> Result<Response<ListTransfersResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_transfers(&p, m).await)
    }
    async fn cancel_transfer(
        &self,
        r: Request<CancelTransferRequest>,
    ) -> Result<Response<Transfer>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.cancel_transfer(&p, m).await)
    }
    async fn attach_referral(
        &self,
        r: Request<AttachReferralRequest>,
    ) -> Result<Response<AttachedReferral>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.attach_referral(&p, m).await)
    }
    async fn list_attached_referrals(
        &self,
        r: Request<ListAttachedReferralsRequest>,
    ) -> Result<Response<ListAttachedReferralsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_attached_referrals(&p, m).await)
    }
    async fn lift_referral_restriction(
        &self,
        r: Request<LiftReferralRestrictionRequest>,
    ) -> Result<Response<AttachedReferral>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.lift_referral_restriction(&p, m).await)
    }
    async fn list_access_log_entries(
        &self,
        r: Request<ListAccessLogEntriesRequest>,
    ) -> Result<Response<ListAccessLogEntriesResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_access_log_entries(&p, m).await)
    }
    async fn list_case_log_overviews(
        &self,
        r: Request<ListCaseLogOverviewsRequest>,
    ) -> Result<Response<ListCaseLogOverviewsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_case_log_overviews(&p, m).await)
    }
    async fn get_case_log_statistics(
        &self,
        r: Request<GetCaseLogStatisticsRequest>,
    ) -> Result<Response<CaseLogStatistics>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_case_log_statistics(&p, m).await)
    }
    async fn get_case_log_summary(
        &self,
        r: Request<GetCaseLogSummaryRequest>,
    ) -> Result<Response<CaseLogSummary>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_case_log_summary(&p, m).await)
    }
}
