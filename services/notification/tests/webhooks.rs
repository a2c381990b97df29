//! Webhooks through real gRPC and a real HTTP receiver that verifies every
//! signature with the Standard Webhooks reference library: a receiver that
//! fails for a while and then recovers gets every delivery exactly once by
//! `webhook-id`; rotation signs with both secrets; 410 disables at once and
//! enabling replays what was missed;
//! only administrators manage subscriptions and the URL policy holds.

mod common;

use std::path::Path;

use bti_proto::caselog::HandoverOffered;
use bti_proto::notification::webhook_service_client::WebhookServiceClient;
use bti_proto::notification::*;
use bti_proto::scheduling::MeetingScheduled;
use bti_proto::types::Recipient;
use bti_runtime::auth::{Role, personas};
use bti_runtime::clock::ManualClock;
use bti_runtime::testing::{TempDir, eventually, expect_code, outbox_types, violated_fields};
use common::*;
use tonic::Code;
use webhook_delivery::State as DeliveryState;
use webhook_subscription::State as SubState;

fn admin() -> bti_runtime::auth::Claims {
    personas::employee("admin", T, &[UNIT], &[Role::MunicipalAdmin])
}

fn offer(i: usize) -> HandoverOffered {
    HandoverOffered {
        handover: format!("tenants/4201/caseLogs/log1/handovers/h{i}"),
        to_professional: "p2".into(),
        to_unit: UNIT.into(),
    }
}

