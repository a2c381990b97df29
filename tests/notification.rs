//! The notification service with the real directory, consent and relay log
//! on one server and a real SMTP server (Python's aiosmtpd): a baton offer
//! queued for a nurse is not sent once the child's consent no longer covers
//! the nurse's unit, while the guardian's notice of a new entry arrives, and
//! says nothing of the child or the case. The clock is injected; the test
//! runs the e-mail worker's rounds itself.

use bti_proto::caselog::case_log_service_client::CaseLogServiceClient;
use bti_proto::caselog::{
    CaseLog, ConcernArea, ConcernDegree, CreateCaseLogRequest, CreateEntryRequest,
    CreateHandoverRequest, Entry, EntryKind, Handover, Level,
};
use bti_proto::consent::consent_method::Method;
use bti_proto::consent::consent_service_client::ConsentServiceClient;
use bti_proto::consent::{
    Consent, ConsentMethod, ConsentPurpose, CreateConsentRequest, Grantor, GrantorRole,
    OralConsent, UpdateConsentRequest,
};
use bti_proto::directory::directory_service_client::DirectoryServiceClient;
use bti_proto::directory::{
    CreateGuardianshipRequest, CreateMemberRequest, CreatePersonRequest, CreateTenantRequest,
    CreateUnitRequest, Guardianship, Member, MemberRole, Person, PersonKind, Tenant, Unit,
    UnitType,
};
use bti_proto::notification::notification_service_client::NotificationServiceClient;
use bti_proto::notification::{
    ListNotificationsRequest, NotificationKind, NotificationPreferences,
    UpdateNotificationPreferencesRequest,
};
use bti_runtime::auth::{Claims, Role, personas};
use bti_runtime::clock::ManualClock;
use bti_runtime::testing::{Smtpd, TempDir, TestHost, TestHostOptions, eventually, parse_email};
use chrono::{Duration, NaiveDate, TimeZone, Utc};

const T: &str = "4211";
const SCHOOL: &str = "tenants/4211/units/school";
const NURSE: &str = "tenants/4211/units/nurse";
const CONCERN: &str = "Søv dårleg og et lite";
const ENTRY: &str = "Samtale med mor om soving";
const NAMES: [&str; 4] = ["Ingrid", "Haugland", "Solveig", "Tveit"];

fn kari() -> Claims {
    personas::employee("kari", T, &[SCHOOL], &[Role::Employee])
}
fn nils() -> Claims {
    personas::employee("nils", T, &[NURSE], &[Role::Employee])
}

fn req<M>(server: &TestHost, m: M, c: Claims) -> tonic::Request<M> {
    server.request(m, c)
}

