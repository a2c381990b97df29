//! The notification service's gRPC surface: one forwarder per RPC into the
//! application layer. Tonic types end here.

pub mod convert;

use bti_proto::notification::notification_service_server::{
    NotificationService, NotificationServiceServer,
};
use bti_proto::notification::webhook_service_server::{WebhookService, WebhookServiceServer};
use bti_proto::notification::*;
use bti_runtime::api::{reply, unpack};
use futures::StreamExt;
use futures::stream::BoxStream;
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
    type WatchNotificationsStream = BoxStream<'static, Result<Notification, Status>>;

    async fn watch_notifications(
        &self,
        r: Request<WatchNotificationsRequest>,
    ) -> Result<Response<Self::WatchNotificationsStream>, Status> {
        let (p, m) = unpack(r)?;
        reply(
            self.0
                .watch_notifications(&p, m)
                .await
                .map(|s| s.map(|n| n.map_err(Status::from)).boxed()),
        )
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
    async fn get_notification_template(
        &self,
        r: Request<GetNotificationTemplateRequest>,
    ) -> Result<Response<NotificationTemplate>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_notification_template(&p, m).await)
    }
    async fn update_notification_template(
        &self,
        r: Request<UpdateNotificationTemplateRequest>,
    ) -> Result<Response<NotificationTemplate>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.update_notification_template(&p, m).await)
    }
    async fn update_notification_preferences(
        &self,
        r: Request<UpdateNotificationPreferencesRequest>,
    ) -> Result<Response<NotificationPreferences>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.update_notification_preferences(&p, m).await)
    }
}

/// `bti.notification.v1.WebhookService` over the application layer.
#[derive(Clone)]
pub struct WebhookApi(pub App);

impl WebhookApi {
    pub fn into_server(self) -> WebhookServiceServer<Self> {
        WebhookServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl WebhookService for WebhookApi {
    async fn create_webhook_subscription(
        &self,
        r: Request<CreateWebhookSubscriptionRequest>,
    ) -> Result<Response<WebhookSubscription>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.create_webhook_subscription(&p, m).await)
    }
    async fn get_webhook_subscription(
        &self,
        r: Request<GetWebhookSubscriptionRequest>,
    ) -> Result<Response<WebhookSubscription>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.get_webhook_subscription(&p, m).await)
    }
    async fn list_webhook_subscriptions(
        &self,
        r: Request<ListWebhookSubscriptionsRequest>,
    ) -> Result<Response<ListWebhookSubscriptionsResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_webhook_subscriptions(&p, m).await)
    }
    async fn delete_webhook_subscription(
        &self,
        r: Request<DeleteWebhookSubscriptionRequest>,
    ) -> Result<Response<()>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.delete_webhook_subscription(&p, m).await)
    }
    async fn rotate_webhook_subscription_secret(
        &self,
        r: Request<RotateWebhookSubscriptionSecretRequest>,
    ) -> Result<Response<WebhookSubscription>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.rotate_webhook_subscription_secret(&p, m).await)
    }
    async fn enable_webhook_subscription(
        &self,
        r: Request<EnableWebhookSubscriptionRequest>,
    ) -> Result<Response<WebhookSubscription>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.enable_webhook_subscription(&p, m).await)
    }
    async fn list_webhook_deliveries(
        &self,
        r: Request<ListWebhookDeliveriesRequest>,
    ) -> Result<Response<ListWebhookDeliveriesResponse>, Status> {
        let (p, m) = unpack(r)?;
        reply(self.0.list_webhook_deliveries(&p, m).await)
    }
}
