//! Load client for the relay log's hot paths, in the deployment's shape:
//! `bti serve directory`, `consent` and `caselog` as separate processes on
//! fresh PostgreSQL databases, with the consent service asked on every
//! request. Reports requests/s, p50 and p99 for appending an entry and for
//! getting a log with its latest entries, at 1, 16 and 64 calls in flight.
//!
//!   cargo run --release -p bti --bin bti-bench -- --postgres postgres://postgres@127.0.0.1:5432/test
//!
//! `bench/pgbench/` holds the same transactions as plain SQL for pgbench.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "shared/mod.rs"]
mod bench_common;

use anyhow::Context;
use bench_common::{Proc, free_port, wait_ready};
use bti_proto::caselog::case_log_service_client::CaseLogServiceClient;
use bti_proto::caselog::{
    CaseLog, CreateCaseLogRequest, CreateEntryRequest, Entry, EntryKind, GetCaseLogRequest, Level,
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
use bti_runtime::auth::{LocalIssuer, Role, personas};
use bti_runtime::client::with_token;
use bti_runtime::db::Db;
use clap::Parser;
use tonic::transport::Channel;

#[derive(Parser)]
struct Args {
    /// A PostgreSQL URL whose user may create databases.
    #[arg(long, env = "BTI_TEST_POSTGRES_URL")]
    postgres: String,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Calls in flight, comma-separated.
    #[arg(long, default_value = "1,16,64")]
    in_flight: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let in_flight: Vec<usize> = args
        .in_flight
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let run = uuid_suffix();
    let base = args
        .postgres
        .rsplit_once('/')
        .context("postgres url needs a database")?
        .0
        .to_string();
    let admin = Db::connect(&args.postgres, 1).await?;
    let Db::Postgres(pool) = &admin else {
        anyhow::bail!("--postgres must be a postgres url")
    };
    let mut urls = Vec::new();
    for svc in ["directory", "consent", "caselog"] {
        let name = format!("bti_bench_{svc}_{run}");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(pool)
            .await?;
        urls.push((svc, name.clone(), format!("{base}/{name}")));
    }

    let keys = std::env::temp_dir().join(format!("bti-bench-{run}"));
    let idp = LocalIssuer::open_named(&keys, "bench-idp", true)?;
    let internal = LocalIssuer::open_named(&keys, "bti-internal", true)?;
    let config = keys.join("bti.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\nfilter = \"warn\"\n[server]\nconcurrency_limit = 1024\n\n[[auth.issuers]]\nissuer = \"bench-idp\"\njwks_path = \"{}\"\n\n[[auth.issuers]]\nissuer = \"bti-internal\"\njwks_path = \"{}\"\n\n[internal]\nkey_dir = \"{}\"\n",
            idp.jwks_path.display(),
            internal.jwks_path.display(),
            keys.display()
        ),
    )?;
    let bti = std::env::current_exe()?.with_file_name("bti");
    anyhow::ensure!(
        bti.exists(),
        "build the bti binary first: cargo build --release -p bti"
    );
    let addrs: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let mut servers = Vec::new();
    for (i, (svc, _, url)) in urls.iter().enumerate() {
        servers.push(Proc(
            Command::new(&bti)
                .args(["serve", svc])
                .env("BTI_CONFIG", &config)
                .env("BTI__LISTEN", &addrs[i])
                .env("BTI__DATABASE__URL", url)
                .env("BTI__DATABASE__MAX_CONNECTIONS", "32")
                .env("BTI__PEERS__DIRECTORY", format!("http://{}", addrs[0]))
                .env("BTI__PEERS__CONSENT", format!("http://{}", addrs[1]))
                .stdout(Stdio::null())
                .spawn()?,
        ));
    }
    let d_ch = wait_ready(&addrs[0]).await?;
    let c_ch = wait_ready(&addrs[1]).await?;
    let l_ch = wait_ready(&addrs[2]).await?;

    // Setup: a municipality, a school, a child with a guardian, consent, a log.
    let op = idp.sign(personas::operator())?;
    let teacher = idp.sign(personas::employee(
        "kari",
        "4201",
        &["tenants/4201/units/school"],
        &[Role::Employee],
    ))?;
    let mut d = DirectoryServiceClient::new(d_ch);
    d.create_tenant(with_token(
        CreateTenantRequest {
            tenant_id: "4201".into(),
            tenant: Some(Tenant {
                display_name: "Bench".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        &op,
    ))
    .await?;
    d.create_unit(with_token(
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
    .await?;
    let person = |kind: PersonKind, y: i32| CreatePersonRequest {
        parent: "tenants/4201".into(),
        person: Some(Person {
            kind: kind as i32,
            national_id: bti_runtime::ids::first_national_id(
                chrono::NaiveDate::from_ymd_opt(y, 4, 4).unwrap(),
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
        .await?
        .into_inner()
        .name;
    let mother = d
        .create_person(with_token(person(PersonKind::Guardian, 1985), &op))
        .await?
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
    .await?;
    ConsentServiceClient::new(c_ch)
        .create_consent(with_token(
            CreateConsentRequest {
                parent: "tenants/4201".into(),
                consent: Some(Consent {
                    subject: child.clone(),
                    purpose: ConsentPurpose::RelayLogCollaboration as i32,
                    grantors: vec![Grantor {
                        person: mother,
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
        .await?;
    let log = CaseLogServiceClient::new(l_ch.clone())
        .create_case_log(with_token(
            CreateCaseLogRequest {
                parent: "tenants/4201".into(),
                case_log: Some(CaseLog {
                    subject: child,
                    unit: "tenants/4201/units/school".into(),
                    concern: "bench".into(),
                    level: Level::Level1 as i32,
                    ..Default::default()
                }),
                ..Default::default()
            },
            &teacher,
        ))
        .await?
        .into_inner();

    println!(
        "relay log hot paths through gRPC (caselog -> consent over gRPC -> PostgreSQL), {} s each",
        args.seconds
    );
    println!(
        "{:<14} {:>9} {:>10} {:>10} {:>10}",
        "path", "in flight", "req/s", "p50 ms", "p99 ms"
    );
    let client = CaseLogServiceClient::new(l_ch);
    let token = Arc::new(teacher);
    for path in ["append entry", "get log"] {
        for &n in &in_flight {
            let (rate, p50, p99) = measure(
                &client,
                &token,
                &log.name,
                path == "append entry",
                n,
                Duration::from_secs(args.seconds),
            )
            .await?;
            println!("{path:<14} {n:>9} {rate:>10.0} {p50:>10.2} {p99:>10.2}");
        }
    }

    drop(servers);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (_, name, _) in &urls {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(pool)
        .await;
    }
    let _ = std::fs::remove_dir_all(&keys);
    Ok(())
}

async fn measure(
    client: &CaseLogServiceClient<Channel>,
    token: &Arc<String>,
    log: &str,
    append: bool,
    in_flight: usize,
    duration: Duration,
) -> anyhow::Result<(f64, f64, f64)> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let (mut c, token, log) = (client.clone(), token.clone(), log.to_string());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while start.elapsed() < duration {
                let t = Instant::now();
                let ok = if append {
                    c.create_entry(with_token(
                        CreateEntryRequest {
                            parent: log.clone(),
                            entry: Some(Entry {
                                kind: EntryKind::Note as i32,
                                text: "Kort notat frå samtale.".into(),
                                ..Default::default()
                            }),
                            request_id: String::new(),
                        },
                        &token,
                    ))
                    .await
                    .is_ok()
                } else {
                    c.get_case_log(with_token(GetCaseLogRequest { name: log.clone() }, &token))
                        .await
                        .is_ok()
                };
                anyhow::ensure!(ok, "a benchmark call failed");
                lat.push(t.elapsed());
            }
            Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let pct =
        |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    Ok((all.len() as f64 / elapsed, pct(0.50), pct(0.99)))
}

fn uuid_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
