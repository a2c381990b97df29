//! Behavioural suite of the consent store on SQLite and PostgreSQL.

use std::sync::Arc;

use bti_consent::domain::*;
use bti_consent::store::{self, ConsentStore, Idem};
use bti_proto::consent::ConsentGranted;
use bti_runtime::ApiError;
use bti_runtime::api::now;
use bti_runtime::events::OutboxEvent;
use bti_runtime::testing::{TestDb, outbox_types};
use chrono::Duration;

async fn open(db: &TestDb) -> Arc<dyn ConsentStore> {
    db.migrate(&store::migrations()).await.expect("migrate");
    store::for_db(db)
}

fn ev() -> OutboxEvent {
    OutboxEvent::new(SOURCE, "s", "4201", &ConsentGranted::default())
}

const CHILD: &str = "tenants/4201/persons/child";
const MOTHER: &str = "tenants/4201/persons/mother";
const SCHOOL: &str = "tenants/4201/units/school";
const NURSE: &str = "tenants/4201/units/nurse";

fn consent(id: &str, until: Option<Duration>) -> ConsentRecord {
    let t = now();
    ConsentRecord {
        tenant: "4201".into(),
        id: id.into(),
        subject: CHILD.into(),
        purpose: "CONSENT_PURPOSE_RELAY_LOG_COLLABORATION".into(),
        grantors: serde_json::to_string(&[GrantorRecord {
            person: MOTHER.into(),
            role: "GRANTOR_ROLE_GUARDIAN".into(),
        }])
        .unwrap(),
        state: "CONSENT_STATE_ACTIVE".into(),
        revision: 1,
        valid_from: t - Duration::seconds(1),
        valid_until: until.map(|d| t + d),
        withdraw_time: None,
        withdraw_reason: String::new(),
        version: 1,
        create_time: t,
        update_time: t,
    }
}

fn revision(c: &ConsentRecord, kind: &str, units: &[&str]) -> RevisionRecord {
    RevisionRecord {
        tenant: c.tenant.clone(),
        consent: c.id.clone(),
        revision: c.revision,
        kind: kind.into(),
        covered_units: serde_json::to_string(units).unwrap(),
        state: c.state.clone(),
        valid_from: c.valid_from,
        valid_until: c.valid_until,
        method: "signed_form".into(),
        method_reference: "arkiv/2026/1 sha256:00".into(),
        actor: "employee:e1".into(),
        reason: String::new(),
        create_time: c.update_time,
    }
}

fn units(u: &[&str]) -> Vec<String> {
    u.iter().map(|s| s.to_string()).collect()
}

async fn grant(
    s: &Arc<dyn ConsentStore>,
    id: &str,
    covered: &[&str],
    until: Option<Duration>,
) -> ConsentView {
    let c = consent(id, until);
    s.create_consent(
        &c,
        &units(covered),
        &revision(&c, "REVISION_KIND_GRANTED", covered),
        &Idem::default(),
        ev(),
    )
    .await
    .unwrap()
}

