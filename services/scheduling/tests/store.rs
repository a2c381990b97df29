//! Behavioural suite of the scheduling store on SQLite and PostgreSQL.

use std::sync::Arc;

use bti_proto::scheduling::MeetingScheduled;
use bti_runtime::ApiError;
use bti_runtime::api::now;
use bti_runtime::events::OutboxEvent;
use bti_runtime::testing::{TestDb, outbox_types};
use bti_scheduling::domain::*;
use bti_scheduling::store::{self, DeadlineQuery, Idem, MeetingQuery, NewMeeting, SchedulingStore};
use chrono::Duration;

async fn open(db: &TestDb) -> Arc<dyn SchedulingStore> {
    db.migrate(&store::migrations()).await.expect("migrate");
    store::for_db(db)
}

fn ev() -> OutboxEvent {
    OutboxEvent::new(SOURCE, "s", "4201", &MeetingScheduled::default())
}

fn meeting(id: &str, case_log: &str, slot: &str) -> MeetingView {
    let t = now();
    MeetingView {
        meeting: MeetingRecord {
            tenant: "4201".into(),
            unit: "school".into(),
            id: id.into(),
            kind: "MEETING_KIND_BTI".into(),
            case_log: case_log.into(),
            subject: if case_log.is_empty() {
                String::new()
            } else {
                "tenants/4201/persons/child".into()
            },
            series: String::new(),
            slot: slot.into(),
            start_time: t + Duration::days(30),
            duration_secs: 1800,
            location: String::new(),
            video_link: String::new(),
            agenda: "[]".into(),
            organizer: "kari".into(),
            organizer_unit: "tenants/4201/units/school".into(),
            state: "MEETING_STATE_SCHEDULED".into(),
            minutes_entry: String::new(),
            sequence: 0,
            version: 1,
            create_time: t,
            update_time: t,
        },
        participants: Vec::new(),
    }
}

fn slot(meeting: &str, capacity: i64) -> SlotRecord {
    SlotRecord {
        tenant: "4201".into(),
        unit: "school".into(),
        meeting: meeting.into(),
        id: "1".into(),
        start_time: now() + Duration::days(30),
        duration_secs: 1800,
        capacity,
        booked: 0,
    }
}

fn access(resource: &str) -> AccessRow {
    AccessRow {
        tenant: "4201".into(),
        subject: "tenants/4201/persons/child".into(),
        id: bti_runtime::api::new_id(),
        actor: "employee:kari".into(),
        resource: resource.into(),
        action: "WRITE".into(),
        purpose: "BookSlot: baton holder".into(),
        create_time: now(),
    }
}

fn deadline(cause: &str, due_in: Duration) -> DeadlineRecord {
    let t = now();
    DeadlineRecord {
        tenant: "4201".into(),
        id: bti_runtime::api::new_id(),
        kind: "DEADLINE_KIND_MEASURE_EVALUATION".into(),
        cause: cause.into(),
        case_log: "tenants/4201/caseLogs/l".into(),
        subject: "tenants/4201/persons/child".into(),
        resource: "r".into(),
        unit: "tenants/4201/units/school".into(),
        responsible: "kari".into(),
        due_time: t + due_in,
        remind_time: t + due_in - Duration::days(7),
        escalate_time: t + due_in + Duration::days(7),
        state: "DEADLINE_STATE_OPEN".into(),
        stage: "DEADLINE_STAGE_PENDING".into(),
        close_time: None,
        version: 1,
        create_time: t,
        update_time: t,
    }
}

async fn book(
    s: &dyn SchedulingStore,
    id: &str,
    takes: &SlotRecord,
    idem: &Idem,
) -> Result<MeetingView, ApiError> {
    let v = meeting(id, "tenants/4201/caseLogs/l", &takes.name());
    let rows = [access(&v.meeting.name())];
    s.create_meeting(
        NewMeeting {
            view: &v,
            slots: &[],
            takes: Some(takes),
            access: &rows,
            events: &[ev()],
        },
        "BookSlot",
        idem,
    )
    .await
}

