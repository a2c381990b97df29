//! Behavioural suite of the notification store on SQLite and PostgreSQL.

use std::collections::HashSet;
use std::sync::Arc;

use bti_notification::domain::*;
use bti_notification::store::{
    self, Endpoint, NewNotification, NotificationStore, Outcome, Settle, WebhookOutcome,
};
use bti_proto::notification::{NotificationCreated, NotificationsResolved};
use bti_runtime::ApiError;
use bti_runtime::api::{new_id, now};
use bti_runtime::db::Idem;
use bti_runtime::events::OutboxEvent;
use bti_runtime::testing::{TestDb, outbox_types};
use chrono::Duration;

const T: &str = "4201";
const H: &str = "tenants/4201/caseLogs/l/handovers/h";

async fn open(db: &TestDb) -> Arc<dyn NotificationStore> {
    db.migrate(&store::migrations()).await.expect("migrate");
    store::for_db(db)
}

fn notification(recipient: &str, kind: &str, cause: &str) -> NotificationRecord {
    let t = now();
    NotificationRecord {
        tenant: T.into(),
        id: new_id(),
        recipient: recipient.into(),
        kind: kind.into(),
        resource: cause.into(),
        link: format!("https://bti.example/{cause}"),
        cause: cause.into(),
        state: "UNREAD".into(),
        resolve_time: None,
        create_time: t,
        update_time: t,
        version: 1,
        case_log: String::new(),
        via_unit: String::new(),
    }
}

fn delivery(n: &NotificationRecord, due: chrono::DateTime<chrono::Utc>) -> DeliveryRecord {
    DeliveryRecord {
        id: new_id(),
        tenant: n.tenant.clone(),
        notification: n.id.clone(),
        recipient: n.recipient.clone(),
        channel: "email".into(),
        state: DELIVERY_PENDING.into(),
        due_time: due,
        attempts: 0,
        last_error: String::new(),
        create_time: n.create_time,
        update_time: n.create_time,
    }
}

fn new(n: NotificationRecord, deliveries: Vec<DeliveryRecord>) -> NewNotification {
    let event = OutboxEvent::new(
        SOURCE,
        &n.name(),
        T,
        &NotificationCreated {
            notification: n.name(),
            ..Default::default()
        },
    );
    NewNotification {
        notification: n,
        deliveries,
        event,
    }
}

fn settle(cause: &str, kinds: &[&str]) -> Settle {
    Settle {
        tenant: T.into(),
        cause: cause.into(),
        kinds: kinds.iter().map(|k| k.to_string()).collect(),
        recipient: None,
        event: OutboxEvent::new(
            SOURCE,
            cause,
            T,
            &NotificationsResolved {
                resource: cause.into(),
            },
        ),
    }
}

fn all() -> Vec<State> {
    vec![State::Unread, State::Seen, State::Read, State::Archived]
}