bti_runtime::backend_tests! {
    async fn what_was_queued_for_a_unit_consent_no_longer_covers_never_reaches_smtp(db) {
        let (consent_db, caselog_db, notification_db) =
            (db.another().await, db.another().await, db.another().await);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let maildir = TempDir::new("bti-maildir");
        let mailbox = maildir.path().join("box");
        let smtpd = Smtpd::start(port, &mailbox).await;
        // 11:00 in Oslo: inside the recipients' quiet hours (10–14), so the
        // e-mails wait in the queue.
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap());
        let mut options = TestHostOptions { clock: clock.shared(), ..Default::default() };
        options.settings.service.insert(
            "notification".into(),
            serde_json::json!({
                "smtp": {"host": "127.0.0.1", "port": port, "tls": "none"},
                "sender": "BTI <ikkje-svar@bti.example>",
                "delivery_every_ms": 3_600_000,
                "link_base_url": "https://bti.example",
            }),
        );
        let mut notifier = None;
        let server = TestHost::start_with(options, |host| {
            let (service, app) =
                bti_notification::build(&host.wiring("notification", notification_db.db.clone()))?;
            notifier = Some(app);
            Ok(vec![
                bti_directory::build(&host.wiring("directory", db.db.clone()))?.0,
                bti_consent::build(&host.wiring("consent", consent_db.db.clone()))?.0,
                bti_caselog::build(&host.wiring("caselog", caselog_db.db.clone()))?.0,
                service,
            ])
        })
        .await;
        let notifier = notifier.expect("built");
        let ch = server.channel.clone();

        // The municipality, its school and health station, their staff, a
        // child and her mother.
        let op = personas::operator();
        let mut d = DirectoryServiceClient::new(ch.clone());
        let tenant = Tenant { display_name: "Lillesand".into(), ..Default::default() };
        d.create_tenant(req(&server, CreateTenantRequest { tenant_id: T.into(), tenant: Some(tenant), ..Default::default() }, op.clone())).await.unwrap();
        for (id, ty) in [("school", UnitType::School), ("nurse", UnitType::SchoolHealthService)] {
            let unit = Unit { display_name: id.into(), r#type: ty as i32, ..Default::default() };
            let r = CreateUnitRequest { parent: format!("tenants/{T}"), unit_id: id.into(), unit: Some(unit), ..Default::default() };
            d.create_unit(req(&server, r, op.clone())).await.unwrap();
        }
        for (unit, subject) in [(SCHOOL, "kari"), (NURSE, "nils")] {
            let member = Member { subject: subject.into(), display_name: subject.into(), role: MemberRole::Employee as i32, ..Default::default() };
            d.create_member(req(&server, CreateMemberRequest { parent: unit.into(), member: Some(member), ..Default::default() }, op.clone())).await.unwrap();
        }
        let mut people = Vec::new();
        let mut national_ids = Vec::new();
        for (i, (kind, age)) in [(PersonKind::Child, 10), (PersonKind::Guardian, 40)].into_iter().enumerate() {
            let born = NaiveDate::from_ymd_opt(2026 - age, 5, 7).unwrap();
            let nid = bti_runtime::ids::first_national_id(born, false, true);
            national_ids.push(nid.clone());
            let person = Person {
                kind: kind as i32,
                national_id: nid,
                given_name: NAMES[i * 2].into(),
                family_name: NAMES[i * 2 + 1].into(),
                ..Default::default()
            };
            let r = CreatePersonRequest { parent: format!("tenants/{T}"), person: Some(person), ..Default::default() };
            people.push(d.create_person(req(&server, r, op.clone())).await.unwrap().into_inner().name);
        }
        let (child, mother) = (people[0].clone(), people[1].clone());
        let gs = Guardianship { guardian: mother.clone(), parental_responsibility: true, ..Default::default() };
        d.create_guardianship(req(&server, CreateGuardianshipRequest { parent: child.clone(), guardianship: Some(gs), ..Default::default() }, op.clone())).await.unwrap();
        let mother_claims = personas::guardian("mor", T, &mother);

        // Her consent covers the school and the health station.
        let mut consents = ConsentServiceClient::new(ch.clone());
        let consent = Consent {
            subject: child.clone(),
            purpose: ConsentPurpose::RelayLogCollaboration as i32,
            grantors: vec![Grantor { person: mother.clone(), role: GrantorRole::Guardian as i32 }],
            covered_units: vec![SCHOOL.into(), NURSE.into()],
            method: Some(ConsentMethod { method: Some(Method::Oral(OralConsent::default())) }),
            ..Default::default()
        };
        let consent = consents
            .create_consent(req(&server, CreateConsentRequest { parent: format!("tenants/{T}"), consent: Some(consent), request_id: String::new() }, kari()))
            .await
            .unwrap()
            .into_inner();

        // Addresses, and quiet hours that hold e-mail back for now.
        let mut inbox = NotificationServiceClient::new(ch.clone());
        let t = |h| Some(bti_proto::google::r#type::TimeOfDay { hours: h, ..Default::default() });
        for (who, address) in [(nils(), "nils@example.org"), (mother_claims.clone(), "mor@example.org")] {
            let prefs = NotificationPreferences {
                name: format!("tenants/{T}/notificationPreferences/me"),
                email_address: address.into(),
                quiet_start_time: t(10),
                quiet_end_time: t(14),
                ..Default::default()
            };
            let paths = ["email_address", "quiet_start_time", "quiet_end_time"].map(String::from).to_vec();
            let r = UpdateNotificationPreferencesRequest { notification_preferences: Some(prefs), update_mask: Some(prost_types::FieldMask { paths }) };
            inbox.update_notification_preferences(req(&server, r, who)).await.unwrap();
        }

        // Kari opens the log, writes an entry and offers the baton to Nils.
        let mut logs = CaseLogServiceClient::new(ch.clone());
        let log = CaseLog {
            subject: child.clone(),
            unit: SCHOOL.into(),
            concern: CONCERN.into(),
            concern_degree: ConcernDegree::Unease as i32,
            concern_area: ConcernArea::Development as i32,
            level: Level::Level1 as i32,
            ..Default::default()
        };
        let log = logs
            .create_case_log(req(&server, CreateCaseLogRequest { parent: format!("tenants/{T}"), case_log: Some(log), request_id: String::new() }, kari()))
            .await
            .unwrap()
            .into_inner();
        let entry = Entry { kind: EntryKind::GuardianContact as i32, text: ENTRY.into(), ..Default::default() };
        let entry = logs
            .create_entry(req(&server, CreateEntryRequest { parent: log.name.clone(), entry: Some(entry), request_id: String::new() }, kari()))
            .await
            .unwrap()
            .into_inner();
        let handover = Handover { to_professional: "nils".into(), to_unit: NURSE.into(), message: ENTRY.into(), ..Default::default() };
        logs.create_handover(req(&server, CreateHandoverRequest { parent: log.name.clone(), handover: Some(handover), request_id: String::new() }, kari()))
            .await
            .unwrap();
        let list = |who: Claims| {
            let mut c = inbox.clone();
            let r = req(&server, ListNotificationsRequest { parent: format!("tenants/{T}"), ..Default::default() }, who);
            async move { c.list_notifications(r).await.unwrap().into_inner().notifications }
        };
        eventually("the offer is in Nils's inbox", || async {
            list(nils()).await.iter().any(|n| n.kind == NotificationKind::HandoverOffered as i32)
        })
        .await;
        eventually("the entry's notice is in the mother's inbox", || async {
            list(mother_claims.clone()).await.iter().any(|n| n.kind == NotificationKind::EntryAdded as i32)
        })
        .await;

        // The mother takes the health station off the consent.
        let change = UpdateConsentRequest {
            consent: Some(Consent { name: consent.name.clone(), etag: consent.etag.clone(), covered_units: vec![SCHOOL.into()], ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["covered_units".into()] }),
        };
        consents.update_consent(req(&server, change, mother_claims.clone())).await.unwrap();
        assert!(list(nils()).await.is_empty(), "the offer no longer shows to Nils");

        // Past the quiet hours, the worker's round: only the mother's notice.
        clock.advance(Duration::hours(4));
        assert_eq!(notifier.deliver_due().await.unwrap(), 1);
        assert_eq!(notifier.deliver_due().await.unwrap(), 0, "and nothing after");
        eventually("the message is in the mailbox", || async { !smtpd.received().is_empty() }).await;
        let got = smtpd.received();
        assert_eq!(got.len(), 1, "nothing for Nils");
        // Stopped by the access check itself, not settled by something else.
        let all = [bti_notification::domain::State::Unread, bti_notification::domain::State::Archived];
        let mine = notifier.store().list_notifications(T, "subject:nils", &all, "", 10).await.unwrap();
        assert_eq!(mine.len(), 1);
        let queued = notifier.store().list_deliveries(T, &mine[0].id).await.unwrap();
        assert_eq!((queued[0].state.as_str(), queued[0].last_error.as_str()), ("CANCELLED", "no access"));
        let (_, to, text) = parse_email(&got[0]);
        assert_eq!(to, "mor@example.org");
        assert!(text.contains(&format!("https://bti.example/{}", entry.name)), "{text}");
        let raw = String::from_utf8_lossy(&std::fs::read(&got[0]).unwrap()).to_string();
        for secret in national_ids.iter().map(String::as_str).chain(NAMES).chain([CONCERN, ENTRY, child.as_str(), "nurse", "school"]) {
            assert!(!raw.contains(secret) && !text.contains(secret), "{secret:?} in the e-mail");
        }
        drop(server);
    }
}
