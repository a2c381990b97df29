//! The scheduling service through real gRPC with the real directory,
//! consent and relay log services on one server, on both backends, with an
//! injected clock: Sauda's cadence, consent deciding attendance, a guardian
//! answering and a representative standing in, the last slot taken once,
//! every deadline kind derived, reminded, overdue and escalated, a closed
//! log's bookings cancelled, and calendars without a name or id in them,
//! parsed by Python's `icalendar`.

use bti_proto::caselog::case_log_service_client::CaseLogServiceClient;
use bti_proto::caselog::{
    AcceptHandoverRequest, CaseLog, CloseCaseLogRequest, CloseReason, ConcernArea, ConcernDegree,
    CreateCaseLogRequest, CreateEntryRequest, CreateEvaluationRequest, CreateHandoverRequest,
    CreateMeasureRequest, Entry, EntryKind, Evaluation, EvaluationDecision, Handover, Level,
    Measure,
};
use bti_proto::consent::consent_method::Method;
use bti_proto::consent::consent_service_client::ConsentServiceClient;
use bti_proto::consent::{
    Consent, ConsentMethod, ConsentPurpose, CreateConsentRequest, CreateRepresentationRequest,
    Grantor, GrantorRole, OralConsent, Representation, UpdateConsentRequest,
};
use bti_proto::directory::directory_service_client::DirectoryServiceClient;
use bti_proto::directory::{
    CreateGuardianshipRequest, CreateMemberRequest, CreatePersonRequest, CreateTenantRequest,
    CreateUnitRequest, DeleteGuardianshipRequest, Guardianship, Member, MemberRole, Person,
    PersonKind, Tenant, Unit, UnitType,
};
use bti_proto::notification::notification_service_client::NotificationServiceClient;
use bti_proto::notification::{NotificationPreferences, UpdateNotificationPreferencesRequest};
use bti_proto::scheduling::scheduling_service_client::SchedulingServiceClient;
use bti_proto::scheduling::*;
use bti_runtime::auth::{Claims, Role, personas};
use bti_runtime::clock::{Clock, ManualClock};
use bti_runtime::testing::{
    TestDb, TestHost, TestHostOptions, eventually, expect_code, outbox_types, violated_fields,
};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use tonic::Code;
use tonic::transport::Channel;

const T: &str = "1135";
const SCHOOL: &str = "tenants/1135/units/school";
const NURSE: &str = "tenants/1135/units/nurse";
const PPT: &str = "tenants/1135/units/ppt";
const CW: &str = "tenants/1135/units/cw";
const CONCERN: &str = "Trekkjer seg frå venner i friminutta";
const AGENDA: &str = "Korleis har Ingrid det heime";
const NAMES: [&str; 4] = ["Ingrid", "Haugland", "Solveig", "Tveit"];

fn kari() -> Claims {
    personas::employee("kari", T, &[SCHOOL], &[Role::Employee])
}
fn ola() -> Claims {
    personas::employee("ola", T, &[SCHOOL], &[Role::Employee])
}
fn nils() -> Claims {
    personas::employee("nils", T, &[NURSE], &[Role::Employee])
}
fn cwworker() -> Claims {
    personas::employee("berit", T, &[CW], &[Role::Employee])
}
fn rektor() -> Claims {
    personas::employee("rektor", T, &[SCHOOL], &[Role::UnitLeader])
}

/// When the fixture's clock starts: before Sauda's first autumn meeting.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 8, 17, 8, 0, 0).unwrap()
}

struct Fx {
    server: TestHost,
    s: SchedulingServiceClient<Channel>,
    log: CaseLogServiceClient<Channel>,
    consent: ConsentServiceClient<Channel>,
    clock: ManualClock,
    app: bti_scheduling::App,
    child: String,
    child2: String,
    mother: String,
    mother2: String,
    national_ids: Vec<String>,
    child_consent: Consent,
    db: TestDb,
    mail: bti_runtime::testing::TempDir,
    _dbs: Vec<TestDb>,
}

fn dur(mins: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: mins * 60,
        nanos: 0,
    })
}

fn date(d: NaiveDate) -> Option<bti_proto::google::r#type::Date> {
    Some(bti_proto::google::r#type::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    })
}

impl Fx {
    async fn start(db: TestDb) -> Fx {
        let (consent_db, caselog_db, scheduling_db) =
            (db.another().await, db.another().await, db.another().await);
        let clock = ManualClock::new(start());
        let mut app = None;
        // Notification too, writing e-mails as files: meeting e-mails carry
        // the recipient's invitation.
        let notification_db = db.another().await;
        let mail = bti_runtime::testing::TempDir::new("bti-mail");
        let mut options = TestHostOptions {
            clock: clock.shared(),
            ..Default::default()
        };
        options.settings.service.insert(
            "notification".into(),
            serde_json::json!({"eml_dir": mail.path(), "delivery_every_ms": 50}),
        );
        let server = TestHost::start_with(options, |host| {
            let (scheduling, a) =
                bti_scheduling::build(&host.wiring("scheduling", scheduling_db.db.clone()))?;
            app = Some(a);
            Ok(vec![
                bti_directory::build(&host.wiring("directory", db.db.clone()))?.0,
                bti_consent::build(&host.wiring("consent", consent_db.db.clone()))?.0,
                bti_caselog::build(&host.wiring("caselog", caselog_db.db.clone()))?.0,
                scheduling,
                bti_notification::build(&host.wiring("notification", notification_db.db.clone()))?
                    .0,
            ])
        })
        .await;
        let ch = server.channel.clone();
        let mut fx = Fx {
            s: SchedulingServiceClient::new(ch.clone()),
            log: CaseLogServiceClient::new(ch.clone()),
            consent: ConsentServiceClient::new(ch),
            server,
            clock,
            app: app.expect("built"),
            child: String::new(),
            child2: String::new(),
            mother: String::new(),
            mother2: String::new(),
            national_ids: Vec::new(),
            child_consent: Consent::default(),
            db: scheduling_db,
            mail,
            _dbs: vec![db, consent_db, caselog_db, notification_db],
        };
        fx.seed().await;
        fx
    }

