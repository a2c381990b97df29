//! The consent service through real gRPC, with the real directory it asks
//! mounted on the same server, on both backends: the municipality's policy,
//! bad input, revisions, representation, withdrawal under concurrent load and
//! expiry.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bti_proto::consent::consent_method::Method;
use bti_proto::consent::consent_service_client::ConsentServiceClient;
use bti_proto::consent::*;
use bti_proto::directory::directory_service_client::DirectoryServiceClient;
use bti_proto::directory::{
    CreateGuardianshipRequest, CreatePersonRequest, CreateTenantRequest, CreateUnitRequest,
    Guardianship, Person, PersonKind, Tenant, TenantSettings, Unit, UnitType,
};
use bti_runtime::auth::{Claims, Role, personas};
use bti_runtime::clock::ManualClock;
use bti_runtime::testing::{
    TestDb, TestHost, TestHostOptions, eventually, expect_code, outbox_types, violated_fields,
};
use chrono::{Datelike, NaiveDate};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

const T: &str = "4201";
const SCHOOL: &str = "tenants/4201/units/school";
const NURSE: &str = "tenants/4201/units/nurse";
const PPT: &str = "tenants/4201/units/ppt";

struct Family {
    child: String,
    mother: String,
    father: String,
    youth: String,
    youth_mother: String,
    stranger: String,
}

struct Fx {
    server: TestHost,
    consent: ConsentServiceClient<Channel>,
    api: bti_consent::App,
    consent_db: TestDb,
    clock: ManualClock,
    f: Family,
    _directory_db: TestDb,
}

fn op() -> Claims {
    personas::operator()
}
fn teacher() -> Claims {
    personas::employee("teacher", T, &[SCHOOL], &[Role::Employee])
}
fn ppt_worker() -> Claims {
    personas::employee("ppt", T, &[PPT], &[Role::Employee])
}
fn service() -> Claims {
    personas::service("caselog", "")
}

fn years_ago(n: i32) -> NaiveDate {
    let today = chrono::Utc::now().date_naive();
    NaiveDate::from_ymd_opt(today.year() - n, 1, 1).unwrap()
}

fn form() -> Option<ConsentMethod> {
    Some(ConsentMethod {
        method: Some(Method::SignedForm(SignedForm {
            document_reference: "arkiv 2026/113".into(),
            content_sha256: "a".repeat(64),
        })),
    })
}

fn guardian(person: &str) -> Grantor {
    Grantor {
        person: person.into(),
        role: GrantorRole::Guardian as i32,
    }
}

fn subject_grantor(person: &str) -> Grantor {
    Grantor {
        person: person.into(),
        role: GrantorRole::Subject as i32,
    }
}

