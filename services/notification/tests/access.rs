//! Access at send time, and who a log's events reach: what was queued for
//! someone who may no longer read the log (consent no longer covering
//! their unit, taken off the log, the baton passed on, a log never seen
//! opened) goes neither out nor into the inbox; a transfer or referral for
//! a unit reaches its present members; guardians hear of new entries, and
//! only that something is new. Consent and the directory are faked on the
//! test's server; the e-mails are real `.eml` files, scanned.

mod common;

use bti_proto::caselog::{
    BatonPassed, EntryAppended, EntryKind, ParticipantChanged, ReferralAttached, TransferChanged,
    TransferState,
};
use bti_proto::gateway::ReferralAssigned;
use bti_proto::notification::*;
use bti_proto::scheduling::MeetingScheduled;
use bti_proto::types::Recipient;
use bti_runtime::auth::{Claims, personas};
use bti_runtime::clock::ManualClock;
use bti_runtime::testing::{TempDir, files};
use chrono::{Duration, TimeZone, Utc};
use common::*;

const NURSE: &str = "tenants/4201/units/nurse";
const GUARDIAN: &str = "tenants/4201/persons/g";

fn guardian() -> Claims {
    personas::guardian("g", T, GUARDIAN)
}

fn nurse(subject: &str) -> Claims {
    personas::employee(subject, T, &[NURSE], &[bti_runtime::auth::Role::Employee])
}

/// E-mail as files; the worker's own rounds an hour apart (the test runs
/// them); 11:00 in Oslo, inside everyone's quiet hours until 14:00.
async fn start(db: bti_runtime::testing::TestDb) -> (Fx, ManualClock, TempDir) {
    let dir = TempDir::new("bti-eml");
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap());
    let section = serde_json::json!({
        "eml_dir": dir.path(),
        "delivery_every_ms": 3_600_000,
        "link_base_url": "https://bti.example",
    });
    let fx = Fx::start(db, section, Some(clock.shared())).await;
    (fx, clock, dir)
}

/// An address, and quiet hours 10:00–14:00 so that e-mail waits.
async fn address(fx: &Fx, who: Claims, email: &str) {
    let t = |h| {
        Some(bti_proto::google::r#type::TimeOfDay {
            hours: h,
            ..Default::default()
        })
    };
    fx.set_preferences(
        who,
        NotificationPreferences {
            email_address: email.into(),
            quiet_start_time: t(10),
            quiet_end_time: t(14),
            ..Default::default()
        },
        &["email_address", "quiet_start_time", "quiet_end_time"],
    )
    .await;
}

/// Past the quiet hours, and the worker's round.
async fn after_quiet_hours(fx: &Fx, clock: &ManualClock) -> usize {
    clock.advance(Duration::hours(4));
    fx.app.deliver_due().await.unwrap()
}

async fn deliveries_of(fx: &Fx, who: &str) -> Vec<bti_notification::domain::DeliveryRecord> {
    let mut out = Vec::new();
    let all = [
        bti_notification::domain::State::Unread,
        bti_notification::domain::State::Archived,
    ];
    for n in fx
        .app
        .store()
        .list_notifications(T, who, &all, "", 100)
        .await
        .unwrap()
    {
        out.extend(fx.app.store().list_deliveries(T, &n.id).await.unwrap());
    }
    out
}

fn offer() -> bti_proto::caselog::HandoverOffered {
    bti_proto::caselog::HandoverOffered {
        handover: H.into(),
        to_professional: "p2".into(),
        to_unit: UNIT.into(),
    }
}

fn meeting(id: &str, who: &[&str]) -> MeetingScheduled {
    MeetingScheduled {
        meeting: format!("tenants/4201/meetings/{id}"),
        case_log: LOG.into(),
        recipients: who
            .iter()
            .map(|p| Recipient {
                professional: p.to_string(),
                ..Default::default()
            })
            .collect(),
        sequence: 1,
        ..Default::default()
    }
}

async fn unread(fx: &Fx, who: Claims) -> i64 {
    fx.client
        .clone()
        .count_unread_notifications(fx.server.request(
            CountUnreadNotificationsRequest {
                parent: format!("tenants/{T}"),
            },
            who,
        ))
        .await
        .unwrap()
        .into_inner()
        .unread_count
}