    fn req<M>(&self, m: M, c: Claims) -> tonic::Request<M> {
        self.server.request(m, c)
    }

    async fn seed(&mut self) {
        let op = personas::operator();
        let mut d = DirectoryServiceClient::new(self.server.channel.clone());
        let tenant = Tenant {
            display_name: "Sauda".into(),
            ..Default::default()
        };
        d.create_tenant(self.req(
            CreateTenantRequest {
                tenant_id: T.into(),
                tenant: Some(tenant),
                ..Default::default()
            },
            op.clone(),
        ))
        .await
        .unwrap();
        for (id, name, ty) in [
            ("school", "Sauda ungdomsskule", UnitType::School),
            ("nurse", "Helsestasjonen", UnitType::SchoolHealthService),
            ("ppt", "PPT", UnitType::Ppt),
            ("cw", "Barnevernet", UnitType::ChildWelfare),
        ] {
            let unit = Unit {
                display_name: name.into(),
                r#type: ty as i32,
                ..Default::default()
            };
            d.create_unit(self.req(
                CreateUnitRequest {
                    parent: format!("tenants/{T}"),
                    unit_id: id.into(),
                    unit: Some(unit),
                    ..Default::default()
                },
                op.clone(),
            ))
            .await
            .unwrap();
        }
        for (unit, subject) in [
            (SCHOOL, "kari"),
            (SCHOOL, "ola"),
            (NURSE, "nils"),
            (CW, "berit"),
        ] {
            let member = Member {
                subject: subject.into(),
                display_name: subject.into(),
                role: MemberRole::Employee as i32,
                ..Default::default()
            };
            d.create_member(self.req(
                CreateMemberRequest {
                    parent: unit.into(),
                    member: Some(member),
                    ..Default::default()
                },
                op.clone(),
            ))
            .await
            .unwrap();
        }
        let mut people = Vec::new();
        for (i, (kind, age)) in [
            (PersonKind::Child, 13),
            (PersonKind::Guardian, 41),
            (PersonKind::Child, 9),
            (PersonKind::Guardian, 39),
        ]
        .into_iter()
        .enumerate()
        {
            let born = NaiveDate::from_ymd_opt(2026 - age, 3, 3 + i as u32).unwrap();
            let nid = bti_runtime::ids::first_national_id(born, false, true);
            self.national_ids.push(nid.clone());
            let person = Person {
                kind: kind as i32,
                national_id: nid,
                given_name: NAMES[i % 2 * 2].into(),
                family_name: NAMES[i % 2 * 2 + 1].into(),
                ..Default::default()
            };
            let p = d
                .create_person(self.req(
                    CreatePersonRequest {
                        parent: format!("tenants/{T}"),
                        person: Some(person),
                        ..Default::default()
                    },
                    op.clone(),
                ))
                .await
                .unwrap()
                .into_inner();
            people.push(p.name);
        }
        (self.child, self.mother, self.child2, self.mother2) = (
            people[0].clone(),
            people[1].clone(),
            people[2].clone(),
            people[3].clone(),
        );
        for (kid, g) in [(&self.child, &self.mother), (&self.child2, &self.mother2)] {
            let gs = Guardianship {
                guardian: g.clone(),
                parental_responsibility: true,
                ..Default::default()
            };
            d.create_guardianship(self.req(
                CreateGuardianshipRequest {
                    parent: kid.clone(),
                    guardianship: Some(gs),
                    ..Default::default()
                },
                op.clone(),
            ))
            .await
            .unwrap();
        }
        self.child_consent = self
            .grant(
                &self.child.clone(),
                &self.mother.clone(),
                Some(start() + Duration::days(120)),
            )
            .await;
        self.grant(&self.child2.clone(), &self.mother2.clone(), None)
            .await;
    }

    async fn grant(&self, child: &str, mother: &str, until: Option<DateTime<Utc>>) -> Consent {
        let consent = Consent {
            subject: child.into(),
            purpose: ConsentPurpose::RelayLogCollaboration as i32,
            grantors: vec![Grantor {
                person: mother.into(),
                role: GrantorRole::Guardian as i32,
            }],
            covered_units: vec![SCHOOL.into(), NURSE.into(), PPT.into()],
            method: Some(ConsentMethod {
                method: Some(Method::Oral(OralConsent::default())),
            }),
            valid_until: until.map(bti_runtime::api::timestamp),
            ..Default::default()
        };
        let r = CreateConsentRequest {
            parent: format!("tenants/{T}"),
            consent: Some(consent),
            request_id: String::new(),
        };
        self.consent
            .clone()
            .create_consent(self.req(r, kari()))
            .await
            .unwrap()
            .into_inner()
    }

    /// Opens a log held by `who` and waits until scheduling knows it (its
    /// guardian-contact deadline exists).
    async fn open(&self, child: &str, who: Claims, area: ConcernArea) -> CaseLog {
        let log = CaseLog {
            subject: child.into(),
            unit: SCHOOL.into(),
            concern: CONCERN.into(),
            concern_degree: ConcernDegree::Unease as i32,
            concern_area: area as i32,
            level: Level::Level1 as i32,
            ..Default::default()
        };
        let r = CreateCaseLogRequest {
            parent: format!("tenants/{T}"),
            case_log: Some(log),
            request_id: String::new(),
        };
        let log = self
            .log
            .clone()
            .create_case_log(self.req(r, who.clone()))
            .await
            .unwrap()
            .into_inner();
        let filter = format!("case_log = \"{}\"", log.name);
        eventually("scheduling knows the log", || async {
            !self.deadlines(&filter, who.clone()).await.is_empty()
        })
        .await;
        log
    }

