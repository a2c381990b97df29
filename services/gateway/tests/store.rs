//! The gateway store on both backends: the two-step referral write (claim,
//! then settle once), idempotency under racing retries, versioned updates
//! that keep nothing when stale, logged reads, and the client registry.

use std::sync::Arc;

use bti_gateway::domain::*;
use bti_gateway::store::{Claim, GatewayStore, Idem, NewAttachment};
use bti_proto::gateway::{ClientChanged, ReferralReceived};
use bti_runtime::ApiError;
use bti_runtime::api::{new_id, now};
use bti_runtime::db::Db;
use bti_runtime::events::OutboxEvent;
use bti_runtime::testing::{TestDb, outbox_types};

async fn store(db: &TestDb) -> Arc<dyn GatewayStore> {
    db.migrate(&bti_gateway::store::migrations()).await.unwrap();
    let s = bti_gateway::store::for_db(db);
    s.create_client(&client("cw", "4201"), event("clients/cw"))
        .await
        .unwrap();
    s
}

fn event(subject: &str) -> OutboxEvent {
    OutboxEvent::new(
        SOURCE,
        subject,
        "4201",
        &ClientChanged {
            client: subject.into(),
        },
    )
}

fn received(r: &ReferralRecord) -> OutboxEvent {
    OutboxEvent::new(
        SOURCE,
        &r.name(),
        &r.tenant,
        &ReferralReceived {
            referral: r.name(),
            ..Default::default()
        },
    )
}

fn client(id: &str, tenants: &str) -> ClientRecord {
    let t = now();
    ClientRecord {
        id: id.into(),
        display_name: id.into(),
        organization_number: "974760673".into(),
        tenants: tenants.into(),
        scopes: "bti:referrals.write".into(),
        unit: "tenants/4201/units/barnevern".into(),
        certificate_sha256: String::new(),
        rate_limit_per_second: 20,
        disabled: false,
        version: 1,
        create_time: t,
        update_time: t,
    }
}

fn referral() -> ReferralRecord {
    let t = now();
    ReferralRecord {
        id: new_id(),
        client: "cw".into(),
        request_id: String::new(),
        tenant: "4201".into(),
        person: "tenants/4201/persons/p".into(),
        subject_kind: "CHILD".into(),
        kind: "REFERRAL_KIND_CHILD_WELFARE_REPORT".into(),
        external_reference: "BV-1".into(),
        from_organization: "974760673".into(),
        from_unit: "tenants/4201/units/barnevern".into(),
        content_kind: "structured".into(),
        concern: "c".into(),
        background: String::new(),
        guardians_informed: false,
        fiks_json: String::new(),
        restricted: false,
        legal_basis: String::new(),
        lift_time: None,
        status: "REFERRAL_STATUS_SUBMITTED".into(),
        feedback: String::new(),
        placement: PENDING.into(),
        case_log: String::new(),
        attached_referral: String::new(),
        assigned_unit: String::new(),
        investigation_extended: false,
        received_time: None,
        investigation_time: None,
        closed_time: None,
        missed: String::new(),
        settle_log: String::new(),
        version: 1,
        create_time: t,
        update_time: t,
    }
}

fn row(referral: &str, action: &str) -> AccessRecord {
    AccessRecord {
        id: new_id(),
        referral: referral.into(),
        actor: "client:cw".into(),
        action: action.into(),
        purpose: "test".into(),
        basis: "test".into(),
        create_time: now(),
    }
}

fn idem(request_id: &str, fingerprint: &str) -> Idem {
    Idem {
        request_id: Some(request_id.into()),
        fingerprint: fingerprint.into(),
    }
}

async fn count(db: &Db, sql: &'static str) -> i64 {
    match db {
        Db::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await,
        Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await,
    }
    .unwrap()
}