/// The receiver process, stopped when the test ends, however it ends.
struct Receiver(std::process::Child);

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn receiver(
    port: u16,
    secret: &Path,
    log: &Path,
    fail_first: usize,
    status: u16,
) -> Receiver {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/receiver.py");
    let child = std::process::Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(secret)
        .arg(log)
        .arg(fail_first.to_string())
        .arg(status.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start the receiver (pip install standardwebhooks)");
    eventually("the receiver listens", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await;
    Receiver(child)
}

fn log_lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn local_hooks() -> serde_json::Value {
    serde_json::json!({"webhooks": {"allow_http": true, "allow_private": true, "every_ms": 20}})
}

async fn subscribe(fx: &Fx, uri: &str, kinds: &[NotificationKind]) -> WebhookSubscription {
    WebhookServiceClient::new(fx.server.channel.clone())
        .create_webhook_subscription(fx.server.request(
            CreateWebhookSubscriptionRequest {
                parent: format!("tenants/{T}"),
                webhook_subscription: Some(WebhookSubscription {
                    uri: uri.into(),
                    kinds: kinds.iter().map(|k| *k as i32).collect(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            admin(),
        ))
        .await
        .expect("create subscription")
        .into_inner()
}

async fn deliveries(fx: &Fx, sub: &str) -> Vec<WebhookDelivery> {
    WebhookServiceClient::new(fx.server.channel.clone())
        .list_webhook_deliveries(fx.server.request(
            ListWebhookDeliveriesRequest {
                parent: sub.into(),
                ..Default::default()
            },
            admin(),
        ))
        .await
        .expect("list deliveries")
        .into_inner()
        .webhook_deliveries
}

bti_runtime::backend_tests! {
    async fn a_recovering_receiver_gets_every_delivery_exactly_once(db) {
        let clock = ManualClock::starting_now();
        let fx = Fx::start(db, local_hooks(), Some(clock.shared())).await;
        let port = free_port();
        let sub = subscribe(&fx, &format!("http://127.0.0.1:{port}/hook"), &[NotificationKind::HandoverOffered]).await;
        assert!(sub.signing_secret.starts_with("whsec_"));
        assert_eq!(sub.state, SubState::Active as i32);
        let dir = TempDir::new("bti-hooks");
        let (secret, log) = (dir.path().join("secret"), dir.path().join("log"));
        std::fs::write(&secret, &sub.signing_secret).unwrap();
        let _receiver = receiver(port, &secret, &log, 2, 503).await;

        for i in 0..3 {
            fx.publish_until(&offer(i), "h", "the offer is in the inbox", || async {
                fx.inbox(employee("p2")).await.len() > i
            })
            .await;
        }
        // Not subscribed to: no delivery.
        let meeting = MeetingScheduled {
            meeting: "tenants/4201/meetings/m".into(),
            recipients: vec![Recipient { professional: "p2".into(), ..Default::default() }],
            ..Default::default()
        };
        fx.publish_until(&meeting, "m", "the invitation is in the inbox", || async {
            fx.inbox(employee("p2")).await.len() > 3
        })
        .await;
        eventually("every delivery was attempted once", || async {
            let ds = deliveries(&fx, &sub.name).await;
            // Listed attempts are finished ones (a claimed one has none yet).
            ds.len() == 3 && ds.iter().all(|d| d.attempts.len() == 1)
        })
        .await;
        let ds = deliveries(&fx, &sub.name).await;
        let pending: Vec<_> = ds.iter().filter(|d| d.state == DeliveryState::Pending as i32).collect();
        assert_eq!(pending.len(), 2, "{ds:?}");
        assert!(pending.iter().all(|d| d.last_http_status == 503 && d.next_attempt_time.is_some()));

        // The retries are due 5 s (plus jitter) later, by the clock.
        clock.advance(chrono::Duration::seconds(6));
        eventually("all delivered", || async {
            deliveries(&fx, &sub.name).await.iter().all(|d| d.state == DeliveryState::Delivered as i32)
        })
        .await;
        // Two more whole rounds of the worker, run here: nothing else may go out.
        for _ in 0..2 {
            fx.app.deliver_webhooks_due().await.unwrap();
        }
        let lines = log_lines(&log);
        assert!(lines.iter().all(|l| l.starts_with("OK msg_")), "{lines:?}");
        let mut ids: Vec<_> = lines.iter().map(|l| l[3..].to_string()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!((lines.len(), ids.len()), (3, 3), "each exactly once: {lines:?}");
        let ds = deliveries(&fx, &sub.name).await;
        let mut attempts: Vec<_> = ds.iter().map(|d| d.attempt_count).collect();
        attempts.sort();
        assert_eq!(attempts, [1, 2, 2]);
        assert!(ds.iter().all(|d| d.last_http_status == 204));
        let statuses: Vec<Vec<i32>> = ds.iter().map(|d| d.attempts.iter().map(|a| a.http_status).collect()).collect();
        let mut statuses = statuses;
        statuses.sort();
        assert_eq!(statuses, [vec![204], vec![503, 204], vec![503, 204]], "every attempt is listed");
        for d in &ds {
            assert!(ids.contains(&format!("msg_{}", d.name.rsplit('/').next().unwrap())));
        }

        // Rotation: the receiver may verify with either secret for a while.
        let mut hooks = WebhookServiceClient::new(fx.server.channel.clone());
        let rotated = hooks
            .rotate_webhook_subscription_secret(fx.server.request(
                RotateWebhookSubscriptionSecretRequest { name: sub.name.clone(), etag: String::new() },
                admin(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_ne!(rotated.signing_secret, sub.signing_secret);
        std::fs::write(&secret, &rotated.signing_secret).unwrap();
        fx.publish_until(&offer(10), "h", "a delivery verified with the new secret", || async {
            log_lines(&log).len() == 4
        })
        .await;
        std::fs::write(&secret, &sub.signing_secret).unwrap();
        fx.publish_until(&offer(11), "h", "and with the old one", || async {
            log_lines(&log).len() == 5
        })
        .await;
        assert!(log_lines(&log).iter().all(|l| l.starts_with("OK ")), "{:?}", log_lines(&log));
        let got = hooks
            .get_webhook_subscription(fx.server.request(GetWebhookSubscriptionRequest { name: sub.name.clone() }, admin()))
            .await
            .unwrap()
            .into_inner();
        assert!(got.signing_secret.is_empty(), "the secret is shown only on create and rotate");
    }

    async fn gone_disables_at_once_and_enabling_replays_what_was_missed(db) {
        let fx = Fx::start(db, local_hooks(), None).await;
        let port = free_port();
        let dir = TempDir::new("bti-hooks");
        let (secret, log) = (dir.path().join("secret"), dir.path().join("log"));
        let sub = subscribe(&fx, &format!("http://127.0.0.1:{port}/hook"), &[]).await;
        std::fs::write(&secret, &sub.signing_secret).unwrap();
        let _receiver = receiver(port, &secret, &log, 1, 410).await;
        fx.publish_until(&offer(0), "h", "the offer is in the inbox", || async {
            !fx.inbox(employee("p2")).await.is_empty()
        })
        .await;
        let mut hooks = WebhookServiceClient::new(fx.server.channel.clone());
        let get = || fx.server.request(GetWebhookSubscriptionRequest { name: sub.name.clone() }, admin());
        eventually("the subscription is disabled", || {
            let mut hooks = hooks.clone();
            let req = get();
            async move { hooks.get_webhook_subscription(req).await.unwrap().into_inner().state == SubState::Disabled as i32 }
        })
        .await;
        let ds = deliveries(&fx, &sub.name).await;
        assert_eq!((ds[0].state, ds[0].last_http_status), (DeliveryState::Failed as i32, 410));
        eventually("the disabling is an event", || async {
            outbox_types(&fx.db).await.contains(&"bti.notification.v1.WebhookSubscriptionDisabled".to_string())
        })
        .await;

        // What happens while it is disabled is recorded, not sent.
        fx.publish_until(&offer(1), "h", "a second offer", || async {
            fx.inbox(employee("p2")).await.len() == 2
        })
        .await;
        let ds = deliveries(&fx, &sub.name).await;
        assert_eq!(ds.len(), 2);
        assert!(ds.iter().all(|d| d.state == DeliveryState::Failed as i32));
        // Two more whole rounds of the worker, run here: nothing else may go out.
        for _ in 0..2 {
            fx.app.deliver_webhooks_due().await.unwrap();
        }
        assert!(log_lines(&log).is_empty());

        let enabled = hooks
            .enable_webhook_subscription(fx.server.request(
                EnableWebhookSubscriptionRequest { name: sub.name.clone(), etag: String::new() },
                admin(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(enabled.state, SubState::Active as i32);
        eventually("both are replayed", || async { log_lines(&log).len() == 2 }).await;
        let mut got: Vec<_> = log_lines(&log).iter().map(|l| l.replace("OK msg_", "")).collect();
        got.sort();
        let mut want: Vec<_> = ds.iter().map(|d| d.name.rsplit('/').next().unwrap().to_string()).collect();
        want.sort();
        assert_eq!(got, want, "replayed with their original webhook-ids");

        // Deleted: gone from lists and reads.
        hooks
            .delete_webhook_subscription(fx.server.request(DeleteWebhookSubscriptionRequest { name: sub.name.clone() }, admin()))
            .await
            .unwrap();
        expect_code(hooks.get_webhook_subscription(get()).await, Code::NotFound);
    }

    async fn only_administrators_manage_and_the_url_policy_holds(db) {
        let fx = Fx::start(db, serde_json::json!({}), None).await;
        let mut hooks = WebhookServiceClient::new(fx.server.channel.clone());
        let create = |uri: &str, kinds: Vec<i32>, who| {
            fx.server.request(
                CreateWebhookSubscriptionRequest {
                    parent: format!("tenants/{T}"),
                    webhook_subscription: Some(WebhookSubscription { uri: uri.into(), kinds, ..Default::default() }),
                    request_id: String::new(),
                },
                who,
            )
        };
        let ok = "https://case-system.example/hooks";
        expect_code(hooks.create_webhook_subscription(create(ok, vec![], employee("p2"))).await, Code::PermissionDenied);
        let other_admin = personas::employee("a", "0301", &[], &[Role::MunicipalAdmin]);
        expect_code(hooks.create_webhook_subscription(create(ok, vec![], other_admin)).await, Code::PermissionDenied);
        for uri in ["http://case-system.example/hooks", "https://10.1.2.3/h", "https://u:p@case-system.example/", "ftp://x"] {
            let s = expect_code(hooks.create_webhook_subscription(create(uri, vec![], admin())).await, Code::InvalidArgument);
            assert_eq!(violated_fields(&s), ["webhook_subscription.uri"], "{uri}");
            assert!(!s.message().contains("case-system"), "the URL is not echoed");
        }
        let s = expect_code(hooks.create_webhook_subscription(create(ok, vec![0], admin())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["webhook_subscription.kinds[0]"]);
        let operator = personas::operator();
        let made = hooks.create_webhook_subscription(create(ok, vec![], operator)).await.unwrap().into_inner();
        let listed = hooks
            .list_webhook_subscriptions(fx.server.request(
                ListWebhookSubscriptionsRequest { parent: format!("tenants/{T}"), ..Default::default() },
                admin(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.webhook_subscriptions.len(), 1);
        assert_eq!(listed.webhook_subscriptions[0].name, made.name);
        assert!(listed.webhook_subscriptions[0].signing_secret.is_empty());
    }

    async fn subscriptions_per_unit_and_per_gateway_client(db) {
        let fx = Fx::start(db, serde_json::json!({}), None).await;
        let nurse = "tenants/4201/units/nurse";
        let mut hooks = WebhookServiceClient::new(fx.server.channel.clone());
        let create = |units: Vec<&str>, client: &str| {
            fx.server.request(
                CreateWebhookSubscriptionRequest {
                    parent: format!("tenants/{T}"),
                    webhook_subscription: Some(WebhookSubscription {
                        uri: "https://case-system.example/hooks".into(),
                        units: units.into_iter().map(String::from).collect(),
                        client: client.into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                admin(),
            )
        };
        let bad = hooks.create_webhook_subscription(create(vec!["tenants/0301/units/x", UNIT, "units/y"], "skolesys")).await;
        let s = expect_code(bad, Code::InvalidArgument);
        assert_eq!(
            violated_fields(&s),
            ["webhook_subscription.units[0]", "webhook_subscription.units[2]", "webhook_subscription.client"]
        );
        let school = hooks.create_webhook_subscription(create(vec![UNIT], "")).await.unwrap().into_inner();
        assert_eq!(school.units, [UNIT]);
        let health = hooks.create_webhook_subscription(create(vec![nurse], "")).await.unwrap().into_inner();
        let client = hooks.create_webhook_subscription(create(vec![], "clients/skolesys")).await.unwrap().into_inner();
        assert_eq!(client.client, "clients/skolesys");

        // An offer within the school's log, then one to the health station.
        fx.apply(&offer(1)).await;
        fx.apply(&HandoverOffered { to_unit: nurse.into(), ..offer(2) }).await;
        let resources = |d: Vec<WebhookDelivery>| {
            let mut r: Vec<String> = d.into_iter().map(|d| d.resource).collect();
            r.sort();
            r
        };
        let (h1, h2) = (offer(1).handover, offer(2).handover);
        assert_eq!(resources(deliveries(&fx, &school.name).await), [h1.clone(), h2.clone()], "the school owns the log");
        assert_eq!(resources(deliveries(&fx, &health.name).await), std::slice::from_ref(&h2), "only the offer to it");
        assert_eq!(resources(deliveries(&fx, &client.name).await), [h1, h2], "no unit filter");
    }
}
