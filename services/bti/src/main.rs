//! `bti`: the one binary. `bti dev` runs every service in one process on one
//! port with SQLite and a local token issuer; `bti serve <service>` runs one
//! service against PostgreSQL, as a pod would.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use std::sync::Arc;

use bti_runtime::auth::{Claims, LocalIssuer, Role, Verifier, personas};
use bti_runtime::config::Settings;
use bti_runtime::db::Db;
use bti_runtime::events;
use bti_runtime::host::{Host, HostOptions, PeerUrls, Service, Wiring};
use bti_runtime::server;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "bti", version, about = "BTI relay-log services")]
struct Cli {
    /// Configuration file (TOML); `BTI__…` environment variables override it.
    #[arg(long, global = true, env = "BTI_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every service in one process on one port, SQLite under the data
    /// directory, in-process events and a local token issuer.
    Dev {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: SocketAddr,
        /// Where the SQLite files and the dev signing key live.
        #[arg(long, env = "BTI_DATA_DIR", default_value = ".bti")]
        data_dir: PathBuf,
        /// Admin address serving Prometheus metrics at /metrics (port 0: any
        /// free port; `server.admin_listen` in the configuration wins).
        #[arg(long, default_value = "127.0.0.1:0")]
        admin_listen: SocketAddr,
    },
    /// One service against the database in `database.url` (PostgreSQL in
    /// deployments), with the configured token issuers and event bus.
    Serve {
        /// The service to run.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(SERVICES))]
        service: String,
    },
    /// Creates (or keeps) an issuer's Ed25519 signing key and its JWKS file in
    /// a directory, for example the internal issuer's secret:
    /// `bti keygen --dir secrets --issuer bti-internal`.
    Keygen {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = bti_runtime::auth::INTERNAL_ISSUER)]
        issuer: String,
    },
    /// Prints a token signed by the dev issuer of a `bti dev` data directory
    /// (or by another issuer whose key is in that directory).
    Token {
        /// The data directory of the `bti dev` whose issuer signs the token.
        #[arg(long, env = "BTI_DATA_DIR", default_value = ".bti")]
        data_dir: PathBuf,
        /// Issuer whose key signs; `bti-dev` is the one `bti dev` trusts.
        #[arg(long, default_value = bti_runtime::auth::DEV_ISSUER)]
        issuer: String,
        /// operator, employee, guardian, youth, client or service.
        #[arg(long, default_value = "operator")]
        principal: String,
        #[arg(long, default_value = "dev-user")]
        subject: String,
        /// Municipality number (employee, guardian, youth).
        #[arg(long)]
        tenant: Option<String>,
        /// Unit resource names the employee works in (repeatable).
        #[arg(long = "unit")]
        units: Vec<String>,
        /// employee, unit_leader or municipal_admin (repeatable).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Directory person resource name (guardian, youth).
        #[arg(long)]
        person: Option<String>,
        /// Space-separated scopes (client, service).
        #[arg(long, default_value = "")]
        scope: String,
        /// Organisation number (client).
        #[arg(long)]
        org: Option<String>,
    },
}

/// Services this binary can run.
const SERVICES: [&str; 6] = [
    "directory",
    "consent",
    "caselog",
    "gateway",
    "scheduling",
    "notification",
];

