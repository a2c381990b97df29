//! End-to-end in distributed mode: two `bti serve` replicas each of
//! `directory`, `consent`, `caselog`, `gateway` and `scheduling`, each service on its own PostgreSQL database, with
//! tokens from an identity provider's JWKS, the consent service calling the
//! directory with internal-issuer tokens, the gateway attaching an external
//! system's referral through the relay log's contract, scheduling following the relay
//! log's events to derive its deadline and book it into a meeting, notification following
//! scheduling's to put the invitation in the mother's inbox, and (when NATS is available) the
//! outbox relay publishing to JetStream. Runs in CI's PostgreSQL pass.

mod common;

use std::time::Duration;

use bti_proto::caselog::case_log_service_client::CaseLogServiceClient;
use bti_proto::caselog::{CaseLog, CreateCaseLogRequest, GetCaseLogRequest, Level};
use bti_proto::consent::consent_method::Method;
use bti_proto::consent::consent_service_client::ConsentServiceClient;
use bti_proto::consent::*;
use bti_proto::directory::directory_service_client::DirectoryServiceClient;
use bti_proto::directory::*;
use bti_proto::gateway::gateway_service_client::GatewayServiceClient;
use bti_proto::gateway::{
    Client, CreateClientRequest, CreateReferralRequest, Placement, Referral, ReferralContent,
    ReferralKind, ReferralSubject, referral, referral_subject,
};
use bti_proto::notification::notification_service_client::NotificationServiceClient;
use bti_proto::notification::{ListNotificationsRequest, NotificationKind};
use bti_proto::scheduling::scheduling_service_client::SchedulingServiceClient;
use bti_proto::scheduling::{
    BookSlotRequest, CreateMeetingSeriesRequest, ListDeadlinesRequest, MeetingSeries,
};
use bti_runtime::auth::{Role, personas};
use bti_runtime::events::{EventBus, NatsBus};
use bti_runtime::testing::with_token;
use chrono::{Datelike, NaiveDate};
use common::cluster::Cluster;
use futures::StreamExt;

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn directory_consent_caselog_and_gateway_run_as_separate_services() {
        let nats = std::env::var("BTI_TEST_NATS_URL")
            .ok()
            .filter(|u| !u.is_empty());
        let Some(mut cluster) = Cluster::new(2, nats.as_deref()).await else {
            eprintln!("skipped: {} not set", bti_runtime::testing::POSTGRES_ENV);
            return;
        };
        let idp = cluster.idp.clone();
        let events = match &nats {
            Some(url) => Some(NatsBus::connect(url, &cluster.stream).await.unwrap()),
            None => None,
        };
        let mut granted_events = match &events {
            Some(bus) => Some(
                bus.subscribe("serve-test", "bti.consent.v1.ConsentGranted")
                    .await
                    .unwrap(),
            ),
            None => None,
        };
        cluster.start_all().await;
        // Two replicas of each: the calls below alternate between them, and
        // each replica spreads its own peer calls over both of the peer's.
        let d_ch = cluster.serving("directory", 0).await;
        let c_ch = cluster.serving("consent", 0).await;
        let l_ch = cluster.serving("caselog", 0).await;

        // Each process serves only its own service.
        let mut d = DirectoryServiceClient::new(d_ch.clone());
        let op = idp.sign(personas::operator()).unwrap();
        let unmounted = ConsentServiceClient::new(d_ch.clone())
            .get_consent(with_token(
                GetConsentRequest {
                    name: "tenants/4201/consents/x".into(),
                },
                &op,
            ))
            .await
            .unwrap_err();
        assert_eq!(unmounted.code(), tonic::Code::Unimplemented);

        d.create_tenant(with_token(
            CreateTenantRequest {
                tenant_id: "4201".into(),
                tenant: Some(Tenant {
                    display_name: "Sauda".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &op,
        ))
        .await
        .unwrap();
        DirectoryServiceClient::new(cluster.serving("directory", 1).await)
            .create_unit(with_token(
                CreateUnitRequest {
                    parent: "tenants/4201".into(),
                    unit_id: "school".into(),
                    unit: Some(Unit {
                        display_name: "Skule".into(),
                        r#type: UnitType::School as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                &op,
            ))
            .await
            .unwrap();
        let person = |kind: PersonKind, y: i32| CreatePersonRequest {
            parent: "tenants/4201".into(),
            person: Some(Person {
                kind: kind as i32,
                national_id: bti_runtime::ids::first_national_id(
                    NaiveDate::from_ymd_opt(y, 2, 3).unwrap(),
                    false,
                    true,
                ),
                given_name: "A".into(),
                family_name: "B".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let child = d
            .create_person(with_token(person(PersonKind::Child, 2016), &op))
            .await
            .unwrap()
            .into_inner()
            .name;
        let mother = d
            .create_person(with_token(person(PersonKind::Guardian, 1986), &op))
            .await
            .unwrap()
            .into_inner()
            .name;
        d.create_guardianship(with_token(
            CreateGuardianshipRequest {
                parent: child.clone(),
                guardianship: Some(Guardianship {
                    guardian: mother.clone(),
                    parental_responsibility: true,
                    ..Default::default()
                }),
                ..Default::default()
            },
            &op,
        ))
        .await
        .unwrap();

        // The consent service checks the grant against the directory over gRPC.
        let teacher = idp
            .sign(personas::employee(
                "t",
                "4201",
                &["tenants/4201/units/school"],
                &[Role::Employee],
            ))
            .unwrap();
        let mut c = ConsentServiceClient::new(c_ch.clone());
        let granted = c
            .create_consent(with_token(
                CreateConsentRequest {
                    parent: "tenants/4201".into(),
                    consent: Some(Consent {
                        subject: child.clone(),
                        purpose: ConsentPurpose::RelayLogCollaboration as i32,
                        grantors: vec![Grantor {
                            person: mother.clone(),
                            role: GrantorRole::Guardian as i32,
                        }],
                        covered_units: vec!["tenants/4201/units/school".into()],
                        method: Some(ConsentMethod {
                            method: Some(Method::Oral(OralConsent::default())),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                &teacher,
            ))
            .await
            .unwrap()
            .into_inner();
        let check = ConsentServiceClient::new(cluster.serving("consent", 1).await)
            .check_access(with_token(
                CheckAccessRequest {
                    subject: child.clone(),
                    unit: "tenants/4201/units/school".into(),
                    purpose: ConsentPurpose::RelayLogCollaboration as i32,
                },
                &teacher,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(check.allowed);
        assert_eq!(check.revision, granted.revision);

        // The committed event reached JetStream through the outbox relay.
        if let Some(sub) = granted_events.as_mut() {
            let delivery = tokio::time::timeout(Duration::from_secs(15), sub.next())
                .await
                .expect("ConsentGranted on NATS within 15 s")
                .unwrap()
                .unwrap();
            delivery.ack().await.unwrap();
            assert_eq!(delivery.envelope.subject, granted.name);
            assert_eq!(delivery.envelope.source, "//bti.no/consent");
        }

        // The relay log asks the consent service, and opens the log.
        let mut l = CaseLogServiceClient::new(l_ch.clone());
        let log = l
            .create_case_log(with_token(
                CreateCaseLogRequest {
                    parent: "tenants/4201".into(),
                    case_log: Some(CaseLog {
                        subject: child.clone(),
                        unit: "tenants/4201/units/school".into(),
                        concern: "Uro".into(),
                        level: Level::Level1 as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                &teacher,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(log.consent_revision, granted.revision);
        let got = CaseLogServiceClient::new(cluster.serving("caselog", 1).await)
            .get_case_log(with_token(
                GetCaseLogRequest {
                    name: log.name.clone(),
                },
                &teacher,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.holder.unwrap().professional, "t");

        // Scheduling follows the log from the bus (one consumer shared by its
        // replicas): the guardian-contact deadline appears on either replica,
        // and the teacher books the case into a meeting made on the other.
        let mut s0 = SchedulingServiceClient::new(cluster.serving("scheduling", 0).await);
        let mut s1 = SchedulingServiceClient::new(cluster.serving("scheduling", 1).await);
        let filter = format!("case_log = \"{}\"", log.name);
        let until = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let found = s1
                .list_deadlines(with_token(
                    ListDeadlinesRequest {
                        parent: "tenants/4201".into(),
                        filter: filter.clone(),
                        ..Default::default()
                    },
                    &teacher,
                ))
                .await
                .unwrap()
                .into_inner()
                .deadlines;
            if !found.is_empty() {
                assert_eq!(found[0].responsible, "t");
                break;
            }
            assert!(
                std::time::Instant::now() < until,
                "the deadline within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let leader = idp
            .sign(personas::employee(
                "leader",
                "4201",
                &["tenants/4201/units/school"],
                &[Role::UnitLeader],
            ))
            .unwrap();
        let next_year = chrono::Utc::now().date_naive().year() + 1;
        let series = s0
            .create_meeting_series(with_token(
                CreateMeetingSeriesRequest {
                    parent: "tenants/4201/units/school".into(),
                    meeting_series: Some(MeetingSeries {
                        display_name: "BTI".into(),
                        start_times: vec![format!("{next_year}-03-02T13:00")],
                        duration: Some(prost_types::Duration {
                            seconds: 3600,
                            nanos: 0,
                        }),
                        slot_duration: Some(prost_types::Duration {
                            seconds: 1800,
                            nanos: 0,
                        }),
                        standing_units: vec!["tenants/4201/units/school".into()],
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                &leader,
            ))
            .await
            .unwrap()
            .into_inner();
        let booked = s1
            .book_slot(with_token(
                BookSlotRequest {
                    slot: format!("{}/slots/1", series.meetings[0]),
                    case_log: log.name.clone(),
                    ..Default::default()
                },
                &teacher,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(booked.organizer, "t");

        // Notification follows scheduling's events: the mother's inbox has
        // the invitation, on either replica.
        let mother_token = idp.sign(personas::guardian("m", "4201", &mother)).unwrap();
        let mut inbox = NotificationServiceClient::new(cluster.serving("notification", 1).await);
        let until = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let got = inbox
                .list_notifications(with_token(
                    ListNotificationsRequest {
                        parent: "tenants/4201".into(),
                        ..Default::default()
                    },
                    &mother_token,
                ))
                .await
                .unwrap()
                .into_inner()
                .notifications;
            if got
                .iter()
                .any(|n| n.kind == NotificationKind::MeetingInvited as i32)
            {
                break;
            }
            assert!(
                std::time::Instant::now() < until,
                "the invitation within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // An external system attaches a restricted report through the gateway,
        // which finds the log and attaches it over the relay log's contract.
        let g_ch = cluster.serving("gateway", 0).await;
        let mut g = GatewayServiceClient::new(g_ch.clone());
        d.create_unit(with_token(
            CreateUnitRequest {
                parent: "tenants/4201".into(),
                unit_id: "barnevern".into(),
                unit: Some(Unit {
                    display_name: "Barnevern".into(),
                    r#type: UnitType::ChildWelfare as i32,
                    ..Default::default()
                }),
                ..Default::default()
            },
            &op,
        ))
        .await
        .unwrap();
        g.create_client(with_token(
            CreateClientRequest {
                client_id: "cw".into(),
                client: Some(Client {
                    display_name: "Barnevern".into(),
                    organization_number: "974760673".into(),
                    tenants: vec!["4201".into()],
                    scopes: vec!["bti:referrals.write".into()],
                    unit: "tenants/4201/units/barnevern".into(),
                    ..Default::default()
                }),
            },
            &op,
        ))
        .await
        .unwrap();
        let client_token = idp
            .sign(personas::client("cw", "974760673", "bti:referrals.write"))
            .unwrap();
        let child_nid = bti_runtime::ids::first_national_id(
            NaiveDate::from_ymd_opt(2016, 2, 3).unwrap(),
            false,
            true,
        );
        let sent = GatewayServiceClient::new(cluster.serving("gateway", 1).await)
            .create_referral(with_token(
                CreateReferralRequest {
                    request_id: "6f1c1c3e-6a7b-4f3e-9a43-0d9b7d1e2a11".into(),
                    referral: Some(Referral {
                        tenant: "4201".into(),
                        kind: ReferralKind::ChildWelfareReport as i32,
                        external_reference: "BV-1".into(),
                        subject: Some(ReferralSubject {
                            identity: Some(referral_subject::Identity::NationalId(child_nid)),
                        }),
                        content: Some(referral::Content::Structured(ReferralContent {
                            concern: "Melding frå politiet.".into(),
                            ..Default::default()
                        })),
                        restricted: true,
                        legal_basis: "barnevernsloven § 13-2".into(),
                        ..Default::default()
                    }),
                },
                &client_token,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(sent.placement, Placement::CaseLog as i32);
        assert_eq!(sent.case_log, log.name);

        drop((d, c, l, g, d_ch, c_ch, l_ch, g_ch));
        cluster.terminate_all().await;
        if let Some(bus) = events {
            bus.delete_stream().await.unwrap();
        }
    }
}
