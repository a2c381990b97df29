//! The gateway through real gRPC with real signed client-credentials tokens,
//! with the real directory, consent and relay-log services on one test host
//! (each built by its crate's `build`, as `bti dev` builds them), on both
//! backends: authentication and registration checks, racing
//! retries, attachments, Fiks documents, placement on the relay log or in
//! intake, restricted referrals, status and statutory deadlines, summaries,
//! per-client quotas, mutual TLS, the published KS example, all violations
//! at once and control characters.

use std::sync::Arc;

use bti_proto::caselog::case_log_service_client::CaseLogServiceClient;
use bti_proto::caselog::{
    CaseLog, ChangeLevelRequest, ConcernDegree, CreateCaseLogRequest, Level,
    ListAccessLogEntriesRequest, ListAttachedReferralsRequest,
};
use bti_proto::consent::consent_method::Method;
use bti_proto::consent::consent_service_client::ConsentServiceClient;
use bti_proto::consent::{
    Consent, ConsentMethod, ConsentPurpose, CreateConsentRequest, Grantor, GrantorRole, OralConsent,
};
use bti_proto::directory::directory_service_client::DirectoryServiceClient;
use bti_proto::directory::{
    CreateGuardianshipRequest, CreatePersonRequest, CreateTenantRequest, CreateUnitRequest,
    Guardianship, Person, PersonKind, Tenant, Unit, UnitType,
};
use bti_proto::gateway::gateway_service_client::GatewayServiceClient;
use bti_proto::gateway::referral::Content;
use bti_proto::gateway::referral_subject::Identity;
use bti_proto::gateway::*;
use bti_runtime::auth::{Claims, LocalIssuer, Role, personas};
use bti_runtime::db::Db;
use bti_runtime::testing::{
    TestDb, TestHost, TestHostOptions, expect_code, outbox_types, violated_fields,
};
use chrono::{Datelike, NaiveDate};
use tonic::Code;
use tonic::transport::Channel;

const T: &str = "4201";
const SCHOOL: &str = "tenants/4201/units/school";
const CW: &str = "tenants/4201/units/barnevern";
const PPT: &str = "tenants/4201/units/ppt";
const CW_ORG: &str = "974760673";
const PPT_ORG: &str = "971032146";
const OTHER_ORG: &str = "991825827";
const ALL_SCOPES: &str = "bti:referrals.write bti:referrals.read bti:summaries.read";
const MAX_ATTACHMENT: usize = 64 * 1024;
const MAX_REQUEST: usize = 256 * 1024;

fn kari() -> Claims {
    personas::employee("kari", T, &[SCHOOL], &[Role::Employee])
}
fn cw_leader() -> Claims {
    personas::employee("leiar", T, &[CW], &[Role::UnitLeader])
}
fn cw() -> Claims {
    personas::client("cw", CW_ORG, ALL_SCOPES)
}
fn ppt() -> Claims {
    personas::client("ppt-system", PPT_ORG, ALL_SCOPES)
}
fn other_cw() -> Claims {
    personas::client("other-cw", OTHER_ORG, ALL_SCOPES)
}