bti_runtime::backend_tests! {
    async fn consent_no_longer_covering_the_unit_stops_what_was_queued(db) {
        let (fx, clock, dir) = start(db).await;
        address(&fx, employee("p2"), "p2@example.org").await;
        assert_eq!(fx.apply(&offer()).await, 1);
        assert_eq!(fx.inbox(employee("p2")).await.len(), 1);
        assert_eq!(unread(&fx, employee("p2")).await, 1);

        fx.peers.uncover(CHILD, UNIT);
        assert_eq!(after_quiet_hours(&fx, &clock).await, 0);
        assert!(files(dir.path()).is_empty(), "nothing written for someone without access");
        let d = deliveries_of(&fx, "subject:p2").await;
        assert_eq!((d[0].state.as_str(), d[0].last_error.as_str()), ("CANCELLED", "no access"));
        assert!(fx.inbox(employee("p2")).await.is_empty(), "not shown either");
        assert_eq!(unread(&fx, employee("p2")).await, 0);

        // Judged at every look: consent given again shows it again.
        fx.peers.cover(CHILD, UNIT);
        assert_eq!(fx.inbox(employee("p2")).await.len(), 1);
    }

    async fn taken_off_the_log_or_the_baton_passed_on_stops_what_was_queued(db) {
        let (fx, clock, dir) = start(db).await;
        fx.peers.cover(CHILD, NURSE);
        let nils = ParticipantChanged {
            participant: format!("{LOG}/participants/nils"),
            unit: NURSE.into(),
            removed: false,
            professional: "nils".into(),
        };
        fx.apply(&nils).await;
        for who in ["p1", "p2"] {
            address(&fx, employee(who), &format!("{who}@example.org")).await;
        }
        address(&fx, nurse("nils"), "nils@example.org").await;
        assert_eq!(fx.apply(&meeting("m1", &["p1", "p2", "nils"])).await, 3);

        fx.apply(&ParticipantChanged { removed: true, ..nils }).await;
        fx.apply(&BatonPassed {
            case_log: LOG.into(),
            from_professional: "p1".into(),
            to_professional: "p2".into(),
            to_unit: UNIT.into(),
            ..Default::default()
        })
        .await;
        assert_eq!(after_quiet_hours(&fx, &clock).await, 1, "only the new holder's");
        let written = files(dir.path());
        assert_eq!(written.len(), 1);
        let raw = std::fs::read_to_string(&written[0]).unwrap();
        assert!(raw.contains("To: p2@example.org"), "{raw}");
        for who in ["subject:p1", "subject:nils"] {
            let d = deliveries_of(&fx, who).await;
            assert_eq!(d[0].last_error, "no access", "{who}");
        }
        assert!(fx.inbox(employee("p1")).await.is_empty());
        assert!(fx.inbox(nurse("nils")).await.is_empty());
    }

    async fn nothing_goes_out_about_a_log_never_seen_opened(db) {
        let (fx, _clock, _dir) = start(db).await;
        let unknown = bti_proto::caselog::HandoverOffered {
            handover: "tenants/4201/caseLogs/unknown/handovers/h".into(),
            ..offer()
        };
        assert_eq!(fx.apply(&unknown).await, 1, "on record");
        assert!(fx.inbox(employee("p2")).await.is_empty(), "but shown to nobody");
    }

    async fn a_transfer_or_referral_for_a_unit_reaches_its_present_members(db) {
        let (fx, _clock, _dir) = start(db).await;
        fx.peers.cover(CHILD, NURSE);
        fx.peers.member(NURSE, "nils", false, false);
        fx.peers.member(NURSE, "nora", false, false);
        fx.peers.member(NURSE, "anne", false, true);
        let transfer = TransferChanged {
            transfer: format!("{LOG}/transfers/t1"),
            to_unit: NURSE.into(),
            state: TransferState::Pending as i32,
            to_professional: "nils".into(),
        };
        assert_eq!(fx.apply(&transfer).await, 2, "nils once, nora, not anne who is away");
        for who in ["nils", "nora"] {
            let inbox = fx.inbox(nurse(who)).await;
            assert_eq!(inbox.len(), 1, "{who}");
            assert_eq!(inbox[0].kind, NotificationKind::TransferToUnit as i32);
        }
        assert!(fx.inbox(nurse("anne")).await.is_empty());
        assert!(fx.inbox(employee("p2")).await.is_empty(), "not the sending unit");

        let referral = ReferralAssigned {
            referral: "tenants/4201/referrals/r1".into(),
            unit: NURSE.into(),
        };
        let envelope = bti_runtime::events::OutboxEvent::new("//bti.no/gateway", "r1", T, &referral).envelope();
        assert_eq!(fx.app.on_event(&envelope).await.unwrap(), 2);
        let kinds: Vec<i32> = fx.inbox(nurse("nora")).await.iter().map(|n| n.kind).collect();
        assert!(kinds.contains(&(NotificationKind::ReferralAssigned as i32)), "{kinds:?}");

        // Settled for everyone when the transfer is decided.
        fx.apply(&TransferChanged { state: TransferState::Cancelled as i32, ..transfer }).await;
        let kinds: Vec<i32> = fx.inbox(nurse("nils")).await.iter().map(|n| n.kind).collect();
        assert!(!kinds.contains(&(NotificationKind::TransferToUnit as i32)));
    }

    async fn guardians_hear_only_that_something_new_is_in_the_log(db) {
        let (fx, clock, dir) = start(db).await;
        fx.peers.guardian(CHILD, GUARDIAN);
        address(&fx, guardian(), "mor@example.org").await;
        let entry = EntryAppended {
            entry: format!("{LOG}/entries/e1"),
            kind: EntryKind::Note as i32,
            author_unit: UNIT.into(),
            ..Default::default()
        };
        assert_eq!(fx.apply(&entry).await, 1, "the guardian, not the professionals");
        assert!(fx.inbox(employee("p1")).await.is_empty());
        let restricted = ReferralAttached {
            attached_referral: format!("{LOG}/attachedReferrals/a1"),
            holder: "p1".into(),
            restricted: true,
        };
        assert_eq!(fx.apply(&restricted).await, 1, "the holder only");
        let inbox = fx.inbox(guardian()).await;
        assert_eq!(inbox.len(), 1, "no trace of the referral");
        assert_eq!(inbox[0].kind, NotificationKind::EntryAdded as i32);

        assert_eq!(after_quiet_hours(&fx, &clock).await, 1);
        let written = files(dir.path());
        let raw = std::fs::read_to_string(&written[0]).unwrap();
        assert!(raw.contains("To: mor@example.org"), "{raw}");
        assert!(raw.contains(&format!("https://bti.example/{LOG}/entries/e1")), "{raw}");
        for never in [CHILD, "attachedReferrals", "Note", "NOTE", UNIT] {
            assert!(!raw.contains(never), "{never:?} in the e-mail");
        }
    }
}
