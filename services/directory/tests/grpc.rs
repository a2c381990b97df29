//! The directory through real gRPC with real signed tokens, on both backends:
//! authentication, authorization, bad input and the happy paths.

use bti_proto::directory::directory_service_client::DirectoryServiceClient;
use bti_proto::directory::*;
use bti_runtime::auth::{Claims, Role, personas};
use bti_runtime::testing::{TestDb, TestHost, expect_code, violated_fields, with_token};
use chrono::NaiveDate;
use tonic::Code;
use tonic::transport::Channel;

struct Fixture {
    server: TestHost,
    client: DirectoryServiceClient<Channel>,
    _db: TestDb,
}

impl Fixture {
    async fn start(db: TestDb) -> Self {
        let server = TestHost::start(|host| {
            Ok(vec![
                bti_directory::build(&host.wiring("directory", db.db.clone()))?.0,
            ])
        })
        .await;
        let client = DirectoryServiceClient::new(server.channel.clone());
        Fixture {
            server,
            client,
            _db: db,
        }
    }

    fn req<T>(&self, msg: T, claims: Claims) -> tonic::Request<T> {
        self.server.request(msg, claims)
    }

    /// Tenant 4201 with a school, as the operator.
    async fn seed(&mut self) -> Unit {
        let op = personas::operator();
        self.client
            .create_tenant(self.req(
                CreateTenantRequest {
                    tenant_id: "4201".into(),
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
        self.client
            .create_unit(self.req(
                CreateUnitRequest {
                    parent: "tenants/4201".into(),
                    unit_id: "school".into(),
                    unit: Some(Unit {
                        display_name: "Sauda ungdomsskule".into(),
                        r#type: UnitType::School as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                op,
            ))
            .await
            .unwrap()
            .into_inner()
    }
}

fn admin() -> Claims {
    personas::employee("admin", "4201", &[], &[Role::MunicipalAdmin])
}

fn teacher() -> Claims {
    personas::employee(
        "teacher",
        "4201",
        &["tenants/4201/units/school"],
        &[Role::Employee],
    )
}

fn child_id() -> String {
    bti_runtime::ids::first_national_id(NaiveDate::from_ymd_opt(2014, 9, 12).unwrap(), false, true)
}

fn child(national_id: &str) -> Person {
    Person {
        kind: PersonKind::Child as i32,
        national_id: national_id.into(),
        given_name: "Ola".into(),
        family_name: "Nordmann".into(),
        ..Default::default()
    }
}

bti_runtime::backend_tests! {
    async fn missing_or_bad_tokens_are_unauthenticated(db) {
        let mut f = Fixture::start(db).await;
        let get = || GetTenantRequest { name: "tenants/4201".into() };
        expect_code(f.client.get_tenant(tonic::Request::new(get())).await, Code::Unauthenticated);
        expect_code(f.client.get_tenant(with_token(get(), "garbage")).await, Code::Unauthenticated);
        let expired = Claims { exp: 1_000, ..personas::operator() };
        expect_code(f.client.get_tenant(f.req(get(), expired)).await, Code::Unauthenticated);
    }

    async fn roles_are_enforced(db) {
        let mut f = Fixture::start(db).await;
        f.seed().await;
        // Only operators create municipalities.
        let create = CreateTenantRequest {
            tenant_id: "1820".into(),
            tenant: Some(Tenant { display_name: "Alstahaug".into(), ..Default::default() }),
            ..Default::default()
        };
        expect_code(f.client.create_tenant(f.req(create.clone(), admin())).await, Code::PermissionDenied);
        // A teacher may not create units, nor manage staff.
        let unit = CreateUnitRequest {
            parent: "tenants/4201".into(),
            unit: Some(Unit { display_name: "Barnehage".into(), r#type: UnitType::Kindergarten as i32, ..Default::default() }),
            ..Default::default()
        };
        expect_code(f.client.create_unit(f.req(unit.clone(), teacher())).await, Code::PermissionDenied);
        let member = CreateMemberRequest {
            parent: "tenants/4201/units/school".into(),
            member: Some(Member { subject: "x".into(), display_name: "X".into(), role: MemberRole::Employee as i32, ..Default::default() }),
            ..Default::default()
        };
        expect_code(f.client.create_member(f.req(member.clone(), teacher())).await, Code::PermissionDenied);
        // The unit's own leader may; a leader of another unit may not.
        let leader = personas::employee("rektor", "4201", &["tenants/4201/units/school"], &[Role::UnitLeader]);
        f.client.create_member(f.req(member.clone(), leader)).await.unwrap();
        let other = personas::employee("styrar", "4201", &["tenants/4201/units/kg"], &[Role::UnitLeader]);
        expect_code(f.client.create_member(f.req(member, other)).await, Code::PermissionDenied);
        // Another municipality's employees see nothing here.
        let stranger = personas::employee("s", "1820", &[], &[Role::MunicipalAdmin]);
        expect_code(
            f.client.get_tenant(f.req(GetTenantRequest { name: "tenants/4201".into() }, stranger)).await,
            Code::PermissionDenied,
        );
        // The municipal admin may create the unit.
        f.client.create_unit(f.req(unit, admin())).await.unwrap();
    }

    async fn invalid_input_names_the_field_and_writes_nothing(db) {
        let mut f = Fixture::start(db).await;
        f.seed().await;
        // Bad check digits.
        let mut bad = child_id().into_bytes();
        bad[10] = if bad[10] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8(bad).unwrap();
        let s = expect_code(
            f.client.create_person(f.req(
                CreatePersonRequest { parent: "tenants/4201".into(), person: Some(child(&bad)), ..Default::default() },
                teacher(),
            )).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&s), ["person.national_id"]);
        assert!(!s.message().contains(&bad), "the error must not echo the national id");
        // Unknown unit type, empty name: both reported at once.
        let s = expect_code(
            f.client.create_unit(f.req(
                CreateUnitRequest {
                    parent: "tenants/4201".into(),
                    unit: Some(Unit { display_name: " ".into(), r#type: 999, ..Default::default() }),
                    ..Default::default()
                },
                admin(),
            )).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&s), ["unit.display_name", "unit.type"]);
        // Malformed resource names and municipality numbers.
        let s = expect_code(
            f.client.get_unit(f.req(GetUnitRequest { name: "units/school".into() }, teacher())).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&s), ["name"]);
        let s = expect_code(
            f.client.create_tenant(f.req(
                CreateTenantRequest { tenant_id: "42".into(), tenant: Some(Tenant { display_name: "X".into(), ..Default::default() }), ..Default::default() },
                personas::operator(),
            )).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&s), ["tenant_id"]);
        // Nothing was written by the refused calls.
        let units = f.client.list_units(f.req(ListUnitsRequest { parent: "tenants/4201".into(), ..Default::default() }, teacher())).await.unwrap();
        assert_eq!(units.into_inner().units.len(), 1);
        let persons = f.client.list_persons(f.req(ListPersonsRequest { parent: "tenants/4201".into(), ..Default::default() }, admin())).await.unwrap();
        assert!(persons.into_inner().persons.is_empty());
    }

    async fn page_tokens_only_work_for_their_query(db) {
        let mut f = Fixture::start(db).await;
        f.seed().await;
        for name in ["A", "B", "C"] {
            f.client.create_unit(f.req(
                CreateUnitRequest {
                    parent: "tenants/4201".into(),
                    unit: Some(Unit { display_name: name.into(), r#type: UnitType::Kindergarten as i32, ..Default::default() }),
                    ..Default::default()
                },
                admin(),
            )).await.unwrap();
        }
        let page = |token: String, t: UnitType| ListUnitsRequest { parent: "tenants/4201".into(), page_size: 2, page_token: token, r#type: t as i32 };
        let first = f.client.list_units(f.req(page(String::new(), UnitType::Unspecified), teacher())).await.unwrap().into_inner();
        assert_eq!(first.units.len(), 2);
        assert!(!first.next_page_token.is_empty());
        let second = f.client.list_units(f.req(page(first.next_page_token.clone(), UnitType::Unspecified), teacher())).await.unwrap().into_inner();
        assert_eq!(second.units.len(), 2);
        assert!(second.next_page_token.is_empty());
        let mut all: Vec<String> = first.units.into_iter().chain(second.units).map(|u| u.name).collect();
        all.dedup();
        assert_eq!(all.len(), 4);
        // Same token, different filter: refused.
        let s = expect_code(
            f.client.list_units(f.req(page(first.next_page_token, UnitType::Kindergarten), teacher())).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&s), ["page_token"]);
    }

    async fn etag_mismatch_is_aborted_and_changes_nothing(db) {
        let mut f = Fixture::start(db).await;
        let unit = f.seed().await;
        let update = |etag: &str, name: &str| UpdateUnitRequest {
            unit: Some(Unit { name: unit.name.clone(), display_name: name.into(), etag: etag.into(), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["display_name".into()] }),
        };
        let updated = f.client.update_unit(f.req(update(&unit.etag, "Renamed"), admin())).await.unwrap().into_inner();
        assert_ne!(updated.etag, unit.etag);
        expect_code(f.client.update_unit(f.req(update(&unit.etag, "Lost"), admin())).await, Code::Aborted);
        let now = f.client.get_unit(f.req(GetUnitRequest { name: unit.name.clone() }, teacher())).await.unwrap().into_inner();
        assert_eq!(now.display_name, "Renamed");
        // A mask naming an immutable field is refused.
        let s = expect_code(
            f.client.update_unit(f.req(UpdateUnitRequest {
                unit: Some(Unit { name: unit.name.clone(), ..Default::default() }),
                update_mask: Some(prost_types::FieldMask { paths: vec!["name".into()] }),
            }, admin())).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&s), ["update_mask"]);
    }

    async fn persons_guardians_and_lookup(db) {
        let mut f = Fixture::start(db).await;
        f.seed().await;
        let nid = child_id();
        let kid = f.client.create_person(f.req(
            CreatePersonRequest { parent: "tenants/4201".into(), person: Some(child(&nid)), ..Default::default() },
            teacher(),
        )).await.unwrap().into_inner();
        assert_eq!(kid.birth_date.unwrap().year, 2014);
        let mother_id = bti_runtime::ids::first_national_id(NaiveDate::from_ymd_opt(1984, 1, 30).unwrap(), true, false);
        let mother = f.client.create_person(f.req(
            CreatePersonRequest {
                parent: "tenants/4201".into(),
                person: Some(Person { kind: PersonKind::Guardian as i32, national_id: mother_id, given_name: "Kari".into(), family_name: "Nordmann".into(), ..Default::default() }),
                ..Default::default()
            },
            teacher(),
        )).await.unwrap().into_inner();
        // A child cannot be registered as a guardian.
        let s = expect_code(
            f.client.create_guardianship(f.req(
                CreateGuardianshipRequest { parent: mother.name.clone(), guardianship: Some(Guardianship { guardian: kid.name.clone(), parental_responsibility: true, ..Default::default() }), ..Default::default() },
                teacher(),
            )).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&s), ["guardianship.guardian"]);
        let g = f.client.create_guardianship(f.req(
            CreateGuardianshipRequest { parent: kid.name.clone(), guardianship: Some(Guardianship { guardian: mother.name.clone(), parental_responsibility: true, ..Default::default() }), ..Default::default() },
            teacher(),
        )).await.unwrap().into_inner();
        assert!(g.name.starts_with(&format!("{}/guardianships/", kid.name)));
        let found = f.client.lookup_person(f.req(LookupPersonRequest { parent: "tenants/4201".into(), national_id: nid }, teacher())).await.unwrap().into_inner();
        assert_eq!(found.name, kid.name);
        let missing = bti_runtime::ids::first_national_id(NaiveDate::from_ymd_opt(2001, 1, 1).unwrap(), false, false);
        expect_code(f.client.lookup_person(f.req(LookupPersonRequest { parent: "tenants/4201".into(), national_id: missing }, teacher())).await, Code::NotFound);
        // The guardian signed in may read herself, not the teacher's view of others.
        let me = personas::guardian("kari", "4201", &mother.name);
        f.client.get_person(f.req(GetPersonRequest { name: mother.name.clone() }, me.clone())).await.unwrap();
        expect_code(f.client.get_person(f.req(GetPersonRequest { name: kid.name.clone() }, me)).await, Code::PermissionDenied);
    }

    async fn create_retries_with_request_id_return_the_first(db) {
        let mut f = Fixture::start(db).await;
        f.seed().await;
        let req = CreateUnitRequest {
            parent: "tenants/4201".into(),
            unit: Some(Unit { display_name: "Helsestasjon".into(), r#type: UnitType::HealthClinic as i32, ..Default::default() }),
            request_id: "0b9e2a4c-3d1f-4a52-9a43-6f0d3f6e2b11".into(),
            ..Default::default()
        };
        let a = f.client.create_unit(f.req(req.clone(), admin())).await.unwrap().into_inner();
        let b = f.client.create_unit(f.req(req.clone(), admin())).await.unwrap().into_inner();
        assert_eq!(a.name, b.name);
        let bad = CreateUnitRequest { request_id: "not-a-uuid".into(), ..req };
        let s = expect_code(f.client.create_unit(f.req(bad, admin())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["request_id"]);
    }
}
