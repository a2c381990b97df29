//! E-mail end to end: `.eml` files in development, and a real SMTP server
//! (Python's aiosmtpd) that is down at first, so the delivery is retried on
//! its persisted schedule and then arrives exactly once. Every message is
//! parsed and scanned for what must never be in one.

mod common;

use std::path::Path;

use bti_proto::caselog::HandoverOffered;
use bti_proto::notification::*;
use bti_proto::scheduling::MeetingScheduled;
use bti_proto::types::Recipient;
use bti_runtime::clock::ManualClock;
use bti_runtime::testing::{Smtpd, TempDir, eventually, files, parse_email as parse};
use common::*;

/// What the fixtures know about the child and the case, and no e-mail may say.
const NATIONAL_ID: &str = "01017012345";
const CHILD_NAME: &str = "Kari Nordmann";
const CASE_TEXT: &str = "bekymring for";

fn offer() -> HandoverOffered {
    HandoverOffered {
        handover: H.into(),
        to_professional: "p2".into(),
        to_unit: UNIT.into(),
    }
}

fn assert_nothing_personal(path: &Path) {
    let raw = String::from_utf8_lossy(&std::fs::read(path).unwrap()).to_string();
    let (subject, _, body) = parse(path);
    for text in [&raw, &subject, &body] {
        for secret in [NATIONAL_ID, CHILD_NAME, "Kari", "Nordmann", CASE_TEXT] {
            assert!(!text.contains(secret), "{secret:?} in {path:?}");
        }
    }
}

async fn with_address(fx: &Fx, muted: Vec<MutedKind>) {
    fx.set_preferences(
        employee("p2"),
        NotificationPreferences {
            email_address: "p2@example.org".into(),
            muted_kinds: muted,
            ..Default::default()
        },
        &["email_address", "muted_kinds"],
    )
    .await;
}

