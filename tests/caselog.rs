//! The relay log through real gRPC with the real directory and consent
//! services on the same server, on both backends: the authorization table,
//! consent enforcement, the handover race, the access log, append-only
//! entries, transfers and reassignment.

use std::sync::Arc;

use bti_proto::caselog::case_log_service_client::CaseLogServiceClient;
use bti_proto::caselog::*;
use bti_proto::consent::consent_method::Method;
use bti_proto::consent::consent_service_client::ConsentServiceClient;
use bti_proto::consent::{
    Consent, ConsentMethod, ConsentPurpose, CreateConsentRequest, Grantor, GrantorRole,
    OralConsent, UpdateConsentRequest, WithdrawConsentRequest,
};
use bti_proto::directory::directory_service_client::DirectoryServiceClient;
use bti_proto::directory::{
    CreateGuardianshipRequest, CreateMemberRequest, CreatePersonRequest, CreateTenantRequest,
    CreateUnitRequest, Guardianship, Member, MemberRole, Person, PersonKind, Tenant, Unit,
    UnitType, UpdateMemberRequest,
};
use bti_proto::types::EventEnvelope;
use bti_runtime::auth::{Claims, Role, personas};
use bti_runtime::db::Db;
use bti_runtime::testing::{TestDb, TestHost, eventually, expect_code, violated_fields};
use chrono::{Datelike, NaiveDate};
use prost::{Message, Name};
use tonic::Code;
use tonic::transport::Channel;

const T: &str = "4201";
const SCHOOL: &str = "tenants/4201/units/school";
const NURSE: &str = "tenants/4201/units/nurse";
const PPT: &str = "tenants/4201/units/ppt";

fn kari() -> Claims {
    personas::employee("kari", T, &[SCHOOL], &[Role::Employee])
}
fn nils() -> Claims {
    personas::employee("nils", T, &[NURSE], &[Role::Employee])
}
fn per() -> Claims {
    personas::employee("per", T, &[PPT], &[Role::Employee])
}
fn ola() -> Claims {
    personas::employee("ola", T, &[SCHOOL], &[Role::Employee])
}
fn rektor() -> Claims {
    personas::employee("rektor", T, &[SCHOOL], &[Role::UnitLeader])
}
fn admin() -> Claims {
    personas::employee("admin", T, &[], &[Role::MunicipalAdmin])
}

struct Fx {
    server: TestHost,
    log: CaseLogServiceClient<Channel>,
    consent: ConsentServiceClient<Channel>,
    directory: DirectoryServiceClient<Channel>,
    child: String,
    mother: String,
    stranger: String,
    youth: String,
    child_consent: Consent,
    /// The relay log's application, for calling its consent-event handler.
    app: bti_caselog::App,
    dbs: Vec<TestDb>,
}

fn years_ago(n: i32) -> NaiveDate {
    let today = chrono::Utc::now().date_naive();
    NaiveDate::from_ymd_opt(today.year() - n, 3, 3).unwrap()
}

impl Fx {
    async fn start(db: TestDb) -> Fx {
        let consent_db = db.another().await;
        let caselog_db = db.another().await;
        let mut app = None;
        let server = TestHost::start(|host| {
            let (caselog, a) = bti_caselog::build(&host.wiring("caselog", caselog_db.db.clone()))?;
            app = Some(a);
            Ok(vec![
                bti_directory::build(&host.wiring("directory", db.db.clone()))?.0,
                bti_consent::build(&host.wiring("consent", consent_db.db.clone()))?.0,
                caselog,
            ])
        })
        .await;
        let ch = server.channel.clone();
        let mut fx = Fx {
            log: CaseLogServiceClient::new(ch.clone()),
            consent: ConsentServiceClient::new(ch.clone()),
            directory: DirectoryServiceClient::new(ch),
            server,
            child: String::new(),
            mother: String::new(),
            stranger: String::new(),
            youth: String::new(),
            child_consent: Consent::default(),
            app: app.expect("built"),
            dbs: vec![db, consent_db, caselog_db],
        };
        fx.seed().await;
        fx
    }

    fn req<M>(&self, m: M, c: Claims) -> tonic::Request<M> {
        self.server.request(m, c)
    }

