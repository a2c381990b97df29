//! Behavioural suite of the relay-log store on SQLite and PostgreSQL: writes
//! are all-or-nothing with their access rows and events, reads log
//! themselves, closed logs refuse writes, and conditional updates settle
//! races.

use std::sync::Arc;

use bti_caselog::domain::*;
use bti_caselog::store::{self, CaseLogStore, Idem, Op, Order, Work};
use bti_proto::caselog::CaseLogOpened;
use bti_runtime::ApiError;
use bti_runtime::api::{new_id, now};
use bti_runtime::db::Claim;
use bti_runtime::events::OutboxEvent;
use bti_runtime::testing::{TestDb, outbox_types};

async fn open(db: &TestDb) -> Arc<dyn CaseLogStore> {
    db.migrate(&store::migrations()).await.expect("migrate");
    store::for_db(db)
}

fn log(id: &str, subject: &str) -> CaseLogRecord {
    let t = now();
    CaseLogRecord {
        tenant: "4201".into(),
        id: id.into(),
        subject: subject.into(),
        subject_kind: "SUBJECT_KIND_CHILD".into(),
        unit: "tenants/4201/units/school".into(),
        concern: "uro".into(),
        concern_degree: "CONCERN_DEGREE_UNEASE".into(),
        concern_area: "CONCERN_AREA_ENVIRONMENT".into(),
        level: "LEVEL_1".into(),
        state: "CASE_LOG_STATE_ACTIVE".into(),
        holder: "kari".into(),
        holder_unit: "tenants/4201/units/school".into(),
        holder_since: t,
        pending_handover: String::new(),
        pending_transfer: String::new(),
        consent_revision: "tenants/4201/consents/c/revisions/1".into(),
        close_reason: String::new(),
        close_time: None,
        last_activity_time: t,
        version: 1,
        create_time: t,
        update_time: t,
    }
}

fn access(log_id: &str, action: &str) -> AccessRecord {
    AccessRecord {
        tenant: "4201".into(),
        case_log: log_id.into(),
        id: new_id(),
        actor: "employee:kari".into(),
        acting_as: "ACTING_AS_HOLDER".into(),
        unit: "tenants/4201/units/school".into(),
        resource: case_log_name("4201", log_id),
        action: action.into(),
        purpose: "test".into(),
        basis: "tenants/4201/consents/c/revisions/1".into(),
        create_time: now(),
        restricted_referral: String::new(),
    }
}

fn event() -> OutboxEvent {
    OutboxEvent::new(SOURCE, "s", "4201", &CaseLogOpened::default())
}

fn entry(log_id: &str, text: &str, corrects: &str) -> EntryRecord {
    EntryRecord {
        tenant: "4201".into(),
        case_log: log_id.into(),
        id: new_id(),
        kind: "ENTRY_KIND_NOTE".into(),
        text: text.into(),
        corrects: corrects.into(),
        author: "kari".into(),
        author_unit: "tenants/4201/units/school".into(),
        create_time: now(),
    }
}

async fn create(s: &Arc<dyn CaseLogStore>, id: &str, subject: &str) {
    s.apply(Work {
        ops: vec![Op::InsertCaseLog(log(id, subject))],
        access: vec![access(id, "ACCESS_ACTION_CREATE")],
        events: vec![event()],
        ..Default::default()
    })
    .await
    .unwrap();
}

async fn access_count(s: &Arc<dyn CaseLogStore>, id: &str) -> usize {
    // Listing logs itself too, so subtract the listing's own row.
    s.access_log(
        "4201",
        id,
        "",
        1000,
        false,
        &access(id, "ACCESS_ACTION_READ"),
    )
    .await
    .unwrap()
    .len()
        - 1
}

fn referral(log_id: &str, restricted: bool) -> ReferralRecord {
    ReferralRecord {
        tenant: "4201".into(),
        case_log: log_id.into(),
        id: new_id(),
        referral: format!("referrals/{}", new_id()),
        kind: "REFERRAL_KIND_CHILD_WELFARE_REPORT".into(),
        restricted,
        legal_basis: if restricted {
            "bvl § 13-2".into()
        } else {
            String::new()
        },
        from_organization: "974760673".into(),
        create_time: now(),
        from_unit: "tenants/4201/units/barnevern".into(),
        client: "clients/cw".into(),
    }
}

