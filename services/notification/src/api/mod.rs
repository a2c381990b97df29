//! The notification service's gRPC surface: one forwarder per RPC into the
//! application layer. Tonic types end here.

pub mod convert;

use bti_proto::notification::notification_service_server::{
    NotificationService, NotificationServiceServer,
};
use bti_proto::notification::*;
use bti_runtime::api::{reply, unpack};
use tonic::{Request, Response, Status};

use crate::app::App;

/// `bti.notification.v1.NotificationService` over the application layer.
#[derive(Clone)]
pub struct Api(pub App);

impl Api {
    pub fn into_server(self) -> NotificationServiceServer<Self> {
        NotificationServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl NotificationService for Api {
    async fn list_notifications(
        &self,
        r: Request<ListNotificationsRequest>,
    ) -> Result<Response<ListNotificationsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_notifications(&p, m).await)
    }
    async fn get_notification(
        &self,
        r: Request<GetNotificationRequest>,
    ) -> Result<Response<Notification>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_notification(&p, m).await)
    }
    async fn count_unread_notifications(
        &self,
        r: Request<CountUnreadNotificationsRequest>,
    ) -> Result<Response<CountUnreadNotificationsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.count_unread_notifications(&p, m).await)
    }
    async fn mark_notification_read(
        &self,
        r: Request<MarkNotificationReadRequest>,
    ) -> Result<Response<Notification>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.mark_notification_read(&p, m).await)
    }
    async fn mark_all_notifications_read(
        &self,
        r: Request<MarkAllNotificationsReadRequest>,
    ) -> Result<Response<MarkAllNotificationsReadResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.mark_all_notifications_read(&p, m).await)
    }
    async fn archive_notification(
        &self,
        r: Request<ArchiveNotificationRequest>,
    ) -> Result<Response<Notification>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.archive_notification(&p, m).await)
    }
    async fn get_notification_preferences(
        &self,
        r: Request<GetNotificationPreferencesRequest>,
    ) -> Result<Response<NotificationPreferences>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_notification_preferences(&p, m).await)
    }
    async fn update_notification_preferences(
        &self,
        r: Request<UpdateNotificationPreferencesRequest>,
    ) -> Result<Response<NotificationPreferences>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.update_notification_preferences(&p, m).await)
    }
}
