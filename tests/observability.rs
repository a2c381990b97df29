//! Observability of a running `bti dev`, as an operator sees it: spans
//! exported over OTLP/gRPC to a real receiver started here, Prometheus text
//! scraped from the admin port and parsed by Python's `prometheus_client`,
//! and JSON logs read from the process's stdout and stderr. A case runs
//! through it with `log.filter=debug`; no national id, name or case text it
//! used may appear in any log line, span attribute or event, or metric.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bti_proto::caselog::case_log_service_client::CaseLogServiceClient;
use bti_proto::caselog::{
    AcceptHandoverRequest, CaseLog, CreateCaseLogRequest, CreateHandoverRequest, Handover, Level,
};
use bti_proto::consent::consent_method::Method;
use bti_proto::consent::consent_service_client::ConsentServiceClient;
use bti_proto::consent::*;
use bti_proto::directory::directory_service_client::DirectoryServiceClient;
use bti_proto::directory::*;
use bti_proto::gateway::gateway_service_client::GatewayServiceClient;
use bti_proto::gateway::{
    Client, CreateClientRequest, CreateReferralRequest, Referral, ReferralContent, ReferralKind,
    ReferralSubject, referral, referral_subject,
};
use bti_runtime::auth::{LocalIssuer, Role, personas};
use bti_runtime::testing::{TempDir, with_token};
use chrono::NaiveDate;
use common::{Proc, free_port};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;

/// An OTLP/gRPC trace receiver keeping every span with its resource's
/// `service.name`.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref())
                .and_then(|v| v.value.as_ref())
                .map(|v| match v {
                    opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s) => {
                        s.clone()
                    }
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    spans.push((service.clone(), s));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let r = Receiver::default();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(r.clone()))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        (r, url)
    }

    fn spans(&self) -> Vec<Span> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// Waits until a span named `name` has arrived, and returns it.
    async fn wait_for(&self, name: &str) -> Span {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.spans().into_iter().find(|s| s.name == name) {
                return s;
            }
            assert!(Instant::now() < deadline, "no span {name} exported");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn attr(s: &Span, key: &str) -> Option<String> {
    s.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| v.value.as_ref())
        .map(|v| {
            use opentelemetry_proto::tonic::common::v1::any_value::Value;
            match v {
                Value::StringValue(s) => s.clone(),
                Value::IntValue(i) => i.to_string(),
                other => format!("{other:?}"),
            }
        })
}

/// The personal data the case uses; none of it may leave the process.
struct Personal {
    child_nid: String,
    mother_nid: String,
    words: Vec<&'static str>,
}

impl Personal {
    fn new() -> Personal {
        Personal {
            child_nid: bti_runtime::ids::first_national_id(
                NaiveDate::from_ymd_opt(2016, 2, 3).unwrap(),
                false,
                true,
            ),
            mother_nid: bti_runtime::ids::first_national_id(
                NaiveDate::from_ymd_opt(1986, 2, 3).unwrap(),
                true,
                true,
            ),
            words: vec![
                "Torgunnhild",
                "Vassbotnlia",
                "Ragnfrid",
                "Uroleg-i-klassen-qx7",
                "Melding-fraa-politiet-zz9",
                "Kan-du-ta-stafetten-kk3",
                "Fiks-melding-om-skulen-ww4",
                "Vi-trekkjer-samtykket-jj8",
            ],
        }
    }

    fn all(&self) -> Vec<&str> {
        let mut all = vec![self.child_nid.as_str(), self.mother_nid.as_str()];
        all.extend(self.words.iter().copied());
        all
    }
}