/// The access row an attach of `r` writes.
fn attach_row(r: &ReferralRecord) -> AccessRecord {
    AccessRecord {
        actor: "client:cw".into(),
        acting_as: "ACTING_AS_EXTERNAL_SYSTEM".into(),
        resource: r.name(),
        restricted_referral: if r.restricted {
            r.id.clone()
        } else {
            String::new()
        },
        ..access(&r.case_log, "ACCESS_ACTION_CREATE")
    }
}

async fn family_view(s: &Arc<dyn CaseLogStore>, id: &str) -> Vec<AccessRecord> {
    let reader = AccessRecord {
        acting_as: "ACTING_AS_GUARDIAN".into(),
        ..access(id, "ACCESS_ACTION_READ")
    };
    s.access_log("4201", id, "", 1000, true, &reader)
        .await
        .unwrap()
}

/// An open offer of c1's baton from kari to nils.
fn handover(id: &str, release_former_holder: bool) -> HandoverRecord {
    HandoverRecord {
        tenant: "4201".into(),
        case_log: "c1".into(),
        id: id.into(),
        to_professional: "nils".into(),
        to_unit: "tenants/4201/units/nurse".into(),
        from_professional: "kari".into(),
        message: String::new(),
        state: "HANDOVER_STATE_OFFERED".into(),
        transfer: String::new(),
        version: 1,
        create_time: now(),
        decide_time: None,
        release_former_holder,
    }
}

fn touch(id: &str) -> Op {
    Op::Touch {
        tenant: "4201".into(),
        id: id.into(),
        at: now(),
    }
}