/// Builds service `name` from its wiring: the one entry each service crate
/// exports, shared with the test harnesses.
fn build(name: &str, w: &Wiring) -> anyhow::Result<Service> {
    Ok(match name {
        "directory" => bti_directory::build(w)?.0,
        "consent" => bti_consent::build(w)?.0,
        "caselog" => bti_caselog::build(w)?.0,
        "gateway" => bti_gateway::build(w)?.0,
        "scheduling" => bti_scheduling::build(w)?.0,
        "notification" => bti_notification::build(w)?.0,
        other => anyhow::bail!("unknown service {other}"),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Dev {
            listen,
            data_dir,
            admin_listen,
        } => {
            settings.listen = listen;
            settings.server.admin_listen.get_or_insert(admin_listen);
            let _telemetry = bti_runtime::telemetry::init("bti-dev", &settings.log)?;
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("create {}", data_dir.display()))?;
            let issuer = Arc::new(LocalIssuer::open(&data_dir)?);
            settings.auth.issuers.push(issuer.issuer_config());
            dev_notification(&mut settings, &data_dir);
            let services = SERVICES
                .iter()
                .map(|s| {
                    (
                        *s,
                        format!("sqlite://{}", data_dir.join(format!("{s}.db")).display()),
                    )
                })
                .collect();
            run(settings, services, Some((issuer, data_dir))).await
        }
        Command::Serve { service } => {
            let _telemetry =
                bti_runtime::telemetry::init(&format!("bti-{service}"), &settings.log)?;
            let url = settings
                .database
                .url
                .clone()
                .context("database.url (BTI__DATABASE__URL) is required for bti serve")?;
            let name = SERVICES
                .iter()
                .find(|s| **s == service)
                .expect("clap checked the name");
            run(settings, vec![(name, url)], None).await
        }
        Command::Keygen { dir, issuer } => {
            let key = LocalIssuer::open_named(&dir, &issuer, true)?;
            println!(
                "issuer {issuer}: key in {}, JWKS in {}",
                dir.display(),
                key.jwks_path.display()
            );
            Ok(())
        }
        Command::Token {
            data_dir,
            issuer,
            principal,
            subject,
            tenant,
            units,
            roles,
            person,
            scope,
            org,
        } => {
            let issuer = LocalIssuer::open_named(
                &data_dir,
                &issuer,
                issuer == bti_runtime::auth::DEV_ISSUER,
            )?;
            let claims = token_claims(
                &principal, &subject, tenant, units, roles, person, &scope, org,
            )?;
            println!("{}", issuer.sign(claims)?);
            Ok(())
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn token_claims(
    principal: &str,
    subject: &str,
    tenant: Option<String>,
    units: Vec<String>,
    roles: Vec<String>,
    person: Option<String>,
    scope: &str,
    org: Option<String>,
) -> anyhow::Result<Claims> {
    let need = |v: Option<String>, flag: &str| {
        v.with_context(|| format!("--{flag} is required for --principal {principal}"))
    };
    Ok(match principal {
        "operator" => personas::operator(),
        "service" => personas::service(subject, scope),
        "employee" => {
            let roles = roles
                .iter()
                .map(|r| serde_json::from_value::<Role>(serde_json::Value::String(r.clone())))
                .collect::<Result<Vec<_>, _>>()
                .context("--role must be employee, unit_leader or municipal_admin")?;
            let units: Vec<&str> = units.iter().map(String::as_str).collect();
            personas::employee(subject, &need(tenant, "tenant")?, &units, &roles)
        }
        "guardian" => {
            personas::guardian(subject, &need(tenant, "tenant")?, &need(person, "person")?)
        }
        "youth" => personas::youth(subject, &need(tenant, "tenant")?, &need(person, "person")?),
        "client" => personas::client(subject, &need(org, "org")?, scope),
        other => anyhow::bail!("unknown principal {other}"),
    })
}

/// `bti dev` writes e-mails as `.eml` files under the data directory
/// (unless an SMTP relay or another directory is configured) and lets
/// webhooks go to plain-HTTP receivers on this machine.
fn dev_notification(settings: &mut Settings, data_dir: &std::path::Path) {
    let section = settings
        .service
        .entry("notification".into())
        .or_insert_with(|| serde_json::json!({}));
    let Some(obj) = section.as_object_mut() else {
        return;
    };
    let has_smtp = obj
        .get("smtp")
        .and_then(|s| s.get("host"))
        .is_some_and(|h| h.as_str().is_some_and(|h| !h.is_empty()));
    if !has_smtp && !obj.contains_key("eml_dir") {
        let mail = data_dir.join("mail");
        obj.insert("eml_dir".into(), serde_json::json!(mail));
    }
    let webhooks = obj
        .entry("webhooks")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(w) = webhooks.as_object_mut() {
        w.entry("allow_http").or_insert(serde_json::json!(true));
        w.entry("allow_private").or_insert(serde_json::json!(true));
    }
}

async fn run(
    settings: Settings,
    services: Vec<(&'static str, String)>,
    dev: Option<(Arc<LocalIssuer>, PathBuf)>,
) -> anyhow::Result<()> {
    let verifier = Verifier::new(&settings.auth).await?;
    let bus = events::bus_from_config(&settings.events).await?;
    let (peers, issuer) = match &dev {
        // One process: every peer is this server, and the dev issuer signs.
        Some((issuer, _)) => (PeerUrls::ThisServer, Some(issuer.clone())),
        None => (
            PeerUrls::Configured(settings.peers.clone()),
            match &settings.internal.key_dir {
                Some(dir) => Some(Arc::new(LocalIssuer::open_named(
                    dir,
                    &settings.internal.issuer,
                    false,
                )?)),
                None => None,
            },
        ),
    };
    let max_connections = settings.database.max_connections;
    let acquire_timeout =
        std::time::Duration::from_secs(settings.database.acquire_timeout_secs.max(1));
    let probe_every = std::time::Duration::from_secs(settings.server.db_probe_secs.max(1));
    let host = Host::bind(HostOptions {
        settings,
        verifier,
        bus,
        clock: bti_runtime::clock::system(),
        peers,
        issuer,
        probe_every,
    })
    .await?;
    let mut built = Vec::new();
    for (name, url) in services {
        let db = Db::connect_with(&url, max_connections, acquire_timeout)
            .await
            .with_context(|| format!("connect the {name} database"))?;
        built.push(build(name, &host.wiring(name, db))?);
    }
    let names: Vec<&str> = built.iter().map(|s| s.name).collect();
    let running = host.start(built, server::shutdown_signal()).await?;
    tracing::info!(addr = %running.local_addr, services = ?names, "migrated");
    // The demo world goes in before SERVING, so whoever waits for health can
    // use it; a failed seed is reported, not fatal.
    let demo = match &dev {
        Some((issuer, _)) => match seed_dev(running.local_addr, issuer).await {
            Ok(demo) => Some(demo),
            Err(e) => {
                tracing::warn!(error = %e, "could not seed the demo client");
                None
            }
        },
        None => None,
    };
    running.open().await;
    tracing::info!(services = ?names, "serving");
    if let Some((issuer, data_dir)) = &dev {
        print_dev_banner(running.local_addr, issuer, data_dir, demo.as_ref())?;
        if let Some(admin) = running.admin_addr {
            println!("Metrics (Prometheus text): curl http://{admin}/metrics\n");
        }
    }
    running.wait().await
}

/// The demo world `bti dev` seeds through the services' own contracts, so the
/// gateway example works on a fresh data directory: a demo municipality with a
/// child-welfare unit, one child (a synthetic national id) and a registered
/// external client speaking for that unit.
struct Demo {
    client_id: &'static str,
    org: &'static str,
    scopes: String,
    tenant: &'static str,
    child_national_id: String,
}

fn demo() -> Demo {
    let birth = chrono::NaiveDate::from_ymd_opt(2015, 6, 1).expect("valid date");
    Demo {
        client_id: "dev-barnevern",
        org: "974760673",
        scopes: bti_gateway::domain::KNOWN_SCOPES.join(" "),
        tenant: "4299",
        child_national_id: bti_runtime::ids::first_national_id(birth, false, true),
    }
}

/// Seeds the demo world (idempotent: what exists is left as it is).
async fn seed_dev(addr: SocketAddr, issuer: &LocalIssuer) -> anyhow::Result<Demo> {
    use bti_proto::directory::directory_service_client::DirectoryServiceClient;
    use bti_proto::directory::*;
    use bti_proto::gateway::gateway_service_client::GatewayServiceClient;
    use bti_proto::gateway::{Client, CreateClientRequest};
    use bti_runtime::client::with_token;

    let d = demo();
    let channel = bti_runtime::client::lazy_channel(&format!("http://{addr}"))?;
    let operator = issuer.sign(personas::operator())?;
    let unit = format!("tenants/{}/units/barnevern", d.tenant);
    let admin = issuer.sign(personas::employee(
        "dev-admin",
        d.tenant,
        &[&unit],
        &[Role::MunicipalAdmin],
    ))?;
    let exists = |r: Result<(), tonic::Status>| match r {
        Err(s) if s.code() != tonic::Code::AlreadyExists => Err(s),
        _ => Ok(()),
    };
    let mut dir = DirectoryServiceClient::new(channel.clone());
    exists(
        dir.create_tenant(with_token(
            CreateTenantRequest {
                tenant_id: d.tenant.into(),
                tenant: Some(Tenant {
                    display_name: "Demokommune".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &operator,
        ))
        .await
        .map(drop),
    )?;
    exists(
        dir.create_unit(with_token(
            CreateUnitRequest {
                parent: format!("tenants/{}", d.tenant),
                unit_id: "barnevern".into(),
                unit: Some(Unit {
                    display_name: "Barnevernstenesta".into(),
                    r#type: UnitType::ChildWelfare as i32,
                    ..Default::default()
                }),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .map(drop),
    )?;
    exists(
        dir.create_person(with_token(
            CreatePersonRequest {
                parent: format!("tenants/{}", d.tenant),
                person: Some(Person {
                    kind: PersonKind::Child as i32,
                    national_id: d.child_national_id.clone(),
                    given_name: "Demo".into(),
                    family_name: "Barn".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .map(drop),
    )?;
    exists(
        GatewayServiceClient::new(channel)
            .create_client(with_token(
                CreateClientRequest {
                    client_id: d.client_id.into(),
                    client: Some(Client {
                        display_name: "Demo barnevernssystem".into(),
                        organization_number: d.org.into(),
                        tenants: vec![d.tenant.into()],
                        scopes: d.scopes.split(' ').map(str::to_string).collect(),
                        unit,
                        ..Default::default()
                    }),
                },
                &operator,
            ))
            .await
            .map(drop),
    )?;
    Ok(d)
}

fn print_dev_banner(
    addr: SocketAddr,
    issuer: &LocalIssuer,
    data_dir: &Path,
    demo: Option<&Demo>,
) -> anyhow::Result<()> {
    let week = chrono_now() + 7 * 24 * 3600;
    let token = issuer.sign(Claims {
        exp: week,
        ..personas::operator()
    })?;
    // People's and clients' tokens live at most a day (auth.max_token_lifetime_secs).
    let half_day = chrono_now() + 12 * 3600;
    println!(
        r#"
bti dev is serving {services} on {addr} (data in {dir};
e-mails are written as .eml files to {dir}/mail unless [service.notification.smtp] is set)

An operator token (valid 7 days; mint others with `bti token --help`):

  export TOKEN={token}

Try it:

  grpcurl -plaintext {addr} list
  grpcurl -plaintext -H "authorization: Bearer $TOKEN" \
    -d '{{"tenant_id": "4201", "tenant": {{"display_name": "Sauda"}}}}' \
    {addr} bti.directory.v1.DirectoryService/CreateTenant
  grpcurl -plaintext -H "authorization: Bearer $TOKEN" \
    -d '{{"name": "tenants/4201"}}' {addr} bti.directory.v1.DirectoryService/GetTenant

"#,
        services = SERVICES.join(", "),
        dir = data_dir.display(),
    );
    let Some(demo) = demo else { return Ok(()) };
    let client_token = issuer.sign(Claims {
        exp: half_day,
        ..personas::client(demo.client_id, demo.org, &demo.scopes)
    })?;
    println!(
        r#"An external system: the demo client {client} is registered for the demo
municipality {tenant}, which has one child. Its client-credentials token (valid 12 hours):

  export CLIENT_TOKEN={client_token}

Attach a report of concern (it waits in {tenant}'s intake: the child has no relay log):

  grpcurl -plaintext -H "authorization: Bearer $CLIENT_TOKEN" -d '{{
    "request_id": "{request_id}",
    "referral": {{"tenant": "{tenant}", "kind": "REFERRAL_KIND_CHILD_WELFARE_REPORT",
      "external_reference": "BV-2026-0001", "subject": {{"national_id": "{child}"}},
      "structured": {{"concern": "Eleven har vore mykje borte og verkar redd."}}}}}}' \
    {addr} bti.gateway.v1.GatewayService/CreateReferral
  grpcurl -plaintext -H "authorization: Bearer $CLIENT_TOKEN" -d '{{}}' \
    {addr} bti.gateway.v1.GatewayService/ListReferrals
"#,
        client = demo.client_id,
        tenant = demo.tenant,
        child = demo.child_national_id,
        request_id = uuid::Uuid::new_v4(),
    );
    Ok(())
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