fn years_ago(n: i32) -> NaiveDate {
    let today = chrono::Utc::now().date_naive();
    NaiveDate::from_ymd_opt(today.year() - n, 3, 3).unwrap()
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

const PDF: &[u8] = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";

fn sha(data: &[u8]) -> String {
    use sha2::Digest;
    bti_runtime::api::hex(&sha2::Sha256::digest(data))
}

struct Gx {
    server: TestHost,
    gw: GatewayServiceClient<Channel>,
    log: CaseLogServiceClient<Channel>,
    /// Child with an active relay log opened by the school (consent: school).
    child: String,
    child_nid: String,
    /// Child without a relay log.
    other_nid: String,
    mother: String,
    mother_nid: String,
    case_log: String,
    gateway_db: Db,
    /// The gateway's application, to run the sweep.
    app: bti_gateway::App,
    _dbs: Vec<TestDb>,
}

impl Gx {
    async fn start(db: TestDb) -> Gx {
        Self::start_with(db, MAX_ATTACHMENT, MAX_REQUEST).await
    }

    async fn start_with(db: TestDb, max_attachment: usize, max_request: usize) -> Gx {
        let consent_db = db.another().await;
        let caselog_db = db.another().await;
        let gateway_db = db.another().await;
        let mut options = TestHostOptions::default();
        options.settings.service.insert(
            "gateway".into(),
            serde_json::json!({
                "max_attachment_bytes": max_attachment,
                "max_request_bytes": max_request,
                // The tests run the sweep themselves.
                "sweep_interval_secs": 3600,
            }),
        );
        let mut app = None;
        let server = TestHost::start_with(options, |host| {
            let (gateway, handle) =
                bti_gateway::build(&host.wiring("gateway", gateway_db.db.clone()))?;
            app = Some(handle);
            Ok(vec![
                bti_directory::build(&host.wiring("directory", db.db.clone()))?.0,
                bti_consent::build(&host.wiring("consent", consent_db.db.clone()))?.0,
                bti_caselog::build(&host.wiring("caselog", caselog_db.db.clone()))?.0,
                gateway,
            ])
        })
        .await;
        let ch = server.channel.clone();
        let mut gx = Gx {
            gw: GatewayServiceClient::new(ch.clone()),
            log: CaseLogServiceClient::new(ch),
            server,
            child: String::new(),
            child_nid: String::new(),
            other_nid: String::new(),
            mother: String::new(),
            mother_nid: String::new(),
            case_log: String::new(),
            gateway_db: (*gateway_db).clone(),
            app: app.expect("the gateway was built"),
            _dbs: vec![db, consent_db, caselog_db, gateway_db],
        };
        gx.seed().await;
        gx
    }

    fn req<M>(&self, m: M, c: Claims) -> tonic::Request<M> {
        self.server.request(m, c)
    }

    async fn seed(&mut self) {
        let op = personas::operator();
        let mut d = DirectoryServiceClient::new(self.server.channel.clone());
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
            ("barnevern", UnitType::ChildWelfare),
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
        let person = async |kind: PersonKind, born: NaiveDate| {
            let nid = bti_runtime::ids::first_national_id(born, false, true);
            let name = d
                .clone()
                .create_person(self.req(
                    CreatePersonRequest {
                        parent: format!("tenants/{T}"),
                        person: Some(Person {
                            kind: kind as i32,
                            national_id: nid.clone(),
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
                .name;
            (name, nid)
        };
        let (child, child_nid) = person(PersonKind::Child, years_ago(9)).await;
        let (_, other_nid) = person(PersonKind::Child, years_ago(7)).await;
        let (mother, mother_nid) = person(PersonKind::Guardian, years_ago(40)).await;
        d.create_guardianship(self.req(
            CreateGuardianshipRequest {
                parent: child.clone(),
                guardianship: Some(Guardianship {
                    guardian: mother.clone(),
                    parental_responsibility: true,
                    ..Default::default()
                }),
                ..Default::default()
            },
            op.clone(),
        ))
        .await
        .unwrap();
        ConsentServiceClient::new(self.server.channel.clone())
            .create_consent(self.req(
                CreateConsentRequest {
                    parent: format!("tenants/{T}"),
                    consent: Some(Consent {
                        subject: child.clone(),
                        purpose: ConsentPurpose::RelayLogCollaboration as i32,
                        grantors: vec![Grantor {
                            person: mother.clone(),
                            role: GrantorRole::Guardian as i32,
                        }],
                        covered_units: vec![SCHOOL.into(), PPT.into()],
                        method: Some(ConsentMethod {
                            method: Some(Method::Oral(OralConsent::default())),
                        }),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                kari(),
            ))
            .await
            .unwrap();
        let log = self
            .log
            .clone()
            .create_case_log(self.req(
                CreateCaseLogRequest {
                    parent: format!("tenants/{T}"),
                    case_log: Some(CaseLog {
                        subject: child.clone(),
                        unit: SCHOOL.into(),
                        concern: "Trekkjer seg frå venner.".into(),
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
            .into_inner();
        for (id, org, unit, rate) in [
            ("cw", CW_ORG, CW, 0),
            ("ppt-system", PPT_ORG, PPT, 0),
            ("other-cw", OTHER_ORG, CW, 0),
        ] {
            self.register(id, org, unit, ALL_SCOPES, rate)
                .await
                .unwrap();
        }
        (
            self.child,
            self.child_nid,
            self.other_nid,
            self.mother,
            self.mother_nid,
            self.case_log,
        ) = (child, child_nid, other_nid, mother, mother_nid, log.name);
    }

    /// Another person of the municipality, by national id.
    async fn add_person(&self, kind: PersonKind, nid: &str) -> String {
        DirectoryServiceClient::new(self.server.channel.clone())
            .create_person(self.req(
                CreatePersonRequest {
                    parent: format!("tenants/{T}"),
                    person: Some(Person {
                        kind: kind as i32,
                        national_id: nid.into(),
                        given_name: "A".into(),
                        family_name: "B".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                personas::operator(),
            ))
            .await
            .unwrap()
            .into_inner()
            .name
    }

    async fn register(
        &self,
        id: &str,
        org: &str,
        unit: &str,
        scopes: &str,
        rate: i32,
    ) -> Result<Client, tonic::Status> {
        self.gw
            .clone()
            .create_client(self.req(
                CreateClientRequest {
                    client_id: id.into(),
                    client: Some(Client {
                        display_name: format!("{id} system"),
                        organization_number: org.into(),
                        tenants: vec![T.into()],
                        scopes: scopes.split(' ').map(str::to_string).collect(),
                        unit: unit.into(),
                        rate_limit_per_second: rate,
                        ..Default::default()
                    }),
                },
                personas::operator(),
            ))
            .await
            .map(|r| r.into_inner())
    }

    fn referral(&self, nid: &str) -> Referral {
        Referral {
            tenant: T.into(),
            kind: ReferralKind::ChildWelfareReport as i32,
            external_reference: "BV-2026-17".into(),
            subject: Some(ReferralSubject {
                identity: Some(Identity::NationalId(nid.into())),
            }),
            content: Some(Content::Structured(ReferralContent {
                concern: "Bekymring for omsorgssituasjonen.".into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    async fn send(&self, referral: Referral, who: Claims) -> Result<Referral, tonic::Status> {
        self.send_with(referral, who, &uuid()).await
    }

    async fn send_with(
        &self,
        referral: Referral,
        who: Claims,
        request_id: &str,
    ) -> Result<Referral, tonic::Status> {
        self.gw
            .clone()
            .create_referral(self.req(
                CreateReferralRequest {
                    referral: Some(referral),
                    request_id: request_id.into(),
                },
                who,
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn get(&self, name: &str, who: Claims) -> Result<Referral, tonic::Status> {
        self.gw
            .clone()
            .get_referral(self.req(GetReferralRequest { name: name.into() }, who))
            .await
            .map(|r| r.into_inner())
    }

    async fn attached(&self, who: Claims) -> Result<Vec<String>, tonic::Status> {
        self.log
            .clone()
            .list_attached_referrals(self.req(
                ListAttachedReferralsRequest {
                    parent: self.case_log.clone(),
                    ..Default::default()
                },
                who,
            ))
            .await
            .map(|r| {
                r.into_inner()
                    .referrals
                    .into_iter()
                    .map(|a| a.referral)
                    .collect()
            })
    }

    async fn summary(&self, who: Claims, nid: &str) -> Result<SubjectSummary, tonic::Status> {
        self.gw
            .clone()
            .get_subject_summary(self.req(
                GetSubjectSummaryRequest {
                    tenant: T.into(),
                    subject: Some(ReferralSubject {
                        identity: Some(Identity::NationalId(nid.into())),
                    }),
                },
                who,
            ))
            .await
            .map(|r| r.into_inner())
    }

    fn caselog_db(&self) -> &Db {
        &self._dbs[2]
    }

    async fn intake(&self, who: Claims) -> Result<Vec<Referral>, tonic::Status> {
        self.gw
            .clone()
            .list_intake_referrals(self.req(
                ListIntakeReferralsRequest {
                    parent: format!("tenants/{T}"),
                    ..Default::default()
                },
                who,
            ))
            .await
            .map(|r| r.into_inner().referrals)
    }

    async fn assigned_to(&self, unit: &str, who: Claims) -> Result<Vec<String>, tonic::Status> {
        self.gw
            .clone()
            .list_assigned_referrals(self.req(
                ListAssignedReferralsRequest {
                    parent: unit.into(),
                    ..Default::default()
                },
                who,
            ))
            .await
            .map(|r| {
                r.into_inner()
                    .referrals
                    .into_iter()
                    .map(|r| r.name)
                    .collect()
            })
    }

    fn mother_token(&self) -> Claims {
        personas::guardian("mor", T, &self.mother)
    }

    async fn count(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match &self.gateway_db {
            Db::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await,
            Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await,
        }
        .unwrap()
    }

    async fn exec(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match &self.gateway_db {
            Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(drop),
            Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(drop),
        }
        .unwrap()
    }
}

fn restricted(mut r: Referral) -> Referral {
    r.restricted = true;
    r.legal_basis = "barnevernsloven § 13-2".into();
    r
}

fn municipal_admin() -> Claims {
    personas::employee("admin", T, &[], &[Role::MunicipalAdmin])
}

/// The payloads of the events of `type_` in a service's outbox.
async fn outbox_payloads<M: prost::Message + Default>(db: &Db, type_: &str) -> Vec<M> {
    const SQL: &str = "SELECT data FROM bti_outbox WHERE event_type = $1 ORDER BY seq";
    let rows: Vec<Vec<u8>> = match db {
        Db::Postgres(p) => sqlx::query_scalar(SQL).bind(type_).fetch_all(p).await,
        Db::Sqlite(p) => sqlx::query_scalar(SQL).bind(type_).fetch_all(p).await,
    }
    .unwrap();
    rows.iter()
        .map(|d| M::decode(d.as_slice()).unwrap())
        .collect()
}

/// A public-sector report in the form of KS' published v2 example (see
/// services/gateway/tests/fixtures/README.md).
const KS_EXAMPLE: &str =
    include_str!("../services/gateway/tests/fixtures/offentlig-bekymringsmelding-v2.json");

fn fiks_doc(nid: &str, kommune: &str) -> String {
    let mut doc: serde_json::Value =
        serde_json::from_str(&bti_gateway::domain::fiks::example_document()).unwrap();
    doc["kommunenummer"] = kommune.into();
    doc["offentligBarn"][0]["fnr"] = nid.into();
    doc.to_string()
}

bti_runtime::backend_tests! {
    async fn tokens_are_verified_and_must_match_the_registration(db) {
        let gx = Gx::start(db).await;
        let referral = gx.referral(&gx.other_nid);
        let call = |token: String| {
            let mut gw = gx.gw.clone();
            let referral = referral.clone();
            async move {
                gw.create_referral(bti_runtime::testing::with_token(
                    CreateReferralRequest { referral: Some(referral), request_id: uuid() },
                    &token,
                ))
                .await
            }
        };
        // Signed by an issuer the gateway does not trust.
        let dir = std::env::temp_dir().join(format!("bti-evil-{}", uuid()));
        let evil = LocalIssuer::open_named(&dir, "evil-idp", true).unwrap();
        expect_code(call(evil.sign(cw()).unwrap()).await, Code::Unauthenticated);
        // The trusted issuer's name, but another key.
        let forged = LocalIssuer::open_named(&dir, bti_runtime::auth::DEV_ISSUER, true).unwrap();
        expect_code(call(forged.sign(cw()).unwrap()).await, Code::Unauthenticated);
        // Expired.
        let expired = Claims { exp: chrono::Utc::now().timestamp() - 3600, ..cw() };
        expect_code(call(gx.server.token(expired)).await, Code::Unauthenticated);
        // No token at all.
        expect_code(
            gx.gw.clone().create_referral(CreateReferralRequest {
                referral: Some(referral.clone()),
                request_id: uuid(),
            })
            .await,
            Code::Unauthenticated,
        );
        // Missing scope.
        let read_only = personas::client("cw", CW_ORG, "bti:referrals.read");
        let s = expect_code(call(gx.server.token(read_only)).await, Code::PermissionDenied);
        assert!(s.message().contains("bti:referrals.write"), "{s:?}");
        // The right client id with another organisation's number.
        let wrong_org = personas::client("cw", OTHER_ORG, ALL_SCOPES);
        expect_code(call(gx.server.token(wrong_org)).await, Code::PermissionDenied);
        // A valid token for a client nobody registered.
        let stranger = personas::client("stranger", CW_ORG, ALL_SCOPES);
        expect_code(call(gx.server.token(stranger)).await, Code::PermissionDenied);
        // A registered client may not use a scope it was not granted.
        gx.register("narrow", "983887457", CW, "bti:referrals.read", 0).await.unwrap();
        let narrow = personas::client("narrow", "983887457", ALL_SCOPES);
        expect_code(call(gx.server.token(narrow)).await, Code::PermissionDenied);
        // Another municipality than it is registered for.
        let mut elsewhere = referral.clone();
        elsewhere.tenant = "1103".into();
        expect_code(gx.send(elsewhere, cw()).await, Code::PermissionDenied);
        // Employees do not call the client methods.
        expect_code(gx.send(referral.clone(), kari()).await, Code::PermissionDenied);
        // Nothing was stored by any refused call.
        assert_eq!(gx.count("SELECT COUNT(*) FROM referrals").await, 0);
        // And the genuine client gets through.
        call(gx.server.token(cw())).await.unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }

    async fn a_disabled_client_is_refused(db) {
        let gx = Gx::start(db).await;
        let c = gx.gw.clone().get_client(gx.req(GetClientRequest { name: "clients/cw".into() }, personas::operator())).await.unwrap().into_inner();
        gx.gw.clone().update_client(gx.req(UpdateClientRequest {
            client: Some(Client { name: c.name.clone(), disabled: true, etag: c.etag.clone(), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["disabled".into()] }),
        }, personas::operator())).await.unwrap();
        expect_code(gx.send(gx.referral(&gx.other_nid), cw()).await, Code::PermissionDenied);
        // A stale etag is ABORTED.
        let s = gx.gw.clone().update_client(gx.req(UpdateClientRequest {
            client: Some(Client { name: c.name.clone(), disabled: false, etag: c.etag, ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["disabled".into()] }),
        }, personas::operator())).await;
        expect_code(s, Code::Aborted);
    }

    async fn municipal_administrators_register_clients_for_their_own_municipality(db) {
        let gx = Gx::start(db).await;
        let admin = personas::employee("admin", T, &[], &[Role::MunicipalAdmin]);
        let mut gw = gx.gw.clone();
        let client = |tenants: Vec<&str>, unit: &str, org: &str| Client {
            display_name: "PPT-systemet".into(),
            organization_number: org.into(),
            tenants: tenants.into_iter().map(str::to_string).collect(),
            scopes: vec!["bti:referrals.write".into()],
            unit: unit.into(),
            ..Default::default()
        };
        let created = gw.create_client(gx.req(CreateClientRequest {
            client_id: "sauda-ppt".into(),
            client: Some(client(vec![T], PPT, "889640782")),
        }, admin.clone())).await.unwrap().into_inner();
        assert_eq!(created.name, "clients/sauda-ppt");
        assert_eq!(created.rate_limit_per_second, 20);
        // Another municipality too: only the operator may.
        expect_code(gw.create_client(gx.req(CreateClientRequest {
            client_id: "interkommunal".into(),
            client: Some(client(vec![T, "1103"], PPT, "889640782")),
        }, admin.clone())).await, Code::PermissionDenied);
        // A teacher may not.
        expect_code(gw.create_client(gx.req(CreateClientRequest {
            client_id: "x".into(),
            client: Some(client(vec![T], PPT, "889640782")),
        }, kari())).await, Code::PermissionDenied);
        // Bad input names its fields.
        let s = expect_code(gw.create_client(gx.req(CreateClientRequest {
            client_id: "Bad Id".into(),
            client: Some(Client { scopes: vec!["root".into()], ..client(vec!["42"], "units/x", "123456789") }),
        }, admin.clone())).await, Code::InvalidArgument);
        let fields = violated_fields(&s);
        for f in ["client_id", "client.organization_number", "client.tenants[0]", "client.scopes[0]", "client.unit"] {
            assert!(fields.contains(&f.to_string()), "{f} missing from {fields:?}");
        }
        // A unit the directory does not know.
        let s = expect_code(gw.create_client(gx.req(CreateClientRequest {
            client_id: "ghost".into(),
            client: Some(client(vec![T], "tenants/4201/units/ghost", "889640782")),
        }, admin.clone())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), vec!["client.unit"]);
        // Taken id.
        expect_code(gw.create_client(gx.req(CreateClientRequest {
            client_id: "sauda-ppt".into(),
            client: Some(client(vec![T], PPT, "889640782")),
        }, admin.clone())).await, Code::AlreadyExists);
        // The administrator lists the municipality's clients.
        let listed = gw.list_clients(gx.req(ListClientsRequest::default(), admin.clone())).await.unwrap().into_inner();
        assert_eq!(listed.clients.len(), 4);
        expect_code(gw.list_clients(gx.req(ListClientsRequest { tenant: "1103".into(), ..Default::default() }, admin)).await, Code::PermissionDenied);
    }

    async fn a_referral_with_consent_for_the_senders_unit_lands_on_the_relay_log(db) {
        let gx = Gx::start(db).await;
        // PPT is covered by the child's consent.
        let mut referral = gx.referral(&gx.child_nid);
        referral.kind = ReferralKind::Ppt as i32;
        let r = gx.send(referral, ppt()).await.unwrap();
        assert_eq!(r.placement, Placement::CaseLog as i32);
        assert_eq!(r.case_log, gx.case_log);
        assert_eq!(r.status, ReferralStatus::Submitted as i32);
        assert!(r.subject.is_none(), "the subject is input only");
        assert!(r.deadlines.is_empty(), "PPT referrals have no statutory deadlines");
        // Those who read the log see it: the holder and the guardian.
        assert_eq!(gx.attached(kari()).await.unwrap(), vec![r.name.clone()]);
        assert_eq!(gx.attached(gx.mother_token()).await.unwrap(), vec![r.name.clone()]);
        assert!(outbox_types(&gx.gateway_db).await.contains(&"bti.gateway.v1.ReferralReceived".to_string()));
        // Child welfare's unit is not covered: its non-restricted report waits in intake.
        let r2 = gx.send(gx.referral(&gx.child_nid), cw()).await.unwrap();
        assert_eq!(r2.placement, Placement::Intake as i32);
        assert!(r2.case_log.is_empty());
        assert_eq!(gx.attached(kari()).await.unwrap(), vec![r.name]);
        // Intake staff see it; the assigned unit gets it.
        let intake = gx.gw.clone().list_intake_referrals(gx.req(ListIntakeReferralsRequest {
            parent: format!("tenants/{T}"), ..Default::default()
        }, cw_leader())).await.unwrap().into_inner();
        assert_eq!(intake.referrals.iter().map(|r| r.name.clone()).collect::<Vec<_>>(), vec![r2.name.clone()]);
        assert_eq!(intake.referrals[0].person, gx.child);
        expect_code(gx.gw.clone().list_intake_referrals(gx.req(ListIntakeReferralsRequest {
            parent: format!("tenants/{T}"), ..Default::default()
        }, kari())).await, Code::PermissionDenied);
        let assigned = gx.gw.clone().assign_referral(gx.req(AssignReferralRequest {
            name: r2.name.clone(), unit: CW.into(), etag: r2.etag.clone(),
        }, cw_leader())).await.unwrap().into_inner();
        assert_eq!(assigned.placement, Placement::Assigned as i32);
        assert_eq!(assigned.assigned_unit, CW);
        expect_code(gx.gw.clone().assign_referral(gx.req(AssignReferralRequest {
            name: r2.name.clone(), unit: CW.into(), etag: String::new(),
        }, cw_leader())).await, Code::FailedPrecondition);
        // A caseworker of the assigned unit reads it; the teacher does not know of it.
        let caseworker = personas::employee("saksbehandlar", T, &[CW], &[Role::Employee]);
        assert_eq!(gx.get(&r2.name, caseworker).await.unwrap().assigned_unit, CW);
        expect_code(gx.get(&r2.name, kari()).await, Code::NotFound);
        assert!(outbox_types(&gx.gateway_db).await.contains(&"bti.gateway.v1.ReferralAssigned".to_string()));
        // Every read and write is in the gateway's access log.
        let rows = gx.count(&format!("SELECT COUNT(*) FROM access_log WHERE referral = '{}'", r2.name.trim_start_matches("referrals/"))).await;
        assert!(rows >= 5, "create, route, intake read, assign, get: {rows}");
    }

    async fn a_restricted_referral_is_hidden_from_guardians_until_lifted(db) {
        let gx = Gx::start(db).await;
        let mut referral = gx.referral(&gx.child_nid);
        referral.restricted = true;
        referral.legal_basis = "barnevernsloven § 13-2".into();
        let r = gx.send(referral, cw()).await.unwrap();
        // No consent for child welfare's unit is needed.
        assert_eq!(r.placement, Placement::CaseLog as i32);
        assert!(r.restricted);
        // The holder sees it; the guardian sees neither it nor any trace of it.
        assert_eq!(gx.attached(kari()).await.unwrap(), vec![r.name.clone()]);
        assert!(gx.attached(gx.mother_token()).await.unwrap().is_empty());
        let access = gx.log.clone().list_access_log_entries(gx.req(ListAccessLogEntriesRequest {
            parent: gx.case_log.clone(), ..Default::default()
        }, gx.mother_token())).await.unwrap().into_inner();
        assert!(
            access.access_log_entries.iter().all(|a| !a.resource.contains("/referrals/") && !a.actor.starts_with("client:")),
            "{:?}", access.access_log_entries
        );
        // The client's own reads of it are logged on its legal basis.
        gx.get(&r.name, cw()).await.unwrap();
        let id = r.name.trim_start_matches("referrals/").to_string();
        let on_basis = gx.count(&format!("SELECT COUNT(*) FROM access_log WHERE referral = '{id}' AND purpose = 'GetReferral' AND basis = 'legal basis: barnevernsloven § 13-2'")).await;
        assert_eq!(on_basis, 1);
        // Lifting is the sending client's; another client does not even see it.
        expect_code(gx.gw.clone().lift_restriction(gx.req(LiftRestrictionRequest {
            name: r.name.clone(), etag: String::new(),
        }, other_cw())).await, Code::NotFound);
        let lifted = gx.gw.clone().lift_restriction(gx.req(LiftRestrictionRequest {
            name: r.name.clone(), etag: String::new(),
        }, cw())).await.unwrap().into_inner();
        assert!(!lifted.restricted && lifted.lift_time.is_some());
        assert_eq!(gx.attached(gx.mother_token()).await.unwrap(), vec![r.name.clone()]);
        // Lifting again changes nothing.
        gx.gw.clone().lift_restriction(gx.req(LiftRestrictionRequest {
            name: r.name.clone(), etag: String::new(),
        }, cw())).await.unwrap();
        let lifts = outbox_types(&gx.gateway_db).await.iter().filter(|t| t.ends_with("RestrictionLifted")).count();
        assert_eq!(lifts, 1);
        // But it showed the referral, so it is a logged read.
        let reads = gx.count(&format!("SELECT COUNT(*) FROM access_log WHERE referral = '{id}' AND action = 'READ' AND purpose = 'LiftRestriction: already lifted'")).await;
        assert_eq!(reads, 1);
    }

    async fn a_client_sees_only_its_own_referrals(db) {
        let gx = Gx::start(db).await;
        let mine = gx.send(gx.referral(&gx.other_nid), cw()).await.unwrap();
        let theirs = gx.send(gx.referral(&gx.other_nid), other_cw()).await.unwrap();
        gx.get(&mine.name, cw()).await.unwrap();
        expect_code(gx.get(&theirs.name, cw()).await, Code::NotFound);
        expect_code(gx.gw.clone().report_referral_status(gx.req(ReportReferralStatusRequest {
            name: theirs.name.clone(), status: ReferralStatus::Received as i32, ..Default::default()
        }, cw())).await, Code::NotFound);
        let listed = gx.gw.clone().list_referrals(gx.req(ListReferralsRequest::default(), cw())).await.unwrap().into_inner();
        assert_eq!(listed.referrals.iter().map(|r| r.name.clone()).collect::<Vec<_>>(), vec![mine.name]);
        expect_code(gx.get("referrals/nonexistent", cw()).await, Code::NotFound);
    }

    async fn racing_retries_with_one_request_id_create_one_referral(db) {
        let gx = Gx::start(db).await;
        let request_id = uuid();
        let mut referral = gx.referral(&gx.child_nid);
        referral.restricted = true;
        referral.legal_basis = "barnevernsloven § 13-2".into();
        let calls = (0..8).map(|_| gx.send_with(referral.clone(), cw(), &request_id));
        let results = futures::future::join_all(calls).await;
        let names: Vec<String> = results.into_iter().map(|r| r.unwrap().name).collect();
        assert!(names.iter().all(|n| *n == names[0]), "{names:?}");
        assert_eq!(gx.count("SELECT COUNT(*) FROM referrals").await, 1);
        assert_eq!(gx.attached(kari()).await.unwrap(), vec![names[0].clone()]);
        let received = outbox_types(&gx.gateway_db).await.iter().filter(|t| t.ends_with("ReferralReceived")).count();
        assert_eq!(received, 1);
        // The same id with another request is refused, not replayed.
        let s = expect_code(gx.send_with(gx.referral(&gx.other_nid), cw(), &request_id).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), vec!["request_id"]);
        // Another client's identical id is its own.
        let theirs = gx.send_with(referral, other_cw(), &request_id).await.unwrap();
        assert_ne!(theirs.name, names[0]);
        // And the id is required.
        let s = expect_code(gx.send_with(gx.referral(&gx.other_nid), cw(), "").await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), vec!["request_id"]);
    }

    async fn attachments_are_limited_in_size_and_checked_by_hash(db) {
        let gx = Gx::start(db).await;
        let with = |a: Attachment| {
            let mut r = gx.referral(&gx.other_nid);
            r.attachments = vec![a];
            r
        };
        let pdf = |data: Vec<u8>| Attachment {
            filename: "melding.pdf".into(),
            content_type: "application/pdf".into(),
            sha256: sha(&data),
            data,
            size_bytes: 0,
        };
        let ok = gx.send(with(pdf(PDF.to_vec())), cw()).await.unwrap();
        assert_eq!(ok.attachments.len(), 1);
        assert_eq!(ok.attachments[0].size_bytes, PDF.len() as i64);
        assert!(ok.attachments[0].data.is_empty(), "bytes are input only");
        // One byte over the per-attachment limit.
        let mut big = PDF.to_vec();
        big.resize(MAX_ATTACHMENT + 1, b' ');
        let s = expect_code(gx.send(with(pdf(big)), cw()).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), vec!["referral.attachments[0].data"]);
        // Wrong hash, not a PDF, wrong type.
        let mut bad = pdf(PDF.to_vec());
        bad.sha256 = sha(b"something else");
        let s = expect_code(gx.send(with(bad), cw()).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), vec!["referral.attachments[0].sha256"]);
        let s = expect_code(gx.send(with(pdf(b"GIF89a".to_vec())), cw()).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), vec!["referral.attachments[0].data"]);
        let mut html = pdf(PDF.to_vec());
        html.content_type = "text/html".into();
        let s = expect_code(gx.send(with(html), cw()).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), vec!["referral.attachments[0].content_type"]);
        // A message over the request size limit is refused before it is decoded.
        let mut huge = PDF.to_vec();
        huge.resize(MAX_REQUEST + 1, b' ');
        let s = gx.send(with(pdf(huge)), cw()).await.unwrap_err();
        // tonic checks the length prefix against the limit before buffering.
        assert_eq!(s.code(), Code::OutOfRange, "{s:?}");
        assert_eq!(gx.count("SELECT COUNT(*) FROM referrals").await, 1);
    }

    async fn fiks_documents_are_validated_against_the_published_schema(db) {
        let gx = Gx::start(db).await;
        let with = |doc: String| {
            let mut r = gx.referral(&gx.other_nid);
            r.content = Some(Content::FiksBekymringsmeldingJson(doc));
            r
        };
        let good = fiks_doc(&gx.other_nid, T);
        let r = gx.send(with(good.clone()), cw()).await.unwrap();
        assert!(matches!(r.content, Some(Content::FiksBekymringsmeldingJson(_))));
        let field = "referral.fiks_bekymringsmelding_json";
        // Not JSON at all.
        let s = expect_code(gx.send(with("{not json".into()), cw()).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), vec![format!("{field}#")]);
        // A required property missing, and a pattern failing: both named by path.
        let mut doc: serde_json::Value = serde_json::from_str(&good).unwrap();
        doc.as_object_mut().unwrap().remove("melding");
        doc["bydelsnummer"] = "1".into();
        let s = expect_code(gx.send(with(doc.to_string()), cw()).await, Code::InvalidArgument);
        let fields = violated_fields(&s);
        assert!(fields.contains(&format!("{field}#/bydelsnummer")), "{fields:?}");
        assert!(fields.iter().any(|f| f.starts_with(&format!("{field}#"))) && fields.len() >= 2, "{fields:?}");
        // Nothing in the answer echoes the document (it holds national ids and names).
        assert!(!format!("{s:?}").contains(&gx.other_nid));
        // Valid, but about another child or municipality than the referral says.
        let s = expect_code(gx.send(with(fiks_doc(&gx.child_nid, T)), cw()).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), vec![format!("{field}#/offentligBarn")]);
        let s = expect_code(gx.send(with(fiks_doc(&gx.other_nid, "1103")), cw()).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), vec![format!("{field}#/kommunenummer")]);
        assert_eq!(gx.count("SELECT COUNT(*) FROM referrals").await, 1);
    }

    async fn bad_referrals_get_field_violations_and_unknown_subjects_a_precondition(db) {
        let gx = Gx::start(db).await;
        let s = expect_code(gx.send(Referral::default(), cw()).await, Code::InvalidArgument);
        let fields = violated_fields(&s);
        for f in ["referral.tenant", "referral.kind", "referral.external_reference", "referral.subject", "referral.content"] {
            assert!(fields.contains(&f.to_string()), "{f} missing from {fields:?}");
        }
        let mut r = gx.referral("12345678901");
        r.restricted = true;
        let s = expect_code(gx.send(r, cw()).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), vec!["referral.subject.national_id", "referral.legal_basis"]);
        assert!(!s.message().contains("12345678901"));
        let unknown = bti_runtime::ids::first_national_id(years_ago(3), false, true);
        let s = expect_code(gx.send(gx.referral(&unknown), cw()).await, Code::FailedPrecondition);
        assert!(!format!("{s:?}").contains(&unknown));
    }

    async fn statuses_move_forward_and_deadlines_fall_due(db) {
        let gx = Gx::start(db).await;
        let r = gx.send(gx.referral(&gx.other_nid), cw()).await.unwrap();
        assert_eq!(r.deadlines.iter().map(|d| d.kind.as_str()).collect::<Vec<_>>(), vec!["review", "feedback"]);
        assert!(r.deadlines.iter().all(|d| !d.overdue));
        let mut gw = gx.gw.clone();
        let report = |status: ReferralStatus, feedback: &str| ReportReferralStatusRequest {
            name: r.name.clone(), status: status as i32, feedback: feedback.into(), ..Default::default()
        };
        let received = gw.report_referral_status(gx.req(report(ReferralStatus::Received, ""), cw())).await.unwrap().into_inner();
        assert!(received.deadlines[0].met_time.is_some());
        // Retrying the same status changes nothing; going back is refused.
        let again = gw.report_referral_status(gx.req(report(ReferralStatus::Received, ""), cw())).await.unwrap().into_inner();
        assert_eq!(again.etag, received.etag);
        expect_code(gw.report_referral_status(gx.req(report(ReferralStatus::Submitted, ""), cw())).await, Code::InvalidArgument);
        // Closing needs the feedback to the reporter.
        let s = expect_code(gw.report_referral_status(gx.req(report(ReferralStatus::Closed, ""), cw())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), vec!["feedback"]);
        // A stale etag is ABORTED.
        let mut stale = report(ReferralStatus::InvestigationOpened, "");
        stale.etag = r.etag.clone();
        expect_code(gw.report_referral_status(gx.req(stale, cw())).await, Code::Aborted);

        // Another report, received four weeks ago and never acknowledged.
        let old = gx.send(gx.referral(&gx.other_nid), cw()).await.unwrap();
        let id = old.name.trim_start_matches("referrals/");
        let weeks_ago = bti_runtime::api::now() - chrono::Duration::days(28);
        let ts = match &gx.gateway_db { Db::Sqlite(_) => format!("'{}'", weeks_ago.to_rfc3339()), Db::Postgres(_) => format!("'{}'::timestamptz", weeks_ago.to_rfc3339()) };
        gx.exec(&format!("UPDATE referrals SET create_time = {ts} WHERE id = '{id}'")).await;
        let overdue = gw.list_overdue_referrals(gx.req(ListOverdueReferralsRequest::default(), cw())).await.unwrap().into_inner();
        assert_eq!(overdue.referrals.iter().map(|r| r.name.clone()).collect::<Vec<_>>(), vec![old.name.clone()]);
        let kinds: Vec<&str> = overdue.referrals[0].deadlines.iter().filter(|d| d.overdue).map(|d| d.kind.as_str()).collect();
        assert_eq!(kinds, vec!["review", "feedback"]);
        // Not another client's business.
        assert!(gw.list_overdue_referrals(gx.req(ListOverdueReferralsRequest::default(), other_cw())).await.unwrap().into_inner().referrals.is_empty());
        // The sweep reports each missed deadline once.
        gx.app.sweep().await.unwrap();
        gx.app.sweep().await.unwrap();
        let missed = outbox_types(&gx.gateway_db).await.iter().filter(|t| t.ends_with("DeadlineMissed")).count();
        assert_eq!(missed, 2);
        // Opening the investigation meets both; it then runs three months.
        let opened = gw.report_referral_status(gx.req(ReportReferralStatusRequest {
            name: old.name.clone(), status: ReferralStatus::InvestigationOpened as i32, ..Default::default()
        }, cw())).await.unwrap().into_inner();
        assert_eq!(opened.deadlines.len(), 3);
        assert!(opened.deadlines.iter().all(|d| !d.overdue));
        assert!(gw.list_overdue_referrals(gx.req(ListOverdueReferralsRequest::default(), cw())).await.unwrap().into_inner().referrals.is_empty());
        let closed = gw.report_referral_status(gx.req(ReportReferralStatusRequest {
            name: old.name.clone(), status: ReferralStatus::Closed as i32, feedback: "Undersøking avslutta.".into(), ..Default::default()
        }, cw())).await.unwrap().into_inner();
        assert_eq!(closed.feedback, "Undersøking avslutta.");
    }

    async fn summaries_need_consent_for_the_clients_unit_or_a_legal_basis(db) {
        let gx = Gx::start(db).await;
        // PPT's unit is covered by consent: a summary, without free text.
        let s = gx.summary(ppt(), &gx.child_nid).await.unwrap();
        assert_eq!(s.levels.iter().map(|l| l.level).collect::<Vec<_>>(), vec![1]);
        // Each level period, the one it was opened at included.
        gx.log.clone().change_level(gx.req(ChangeLevelRequest {
            name: gx.case_log.clone(), level: Level::Level2 as i32, reason: "Treng PPT".into(), ..Default::default()
        }, kari())).await.unwrap();
        let s = gx.summary(ppt(), &gx.child_nid).await.unwrap();
        assert_eq!(s.levels.iter().map(|l| l.level).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(s.levels[0].since, s.opened_time);
        let secs = |l: &LevelPeriod| l.since.map(|t| (t.seconds, t.nanos));
        assert!(secs(&s.levels[1]) > secs(&s.levels[0]));
        assert_eq!(s.baton_holder_units, vec![SCHOOL.to_string()]);
        assert!(s.opened_time.is_some());
        // It is in the relay log's access log, against the client.
        let access = gx.log.clone().list_access_log_entries(gx.req(ListAccessLogEntriesRequest {
            parent: gx.case_log.clone(), ..Default::default()
        }, kari())).await.unwrap().into_inner();
        assert!(access.access_log_entries.iter().any(|a| a.actor == "client:ppt-system"), "{:?}", access.access_log_entries);
        // Child welfare's unit is not covered and it has no restricted report: NOT_FOUND,
        // the same answer as for a child without a log or unknown to the directory.
        let denied = expect_code(gx.summary(cw(), &gx.child_nid).await, Code::NotFound);
        let no_log = expect_code(gx.summary(cw(), &gx.other_nid).await, Code::NotFound);
        assert_eq!(denied.message(), no_log.message());
        // A non-restricted report in intake gives no basis either.
        gx.send(gx.referral(&gx.child_nid), cw()).await.unwrap();
        expect_code(gx.summary(cw(), &gx.child_nid).await, Code::NotFound);
        // A restricted child-welfare report from this client is the legal basis.
        let mut restricted = gx.referral(&gx.child_nid);
        restricted.restricted = true;
        restricted.legal_basis = "barnevernsloven § 13-2".into();
        gx.send(restricted, cw()).await.unwrap();
        gx.summary(cw(), &gx.child_nid).await.unwrap();
        // But not for another child-welfare client speaking for the same unit.
        expect_code(gx.summary(other_cw(), &gx.child_nid).await, Code::NotFound);
        // The summary needs its scope.
        let no_scope = personas::client("ppt-system", PPT_ORG, "bti:referrals.read");
        expect_code(gx.summary(no_scope, &gx.child_nid).await, Code::PermissionDenied);
    }

    async fn a_client_over_its_rate_is_told_when_to_retry(db) {
        let gx = Gx::start(db).await;
        gx.register("slow", "923609016", CW, ALL_SCOPES, 2).await.unwrap();
        let slow = personas::client("slow", "923609016", ALL_SCOPES);
        let mut codes = Vec::new();
        let mut retry = None;
        for _ in 0..6 {
            match gx.gw.clone().list_referrals(gx.req(ListReferralsRequest::default(), slow.clone())).await {
                Ok(_) => codes.push(Code::Ok),
                Err(s) => {
                    use tonic_types::StatusExt;
                    codes.push(s.code());
                    retry = retry.or(s.get_error_details().retry_info().and_then(|r| r.retry_delay));
                }
            }
        }
        assert!(codes.contains(&Code::ResourceExhausted), "{codes:?}");
        assert!(retry.is_some_and(|d| d > std::time::Duration::ZERO));
        // Other clients are not held back by it.
        gx.gw.clone().list_referrals(gx.req(ListReferralsRequest::default(), cw())).await.unwrap();
    }

    async fn the_holder_is_told_of_an_attached_referral(db) {
        let gx = Gx::start(db).await;
        let r = gx.send(restricted(gx.referral(&gx.child_nid)), cw()).await.unwrap();
        assert_eq!(r.placement, Placement::CaseLog as i32);
        let told: Vec<bti_proto::caselog::ReferralAttached> =
            outbox_payloads(gx.caselog_db(), "bti.caselog.v1.ReferralAttached").await;
        assert_eq!(told.len(), 1, "one event for one attached referral");
        assert_eq!(told[0].holder, "kari");
        assert!(told[0].restricted);
        // A retry attaches nothing new and tells nobody again.
        let key = uuid();
        let first = gx.send_with(gx.referral(&gx.child_nid), ppt(), &key).await.unwrap();
        let again = gx.send_with(gx.referral(&gx.child_nid), ppt(), &key).await.unwrap();
        assert_eq!(again.name, first.name);
        let told: Vec<bti_proto::caselog::ReferralAttached> =
            outbox_payloads(gx.caselog_db(), "bti.caselog.v1.ReferralAttached").await;
        assert_eq!(told.len(), 2, "one more for the second referral, none for its retry");
        assert!(!told[1].restricted);
    }

    async fn the_published_ks_example_with_a_local_sending_time_is_accepted(db) {
        let gx = Gx::start(db).await;
        // The children of the example, in the directory.
        let doc: serde_json::Value = serde_json::from_str(KS_EXAMPLE).unwrap();
        let nid = doc["offentligBarn"][0]["fnr"].as_str().unwrap().to_string();
        let person = gx.add_person(PersonKind::Child, &nid).await;
        let mut referral = gx.referral(&nid);
        referral.content = Some(Content::FiksBekymringsmeldingJson(KS_EXAMPLE.into()));
        // Sent as published: `sendingstidspunkt` is a local time without an offset.
        let r = gx.send(referral.clone(), cw()).await.unwrap();
        assert_eq!(r.person, person);
        assert_eq!(r.placement, Placement::Intake as i32);
        assert!(matches!(r.content, Some(Content::FiksBekymringsmeldingJson(ref d)) if d == KS_EXAMPLE));
        // What is not a date-time at all is still refused, and so is a local
        // time Europe/Oslo skips (the spring-forward hour).
        let field = "referral.fiks_bekymringsmelding_json#/sendingstidspunkt".to_string();
        for bad in ["i går kveld", "2020-03-16", "2020-03-16T25:00:00", "2020-03-29T02:30:00"] {
            let mut d = doc.clone();
            d["sendingstidspunkt"] = bad.into();
            referral.content = Some(Content::FiksBekymringsmeldingJson(d.to_string()));
            let s = expect_code(gx.send(referral.clone(), cw()).await, Code::InvalidArgument);
            assert_eq!(violated_fields(&s), vec![field.clone()], "{bad}");
        }
        assert_eq!(gx.count("SELECT COUNT(*) FROM referrals").await, 1);
    }

    async fn schema_and_fact_violations_are_reported_together(db) {
        let gx = Gx::start(db).await;
        let field = "referral.fiks_bekymringsmelding_json";
        let with = |doc: &serde_json::Value| {
            let mut r = gx.referral(&gx.other_nid);
            r.content = Some(Content::FiksBekymringsmeldingJson(doc.to_string()));
            r
        };
        // A pattern failing, another municipality and another child: one answer names all three.
        let mut doc: serde_json::Value = serde_json::from_str(&fiks_doc(&gx.child_nid, "1103")).unwrap();
        doc["bydelsnummer"] = "1".into();
        let s = expect_code(gx.send(with(&doc), cw()).await, Code::InvalidArgument);
        let mut fields = violated_fields(&s);
        fields.sort();
        assert_eq!(fields, vec![
            format!("{field}#/bydelsnummer"),
            format!("{field}#/kommunenummer"),
            format!("{field}#/offentligBarn"),
        ]);
        assert!(!format!("{s:?}").contains(&gx.child_nid));
        // With the fact fields missing, the schema's answer is all there is.
        doc.as_object_mut().unwrap().remove("kommunenummer");
        doc.as_object_mut().unwrap().remove("offentligBarn");
        let s = expect_code(gx.send(with(&doc), cw()).await, Code::InvalidArgument);
        let fields = violated_fields(&s);
        assert!(fields.contains(&format!("{field}#")) && fields.contains(&format!("{field}#/bydelsnummer")), "{fields:?}");
        assert!(!fields.contains(&format!("{field}#/kommunenummer")), "{fields:?}");
        assert_eq!(gx.count("SELECT COUNT(*) FROM referrals").await, 0);
    }

    async fn control_characters_in_free_text_are_refused(db) {
        // Limits that let a request past the runtime's screening (it reads
        // messages up to 4 MiB): the gateway's own checks must hold alone.
        let gx = Gx::start_with(db, 5 * 1024 * 1024, 8 * 1024 * 1024).await;
        let nul = "a\u{0}b".to_string();
        // A small request.
        let mut r = gx.referral(&gx.other_nid);
        r.content = Some(Content::Structured(ReferralContent { concern: nul.clone(), ..Default::default() }));
        let s = expect_code(gx.send(r, cw()).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), vec!["referral.structured.concern"]);
        // A large one: every free-text field named.
        let mut data = PDF.to_vec();
        data.resize(4 * 1024 * 1024 + 1024, b' ');
        let mut r = restricted(gx.referral(&gx.other_nid));
        r.external_reference = nul.clone();
        r.legal_basis = nul.clone();
        r.content = Some(Content::Structured(ReferralContent { concern: nul.clone(), background: nul.clone(), guardians_informed: false }));
        r.attachments = vec![Attachment { filename: nul.clone(), content_type: "application/pdf".into(), sha256: sha(&data), data, size_bytes: 0 }];
        let s = expect_code(gx.send(r, cw()).await, Code::InvalidArgument);
        let mut fields = violated_fields(&s);
        fields.sort();
        assert_eq!(fields, vec![
            "referral.attachments[0].filename",
            "referral.external_reference",
            "referral.legal_basis",
            "referral.structured.background",
            "referral.structured.concern",
        ]);
        // Escaped in a Fiks document, the text the document carries.
        let mut doc: serde_json::Value = serde_json::from_str(&fiks_doc(&gx.other_nid, T)).unwrap();
        doc["melding"]["historie"] = nul.clone().into();
        let mut r = gx.referral(&gx.other_nid);
        r.content = Some(Content::FiksBekymringsmeldingJson(doc.to_string()));
        let s = expect_code(gx.send(r, cw()).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), vec!["referral.fiks_bekymringsmelding_json#/melding/historie"]);
        assert_eq!(gx.count("SELECT COUNT(*) FROM referrals").await, 0);
    }

    async fn a_referral_about_an_unborn_child_concerns_the_mother(db) {
        let gx = Gx::start(db).await;
        let mut referral = gx.referral(&gx.mother_nid);
        referral.subject = Some(ReferralSubject { identity: Some(Identity::UnbornChildOf(gx.mother_nid.clone())) });
        let r = gx.send(referral.clone(), cw()).await.unwrap();
        assert_eq!(r.person, gx.mother, "the directory person is the pregnant mother");
        assert_eq!(r.placement, Placement::Intake as i32, "the mother has no relay log");
        // A Fiks document for an unborn child must say so.
        referral.content = Some(Content::FiksBekymringsmeldingJson(fiks_doc(&gx.mother_nid, T)));
        let e = expect_code(gx.send(referral, cw()).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&e), vec!["referral.fiks_bekymringsmelding_json#/offentligBarn".to_string()]);
    }

    async fn intake_shows_restricted_referrals_without_their_content(db) {
        let gx = Gx::start(db).await;
        let open = gx.send(gx.referral(&gx.other_nid), cw()).await.unwrap();
        let hidden = gx.send(restricted(gx.referral(&gx.other_nid)), cw()).await.unwrap();
        assert_eq!(hidden.placement, Placement::Intake as i32, "no relay log: intake");
        // A unit leader triaging sees both, the restricted one without its content.
        let listed = gx.intake(cw_leader()).await.unwrap();
        let by_name = |n: &str| listed.iter().find(|r| r.name == n).unwrap().clone();
        assert!(by_name(&open.name).content.is_some() && !by_name(&open.name).content_withheld);
        assert!(by_name(&hidden.name).content.is_none() && by_name(&hidden.name).content_withheld);
        assert!(by_name(&hidden.name).restricted);
        let got = gx.get(&hidden.name, cw_leader()).await.unwrap();
        assert!(got.content.is_none() && got.content_withheld);
        // The municipal administrator follows the flow without reading any content.
        let listed = gx.intake(municipal_admin()).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|r| r.content.is_none() && r.content_withheld));
        // Withheld reads are still access-logged, on the legal basis.
        let id = hidden.name.trim_start_matches("referrals/");
        let rows = gx.count(&format!("SELECT COUNT(*) FROM access_log WHERE referral = '{id}' AND purpose LIKE '%withheld%' AND basis LIKE 'legal basis:%'")).await;
        assert_eq!(rows, 3, "leader's list and get, administrator's list");
        // Assigned to child welfare, its leader reads it in full; the administrator who
        // assigned it does not.
        let assigned = gx.gw.clone().assign_referral(gx.req(AssignReferralRequest {
            name: hidden.name.clone(), unit: CW.into(), etag: String::new(),
        }, municipal_admin())).await.unwrap().into_inner();
        assert!(assigned.content_withheld && assigned.content.is_none());
        let got = gx.get(&hidden.name, cw_leader()).await.unwrap();
        assert!(!got.content_withheld && got.content.is_some());
    }

    async fn a_unit_lists_the_referrals_assigned_to_it(db) {
        let gx = Gx::start(db).await;
        let open = gx.send(gx.referral(&gx.other_nid), cw()).await.unwrap();
        let hidden = gx.send(restricted(gx.referral(&gx.other_nid)), cw()).await.unwrap();
        for r in [&open, &hidden] {
            gx.gw.clone().assign_referral(gx.req(AssignReferralRequest {
                name: r.name.clone(), unit: CW.into(), etag: String::new(),
            }, cw_leader())).await.unwrap();
        }
        assert!(gx.intake(cw_leader()).await.unwrap().is_empty(), "assigned ones leave intake");
        // The leader's work list has both; a caseworker's only the unrestricted one.
        let mut leader = gx.assigned_to(CW, cw_leader()).await.unwrap();
        leader.sort();
        let mut both = vec![open.name.clone(), hidden.name.clone()];
        both.sort();
        assert_eq!(leader, both);
        let caseworker = personas::employee("saksbehandlar", T, &[CW], &[Role::Employee]);
        assert_eq!(gx.assigned_to(CW, caseworker.clone()).await.unwrap(), vec![open.name.clone()]);
        expect_code(gx.get(&hidden.name, caseworker).await, Code::NotFound);
        // Another unit's staff may not list it; other units' lists are empty.
        expect_code(gx.assigned_to(CW, kari()).await, Code::PermissionDenied);
        assert!(gx.assigned_to(SCHOOL, kari()).await.unwrap().is_empty());
        expect_code(gx.assigned_to("tenants/4201/schools/x", kari()).await, Code::InvalidArgument);
        // Once lifted, the caseworker sees it too.
        gx.gw.clone().lift_restriction(gx.req(LiftRestrictionRequest { name: hidden.name.clone(), etag: String::new() }, cw())).await.unwrap();
        let caseworker = personas::employee("saksbehandlar", T, &[CW], &[Role::Employee]);
        assert_eq!(gx.assigned_to(CW, caseworker).await.unwrap().len(), 2);
    }

    async fn a_client_for_several_municipalities_speaks_on_a_log_only_at_home(db) {
        let gx = Gx::start(db).await;
        // An inter-municipal child welfare service based in 4202, also acting for 4201.
        let mut d = DirectoryServiceClient::new(gx.server.channel.clone());
        d.create_tenant(gx.req(CreateTenantRequest {
            tenant_id: "4202".into(), tenant: Some(Tenant { display_name: "Suldal".into(), ..Default::default() }), ..Default::default()
        }, personas::operator())).await.unwrap();
        d.create_unit(gx.req(CreateUnitRequest {
            parent: "tenants/4202".into(), unit_id: "barnevern".into(),
            unit: Some(Unit { display_name: "Barnevern".into(), r#type: UnitType::ChildWelfare as i32, ..Default::default() }), ..Default::default()
        }, personas::operator())).await.unwrap();
        gx.gw.clone().create_client(gx.req(CreateClientRequest {
            client_id: "inter-cw".into(),
            client: Some(Client {
                display_name: "Interkommunal barnevern".into(), organization_number: "923609016".into(),
                tenants: vec![T.into(), "4202".into()], scopes: ALL_SCOPES.split(' ').map(str::to_string).collect(),
                unit: "tenants/4202/units/barnevern".into(), ..Default::default()
            }),
        }, personas::operator())).await.unwrap();
        let inter = personas::client("inter-cw", "923609016", ALL_SCOPES);
        // The child in 4201 has an active log, but the client's unit is not of 4201:
        // the restricted report waits in 4201's intake instead of failing.
        let r = gx.send(restricted(gx.referral(&gx.child_nid)), inter.clone()).await.unwrap();
        assert_eq!(r.placement, Placement::Intake as i32);
        assert!(gx.attached(kari()).await.unwrap().is_empty());
        // No summary either: the same NOT_FOUND as for no basis at all.
        expect_code(gx.summary(inter, &gx.child_nid).await, Code::NotFound);
    }

    async fn the_sweep_settles_the_rest_when_one_referral_cannot_be_settled(db) {
        let gx = Gx::start(db).await;
        let broken = gx.send(gx.referral(&gx.other_nid), cw()).await.unwrap();
        let fine = gx.send(gx.referral(&gx.other_nid), cw()).await.unwrap();
        // Both left pending a minute ago; the first names a person the relay log
        // cannot look up, so routing it fails every time.
        let ago = bti_runtime::api::now() - chrono::Duration::seconds(60);
        let ts = match &gx.gateway_db { Db::Sqlite(_) => format!("'{}'", ago.to_rfc3339()), Db::Postgres(_) => format!("'{}'::timestamptz", ago.to_rfc3339()) };
        for r in [&broken, &fine] {
            let id = r.name.trim_start_matches("referrals/");
            gx.exec(&format!("UPDATE referrals SET placement = 'PLACEMENT_UNSPECIFIED', create_time = {ts} WHERE id = '{id}'")).await;
        }
        let id = broken.name.trim_start_matches("referrals/");
        gx.exec(&format!("UPDATE referrals SET person = 'not-a-person' WHERE id = '{id}'")).await;
        assert_eq!(gx.app.sweep().await.unwrap(), 1, "the other one is settled");
        assert_eq!(gx.get(&fine.name, cw()).await.unwrap().placement, Placement::Intake as i32);
        let pending = gx.count("SELECT COUNT(*) FROM referrals WHERE placement = 'PLACEMENT_UNSPECIFIED'").await;
        assert_eq!(pending, 1, "the broken one waits for a later sweep");
    }

    async fn a_retry_gets_the_first_result_even_after_the_registration_changed(db) {
        let gx = Gx::start(db).await;
        let key = uuid();
        let first = gx.send_with(gx.referral(&gx.other_nid), cw(), &key).await.unwrap();
        // The client no longer acts for the municipality: new referrals are refused...
        gx.exec("UPDATE clients SET tenants = '4202' WHERE id = 'cw'").await;
        expect_code(gx.send(gx.referral(&gx.other_nid), cw()).await, Code::PermissionDenied);
        // ...but the retry of one it sent is answered with what was stored.
        let again = gx.send_with(gx.referral(&gx.other_nid), cw(), &key).await.unwrap();
        assert_eq!(again.name, first.name);
        assert_eq!(gx.count("SELECT COUNT(*) FROM referrals").await, 1);
        // The key still belongs to that request only.
        let mut other = gx.referral(&gx.other_nid);
        other.external_reference = "BV-2026-18".into();
        let e = expect_code(gx.send_with(other, cw(), &key).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&e), vec!["request_id".to_string()]);
    }

    async fn racing_settles_of_one_referral_agree_with_the_relay_log(db) {
        let gx = Gx::start(db).await;
        // Restricted: it goes onto the child's log without consent.
        let r = gx.send(restricted(gx.referral(&gx.child_nid)), cw()).await.unwrap();
        let id = r.name.trim_start_matches("referrals/").to_string();
        // As if its create stopped before recording where it landed: a
        // retry, the sweep and another replica now all settle it at once.
        gx.exec(&format!("UPDATE referrals SET placement = 'PLACEMENT_UNSPECIFIED', case_log = '', attached_referral = '', settle_log = '' WHERE id = '{id}'")).await;
        let pending = gx.app.store().referral(&id).await.unwrap().unwrap();
        let settles: Vec<_> = (0..8)
            .map(|_| {
                let (app, r) = (gx.app.clone(), pending.clone());
                tokio::spawn(async move { app.settle(r).await })
            })
            .collect();
        let mut answers = Vec::new();
        for s in settles {
            answers.push(s.await.unwrap().unwrap());
        }
        assert!(answers.iter().all(|a| a.placement == "PLACEMENT_CASE_LOG" && a.case_log == gx.case_log), "{answers:?}");
        let attached: Vec<_> = answers.iter().map(|a| a.attached_referral.clone()).collect();
        assert!(attached.iter().all(|a| *a == attached[0]));
        assert!(attached[0].starts_with(&format!("{}/referrals/", gx.case_log)));
        assert_eq!(gx.attached(kari()).await.unwrap(), vec![r.name.clone()], "one attachment on the relay log");
        let received = outbox_payloads::<bti_proto::gateway::ReferralReceived>(&gx.gateway_db, "bti.gateway.v1.ReferralReceived").await;
        assert_eq!(received.iter().filter(|e| e.referral == r.name).count(), 2, "the first create's settle, then exactly one more");
    }

    async fn a_settle_follows_the_decision_recorded_before_it(db) {
        let gx = Gx::start(db).await;
        // Unrestricted from child welfare, whose unit the child's consent does
        // not cover: routed now, it would go to intake.
        let r = gx.send(gx.referral(&gx.child_nid), cw()).await.unwrap();
        assert_eq!(r.placement, Placement::Intake as i32);
        let id = r.name.trim_start_matches("referrals/").to_string();
        // Another settle decided, a moment ago, to attach it to the child's
        // log (and stopped before asking the relay log).
        gx.exec(&format!("UPDATE referrals SET placement = 'PLACEMENT_UNSPECIFIED', settle_log = '' WHERE id = '{id}'")).await;
        assert!(gx.app.store().claim_attach(&id, &gx.case_log).await.unwrap());
        let pending = gx.app.store().referral(&id).await.unwrap().unwrap();
        // This settle follows that decision instead of making its own; the
        // relay log refuses (no consent for the sender's unit), so it lands
        // in intake, and nothing is attached: both sides agree.
        let settled = gx.app.settle(pending).await.unwrap();
        assert_eq!(settled.placement, "PLACEMENT_INTAKE");
        assert!(gx.attached(kari()).await.unwrap().is_empty());
    }

    async fn a_referral_left_pending_is_settled_by_the_sweep(db) {
        let gx = Gx::start(db).await;
        let r = gx.send(gx.referral(&gx.other_nid), cw()).await.unwrap();
        let id = r.name.trim_start_matches("referrals/");
        // As if the process died between storing and routing it, a minute ago.
        let ago = bti_runtime::api::now() - chrono::Duration::seconds(60);
        let ts = match &gx.gateway_db { Db::Sqlite(_) => format!("'{}'", ago.to_rfc3339()), Db::Postgres(_) => format!("'{}'::timestamptz", ago.to_rfc3339()) };
        gx.exec(&format!("UPDATE referrals SET placement = 'PLACEMENT_UNSPECIFIED', create_time = {ts} WHERE id = '{id}'")).await;
        let listed = gx.gw.clone().list_referrals(gx.req(ListReferralsRequest::default(), cw())).await.unwrap().into_inner();
        assert!(listed.referrals.is_empty(), "pending referrals are not listed");
        assert_eq!(gx.app.sweep().await.unwrap(), 1);
        assert_eq!(gx.get(&r.name, cw()).await.unwrap().placement, Placement::Intake as i32);
    }
}

/// Mutual TLS: a client registered with a certificate hash gets through only
/// over TLS with that certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pinned_client_must_present_its_certificate() {
    use bti_runtime::auth::Verifier;
    use bti_runtime::config::{ServerConfig, TlsConfig};
    use bti_runtime::events::InProcessBus;
    use bti_runtime::host::{Host, HostOptions, PeerUrls};
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};

    let db = bti_runtime::testing::sqlite().await;
    db.migrate(&bti_gateway::store::migrations()).await.unwrap();
    let store = bti_gateway::store::for_db(&db);
    let dir = std::env::temp_dir().join(format!("bti-mtls-{}", uuid()));
    std::fs::create_dir_all(&dir).unwrap();

    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        (cert, key)
    };
    let (server_cert, server_key) = leaf("localhost");
    let (client_cert, client_key) = leaf("cw.example");
    let (other_cert, other_key) = leaf("other.example");
    let write = |name: &str, pem: String| {
        let p = dir.join(name);
        std::fs::write(&p, pem).unwrap();
        p
    };
    let cfg = ServerConfig {
        tls: Some(TlsConfig {
            cert_path: write("server.pem", server_cert.pem()),
            key_path: write("server.key", server_key.serialize_pem()),
            client_ca_path: Some(write("ca.pem", ca.pem())),
        }),
        ..ServerConfig::default()
    };

    let now = bti_runtime::api::now();
    store
        .create_client(
            &bti_gateway::domain::ClientRecord {
                id: "cw".into(),
                display_name: "cw".into(),
                organization_number: CW_ORG.into(),
                tenants: T.into(),
                scopes: ALL_SCOPES.into(),
                unit: CW.into(),
                certificate_sha256: sha(client_cert.der()),
                rate_limit_per_second: 100,
                disabled: false,
                version: 1,
                create_time: now,
                update_time: now,
            },
            bti_runtime::events::OutboxEvent::new(
                "//test",
                "clients/cw",
                T,
                &ClientChanged {
                    client: "clients/cw".into(),
                },
            ),
        )
        .await
        .unwrap();

    // The gateway alone, on the runtime's host like every service, serving
    // mutual TLS. ListReferrals asks no peer.
    let issuer = Arc::new(LocalIssuer::open(&dir).unwrap());
    let mut settings = TestHostOptions::default().settings;
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.server = cfg;
    settings.auth.issuers.push(issuer.issuer_config());
    let verifier = Verifier::new(&settings.auth).await.unwrap();
    let host = Host::bind(HostOptions {
        settings,
        verifier,
        bus: Arc::new(InProcessBus::default()),
        clock: bti_runtime::clock::system(),
        peers: PeerUrls::ThisServer,
        issuer: Some(issuer.clone()),
        probe_every: std::time::Duration::from_millis(500),
    })
    .await
    .unwrap();
    let port = host.local_addr().port();
    let (gateway, _app) = bti_gateway::build(&host.wiring("gateway", db.db.clone())).unwrap();
    let running = host
        .start(vec![gateway], std::future::pending())
        .await
        .unwrap();
    running.open().await;

    let token = issuer.sign(cw()).unwrap();
    let call = |identity: Option<Identity>| {
        let token = token.clone();
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca.pem()))
            .domain_name("localhost");
        if let Some(id) = identity {
            tls = tls.identity(id);
        }
        async move {
            let ch = Channel::from_shared(format!("https://localhost:{port}"))
                .unwrap()
                .tls_config(tls)
                .unwrap()
                .connect()
                .await
                .unwrap();
            GatewayServiceClient::new(ch)
                .list_referrals(bti_runtime::testing::with_token(
                    ListReferralsRequest::default(),
                    &token,
                ))
                .await
        }
    };
    call(Some(Identity::from_pem(
        client_cert.pem(),
        client_key.serialize_pem(),
    )))
    .await
    .unwrap();
    expect_code(call(None).await, Code::PermissionDenied);
    expect_code(
        call(Some(Identity::from_pem(
            other_cert.pem(),
            other_key.serialize_pem(),
        )))
        .await,
        Code::PermissionDenied,
    );
    running.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