bti_runtime::backend_tests! {
    async fn a_write_commits_with_its_access_rows_and_events(db) {
        let s = open(&db).await;
        create(&s, "c1", "tenants/4201/persons/p1").await;
        assert_eq!(access_count(&s, "c1").await, 1);
        assert_eq!(outbox_types(&db).await.len(), 1);
        // A failing op rolls back everything in the write, access and events too.
        let first = entry("c1", "first", "");
        let err = s.apply(Work {
            ops: vec![touch("c1"), Op::InsertEntry(first.clone()), Op::InsertEntry(entry("c1", "bad", "no-such-entry"))],
            access: vec![access("c1", "ACCESS_ACTION_CREATE")],
            events: vec![event()],
            ..Default::default()
        }).await.unwrap_err();
        assert!(matches!(err, ApiError::InvalidArgument(_)), "{err:?}");
        assert!(s.entries("4201", "c1", "", 10, Order::Newest, &access("c1", "ACCESS_ACTION_READ")).await.unwrap().is_empty());
        assert_eq!(outbox_types(&db).await.len(), 1);
    }

    async fn an_entry_commits_with_its_touch_access_row_and_event_or_none_of_them(db) {
        // CreateEntry's shape of work (PostgreSQL writes it as one statement).
        let s = open(&db).await;
        create(&s, "c1", "tenants/4201/persons/p1").await;
        let later = now() + chrono::Duration::hours(1);
        let append = |e: EntryRecord, idem: Option<(String, Idem, String)>| Work {
            idem,
            ops: vec![Op::Touch { tenant: "4201".into(), id: "c1".into(), at: later }, Op::InsertEntry(e)],
            access: vec![access("c1", "ACCESS_ACTION_CREATE")],
            events: vec![event()],
        };
        let activity = async || s.context("4201", "c1").await.unwrap().unwrap().log.last_activity_time;
        let before = activity().await;
        let latest = async || s.entries("4201", "c1", "", 10, Order::Newest, &access("c1", "ACCESS_ACTION_READ")).await.unwrap();

        let first = entry("c1", "first", "");
        assert_eq!(s.apply(append(first.clone(), None)).await.unwrap(), Claim::New);
        assert_eq!(latest().await.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), [first.id.as_str()]);
        assert_eq!(activity().await, later, "the log is touched");
        assert_eq!(outbox_types(&db).await.len(), 2);
        let accessed = access_count(&s, "c1").await;

        // A correction of an entry the log does not have writes nothing at all.
        s.apply(Work { ops: vec![Op::Touch { tenant: "4201".into(), id: "c1".into(), at: before }], ..Default::default() }).await.unwrap();
        let err = s.apply(append(entry("c1", "bad", "no-such-entry"), None)).await.unwrap_err();
        assert!(matches!(err, ApiError::InvalidArgument(_)), "{err:?}");
        assert_eq!(activity().await, before, "a refused entry does not touch the log");
        assert_eq!(outbox_types(&db).await.len(), 2);
        // Only the count's own read row was added since.
        assert_eq!(access_count(&s, "c1").await, accessed + 1);

        // A correction of one it has goes in, and a key claimed once replays.
        let key = ("CreateEntry".to_string(), Idem { request_id: Some("r1".into()), fingerprint: "f".into() }, String::from("e-fix"));
        let fix = entry("c1", "fix", &first.id);
        assert_eq!(s.apply(append(fix.clone(), Some(key.clone()))).await.unwrap(), Claim::New);
        assert_eq!(s.apply(append(entry("c1", "again", &first.id), Some(key))).await.unwrap(), Claim::Replay("e-fix".into()));
        assert_eq!(latest().await.len(), 2, "the replay added no entry");
        assert_eq!(outbox_types(&db).await.len(), 3);

        // A refused keyed write keeps no key: the retry is a new write.
        let mut closed = log("c1", "tenants/4201/persons/p1");
        closed.state = "CASE_LOG_STATE_CLOSED".into();
        closed.close_reason = "CLOSE_REASON_CONCERN_RESOLVED".into();
        s.apply(Work { ops: vec![Op::UpdateCaseLog(closed)], ..Default::default() }).await.unwrap();
        let key = ("CreateEntry".to_string(), Idem { request_id: Some("r2".into()), fingerprint: "f".into() }, String::from("e-late"));
        let err = s.apply(append(entry("c1", "late", ""), Some(key.clone()))).await.unwrap_err();
        assert!(matches!(err, ApiError::FailedPrecondition { reason: "CASE_LOG_CLOSED", .. }), "{err:?}");
        assert_eq!(s.replayed("CreateEntry", &key.1).await.unwrap(), None, "no key kept");
        assert_eq!(latest().await.len(), 2);
        assert_eq!(outbox_types(&db).await.len(), 3);
    }

    async fn reads_log_themselves_in_the_same_transaction(db) {
        let s = open(&db).await;
        create(&s, "c1", "tenants/4201/persons/p1").await;
        let e1 = entry("c1", "one", "");
        s.apply(Work { ops: vec![touch("c1"), Op::InsertEntry(e1.clone())], ..Default::default() }).await.unwrap();
        let e2 = entry("c1", "two", &e1.id);
        s.apply(Work { ops: vec![touch("c1"), Op::InsertEntry(e2.clone())], ..Default::default() }).await.unwrap();
        let (got, latest) = s.read_log("4201", "c1", 20, &access("c1", "ACCESS_ACTION_READ")).await.unwrap().unwrap();
        assert_eq!(got.id, "c1");
        assert_eq!(latest.iter().map(|e| e.text.as_str()).collect::<Vec<_>>(), ["two", "one"], "newest first");
        assert_eq!(latest[0].corrects, e1.id);
        assert_eq!(access_count(&s, "c1").await, 2, "the create and the read");
        let oldest = s.entries("4201", "c1", "", 1, Order::Oldest, &access("c1", "ACCESS_ACTION_READ")).await.unwrap();
        assert_eq!(oldest[0].text, "one");
    }

    async fn a_closed_log_refuses_writes(db) {
        let s = open(&db).await;
        create(&s, "c1", "tenants/4201/persons/p1").await;
        let mut closed = log("c1", "tenants/4201/persons/p1");
        closed.state = "CASE_LOG_STATE_CLOSED".into();
        closed.close_reason = "CLOSE_REASON_CONCERN_RESOLVED".into();
        s.apply(Work { ops: vec![Op::UpdateCaseLog(closed)], ..Default::default() }).await.unwrap();
        let err = s.apply(Work { ops: vec![touch("c1"), Op::InsertEntry(entry("c1", "late", ""))], ..Default::default() }).await.unwrap_err();
        assert!(matches!(err, ApiError::FailedPrecondition { reason: "CASE_LOG_CLOSED", .. }), "{err:?}");
    }

    async fn one_active_log_per_subject(db) {
        let s = open(&db).await;
        create(&s, "c1", "tenants/4201/persons/p1").await;
        let err = s.apply(Work { ops: vec![Op::InsertCaseLog(log("c2", "tenants/4201/persons/p1"))], ..Default::default() }).await.unwrap_err();
        assert!(matches!(err, ApiError::AlreadyExists(_)), "{err:?}");
        // Another child is fine.
        create(&s, "c3", "tenants/4201/persons/p2").await;
    }

    async fn stale_log_updates_abort_and_keep_nothing(db) {
        let s = open(&db).await;
        create(&s, "c1", "tenants/4201/persons/p1").await;
        let mut a = log("c1", "tenants/4201/persons/p1");
        a.level = "LEVEL_2".into();
        s.apply(Work { ops: vec![Op::UpdateCaseLog(a)], ..Default::default() }).await.unwrap();
        let mut b = log("c1", "tenants/4201/persons/p1"); // still version 1
        b.holder = "ola".into();
        let err = s.apply(Work {
            ops: vec![Op::UpdateCaseLog(b), Op::InsertHolder { tenant: "4201".into(), case_log: "c1".into(), professional: "ola".into(), unit: "u".into(), since: now() }],
            events: vec![event()],
            ..Default::default()
        }).await.unwrap_err();
        assert!(matches!(err, ApiError::EtagMismatch(_)), "{err:?}");
        let ctx = s.context("4201", "c1").await.unwrap().unwrap();
        assert_eq!((ctx.log.level.as_str(), ctx.log.holder.as_str(), ctx.log.version), ("LEVEL_2", "kari", 2));
        assert!(s.holders("4201", "c1").await.unwrap().is_empty());
    }

    async fn my_logs_are_the_ones_i_hold_take_part_in_or_am_offered(db) {
        let s = open(&db).await;
        let school = "tenants/4201/units/school";
        let nurse = "tenants/4201/units/nurse";
        let mut held = log("held", "tenants/4201/persons/p1");
        held.holder = "nils".into();
        held.holder_unit = nurse.into();
        held.unit = nurse.into();
        let mut other = log("other", "tenants/4201/persons/p2");
        other.holder = "kari".into();
        let mut offered = log("offered", "tenants/4201/persons/p3");
        offered.pending_handover = "h1".into();
        let whole_unit = log("unitwide", "tenants/4201/persons/p4");
        let named = log("named", "tenants/4201/persons/p5");
        let someone_else = log("someone", "tenants/4201/persons/p6");
        let removed = log("removed", "tenants/4201/persons/p7");
        let participant = |l: &str, professional: &str, gone: bool| ParticipantRecord {
            tenant: "4201".into(),
            case_log: l.into(),
            id: format!("p-{l}"),
            unit: nurse.into(),
            professional: professional.into(),
            tasks: String::new(),
            removed: gone,
            remove_time: None,
            version: 1,
            create_time: now(),
        };
        s.apply(Work {
            ops: vec![
                Op::InsertCaseLog(held),
                Op::InsertCaseLog(other),
                Op::InsertCaseLog(offered),
                Op::InsertCaseLog(whole_unit),
                Op::InsertCaseLog(named),
                Op::InsertCaseLog(someone_else),
                Op::InsertCaseLog(removed),
                Op::InsertParticipant(participant("unitwide", "", false)),
                Op::InsertParticipant(participant("named", "nils", false)),
                Op::InsertParticipant(participant("someone", "berit", false)),
                Op::InsertParticipant(participant("removed", "nils", true)),
                Op::InsertHandover(HandoverRecord { case_log: "offered".into(), ..handover("h1", false) }),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
        let units = vec![nurse.to_string()];
        let ids = |c: &[LogContext]| c.iter().map(|c| c.log.id.clone()).collect::<Vec<_>>();
        let mine = s.professional_contexts("4201", "nils", &units, "", "", "", 50).await.unwrap();
        assert_eq!(ids(&mine), ["held", "named", "offered", "unitwide"]);
        let named_ctx = mine.iter().find(|c| c.log.id == "named").unwrap();
        assert_eq!(named_ctx.participants.len(), 1);
        assert_eq!(named_ctx.participants[0].professional, "nils");
        let offered_ctx = mine.iter().find(|c| c.log.id == "offered").unwrap();
        assert_eq!(offered_ctx.pending_handover.as_ref().map(|h| h.id.as_str()), Some("h1"));
        assert!(mine.iter().find(|c| c.log.id == "held").unwrap().pending_handover.is_none());
        // Paged by id, filtered by subject.
        let page = s.professional_contexts("4201", "nils", &units, "", "", "named", 1).await.unwrap();
        assert_eq!(ids(&page), ["offered"]);
        let one = s.professional_contexts("4201", "nils", &units, "tenants/4201/persons/p1", "", "", 50).await.unwrap();
        assert_eq!(ids(&one), ["held"]);
        // A colleague of the school who holds nothing and takes no part: none.
        let stranger = s.professional_contexts("4201", "rektor", &[school.to_string()], "", "", "", 50).await.unwrap();
        assert!(stranger.is_empty());
        assert!(s.professional_contexts("4299", "nils", &units, "", "", "", 50).await.unwrap().is_empty());
    }

    async fn a_listing_logs_every_listed_log_at_once(db) {
        let s = open(&db).await;
        create(&s, "c1", "tenants/4201/persons/p1").await;
        create(&s, "c2", "tenants/4201/persons/p2").await;
        let rows: Vec<AccessRecord> = ["c1", "c2", "c1"].iter().map(|l| access(l, "ACCESS_ACTION_READ")).collect();
        s.log_reads(&rows).await.unwrap();
        assert_eq!(access_count(&s, "c1").await, 3, "the create and two listings");
        assert_eq!(access_count(&s, "c2").await, 2);
        s.log_reads(&[]).await.unwrap();
    }

    async fn a_handover_is_decided_once(db) {
        let s = open(&db).await;
        create(&s, "c1", "tenants/4201/persons/p1").await;
        let h = handover("h1", true);
        s.apply(Work { ops: vec![Op::InsertHandover(h.clone())], ..Default::default() }).await.unwrap();
        let decide = |state: &str| Work {
            ops: vec![Op::UpdateHandover {
                record: HandoverRecord { state: state.into(), decide_time: Some(now()), ..h.clone() },
                from_state: "HANDOVER_STATE_OFFERED".into(),
            }],
            ..Default::default()
        };
        s.apply(decide("HANDOVER_STATE_ACCEPTED")).await.unwrap();
        assert!(matches!(s.apply(decide("HANDOVER_STATE_DECLINED")).await.unwrap_err(), ApiError::Aborted(_)));
        assert_eq!(s.handover("4201", "c1", "h1").await.unwrap().unwrap().state, "HANDOVER_STATE_ACCEPTED");
    }

    async fn a_replayed_create_applies_nothing(db) {
        let s = open(&db).await;
        let idem = Idem { request_id: Some("r1".into()), fingerprint: "f".into() };
        let work = |id: &str| Work {
            idem: Some(("CreateCaseLog".into(), idem.clone(), case_log_name("4201", id))),
            ops: vec![Op::InsertCaseLog(log(id, &format!("tenants/4201/persons/{id}")))],
            ..Default::default()
        };
        assert_eq!(s.apply(work("c1")).await.unwrap(), Claim::New);
        assert_eq!(s.apply(work("c2")).await.unwrap(), Claim::Replay(case_log_name("4201", "c1")));
        assert!(s.context("4201", "c2").await.unwrap().is_none());
    }

    async fn an_attached_referral_commits_with_its_row_and_event_once(db) {
        let s = open(&db).await;
        create(&s, "c1", "tenants/4201/persons/p1").await;
        let r = referral("c1", false);
        s.apply(Work {
            ops: vec![touch("c1"), Op::InsertReferral(r.clone())],
            access: vec![attach_row(&r)],
            events: vec![event()],
            ..Default::default()
        }).await.unwrap();
        assert_eq!(s.referral_by_source("4201", "c1", &r.referral).await.unwrap(), Some(r.clone()));
        // The same referral again is ALREADY_EXISTS and writes nothing.
        let again = ReferralRecord { id: new_id(), ..r.clone() };
        let e = s.apply(Work {
            ops: vec![touch("c1"), Op::InsertReferral(again.clone())],
            access: vec![attach_row(&again)],
            events: vec![event()],
            ..Default::default()
        }).await.unwrap_err();
        assert!(matches!(e, ApiError::AlreadyExists(_)), "{e:?}");
        assert_eq!(access_count(&s, "c1").await, 2);
        assert_eq!(outbox_types(&db).await.len(), 2);
        let listed = s.referrals("4201", "c1", "", 10, true, &access("c1", "ACCESS_ACTION_READ")).await.unwrap();
        assert_eq!(listed, vec![r]);
    }

    async fn restricted_referrals_leave_no_trace_for_the_family_until_lifted(db) {
        let s = open(&db).await;
        create(&s, "c1", "tenants/4201/persons/p1").await;
        let open_one = referral("c1", false);
        let hidden = referral("c1", true);
        for r in [&open_one, &hidden] {
            s.apply(Work {
                ops: vec![Op::InsertReferral(r.clone())],
                access: vec![attach_row(r)],
                ..Default::default()
            }).await.unwrap();
        }
        // A routing look-up by the gateway.
        s.log_reads(&[AccessRecord { acting_as: "ACTING_AS_SERVICE".into(), actor: "service:gateway".into(), ..access("c1", "ACCESS_ACTION_READ") }]).await.unwrap();
        let reader = || access("c1", "ACCESS_ACTION_READ");
        assert_eq!(s.referrals("4201", "c1", "", 10, false, &reader()).await.unwrap(), vec![open_one.clone()]);
        assert_eq!(s.referrals("4201", "c1", "", 10, true, &reader()).await.unwrap().len(), 2);
        let seen = family_view(&s, "c1").await;
        assert!(seen.iter().all(|a| a.restricted_referral.is_empty() && a.acting_as != "ACTING_AS_SERVICE"), "{seen:?}");
        assert!(seen.iter().any(|a| a.resource == open_one.name()));
        // Others see every row.
        let all = s.access_log("4201", "c1", "", 1000, false, &reader()).await.unwrap();
        assert!(all.iter().any(|a| a.resource == hidden.name()));
        // Lifted once; a second lift is ABORTED and changes nothing.
        let lift = || Work {
            ops: vec![Op::LiftReferral { tenant: "4201".into(), case_log: "c1".into(), id: hidden.id.clone() }],
            access: vec![access("c1", "ACCESS_ACTION_UPDATE")],
            events: vec![event()],
            ..Default::default()
        };
        s.apply(lift()).await.unwrap();
        let events = outbox_types(&db).await.len();
        assert!(matches!(s.apply(lift()).await, Err(ApiError::Aborted(_))));
        assert_eq!(outbox_types(&db).await.len(), events);
        assert!(!s.referral("4201", "c1", &hidden.id).await.unwrap().unwrap().restricted);
        // Now the family sees it was attached.
        assert!(family_view(&s, "c1").await.iter().any(|a| a.resource == hidden.name()));
    }

    async fn a_summary_reads_with_one_access_row(db) {
        let s = open(&db).await;
        create(&s, "c1", "tenants/4201/persons/p1").await;
        let before = access_count(&s, "c1").await;
        let row = AccessRecord { actor: "client:cw".into(), ..access("c1", "ACCESS_ACTION_READ") };
        let rows = s.summary("4201", "c1", &row).await.unwrap().unwrap();
        assert_eq!(rows.log.id, "c1");
        // The summary's row, and the row of the count before it.
        assert_eq!(access_count(&s, "c1").await, before + 2);
        assert!(s.summary("4201", "missing", &row).await.unwrap().is_none());
    }

    async fn the_concern_area_and_an_offers_release_are_stored(db) {
        let s = open(&db).await;
        create(&s, "c1", "tenants/4201/persons/p1").await;
        let ctx = s.context("4201", "c1").await.unwrap().unwrap();
        assert_eq!(ctx.log.concern_area, "CONCERN_AREA_ENVIRONMENT");
        for (id, release) in [("h1", true), ("h2", false)] {
            s.apply(Work { ops: vec![Op::InsertHandover(handover(id, release))], ..Default::default() }).await.unwrap();
            assert_eq!(s.handover("4201", "c1", id).await.unwrap().unwrap().release_former_holder, release);
        }
    }

    async fn logged_reads_wait_for_writers_instead_of_failing(db) {
        let s = open(&db).await;
        create(&s, "c1", "tenants/4201/persons/p1").await;
        let mut tasks = Vec::new();
        for i in 0..48 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    s.read_log("4201", "c1", 20, &access("c1", "ACCESS_ACTION_READ")).await.map(drop)
                } else {
                    s.apply(Work {
                        ops: vec![touch("c1"), Op::InsertEntry(entry("c1", "x", ""))],
                        access: vec![access("c1", "ACCESS_ACTION_CREATE")],
                        ..Default::default()
                    }).await.map(drop)
                }
            }));
        }
        for t in tasks {
            t.await.unwrap().expect("a logged read or a write failed under concurrency");
        }
        // The create, 24 reads and 24 writes.
        assert_eq!(access_count(&s, "c1").await, 49);
    }
}