/// Runs a case against one address serving every service: a child, a
/// guardian, consent, a relay log, the baton offered and accepted, a
/// restricted referral and a KS Fiks document through the gateway, and the
/// consent withdrawn.
async fn run_case(addrs: [&str; 4], issuer: &LocalIssuer, p: &Personal) {
    let mut channels = Vec::new();
    for addr in addrs {
        channels.push(
            tonic::transport::Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    let [d_ch, c_ch, l_ch, g_ch] = <[_; 4]>::try_from(channels).unwrap();
    let op = issuer.sign(personas::operator()).unwrap();
    let mut d = DirectoryServiceClient::new(d_ch);
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
    for (id, t) in [
        ("school", UnitType::School),
        ("nurse", UnitType::SchoolHealthService),
        ("barnevern", UnitType::ChildWelfare),
    ] {
        d.create_unit(with_token(
            CreateUnitRequest {
                parent: "tenants/4201".into(),
                unit_id: id.into(),
                unit: Some(Unit {
                    display_name: id.into(),
                    r#type: t as i32,
                    ..Default::default()
                }),
                ..Default::default()
            },
            &op,
        ))
        .await
        .unwrap();
    }
    let person = |kind: PersonKind, nid: &str, given: &str| CreatePersonRequest {
        parent: "tenants/4201".into(),
        person: Some(Person {
            kind: kind as i32,
            national_id: nid.into(),
            given_name: given.into(),
            family_name: p.words[1].into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let child = d
        .create_person(with_token(
            person(PersonKind::Child, &p.child_nid, p.words[0]),
            &op,
        ))
        .await
        .unwrap()
        .into_inner()
        .name;
    let mother = d
        .create_person(with_token(
            person(PersonKind::Guardian, &p.mother_nid, p.words[2]),
            &op,
        ))
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
    let teacher = issuer
        .sign(personas::employee(
            "t",
            "4201",
            &["tenants/4201/units/school"],
            &[Role::Employee],
        ))
        .unwrap();
    let mut consents = ConsentServiceClient::new(c_ch);
    let consent = consents
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
                    covered_units: vec![
                        "tenants/4201/units/school".into(),
                        "tenants/4201/units/nurse".into(),
                    ],
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
    let mut logs = CaseLogServiceClient::new(l_ch);
    let log = logs
        .create_case_log(with_token(
            CreateCaseLogRequest {
                parent: "tenants/4201".into(),
                case_log: Some(CaseLog {
                    subject: child.clone(),
                    unit: "tenants/4201/units/school".into(),
                    concern: p.words[3].into(),
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
    // The baton to the school nurse, with a message in words of the case.
    let handover = logs
        .create_handover(with_token(
            CreateHandoverRequest {
                parent: log.name.clone(),
                handover: Some(Handover {
                    to_professional: "nurse-n".into(),
                    to_unit: "tenants/4201/units/nurse".into(),
                    message: p.words[5].into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &teacher,
        ))
        .await
        .unwrap()
        .into_inner();
    let nurse = issuer
        .sign(personas::employee(
            "nurse-n",
            "4201",
            &["tenants/4201/units/nurse"],
            &[Role::Employee],
        ))
        .unwrap();
    logs.accept_handover(with_token(
        AcceptHandoverRequest {
            name: handover.name,
            ..Default::default()
        },
        &nurse,
    ))
    .await
    .unwrap();
    let mut g = GatewayServiceClient::new(g_ch);
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
    let client_token = issuer
        .sign(personas::client("cw", "974760673", "bti:referrals.write"))
        .unwrap();
    g.create_referral(with_token(
        CreateReferralRequest {
            request_id: uuid::Uuid::new_v4().to_string(),
            referral: Some(Referral {
                tenant: "4201".into(),
                kind: ReferralKind::ChildWelfareReport as i32,
                external_reference: "BV-1".into(),
                subject: Some(ReferralSubject {
                    identity: Some(referral_subject::Identity::NationalId(p.child_nid.clone())),
                }),
                content: Some(referral::Content::Structured(ReferralContent {
                    concern: p.words[4].into(),
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
    .unwrap();
    // A KS Fiks public-sector report about the child, with words of the case.
    let mut doc: serde_json::Value =
        serde_json::from_str(&bti_gateway::domain::fiks::example_document()).unwrap();
    doc["kommunenummer"] = "4201".into();
    doc["offentligBarn"][0]["fnr"] = p.child_nid.clone().into();
    doc["melding"]["melding"] = p.words[6].into();
    g.create_referral(with_token(
        CreateReferralRequest {
            request_id: uuid::Uuid::new_v4().to_string(),
            referral: Some(Referral {
                tenant: "4201".into(),
                kind: ReferralKind::ChildWelfareReport as i32,
                external_reference: "BV-2".into(),
                subject: Some(ReferralSubject {
                    identity: Some(referral_subject::Identity::NationalId(p.child_nid.clone())),
                }),
                content: Some(referral::Content::FiksBekymringsmeldingJson(
                    doc.to_string(),
                )),
                restricted: true,
                legal_basis: "barnevernsloven § 13-2".into(),
                ..Default::default()
            }),
        },
        &client_token,
    ))
    .await
    .unwrap();
    // The mother withdraws, giving her reason in words of the case.
    let mother_token = issuer
        .sign(personas::guardian("m", "4201", &mother))
        .unwrap();
    consents
        .withdraw_consent(with_token(
            WithdrawConsentRequest {
                name: consent.name,
                reason: p.words[7].into(),
                etag: String::new(),
            },
            &mother_token,
        ))
        .await
        .unwrap();
}

/// `bti dev` with OTLP export, JSON debug logs and metrics; its stdout and
/// stderr go to files in `dir`.
fn spawn_dev(dir: &TempDir, otlp: &str, addr: &str, admin: &str) -> Proc {
    let out = std::fs::File::create(dir.path().join("stdout")).unwrap();
    let err = std::fs::File::create(dir.path().join("stderr")).unwrap();
    let data = dir.path().join("data");
    let child = Command::new(common::BTI)
        .args([
            "dev",
            "--listen",
            addr,
            "--admin-listen",
            admin,
            "--data-dir",
        ])
        .arg(&data)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("BTI__LOG__FORMAT", "json")
        .env("BTI__LOG__FILTER", "debug")
        .env_remove("RUST_LOG")
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("spawn bti dev");
    Proc {
        child,
        addr: addr.to_string(),
    }
}

async fn scrape(admin: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(admin).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// Samples by name: each one's labels and value.
type Samples = HashMap<String, Vec<(HashMap<String, String>, f64)>>;

/// Parses Prometheus text with Python's `prometheus_client`; `None` when it
/// is not installed. Returns sample name → [(labels, value)].
fn parse_with_prometheus_client(text: &str) -> Option<Samples> {
    const PY: &str = r#"
import sys, json
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit(3)
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.setdefault(s.name, []).append([s.labels, s.value])
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", PY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .ok()?;
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.code() == Some(3) {
        return None;
    }
    assert!(out.status.success(), "prometheus_client refused the text");
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// The server spans of `trace_id`, by method name.
fn trace_of(spans: &[Span], trace_id: &[u8]) -> Vec<Span> {
    spans
        .iter()
        .filter(|s| s.trace_id == trace_id)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_exports_one_trace_per_call_metrics_and_logs_without_personal_data() {
    let (receiver, otlp) = Receiver::start().await;
    let dir = TempDir::new("bti-observability");
    let addr = format!("127.0.0.1:{}", free_port());
    let admin = format!("127.0.0.1:{}", free_port());
    let dev = spawn_dev(&dir, &otlp, &addr, &admin);
    dev.channel("bti.gateway.v1.GatewayService").await;
    let issuer = LocalIssuer::open(&dir.path().join("data")).unwrap();
    let p = Personal::new();
    run_case([addr.as_str(); 4], &issuer, &p).await;

    // The relay log's create: caselog → consent → directory, parent to child.
    let create = receiver
        .wait_for("bti.caselog.v1.CaseLogService/CreateCaseLog")
        .await;
    assert_eq!(attr(&create, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(
        attr(&create, "rpc.service").as_deref(),
        Some("bti.caselog.v1.CaseLogService")
    );
    assert_eq!(
        attr(&create, "rpc.method").as_deref(),
        Some("CreateCaseLog")
    );
    assert_eq!(attr(&create, "rpc.grpc.status_code").as_deref(), Some("0"));
    assert_eq!(
        attr(&create, "service.name").as_deref(),
        Some("bti-caselog")
    );
    // Spans of a call end after it; give the exporter a moment for the rest.
    let referral = receiver
        .wait_for("bti.gateway.v1.GatewayService/CreateReferral")
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let spans = receiver.spans();
    let in_create = trace_of(&spans, &create.trace_id);
    let by_id: HashMap<Vec<u8>, &Span> = in_create.iter().map(|s| (s.span_id.clone(), s)).collect();
    let services_below: Vec<String> = in_create
        .iter()
        .filter(|s| s.parent_span_id == create.span_id)
        .filter_map(|s| attr(s, "service.name"))
        .collect();
    assert!(
        services_below.iter().any(|s| s == "bti-consent"),
        "consent is called within CreateCaseLog: {services_below:?}"
    );
    let directory = in_create
        .iter()
        .find(|s| {
            attr(s, "rpc.service").as_deref() == Some("bti.directory.v1.DirectoryService")
                && by_id.contains_key(&s.parent_span_id)
        })
        .unwrap_or_else(|| {
            let names: Vec<_> = in_create.iter().map(|s| &s.name).collect();
            panic!("the directory span has its parent in the same trace: {names:?}")
        });
    assert_eq!(
        attr(directory, "service.name").as_deref(),
        Some("bti-directory")
    );
    // Database spans come from sqlx's statement events, which SQLite emits
    // on its worker thread, outside the call: they exist on PostgreSQL only.
    for db in in_create.iter().filter(|s| attr(s, "db.system").is_some()) {
        assert!(db.name.starts_with(&attr(db, "db.operation.name").unwrap()));
    }

    // The consent's event reaches the relay log's consumer in the same trace.
    let consent = receiver
        .wait_for("bti.consent.v1.ConsentService/CreateConsent")
        .await;
    let consumed = receiver
        .wait_for("process bti.consent.v1.ConsentGranted")
        .await;
    assert_eq!(
        consumed.trace_id, consent.trace_id,
        "one trace through the outbox and bus"
    );
    assert_eq!(
        attr(&consumed, "service.name").as_deref(),
        Some("bti-caselog")
    );
    let consent_spans = trace_of(&spans, &consent.trace_id);
    assert!(
        consent_spans
            .iter()
            .any(|s| s.span_id == consumed.parent_span_id),
        "the consumer's parent is a span of the committing call"
    );

    // The gateway's referral: gateway → caselog (and directory) in one trace.
    let in_referral = trace_of(&spans, &referral.trace_id);
    let services: std::collections::BTreeSet<String> = in_referral
        .iter()
        .filter_map(|s| attr(s, "service.name"))
        .collect();
    assert!(
        services.contains("bti-gateway") && services.contains("bti-caselog"),
        "{services:?}"
    );

    // Metrics, parsed by a real Prometheus text parser.
    let text = scrape(&admin).await;
    match parse_with_prometheus_client(&text) {
        None => eprintln!(
            "skipped parsing: python3 prometheus_client is not installed (pip install prometheus_client)"
        ),
        Some(samples) => {
            let calls = &samples["bti_rpc_server_calls_total"];
            assert!(calls.iter().any(|(l, v)| l["service"] == "gateway"
                && l["method"] == "CreateReferral"
                && l["code"] == "OK"
                && *v >= 1.0));
            assert!(samples.contains_key("bti_rpc_server_duration_seconds_bucket"));
            assert!(samples.contains_key("bti_rpc_server_in_flight"));
            for name in [
                "bti_outbox_waiting_events",
                "bti_outbox_oldest_age_seconds",
                "bti_db_pool_connections",
            ] {
                assert!(
                    samples[name].iter().any(|(l, _)| l["service"] == "caselog"),
                    "{name}"
                );
            }
            assert!(samples.contains_key("bti_events_handled_total"));
        }
    }

    // Logs: JSON lines, one per call with its trace.
    assert!(dev.terminate().await.success());
    let logs = std::fs::read_to_string(dir.path().join("stdout")).unwrap()
        + &std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    let referral_trace = hex(&referral.trace_id);
    let call_line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| {
            l["fields"]["message"] == "call"
                && l["fields"]["method"] == "CreateReferral"
                && l["trace_id"] == referral_trace.as_str()
        })
        .expect("one info line per call, carrying its trace id");
    assert_eq!(call_line["fields"]["service"], "gateway");
    assert_eq!(call_line["fields"]["code"], "OK");
    assert_eq!(call_line["level"], "INFO");
    assert!(call_line["span_id"].as_str().is_some_and(|s| s.len() == 16));

    // Nothing personal anywhere.
    let exported = format!("{:?}", receiver.spans());
    for needle in p.all() {
        assert!(!logs.contains(needle), "{needle} in the logs");
        assert!(!exported.contains(needle), "{needle} in exported spans");
        assert!(!text.contains(needle), "{needle} in the metrics");
    }
    // The search is meaningful: debug logs and spans were there to search.
    assert!(logs.lines().count() > 50 && exported.len() > 10_000);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The distinct processes (resource `service.name`) of the trace of
/// `root_name`'s span, if every span in it has its parent in it.
fn processes_of_connected_trace(r: &Receiver, root_name: &str) -> Option<Vec<String>> {
    let all = r.spans.lock().unwrap().clone();
    let root = all.iter().find(|(_, s)| s.name == root_name)?;
    let trace: Vec<&(String, Span)> = all
        .iter()
        .filter(|(_, s)| s.trace_id == root.1.trace_id)
        .collect();
    let ids: std::collections::HashSet<&[u8]> =
        trace.iter().map(|(_, s)| s.span_id.as_slice()).collect();
    let connected = trace
        .iter()
        .all(|(_, s)| s.parent_span_id.is_empty() || ids.contains(s.parent_span_id.as_slice()));
    let mut processes: Vec<String> = trace.iter().map(|(p, _)| p.clone()).collect();
    processes.sort();
    processes.dedup();
    connected.then_some(processes)
}

mod postgres {
    use super::*;

    /// `bti serve` per service on PostgreSQL (and NATS when set): one trace
    /// across the processes, parent to child, and nothing personal in any
    /// process's logs, the spans or a scrape.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn distributed_calls_are_one_trace_across_processes_without_personal_data() {
        let mut dbs = Vec::new();
        for _ in 0..4 {
            match bti_runtime::testing::postgres().await {
                Some(db) => dbs.push(db),
                None => {
                    eprintln!("skipped: {} not set", bti_runtime::testing::POSTGRES_ENV);
                    return;
                }
            }
        }
        let (receiver, otlp) = Receiver::start().await;
        let keys = TempDir::new("bti-observability-serve");
        let idp = LocalIssuer::open_named(keys.path(), "test-idp", true).unwrap();
        let internal = LocalIssuer::open_named(keys.path(), "bti-internal", true).unwrap();
        let nats = std::env::var("BTI_TEST_NATS_URL")
            .ok()
            .filter(|u| !u.is_empty());
        let stream = format!("O{}", uuid::Uuid::new_v4().simple());
        let config = keys.path().join("bti.toml");
        std::fs::write(
            &config,
            format!(
                "[[auth.issuers]]\nissuer = \"test-idp\"\njwks_path = \"{}\"\n\n\
                 [[auth.issuers]]\nissuer = \"bti-internal\"\njwks_path = \"{}\"\n\n\
                 [internal]\nkey_dir = \"{}\"\n\n[events]\nstream = \"{stream}\"\n{}\n",
                idp.jwks_path.display(),
                internal.jwks_path.display(),
                keys.path().display(),
                nats.as_ref()
                    .map(|u| format!("nats_url = \"{u}\""))
                    .unwrap_or_default(),
            ),
        )
        .unwrap();
        let names = ["directory", "consent", "caselog", "gateway"];
        let addrs: Vec<String> = names
            .iter()
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect();
        let admin = format!("127.0.0.1:{}", free_port());
        let mut procs = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let out = std::fs::File::create(keys.path().join(format!("{name}.out"))).unwrap();
            let err = std::fs::File::create(keys.path().join(format!("{name}.err"))).unwrap();
            let mut cmd = Command::new(common::BTI);
            cmd.args(["serve", name])
                .env("BTI_CONFIG", &config)
                .env("BTI__LISTEN", &addrs[i])
                .env("BTI__DATABASE__URL", &dbs[i].url)
                .env("BTI__PEERS__DIRECTORY", format!("http://{}", addrs[0]))
                .env("BTI__PEERS__CONSENT", format!("http://{}", addrs[1]))
                .env("BTI__PEERS__CASELOG", format!("http://{}", addrs[2]))
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp)
                .env("OTEL_BSP_SCHEDULE_DELAY", "100")
                .env("BTI__LOG__FORMAT", "json")
                .env("BTI__LOG__FILTER", "debug")
                .env_remove("RUST_LOG")
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(err));
            if *name == "caselog" {
                cmd.env("BTI__SERVER__ADMIN_LISTEN", &admin);
            }
            procs.push(Proc {
                child: cmd.spawn().expect("spawn bti serve"),
                addr: addrs[i].clone(),
            });
        }
        for (p, name) in procs.iter().zip(names) {
            let service = format!(
                "bti.{name}.v1.{}Service",
                match name {
                    "caselog" => "CaseLog".to_string(),
                    n => format!("{}{}", n[..1].to_uppercase(), &n[1..]),
                }
            );
            p.channel(&service).await;
        }
        let p = Personal::new();
        run_case([&addrs[0], &addrs[1], &addrs[2], &addrs[3]], &idp, &p).await;
        let create = receiver
            .wait_for("bti.caselog.v1.CaseLogService/CreateCaseLog")
            .await;
        let sql = receiver.wait_for("SELECT caselog").await;
        assert_eq!(attr(&sql, "db.system").as_deref(), Some("postgresql"));
        assert!(attr(&sql, "db.statement").is_none());
        // Every process flushes its spans when it stops.
        let text = scrape(&admin).await;
        for proc in procs {
            assert!(proc.terminate().await.success());
        }
        let processes =
            processes_of_connected_trace(&receiver, "bti.caselog.v1.CaseLogService/CreateCaseLog")
                .expect("every span of the call's trace has its parent in it");
        let consent =
            processes_of_connected_trace(&receiver, "bti.consent.v1.ConsentService/CreateConsent")
                .expect("the consent's trace is connected");
        let mut all: Vec<String> = processes.iter().chain(&consent).cloned().collect();
        all.sort();
        all.dedup();
        assert!(
            processes.len() >= 3 || consent.len() >= 3,
            "parent and child across three processes: {processes:?} {consent:?}"
        );
        assert!(all.contains(&"bti-caselog".to_string()), "{all:?}");
        let _ = create;
        let mut logs = String::new();
        for name in names {
            for ext in ["out", "err"] {
                logs += &std::fs::read_to_string(keys.path().join(format!("{name}.{ext}")))
                    .unwrap_or_default();
            }
        }
        let exported = format!("{:?}", receiver.spans());
        for needle in p.all() {
            assert!(!logs.contains(needle), "{needle} in the logs");
            assert!(!exported.contains(needle), "{needle} in exported spans");
            assert!(!text.contains(needle), "{needle} in the metrics");
        }
        if let Some(url) = nats {
            let bus = bti_runtime::events::NatsBus::connect(&url, &stream)
                .await
                .unwrap();
            bus.delete_stream().await.unwrap();
        }
    }
}
