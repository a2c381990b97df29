//! Errors that tell the truth, through real gRPC: bytes that are not the
//! method's message, control characters in text, and a database connection
//! lost under load are answered with the code a client can act on
//! (INVALID_ARGUMENT, UNAVAILABLE), never INTERNAL; and health follows the
//! database.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bti_proto::directory::directory_service_client::DirectoryServiceClient;
use bti_proto::directory::*;
use bti_runtime::auth::{Role, personas};
use bti_runtime::testing::{TestDb, TestHost, eventually, expect_code, violated_fields};
use bytes::{Buf, BufMut, Bytes};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

/// Sends and receives raw message bytes, to put on the wire what no
/// generated client would.
#[derive(Default, Clone)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

async fn directory_host(db: &TestDb) -> TestHost {
    TestHost::start(|host| {
        Ok(vec![
            bti_directory::build(&host.wiring("directory", db.db.clone()))?.0,
        ])
    })
    .await
}

async fn raw_call(
    host: &TestHost,
    path: &'static str,
    body: Vec<u8>,
) -> Result<Bytes, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(host.channel.clone());
    grpc.ready().await.expect("ready");
    let req = host.request(Bytes::from(body), personas::operator());
    grpc.unary(req, http::uri::PathAndQuery::from_static(path), RawCodec)
        .await
        .map(|r| r.into_inner())
}