fn new_consent(subject: &str, grantors: Vec<Grantor>, units: &[&str]) -> CreateConsentRequest {
    CreateConsentRequest {
        parent: format!("tenants/{T}"),
        consent: Some(Consent {
            subject: subject.into(),
            purpose: ConsentPurpose::RelayLogCollaboration as i32,
            grantors,
            covered_units: units.iter().map(|u| u.to_string()).collect(),
            method: form(),
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

impl Fx {
    async fn start(db: TestDb, require_all: bool) -> Fx {
        let consent_db = db.another().await;
        let clock = ManualClock::starting_now();
        let mut app = None;
        let server = TestHost::start_with(
            TestHostOptions {
                clock: clock.shared(),
                ..Default::default()
            },
            |host| {
                let (consent, a) =
                    bti_consent::build(&host.wiring("consent", consent_db.db.clone()))?;
                app = Some(a);
                Ok(vec![
                    bti_directory::build(&host.wiring("directory", db.db.clone()))?.0,
                    consent,
                ])
            },
        )
        .await;
        let consent = ConsentServiceClient::new(server.channel.clone());
        let f = seed(&server, require_all).await;
        Fx {
            consent,
            api: app.unwrap(),
            consent_db,
            clock,
            f,
            server,
            _directory_db: db,
        }
    }

    fn req<M>(&self, m: M, c: Claims) -> tonic::Request<M> {
        self.server.request(m, c)
    }

    fn mother(&self) -> Claims {
        personas::guardian("mother", T, &self.f.mother)
    }

    async fn grant(&self, units: &[&str]) -> Consent {
        self.consent
            .clone()
            .create_consent(self.req(
                new_consent(&self.f.child, vec![guardian(&self.f.mother)], units),
                teacher(),
            ))
            .await
            .unwrap()
            .into_inner()
    }

    async fn check(&self, unit: &str) -> CheckAccessResponse {
        self.consent
            .clone()
            .check_access(self.req(
                CheckAccessRequest {
                    subject: self.f.child.clone(),
                    unit: unit.into(),
                    purpose: ConsentPurpose::RelayLogCollaboration as i32,
                },
                service(),
            ))
            .await
            .unwrap()
            .into_inner()
    }
}

async fn seed(server: &TestHost, require_all: bool) -> Family {
    let mut d = DirectoryServiceClient::new(server.channel.clone());
    d.create_tenant(server.request(
        CreateTenantRequest {
            tenant_id: T.into(),
            tenant: Some(Tenant {
                display_name: "Sauda".into(),
                settings: Some(TenantSettings {
                    youth_consent_age: 15,
                    require_all_guardians_consent: require_all,
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
        op(),
    ))
    .await
    .unwrap();
    for (id, ty) in [
        ("school", UnitType::School),
        ("nurse", UnitType::SchoolHealthService),
        ("ppt", UnitType::Ppt),
    ] {
        d.create_unit(server.request(
            CreateUnitRequest {
                parent: format!("tenants/{T}"),
                unit_id: id.into(),
                unit: Some(Unit {
                    display_name: id.into(),
                    r#type: ty as i32,
                    ..Default::default()
                }),
                ..Default::default()
            },
            op(),
        ))
        .await
        .unwrap();
    }
    let mut n = 0;
    let mut person = |kind: PersonKind, born: NaiveDate| {
        n += 1;
        let nid =
            bti_runtime::ids::first_national_id(born + chrono::Duration::days(n), false, true);
        let mut d = d.clone();
        let req = server.request(
            CreatePersonRequest {
                parent: format!("tenants/{T}"),
                person: Some(Person {
                    kind: kind as i32,
                    national_id: nid,
                    given_name: "A".into(),
                    family_name: "B".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            op(),
        );
        async move { d.create_person(req).await.unwrap().into_inner().name }
    };
    let child = person(PersonKind::Child, years_ago(8)).await;
    let mother = person(PersonKind::Guardian, years_ago(40)).await;
    let father = person(PersonKind::Guardian, years_ago(41)).await;
    let youth = person(PersonKind::Youth, years_ago(17)).await;
    let youth_mother = person(PersonKind::Guardian, years_ago(45)).await;
    let stranger = person(PersonKind::Guardian, years_ago(50)).await;
    for (kid, g, pr) in [
        (&child, &mother, true),
        (&child, &father, true),
        (&youth, &youth_mother, true),
        (&child, &stranger, false),
    ] {
        d.create_guardianship(server.request(
            CreateGuardianshipRequest {
                parent: kid.clone(),
                guardianship: Some(Guardianship {
                    guardian: g.clone(),
                    parental_responsibility: pr,
                    ..Default::default()
                }),
                ..Default::default()
            },
            op(),
        ))
        .await
        .unwrap();
    }
    Family {
        child,
        mother,
        father,
        youth,
        youth_mother,
        stranger,
    }
}

fn precondition_subjects(s: &tonic::Status) -> Vec<(String, String)> {
    s.get_error_details()
        .precondition_failure()
        .map(|p| {
            p.violations
                .iter()
                .map(|v| (v.r#type.clone(), v.subject.clone()))
                .collect()
        })
        .unwrap_or_default()
}

bti_runtime::backend_tests! {
    async fn a_recorded_consent_allows_exactly_its_units(db) {
        let fx = Fx::start(db, false).await;
        let c = fx.grant(&[SCHOOL, NURSE]).await;
        assert_eq!(c.state, ConsentState::Active as i32);
        assert_eq!(c.revision, format!("{}/revisions/1", c.name));
        let ok = fx.check(SCHOOL).await;
        assert!(ok.allowed);
        assert_eq!(ok.revision, c.revision, "the answer cites the revision that allows it");
        let no = fx.check(PPT).await;
        assert!(!no.allowed);
        assert_eq!(no.denial_reason, DenialReason::UnitNotCovered as i32);
        let other = fx.consent.clone().check_access(fx.req(
            CheckAccessRequest { subject: fx.f.youth.clone(), unit: SCHOOL.into(), purpose: ConsentPurpose::RelayLogCollaboration as i32 },
            service(),
        )).await.unwrap().into_inner();
        assert_eq!(other.denial_reason, DenialReason::NoConsent as i32);
        // Families and outsiders do not ask CheckAccess.
        expect_code(fx.consent.clone().check_access(fx.req(
            CheckAccessRequest { subject: fx.f.child.clone(), unit: SCHOOL.into(), purpose: 1 }, fx.mother(),
        )).await, Code::PermissionDenied);
    }

    async fn a_batch_answers_every_question_as_check_access_does(db) {
        let fx = Fx::start(db, false).await;
        fx.grant(&[SCHOOL, NURSE]).await;
        let q = |subject: &str, unit: &str| CheckAccessRequest {
            subject: subject.into(),
            unit: unit.into(),
            purpose: ConsentPurpose::RelayLogCollaboration as i32,
        };
        let asked = vec![q(&fx.f.child, SCHOOL), q(&fx.f.child, PPT), q(&fx.f.youth, SCHOOL), q(&fx.f.child, NURSE)];
        let batch = fx.consent.clone().batch_check_access(fx.req(
            BatchCheckAccessRequest { requests: asked.clone() },
            service(),
        )).await.unwrap().into_inner().responses;
        assert_eq!(batch.len(), 4);
        for (question, answer) in asked.into_iter().zip(batch) {
            let single = fx.consent.clone().check_access(fx.req(question, service())).await.unwrap().into_inner();
            assert_eq!(answer, single);
        }
        // Questions about two municipalities, or malformed ones, name the field.
        let s = expect_code(fx.consent.clone().batch_check_access(fx.req(
            BatchCheckAccessRequest { requests: vec![q(&fx.f.child, SCHOOL), q("tenants/4299/persons/x", "tenants/4299/units/y")] },
            service(),
        )).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["requests[1].subject"]);
        let s = expect_code(fx.consent.clone().batch_check_access(fx.req(
            BatchCheckAccessRequest { requests: vec![q(&fx.f.child, "units/school")] },
            service(),
        )).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["requests[0].unit"]);
        expect_code(fx.consent.clone().batch_check_access(fx.req(
            BatchCheckAccessRequest { requests: vec![q(&fx.f.child, SCHOOL)] },
            fx.mother(),
        )).await, Code::PermissionDenied);
        let empty = fx.consent.clone().batch_check_access(fx.req(BatchCheckAccessRequest::default(), service())).await.unwrap();
        assert!(empty.into_inner().responses.is_empty());
    }

    async fn policy_refusals_name_what_is_missing_and_write_nothing(db) {
        let fx = Fx::start(db, true).await;
        let mut c = fx.consent.clone();
        // This municipality requires both guardians.
        let s = expect_code(
            c.create_consent(fx.req(new_consent(&fx.f.child, vec![guardian(&fx.f.mother)], &[SCHOOL]), teacher())).await,
            Code::FailedPrecondition,
        );
        assert_eq!(precondition_subjects(&s), [("GUARDIAN_CONSENT_MISSING".to_string(), fx.f.father.clone())]);
        // A 17-year-old must consent too.
        let s = expect_code(
            c.create_consent(fx.req(new_consent(&fx.f.youth, vec![guardian(&fx.f.youth_mother)], &[SCHOOL]), teacher())).await,
            Code::FailedPrecondition,
        );
        assert_eq!(precondition_subjects(&s), [("SUBJECT_CONSENT_MISSING".to_string(), fx.f.youth.clone())]);
        // An 8-year-old cannot be the sole grantor.
        let s = expect_code(
            c.create_consent(fx.req(new_consent(&fx.f.child, vec![subject_grantor(&fx.f.child)], &[SCHOOL]), teacher())).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&s), ["consent.grantors[0].role"]);
        // A guardian without parental responsibility is not a grantor.
        let s = expect_code(
            c.create_consent(fx.req(new_consent(&fx.f.child, vec![guardian(&fx.f.stranger)], &[SCHOOL]), teacher())).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&s), ["consent.grantors[0].person"]);
        // Unknown unit; empty unit list; valid_until before valid_from.
        let both = vec![guardian(&fx.f.mother), guardian(&fx.f.father)];
        let s = expect_code(
            c.create_consent(fx.req(new_consent(&fx.f.child, both.clone(), &[SCHOOL, "tenants/4201/units/nowhere"]), teacher())).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&s), ["consent.covered_units[1]"]);
        let s = expect_code(c.create_consent(fx.req(new_consent(&fx.f.child, both.clone(), &[]), teacher())).await, Code::InvalidArgument);
        assert!(violated_fields(&s).contains(&"consent.covered_units".to_string()));
        let mut bad_dates = new_consent(&fx.f.child, both.clone(), &[SCHOOL]);
        let cons = bad_dates.consent.as_mut().unwrap();
        cons.valid_from = Some(prost_types::Timestamp { seconds: 2_000_000_000, nanos: 0 });
        cons.valid_until = Some(prost_types::Timestamp { seconds: 1_900_000_000, nanos: 0 });
        let s = expect_code(c.create_consent(fx.req(bad_dates, teacher())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["consent.valid_until"]);
        // Nothing was written by any of them...
        let list = c.list_consents(fx.req(ListConsentsRequest { parent: format!("tenants/{T}"), ..Default::default() }, service())).await.unwrap();
        assert!(list.into_inner().consents.is_empty());
        assert!(outbox_types(&fx.consent_db).await.is_empty());
        // ...and with both guardians it is recorded.
        c.create_consent(fx.req(new_consent(&fx.f.child, both, &[SCHOOL]), teacher())).await.unwrap();
        // The youth and their guardian together.
        c.create_consent(fx.req(new_consent(&fx.f.youth, vec![guardian(&fx.f.youth_mother), subject_grantor(&fx.f.youth)], &[SCHOOL]), teacher())).await.unwrap();
    }

    async fn unit_changes_are_revisions_and_the_history_is_listable(db) {
        let fx = Fx::start(db, false).await;
        let mut c = fx.consent.clone();
        let granted = fx.grant(&[SCHOOL, NURSE]).await;
        let update = |units: &[&str], etag: &str, method: Option<ConsentMethod>| UpdateConsentRequest {
            consent: Some(Consent {
                name: granted.name.clone(),
                covered_units: units.iter().map(|u| u.to_string()).collect(),
                etag: etag.into(),
                method,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["covered_units".into()] }),
        };
        // Adding PPT needs a record of the new consent.
        let s = expect_code(c.update_consent(fx.req(update(&[SCHOOL, NURSE, PPT], &granted.etag, None), teacher())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["consent.method"]);
        let added = c.update_consent(fx.req(update(&[SCHOOL, NURSE, PPT], &granted.etag, form()), teacher())).await.unwrap().into_inner();
        assert!(added.revision.ends_with("/revisions/2"));
        assert!(fx.check(PPT).await.allowed);
        // A stale etag loses.
        expect_code(c.update_consent(fx.req(update(&[SCHOOL], &granted.etag, None), teacher())).await, Code::Aborted);
        // The mother removes the nurse: from now on the nurse may not act.
        let removed = c.update_consent(fx.req(update(&[SCHOOL, PPT], &added.etag, None), fx.mother())).await.unwrap().into_inner();
        assert!(removed.revision.ends_with("/revisions/3"));
        assert_eq!(fx.check(NURSE).await.denial_reason, DenialReason::UnitNotCovered as i32);
        let revs = c.list_consent_revisions(fx.req(ListConsentRevisionsRequest { parent: granted.name.clone(), ..Default::default() }, fx.mother())).await.unwrap().into_inner().revisions;
        let kinds: Vec<i32> = revs.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [RevisionKind::Granted as i32, RevisionKind::UnitsChanged as i32, RevisionKind::UnitsChanged as i32]);
        assert_eq!(revs[0].covered_units, [NURSE, SCHOOL]);
        assert_eq!(revs[2].covered_units, [PPT, SCHOOL]);
        assert_eq!(revs[2].actor, "guardian:mother");
        let first = c.get_consent_revision(fx.req(GetConsentRevisionRequest { name: revs[0].name.clone() }, teacher())).await.unwrap().into_inner();
        assert_eq!(first.method, "signed_form");
    }

    async fn only_those_involved_see_a_consent(db) {
        let fx = Fx::start(db, false).await;
        let mut c = fx.consent.clone();
        let granted = fx.grant(&[SCHOOL]).await;
        let get = || GetConsentRequest { name: granted.name.clone() };
        c.get_consent(fx.req(get(), teacher())).await.unwrap();
        c.get_consent(fx.req(get(), fx.mother())).await.unwrap();
        c.get_consent(fx.req(get(), personas::guardian("father", T, &fx.f.father))).await.unwrap();
        // Not covered, not a guardian with parental responsibility: it does not exist for them.
        expect_code(c.get_consent(fx.req(get(), ppt_worker())).await, Code::NotFound);
        expect_code(c.get_consent(fx.req(get(), personas::guardian("s", T, &fx.f.stranger))).await, Code::NotFound);
        // Guardians list their child's consents; not someone else's child.
        let mine = c.list_consents(fx.req(ListConsentsRequest { parent: format!("tenants/{T}"), subject: fx.f.child.clone(), ..Default::default() }, fx.mother())).await.unwrap();
        assert_eq!(mine.into_inner().consents.len(), 1);
        let other = personas::guardian("ym", T, &fx.f.youth_mother);
        expect_code(c.list_consents(fx.req(ListConsentsRequest { parent: format!("tenants/{T}"), subject: fx.f.child.clone(), ..Default::default() }, other)).await, Code::InvalidArgument);
        // Staff listing sees only consents covering their units.
        let ppt_list = c.list_consents(fx.req(ListConsentsRequest { parent: format!("tenants/{T}"), ..Default::default() }, ppt_worker())).await.unwrap();
        assert!(ppt_list.into_inner().consents.is_empty());
    }

    async fn after_a_withdrawal_returns_no_removed_unit_is_allowed(db) {
        let fx = Arc::new(Fx::start(db, false).await);
        let granted = fx.grant(&[SCHOOL, NURSE, PPT]).await;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut readers = Vec::new();
        for unit in [SCHOOL, NURSE, PPT] {
            for _ in 0..4 {
                let (fx, stop, calls) = (fx.clone(), stop.clone(), calls.clone());
                readers.push(tokio::spawn(async move {
                    let mut seen = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let allowed = fx.check(unit).await.allowed;
                        seen.push((started, allowed));
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                    seen
                }));
            }
        }
        // Wait (by count, not by time) until every reader is busy.
        eventually("the readers made 48 calls", || async { calls.load(Ordering::Relaxed) >= 48 }).await;
        let withdrawn = fx.consent.clone().withdraw_consent(fx.req(
            WithdrawConsentRequest { name: granted.name.clone(), reason: "we manage".into(), etag: String::new() },
            fx.mother(),
        )).await.unwrap().into_inner();
        let returned = Instant::now();
        let at_withdrawal = calls.load(Ordering::Relaxed);
        assert_eq!(withdrawn.state, ConsentState::Withdrawn as i32);
        eventually("the readers made 48 more calls", || async {
            calls.load(Ordering::Relaxed) >= at_withdrawal + 48
        })
        .await;
        stop.store(true, Ordering::Relaxed);
        let (mut before, mut after, mut leaked) = (0, 0, 0);
        for r in readers {
            for (started, allowed) in r.await.unwrap() {
                if started > returned {
                    after += 1;
                    if allowed {
                        leaked += 1;
                    }
                } else if allowed {
                    before += 1;
                }
            }
        }
        assert!(before > 0, "readers were allowed before the withdrawal");
        assert!(after > 0, "readers kept reading after the withdrawal");
        assert_eq!(leaked, 0, "{leaked} of {after} reads after the withdrawal were allowed");
        assert_eq!(fx.check(SCHOOL).await.denial_reason, DenialReason::Withdrawn as i32);
        // The guardians still see it, now withdrawn, with the reason.
        let seen = fx.consent.clone().get_consent(fx.req(GetConsentRequest { name: granted.name.clone() }, fx.mother())).await.unwrap().into_inner();
        assert_eq!(seen.withdraw_reason, "we manage");
        // A withdrawn consent cannot be changed or withdrawn again.
        expect_code(fx.consent.clone().withdraw_consent(fx.req(
            WithdrawConsentRequest { name: granted.name.clone(), ..Default::default() }, fx.mother(),
        )).await, Code::FailedPrecondition);
        assert_eq!(outbox_types(&fx.consent_db).await.last().unwrap(), "bti.consent.v1.ConsentWithdrawn");
    }

    async fn expiry_stops_coverage_at_valid_until_and_is_recorded(db) {
        let fx = Fx::start(db, false).await;
        let mut req = new_consent(&fx.f.child, vec![guardian(&fx.f.mother)], &[SCHOOL]);
        use bti_runtime::clock::Clock;
        let until = fx.clock.now() + chrono::Duration::days(90);
        req.consent.as_mut().unwrap().valid_until = Some(bti_runtime::api::timestamp(until));
        let granted = fx.consent.clone().create_consent(fx.req(req, teacher())).await.unwrap().into_inner();
        assert!(fx.check(SCHOOL).await.allowed);
        fx.clock.set(until - chrono::Duration::microseconds(1));
        assert!(fx.check(SCHOOL).await.allowed, "covered until the last instant");
        assert_eq!(fx.api.expire_due().await.unwrap(), 0, "nothing to record before valid_until");
        fx.clock.set(until);
        // Refused at the valid-until instant, before any sweep ran.
        assert_eq!(fx.check(SCHOOL).await.denial_reason, DenialReason::Expired as i32);
        assert_eq!(fx.api.expire_due().await.unwrap(), 1);
        assert_eq!(fx.api.expire_due().await.unwrap(), 0, "a second sweep finds nothing");
        let now = fx.consent.clone().get_consent(fx.req(GetConsentRequest { name: granted.name.clone() }, teacher())).await.unwrap().into_inner();
        assert_eq!(now.state, ConsentState::Expired as i32);
        assert!(now.revision.ends_with("/revisions/2"));
        assert_eq!(outbox_types(&fx.consent_db).await.last().unwrap(), "bti.consent.v1.ConsentExpired");
    }

    async fn years_outside_1900_to_2200_and_control_characters_are_refused(db) {
        let fx = Fx::start(db, false).await;
        let mut c = fx.consent.clone();
        let mut far = new_consent(&fx.f.child, vec![guardian(&fx.f.mother)], &[SCHOOL]);
        // 1 January 10000.
        far.consent.as_mut().unwrap().valid_until = Some(prost_types::Timestamp { seconds: 253_402_300_800, nanos: 0 });
        let s = expect_code(c.create_consent(fx.req(far, teacher())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["consent.valid_until"]);
        let mut form_with_nul = new_consent(&fx.f.child, vec![guardian(&fx.f.mother)], &[SCHOOL]);
        form_with_nul.consent.as_mut().unwrap().method = Some(ConsentMethod {
            method: Some(Method::SignedForm(SignedForm { document_reference: "arkiv\u{0}1".into(), content_sha256: "a".repeat(64) })),
        });
        let s = expect_code(c.create_consent(fx.req(form_with_nul, teacher())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["consent.method.signed_form.document_reference"]);
        assert!(outbox_types(&fx.consent_db).await.is_empty(), "nothing was written");
        let granted = fx.grant(&[SCHOOL]).await;
        let s = expect_code(c.withdraw_consent(fx.req(
            WithdrawConsentRequest { name: granted.name.clone(), reason: "nei\u{7}".into(), etag: String::new() },
            fx.mother(),
        )).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["reason"]);
        assert!(fx.check(SCHOOL).await.allowed, "a refused withdrawal changes nothing");
    }

    async fn a_guardian_lets_a_professional_represent_them(db) {
        let fx = Fx::start(db, false).await;
        let mut c = fx.consent.clone();
        let rep = |guardian: &str| CreateRepresentationRequest {
            parent: format!("tenants/{T}"),
            representation: Some(Representation {
                guardian: guardian.into(),
                subject: fx.f.child.clone(),
                representative: "nurse-kari".into(),
                representative_unit: NURSE.into(),
                method: form(),
                ..Default::default()
            }),
            request_id: String::new(),
        };
        let r = c.create_representation(fx.req(rep(&fx.f.mother), fx.mother())).await.unwrap().into_inner();
        // Someone without parental responsibility cannot.
        let s = expect_code(c.create_representation(fx.req(rep(&fx.f.stranger), teacher())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["representation.guardian"]);
        // A guardian cannot record it for another guardian.
        expect_code(c.create_representation(fx.req(rep(&fx.f.father), fx.mother())).await, Code::PermissionDenied);
        let revoked = c.revoke_representation(fx.req(RevokeRepresentationRequest { name: r.name.clone(), etag: r.etag.clone() }, fx.mother())).await.unwrap().into_inner();
        assert!(revoked.revoked);
        let listed = c.list_representations(fx.req(ListRepresentationsRequest { parent: format!("tenants/{T}"), subject: fx.f.child.clone(), ..Default::default() }, teacher())).await.unwrap();
        assert_eq!(listed.into_inner().representations.len(), 1);
    }
}
