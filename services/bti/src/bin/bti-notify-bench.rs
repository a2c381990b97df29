//! Load for the notification service, in the deployment's shape: `bti
//! serve directory`, `consent`, `caselog` and `notification` as separate
//! processes on fresh PostgreSQL databases and NATS JetStream, a real SMTP
//! server (Python's aiosmtpd) and a local HTTP receiver for webhooks. Relay
//! log events (baton offers) are published onto the bus as the relay log
//! would; every e-mail is judged at send time (consent asked over gRPC).
//! Reports events per second turned into e-mails, into webhook deliveries,
//! and how long a backlog of webhook deliveries takes to drain once the
//! receiver is back (an endpoint disabled by `410 Gone`, then re-enabled:
//! what it missed is replayed).
//!
//!   bench/notification/run            (builds, then runs this)
//!
//! See bench/README.md.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "shared/mod.rs"]
mod bench_common;

use anyhow::Context;
use bench_common::{Proc, free_port, wait_ready};
use bti_proto::caselog::case_log_service_client::CaseLogServiceClient;
use bti_proto::caselog::{CaseLog, CreateCaseLogRequest, HandoverOffered, Level};
use bti_proto::consent::consent_method::Method;
use bti_proto::consent::consent_service_client::ConsentServiceClient;
use bti_proto::consent::{
    Consent, ConsentMethod, ConsentPurpose, CreateConsentRequest, Grantor, GrantorRole, OralConsent,
};
use bti_proto::directory::directory_service_client::DirectoryServiceClient;
use bti_proto::directory::{
    CreateGuardianshipRequest, CreateMemberRequest, CreatePersonRequest, CreateTenantRequest,
    CreateUnitRequest, Guardianship, Member, MemberRole, Person, PersonKind, Tenant, Unit,
    UnitType,
};
use bti_proto::notification::notification_service_client::NotificationServiceClient;
use bti_proto::notification::webhook_service_client::WebhookServiceClient;
use bti_proto::notification::{
    CreateWebhookSubscriptionRequest, EnableWebhookSubscriptionRequest,
    GetWebhookSubscriptionRequest, NotificationKind, NotificationPreferences,
    UpdateNotificationPreferencesRequest, WebhookSubscription,
};
use bti_runtime::auth::{LocalIssuer, Role, personas};
use bti_runtime::client::with_token;
use bti_runtime::db::Db;
use bti_runtime::events::{EventBus, NatsBus, OutboxEvent};
use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[derive(Parser)]
struct Args {
    /// A PostgreSQL URL whose user may create databases.
    #[arg(long, env = "BTI_TEST_POSTGRES_URL")]
    postgres: String,
    #[arg(
        long,
        env = "BTI_TEST_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    nats: String,
    /// Events turned into e-mails.
    #[arg(long, default_value_t = 2000)]
    emails: usize,
    /// Events turned into webhook deliveries.
    #[arg(long, default_value_t = 2000)]
    webhooks: usize,
    /// Webhook deliveries missed while the endpoint was down.
    #[arg(long, default_value_t = 10_000)]
    backlog: usize,
    /// `service.notification.delivery_every_ms` and `.webhooks.every_ms`.
    #[arg(long, default_value_t = 1000)]
    every_ms: u64,
    /// `service.notification.batch`.
    #[arg(long, default_value_t = 50)]
    batch: i64,
}

const T: &str = "4201";
const SCHOOL: &str = "tenants/4201/units/school";
/// Logs, and professionals offered batons on them (each its own address).
const LOGS: usize = 20;
const PEOPLE: usize = 20;