bti_runtime::backend_tests! {
    async fn a_claimed_request_id_replays_and_stores_once(db) {
        let s = store(&db).await;
        let r = referral();
        let pdf = NewAttachment {
            meta: AttachmentRecord {
                referral: r.id.clone(),
                position: 0,
                filename: "a.pdf".into(),
                content_type: "application/pdf".into(),
                sha256: sha256_hex(b"%PDF-x"),
                size_bytes: 6,
            },
            data: b"%PDF-x".to_vec(),
        };
        let key = idem("k1", "f1");
        assert_eq!(s.begin_referral("scope", &key, &r, std::slice::from_ref(&pdf), &row(&r.id, "CREATE")).await.unwrap(), Claim::New);
        // A retry with another generated id gets the first.
        let retry = referral();
        assert_eq!(s.begin_referral("scope", &key, &retry, &[], &row(&retry.id, "CREATE")).await.unwrap(), Claim::Replay(r.id.clone()));
        // The same key for a different request is refused.
        let other = referral();
        let e = s.begin_referral("scope", &idem("k1", "f2"), &other, &[], &row(&other.id, "CREATE")).await.unwrap_err();
        assert!(matches!(e, ApiError::InvalidArgument(_)), "{e:?}");
        // Another scope (client) may use the same key.
        let theirs = referral();
        assert_eq!(s.begin_referral("other", &key, &theirs, &[], &row(&theirs.id, "CREATE")).await.unwrap(), Claim::New);
        assert_eq!(count(&db, "SELECT COUNT(*) FROM referrals").await, 2);
        assert_eq!(count(&db, "SELECT COUNT(*) FROM referral_attachments").await, 1);
        assert_eq!(count(&db, "SELECT COUNT(*) FROM access_log").await, 2);
    }

    async fn racing_claims_of_one_key_store_one_referral(db) {
        let s = store(&db).await;
        let key = idem("race", "f");
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                let key = key.clone();
                tokio::spawn(async move {
                    let r = referral();
                    let begun = s.begin_referral("scope", &key, &r, &[], &row(&r.id, "CREATE")).await.unwrap();
                    (r.id, begun)
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut replays = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                (id, Claim::New) => winners.push(id),
                (_, Claim::Replay(existing)) => replays.push(existing),
            }
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        assert!(replays.iter().all(|r| *r == winners[0]));
        assert_eq!(count(&db, "SELECT COUNT(*) FROM referrals").await, 1);
    }

    async fn the_first_decision_to_attach_binds_every_later_settle(db) {
        let s = store(&db).await;
        let r = referral();
        s.begin_referral("scope", &idem("k", "f"), &r, &[], &row(&r.id, "CREATE")).await.unwrap();
        // Racing settles: exactly one records its decision.
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let (s, id) = (s.clone(), r.id.clone());
                tokio::spawn(async move { s.claim_attach(&id, &format!("tenants/4201/caseLogs/l{i}")).await.unwrap() })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1);
        let decided = s.referral(&r.id).await.unwrap().unwrap();
        assert!(decided.is_pending() && decided.settle_log.starts_with("tenants/4201/caseLogs/l"));
        // A settle that decided intake without seeing that decision loses...
        let mut intake = decided.clone();
        intake.placement = "PLACEMENT_INTAKE".into();
        assert!(!s.settle_referral(&intake, "", &row(&r.id, "UPDATE"), received(&r)).await.unwrap());
        // ...and the one following it finishes.
        let mut attached = decided.clone();
        attached.placement = "PLACEMENT_CASE_LOG".into();
        attached.case_log = decided.settle_log.clone();
        attached.attached_referral = format!("{}/referrals/a", decided.settle_log);
        assert!(s.settle_referral(&attached, &decided.settle_log, &row(&r.id, "UPDATE"), received(&r)).await.unwrap());
        assert!(!s.claim_attach(&r.id, "tenants/4201/caseLogs/late").await.unwrap(), "settled: nothing more to decide");
        let stored = s.referral(&r.id).await.unwrap().unwrap();
        assert_eq!((stored.placement.as_str(), stored.case_log.as_str()), ("PLACEMENT_CASE_LOG", decided.settle_log.as_str()));
    }

    async fn a_referral_is_settled_once_with_its_event(db) {
        let s = store(&db).await;
        let r = referral();
        s.begin_referral("scope", &idem("k", "f"), &r, &[], &row(&r.id, "CREATE")).await.unwrap();
        let mut placed = r.clone();
        placed.placement = "PLACEMENT_INTAKE".into();
        assert!(s.settle_referral(&placed, "", &row(&r.id, "UPDATE"), received(&r)).await.unwrap());
        let mut again = r.clone();
        again.placement = "PLACEMENT_CASE_LOG".into();
        assert!(!s.settle_referral(&again, "", &row(&r.id, "UPDATE"), received(&r)).await.unwrap());
        let stored = s.referral(&r.id).await.unwrap().unwrap();
        assert_eq!(stored.placement, "PLACEMENT_INTAKE");
        assert_eq!(stored.version, 2);
        let received = outbox_types(&db).await.iter().filter(|t| t.ends_with("ReferralReceived")).count();
        assert_eq!(received, 1);
        // Only settled referrals are listed.
        let pending = referral();
        s.begin_referral("scope", &idem("k2", "f"), &pending, &[], &row(&pending.id, "CREATE")).await.unwrap();
        let listed = s.client_referrals("cw", "", 10).await.unwrap();
        assert_eq!(listed.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![r.id.clone()]);
        assert_eq!(s.intake("4201", "", 10).await.unwrap().len(), 1);
        let old = s.pending(now() + chrono::Duration::seconds(1), 10).await.unwrap();
        assert_eq!(old.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![pending.id]);
    }

    async fn a_stale_update_keeps_nothing(db) {
        let s = store(&db).await;
        let r = referral();
        s.begin_referral("scope", &idem("k", "f"), &r, &[], &row(&r.id, "CREATE")).await.unwrap();
        let mut a = r.clone();
        a.status = "REFERRAL_STATUS_RECEIVED".into();
        s.update_referral(&a, 1, Some(&row(&r.id, "UPDATE")), vec![received(&r)]).await.unwrap();
        let before = count(&db, "SELECT COUNT(*) FROM access_log").await;
        let events_before = outbox_types(&db).await.len();
        let mut b = r.clone();
        b.status = "REFERRAL_STATUS_CLOSED".into();
        let e = s.update_referral(&b, 1, Some(&row(&r.id, "UPDATE")), vec![received(&r)]).await.unwrap_err();
        assert!(matches!(e, ApiError::EtagMismatch(_)), "{e:?}");
        assert_eq!(count(&db, "SELECT COUNT(*) FROM access_log").await, before);
        assert_eq!(outbox_types(&db).await.len(), events_before);
        assert_eq!(s.referral(&r.id).await.unwrap().unwrap().status, "REFERRAL_STATUS_RECEIVED");
        let mut gone = referral();
        gone.id = "missing".into();
        assert!(matches!(s.update_referral(&gone, 1, None, vec![]).await, Err(ApiError::NotFound(_))));
    }

    async fn reads_are_logged_with_the_read(db) {
        let s = store(&db).await;
        let r = referral();
        s.begin_referral("scope", &idem("k", "f"), &r, &[], &row(&r.id, "CREATE")).await.unwrap();
        let (read, attachments) = s.read_referral(&r.id, &row(&r.id, "READ")).await.unwrap().unwrap();
        assert_eq!(read.id, r.id);
        assert!(attachments.is_empty());
        let log = s.access_log(&r.id).await.unwrap();
        assert_eq!(log.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(), vec!["CREATE", "READ"]);
        // A read of nothing logs nothing.
        assert!(s.read_referral("missing", &row("missing", "READ")).await.unwrap().is_none());
        assert!(s.access_log("missing").await.unwrap().is_empty());
    }

    async fn a_units_assigned_referrals_leave_restricted_ones_to_its_leaders(db) {
        let s = store(&db).await;
        const UNIT: &str = "tenants/4201/units/barnevern";
        let assign = |mut r: ReferralRecord, unit: &str| {
            r.placement = "PLACEMENT_ASSIGNED".into();
            r.assigned_unit = unit.into();
            r
        };
        let open = assign(referral(), UNIT);
        let mut hidden = assign(referral(), UNIT);
        hidden.restricted = true;
        hidden.legal_basis = "bvl § 13-2".into();
        let mut lifted = hidden.clone();
        lifted.id = new_id();
        lifted.lift_time = Some(now());
        let elsewhere = assign(referral(), "tenants/4201/units/ppt");
        let mut waiting = referral();
        waiting.placement = "PLACEMENT_INTAKE".into();
        for (i, r) in [&open, &hidden, &lifted, &elsewhere, &waiting].into_iter().enumerate() {
            s.begin_referral("scope", &idem(&format!("k{i}"), "f"), r, &[], &row(&r.id, "CREATE")).await.unwrap();
        }
        let ids = |v: Vec<ReferralRecord>| { let mut v: Vec<String> = v.into_iter().map(|r| r.id).collect(); v.sort(); v };
        let sorted = |mut v: Vec<String>| { v.sort(); v };
        assert_eq!(ids(s.assigned(UNIT, "", 10, true).await.unwrap()), sorted(vec![open.id.clone(), hidden.id.clone(), lifted.id.clone()]));
        assert_eq!(ids(s.assigned(UNIT, "", 10, false).await.unwrap()), sorted(vec![open.id.clone(), lifted.id.clone()]));
        // Paged by id.
        let first = s.assigned(UNIT, "", 1, true).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(s.assigned(UNIT, &first[0].id, 10, true).await.unwrap().len(), 2);
    }

    async fn clients_are_unique_and_listed_by_whole_municipality(db) {
        let s = store(&db).await;
        let e = s.create_client(&client("cw", "4201"), event("clients/cw")).await.unwrap_err();
        assert!(matches!(e, ApiError::AlreadyExists(_)), "{e:?}");
        s.create_client(&client("bergen", "4601 4201"), event("clients/bergen")).await.unwrap();
        s.create_client(&client("oslo", "0301"), event("clients/oslo")).await.unwrap();
        let ids = |v: Vec<ClientRecord>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(s.list_clients("4201", "", 10).await.unwrap()), vec!["bergen", "cw"]);
        assert!(s.list_clients("420", "", 10).await.unwrap().is_empty());
        assert_eq!(ids(s.list_clients("", "", 10).await.unwrap()).len(), 3);
        let mut c = s.client("oslo").await.unwrap().unwrap();
        c.disabled = true;
        s.update_client(&c, 1, event("clients/oslo")).await.unwrap();
        let e = s.update_client(&c, 1, event("clients/oslo")).await.unwrap_err();
        assert!(matches!(e, ApiError::EtagMismatch(_)), "{e:?}");
        assert!(s.client("oslo").await.unwrap().unwrap().disabled);
    }
}