    async fn deadlines(&self, filter: &str, who: Claims) -> Vec<Deadline> {
        let r = ListDeadlinesRequest {
            parent: format!("tenants/{T}"),
            filter: filter.into(),
            ..Default::default()
        };
        self.s
            .clone()
            .list_deadlines(self.req(r, who))
            .await
            .unwrap()
            .into_inner()
            .deadlines
    }

    /// Sauda's first year at the school: every second month from October,
    /// five times, two hours each in 30-minute slots.
    async fn series(&self, capacity: i32) -> MeetingSeries {
        let s = MeetingSeries {
            display_name: "BTI-møte 2026/27".into(),
            time_zone: "Europe/Oslo".into(),
            first_start: "2026-10-06T13:00".into(),
            recurrence: vec!["RRULE:FREQ=MONTHLY;INTERVAL=2;BYDAY=1TU;COUNT=5".into()],
            duration: dur(120),
            slot_duration: dur(30),
            slot_capacity: capacity,
            location: "Møterom 2".into(),
            standing_units: vec![NURSE.into(), PPT.into(), CW.into()],
            ..Default::default()
        };
        let r = CreateMeetingSeriesRequest {
            parent: SCHOOL.into(),
            meeting_series: Some(s),
            request_id: String::new(),
        };
        self.s
            .clone()
            .create_meeting_series(self.req(r, rektor()))
            .await
            .unwrap()
            .into_inner()
    }

    async fn slots(&self, meeting: &str) -> Vec<Slot> {
        let r = ListSlotsRequest {
            parent: meeting.into(),
            ..Default::default()
        };
        self.s
            .clone()
            .list_slots(self.req(r, rektor()))
            .await
            .unwrap()
            .into_inner()
            .slots
    }

    async fn book(&self, slot: &str, log: &str, who: Claims) -> Result<Meeting, tonic::Status> {
        let r = BookSlotRequest {
            slot: slot.into(),
            case_log: log.into(),
            agenda: vec![AGENDA.into()],
            ..Default::default()
        };
        self.s
            .clone()
            .book_slot(self.req(r, who))
            .await
            .map(|r| r.into_inner())
    }

    async fn get(&self, name: &str, who: Claims) -> Result<Meeting, tonic::Status> {
        self.s
            .clone()
            .get_meeting(self.req(GetMeetingRequest { name: name.into() }, who))
            .await
            .map(|r| r.into_inner())
    }

    async fn invitation(&self, name: &str, who: Claims) -> MeetingInvitation {
        let r = GetMeetingInvitationRequest {
            name: name.into(),
            recipient: None,
        };
        self.s
            .clone()
            .get_meeting_invitation(self.req(r, who))
            .await
            .unwrap()
            .into_inner()
    }

    fn mother_claims(&self) -> Claims {
        personas::guardian("mor", T, &self.mother)
    }

    /// A calendar must not carry a name, national id or case text.
    fn assert_clean(&self, ics: &str) {
        for word in NAMES.iter().chain([CONCERN, AGENDA].iter()) {
            assert!(!ics.contains(word), "{word} in {ics}");
        }
        for nid in &self.national_ids {
            assert!(!ics.contains(nid.as_str()), "a national id in {ics}");
        }
        for person in [&self.child, &self.mother] {
            assert!(!ics.contains(person.as_str()), "a person resource in {ics}");
        }
    }
}

fn roles(m: &Meeting) -> Vec<(i32, String)> {
    let mut r: Vec<(i32, String)> = m
        .participants
        .iter()
        .map(|p| (p.role, format!("{}{}{}", p.unit, p.professional, p.person)))
        .collect();
    r.sort();
    r
}