async fn seed_tenant(host: &TestHost) {
    DirectoryServiceClient::new(host.channel.clone())
        .create_tenant(host.request(
            CreateTenantRequest {
                tenant_id: "4201".into(),
                tenant: Some(Tenant {
                    display_name: "Sauda".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            personas::operator(),
        ))
        .await
        .unwrap();
}

bti_runtime::backend_tests! {
    async fn bytes_that_are_not_the_message_are_invalid_argument_with_error_info(db) {
        let host = directory_host(&db).await;
        seed_tenant(&host).await;
        // GetTenantRequest.name (field 1, length-delimited) holding bytes that are not UTF-8.
        let not_utf8 = vec![0x0a, 0x03, 0xc3, 0x28, 0xff];
        // A length that runs past the end of the message.
        let truncated = vec![0x0a, 0x10, b't'];
        // A wire type that does not exist.
        let bad_wire_type = vec![0x0f, 0x00];
        for (what, body) in [("not UTF-8", not_utf8), ("truncated", truncated), ("bad wire type", bad_wire_type)] {
            let s = raw_call(&host, "/bti.directory.v1.DirectoryService/GetTenant", body).await.unwrap_err();
            assert_eq!(s.code(), Code::InvalidArgument, "{what}: {s:?}");
            let info = s.get_error_details().error_info().cloned().unwrap_or_else(|| panic!("{what}: no ErrorInfo"));
            assert_eq!(info.reason, "MALFORMED_REQUEST", "{what}");
            assert_eq!(info.domain, "bti.no");
        }
        // A well-formed message still goes through the screen untouched.
        use prost::Message;
        let good = GetTenantRequest { name: "tenants/4201".into() }.encode_to_vec();
        let answer = raw_call(&host, "/bti.directory.v1.DirectoryService/GetTenant", good).await.unwrap();
        assert_eq!(Tenant::decode(answer).unwrap().display_name, "Sauda");
    }

    async fn control_characters_in_text_are_refused_naming_the_field(db) {
        let host = directory_host(&db).await;
        seed_tenant(&host).await;
        let mut d = DirectoryServiceClient::new(host.channel.clone());
        let admin = personas::employee("admin", "4201", &[], &[Role::MunicipalAdmin]);
        let s = expect_code(d.create_unit(host.request(CreateUnitRequest {
            parent: "tenants/4201".into(),
            unit: Some(Unit { display_name: "a\u{0}b".into(), r#type: UnitType::School as i32, ..Default::default() }),
            ..Default::default()
        }, admin.clone())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["unit.display_name"]);
        let nid = bti_runtime::ids::first_national_id(chrono::NaiveDate::from_ymd_opt(2015, 4, 4).unwrap(), false, true);
        let s = expect_code(d.create_person(host.request(CreatePersonRequest {
            parent: "tenants/4201".into(),
            person: Some(Person {
                kind: PersonKind::Child as i32,
                national_id: nid.clone(),
                given_name: "Ola\u{0}".into(),
                family_name: "Nord\u{1b}[31mmann".into(),
                ..Default::default()
            }),
            ..Default::default()
        }, admin.clone())).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&s), ["person.given_name", "person.family_name"]);
        // Nothing was stored; tab and line breaks are text, not control.
        expect_code(d.lookup_person(host.request(LookupPersonRequest { parent: "tenants/4201".into(), national_id: nid }, admin.clone())).await, Code::NotFound);
        d.create_unit(host.request(CreateUnitRequest {
            parent: "tenants/4201".into(),
            unit: Some(Unit { display_name: "Skule\tA\r\nbygg".into(), r#type: UnitType::School as i32, ..Default::default() }),
            ..Default::default()
        }, admin)).await.unwrap();
    }
}

/// Random bytes to every unary method of every service (all mounted, as in
/// `bti dev`), as an operator and as an employee: whatever decodes runs the
/// handler with odd values, whatever does not is refused; no call answers
/// INTERNAL or UNKNOWN (a panic) and the server keeps serving. A fixed seed
/// makes a failure reproducible; the long version is `fuzz/`'s `screen` target.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_requests_to_every_method_never_answer_internal() {
    use rand::{Rng, SeedableRng};
    let dbs = [
        bti_runtime::testing::sqlite().await,
        bti_runtime::testing::sqlite().await,
        bti_runtime::testing::sqlite().await,
        bti_runtime::testing::sqlite().await,
    ];
    let host = TestHost::start(|h| {
        Ok(vec![
            bti_directory::build(&h.wiring("directory", dbs[0].db.clone()))?.0,
            bti_consent::build(&h.wiring("consent", dbs[1].db.clone()))?.0,
            bti_caselog::build(&h.wiring("caselog", dbs[2].db.clone()))?.0,
            bti_gateway::build(&h.wiring("gateway", dbs[3].db.clone()))?.0,
        ])
    })
    .await;
    seed_tenant(&host).await;
    let pool = prost_reflect::DescriptorPool::decode(bti_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut paths = Vec::new();
    for s in pool.services() {
        for m in s.methods() {
            if !m.is_client_streaming() && !m.is_server_streaming() {
                paths.push(format!("/{}/{}", s.full_name(), m.name()));
            }
        }
    }
    let served = [
        "bti.directory.",
        "bti.consent.",
        "bti.caselog.",
        "bti.gateway.",
    ];
    paths.retain(|p| served.iter().any(|s| p[1..].starts_with(s)));
    assert!(paths.len() > 60, "{} methods", paths.len());
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let who = [
        host.token(personas::operator()),
        host.token(personas::employee(
            "e",
            "4201",
            &["tenants/4201/units/school"],
            &[Role::UnitLeader],
        )),
    ];
    let mut calls = 0;
    for path in &paths {
        let path: &'static str = Box::leak(path.clone().into_boxed_str());
        for i in 0..12 {
            let len = rng.gen_range(0..64);
            let mut body: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
            // Half of them start as a well-formed string field 1 (most
            // requests' name or parent), so handlers run, not only decoding.
            if i % 2 == 0 {
                let text: String = (0..rng.gen_range(0..30))
                    .map(|_| rng.gen_range(b' '..=b'~') as char)
                    .collect();
                let mut framed = vec![0x0a, text.len() as u8];
                framed.extend_from_slice(text.as_bytes());
                body = framed;
            }
            let mut grpc = tonic::client::Grpc::new(host.channel.clone());
            grpc.ready().await.unwrap();
            let req = bti_runtime::testing::with_token(Bytes::from(body.clone()), &who[i % 2]);
            let r = grpc
                .unary(req, http::uri::PathAndQuery::from_static(path), RawCodec)
                .await;
            calls += 1;
            if let Err(s) = r {
                assert!(
                    !matches!(s.code(), Code::Internal | Code::Unknown),
                    "{path} with {body:02x?} answered {s:?}"
                );
            }
        }
    }
    // Still serving.
    DirectoryServiceClient::new(host.channel.clone())
        .get_tenant(host.request(
            GetTenantRequest {
                name: "tenants/4201".into(),
            },
            personas::operator(),
        ))
        .await
        .unwrap();
    eprintln!("{calls} random calls over {} methods", paths.len());
}

/// A TCP relay between a service and PostgreSQL that can be cut (every
/// connection dropped, new ones refused) and restored on the same port: the
/// service sees exactly what a database restart looks like from its side.
struct Cuttable {
    addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    acceptor: Option<tokio::task::JoinHandle<()>>,
    target: String,
}

impl Cuttable {
    async fn start(target: &str) -> Cuttable {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut c = Cuttable {
            addr: listener.local_addr().unwrap(),
            up: Arc::new(AtomicBool::new(true)),
            conns: Arc::default(),
            acceptor: None,
            target: target.to_string(),
        };
        c.accept(listener);
        c
    }

    fn accept(&mut self, listener: tokio::net::TcpListener) {
        let (conns, target, up) = (self.conns.clone(), self.target.clone(), self.up.clone());
        self.acceptor = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up.load(Ordering::SeqCst) {
                    continue;
                }
                let target = target.clone();
                conns.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        }));
    }

    /// Drops every connection and refuses new ones.
    fn cut(&mut self) {
        self.up.store(false, Ordering::SeqCst);
        if let Some(a) = self.acceptor.take() {
            a.abort();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    async fn restore(&mut self) {
        self.up.store(true, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("rebind the relay");
        self.accept(listener);
    }
}

mod postgres_only {
    use super::*;

    /// Under load, the database goes away: calls answer UNAVAILABLE (which
    /// gRPC clients retry), never INTERNAL; health reports NOT_SERVING until
    /// the database answers again; then calls succeed with no restart.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_lost_database_is_unavailable_and_not_serving_until_it_returns() {
        let Some(db) = bti_runtime::testing::postgres().await else {
            eprintln!("skipped: {} not set", bti_runtime::testing::POSTGRES_ENV);
            return;
        };
        let url = url::Url::parse(&db.url).unwrap();
        let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
        let mut relay = Cuttable::start(&target).await;
        let mut via = url.clone();
        via.set_host(Some("127.0.0.1")).unwrap();
        via.set_port(Some(relay.addr.port())).unwrap();
        let relayed =
            bti_runtime::db::Db::connect_with(via.as_str(), 4, std::time::Duration::from_secs(1))
                .await
                .unwrap();
        let host = TestHost::start(|h| {
            Ok(vec![
                bti_directory::build(&h.wiring("directory", relayed.clone()))?.0,
            ])
        })
        .await;
        seed_tenant(&host).await;
        let get = || {
            let mut d = DirectoryServiceClient::new(host.channel.clone());
            let req = host.request(
                GetTenantRequest {
                    name: "tenants/4201".into(),
                },
                personas::operator(),
            );
            async move { d.get_tenant(req).await }
        };
        let health = || {
            let mut h = HealthClient::new(host.channel.clone());
            async move {
                h.check(HealthCheckRequest {
                    service: "bti.directory.v1.DirectoryService".into(),
                })
                .await
                .map(|r| r.into_inner().status)
                .unwrap_or_default()
            }
        };
        get().await.unwrap();
        assert_eq!(health().await, ServingStatus::Serving as i32);

        // Load in flight while the connection goes.
        let load: Vec<_> = (0..8).map(|_| tokio::spawn(get())).collect();
        relay.cut();
        for call in load {
            if let Err(s) = call.await.unwrap() {
                assert_eq!(s.code(), Code::Unavailable, "an in-flight call: {s:?}");
            }
        }
        let s = get().await.unwrap_err();
        assert_eq!(s.code(), Code::Unavailable, "{s:?}");
        assert_eq!(
            s.get_error_details().error_info().unwrap().reason,
            "UNAVAILABLE"
        );
        eventually("health reports NOT_SERVING", || async {
            health().await == ServingStatus::NotServing as i32
        })
        .await;

        relay.restore().await;
        eventually("health reports SERVING again", || async {
            health().await == ServingStatus::Serving as i32
        })
        .await;
        eventually("calls succeed again", || async { get().await.is_ok() }).await;
        host.stop().await;
    }
}