bti_runtime::backend_tests! {
    async fn the_record_of_a_log_follows_its_events_idempotently(db) {
        use bti_notification::domain::access::{LogParticipantRecord, LogRecord};
        let s = open(&db).await;
        let log = "tenants/4201/caseLogs/l";
        assert_eq!(s.get_log(T, log).await.unwrap(), None);
        let mut l = LogRecord {
            tenant: T.into(),
            case_log: log.into(),
            subject: "tenants/4201/persons/c".into(),
            unit: "tenants/4201/units/school".into(),
            holder: "kari".into(),
            holder_unit: "tenants/4201/units/school".into(),
            active: true,
        };
        s.put_log(&l).await.unwrap();
        l.holder = "ola".into();
        l.active = false;
        s.put_log(&l).await.unwrap();
        s.put_log(&l).await.unwrap();
        assert_eq!(s.get_log(T, log).await.unwrap(), Some(l.clone()));
        assert_eq!(s.get_log("other", log).await.unwrap(), None);
        let mut p = LogParticipantRecord {
            tenant: T.into(),
            case_log: log.into(),
            participant: format!("{log}/participants/p"),
            unit: "tenants/4201/units/nurse".into(),
            professional: "nils".into(),
            removed: false,
        };
        s.put_log_participant(&p).await.unwrap();
        p.removed = true;
        s.put_log_participant(&p).await.unwrap();
        let other = LogParticipantRecord { participant: format!("{log}/participants/q"), professional: String::new(), ..p.clone() };
        s.put_log_participant(&other).await.unwrap();
        assert_eq!(s.log_participants(T, log).await.unwrap(), [p, other]);
        assert!(s.log_participants(T, "tenants/4201/caseLogs/x").await.unwrap().is_empty());
    }

    async fn a_notification_keeps_its_log_and_unit(db) {
        let s = open(&db).await;
        let mut n = notification("subject:p2", "handover.offered", H);
        n.case_log = "tenants/4201/caseLogs/l".into();
        n.via_unit = "tenants/4201/units/nurse".into();
        let created = NewNotification {
            event: OutboxEvent::new(SOURCE, &n.name(), T, &NotificationCreated::default()),
            notification: n.clone(),
            deliveries: vec![],
        };
        assert!(s.apply_event("e-log", now(), &[created], &[], &[]).await.unwrap());
        assert_eq!(s.get_notification(T, &n.id).await.unwrap(), Some(n));
    }

    async fn an_event_is_applied_once(db) {
        let s = open(&db).await;
        let n = notification("subject:p2", "handover.offered", H);
        let d = delivery(&n, now());
        let batch = [new(n.clone(), vec![d])];
        assert!(s.apply_event("ev-1", now(), &batch, &[], &[]).await.unwrap());
        // A redelivery, even with other content, changes nothing.
        let again = [new(notification("subject:p2", "handover.offered", H), vec![])];
        assert!(!s.apply_event("ev-1", now(), &again, &[], &[]).await.unwrap());
        let inbox = s.list_notifications(T, "subject:p2", &all(), "", 10).await.unwrap();
        assert_eq!(inbox, std::slice::from_ref(&n));
        assert_eq!(s.list_deliveries(T, &n.id).await.unwrap().len(), 1);
        assert_eq!(outbox_types(&db).await, ["bti.notification.v1.NotificationCreated"]);
    }

    async fn settling_archives_by_cause_and_kind_and_cancels_deliveries(db) {
        let s = open(&db).await;
        let offer = notification("subject:p2", "handover.offered", H);
        let other = notification("subject:p1", "handover.decided", H);
        let d = delivery(&offer, now() + Duration::hours(1));
        s.apply_event("ev-1", now(), &[new(offer.clone(), vec![d.clone()]), new(other.clone(), vec![])], &[], &[])
            .await
            .unwrap();
        let t = now();
        s.apply_event("ev-2", t, &[], &[settle(H, &["handover.offered"])], &[]).await.unwrap();
        let got = s.get_notification(T, &offer.id).await.unwrap().unwrap();
        assert_eq!((got.state.as_str(), got.resolve_time, got.version), ("ARCHIVED", Some(t), 2));
        assert_eq!(s.get_notification(T, &other.id).await.unwrap().unwrap().state, "UNREAD");
        let ds = s.list_deliveries(T, &offer.id).await.unwrap();
        assert_eq!((ds[0].state.as_str(), ds[0].last_error.as_str()), ("CANCELLED", "settled"));
        // Settling again archives nothing more and writes no event.
        s.apply_event("ev-3", now(), &[], &[settle(H, &["handover.offered"])], &[]).await.unwrap();
        assert_eq!(
            outbox_types(&db).await,
            [
                "bti.notification.v1.NotificationCreated",
                "bti.notification.v1.NotificationCreated",
                "bti.notification.v1.NotificationsResolved"
            ]
        );
    }

    async fn withdrawing_settles_everything_under_a_log_for_one_recipient(db) {
        let s = open(&db).await;
        let log = "tenants/4201/caseLogs/l";
        let mine = notification("subject:p3", "handover.offered", &format!("{log}/handovers/h"));
        let on_log = notification("subject:p3", "log.closed", log);
        let similar = notification("subject:p3", "entry.added", "tenants/4201/caseLogs/l2/entries/e");
        let theirs = notification("subject:p2", "handover.offered", &format!("{log}/handovers/h2"));
        let d = delivery(&mine, now());
        let batch = [
            new(mine.clone(), vec![d]),
            new(on_log.clone(), vec![]),
            new(similar.clone(), vec![]),
            new(theirs.clone(), vec![]),
        ];
        s.apply_event("ev-1", now(), &batch, &[], &[]).await.unwrap();
        let withdraw = Settle { kinds: vec![], recipient: Some("subject:p3".into()), ..settle(log, &[]) };
        s.apply_event("ev-2", now(), &[], &[withdraw], &[]).await.unwrap();
        let state = |id: String| {
            let s = s.clone();
            async move { s.get_notification(T, &id).await.unwrap().unwrap().state }
        };
        assert_eq!(state(mine.id.clone()).await, "ARCHIVED");
        assert_eq!(state(on_log.id.clone()).await, "ARCHIVED");
        assert_eq!(state(similar.id.clone()).await, "UNREAD", "l2 is not under l");
        assert_eq!(state(theirs.id.clone()).await, "UNREAD", "only the removed participant's");
        assert_eq!(s.list_deliveries(T, &mine.id).await.unwrap()[0].state, "CANCELLED");
    }

    async fn inbox_lists_newest_first_by_state_and_counts_unread(db) {
        let s = open(&db).await;
        let mut ids = Vec::new();
        for i in 0..5 {
            let n = notification("subject:p", "entry.added", &format!("tenants/4201/caseLogs/l{i}"));
            ids.push(n.id.clone());
            s.apply_event(&format!("ev-{i}"), now(), &[new(n, vec![])], &[], &[]).await.unwrap();
        }
        let other = notification("subject:q", "entry.added", "tenants/4201/caseLogs/x");
        s.apply_event("ev-q", now(), &[new(other, vec![])], &[], &[]).await.unwrap();
        let page = s.list_notifications(T, "subject:p", &all(), "", 2).await.unwrap();
        let got: Vec<_> = page.iter().map(|n| n.id.clone()).collect();
        assert_eq!(got, [ids[4].clone(), ids[3].clone()]);
        let next = s.list_notifications(T, "subject:p", &all(), &ids[3], 10).await.unwrap();
        assert_eq!(next.len(), 3);
        assert_eq!(s.count_unread(T, "subject:p").await.unwrap(), 5);

        let first = s.get_notification(T, &ids[0]).await.unwrap().unwrap();
        let read = s
            .update_notification(&NotificationRecord { state: "READ".into(), ..first.clone() })
            .await
            .unwrap();
        assert_eq!(read.version, 2);
        // A change from a stale read is refused.
        let stale = s.update_notification(&NotificationRecord { state: "ARCHIVED".into(), ..first }).await;
        assert!(matches!(stale, Err(ApiError::EtagMismatch(_))), "{stale:?}");
        let unread = s.list_notifications(T, "subject:p", &[State::Unread], "", 10).await.unwrap();
        assert_eq!(unread.len(), 4);
        assert_eq!(s.mark_all_read(T, "subject:p", now()).await.unwrap(), 4);
        assert_eq!(s.count_unread(T, "subject:p").await.unwrap(), 0);
        assert_eq!(s.count_unread(T, "subject:q").await.unwrap(), 1);
    }

    async fn preferences_are_versioned(db) {
        let s = open(&db).await;
        assert_eq!(s.get_preferences(T, "subject:p").await.unwrap(), None);
        let mut p = PreferencesRecord::default_for(T, "subject:p", now());
        p.email_address = "p@example.org".into();
        let saved = s.put_preferences(&p).await.unwrap();
        assert_eq!(saved.version, 1);
        assert_eq!(s.get_preferences(T, "subject:p").await.unwrap(), Some(saved.clone()));
        // A second first save loses.
        assert!(matches!(s.put_preferences(&p).await, Err(ApiError::EtagMismatch(_))));
        let mut changed = saved.clone();
        changed.quiet_start = Some("22:00".into());
        changed.quiet_end = Some("07:00".into());
        assert_eq!(s.put_preferences(&changed).await.unwrap().version, 2);
        assert!(matches!(s.put_preferences(&saved).await, Err(ApiError::EtagMismatch(_))));
    }

    async fn due_deliveries_are_claimed_once_even_by_concurrent_workers(db) {
        let s = open(&db).await;
        let t = now();
        let n = notification("subject:p", "entry.added", "tenants/4201/caseLogs/l");
        let mut ds: Vec<_> = (0..40).map(|_| delivery(&n, t - Duration::seconds(1))).collect();
        let later = delivery(&n, t + Duration::hours(1));
        ds.push(later.clone());
        s.apply_event("ev", t, &[new(n.clone(), ds)], &[], &[]).await.unwrap();

        let until = t + Duration::minutes(5);
        let mut workers = Vec::new();
        for _ in 0..4 {
            let s = s.clone();
            workers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = s.claim_deliveries(t, until, 3).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch);
                }
            }));
        }
        let mut seen = HashSet::new();
        for w in workers {
            for d in w.await.unwrap() {
                assert_eq!((d.attempts, d.due_time), (1, until));
                assert!(seen.insert(d.id.clone()), "claimed twice: {}", d.id);
            }
        }
        assert_eq!(seen.len(), 40);
        assert!(!seen.contains(&later.id));
        // A lapsed claim makes them due again.
        let again = s.claim_deliveries(until, until + Duration::minutes(5), 100).await.unwrap();
        assert_eq!(again.len(), 40);
        assert!(again.iter().all(|d| d.attempts == 2));

        let done = again[0].clone();
        let outcome = Outcome {
            state: DELIVERY_SENT.into(),
            due_time: done.due_time,
            last_error: String::new(),
            event: None,
        };
        s.finish_delivery(&done.id, &outcome, now()).await.unwrap();
        let rows = s.list_deliveries(T, &n.id).await.unwrap();
        let row = rows.iter().find(|d| d.id == done.id).unwrap();
        assert_eq!(row.state, DELIVERY_SENT);
        let far = until + Duration::days(1);
        let rest = s.claim_deliveries(far, far, 100).await.unwrap();
        assert_eq!(rest.len(), 40, "39 lapsed claims and the later one; the sent one never again");
        assert!(rest.iter().all(|d| d.id != done.id));
    }
}