/// The `text/calendar; method=...` parts of the e-mails written in `dir`,
/// decoded by Python's `email` package.
fn eml_calendars(dir: &std::path::Path) -> Vec<String> {
    let script = r#"
import email, glob, json, sys
out = []
for path in sorted(glob.glob(sys.argv[1] + "/*.eml")):
    msg = email.message_from_binary_file(open(path, 'rb'))
    for part in msg.walk():
        if part.get_content_type() == 'text/calendar' and part.get_param('method'):
            out.append(part.get_payload(decode=True).decode('utf-8'))
print(json.dumps(out))
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Parses every calendar with Python's `icalendar`, checking each has one
/// VEVENT per meeting with UID, SEQUENCE, METHOD and one attendee at most.
fn parse_with_python(calendars: &[String]) {
    let dir = bti_runtime::testing::TempDir::new("bti-ics");
    let mut paths = Vec::new();
    for (i, ics) in calendars.iter().enumerate() {
        let p = dir.path().join(format!("{i}.ics"));
        std::fs::write(&p, ics).unwrap();
        paths.push(p.display().to_string());
    }
    let script = r#"
import sys, icalendar
for path in sys.argv[1:]:
    cal = icalendar.Calendar.from_ical(open(path, 'rb').read())
    assert cal.get('METHOD') in ('REQUEST', 'CANCEL', 'PUBLISH'), cal.get('METHOD')
    events = cal.walk('VEVENT')
    assert events, path
    for e in events:
        assert str(e.get('UID')).endswith('@scheduling.bti.no')
        assert int(e.get('SEQUENCE')) >= 0
        assert e.decoded('DTEND') > e.decoded('DTSTART')
        attendees = e.get('ATTENDEE')
        assert not isinstance(attendees, list), 'one attendee per calendar'
        assert str(e.get('SUMMARY')) == 'BTI-møte'
print('parsed', len(sys.argv) - 1)
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(&paths)
        .output()
        .expect("python3 runs (CI installs the icalendar package)");
    assert!(
        out.status.success(),
        "icalendar refused a calendar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

bti_runtime::backend_tests! {
    async fn saudas_cadence_makes_exactly_those_meetings_with_their_slots(db) {
        let fx = Fx::start(db).await;
        let series = fx.series(1).await;
        assert_eq!(series.meetings.len(), 5);
        let christmas = Utc.with_ymd_and_hms(2026, 12, 24, 0, 0, 0).unwrap();
        let summer = Utc.with_ymd_and_hms(2027, 7, 1, 0, 0, 0).unwrap();
        let mut starts = Vec::new();
        for name in &series.meetings {
            let m = fx.get(name, rektor()).await.unwrap();
            let t = bti_runtime::api::check_timestamp(m.start_time.as_ref().unwrap()).unwrap();
            starts.push(t);
            assert_eq!(m.kind, MeetingKind::Bti as i32);
            assert_eq!(fx.slots(name).await.len(), 4, "two hours in 30-minute slots");
        }
        assert_eq!(starts.iter().filter(|t| **t < christmas).count(), 2, "two before Christmas");
        assert_eq!(starts.iter().filter(|t| **t >= christmas && **t < summer).count(), 3, "then three per half-year");
        // 13:00 in Sauda: 11:00 UTC in October, 12:00 UTC in December.
        assert_eq!(starts[0], Utc.with_ymd_and_hms(2026, 10, 6, 11, 0, 0).unwrap());
        assert_eq!(starts[1], Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap());
        // The standing team sees its unit meetings; the listing is the same.
        let listed = fx.s.clone().list_meetings(fx.req(ListMeetingsRequest { parent: SCHOOL.into(), filter: "kind = BTI".into(), ..Default::default() }, nils())).await.unwrap().into_inner();
        assert_eq!(listed.meetings.len(), 5);
        // ...and has each date in its calendar; a unit outside the team does not.
        let feed = fx.s.clone().get_calendar_feed(fx.req(GetCalendarFeedRequest {}, nils())).await.unwrap().into_inner();
        assert_eq!(feed.meeting_count, 5);
        let other = personas::employee("x", T, &["tenants/1135/units/elsewhere"], &[Role::Employee]);
        assert_eq!(fx.s.clone().get_calendar_feed(fx.req(GetCalendarFeedRequest {}, other)).await.unwrap().into_inner().meeting_count, 0);
        // Only the unit's leaders make series, and bad recurrences are named.
        let mut s = fx.s.clone();
        let bad = MeetingSeries { display_name: "x".into(), first_start: "2026-10-06T13:00".into(), recurrence: vec!["RRULE:FREQ=WEEKLY".into()], duration: dur(60), slot_duration: dur(90), standing_units: vec![NURSE.into()], ..Default::default() };
        let r = CreateMeetingSeriesRequest { parent: SCHOOL.into(), meeting_series: Some(bad.clone()), request_id: String::new() };
        expect_code(s.create_meeting_series(fx.req(r.clone(), kari())).await, Code::PermissionDenied);
        let st = expect_code(s.create_meeting_series(fx.req(r, rektor())).await, Code::InvalidArgument);
        let fields = violated_fields(&st);
        assert!(fields.contains(&"meeting_series.recurrence".to_string()) && fields.contains(&"meeting_series.slot_duration".to_string()), "{fields:?}");
    }

    async fn consent_decides_who_attends_and_a_withdrawn_unit_gets_its_cancellation(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child, kari(), ConcernArea::Development).await;
        let series = fx.series(1).await;
        let slot = fx.slots(&series.meetings[0]).await.remove(0);
        // Only the holder books.
        expect_code(fx.book(&slot.name, &log.name, ola()).await, Code::PermissionDenied);
        let m = fx.book(&slot.name, &log.name, kari()).await.unwrap();
        // The holder, the covered standing units (not child welfare), the
        // guardian and the 13-year-old.
        assert_eq!(roles(&m), vec![
            (ParticipantRole::Organizer as i32, format!("{SCHOOL}kari")),
            (ParticipantRole::Unit as i32, NURSE.to_string()),
            (ParticipantRole::Unit as i32, PPT.to_string()),
            (ParticipantRole::Guardian as i32, fx.mother.clone()),
            (ParticipantRole::Child as i32, fx.child.clone()),
        ]);
        assert_eq!(m.organizer, "kari");
        fx.get(&m.name, nils()).await.unwrap();
        expect_code(fx.get(&m.name, cwworker()).await, Code::NotFound);
        expect_code(fx.get(&m.name, ola()).await, Code::NotFound);
        // A unit the consent does not cover cannot be added.
        let add_cw = UpdateMeetingRequest {
            meeting: Some(Meeting { name: m.name.clone(), participants: vec![Participant { role: ParticipantRole::Unit as i32, unit: CW.into(), ..Default::default() }], ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["participants".into()] }),
        };
        let st = expect_code(fx.s.clone().update_meeting(fx.req(add_cw, kari())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&st), ["participants[0].unit"]);
        assert_eq!(fx.invitation(&m.name, nils()).await.method, "REQUEST");
        // The guardians take the health clinic out of the consent.
        let c = &fx.child_consent;
        let change = UpdateConsentRequest {
            consent: Some(Consent { name: c.name.clone(), etag: c.etag.clone(), covered_units: vec![SCHOOL.into(), PPT.into()], ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["covered_units".into()] }),
        };
        fx.consent.clone().update_consent(fx.req(change, fx.mother_claims())).await.unwrap();
        eventually("the nurse's unit leaves the meeting", || async {
            fx.get(&m.name, kari()).await.unwrap().participants.iter().all(|p| p.unit != NURSE)
        })
        .await;
        let after = fx.get(&m.name, kari()).await.unwrap();
        assert!(after.sequence > m.sequence, "the change raises the SEQUENCE");
        expect_code(fx.get(&m.name, nils()).await, Code::NotFound);
        let cancel = fx.invitation(&m.name, nils()).await;
        assert_eq!(cancel.method, "CANCEL");
        assert_eq!(cancel.uid, fx.invitation(&m.name, kari()).await.uid, "the same UID");
        assert!(cancel.ics.contains("STATUS:CANCELLED"));
        let types = outbox_types(&fx.db.db).await;
        assert!(types.contains(&"bti.scheduling.v1.MeetingChanged".to_string()), "{types:?}");
    }

    async fn a_guardian_answers_and_a_representative_stands_in(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child, kari(), ConcernArea::Development).await;
        let series = fx.series(1).await;
        let slot = fx.slots(&series.meetings[0]).await.remove(0);
        let m = fx.book(&slot.name, &log.name, kari()).await.unwrap();
        let answer = RespondToMeetingRequest { name: m.name.clone(), response: ParticipantResponse::Accepted as i32 };
        let answered = fx.s.clone().respond_to_meeting(fx.req(answer, fx.mother_claims())).await.unwrap().into_inner();
        assert_eq!(answered.sequence, m.sequence, "an answer does not rewrite the meeting");
        assert_eq!(answered.etag, m.etag);
        let mine = answered.participants.iter().find(|p| p.person == fx.mother).unwrap();
        assert_eq!(mine.response, ParticipantResponse::Accepted as i32);
        assert!(fx.invitation(&m.name, fx.mother_claims()).await.ics.contains("PARTSTAT=ACCEPTED"));
        // A stranger is not on it and cannot answer.
        let stranger = personas::guardian("x", T, &fx.mother2);
        expect_code(fx.s.clone().respond_to_meeting(fx.req(RespondToMeetingRequest { name: m.name.clone(), response: 1 }, stranger)).await, Code::NotFound);
        // The mother lets the school nurse represent her.
        let rep = Representation { guardian: fx.mother.clone(), subject: fx.child.clone(), representative: "nils".into(), representative_unit: NURSE.into(), method: Some(ConsentMethod { method: Some(Method::Oral(OralConsent::default())) }), ..Default::default() };
        let rep = fx.consent.clone().create_representation(fx.req(CreateRepresentationRequest { parent: format!("tenants/{T}"), representation: Some(rep), request_id: String::new() }, kari())).await.unwrap().into_inner();
        let with = |representation: &str| UpdateMeetingRequest {
            meeting: Some(Meeting { name: m.name.clone(), participants: vec![Participant { role: ParticipantRole::Representative as i32, person: fx.mother.clone(), representation: representation.into(), ..Default::default() }], ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["participants".into()] }),
        };
        let st = expect_code(fx.s.clone().update_meeting(fx.req(with(&format!("tenants/{T}/representations/nope")), kari())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&st), ["participants[0].representation"]);
        let updated = fx.s.clone().update_meeting(fx.req(with(&rep.name), kari())).await.unwrap().into_inner();
        let standing_in = updated.participants.iter().find(|p| p.role == ParticipantRole::Representative as i32).unwrap();
        assert_eq!((standing_in.professional.as_str(), standing_in.unit.as_str(), standing_in.person.as_str()), ("nils", NURSE, fx.mother.as_str()));
        let listed = ListMeetingsRequest { parent: SCHOOL.into(), filter: format!("case_log = \"{}\"", log.name), ..Default::default() };
        assert_eq!(fx.s.clone().list_meetings(fx.req(listed, kari())).await.unwrap().into_inner().meetings.len(), 1);
        // Every read and write is in the child's access log, for the mother.
        let rows = fx.s.clone().list_access_records(fx.req(ListAccessRecordsRequest { parent: fx.child.clone(), ..Default::default() }, fx.mother_claims())).await.unwrap().into_inner().access_records;
        let purposes: Vec<&str> = rows.iter().map(|r| r.purpose.as_str()).collect();
        for p in ["BookSlot", "RespondToMeeting", "UpdateMeeting", "GetMeetingInvitation", "ListMeetings"] {
            assert!(purposes.iter().any(|x| x.starts_with(p)), "{p} in {purposes:?}");
        }
        expect_code(fx.s.clone().list_access_records(fx.req(ListAccessRecordsRequest { parent: fx.child.clone(), ..Default::default() }, personas::guardian("x", T, &fx.mother2))).await, Code::PermissionDenied);
    }

    async fn two_holders_booking_the_last_slot_cannot_both_get_it(db) {
        let fx = Fx::start(db).await;
        let a = fx.open(&fx.child, kari(), ConcernArea::Development).await;
        let b = fx.open(&fx.child2, ola(), ConcernArea::Environment).await;
        let series = fx.series(1).await;
        let slot = fx.slots(&series.meetings[0]).await.remove(0);
        let (x, y) = tokio::join!(fx.book(&slot.name, &a.name, kari()), fx.book(&slot.name, &b.name, ola()));
        let (won, lost) = match (x, y) {
            (Ok(m), Err(s)) | (Err(s), Ok(m)) => (m, s),
            other => panic!("exactly one booking wins: {other:?}"),
        };
        assert_eq!(lost.code(), Code::FailedPrecondition);
        assert_eq!(fx.slots(&series.meetings[0]).await[0].state, SlotState::Busy as i32);
        let cancel = CancelMeetingRequest { name: won.name.clone(), etag: won.etag.clone() };
        let holder = if won.case_log == a.name { kari() } else { ola() };
        let cancelled = fx.s.clone().cancel_meeting(fx.req(cancel, holder)).await.unwrap().into_inner();
        assert_eq!(cancelled.state, MeetingState::Cancelled as i32);
        assert_eq!(fx.slots(&series.meetings[0]).await[0].state, SlotState::Free as i32, "a cancellation frees the slot");
        let guardian = if won.case_log == a.name { fx.mother_claims() } else { personas::guardian("mor2", T, &fx.mother2) };
        assert_eq!(fx.invitation(&won.name, guardian).await.method, "CANCEL");
    }

    async fn each_deadline_kind_is_derived_reminded_overdue_and_escalated(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child, kari(), ConcernArea::Environment).await;
        let filter = format!("case_log = \"{}\"", log.name);
        // Guardian contact in a week (environment), the review in half a
        // year for the unit's leaders, consent renewal before its end (all
        // derived from the log's opening and the consent's events).
        eventually("all three derived", || async {
            fx.deadlines(&filter, kari()).await.len() == 2 && fx.deadlines(&filter, rektor()).await.len() == 3
        })
        .await;
        let mine = fx.deadlines(&filter, kari()).await;
        let contact = mine.iter().find(|d| d.kind == DeadlineKind::GuardianContactEnvironment as i32).expect("guardian contact");
        assert_eq!(contact.due_time, Some(bti_runtime::api::timestamp(start() + Duration::weeks(1))));
        assert_eq!(contact.responsible, "kari");
        let renewal = mine.iter().find(|d| d.kind == DeadlineKind::ConsentRenewal as i32).expect("consent renewal");
        assert_eq!(renewal.due_time, Some(bti_runtime::api::timestamp(start() + Duration::days(120))));
        let led = fx.deadlines(&format!("{filter} AND kind = UNIT_REVIEW"), rektor()).await;
        assert_eq!(led.len(), 1);
        assert_eq!(led[0].due_time, Some(bti_runtime::api::timestamp(start().checked_add_months(chrono::Months::new(6)).unwrap())));
        assert!(fx.deadlines(&filter, ola()).await.is_empty(), "a colleague sees none of it");
        // A measure's evaluate-by date.
        let by = start().date_naive() + Duration::days(60);
        let measure = Measure { description: "Vaksen i friminutt".into(), responsible_unit: SCHOOL.into(), responsible_professional: "kari".into(), start_date: date(start().date_naive()), evaluate_by_date: date(by), ..Default::default() };
        let measure = fx.log.clone().create_measure(fx.req(CreateMeasureRequest { parent: log.name.clone(), measure: Some(measure), request_id: String::new() }, kari())).await.unwrap().into_inner();
        eventually("the measure's deadline", || async { fx.deadlines(&format!("{filter} AND kind = MEASURE_EVALUATION"), kari()).await.len() == 1 }).await;
        // The clock moves: reminded, overdue, escalated to the school's leader.
        let stage = |s: DeadlineStage| format!("{filter} AND kind = GUARDIAN_CONTACT_ENVIRONMENT AND stage = {}", s.as_str_name());
        fx.clock.set(start() + Duration::days(5));
        // Two sweeps at once (two replicas): each stage is still told once.
        let (a, b) = tokio::join!(fx.app.advance_deadlines(), fx.app.advance_deadlines());
        a.unwrap();
        b.unwrap();
        assert_eq!(fx.deadlines(&stage(DeadlineStage::Reminded), kari()).await.len(), 1);
        fx.clock.set(start() + Duration::days(7));
        fx.app.advance_deadlines().await.unwrap();
        assert_eq!(fx.deadlines(&stage(DeadlineStage::Overdue), kari()).await.len(), 1);
        fx.clock.set(start() + Duration::days(9));
        fx.app.advance_deadlines().await.unwrap();
        assert_eq!(fx.deadlines(&stage(DeadlineStage::Escalated), rektor()).await.len(), 1);
        assert_eq!(fx.app.advance_deadlines().await.unwrap(), 0, "each stage is told once");
        let types = outbox_types(&fx.db.db).await;
        for t in ["DeadlineReminderDue", "DeadlineOverdue", "DeadlineEscalated"] {
            assert_eq!(types.iter().filter(|x| x.ends_with(t)).count(), 1, "{t} once in {types:?}");
        }
        // Recording the talk with the guardians completes it.
        let talk = Entry { kind: EntryKind::GuardianContact as i32, text: "Samtale med mor".into(), ..Default::default() };
        fx.log.clone().create_entry(fx.req(CreateEntryRequest { parent: log.name.clone(), entry: Some(talk), request_id: String::new() }, kari())).await.unwrap();
        eventually("the contact completes its deadline", || async {
            fx.deadlines(&format!("{filter} AND kind = GUARDIAN_CONTACT_ENVIRONMENT AND state = COMPLETED"), kari()).await.len() == 1
        })
        .await;
        // The evaluation completes the measure's deadline.
        let eval = Evaluation { decision: EvaluationDecision::Continue as i32, child_experience: "Betre".into(), summary: "Går betre".into(), evaluation_date: date(fx.clock.now().date_naive()), ..Default::default() };
        fx.log.clone().create_evaluation(fx.req(CreateEvaluationRequest { parent: measure.name.clone(), evaluation: Some(eval), request_id: String::new() }, kari())).await.unwrap();
        eventually("the evaluation completes its deadline", || async {
            fx.deadlines(&format!("{filter} AND kind = MEASURE_EVALUATION AND state = COMPLETED"), kari()).await.len() == 1
        })
        .await;
        // A review done: the next one, half a year on.
        let review = &led[0];
        let done = fx.s.clone().complete_deadline(fx.req(CompleteDeadlineRequest { name: review.name.clone(), etag: review.etag.clone() }, rektor())).await.unwrap().into_inner();
        assert_eq!(done.state, DeadlineState::Completed as i32);
        let reviews = fx.deadlines(&format!("{filter} AND kind = UNIT_REVIEW AND state = OPEN"), rektor()).await;
        assert_eq!(reviews.len(), 1);
        assert!(reviews[0].due_time.as_ref().unwrap().seconds > review.due_time.as_ref().unwrap().seconds);
        expect_code(fx.s.clone().cancel_deadline(fx.req(CancelDeadlineRequest { name: reviews[0].name.clone(), etag: String::new() }, kari())).await, Code::NotFound);
    }

    async fn a_closed_logs_bookings_and_deadlines_are_cancelled(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child, kari(), ConcernArea::Development).await;
        let series = fx.series(2).await;
        let slot = fx.slots(&series.meetings[1]).await.remove(0);
        let m = fx.book(&slot.name, &log.name, kari()).await.unwrap();
        let close = CloseCaseLogRequest { name: log.name.clone(), reason: CloseReason::ConcernResolved as i32, note: String::new(), etag: String::new() };
        fx.log.clone().close_case_log(fx.req(close, kari())).await.unwrap();
        eventually("the booking is cancelled", || async {
            fx.get(&m.name, kari()).await.unwrap().state == MeetingState::Cancelled as i32
        })
        .await;
        let filter = format!("case_log = \"{}\" AND state = OPEN", log.name);
        eventually("its deadlines are cancelled", || async { fx.deadlines(&filter, rektor()).await.is_empty() }).await;
        assert_eq!(fx.slots(&series.meetings[1]).await[0].booked, 0);
        expect_code(fx.book(&slot.name, &log.name, kari()).await, Code::InvalidArgument);
    }

    async fn the_new_holder_organizes_the_logs_future_meetings(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child, kari(), ConcernArea::Development).await;
        let series = fx.series(1).await;
        let slot = fx.slots(&series.meetings[0]).await.remove(0);
        let m = fx.book(&slot.name, &log.name, kari()).await.unwrap();
        let offer = Handover { to_professional: "nils".into(), to_unit: NURSE.into(), message: "Kan du ta over?".into(), ..Default::default() };
        let h = fx.log.clone().create_handover(fx.req(CreateHandoverRequest { parent: log.name.clone(), handover: Some(offer), request_id: String::new() }, kari())).await.unwrap().into_inner();
        fx.log.clone().accept_handover(fx.req(AcceptHandoverRequest { name: h.name.clone(), ..Default::default() }, nils())).await.unwrap();
        eventually("the nurse organizes the meeting", || async { fx.get(&m.name, nils()).await.is_ok_and(|m| m.organizer == "nils") }).await;
        let after = fx.get(&m.name, nils()).await.unwrap();
        let kari_row = after.participants.iter().find(|p| p.professional == "kari").expect("the former holder stays on");
        assert_eq!(kari_row.role, ParticipantRole::Professional as i32);
        assert!(after.participants.iter().any(|p| p.role == ParticipantRole::Organizer as i32 && p.professional == "nils"));
        assert!(after.sequence > m.sequence);
        // Now only the new holder books the log's meetings.
        let other = fx.slots(&series.meetings[1]).await.remove(0);
        expect_code(fx.book(&other.name, &log.name, kari()).await, Code::PermissionDenied);
        fx.book(&other.name, &log.name, nils()).await.unwrap();
    }

    async fn a_case_meeting_is_called_moved_and_completed_with_its_minutes(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child, kari(), ConcernArea::Development).await;
        let at = start() + Duration::days(10);
        let meeting = |kind: MeetingKind, case_log: &str| Meeting {
            kind: kind as i32,
            case_log: case_log.into(),
            start_time: Some(bti_runtime::api::timestamp(at)),
            duration: dur(60),
            video_link: "https://meet.example.invalid/bti-123".into(),
            participants: vec![Participant { role: ParticipantRole::Unit as i32, unit: PPT.into(), ..Default::default() }],
            ..Default::default()
        };
        let create = |m: Meeting| CreateMeetingRequest { parent: SCHOOL.into(), meeting: Some(m), request_id: String::new() };
        expect_code(fx.s.clone().create_meeting(fx.req(create(meeting(MeetingKind::Evaluation, &log.name)), ola())).await, Code::PermissionDenied);
        let m = fx.s.clone().create_meeting(fx.req(create(meeting(MeetingKind::Evaluation, &log.name)), kari())).await.unwrap().into_inner();
        assert!(m.participants.iter().any(|p| p.unit == PPT), "a covered unit is added");
        // An urgent BTI meeting with slots is the unit leader's to call.
        let mut urgent = meeting(MeetingKind::Bti, "");
        urgent.slot_duration = dur(20);
        expect_code(fx.s.clone().create_meeting(fx.req(create(urgent.clone()), kari())).await, Code::PermissionDenied);
        let u = fx.s.clone().create_meeting(fx.req(create(urgent), rektor())).await.unwrap().into_inner();
        assert_eq!(fx.slots(&u.name).await.len(), 3);
        // The mother accepts; the holder moves it: a new SEQUENCE, answers asked anew.
        fx.s.clone().respond_to_meeting(fx.req(RespondToMeetingRequest { name: m.name.clone(), response: ParticipantResponse::Accepted as i32 }, fx.mother_claims())).await.unwrap();
        let later = at + Duration::days(1);
        let mv = UpdateMeetingRequest {
            meeting: Some(Meeting { name: m.name.clone(), etag: m.etag.clone(), start_time: Some(bti_runtime::api::timestamp(later)), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["start_time".into()] }),
        };
        let moved = fx.s.clone().update_meeting(fx.req(mv.clone(), kari())).await.unwrap().into_inner();
        assert_eq!(moved.sequence, m.sequence + 1);
        assert!(moved.participants.iter().all(|p| p.response == ParticipantResponse::Unspecified as i32));
        expect_code(fx.s.clone().update_meeting(fx.req(mv, kari())).await, Code::Aborted);
        // Completed once it has started, with an entry of its own log.
        let complete = |entry: &str| CompleteMeetingRequest { name: m.name.clone(), outcome: MeetingState::Held as i32, minutes_entry: entry.into(), etag: String::new() };
        expect_code(fx.s.clone().complete_meeting(fx.req(complete(""), kari())).await, Code::FailedPrecondition);
        fx.clock.set(later + Duration::hours(2));
        let minutes = Entry { kind: EntryKind::Minutes as i32, text: "Referat".into(), ..Default::default() };
        let entry = fx.log.clone().create_entry(fx.req(CreateEntryRequest { parent: log.name.clone(), entry: Some(minutes), request_id: String::new() }, kari())).await.unwrap().into_inner();
        let st = expect_code(fx.s.clone().complete_meeting(fx.req(complete("tenants/1135/caseLogs/other/entries/x"), kari())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&st), ["minutes_entry"]);
        let held = fx.s.clone().complete_meeting(fx.req(complete(&entry.name), kari())).await.unwrap().into_inner();
        assert_eq!((held.state, held.minutes_entry.as_str()), (MeetingState::Held as i32, entry.name.as_str()));
        expect_code(fx.s.clone().complete_meeting(fx.req(complete(&entry.name), kari())).await, Code::FailedPrecondition);
    }

    async fn the_childs_guardians_follow_the_directory(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child, kari(), ConcernArea::Development).await;
        let series = fx.series(1).await;
        let slot = fx.slots(&series.meetings[0]).await.remove(0);
        let m = fx.book(&slot.name, &log.name, kari()).await.unwrap();
        let guardians = |m: &Meeting| m.participants.iter().filter(|p| p.role == ParticipantRole::Guardian as i32).map(|p| p.person.clone()).collect::<Vec<_>>();
        assert_eq!(guardians(&m), std::slice::from_ref(&fx.mother));
        // A second guardian with parental responsibility joins the meeting...
        let mut d = DirectoryServiceClient::new(fx.server.channel.clone());
        let gs = Guardianship { guardian: fx.mother2.clone(), parental_responsibility: true, ..Default::default() };
        let g = d.create_guardianship(fx.req(CreateGuardianshipRequest { parent: fx.child.clone(), guardianship: Some(gs), ..Default::default() }, personas::operator())).await.unwrap().into_inner();
        eventually("the second guardian is invited", || async { guardians(&fx.get(&m.name, kari()).await.unwrap()).len() == 2 }).await;
        let second = personas::guardian("g2", T, &fx.mother2);
        assert_eq!(fx.invitation(&m.name, second.clone()).await.method, "REQUEST");
        // ...and leaves it when the guardianship ends, told by a CANCEL.
        d.delete_guardianship(fx.req(DeleteGuardianshipRequest { name: g.name.clone(), ..Default::default() }, personas::operator())).await.unwrap();
        eventually("the second guardian leaves", || async { guardians(&fx.get(&m.name, kari()).await.unwrap()).len() == 1 }).await;
        assert_eq!(fx.invitation(&m.name, second).await.method, "CANCEL");
        assert!(fx.get(&m.name, kari()).await.unwrap().sequence >= m.sequence + 2);
    }

    async fn calendars_carry_no_name_id_or_case_text_and_parse(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child, kari(), ConcernArea::Development).await;
        let series = fx.series(1).await;
        let prefs = NotificationPreferences { name: format!("tenants/{T}/notificationPreferences/me"), email_address: "mor@example.invalid".into(), ..Default::default() };
        let update = UpdateNotificationPreferencesRequest { notification_preferences: Some(prefs), update_mask: Some(prost_types::FieldMask { paths: vec!["email_address".into()] }) };
        NotificationServiceClient::new(fx.server.channel.clone()).update_notification_preferences(fx.req(update, fx.mother_claims())).await.unwrap();
        let mut calendars = Vec::new();
        for (i, meeting) in series.meetings.iter().take(2).enumerate() {
            let slot = fx.slots(meeting).await.remove(i);
            let m = fx.book(&slot.name, &log.name, kari()).await.unwrap();
            for who in [kari(), nils(), fx.mother_claims(), personas::youth("child", T, &fx.child)] {
                let inv = fx.invitation(&m.name, who).await;
                assert_eq!(inv.ics.matches("ATTENDEE").count(), 1, "only the recipient");
                fx.assert_clean(&inv.ics);
                calendars.push(inv.ics);
            }
        }
        // The notification service fetches a recipient's invitation for their
        // e-mail; nobody else may, and someone not on it has none.
        let booked = fx.s.clone().list_meetings(fx.req(ListMeetingsRequest { parent: format!("tenants/{T}/units/-"), filter: format!("case_log = \"{}\"", log.name), ..Default::default() }, kari())).await.unwrap().into_inner().meetings;
        assert_eq!(booked.len(), 2);
        let for_mother = |name: &str| GetMeetingInvitationRequest { name: name.into(), recipient: Some(bti_proto::types::Recipient { person: fx.mother.clone(), ..Default::default() }) };
        let notifier = personas::service("notification", bti_runtime::peers::scheduling::SCOPE_INVITATIONS);
        let inv = fx.s.clone().get_meeting_invitation(fx.req(for_mother(&booked[0].name), notifier.clone())).await.unwrap().into_inner();
        assert_eq!(inv.method, "REQUEST");
        fx.assert_clean(&inv.ics);
        calendars.push(inv.ics);
        expect_code(fx.s.clone().get_meeting_invitation(fx.req(for_mother(&booked[0].name), personas::service("other", ""))).await, Code::PermissionDenied);
        expect_code(fx.s.clone().get_meeting_invitation(fx.req(for_mother(&booked[0].name), kari())).await, Code::PermissionDenied);
        let stranger = GetMeetingInvitationRequest { name: booked[0].name.clone(), recipient: Some(bti_proto::types::Recipient { person: fx.mother2.clone(), ..Default::default() }) };
        expect_code(fx.s.clone().get_meeting_invitation(fx.req(stranger, notifier)).await, Code::NotFound);
        let feed = fx.s.clone().get_calendar_feed(fx.req(GetCalendarFeedRequest {}, fx.mother_claims())).await.unwrap().into_inner();
        assert_eq!(feed.meeting_count, 2);
        fx.assert_clean(&feed.ics);
        calendars.push(feed.ics);
        // The mother's invitation e-mails carry her calendar (iMIP).
        eventually("the mother's invitation e-mails", || async { eml_calendars(fx.mail.path()).len() == 2 }).await;
        for ics in eml_calendars(fx.mail.path()) {
            assert!(ics.contains("METHOD:REQUEST"), "{ics}");
            fx.assert_clean(&ics);
            calendars.push(ics);
        }
        parse_with_python(&calendars);
    }
}