    async fn seed(&mut self) {
        let op = personas::operator();
        let mut d = self.directory.clone();
        d.create_tenant(self.req(
            CreateTenantRequest {
                tenant_id: T.into(),
                tenant: Some(Tenant {
                    display_name: "Sauda".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            op.clone(),
        ))
        .await
        .unwrap();
        for (id, ty) in [
            ("school", UnitType::School),
            ("nurse", UnitType::SchoolHealthService),
            ("ppt", UnitType::Ppt),
        ] {
            d.create_unit(self.req(
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
                op.clone(),
            ))
            .await
            .unwrap();
        }
        for (unit, subject) in [
            (SCHOOL, "kari"),
            (SCHOOL, "ola"),
            (NURSE, "nils"),
            (PPT, "per"),
        ] {
            d.create_member(self.req(
                CreateMemberRequest {
                    parent: unit.into(),
                    member: Some(Member {
                        subject: subject.into(),
                        display_name: subject.into(),
                        role: MemberRole::Employee as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                op.clone(),
            ))
            .await
            .unwrap();
        }
        let mut n = 0;
        let mut person = async |kind: PersonKind, born: NaiveDate| {
            n += 1;
            let nid =
                bti_runtime::ids::first_national_id(born + chrono::Duration::days(n), false, true);
            d.clone()
                .create_person(self.req(
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
                    op.clone(),
                ))
                .await
                .unwrap()
                .into_inner()
                .name
        };
        let child = person(PersonKind::Child, years_ago(8)).await;
        let mother = person(PersonKind::Guardian, years_ago(38)).await;
        let stranger = person(PersonKind::Guardian, years_ago(50)).await;
        let youth = person(PersonKind::Youth, years_ago(16)).await;
        let youth_mother = person(PersonKind::Guardian, years_ago(44)).await;
        for (kid, g, pr) in [
            (&child, &mother, true),
            (&child, &stranger, false),
            (&youth, &youth_mother, true),
        ] {
            d.create_guardianship(self.req(
                CreateGuardianshipRequest {
                    parent: kid.clone(),
                    guardianship: Some(Guardianship {
                        guardian: g.clone(),
                        parental_responsibility: pr,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                op.clone(),
            ))
            .await
            .unwrap();
        }
        let oral = Some(ConsentMethod {
            method: Some(Method::Oral(OralConsent::default())),
        });
        let grant = |subject: &str, grantors: Vec<Grantor>, units: &[&str]| CreateConsentRequest {
            parent: format!("tenants/{T}"),
            consent: Some(Consent {
                subject: subject.into(),
                purpose: ConsentPurpose::RelayLogCollaboration as i32,
                grantors,
                covered_units: units.iter().map(|u| u.to_string()).collect(),
                method: oral.clone(),
                ..Default::default()
            }),
            request_id: String::new(),
        };
        let g = |p: &str, r: GrantorRole| Grantor {
            person: p.into(),
            role: r as i32,
        };
        self.child_consent = self
            .consent
            .clone()
            .create_consent(self.req(
                grant(
                    &child,
                    vec![g(&mother, GrantorRole::Guardian)],
                    &[SCHOOL, NURSE, PPT],
                ),
                kari(),
            ))
            .await
            .unwrap()
            .into_inner();
        self.consent
            .clone()
            .create_consent(self.req(
                grant(
                    &youth,
                    vec![
                        g(&youth_mother, GrantorRole::Guardian),
                        g(&youth, GrantorRole::Subject),
                    ],
                    &[SCHOOL],
                ),
                kari(),
            ))
            .await
            .unwrap();
        (self.child, self.mother, self.stranger, self.youth) = (child, mother, stranger, youth);
    }

    async fn open(&self, subject: &str) -> CaseLog {
        self.log
            .clone()
            .create_case_log(self.req(
                CreateCaseLogRequest {
                    parent: format!("tenants/{T}"),
                    case_log: Some(CaseLog {
                        subject: subject.into(),
                        unit: SCHOOL.into(),
                        concern: "Trekkjer seg frå venner i friminutta.".into(),
                        concern_degree: ConcernDegree::Unease as i32,
                        level: Level::Level1 as i32,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                kari(),
            ))
            .await
            .unwrap()
            .into_inner()
    }

    async fn participate(&self, log: &str, unit: &str, professional: &str) {
        self.log
            .clone()
            .create_participant(self.req(
                CreateParticipantRequest {
                    parent: log.into(),
                    participant: Some(Participant {
                        unit: unit.into(),
                        professional: professional.into(),
                        tasks: "Samtalar".into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                kari(),
            ))
            .await
            .unwrap();
    }

    async fn code_of<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>) -> Code {
        match r {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        }
    }
}

bti_runtime::backend_tests! {
    async fn the_authorization_table(db) {
        let fx = Fx::start(db).await;
        let child_log = fx.open(&fx.child).await;
        let youth_log = fx.open(&fx.youth).await;
        fx.participate(&child_log.name, NURSE, "nils").await;
        fx.participate(&child_log.name, PPT, "per").await;
        // PPT loses coverage: its participant may no longer see the log.
        fx.consent.clone().update_consent(fx.req(UpdateConsentRequest {
            consent: Some(Consent {
                name: fx.child_consent.name.clone(),
                covered_units: vec![SCHOOL.into(), NURSE.into()],
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["covered_units".into()] }),
        }, personas::guardian("mor", T, &fx.mother))).await.unwrap();

        use Code::{NotFound as NF, Ok as OK, PermissionDenied as PD};
        let guardian = personas::guardian("mor", T, &fx.mother);
        let stranger = personas::guardian("s", T, &fx.stranger);
        let young = personas::youth("barn", T, &fx.child);
        let youth = personas::youth("ung", T, &fx.youth);
        let client = personas::client("visma", "974760673", "bti:referrals");
        //                      who               log         get  entry access level overview stats
        let table: Vec<(&str, Claims, &CaseLog, [Code; 6])> = vec![
            ("holder", kari(), &child_log, [OK, OK, OK, OK, PD, PD]),
            ("participant", nils(), &child_log, [OK, OK, OK, PD, PD, PD]),
            ("participant, unit lost consent", per(), &child_log, [NF, NF, NF, NF, PD, PD]),
            ("colleague in the same unit", ola(), &child_log, [NF, NF, NF, NF, PD, PD]),
            ("unit leader", rektor(), &child_log, [PD, PD, PD, PD, OK, PD]),
            ("municipal admin", admin(), &child_log, [NF, NF, NF, NF, PD, OK]),
            ("guardian", guardian, &child_log, [OK, PD, OK, PD, PD, PD]),
            ("guardian without responsibility", stranger, &child_log, [NF, NF, NF, NF, PD, PD]),
            ("child under the consent age", young, &child_log, [NF, NF, NF, NF, PD, PD]),
            ("youth at the consent age", youth, &youth_log, [OK, PD, OK, PD, PD, PD]),
            ("external client", client, &child_log, [NF, NF, NF, NF, PD, PD]),
        ];
        let mut level = Level::Level1;
        for (who, claims, log, expected) in table {
            let mut l = fx.log.clone();
            let got = [
                Fx::code_of(l.get_case_log(fx.req(GetCaseLogRequest { name: log.name.clone() }, claims.clone())).await).await,
                Fx::code_of(l.create_entry(fx.req(CreateEntryRequest {
                    parent: log.name.clone(),
                    entry: Some(Entry { kind: EntryKind::Note as i32, text: "Notat".into(), ..Default::default() }),
                    request_id: String::new(),
                }, claims.clone())).await).await,
                Fx::code_of(l.list_access_log_entries(fx.req(ListAccessLogEntriesRequest { parent: log.name.clone(), ..Default::default() }, claims.clone())).await).await,
                Fx::code_of(l.change_level(fx.req(ChangeLevelRequest {
                    name: log.name.clone(),
                    level: if level == Level::Level1 { Level::Level2 as i32 } else { Level::Level1 as i32 },
                    reason: "Fleire tenester trengst".into(),
                    etag: String::new(),
                }, claims.clone())).await).await,
                Fx::code_of(l.list_case_log_overviews(fx.req(ListCaseLogOverviewsRequest { parent: SCHOOL.into(), ..Default::default() }, claims.clone())).await).await,
                Fx::code_of(l.get_case_log_statistics(fx.req(GetCaseLogStatisticsRequest { parent: format!("tenants/{T}") }, claims.clone())).await).await,
            ];
            if got[3] == OK {
                level = if level == Level::Level1 { Level::Level2 } else { Level::Level1 };
            }
            assert_eq!(got, expected, "{who}: [get, entry, access log, level, overview, statistics]");
        }
    }

    async fn opening_needs_consent_and_one_active_log_per_child(db) {
        let fx = Fx::start(db).await;
        let mut l = fx.log.clone();
        // The stranger's own... no: a subject without consent for the school.
        let unconsented = fx.directory.clone().create_person(fx.req(CreatePersonRequest {
            parent: format!("tenants/{T}"),
            person: Some(Person {
                kind: PersonKind::Child as i32,
                national_id: bti_runtime::ids::first_national_id(years_ago(6), false, true),
                given_name: "C".into(),
                family_name: "D".into(),
                ..Default::default()
            }),
            ..Default::default()
        }, personas::operator())).await.unwrap().into_inner().name;
        let open = |subject: &str, level: Level| CreateCaseLogRequest {
            parent: format!("tenants/{T}"),
            case_log: Some(CaseLog { subject: subject.into(), unit: SCHOOL.into(), concern: "Uro".into(), level: level as i32, ..Default::default() }),
            request_id: String::new(),
        };
        let s = expect_code(l.create_case_log(fx.req(open(&unconsented, Level::Level1), kari())).await, Code::FailedPrecondition);
        assert!(s.message().contains("consent"), "{}", s.message());
        // Level 0 is not a shared log.
        expect_code(l.create_case_log(fx.req(open(&fx.child, Level::Level0), kari())).await, Code::InvalidArgument);
        let log = l.create_case_log(fx.req(open(&fx.child, Level::Level1), kari())).await.unwrap().into_inner();
        assert_eq!(log.holder.unwrap().professional, "kari");
        assert_eq!(log.consent_revision, fx.child_consent.revision);
        expect_code(l.create_case_log(fx.req(open(&fx.child, Level::Level1), kari())).await, Code::FailedPrecondition);
    }

    async fn withdrawal_shuts_professionals_out_at_once_but_not_guardians(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child).await;
        fx.participate(&log.name, NURSE, "nils").await;
        let get = || GetCaseLogRequest { name: log.name.clone() };
        fx.log.clone().get_case_log(fx.req(get(), nils())).await.unwrap();
        fx.consent.clone().withdraw_consent(fx.req(WithdrawConsentRequest {
            name: fx.child_consent.name.clone(), reason: String::new(), etag: String::new(),
        }, personas::guardian("mor", T, &fx.mother))).await.unwrap();
        // The very next requests: the professionals no longer see it...
        expect_code(fx.log.clone().get_case_log(fx.req(get(), nils())).await, Code::NotFound);
        expect_code(fx.log.clone().get_case_log(fx.req(get(), kari())).await, Code::NotFound);
        // ...the guardian still reads everything.
        fx.log.clone().get_case_log(fx.req(get(), personas::guardian("mor", T, &fx.mother))).await.unwrap();

        // The consent service's events reach the relay log's consumer on the
        // host's bus, which records the closing.
        let mother = || personas::guardian("mor", T, &fx.mother);
        eventually("the consumer closed the log", || async {
            let seen = fx.log.clone().get_case_log(fx.req(get(), mother())).await.unwrap().into_inner();
            seen.state == CaseLogState::Closed as i32
        }).await;
        let seen = fx.log.clone().get_case_log(fx.req(get(), mother())).await.unwrap().into_inner();
        assert_eq!(seen.state, CaseLogState::Closed as i32);
        assert_eq!(seen.close_reason, CloseReason::ConsentWithdrawn as i32);
        let closings = || async { outbox(&fx.dbs[2]).await.into_iter().filter(|e| e.r#type == CaseLogClosed::full_name()).count() };
        assert_eq!(closings().await, 1);
        // At-least-once delivery: the same event handled again changes nothing.
        let withdrawn: Vec<EventEnvelope> = outbox(&fx.dbs[1]).await.into_iter()
            .filter(|e| e.r#type == bti_proto::consent::ConsentWithdrawn::full_name())
            .collect();
        assert_eq!(withdrawn.len(), 1);
        assert_eq!(fx.app.on_consent_event(&withdrawn[0]).await.unwrap(), 0);
        assert_eq!(closings().await, 1);
    }

    async fn every_read_and_write_is_in_the_access_log_guardians_read(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child).await;
        let mut l = fx.log.clone();
        l.get_case_log(fx.req(GetCaseLogRequest { name: log.name.clone() }, kari())).await.unwrap();
        let entries = l.list_access_log_entries(fx.req(ListAccessLogEntriesRequest { parent: log.name.clone(), ..Default::default() }, personas::guardian("mor", T, &fx.mother))).await.unwrap().into_inner().access_log_entries;
        // Newest first: the guardian's own listing, kari's read, kari's create.
        let seen: Vec<(String, i32, i32)> = entries.iter().map(|e| (e.actor.clone(), e.acting_as, e.action)).collect();
        assert_eq!(seen, [
            ("guardian:mor".to_string(), ActingAs::Guardian as i32, AccessAction::Read as i32),
            ("employee:kari".to_string(), ActingAs::Holder as i32, AccessAction::Read as i32),
            ("employee:kari".to_string(), ActingAs::Creator as i32, AccessAction::Create as i32),
        ]);
        assert_eq!(entries[1].basis, fx.child_consent.revision, "a professional's access cites the consent revision");
        assert!(entries[1].purpose.starts_with("GetCaseLog"));
        // A refused read leaves no trace and returns nothing.
        expect_code(l.get_case_log(fx.req(GetCaseLogRequest { name: log.name.clone() }, ola())).await, Code::NotFound);
        let again = l.list_access_log_entries(fx.req(ListAccessLogEntriesRequest { parent: log.name.clone(), ..Default::default() }, kari())).await.unwrap().into_inner();
        assert!(again.access_log_entries.iter().all(|e| e.actor != "employee:ola"));
        // The export holds everything, its own reads included.
        let export = l.export_case_log(fx.req(ExportCaseLogRequest { name: log.name.clone() }, personas::guardian("mor", T, &fx.mother))).await.unwrap().into_inner();
        assert_eq!(export.case_log.unwrap().name, log.name);
        assert!(export.access_log.iter().any(|e| e.action == AccessAction::Export as i32));
    }

    async fn entries_are_append_only_and_a_closed_log_is_read_only(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child).await;
        let mut l = fx.log.clone();
        let entry = |text: &str, corrects: &str| CreateEntryRequest {
            parent: log.name.clone(),
            entry: Some(Entry { kind: EntryKind::Minutes as i32, text: text.into(), corrects: corrects.into(), ..Default::default() }),
            request_id: String::new(),
        };
        let first = l.create_entry(fx.req(entry("Møte 1: avtalt samtale", ""), kari())).await.unwrap().into_inner();
        let fix = l.create_entry(fx.req(entry("Retting: samtale med helsesjukepleiar", &first.name), kari())).await.unwrap().into_inner();
        assert_eq!(fix.corrects, first.name);
        let bogus = format!("{}/entries/nope", log.name);
        expect_code(l.create_entry(fx.req(entry("x", &bogus), kari())).await, Code::InvalidArgument);
        let got = l.get_case_log(fx.req(GetCaseLogRequest { name: log.name.clone() }, kari())).await.unwrap().into_inner();
        assert_eq!(got.latest_entries.iter().map(|e| e.name.clone()).collect::<Vec<_>>(), [fix.name.clone(), first.name.clone()]);
        l.close_case_log(fx.req(CloseCaseLogRequest { name: log.name.clone(), reason: CloseReason::ConcernResolved as i32, note: "Uroa er borte".into(), etag: String::new() }, kari())).await.unwrap();
        expect_code(l.create_entry(fx.req(entry("for seint", ""), kari())).await, Code::FailedPrecondition);
        let closed = l.get_case_log(fx.req(GetCaseLogRequest { name: log.name.clone() }, kari())).await.unwrap().into_inner();
        assert_eq!(closed.state, CaseLogState::Closed as i32);
        assert_eq!(closed.latest_entries.len(), 3, "the closing note is kept as an entry");
    }

    async fn racing_offers_and_acceptances_leave_exactly_one_holder(db) {
        let fx = Arc::new(Fx::start(db).await);
        let log = fx.open(&fx.child).await;
        // Eight offers at once to different professionals of the nurse unit: one wins.
        let mut tasks = Vec::new();
        for i in 0..8 {
            let fx = fx.clone();
            let parent = log.name.clone();
            tasks.push(tokio::spawn(async move {
                let to = if i == 0 { "nils".to_string() } else { format!("nurse-{i}") };
                fx.log.clone().create_handover(fx.req(CreateHandoverRequest {
                    parent,
                    // Released: the old holder leaves the log with the baton.
                    handover: Some(Handover { to_professional: to, to_unit: NURSE.into(), release_former_holder: true, ..Default::default() }),
                    request_id: String::new(),
                }, kari())).await.map(|r| r.into_inner())
            }));
        }
        let mut won = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(h) => won.push(h),
                Err(s) => assert!(matches!(s.code(), Code::Aborted | Code::FailedPrecondition), "{s:?}"),
            }
        }
        assert_eq!(won.len(), 1, "exactly one offer is open");
        let offer = won.pop().unwrap();
        // Sixteen acceptances of that offer at once (by whoever it names): one wins.
        let recipient = personas::employee(&offer.to_professional, T, &[NURSE], &[Role::Employee]);
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (fx, name, who) = (fx.clone(), offer.name.clone(), recipient.clone());
            tasks.push(tokio::spawn(async move {
                fx.log.clone().accept_handover(fx.req(AcceptHandoverRequest { name, etag: String::new() }, who)).await
            }));
        }
        let mut accepted = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => accepted += 1,
                Err(s) => assert!(matches!(s.code(), Code::Aborted | Code::FailedPrecondition | Code::NotFound), "{s:?}"),
            }
        }
        assert_eq!(accepted, 1, "exactly one acceptance wins");
        let now = fx.log.clone().get_case_log(fx.req(GetCaseLogRequest { name: log.name.clone() }, recipient.clone())).await.unwrap().into_inner();
        let holder = now.holder.unwrap();
        assert_eq!((holder.professional.as_str(), holder.unit.as_str()), (offer.to_professional.as_str(), NURSE));
        assert!(now.pending_handover.is_empty());
        let history = fx.log.clone().list_handovers(fx.req(ListHandoversRequest { parent: log.name.clone(), ..Default::default() }, recipient)).await.unwrap().into_inner().handovers;
        assert_eq!(history.len(), 1, "losing offers left nothing behind");
        assert_eq!(history[0].state, HandoverState::Accepted as i32);
        // The old holder no longer writes.
        expect_code(fx.log.clone().change_level(fx.req(ChangeLevelRequest { name: log.name.clone(), level: Level::Level2 as i32, reason: "x".into(), etag: String::new() }, kari())).await, Code::NotFound);
    }

    async fn a_transfer_completes_when_the_receiver_accepts(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child).await;
        let mut l = fx.log.clone();
        let tr = l.create_transfer(fx.req(CreateTransferRequest {
            parent: log.name.clone(),
            transfer: Some(Transfer { to_unit: NURSE.into(), to_professional: "nils".into(), reason: TransferReason::Moving as i32, ..Default::default() }),
            request_id: String::new(),
        }, kari())).await.unwrap().into_inner();
        // The holder keeps the baton until the receiver accepts.
        let before = l.get_case_log(fx.req(GetCaseLogRequest { name: log.name.clone() }, kari())).await.unwrap().into_inner();
        assert_eq!(before.unit, SCHOOL);
        assert_eq!(before.pending_transfer, tr.name);
        l.accept_handover(fx.req(AcceptHandoverRequest { name: tr.handover.clone(), etag: String::new() }, nils())).await.unwrap();
        let after = l.get_case_log(fx.req(GetCaseLogRequest { name: log.name.clone() }, nils())).await.unwrap().into_inner();
        assert_eq!(after.unit, NURSE);
        assert_eq!(after.holder.unwrap().professional, "nils");
        let transfers = l.list_transfers(fx.req(ListTransfersRequest { parent: log.name.clone(), ..Default::default() }, nils())).await.unwrap().into_inner().transfers;
        assert_eq!(transfers[0].state, TransferState::Completed as i32);
    }

    async fn a_unit_leader_reassigns_only_while_the_holder_is_absent(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child).await;
        let reassign = || ReassignBatonRequest {
            name: log.name.clone(),
            to_professional: "ola".into(),
            to_unit: SCHOOL.into(),
            reason: "Sjukmelding".into(),
            etag: String::new(),
        };
        expect_code(fx.log.clone().reassign_baton(fx.req(reassign(), rektor())).await, Code::FailedPrecondition);
        // Mark kari absent in the directory.
        let mut d = fx.directory.clone();
        let members = d.list_members(fx.req(bti_proto::directory::ListMembersRequest { parent: SCHOOL.into(), ..Default::default() }, personas::operator())).await.unwrap().into_inner().members;
        let k = members.into_iter().find(|m| m.subject == "kari").unwrap();
        d.update_member(fx.req(UpdateMemberRequest {
            member: Some(Member { name: k.name, absent: true, ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["absent".into()] }),
        }, personas::operator())).await.unwrap();
        // A colleague may not; the leader may.
        expect_code(fx.log.clone().reassign_baton(fx.req(reassign(), ola())).await, Code::NotFound);
        let after = fx.log.clone().reassign_baton(fx.req(reassign(), rektor())).await.unwrap().into_inner();
        assert_eq!(after.holder.unwrap().professional, "ola");
        // The oversight list shows the new holder, with no case text.
        let o = fx.log.clone().list_case_log_overviews(fx.req(ListCaseLogOverviewsRequest { parent: SCHOOL.into(), ..Default::default() }, rektor())).await.unwrap().into_inner().overviews;
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].holder.as_ref().unwrap().professional, "ola");
        assert!(!o[0].holder_absent);
        // The absent former holder stays on as a participant for her unit.
        let ps = fx.log.clone().list_participants(fx.req(ListParticipantsRequest { parent: log.name.clone(), ..Default::default() }, ola())).await.unwrap().into_inner().participants;
        assert_eq!(ps.iter().map(|p| (p.professional.as_str(), p.unit.as_str())).collect::<Vec<_>>(), [("kari", SCHOOL)]);
        let passed = decoded::<BatonPassed>(&fx.dbs[2]).await;
        assert_eq!(passed.len(), 1);
        assert!(passed[0].reassigned && passed[0].former_holder_stays, "{passed:?}");
    }

    async fn measures_are_evaluated_and_overdue_ones_show_in_oversight(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child).await;
        let mut l = fx.log.clone();
        let goal = l.create_goal(fx.req(CreateGoalRequest {
            parent: log.name.clone(),
            goal: Some(Goal { description: "Trivst i friminutta".into(), ..Default::default() }),
            request_id: String::new(),
        }, kari())).await.unwrap().into_inner();
        let d = |y: i32, m: i32, day: i32| Some(bti_proto::google::r#type::Date { year: y, month: m, day });
        let today = chrono::Utc::now().date_naive();
        let measure = |unit: &str, by: Option<bti_proto::google::r#type::Date>| CreateMeasureRequest {
            parent: log.name.clone(),
            measure: Some(Measure {
                description: "Vaksen i friminutt".into(),
                goal: goal.name.clone(),
                responsible_unit: unit.into(),
                responsible_professional: "kari".into(),
                start_date: d(today.year() - 1, 1, 10),
                evaluate_by_date: by,
                ..Default::default()
            }),
            request_id: String::new(),
        };
        // Overdue: evaluate-by in the past.
        let overdue = l.create_measure(fx.req(measure(SCHOOL, d(today.year() - 1, 3, 1)), kari())).await.unwrap().into_inner();
        let running = l.create_measure(fx.req(measure(SCHOOL, d(today.year() + 1, 3, 1)), kari())).await.unwrap().into_inner();
        // Evaluate-by before start, and a responsible unit without consent, are refused.
        let s = expect_code(l.create_measure(fx.req(measure(SCHOOL, d(today.year() - 2, 1, 1)), kari())).await, Code::InvalidArgument);
        assert_eq!(bti_runtime::testing::violated_fields(&s), ["measure.evaluate_by_date"]);
        let other = fx.directory.clone().create_unit(fx.req(CreateUnitRequest {
            parent: format!("tenants/{T}"), unit_id: "nav".into(),
            unit: Some(Unit { display_name: "NAV".into(), r#type: UnitType::Nav as i32, ..Default::default() }),
            ..Default::default()
        }, personas::operator())).await.unwrap().into_inner();
        expect_code(l.create_measure(fx.req(measure(&other.name, d(today.year() + 1, 1, 1)), kari())).await, Code::FailedPrecondition);

        let o = l.list_case_log_overviews(fx.req(ListCaseLogOverviewsRequest { parent: SCHOOL.into(), ..Default::default() }, rektor())).await.unwrap().into_inner().overviews;
        assert_eq!(o[0].overdue_evaluations, 1);

        let eval = |decision: EvaluationDecision| CreateEvaluationRequest {
            parent: overdue.name.clone(),
            evaluation: Some(Evaluation {
                decision: decision as i32,
                child_experience: "Betre no".into(),
                evaluation_date: d(today.year(), today.month() as i32, today.day() as i32),
                ..Default::default()
            }),
            request_id: String::new(),
        };
        expect_code(l.create_evaluation(fx.req(eval(EvaluationDecision::Unspecified), kari())).await, Code::InvalidArgument);
        l.create_evaluation(fx.req(eval(EvaluationDecision::Continue), nils_if_participant(&fx, &log).await)).await.unwrap();
        let m = l.get_measure(fx.req(GetMeasureRequest { name: overdue.name.clone() }, kari())).await.unwrap().into_inner();
        assert_eq!(m.state, MeasureState::Active as i32, "continue keeps the measure");
        l.create_evaluation(fx.req(eval(EvaluationDecision::EndMeasure), kari())).await.unwrap();
        let m = l.get_measure(fx.req(GetMeasureRequest { name: overdue.name.clone() }, kari())).await.unwrap().into_inner();
        assert_eq!(m.state, MeasureState::Ended as i32, "ending it ends it");
        let evals = l.list_evaluations(fx.req(ListEvaluationsRequest { parent: overdue.name.clone(), ..Default::default() }, personas::guardian("mor", T, &fx.mother))).await.unwrap().into_inner().evaluations;
        assert_eq!(evals.iter().map(|e| e.decision).collect::<Vec<_>>(), [EvaluationDecision::Continue as i32, EvaluationDecision::EndMeasure as i32]);
        assert_eq!(evals[0].child_experience, "Betre no");
        // An ended measure is no longer overdue.
        let o = l.list_case_log_overviews(fx.req(ListCaseLogOverviewsRequest { parent: SCHOOL.into(), ..Default::default() }, rektor())).await.unwrap().into_inner().overviews;
        assert_eq!(o[0].overdue_evaluations, 0);
        assert_eq!(running.state, MeasureState::Active as i32);
        let stats = l.get_case_log_statistics(fx.req(GetCaseLogStatisticsRequest { parent: format!("tenants/{T}") }, admin())).await.unwrap().into_inner();
        assert_eq!(stats.counts.len(), 1);
        assert_eq!((stats.counts[0].unit.as_str(), stats.counts[0].level, stats.counts[0].active), (SCHOOL, Level::Level1 as i32, 1));
    }

    async fn retried_creates_return_the_first_result(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child).await;
        let mut l = fx.log.clone();
        let rid = "7f1c6a2e-5b7d-4c1a-9e3f-2a6b8c9d0e1f";
        let offer = CreateHandoverRequest {
            parent: log.name.clone(),
            handover: Some(Handover { to_professional: "nils".into(), to_unit: NURSE.into(), ..Default::default() }),
            request_id: rid.into(),
        };
        let first = l.create_handover(fx.req(offer.clone(), kari())).await.unwrap().into_inner();
        // The offer is now open, which would refuse a new one; the retry gets the first.
        let again = l.create_handover(fx.req(offer.clone(), kari())).await.unwrap().into_inner();
        assert_eq!(again.name, first.name);
        // The same key for another request is refused.
        let other = CreateHandoverRequest { handover: Some(Handover { to_professional: "x".into(), to_unit: NURSE.into(), ..Default::default() }), ..offer };
        expect_code(l.create_handover(fx.req(other, kari())).await, Code::InvalidArgument);
        let measure = CreateMeasureRequest {
            parent: log.name.clone(),
            measure: Some(Measure {
                description: "Samtalar".into(),
                responsible_unit: SCHOOL.into(),
                responsible_professional: "kari".into(),
                start_date: Some(bti_proto::google::r#type::Date { year: 2026, month: 1, day: 1 }),
                evaluate_by_date: Some(bti_proto::google::r#type::Date { year: 2026, month: 6, day: 1 }),
                ..Default::default()
            }),
            request_id: "0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b".into(),
        };
        let m1 = l.create_measure(fx.req(measure.clone(), kari())).await.unwrap().into_inner();
        let m2 = l.create_measure(fx.req(measure, kari())).await.unwrap().into_inner();
        assert_eq!(m1.name, m2.name);
        let all = l.list_measures(fx.req(ListMeasuresRequest { parent: log.name.clone(), ..Default::default() }, kari())).await.unwrap().into_inner().measures;
        assert_eq!(all.len(), 1);
    }

    async fn only_the_gateway_attaches_and_restricted_referrals_reach_only_holder_and_leader(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child).await;
        fx.participate(&log.name, NURSE, "nils").await;
        let gateway = || personas::service("gateway", bti_runtime::auth::SCOPE_GATEWAY);
        let attach = |unit: &str, restricted: bool, request_id: &str| AttachReferralRequest {
            parent: log.name.clone(),
            referral: Some(AttachedReferral {
                referral: format!("referrals/{}", bti_runtime::api::new_id()),
                kind: ReferralKind::ChildWelfareReport as i32,
                restricted,
                legal_basis: if restricted { "barnevernsloven § 13-2".into() } else { String::new() },
                from_organization: "974760673".into(),
                from_unit: unit.into(),
                client: "clients/cw".into(),
                ..Default::default()
            }),
            request_id: request_id.into(),
        };
        let mut l = fx.log.clone();
        // Nobody but the gateway attaches: the holder is refused, a stranger does not know the log.
        expect_code(l.attach_referral(fx.req(attach(PPT, false, ""), kari())).await, Code::PermissionDenied);
        expect_code(l.attach_referral(fx.req(attach(PPT, false, ""), personas::service("consent", ""))).await, Code::NotFound);
        // Not restricted: only from a unit the consent covers.
        let barnevern = "tenants/4201/units/barnevern";
        expect_code(l.attach_referral(fx.req(attach(barnevern, false, ""), gateway())).await, Code::FailedPrecondition);
        let request_id = bti_runtime::api::new_id();
        let open = l.attach_referral(fx.req(attach(PPT, false, &request_id), gateway())).await.unwrap().into_inner();
        let retried = l.attach_referral(fx.req(AttachReferralRequest { referral: Some(AttachedReferral { referral: open.referral.clone(), ..attach(PPT, false, "").referral.unwrap() }), ..attach(PPT, false, &request_id) }, gateway())).await.unwrap().into_inner();
        assert_eq!(retried.name, open.name);
        // Restricted: no consent needed for child welfare's unit.
        let hidden = l.attach_referral(fx.req(attach(barnevern, true, ""), gateway())).await.unwrap().into_inner();
        let names = |who: Claims| {
            let mut l = fx.log.clone();
            let req = fx.req(ListAttachedReferralsRequest { parent: log.name.clone(), ..Default::default() }, who);
            async move { l.list_attached_referrals(req).await.map(|r| r.into_inner().referrals.into_iter().map(|x| x.name).collect::<Vec<_>>()) }
        };
        assert_eq!(names(kari()).await.unwrap(), vec![hidden.name.clone(), open.name.clone()]);
        assert_eq!(names(rektor()).await.unwrap(), vec![hidden.name.clone(), open.name.clone()]);
        assert_eq!(names(nils()).await.unwrap(), vec![open.name.clone()]);
        assert_eq!(names(personas::guardian("mor", T, &fx.mother)).await.unwrap(), vec![open.name.clone()]);
        let export = l.export_case_log(fx.req(ExportCaseLogRequest { name: log.name.clone() }, personas::guardian("mor", T, &fx.mother))).await.unwrap().into_inner();
        assert_eq!(export.referrals.iter().map(|r| r.name.clone()).collect::<Vec<_>>(), vec![open.name.clone()]);
        assert!(export.access_log.iter().all(|a| !a.resource.starts_with(&hidden.name)), "{:?}", export.access_log);
        // Lifting is the gateway's; then the guardian sees it.
        expect_code(l.lift_referral_restriction(fx.req(LiftReferralRestrictionRequest { name: hidden.name.clone() }, kari())).await, Code::PermissionDenied);
        let lifted = l.lift_referral_restriction(fx.req(LiftReferralRestrictionRequest { name: hidden.name.clone() }, gateway())).await.unwrap().into_inner();
        assert!(!lifted.restricted);
        assert_eq!(names(personas::guardian("mor", T, &fx.mother)).await.unwrap().len(), 2);
    }

    async fn the_summary_for_an_external_system_has_no_free_text(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child).await;
        let mut l = fx.log.clone();
        l.change_level(fx.req(ChangeLevelRequest { name: log.name.clone(), level: Level::Level2 as i32, reason: "Treng PPT".into(), ..Default::default() }, kari())).await.unwrap();
        let today = chrono::Utc::now().date_naive();
        let d = |y: i32, m: u32, day: u32| Some(bti_proto::google::r#type::Date { year: y, month: m as i32, day: day as i32 });
        let measure = l.create_measure(fx.req(CreateMeasureRequest {
            parent: log.name.clone(),
            measure: Some(Measure { description: "Vaksen i friminutt".into(), responsible_unit: SCHOOL.into(), responsible_professional: "kari".into(), start_date: d(today.year(), 1, 1), evaluate_by_date: d(today.year() + 1, 1, 1), ..Default::default() }),
            request_id: String::new(),
        }, kari())).await.unwrap().into_inner();
        l.create_evaluation(fx.req(CreateEvaluationRequest {
            parent: measure.name.clone(),
            evaluation: Some(Evaluation { decision: EvaluationDecision::Continue as i32, child_experience: "Eg er glad no".into(), summary: "Går betre".into(), evaluation_date: d(today.year(), today.month(), today.day()), ..Default::default() }),
            request_id: String::new(),
        }, kari())).await.unwrap();
        let summary = |unit: &str| GetCaseLogSummaryRequest { name: log.name.clone(), on_behalf_of_unit: unit.into(), client: "clients/ppt".into(), legal_basis_referral: String::new() };
        let gateway = personas::service("gateway", bti_runtime::auth::SCOPE_GATEWAY);
        let s = l.get_case_log_summary(fx.req(summary(PPT), gateway.clone())).await.unwrap().into_inner();
        assert_eq!(s.level, Level::Level2 as i32);
        assert!(s.level_changes.iter().all(|c| c.reason.is_empty() && c.actor.is_empty()));
        assert_eq!(s.measures.len(), 1);
        assert_eq!(s.evaluations.len(), 1);
        assert_eq!(s.evaluations[0].decision, EvaluationDecision::Continue as i32);
        assert!(s.evaluations[0].child_experience.is_empty() && s.evaluations[0].summary.is_empty());
        assert_eq!(s.holders.first().map(|h| h.unit.as_str()), Some(SCHOOL));
        // Logged against the client, on the consent that covers its unit.
        let access = l.list_access_log_entries(fx.req(ListAccessLogEntriesRequest { parent: log.name.clone(), ..Default::default() }, kari())).await.unwrap().into_inner().access_log_entries;
        let row = access.iter().find(|a| a.actor == "client:ppt").expect("summary row");
        assert_eq!(row.acting_as, ActingAs::ExternalSystem as i32);
        assert_eq!(row.unit, PPT);
        assert!(row.basis.contains("/consents/"), "{row:?}");
        // A unit without consent and no legal basis: NOT_FOUND. Employees do not ask.
        expect_code(l.get_case_log_summary(fx.req(summary("tenants/4201/units/barnevern"), gateway)).await, Code::NotFound);
        expect_code(l.get_case_log_summary(fx.req(summary(PPT), kari())).await, Code::PermissionDenied);
    }

    async fn a_participant_offered_the_baton_answers_the_offer(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child).await;
        fx.participate(&log.name, NURSE, "nils").await;
        let mut l = fx.log.clone();
        let offer = || CreateHandoverRequest {
            parent: log.name.clone(),
            handover: Some(Handover { to_professional: "nils".into(), to_unit: NURSE.into(), ..Default::default() }),
            request_id: String::new(),
        };
        // The participant offered the baton may decline it...
        let first = l.create_handover(fx.req(offer(), kari())).await.unwrap().into_inner();
        let declined = l.decline_handover(fx.req(DeclineHandoverRequest { name: first.name.clone(), reason: "Ikkje no".into(), etag: String::new() }, nils())).await.unwrap().into_inner();
        assert_eq!(declined.state, HandoverState::Declined as i32);
        // ...and accept it.
        let second = l.create_handover(fx.req(offer(), kari())).await.unwrap().into_inner();
        let accepted = l.accept_handover(fx.req(AcceptHandoverRequest { name: second.name.clone(), etag: second.etag.clone() }, nils())).await.unwrap().into_inner();
        assert_eq!(accepted.state, HandoverState::Accepted as i32);
        let now = l.get_case_log(fx.req(GetCaseLogRequest { name: log.name.clone() }, nils())).await.unwrap().into_inner();
        let holder = now.holder.unwrap();
        assert_eq!((holder.professional.as_str(), holder.unit.as_str()), ("nils", NURSE));
        // Answering is recorded as the one offered the baton.
        let access = l.list_access_log_entries(fx.req(ListAccessLogEntriesRequest { parent: log.name.clone(), ..Default::default() }, nils())).await.unwrap().into_inner().access_log_entries;
        let answers: Vec<i32> = access.iter().filter(|a| a.purpose.starts_with("AcceptHandover") || a.purpose.starts_with("DeclineHandover")).map(|a| a.acting_as).collect();
        assert_eq!(answers, [ActingAs::HandoverRecipient as i32; 2]);
        // Others still may not answer for her, nor the holder withdraw what is decided.
        let third = l.create_handover(fx.req(CreateHandoverRequest {
            handover: Some(Handover { to_professional: "per".into(), to_unit: PPT.into(), ..Default::default() }),
            ..offer()
        }, nils())).await.unwrap().into_inner();
        expect_code(l.accept_handover(fx.req(AcceptHandoverRequest { name: third.name.clone(), etag: String::new() }, kari())).await, Code::PermissionDenied);
    }

    async fn the_former_holder_stays_on_as_a_participant_unless_released(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child).await;
        let mut l = fx.log.clone();
        let get = || GetCaseLogRequest { name: log.name.clone() };
        let offer = |to: &str, unit: &str, release: bool| CreateHandoverRequest {
            parent: log.name.clone(),
            handover: Some(Handover { to_professional: to.into(), to_unit: unit.into(), release_former_holder: release, ..Default::default() }),
            request_id: String::new(),
        };
        let first = l.create_handover(fx.req(offer("nils", NURSE, false), kari())).await.unwrap().into_inner();
        l.accept_handover(fx.req(AcceptHandoverRequest { name: first.name.clone(), etag: String::new() }, nils())).await.unwrap();
        // The teacher who held the baton still reads and writes in her school's log...
        let seen = l.get_case_log(fx.req(get(), kari())).await.unwrap().into_inner();
        assert_eq!(seen.holder.unwrap().professional, "nils");
        l.create_entry(fx.req(CreateEntryRequest {
            parent: log.name.clone(),
            entry: Some(Entry { kind: EntryKind::Note as i32, text: "Framleis med".into(), ..Default::default() }),
            request_id: String::new(),
        }, kari())).await.unwrap();
        // ...as a participant, no longer the holder.
        expect_code(l.change_level(fx.req(ChangeLevelRequest { name: log.name.clone(), level: Level::Level2 as i32, reason: "x".into(), etag: String::new() }, kari())).await, Code::PermissionDenied);
        let participants = || async {
            fx.log.clone().list_participants(fx.req(ListParticipantsRequest { parent: log.name.clone(), ..Default::default() }, nils())).await.unwrap().into_inner().participants
                .into_iter().map(|p| (p.professional, p.unit)).collect::<Vec<_>>()
        };
        assert_eq!(participants().await, [("kari".to_string(), SCHOOL.to_string())]);

        // An offer that releases the former holder: nils leaves with the baton.
        let second = l.create_handover(fx.req(offer("per", PPT, true), nils())).await.unwrap().into_inner();
        assert!(second.release_former_holder);
        l.accept_handover(fx.req(AcceptHandoverRequest { name: second.name.clone(), etag: String::new() }, per())).await.unwrap();
        expect_code(l.get_case_log(fx.req(get(), nils())).await, Code::NotFound);
        assert_eq!(participants_as(&fx, &log, per()).await, [("kari".to_string(), SCHOOL.to_string())]);
        // The handover history shows both offers, who gave and who took the baton.
        let history = l.list_handovers(fx.req(ListHandoversRequest { parent: log.name.clone(), ..Default::default() }, kari())).await.unwrap().into_inner().handovers;
        let shown: Vec<_> = history.iter().map(|h| (h.from_professional.as_str(), h.to_professional.as_str(), h.release_former_holder, h.state)).collect();
        assert_eq!(shown, [
            ("kari", "nils", false, HandoverState::Accepted as i32),
            ("nils", "per", true, HandoverState::Accepted as i32),
        ]);
        let passed = decoded::<BatonPassed>(&fx.dbs[2]).await;
        let stays: Vec<_> = passed.iter().map(|b| (b.from_professional.as_str(), b.to_professional.as_str(), b.former_holder_stays)).collect();
        assert_eq!(stays, [("kari", "nils", true), ("nils", "per", false)]);
    }

    async fn my_logs_come_first_page_first_however_many_others_the_municipality_has(db) {
        let fx = Fx::start(db).await;
        let l = fx.log.clone();
        // The youth's log is older (its id sorts first) and not nils's.
        let youth_log = fx.open(&fx.youth).await;
        let child_log = fx.open(&fx.child).await;
        fx.participate(&child_log.name, NURSE, "nils").await;
        let list = |who: Claims, size: i32| {
            let mut l = l.clone();
            let r = fx.req(ListCaseLogsRequest { parent: format!("tenants/{T}"), page_size: size, ..Default::default() }, who);
            async move { l.list_case_logs(r).await.unwrap().into_inner() }
        };
        let names = |r: &ListCaseLogsResponse| r.case_logs.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        let first = list(nils(), 1).await;
        assert_eq!(names(&first), std::slice::from_ref(&child_log.name), "nils's one log on the first page");
        assert_eq!(names(&list(kari(), 10).await), [youth_log.name.clone(), child_log.name.clone()]);
        assert!(list(rektor(), 10).await.case_logs.is_empty(), "oversight lists no content (ListCaseLogOverviews does)");
        assert!(list(ola(), 10).await.case_logs.is_empty(), "a colleague who takes no part sees none");
        // Consent withdrawn for the nurse: the same listing shows nothing.
        fx.consent.clone().update_consent(fx.req(UpdateConsentRequest {
            consent: Some(Consent { name: fx.child_consent.name.clone(), covered_units: vec![SCHOOL.into(), PPT.into()], ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["covered_units".into()] }),
        }, personas::guardian("mor", T, &fx.mother))).await.unwrap();
        assert!(list(nils(), 1).await.case_logs.is_empty());
        assert_eq!(names(&list(kari(), 10).await).len(), 2);
    }

    async fn the_concern_area_is_stored_validated_and_returned(db) {
        let fx = Fx::start(db).await;
        let mut l = fx.log.clone();
        let open = |area: i32| CreateCaseLogRequest {
            parent: format!("tenants/{T}"),
            case_log: Some(CaseLog {
                subject: fx.child.clone(),
                unit: SCHOOL.into(),
                concern: "Trivst ikkje i klassen".into(),
                concern_degree: ConcernDegree::Concern as i32,
                concern_area: area,
                level: Level::Level1 as i32,
                ..Default::default()
            }),
            request_id: String::new(),
        };
        let s = expect_code(l.create_case_log(fx.req(open(42), kari())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["case_log.concern_area"]);
        let created = l.create_case_log(fx.req(open(ConcernArea::Environment as i32), kari())).await.unwrap().into_inner();
        assert_eq!(created.concern_area, ConcernArea::Environment as i32);
        let got = l.get_case_log(fx.req(GetCaseLogRequest { name: created.name.clone() }, kari())).await.unwrap().into_inner();
        assert_eq!(got.concern_area, ConcernArea::Environment as i32);
        let listed = l.list_case_logs(fx.req(ListCaseLogsRequest { parent: format!("tenants/{T}"), subject: fx.child.clone(), ..Default::default() }, personas::guardian("mor", T, &fx.mother))).await.unwrap().into_inner().case_logs;
        assert_eq!(listed[0].concern_area, ConcernArea::Environment as i32);
        // A conversation with the guardians is an entry of its own kind.
        let contact = l.create_entry(fx.req(CreateEntryRequest {
            parent: created.name.clone(),
            entry: Some(Entry { kind: EntryKind::GuardianContact as i32, text: "Samtale med mor".into(), ..Default::default() }),
            request_id: String::new(),
        }, kari())).await.unwrap().into_inner();
        assert_eq!(contact.kind, EntryKind::GuardianContact as i32);
        let read = l.get_entry(fx.req(GetEntryRequest { name: contact.name.clone() }, kari())).await.unwrap().into_inner();
        assert_eq!(read.kind, EntryKind::GuardianContact as i32);
    }

    async fn control_characters_in_free_text_are_invalid_arguments(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child).await;
        let mut l = fx.log.clone();
        let s = expect_code(l.create_entry(fx.req(CreateEntryRequest {
            parent: log.name.clone(),
            entry: Some(Entry { kind: EntryKind::Note as i32, text: "a\u{0}b".into(), ..Default::default() }),
            request_id: String::new(),
        }, kari())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["entry.text"]);
        let s = expect_code(l.create_handover(fx.req(CreateHandoverRequest {
            parent: log.name.clone(),
            handover: Some(Handover { to_professional: "nils".into(), to_unit: NURSE.into(), message: "bell\u{7}".into(), ..Default::default() }),
            request_id: String::new(),
        }, kari())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["handover.message"]);
        // Nothing was written.
        let entries = l.list_entries(fx.req(ListEntriesRequest { parent: log.name.clone(), ..Default::default() }, kari())).await.unwrap().into_inner().entries;
        assert!(entries.is_empty());
    }

    async fn measure_dates_outside_the_years_1900_to_2200_are_refused(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child).await;
        let mut l = fx.log.clone();
        let d = |year: i32, month: i32, day: i32| Some(bti_proto::google::r#type::Date { year, month, day });
        let measure = |start, by| CreateMeasureRequest {
            parent: log.name.clone(),
            measure: Some(Measure {
                description: "Samtalar".into(),
                responsible_unit: SCHOOL.into(),
                responsible_professional: "kari".into(),
                start_date: start,
                evaluate_by_date: by,
                ..Default::default()
            }),
            request_id: String::new(),
        };
        for (start, by, field) in [
            (d(0, 1, 1), d(2026, 6, 1), "measure.start_date"),
            (d(-1, 1, 1), d(2026, 6, 1), "measure.start_date"),
            (d(2026, 1, 1), d(10000, 1, 1), "measure.evaluate_by_date"),
        ] {
            let s = expect_code(l.create_measure(fx.req(measure(start, by), kari())).await, Code::InvalidArgument);
            assert_eq!(violated_fields(&s), [field]);
        }
        let m = l.create_measure(fx.req(measure(d(2026, 1, 1), d(2026, 6, 1)), kari())).await.unwrap().into_inner();
        let s = expect_code(l.update_measure(fx.req(UpdateMeasureRequest {
            measure: Some(Measure { name: m.name.clone(), evaluate_by_date: d(10000, 1, 1), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["evaluate_by_date".into()] }),
        }, kari())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["measure.evaluate_by_date"]);
        let s = expect_code(l.create_evaluation(fx.req(CreateEvaluationRequest {
            parent: m.name.clone(),
            evaluation: Some(Evaluation { decision: EvaluationDecision::Continue as i32, evaluation_date: d(10000, 1, 1), ..Default::default() }),
            request_id: String::new(),
        }, kari())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["evaluation.evaluation_date"]);
        let all = l.list_measures(fx.req(ListMeasuresRequest { parent: log.name.clone(), ..Default::default() }, kari())).await.unwrap().into_inner().measures;
        assert_eq!(all.len(), 1);
    }

    async fn concurrent_reads_and_writes_all_succeed(db) {
        let fx = Arc::new(Fx::start(db).await);
        let log = fx.open(&fx.child).await;
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (fx, name) = (fx.clone(), log.name.clone());
            tasks.push(tokio::spawn(async move {
                let mut l = fx.log.clone();
                if i % 2 == 0 {
                    l.get_case_log(fx.req(GetCaseLogRequest { name }, kari())).await.map(drop)
                } else {
                    l.create_entry(fx.req(CreateEntryRequest {
                        parent: name,
                        entry: Some(Entry { kind: EntryKind::Note as i32, text: format!("Notat {i}"), ..Default::default() }),
                        request_id: String::new(),
                    }, kari())).await.map(drop)
                }
            }));
        }
        for t in tasks {
            t.await.unwrap().expect("a read or a write failed under concurrency");
        }
        let entries = fx.log.clone().list_entries(fx.req(ListEntriesRequest { parent: log.name.clone(), page_size: 100, ..Default::default() }, kari())).await.unwrap().into_inner().entries;
        assert_eq!(entries.len(), 20);
    }

    async fn events_carry_what_their_consumers_need(db) {
        let fx = Fx::start(db).await;
        let log = fx.open(&fx.child).await;
        fx.participate(&log.name, NURSE, "nils").await;
        let mut l = fx.log.clone();
        let d = |year: i32, month: i32, day: i32| Some(bti_proto::google::r#type::Date { year, month, day });
        let measure = l.create_measure(fx.req(CreateMeasureRequest {
            parent: log.name.clone(),
            measure: Some(Measure { description: "Samtalar".into(), responsible_unit: NURSE.into(), responsible_professional: "nils".into(), start_date: d(2026, 1, 1), evaluate_by_date: d(2026, 6, 1), ..Default::default() }),
            request_id: String::new(),
        }, kari())).await.unwrap().into_inner();
        l.create_evaluation(fx.req(CreateEvaluationRequest {
            parent: measure.name.clone(),
            evaluation: Some(Evaluation { decision: EvaluationDecision::Continue as i32, evaluation_date: d(2026, 3, 1), ..Default::default() }),
            request_id: String::new(),
        }, nils())).await.unwrap();
        l.create_entry(fx.req(CreateEntryRequest {
            parent: log.name.clone(),
            entry: Some(Entry { kind: EntryKind::Minutes as i32, text: "Møte".into(), ..Default::default() }),
            request_id: String::new(),
        }, nils())).await.unwrap();
        let tr = l.create_transfer(fx.req(CreateTransferRequest {
            parent: log.name.clone(),
            transfer: Some(Transfer { to_unit: NURSE.into(), to_professional: "nils".into(), reason: TransferReason::Moving as i32, ..Default::default() }),
            request_id: String::new(),
        }, kari())).await.unwrap().into_inner();
        l.accept_handover(fx.req(AcceptHandoverRequest { name: tr.handover.clone(), etag: String::new() }, nils())).await.unwrap();
        l.close_case_log(fx.req(CloseCaseLogRequest { name: log.name.clone(), reason: CloseReason::ConcernResolved as i32, ..Default::default() }, nils())).await.unwrap();

        let db = &fx.dbs[2];
        let opened = decoded::<CaseLogOpened>(db).await;
        assert_eq!((opened[0].holder.as_str(), opened[0].holder_unit.as_str()), ("kari", SCHOOL));
        assert_eq!(opened[0].concern_degree, ConcernDegree::Unease as i32);
        assert_eq!(opened[0].concern_area, ConcernArea::Unspecified as i32);
        let m = &decoded::<MeasureChanged>(db).await[0];
        assert_eq!((m.responsible_unit.as_str(), m.responsible_professional.as_str()), (NURSE, "nils"));
        assert_eq!(m.evaluate_by_date, d(2026, 6, 1));
        let e = &decoded::<EvaluationRecorded>(db).await[0];
        assert_eq!(e.measure, measure.name);
        let entries = decoded::<EntryAppended>(db).await;
        assert_eq!(entries.last().unwrap().author_unit, NURSE);
        let participants = decoded::<ParticipantChanged>(db).await;
        // nils joined; kari stayed on when the baton passed.
        assert_eq!(participants.iter().map(|p| (p.professional.as_str(), p.unit.as_str())).collect::<Vec<_>>(), [("nils", NURSE), ("kari", SCHOOL)]);
        let transfers = decoded::<TransferChanged>(db).await;
        assert_eq!(transfers.iter().map(|t| (t.to_professional.as_str(), t.state)).collect::<Vec<_>>(), [("nils", TransferState::Pending as i32), ("nils", TransferState::Completed as i32)]);
        let decided = &decoded::<HandoverDecided>(db).await[0];
        assert_eq!((decided.from_professional.as_str(), decided.to_professional.as_str(), decided.state), ("kari", "nils", HandoverState::Accepted as i32));
        let passed = &decoded::<BatonPassed>(db).await[0];
        assert_eq!((passed.from_professional.as_str(), passed.to_professional.as_str(), passed.to_unit.as_str()), ("kari", "nils", NURSE));
        assert!(passed.former_holder_stays && !passed.reassigned);
        let closed = &decoded::<CaseLogClosed>(db).await[0];
        assert_eq!((closed.holder.as_str(), closed.reason), ("nils", CloseReason::ConcernResolved as i32));
    }

}

/// Adds nils (nurse) as a participant and returns his claims.
async fn nils_if_participant(fx: &Fx, log: &CaseLog) -> Claims {
    fx.participate(&log.name, NURSE, "nils").await;
    nils()
}

/// The participants (professional, unit) of `log` as `who` lists them.
async fn participants_as(fx: &Fx, log: &CaseLog, who: Claims) -> Vec<(String, String)> {
    fx.log
        .clone()
        .list_participants(fx.req(
            ListParticipantsRequest {
                parent: log.name.clone(),
                ..Default::default()
            },
            who,
        ))
        .await
        .unwrap()
        .into_inner()
        .participants
        .into_iter()
        .map(|p| (p.professional, p.unit))
        .collect()
}

/// A service database's outbox, oldest first, as the envelopes its relay publishes.
async fn outbox(db: &Db) -> Vec<EventEnvelope> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        chrono::DateTime<chrono::Utc>,
        Vec<u8>,
        String,
    );
    const SQL: &str = "SELECT id, source, event_type, subject, tenant, time, data, traceparent FROM bti_outbox ORDER BY seq";
    let rows: Vec<Row> = match db {
        Db::Postgres(p) => sqlx::query_as(SQL).fetch_all(p).await,
        Db::Sqlite(p) => sqlx::query_as(SQL).fetch_all(p).await,
    }
    .expect("read the outbox");
    rows.into_iter()
        .map(
            |(id, source, r#type, subject, tenant, time, data, traceparent)| EventEnvelope {
                id,
                source,
                r#type,
                subject,
                time: Some(bti_runtime::api::timestamp(time)),
                data,
                traceparent,
                tenant,
            },
        )
        .collect()
}

/// The payloads of type `M` in a service database's outbox, oldest first.
async fn decoded<M: Message + Name + Default>(db: &Db) -> Vec<M> {
    outbox(db)
        .await
        .into_iter()
        .filter(|e| e.r#type == M::full_name())
        .map(|e| M::decode(e.data.as_slice()).expect("decode payload"))
        .collect()
}