/// The webhook half of the store.
mod webhooks {
    use super::*;

    fn subscription(id: &str) -> SubscriptionRecord {
        let t = now();
        SubscriptionRecord {
            tenant: T.into(),
            id: id.into(),
            uri: "https://case-system.example/hooks".into(),
            kinds: "[]".into(),
            state: SUB_ACTIVE.into(),
            secret: bti_notification::domain::signing::generate_secret(),
            previous_secret: None,
            previous_until: None,
            failing_since: None,
            create_time: t,
            update_time: t,
            version: 1,
            units: r#"["tenants/4201/units/school"]"#.into(),
            client: "clients/skolesys".into(),
        }
    }

    fn hook(sub: &str, due: chrono::DateTime<chrono::Utc>) -> WebhookDeliveryRecord {
        let t = now();
        WebhookDeliveryRecord {
            id: new_id(),
            tenant: T.into(),
            subscription: sub.into(),
            kind: "handover.offered".into(),
            resource: H.into(),
            payload: "{}".into(),
            state: WEBHOOK_PENDING.into(),
            due_time: due,
            attempts: 0,
            last_http_status: 0,
            last_error: String::new(),
            create_time: t,
            update_time: t,
        }
    }

    fn outcome(state: &str, endpoint: Endpoint) -> WebhookOutcome {
        WebhookOutcome {
            state: state.into(),
            due_time: now(),
            http_status: 503,
            last_error: "http 503".into(),
            endpoint,
        }
    }