bti_runtime::backend_tests! {
    async fn a_slot_takes_its_capacity_and_a_cancellation_gives_the_place_back(db) {
        let s = open(&db).await;
        let unit = meeting("m", "", "");
        let sl = slot("m", 1);
        s.create_meeting(NewMeeting { view: &unit, slots: std::slice::from_ref(&sl), takes: None, access: &[], events: &[] }, "CreateMeeting", &Idem::default()).await.unwrap();
        let won = book(s.as_ref(), "b1", &sl, &Idem::default()).await.unwrap();
        let full = book(s.as_ref(), "b2", &sl, &Idem::default()).await.unwrap_err();
        assert!(matches!(full, ApiError::FailedPrecondition { reason: "SLOT_FULL", .. }), "{full:?}");
        assert!(s.get_meeting("4201", "b2").await.unwrap().is_none(), "the loser wrote nothing");
        assert_eq!(s.get_slot("4201", "school", "m", "1").await.unwrap().unwrap().booked, 1);
        let mut cancelled = won.clone();
        cancelled.meeting.state = "MEETING_STATE_CANCELLED".into();
        s.save_meeting(&cancelled, true, &[], &[ev()]).await.unwrap();
        assert_eq!(s.get_slot("4201", "school", "m", "1").await.unwrap().unwrap().booked, 0);
        book(s.as_ref(), "b3", &sl, &Idem::default()).await.unwrap();
        // One access row per booking write, one event per commit.
        assert_eq!(s.list_access("4201", "tenants/4201/persons/child", 0, 10).await.unwrap().len(), 2);
        assert_eq!(outbox_types(&db).await.len(), 3);
    }

    async fn a_replayed_booking_returns_the_first_and_a_stale_save_is_aborted(db) {
        let s = open(&db).await;
        let unit = meeting("m", "", "");
        let sl = slot("m", 3);
        s.create_meeting(NewMeeting { view: &unit, slots: std::slice::from_ref(&sl), takes: None, access: &[], events: &[] }, "CreateMeeting", &Idem::default()).await.unwrap();
        let idem = Idem { request_id: Some("1b4e28ba-2fa1-11d2-883f-0016d3cca427".into()), fingerprint: "f".into() };
        let first = book(s.as_ref(), "b1", &sl, &idem).await.unwrap();
        let again = book(s.as_ref(), "b2", &sl, &idem).await.unwrap();
        assert_eq!(again.meeting.id, first.meeting.id);
        assert_eq!(s.get_slot("4201", "school", "m", "1").await.unwrap().unwrap().booked, 1, "a replay takes no second place");
        let saved = s.save_meeting(&first, false, &[], &[]).await.unwrap();
        assert_eq!(saved.meeting.version, 2);
        let stale = s.save_meeting(&first, false, &[], &[]).await.unwrap_err();
        assert!(matches!(stale, ApiError::Aborted(_) | ApiError::EtagMismatch(_)), "{stale:?}");
    }

    async fn a_deadline_is_derived_once_per_cause_and_moves_while_open(db) {
        let s = open(&db).await;
        let d = deadline("measure:m1", Duration::days(30));
        let stored = s.upsert_deadline(&d).await.unwrap();
        let again = s.upsert_deadline(&deadline("measure:m1", Duration::days(30))).await.unwrap();
        assert_eq!(again.id, stored.id, "a redelivered event finds the same deadline");
        let moved = s.upsert_deadline(&deadline("measure:m1", Duration::days(40))).await.unwrap();
        assert_eq!(moved.id, stored.id);
        assert!(moved.due_time > stored.due_time);
        let mut closed = moved.clone();
        closed.state = "DEADLINE_STATE_COMPLETED".into();
        s.save_deadline(&closed, &[], &[]).await.unwrap();
        let after = s.upsert_deadline(&deadline("measure:m1", Duration::days(50))).await.unwrap();
        assert_eq!(after.due_time, moved.due_time, "a closed deadline does not move");
        assert_eq!(after.state, "DEADLINE_STATE_COMPLETED");
    }

    async fn the_sweep_finds_what_has_a_stage_to_pass(db) {
        let s = open(&db).await;
        let soon = s.upsert_deadline(&deadline("a", Duration::days(3))).await.unwrap();
        s.upsert_deadline(&deadline("b", Duration::days(30))).await.unwrap();
        let due = s.due_deadlines(now(), 10).await.unwrap();
        assert_eq!(due.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), [soon.id.as_str()]);
        let mut reminded = soon.clone();
        reminded.stage = "DEADLINE_STAGE_REMINDED".into();
        s.save_deadline(&reminded, &[], &[]).await.unwrap();
        assert!(s.due_deadlines(now(), 10).await.unwrap().is_empty(), "reminded, not yet due");
        let overdue = s.due_deadlines(now() + Duration::days(4), 10).await.unwrap();
        assert_eq!(overdue.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), [soon.id.as_str()], "now due; the other not yet");
        assert_eq!(s.due_deadlines(now() + Duration::days(24), 10).await.unwrap().len(), 2);
        let mine = s.list_deadlines(&DeadlineQuery { tenant: "4201".into(), responsible: "kari".into(), limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(mine.len(), 2);
        let led = s.list_deadlines(&DeadlineQuery { tenant: "4201".into(), led_units: ",tenants/4201/units/school,".into(), stage: "DEADLINE_STAGE_REMINDED".into(), limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(led.len(), 1);
        let none = s.list_deadlines(&DeadlineQuery { tenant: "4201".into(), responsible: "ola".into(), limit: 10, ..Default::default() }).await.unwrap();
        assert!(none.is_empty());
    }

    async fn my_meetings_are_those_i_organize_or_take_part_in(db) {
        let s = open(&db).await;
        let mut v = meeting("b1", "tenants/4201/caseLogs/l", "");
        v.participants = attendance::proposed("4201", "b1", &attendance::Proposal {
            holder: "kari",
            holder_unit: "tenants/4201/units/school",
            covered_standing: &["tenants/4201/units/nurse".to_string()],
            guardians: &["tenants/4201/persons/mother".to_string()],
            child: "tenants/4201/persons/child",
            child_age: 8,
        });
        s.create_meeting(NewMeeting { view: &v, slots: &[], takes: None, access: &[], events: &[] }, "CreateMeeting", &Idem::default()).await.unwrap();
        let q = |professional: &str, person: &str, units: &str| MeetingQuery {
            tenant: "4201".into(),
            mine: Some(store::Mine { professional: professional.into(), person: person.into(), units: units.into() }),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(s.list_meetings(&q("kari", "", ",x,")).await.unwrap().len(), 1);
        assert_eq!(s.list_meetings(&q("nils", "", ",tenants/4201/units/nurse,")).await.unwrap().len(), 1);
        assert_eq!(s.list_meetings(&q("", "tenants/4201/persons/mother", "")).await.unwrap().len(), 1);
        assert!(s.list_meetings(&q("ola", "", ",tenants/4201/units/ppt,")).await.unwrap().is_empty());
        assert!(s.list_meetings(&q("", "tenants/4201/persons/stranger", "")).await.unwrap().is_empty());
        // Taken off: no longer mine.
        attendance::remove_units(&mut v.participants, &["tenants/4201/units/nurse".to_string()]);
        s.save_meeting(&v, false, &[], &[]).await.unwrap();
        assert!(s.list_meetings(&q("nils", "", ",tenants/4201/units/nurse,")).await.unwrap().is_empty());
        assert!(!s.handled("e1").await.unwrap());
        s.mark_handled("e1", now()).await.unwrap();
        s.mark_handled("e1", now()).await.unwrap();
        assert!(s.handled("e1").await.unwrap());
    }
}