bti_runtime::backend_tests! {
    async fn a_grant_is_stored_with_units_grantors_and_first_revision(db) {
        let s = open(&db).await;
        grant(&s, "c1", &[SCHOOL, NURSE], None).await;
        let v = s.get_consent("4201", "c1").await.unwrap().unwrap();
        assert_eq!(v.units, units(&[NURSE, SCHOOL]));
        assert_eq!(v.consent.grantor_list()[0].person, MOTHER);
        let revs = s.list_revisions("4201", "c1", 0, 10).await.unwrap();
        assert_eq!(revs.len(), 1);
        assert_eq!(revs[0].kind, "REVISION_KIND_GRANTED");
        assert_eq!(s.list_consents("4201", CHILD, "", "", 10).await.unwrap().len(), 1);
        assert_eq!(s.list_consents("4201", "", MOTHER, "", 10).await.unwrap().len(), 1);
        assert_eq!(s.list_consents("4201", "", "tenants/4201/persons/other", "", 10).await.unwrap().len(), 0);
        assert_eq!(outbox_types(&db).await.len(), 1);
    }

    async fn changes_append_revisions_and_stale_changes_are_refused(db) {
        let s = open(&db).await;
        let v = grant(&s, "c1", &[SCHOOL, NURSE], None).await;
        let mut changed = v.consent.clone();
        changed.revision = 2;
        let saved = s
            .change_consent(&changed, &units(&[SCHOOL]), &revision(&changed, "REVISION_KIND_UNITS_CHANGED", &[SCHOOL]), ev())
            .await
            .unwrap();
        assert_eq!(saved.consent.version, 2);
        assert_eq!(s.get_consent("4201", "c1").await.unwrap().unwrap().units, units(&[SCHOOL]));
        // A second writer that read version 1 loses; nothing of it is kept.
        let mut stale = v.consent.clone();
        stale.revision = 2;
        stale.state = "CONSENT_STATE_WITHDRAWN".into();
        let err = s
            .change_consent(&stale, &units(&[]), &revision(&stale, "REVISION_KIND_WITHDRAWN", &[]), ev())
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::EtagMismatch(_)), "{err:?}");
        let now_v = s.get_consent("4201", "c1").await.unwrap().unwrap();
        assert!(now_v.consent.is_active());
        assert_eq!(s.list_revisions("4201", "c1", 0, 10).await.unwrap().len(), 2);
        assert_eq!(s.get_revision("4201", "c1", 1).await.unwrap().unwrap().covered_units, serde_json::to_string(&[SCHOOL, NURSE]).unwrap());
        assert_eq!(outbox_types(&db).await.len(), 2);
    }

    async fn access_candidates_say_which_consent_covers_the_unit(db) {
        let s = open(&db).await;
        grant(&s, "c1", &[SCHOOL], None).await;
        grant(&s, "c2", &[NURSE], None).await;
        let c = s.access_candidates("4201", CHILD, NURSE, "CONSENT_PURPOSE_RELAY_LOG_COLLABORATION").await.unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.iter().filter(|c| c.covers).map(|c| c.id.as_str()).collect::<Vec<_>>(), ["c2"]);
        assert!(matches!(decide(&c, now()), Access::Allowed { ref consent, revision: 1 } if consent == "c2"));
        let other = s.access_candidates("4201", CHILD, NURSE, "CONSENT_PURPOSE_MEETING_REPRESENTATION").await.unwrap();
        assert!(other.is_empty());
    }

    async fn a_batch_read_answers_each_question_as_a_single_one(db) {
        let s = open(&db).await;
        grant(&s, "c1", &[SCHOOL], None).await;
        grant(&s, "c2", &[NURSE, SCHOOL], None).await;
        let purpose = "CONSENT_PURPOSE_RELAY_LOG_COLLABORATION";
        let other_unit = "tenants/4201/units/other";
        let rows = s
            .access_candidates_batch("4201", &units(&[CHILD, "tenants/4201/persons/nobody"]), &units(&[NURSE, SCHOOL, other_unit]), &units(&[purpose]))
            .await
            .unwrap();
        for unit in [NURSE, SCHOOL, other_unit] {
            let single = s.access_candidates("4201", CHILD, unit, purpose).await.unwrap();
            let batch = candidates_for(&rows, CHILD, unit, purpose);
            assert_eq!(
                batch.iter().map(|c| (c.id.as_str(), c.covers)).collect::<Vec<_>>(),
                single.iter().map(|c| (c.id.as_str(), c.covers)).collect::<Vec<_>>(),
                "{unit}"
            );
        }
        assert!(candidates_for(&rows, "tenants/4201/persons/nobody", SCHOOL, purpose).is_empty());
        assert!(candidates_for(&rows, CHILD, SCHOOL, "CONSENT_PURPOSE_MEETING_REPRESENTATION").is_empty());
        let none = s.access_candidates_batch("4299", &units(&[CHILD]), &units(&[SCHOOL]), &units(&[purpose])).await.unwrap();
        assert!(none.is_empty());
    }

    async fn only_active_consents_past_valid_until_are_due_for_expiry(db) {
        let s = open(&db).await;
        grant(&s, "past", &[SCHOOL], Some(Duration::milliseconds(-1))).await;
        grant(&s, "future", &[SCHOOL], Some(Duration::days(30))).await;
        grant(&s, "open", &[SCHOOL], None).await;
        let due = s.expired_but_active(now(), 10).await.unwrap();
        assert_eq!(due.iter().map(|v| v.consent.id.as_str()).collect::<Vec<_>>(), ["past"]);
    }

    async fn a_replayed_create_returns_the_first_consent(db) {
        let s = open(&db).await;
        let idem = Idem { request_id: Some("r1".into()), fingerprint: "f".into() };
        let c = consent("c1", None);
        let rev = revision(&c, "REVISION_KIND_GRANTED", &[SCHOOL]);
        s.create_consent(&c, &units(&[SCHOOL]), &rev, &idem, ev()).await.unwrap();
        let again = consent("c2", None);
        let replay = s.create_consent(&again, &units(&[SCHOOL]), &revision(&again, "REVISION_KIND_GRANTED", &[SCHOOL]), &idem, ev()).await.unwrap();
        assert_eq!(replay.consent.id, "c1");
        assert_eq!(s.list_consents("4201", "", "", "", 10).await.unwrap().len(), 1);
    }

    async fn representations_are_revoked_at_their_version(db) {
        let s = open(&db).await;
        let t = now();
        let r = RepresentationRecord {
            tenant: "4201".into(),
            id: "r1".into(),
            guardian: MOTHER.into(),
            subject: CHILD.into(),
            representative: "nurse-kari".into(),
            representative_unit: NURSE.into(),
            method: "oral".into(),
            method_reference: "recorded by e1".into(),
            valid_until: None,
            revoked: false,
            version: 1,
            create_time: t,
            update_time: t,
        };
        s.create_representation(&r, &Idem::default(), ev()).await.unwrap();
        let revoked = s.update_representation(&RepresentationRecord { revoked: true, ..r.clone() }, ev()).await.unwrap();
        assert_eq!(revoked.version, 2);
        assert!(s.get_representation("4201", "r1").await.unwrap().unwrap().revoked);
        assert!(matches!(
            s.update_representation(&RepresentationRecord { revoked: true, ..r.clone() }, ev()).await.unwrap_err(),
            ApiError::EtagMismatch(_)
        ));
        assert_eq!(s.list_representations("4201", CHILD, "", 10).await.unwrap().len(), 1);
    }
}
