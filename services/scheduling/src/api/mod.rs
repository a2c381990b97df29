//! The scheduling service's gRPC surface: one forwarder per RPC into the
//! application layer. Tonic types end here.

pub mod convert;

use bti_proto::scheduling::scheduling_service_server::{
    SchedulingService, SchedulingServiceServer,
};
use bti_proto::scheduling::*;
use bti_runtime::api::{reply, unpack};
use tonic::{Request, Response, Status};

use crate::app::App;

/// `bti.scheduling.v1.SchedulingService` over the application layer.
#[derive(Clone)]
pub struct Api(pub App);

impl Api {
    pub fn into_server(self) -> SchedulingServiceServer<Self> {
        SchedulingServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl SchedulingService for Api {
    async fn create_meeting_series(
        &self,
        r: Request<CreateMeetingSeriesRequest>,
    ) -> Result<Response<MeetingSeries>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_meeting_series(&p, m).await)
    }
    async fn get_meeting_series(
        &self,
        r: Request<GetMeetingSeriesRequest>,
    ) -> Result<Response<MeetingSeries>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_meeting_series(&p, m).await)
    }
    async fn list_meeting_series(
        &self,
        r: Request<ListMeetingSeriesRequest>,
    ) -> Result<Response<ListMeetingSeriesResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_meeting_series(&p, m).await)
    }
    async fn create_meeting(
        &self,
        r: Request<CreateMeetingRequest>,
    ) -> Result<Response<Meeting>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_meeting(&p, m).await)
    }
    async fn get_meeting(
        &self,
        r: Request<GetMeetingRequest>,
    ) -> Result<Response<Meeting>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_meeting(&p, m).await)
    }
    async fn list_meetings(
        &self,
        r: Request<ListMeetingsRequest>,
    ) -> Result<Response<ListMeetingsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_meetings(&p, m).await)
    }
    async fn update_meeting(
        &self,
        r: Request<UpdateMeetingRequest>,
    ) -> Result<Response<Meeting>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.update_meeting(&p, m).await)
    }
    async fn cancel_meeting(
        &self,
        r: Request<CancelMeetingRequest>,
    ) -> Result<Response<Meeting>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.cancel_meeting(&p, m).await)
    }
    async fn complete_meeting(
        &self,
        r: Request<CompleteMeetingRequest>,
    ) -> Result<Response<Meeting>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.complete_meeting(&p, m).await)
    }
    async fn respond_to_meeting(
        &self,
        r: Request<RespondToMeetingRequest>,
    ) -> Result<Response<Meeting>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.respond_to_meeting(&p, m).await)
    }
    async fn list_slots(
        &self,
        r: Request<ListSlotsRequest>,
    ) -> Result<Response<ListSlotsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_slots(&p, m).await)
    }
    async fn book_slot(&self, r: Request<BookSlotRequest>) -> Result<Response<Meeting>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.book_slot(&p, m).await)
    }
    async fn get_meeting_invitation(
        &self,
        r: Request<GetMeetingInvitationRequest>,
    ) -> Result<Response<MeetingInvitation>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_meeting_invitation(&p, m).await)
    }
    async fn get_calendar_feed(
        &self,
        r: Request<GetCalendarFeedRequest>,
    ) -> Result<Response<CalendarFeed>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_calendar_feed(&p, m).await)
    }
    async fn get_deadline(
        &self,
        r: Request<GetDeadlineRequest>,
    ) -> Result<Response<Deadline>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_deadline(&p, m).await)
    }
    async fn list_deadlines(
        &self,
        r: Request<ListDeadlinesRequest>,
    ) -> Result<Response<ListDeadlinesResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_deadlines(&p, m).await)
    }
    async fn update_deadline(
        &self,
        r: Request<UpdateDeadlineRequest>,
    ) -> Result<Response<Deadline>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.update_deadline(&p, m).await)
    }
    async fn complete_deadline(
        &self,
        r: Request<CompleteDeadlineRequest>,
    ) -> Result<Response<Deadline>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.complete_deadline(&p, m).await)
    }
    async fn cancel_deadline(
        &self,
        r: Request<CancelDeadlineRequest>,
    ) -> Result<Response<Deadline>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.cancel_deadline(&p, m).await)
    }
    async fn list_access_records(
        &self,
        r: Request<ListAccessRecordsRequest>,
    ) -> Result<Response<ListAccessRecordsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_access_records(&p, m).await)
    }
}