/// Waits until `count()` reaches `n`; the time it took from `since`.
async fn until(what: &str, n: usize, since: Instant, count: impl Fn() -> usize) -> Duration {
    let mut last = (0, Instant::now());
    loop {
        let c = count();
        if c >= n {
            return since.elapsed();
        }
        if c != last.0 {
            last = (c, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(600) {
            panic!("{what}: stuck at {c} of {n}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A minimal HTTP/1.1 receiver (keep-alive): answers `status` to every POST
/// and keeps the `webhook-id`s it accepted.
#[derive(Clone)]
struct Receiver {
    status: Arc<AtomicU16>,
    ids: Arc<Mutex<HashSet<String>>>,
}

impl Receiver {
    async fn start(port: u16) -> anyhow::Result<Receiver> {
        let r = Receiver {
            status: Arc::new(AtomicU16::new(204)),
            ids: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let me = r.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let me = me.clone();
                tokio::spawn(async move {
                    let _ = me.serve(conn).await;
                });
            }
        });
        Ok(r)
    }

    async fn serve(&self, conn: tokio::net::TcpStream) -> anyhow::Result<()> {
        let mut conn = BufReader::new(conn);
        loop {
            let (mut length, mut id) = (0usize, String::new());
            let mut line = String::new();
            if conn.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            loop {
                line.clear();
                conn.read_line(&mut line).await?;
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some((k, v)) = l.split_once(':') {
                    match k.to_ascii_lowercase().as_str() {
                        "content-length" => length = v.trim().parse()?,
                        "webhook-id" => id = v.trim().to_string(),
                        _ => {}
                    }
                }
            }
            let mut body = vec![0; length];
            conn.read_exact(&mut body).await?;
            let status = self.status.load(Ordering::SeqCst);
            if status == 204 {
                self.ids.lock().unwrap().insert(id);
            }
            let reason = if status == 204 { "No Content" } else { "Gone" };
            conn.get_mut()
                .write_all(
                    format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\n\r\n").as_bytes(),
                )
                .await?;
        }
    }

    fn received(&self) -> usize {
        self.ids.lock().unwrap().len()
    }
}

fn maildir_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("new"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let run = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos()
    );
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
    let services = ["directory", "consent", "caselog", "notification"];
    let mut dbs = Vec::new();
    for svc in services {
        let name = format!("bti_nbench_{svc}_{run}");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(pool)
            .await?;
        dbs.push((name.clone(), format!("{base}/{name}")));
    }
    let keys = std::env::temp_dir().join(format!("bti-nbench-{run}"));
    let idp = LocalIssuer::open_named(&keys, "bench-idp", true)?;
    let internal = LocalIssuer::open_named(&keys, "bti-internal", true)?;
    let stream = format!("NB{run}");
    let config = keys.join("bti.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\nfilter = \"warn\"\n[server]\nconcurrency_limit = 1024\n\n[[auth.issuers]]\nissuer = \"bench-idp\"\njwks_path = \"{}\"\n\n[[auth.issuers]]\nissuer = \"bti-internal\"\njwks_path = \"{}\"\n\n[internal]\nkey_dir = \"{}\"\n\n[events]\nstream = \"{stream}\"\nnats_url = \"{}\"\n",
            idp.jwks_path.display(),
            internal.jwks_path.display(),
            keys.display(),
            args.nats,
        ),
    )?;
    let bti = std::env::current_exe()?.with_file_name("bti");
    anyhow::ensure!(bti.exists(), "build the bti binary first");

    // The SMTP server and the webhook receiver.
    let smtp_port = free_port();
    let mailbox = keys.join("mailbox");
    let _smtpd = Proc(
        Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{smtp_port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&mailbox)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("python3 -m aiosmtpd (pip install aiosmtpd)")?,
    );
    let hook_port = free_port();
    let receiver = Receiver::start(hook_port).await?;

    let addrs: Vec<String> = services
        .iter()
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let mut procs = Vec::new();
    for (i, svc) in services.iter().enumerate() {
        let mut c = Command::new(&bti);
        c.args(["serve", svc])
            .env("BTI_CONFIG", &config)
            .env("BTI__LISTEN", &addrs[i])
            .env("BTI__DATABASE__URL", &dbs[i].1)
            .env("BTI__DATABASE__MAX_CONNECTIONS", "16")
            .stdout(Stdio::null());
        for (j, peer) in services.iter().enumerate() {
            c.env(
                format!("BTI__PEERS__{}", peer.to_uppercase()),
                format!("http://{}", addrs[j]),
            );
        }
        let n = "BTI__SERVICE__NOTIFICATION__";
        c.env(format!("{n}SMTP__HOST"), "127.0.0.1")
            .env(format!("{n}SMTP__PORT"), smtp_port.to_string())
            .env(format!("{n}SMTP__TLS"), "none")
            .env(format!("{n}SENDER"), "BTI <ikkje-svar@bti.example>")
            .env(format!("{n}WEBHOOKS__ALLOW_HTTP"), "true")
            .env(format!("{n}WEBHOOKS__ALLOW_PRIVATE"), "true")
            .env(format!("{n}WEBHOOKS__EVERY_MS"), args.every_ms.to_string())
            .env(format!("{n}DELIVERY_EVERY_MS"), args.every_ms.to_string())
            .env(format!("{n}BATCH"), args.batch.to_string());
        procs.push(Proc(c.spawn()?));
    }
    let mut chans = Vec::new();
    for a in &addrs {
        chans.push(wait_ready(a).await?);
    }
    let bus = NatsBus::connect(&args.nats, &stream).await?;

    // Setup: a municipality and its school, its staff, LOGS children with a
    // guardian and consent each, a log each; an address for each of the
    // first PEOPLE professionals.
    let op = idp.sign(personas::operator())?;
    let teacher = idp.sign(personas::employee("kari", T, &[SCHOOL], &[Role::Employee]))?;
    let municipal = idp.sign(personas::employee(
        "admin",
        T,
        &[SCHOOL],
        &[Role::MunicipalAdmin],
    ))?;
    let mut d = DirectoryServiceClient::new(chans[0].clone());
    let tenant = Tenant {
        display_name: "Bench".into(),
        ..Default::default()
    };
    d.create_tenant(with_token(
        CreateTenantRequest {
            tenant_id: T.into(),
            tenant: Some(tenant),
            ..Default::default()
        },
        &op,
    ))
    .await?;
    let unit = Unit {
        display_name: "Skule".into(),
        r#type: UnitType::School as i32,
        ..Default::default()
    };
    d.create_unit(with_token(
        CreateUnitRequest {
            parent: format!("tenants/{T}"),
            unit_id: "school".into(),
            unit: Some(unit),
            ..Default::default()
        },
        &op,
    ))
    .await?;
    let staff: Vec<String> = std::iter::once("kari".to_string())
        .chain((0..PEOPLE).map(|i| format!("p{i}")))
        .chain((0..PEOPLE).map(|i| format!("q{i}")))
        .collect();
    for s in &staff {
        let member = Member {
            subject: s.clone(),
            display_name: s.clone(),
            role: MemberRole::Employee as i32,
            ..Default::default()
        };
        d.create_member(with_token(
            CreateMemberRequest {
                parent: SCHOOL.into(),
                member: Some(member),
                ..Default::default()
            },
            &op,
        ))
        .await?;
    }
    let mut consent = ConsentServiceClient::new(chans[1].clone());
    let mut caselog = CaseLogServiceClient::new(chans[2].clone());
    let mut logs = Vec::new();
    for i in 0..LOGS {
        let person = |kind: PersonKind, y: i32| CreatePersonRequest {
            parent: format!("tenants/{T}"),
            person: Some(Person {
                kind: kind as i32,
                national_id: bti_runtime::ids::first_national_id(
                    // Distinct for up to 12 × 28 logs: every month has a 28th.
                    chrono::NaiveDate::from_ymd_opt(
                        y,
                        1 + (i % 12) as u32,
                        1 + (i / 12 % 28) as u32,
                    )
                    .expect("a valid date"),
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
        let gs = Guardianship {
            guardian: mother.clone(),
            parental_responsibility: true,
            ..Default::default()
        };
        d.create_guardianship(with_token(
            CreateGuardianshipRequest {
                parent: child.clone(),
                guardianship: Some(gs),
                ..Default::default()
            },
            &op,
        ))
        .await?;
        let c = Consent {
            subject: child.clone(),
            purpose: ConsentPurpose::RelayLogCollaboration as i32,
            grantors: vec![Grantor {
                person: mother,
                role: GrantorRole::Guardian as i32,
            }],
            covered_units: vec![SCHOOL.into()],
            method: Some(ConsentMethod {
                method: Some(Method::Oral(OralConsent::default())),
            }),
            ..Default::default()
        };
        consent
            .create_consent(with_token(
                CreateConsentRequest {
                    parent: format!("tenants/{T}"),
                    consent: Some(c),
                    ..Default::default()
                },
                &teacher,
            ))
            .await?;
        let log = CaseLog {
            subject: child,
            unit: SCHOOL.into(),
            concern: "bench".into(),
            level: Level::Level1 as i32,
            ..Default::default()
        };
        logs.push(
            caselog
                .create_case_log(with_token(
                    CreateCaseLogRequest {
                        parent: format!("tenants/{T}"),
                        case_log: Some(log),
                        ..Default::default()
                    },
                    &teacher,
                ))
                .await?
                .into_inner()
                .name,
        );
    }
    let mut inbox = NotificationServiceClient::new(chans[3].clone());
    for i in 0..PEOPLE {
        let who = idp.sign(personas::employee(
            &format!("p{i}"),
            T,
            &[SCHOOL],
            &[Role::Employee],
        ))?;
        let prefs = NotificationPreferences {
            name: format!("tenants/{T}/notificationPreferences/me"),
            email_address: format!("p{i}@bench.example"),
            ..Default::default()
        };
        inbox
            .update_notification_preferences(with_token(
                UpdateNotificationPreferencesRequest {
                    notification_preferences: Some(prefs),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["email_address".into()],
                    }),
                },
                &who,
            ))
            .await?;
    }
    // The notification service must know the logs (from caselog's events)
    // before offers about them are judged.
    let notification_db = Db::connect(&dbs[3].1, 2).await?;
    let Db::Postgres(npool) = &notification_db else {
        unreachable!()
    };
    let known = async || -> usize {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM notification_logs")
            .fetch_one(npool)
            .await
            .unwrap_or(0) as usize
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while known().await < LOGS {
        anyhow::ensure!(Instant::now() < deadline, "logs not followed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut seq = 0usize;
    let mut offers = |n: usize, prefix: &str| {
        (0..n)
            .map(|_| {
                seq += 1;
                let log = &logs[seq % LOGS];
                let handover = format!("{log}/handovers/b{seq}");
                OutboxEvent::new(
                    "//bti.no/caselog",
                    &handover,
                    T,
                    &HandoverOffered {
                        handover: handover.clone(),
                        to_professional: format!("{prefix}{}", (seq / LOGS) % PEOPLE),
                        to_unit: SCHOOL.into(),
                    },
                )
                .envelope()
            })
            .collect::<Vec<_>>()
    };
    println!(
        "notification service (bti serve, PostgreSQL, NATS JetStream), worker every {} ms, batch {}",
        args.every_ms, args.batch
    );

    // 1. Events to e-mails at the SMTP server.
    let events = offers(args.emails, "p");
    let t0 = Instant::now();
    for e in &events {
        bus.publish(e).await?;
    }
    let published = t0.elapsed();
    let took = until("e-mails", args.emails, t0, || maildir_count(&mailbox)).await;
    println!(
        "events -> e-mails:   {:>6} in {:>7.2} s = {:>7.0} /s   (published in {:.2} s)",
        args.emails,
        took.as_secs_f64(),
        args.emails as f64 / took.as_secs_f64(),
        published.as_secs_f64()
    );

    // 2. Events to webhook deliveries (recipients without an address).
    let mut hooks = WebhookServiceClient::new(chans[3].clone());
    let sub = hooks
        .create_webhook_subscription(with_token(
            CreateWebhookSubscriptionRequest {
                parent: format!("tenants/{T}"),
                webhook_subscription: Some(WebhookSubscription {
                    uri: format!("http://127.0.0.1:{hook_port}/bti"),
                    kinds: vec![NotificationKind::HandoverOffered as i32],
                    ..Default::default()
                }),
                ..Default::default()
            },
            &municipal,
        ))
        .await?
        .into_inner();
    let events = offers(args.webhooks, "q");
    let t0 = Instant::now();
    for e in &events {
        bus.publish(e).await?;
    }
    let took = until("webhooks", args.webhooks, t0, || receiver.received()).await;
    println!(
        "events -> webhooks:  {:>6} in {:>7.2} s = {:>7.0} /s",
        args.webhooks,
        took.as_secs_f64(),
        args.webhooks as f64 / took.as_secs_f64()
    );

    // 3. A backlog: the endpoint answers 410 Gone and is disabled; what it
    // misses is recorded; back, it is enabled again and the backlog drains.
    receiver.status.store(410, Ordering::SeqCst);
    let before = receiver.received();
    let events = offers(args.backlog, "q");
    for e in &events {
        bus.publish(e).await?;
    }
    let missed = async || -> usize {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'FAILED'",
        )
        .fetch_one(npool)
        .await
        .unwrap_or(0) as usize
    };
    let deadline = Instant::now() + Duration::from_secs(900);
    while missed().await < args.backlog {
        anyhow::ensure!(Instant::now() < deadline, "backlog not recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let backlog = missed().await;
    receiver.status.store(204, Ordering::SeqCst);
    let current = hooks
        .get_webhook_subscription(with_token(
            GetWebhookSubscriptionRequest {
                name: sub.name.clone(),
            },
            &municipal,
        ))
        .await?
        .into_inner();
    let t0 = Instant::now();
    hooks
        .enable_webhook_subscription(with_token(
            EnableWebhookSubscriptionRequest {
                name: sub.name.clone(),
                etag: current.etag,
            },
            &municipal,
        ))
        .await?;
    let took = until("backlog", before + backlog, t0, || receiver.received()).await;
    println!(
        "backlog drained:     {:>6} in {:>7.2} s = {:>7.0} /s   (endpoint back and re-enabled to all delivered)",
        backlog,
        took.as_secs_f64(),
        backlog as f64 / took.as_secs_f64()
    );

    drop(procs);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = bus.delete_stream().await;
    drop(notification_db);
    for (name, _) in &dbs {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(pool)
        .await;
    }
    let _ = std::fs::remove_dir_all(&keys);
    Ok(())
}
