//! The inbox through real gRPC on both backends: a baton offer reaches the
//! one offered (once, however often the event comes), its decision archives
//! it and tells the one who offered; reading, archiving, preferences and
//! what others may not see.

mod common;

use bti_proto::caselog::{HandoverDecided, HandoverOffered, HandoverState};
use bti_proto::notification::notification::State;
use bti_proto::notification::*;
use bti_proto::scheduling::MeetingScheduled;
use bti_proto::types::Recipient;
use bti_runtime::auth::personas;
use bti_runtime::testing::{eventually, expect_code, violated_fields};
use common::*;
use tonic::Code;

fn offer() -> HandoverOffered {
    HandoverOffered {
        handover: H.into(),
        to_professional: "p2".into(),
        to_unit: UNIT.into(),
    }
}

async fn offered(fx: &Fx) -> Notification {
    fx.publish_until(&offer(), H, "the offer is in p2's inbox", || async {
        !fx.inbox(employee("p2")).await.is_empty()
    })
    .await;
    let inbox = fx.inbox(employee("p2")).await;
    assert_eq!(
        inbox.len(),
        1,
        "one notification however often the event came"
    );
    inbox[0].clone()
}

bti_runtime::backend_tests! {
    async fn an_offer_reaches_the_one_offered_and_its_decision_settles_it(db) {
        let fx = Fx::start(db, serde_json::json!({"link_base_url": "https://bti.example"}), None).await;
        let n = offered(&fx).await;
        assert_eq!(n.kind, NotificationKind::HandoverOffered as i32);
        assert_eq!(n.state, State::Unread as i32);
        assert_eq!(n.resource, H);
        assert_eq!(n.link, format!("https://bti.example/{H}"));
        let mut c = fx.client.clone();
        let count = c
            .count_unread_notifications(fx.server.request(
                CountUnreadNotificationsRequest { parent: format!("tenants/{T}") },
                employee("p2"),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(count.unread_count, 1);

        // Nobody else sees it, nor learns that it exists.
        assert!(fx.inbox(employee("p3")).await.is_empty());
        let get = |who| fx.server.request(GetNotificationRequest { name: n.name.clone() }, who);
        expect_code(c.get_notification(get(employee("p3"))).await, Code::NotFound);
        let guardian = personas::guardian("g", T, "tenants/4201/persons/g");
        expect_code(c.get_notification(get(guardian)).await, Code::NotFound);
        expect_code(c.get_notification(get(personas::service("caselog", ""))).await, Code::PermissionDenied);
        let elsewhere = personas::employee("p2", "0301", &[], &[]);
        expect_code(c.get_notification(get(elsewhere)).await, Code::PermissionDenied);
        assert_eq!(c.get_notification(get(employee("p2"))).await.unwrap().into_inner(), n);

        let decided = HandoverDecided {
            handover: H.into(),
            state: HandoverState::Declined as i32,
            to_professional: "p2".into(),
            from_professional: "p1".into(),
        };
        fx.publish_until(&decided, H, "the decision reaches p1", || async {
            !fx.inbox(employee("p1")).await.is_empty()
        })
        .await;
        assert!(fx.inbox(employee("p2")).await.is_empty(), "settled offers leave the inbox");
        let settled = c.get_notification(get(employee("p2"))).await.unwrap().into_inner();
        assert_eq!(settled.state, State::Archived as i32);
        assert!(settled.resolve_time.is_some());
        let told = fx.inbox(employee("p1")).await;
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].kind, NotificationKind::HandoverDecided as i32);
    }

    async fn a_removed_participant_loses_the_offer(db) {
        let fx = Fx::start(db, serde_json::json!({}), None).await;
        offered(&fx).await;
        let removed = bti_proto::caselog::ParticipantChanged {
            participant: "tenants/4201/caseLogs/log1/participants/x".into(),
            unit: UNIT.into(),
            removed: true,
            professional: "p2".into(),
        };
        fx.publish_until(&removed, "x", "the offer leaves the inbox", || async {
            fx.inbox(employee("p2")).await.is_empty()
        })
        .await;
    }

    async fn a_watch_pushes_new_notifications_to_their_recipient_only(db) {
        let fx = Fx::start(db, serde_json::json!({"watch_poll_ms": 50}), None).await;
        let mut c = fx.client.clone();
        let mut watch = c
            .watch_notifications(fx.server.request(
                WatchNotificationsRequest { parent: format!("tenants/{T}") },
                employee("p2"),
            ))
            .await
            .unwrap()
            .into_inner();
        let elsewhere = HandoverOffered { to_professional: "p3".into(), ..offer() };
        fx.publish_until(&elsewhere, H, "p3's offer arrives", || async {
            !fx.inbox(employee("p3")).await.is_empty()
        })
        .await;
        offered(&fx).await;
        let pushed = tokio::time::timeout(std::time::Duration::from_secs(10), watch.message())
            .await
            .expect("pushed in time")
            .unwrap()
            .expect("an item");
        assert_eq!(pushed.kind, NotificationKind::HandoverOffered as i32);
        assert_eq!(pushed, fx.inbox(employee("p2")).await[0], "p2's own, not p3's");
        let guardian = personas::guardian("g", T, "tenants/4201/persons/g");
        let other_tenant = fx.server.request(WatchNotificationsRequest { parent: "tenants/0301".into() }, guardian);
        expect_code(c.watch_notifications(other_tenant).await, Code::PermissionDenied);
    }

    async fn reading_and_archiving(db) {
        let fx = Fx::start(db, serde_json::json!({}), None).await;
        let n = offered(&fx).await;
        let mut c = fx.client.clone();
        let read = |etag: &str| {
            fx.server.request(
                MarkNotificationReadRequest { name: n.name.clone(), etag: etag.into() },
                employee("p2"),
            )
        };
        expect_code(c.mark_notification_read(read("v9")).await, Code::Aborted);
        expect_code(c.mark_notification_read(fx.server.request(
            MarkNotificationReadRequest { name: n.name.clone(), etag: String::new() },
            employee("p3"),
        )).await, Code::NotFound);
        let r = c.mark_notification_read(read(&n.etag)).await.unwrap().into_inner();
        assert_eq!(r.state, State::Read as i32);
        assert_ne!(r.etag, n.etag);
        // Again is a no-op, not an error.
        assert_eq!(c.mark_notification_read(read("")).await.unwrap().into_inner(), r);

        let a = c
            .archive_notification(fx.server.request(
                ArchiveNotificationRequest { name: n.name.clone(), etag: r.etag.clone() },
                employee("p2"),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(a.state, State::Archived as i32);
        assert!(a.resolve_time.is_none(), "archived by the recipient, not settled");
        assert!(fx.inbox(employee("p2")).await.is_empty());
        let archived = c
            .list_notifications(fx.server.request(
                ListNotificationsRequest {
                    parent: format!("tenants/{T}"),
                    states: vec![State::Archived as i32],
                    ..Default::default()
                },
                employee("p2"),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(archived.notifications, [a]);

        let bad = c
            .list_notifications(fx.server.request(
                ListNotificationsRequest {
                    parent: format!("tenants/{T}"),
                    states: vec![0],
                    page_size: -1,
                    ..Default::default()
                },
                employee("p2"),
            ))
            .await;
        let s = expect_code(bad, Code::InvalidArgument);
        assert!(violated_fields(&s).contains(&"states[0]".to_string()), "{s:?}");
    }

    async fn mark_all_read_and_pages(db) {
        let fx = Fx::start(db, serde_json::json!({}), None).await;
        let meeting = |i: usize| MeetingScheduled {
            meeting: format!("tenants/4201/meetings/m{i}"),
            recipients: vec![Recipient { professional: "p2".into(), ..Default::default() }],
            sequence: 1,
            ..Default::default()
        };
        for i in 0..3 {
            fx.publish_until(&meeting(i), "m", "the invitation arrives", || async {
                fx.inbox(employee("p2")).await.len() > i
            })
            .await;
        }
        let mut c = fx.client.clone();
        let page = |token: String| {
            fx.server.request(
                ListNotificationsRequest {
                    parent: format!("tenants/{T}"),
                    page_size: 2,
                    page_token: token,
                    ..Default::default()
                },
                employee("p2"),
            )
        };
        let first = c.list_notifications(page(String::new())).await.unwrap().into_inner();
        assert_eq!(first.notifications.len(), 2);
        assert_eq!(first.notifications[0].resource, "tenants/4201/meetings/m2");
        let second = c.list_notifications(page(first.next_page_token.clone())).await.unwrap().into_inner();
        assert_eq!(second.notifications.len(), 1);
        assert!(second.next_page_token.is_empty());
        // A page token is no way into someone else's inbox.
        let stolen = fx.server.request(
            ListNotificationsRequest {
                parent: format!("tenants/{T}"),
                page_size: 2,
                page_token: first.next_page_token,
                ..Default::default()
            },
            employee("p3"),
        );
        expect_code(c.list_notifications(stolen).await, Code::InvalidArgument);

        let marked = c
            .mark_all_notifications_read(fx.server.request(
                MarkAllNotificationsReadRequest { parent: format!("tenants/{T}") },
                employee("p2"),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(marked.marked_count, 3);
        assert!(fx.inbox(employee("p2")).await.iter().all(|n| n.state == State::Read as i32));
    }

    async fn preferences_are_the_callers_own_and_validated(db) {
        let fx = Fx::start(db, serde_json::json!({}), None).await;
        let mut c = fx.client.clone();
        let me = format!("tenants/{T}/notificationPreferences/me");
        let got = c
            .get_notification_preferences(fx.server.request(
                GetNotificationPreferencesRequest { name: me.clone() },
                employee("p2"),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((got.language_code.as_str(), got.etag.as_str()), ("nb", "v0"));
        let other = fx.server.request(
            GetNotificationPreferencesRequest { name: format!("tenants/{T}/notificationPreferences/p3") },
            employee("p2"),
        );
        expect_code(c.get_notification_preferences(other).await, Code::InvalidArgument);

        let muted = |kind: NotificationKind| MutedKind { kind: kind as i32, channel: NotificationChannel::Email as i32 };
        let saved = fx
            .set_preferences(
                employee("p2"),
                NotificationPreferences {
                    email_address: "p2@example.org".into(),
                    language_code: "nn".into(),
                    muted_kinds: vec![muted(NotificationKind::MeetingInvited)],
                    ..Default::default()
                },
                &["email_address", "language_code", "muted_kinds"],
            )
            .await;
        assert_eq!(saved.email_address, "p2@example.org");
        assert_eq!(saved.muted_kinds, [muted(NotificationKind::MeetingInvited)]);
        assert_eq!(saved.etag, "v1");

        let update = |prefs: NotificationPreferences, paths: &[&str]| {
            fx.server.request(
                UpdateNotificationPreferencesRequest {
                    notification_preferences: Some(NotificationPreferences { name: me.clone(), ..prefs }),
                    update_mask: Some(prost_types::FieldMask { paths: paths.iter().map(|p| p.to_string()).collect() }),
                },
                employee("p2"),
            )
        };
        let bad = c
            .update_notification_preferences(update(
                NotificationPreferences {
                    email_address: "not an address".into(),
                    language_code: "en".into(),
                    muted_kinds: vec![muted(NotificationKind::HandoverOffered), MutedKind::default()],
                    quiet_start_time: Some(bti_proto::google::r#type::TimeOfDay { hours: 22, ..Default::default() }),
                    digest_time: Some(bti_proto::google::r#type::TimeOfDay { hours: 25, ..Default::default() }),
                    ..Default::default()
                },
                &["email_address", "language_code", "muted_kinds", "quiet_start_time", "digest_time"],
            ))
            .await;
        let s = expect_code(bad, Code::InvalidArgument);
        let mut fields = violated_fields(&s);
        fields.sort();
        assert_eq!(
            fields,
            [
                "notification_preferences.digest_time",
                "notification_preferences.email_address",
                "notification_preferences.language_code",
                "notification_preferences.muted_kinds[0]",
                "notification_preferences.muted_kinds[1]",
                "notification_preferences.quiet_end_time",
            ]
        );
        let stale = NotificationPreferences { etag: "v0".into(), ..Default::default() };
        expect_code(c.update_notification_preferences(update(stale, &["language_code"])).await, Code::Aborted);
        let quiet = |h| Some(bti_proto::google::r#type::TimeOfDay { hours: h, ..Default::default() });
        let q = NotificationPreferences { quiet_start_time: quiet(22), quiet_end_time: quiet(7), ..Default::default() };
        let q = c
            .update_notification_preferences(update(q, &["quiet_start_time", "quiet_end_time"]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(q.quiet_end_time, quiet(7));
        assert_eq!(q.email_address, "p2@example.org", "fields outside the mask are kept");
        let service = fx.server.request(
            GetNotificationPreferencesRequest { name: me.clone() },
            personas::service("x", ""),
        );
        expect_code(c.get_notification_preferences(service).await, Code::PermissionDenied);
    }

    async fn a_guardian_is_told_of_meetings_in_their_own_inbox(db) {
        let fx = Fx::start(db, serde_json::json!({}), None).await;
        let guardian = personas::guardian("g", T, "tenants/4201/persons/g");
        let meeting = MeetingScheduled {
            meeting: "tenants/4201/meetings/m".into(),
            recipients: vec![Recipient { person: "tenants/4201/persons/g".into(), ..Default::default() }],
            sequence: 1,
            ..Default::default()
        };
        let g = guardian.clone();
        fx.publish_until(&meeting, "m", "the guardian is invited", || {
            let g = g.clone();
            async { !fx.inbox(g).await.is_empty() }
        })
        .await;
        let inbox = fx.inbox(guardian.clone()).await;
        assert_eq!(inbox.len(), 1);
        assert_eq!(inbox[0].kind, NotificationKind::MeetingInvited as i32);
        // A professional whose subject happens to match is someone else.
        assert!(fx.inbox(employee("g")).await.is_empty());
        eventually("nothing else arrives", || async { fx.inbox(guardian.clone()).await.len() == 1 }).await;
    }
}
