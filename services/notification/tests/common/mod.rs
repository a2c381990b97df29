//! The notification service on a real gRPC server, fed events through the
//! host's in-process bus as the relay log and scheduling service would.

#![allow(dead_code)]

pub mod peers;

use bti_proto::notification::notification_service_client::NotificationServiceClient;
use bti_proto::notification::*;
use bti_runtime::auth::{Claims, Role, personas};
use bti_runtime::clock::SharedClock;
use bti_runtime::config::Settings;
use bti_runtime::events::OutboxEvent;
use bti_runtime::testing::{TestDb, TestHost, TestHostOptions, eventually};
use tonic::transport::Channel;

pub const T: &str = "4201";
pub const UNIT: &str = "tenants/4201/units/school";
pub const H: &str = "tenants/4201/caseLogs/log1/handovers/h1";
pub const LOG: &str = "tenants/4201/caseLogs/log1";
/// The child of `LOG` (an opaque directory name).
pub const CHILD: &str = "tenants/4201/persons/child1";

pub struct Fx {
    pub server: TestHost,
    pub client: NotificationServiceClient<Channel>,
    pub app: bti_notification::App,
    pub db: TestDb,
    /// What the faked consent and directory answer.
    pub peers: peers::Peers,
}

pub fn employee(subject: &str) -> Claims {
    personas::employee(subject, T, &[UNIT], &[Role::Employee])
}

impl Fx {
    /// The service with `section` as its `[service.notification]`.
    pub async fn start(db: TestDb, section: serde_json::Value, clock: Option<SharedClock>) -> Fx {
        let mut settings = Settings::load_with_env(None, []).expect("settings");
        settings.service.insert("notification".into(), section);
        let mut options = TestHostOptions {
            settings,
            ..Default::default()
        };
        if let Some(c) = clock {
            options.clock = c;
        }
        let mut app = None;
        let fakes = peers::Peers::default();
        let server = TestHost::start_with(options, |host| {
            let (service, a) =
                bti_notification::build(&host.wiring("notification", db.db.clone()))?;
            app = Some(a);
            Ok(vec![
                service
                    .serve(fakes.consent_server())
                    .serve(fakes.directory_server()),
            ])
        })
        .await;
        let fx = Fx {
            client: NotificationServiceClient::new(server.channel.clone()),
            app: app.expect("built"),
            server,
            db,
            peers: fakes,
        };
        // The log the fixtures' offers are about: held by p1 at the school,
        // whose consent covers it; p1 and p2 work there.
        fx.peers.cover(CHILD, UNIT);
        fx.peers.member(UNIT, "p1", false, false);
        fx.peers.member(UNIT, "p2", false, false);
        fx.apply(&bti_proto::caselog::CaseLogOpened {
            case_log: LOG.into(),
            subject: CHILD.into(),
            unit: UNIT.into(),
            holder: "p1".into(),
            holder_unit: UNIT.into(),
            ..Default::default()
        })
        .await;
        fx
    }

    /// Hands `payload` to the consumer directly, as the bus would.
    pub async fn apply<M: prost::Name>(&self, payload: &M) -> usize {
        let envelope = OutboxEvent::new("//bti.no/caselog", "s", T, payload).envelope();
        self.app.on_event(&envelope).await.expect("event handled")
    }

    /// Publishes `payload` as an event of `source` (again and again until
    /// `done`, since a consumer only sees what is published after it
    /// subscribed; redelivery is harmless by design).
    pub async fn publish_until<M, F, Fut>(
        &self,
        payload: &M,
        subject: &str,
        what: &str,
        mut done: F,
    ) -> String
    where
        M: prost::Name,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let source = if M::full_name().starts_with("bti.scheduling") {
            "//bti.no/scheduling"
        } else {
            "//bti.no/caselog"
        };
        let envelope = OutboxEvent::new(source, subject, T, payload).envelope();
        let bus = self.server.bus.clone();
        let e = envelope.clone();
        eventually(what, move || {
            let (bus, e) = (bus.clone(), e.clone());
            let check = done();
            async move {
                bus.publish(&e).await.expect("publish");
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                check.await
            }
        })
        .await;
        envelope.id
    }

    pub async fn inbox(&self, who: Claims) -> Vec<Notification> {
        self.client
            .clone()
            .list_notifications(self.server.request(
                ListNotificationsRequest {
                    parent: format!("tenants/{T}"),
                    ..Default::default()
                },
                who,
            ))
            .await
            .expect("list")
            .into_inner()
            .notifications
    }

    pub async fn set_preferences(
        &self,
        who: Claims,
        prefs: NotificationPreferences,
        paths: &[&str],
    ) -> NotificationPreferences {
        self.client
            .clone()
            .update_notification_preferences(self.server.request(
                UpdateNotificationPreferencesRequest {
                    notification_preferences: Some(NotificationPreferences {
                        name: format!("tenants/{T}/notificationPreferences/me"),
                        ..prefs
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: paths.iter().map(|p| p.to_string()).collect(),
                    }),
                },
                who,
            ))
            .await
            .expect("update preferences")
            .into_inner()
    }
}