bti_runtime::backend_tests! {
    async fn eml_files_for_what_is_wanted_and_none_for_a_muted_kind(db) {
        let dir = TempDir::new("bti-eml");
        let section = serde_json::json!({
            "eml_dir": dir.path(),
            "delivery_every_ms": 20,
            "link_base_url": "https://bti.example",
            "municipalities": {"4201": "Risør kommune"},
        });
        let fx = Fx::start(db, section, None).await;
        with_address(&fx, vec![MutedKind {
            kind: NotificationKind::MeetingInvited as i32,
            channel: NotificationChannel::Email as i32,
        }])
        .await;
        let meeting = MeetingScheduled {
            meeting: "tenants/4201/meetings/m".into(),
            recipients: vec![Recipient { professional: "p2".into(), ..Default::default() }],
            sequence: 1,
            ..Default::default()
        };
        fx.publish_until(&meeting, "m", "the invitation is in the inbox", || async {
            !fx.inbox(employee("p2")).await.is_empty()
        })
        .await;
        fx.publish_until(&offer(), H, "the offer's e-mail is written", || async {
            !files(dir.path()).is_empty()
        })
        .await;
        // Two more whole rounds of the worker, run here: nothing else may go out.
        for _ in 0..2 {
            fx.app.deliver_due().await.unwrap();
        }
        let written = files(dir.path());
        assert_eq!(written.len(), 1, "one e-mail for the offer, none for the muted invitation");
        assert_eq!(fx.inbox(employee("p2")).await.len(), 2, "muting e-mail keeps the inbox");
        let (subject, to, body) = parse(&written[0]);
        assert_eq!(subject, "Risør kommune: Du har fått tilbud om stafettpinnen i en stafettlogg");
        assert_eq!(to, "p2@example.org");
        assert!(body.contains(&format!("https://bti.example/{H}")), "{body}");
        assert_nothing_personal(&written[0]);
    }

    async fn a_municipality_template_is_used_and_checked(db) {
        let dir = TempDir::new("bti-eml");
        let section = serde_json::json!({"eml_dir": dir.path(), "delivery_every_ms": 20});
        let fx = Fx::start(db, section, None).await;
        let admin = bti_runtime::auth::personas::employee("admin", T, &[UNIT], &[bti_runtime::auth::Role::MunicipalAdmin]);
        let name = format!("tenants/{T}/notificationTemplates/handover-offered-nb");
        let mut c = fx.client.clone();
        let got = c
            .get_notification_template(fx.server.request(GetNotificationTemplateRequest { name: name.clone() }, admin.clone()))
            .await
            .unwrap()
            .into_inner();
        assert!(got.built_in && got.body.contains("{{ link }}"));
        let update = |subject: &str, body: &str, who| {
            fx.server.request(
                UpdateNotificationTemplateRequest {
                    notification_template: Some(NotificationTemplate {
                        name: name.clone(),
                        subject: subject.into(),
                        body: body.into(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["subject".into(), "body".into()] }),
                },
                who,
            )
        };
        bti_runtime::testing::expect_code(
            c.update_notification_template(update("S", "B", employee("p2"))).await,
            tonic::Code::PermissionDenied,
        );
        let bad = c
            .update_notification_template(update("{{ child_name }}", "{% for %}", admin.clone()))
            .await;
        let status = bti_runtime::testing::expect_code(bad, tonic::Code::InvalidArgument);
        assert_eq!(
            bti_runtime::testing::violated_fields(&status),
            ["notification_template.subject", "notification_template.body"]
        );
        let saved = c
            .update_notification_template(update("{{ municipality }}: ny stafettpinne", "Sjå {{ link }}\n", admin))
            .await
            .unwrap()
            .into_inner();
        assert!(!saved.built_in);
        with_address(&fx, vec![]).await;
        fx.publish_until(&offer(), H, "the e-mail is written", || async { !files(dir.path()).is_empty() }).await;
        let (subject, _, body) = parse(&files(dir.path())[0]);
        assert_eq!(subject, "kommune 4201: ny stafettpinne");
        assert_eq!(body.trim_end(), format!("Sjå http://localhost:8080/{H}"));
    }

    async fn a_digest_gathers_what_waits_into_one_message(db) {
        let dir = TempDir::new("bti-eml");
        let clock = ManualClock::starting_now();
        let section = serde_json::json!({
            "eml_dir": dir.path(),
            "delivery_every_ms": 20,
            "link_base_url": "https://bti.example",
        });
        let fx = Fx::start(db, section, Some(clock.shared())).await;
        with_address(&fx, vec![]).await;
        let eight = Some(bti_proto::google::r#type::TimeOfDay { hours: 8, ..Default::default() });
        fx.set_preferences(employee("p2"), NotificationPreferences { digest_time: eight, ..Default::default() }, &["digest_time"]).await;
        for i in 0..2 {
            let meeting = MeetingScheduled {
                meeting: format!("tenants/4201/meetings/m{i}"),
                recipients: vec![Recipient { professional: "p2".into(), ..Default::default() }],
                sequence: 1,
                ..Default::default()
            };
            fx.publish_until(&meeting, "m", "the invitation is in the inbox", || async {
                fx.inbox(employee("p2")).await.len() > i
            })
            .await;
        }
        // A baton offer is never held for the digest.
        fx.publish_until(&offer(), H, "the offer's e-mail is written at once", || async {
            files(dir.path()).len() == 1
        })
        .await;
        // Two more whole rounds of the worker, run here: nothing else may go out.
        for _ in 0..2 {
            fx.app.deliver_due().await.unwrap();
        }
        assert_eq!(files(dir.path()).len(), 1, "the invitations wait for 08:00");
        clock.advance(chrono::Duration::hours(25));
        eventually("the digest is written", || async { files(dir.path()).len() == 2 }).await;
        // Two more whole rounds of the worker, run here: nothing else may go out.
        for _ in 0..2 {
            fx.app.deliver_due().await.unwrap();
        }
        let written = files(dir.path());
        assert_eq!(written.len(), 2, "one digest for both invitations");
        let digest = written
            .iter()
            .find(|p| parse(p).0.ends_with("2 nye varsler"))
            .expect("a digest");
        let (_, to, body) = parse(digest);
        assert_eq!(to, "p2@example.org");
        for i in 0..2 {
            assert!(body.contains(&format!("https://bti.example/tenants/4201/meetings/m{i}")), "{body}");
        }
        assert_nothing_personal(digest);
    }

    async fn a_real_smtp_server_gets_the_message_once_after_an_outage(db) {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let clock = ManualClock::starting_now();
        let section = serde_json::json!({
            "smtp": {"host": "127.0.0.1", "port": port, "tls": "none"},
            "sender": "BTI <ikkje-svar@bti.example>",
            "delivery_every_ms": 20,
            "link_base_url": "https://bti.example",
        });
        let fx = Fx::start(db, section, Some(clock.shared())).await;
        with_address(&fx, vec![]).await;
        fx.set_preferences(employee("p2"), NotificationPreferences { language_code: "nn".into(), ..Default::default() }, &["language_code"]).await;
        fx.publish_until(&offer(), H, "the offer is in the inbox", || async {
            !fx.inbox(employee("p2")).await.is_empty()
        })
        .await;
        let n = fx.inbox(employee("p2")).await.remove(0);
        let id = n.name.rsplit('/').next().unwrap().to_string();
        let store = fx.app.store().clone();
        let deliveries = || {
            let (store, id) = (store.clone(), id.clone());
            async move { store.list_deliveries(T, &id).await.unwrap() }
        };
        eventually("the first attempt fails: no server yet", || async {
            deliveries().await.first().is_some_and(|d| d.attempts == 1 && !d.last_error.is_empty())
        })
        .await;
        let d = deliveries().await.remove(0);
        assert_eq!(d.state, "PENDING");

        let maildir = TempDir::new("bti-maildir");
        // Maildir creates its tmp/new/cur only for a directory not yet there.
        let mailbox = maildir.path().join("box");
        let server = Smtpd::start(port, &mailbox).await;
        // The retry is due 5 s (plus jitter) after the failure, by the clock.
        clock.advance(chrono::Duration::seconds(6));
        eventually("the message arrives", || async { !server.received().is_empty() }).await;
        eventually("the delivery is recorded sent", || async {
            deliveries().await[0].state == "SENT"
        })
        .await;
        // Two more whole rounds of the worker, run here: nothing else may go out.
        for _ in 0..2 {
            fx.app.deliver_due().await.unwrap();
        }
        let got = server.received();
        drop(server);
        assert_eq!(got.len(), 1, "exactly once");
        assert_eq!(deliveries().await[0].attempts, 2);
        let (subject, to, body) = parse(&got[0]);
        assert_eq!(to, "p2@example.org");
        assert!(subject.contains("Du har fått tilbod om stafettpinnen"), "nynorsk: {subject}");
        assert!(body.contains(&format!("https://bti.example/{H}")), "{body}");
        assert_nothing_personal(&got[0]);
    }
}