    bti_runtime::backend_tests! {
        async fn subscriptions_are_created_once_per_request_id_and_versioned(db) {
            let s = open(&db).await;
            let idem = Idem { request_id: Some(uuid::Uuid::new_v4().to_string()), fingerprint: "f".into() };
            let first = s.create_subscription(&subscription("a"), &idem).await.unwrap();
            let replay = s.create_subscription(&subscription("b"), &idem).await.unwrap();
            assert_eq!(replay, first);
            // Its filters as stored.
            assert_eq!(s.get_subscription(T, "a").await.unwrap().as_ref(), Some(&first));
            assert_eq!(s.list_subscriptions(T, "", 10).await.unwrap().len(), 1);
            let changed = s.update_subscription(&SubscriptionRecord { uri: "https://x.example/".into(), ..first.clone() }, None).await.unwrap();
            assert_eq!(changed.version, 2);
            assert!(matches!(s.update_subscription(&first, None).await, Err(ApiError::EtagMismatch(_))));
            s.update_subscription(&SubscriptionRecord { state: SUB_DELETED.into(), ..changed }, None).await.unwrap();
            assert!(s.list_subscriptions(T, "", 10).await.unwrap().is_empty());
            assert!(s.live_subscriptions(T).await.unwrap().is_empty());
        }

        async fn webhook_deliveries_are_claimed_once_and_a_disabled_endpoint_stops(db) {
            let s = open(&db).await;
            s.create_subscription(&subscription("a"), &Idem::default()).await.unwrap();
            let t = now();
            let hooks: Vec<_> = (0..30).map(|_| hook("a", t - Duration::seconds(1))).collect();
            s.apply_event("ev", t, &[], &[], &hooks).await.unwrap();
            let until = t + Duration::minutes(5);
            let mut workers = Vec::new();
            for _ in 0..4 {
                let s = s.clone();
                workers.push(tokio::spawn(async move {
                    let mut mine = Vec::new();
                    loop {
                        let batch = s.claim_webhook_deliveries(t, until, 2).await.unwrap();
                        if batch.is_empty() {
                            return mine;
                        }
                        mine.extend(batch);
                    }
                }));
            }
            let mut claimed = Vec::new();
            for w in workers {
                claimed.extend(w.await.unwrap());
            }
            let ids: HashSet<_> = claimed.iter().map(|d| d.id.clone()).collect();
            assert_eq!((claimed.len(), ids.len()), (30, 30), "each claimed by one worker");

            // A failure starts the run of failures once; a success ends it.
            let since = t - Duration::hours(1);
            s.finish_webhook_delivery(&claimed[0], &outcome(WEBHOOK_PENDING, Endpoint::Failing(since)), now()).await.unwrap();
            s.finish_webhook_delivery(&claimed[1], &outcome(WEBHOOK_PENDING, Endpoint::Failing(now())), now()).await.unwrap();
            assert_eq!(s.get_subscription(T, "a").await.unwrap().unwrap().failing_since, Some(since));
            s.finish_webhook_delivery(&claimed[2], &outcome(WEBHOOK_DELIVERED, Endpoint::Succeeded), now()).await.unwrap();
            assert_eq!(s.get_subscription(T, "a").await.unwrap().unwrap().failing_since, None);

            let event = OutboxEvent::new(SOURCE, "a", T, &NotificationsResolved::default());
            s.finish_webhook_delivery(&claimed[3], &outcome(WEBHOOK_FAILED, Endpoint::Disable(event.clone())), now()).await.unwrap();
            let sub = s.get_subscription(T, "a").await.unwrap().unwrap();
            assert_eq!(sub.state, SUB_DISABLED);
            let all = s.list_webhook_deliveries(T, "a", "", 100).await.unwrap();
            assert_eq!(all.len(), 30);
            assert!(all.iter().all(|d| d.state != WEBHOOK_PENDING), "a disabled endpoint's queue fails");
            // Disabling twice writes one event.
            s.finish_webhook_delivery(&claimed[4], &outcome(WEBHOOK_FAILED, Endpoint::Disable(event)), now()).await.unwrap();
            let types = outbox_types(&db).await;
            assert_eq!(types.iter().filter(|t| t.ends_with("NotificationsResolved")).count(), 1);
        }
    }
}
