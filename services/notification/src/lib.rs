//! The notification service: an inbox per professional and guardian, filled
//! from the other services' events (idempotently by event id) and settled
//! when their cause is; e-mail through a queue in the database, sent by a
//! worker over SMTP (or written as `.eml` files in development); signed
//! webhooks to the municipality's systems, retried on a schedule. Nothing it
//! stores or sends says more than that something awaits the recipient.
//!
//! The shape every service has (see ARCHITECTURE.md): `api`, `app`,
//! `domain`, `store`, and [`build`], the one wiring entry.

pub mod api;
pub mod app;
pub mod domain;
pub mod store;

pub use app::App;

use std::collections::BTreeMap;
use std::path::PathBuf;

use bti_runtime::host::{Service, Task, Wiring};

/// How the SMTP relay is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which is required.
    #[default]
    Starttls,
    /// TLS from the first byte (submissions, port 465).
    Implicit,
    /// No TLS at all: only for a local relay or test server.
    None,
}

/// `[service.notification.smtp]`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct SmtpConfig {
    /// The relay; no e-mail is sent when neither this nor `eml_dir` is set.
    pub host: Option<String>,
    /// Defaults to 587 (STARTTLS), 465 (implicit) or 25 (none).
    pub port: Option<u16>,
    pub tls: SmtpTls,
    /// Credentials, from a secret (`BTI__SERVICE__NOTIFICATION__SMTP__PASSWORD`).
    pub username: Option<String>,
    pub password: Option<String>,
}

/// `[service.notification.webhooks]`.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct WebhookConfig {
    /// Plain http endpoints (`bti dev` and tests only).
    pub allow_http: bool,
    /// Private and loopback endpoints (a receiver on the municipality's own
    /// network).
    pub allow_private: bool,
    /// How often the webhook worker looks for due deliveries.
    pub every_ms: u64,
    /// How long one attempt may take.
    pub timeout_ms: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            allow_http: false,
            allow_private: false,
            every_ms: 1000,
            timeout_ms: 10_000,
        }
    }
}

/// The `[service.notification]` section.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct NotificationConfig {
    pub smtp: SmtpConfig,
    pub webhooks: WebhookConfig,
    /// The `From` of every e-mail.
    pub sender: String,
    /// Links are this followed by `/` and the resource name.
    pub link_base_url: String,
    /// For development: write each e-mail as `<delivery>.eml` here instead
    /// of sending it.
    pub eml_dir: Option<PathBuf>,
    /// Municipality names by tenant (kommunenummer) for e-mails.
    pub municipalities: BTreeMap<String, String>,
    /// How often the delivery worker looks for due e-mails.
    pub delivery_every_ms: u64,
    /// How long a claimed delivery is a worker's before another may retry it.
    pub claim_secs: i64,
    /// Deliveries per worker round.
    pub batch: i64,
    /// How often a watch looks for notifications another replica created.
    pub watch_poll_ms: u64,
}

impl Default for NotificationConfig {
    fn default() -> Self {
        NotificationConfig {
            smtp: SmtpConfig::default(),
            webhooks: WebhookConfig::default(),
            sender: "BTI <ikkje-svar@bti.invalid>".into(),
            link_base_url: "http://localhost:8080".into(),
            eml_dir: None,
            municipalities: BTreeMap::new(),
            delivery_every_ms: 1000,
            claim_secs: 300,
            batch: 50,
            watch_poll_ms: 1000,
        }
    }
}

/// The durable consumers of the relay log's and the scheduling service's
/// events, shared by every replica.
pub const CASELOG_CONSUMER: &str = "notification-caselog";
pub const SCHEDULING_CONSUMER: &str = "notification-scheduling";
pub const GATEWAY_CONSUMER: &str = "notification-gateway";

/// The notification service on `w`'s database: its gRPC server, its
/// consumers of relay-log and scheduling events, its e-mail worker (when
/// e-mail is configured) and its webhook worker.
pub fn build(w: &Wiring) -> anyhow::Result<(Service, App)> {
    let cfg: NotificationConfig = w.section()?;
    let mailer = app::mail::Mailer::from_config(&cfg)?;
    let every = std::time::Duration::from_millis(cfg.delivery_every_ms.max(10));
    let hooks_every = std::time::Duration::from_millis(cfg.webhooks.every_ms.max(10));
    let app = App::new(
        store::for_db(&w.db),
        w.outbox.clone(),
        w.clock.clone(),
        cfg,
        mailer,
        // Optional: without scheduling, meeting e-mails go without calendar.
        w.peers.scheduling().ok(),
        // Required: nothing about a log goes out without asking.
        w.peers.consent()?,
        w.peers.directory()?,
    );
    let mut service = Service::new(w, store::migrations())
        .serve(api::Api(app.clone()).into_server())
        .serve(api::WebhookApi(app.clone()).into_server());
    for (name, durable, filter) in [
        ("caselog-consumer", CASELOG_CONSUMER, "bti.caselog.v1."),
        (
            "scheduling-consumer",
            SCHEDULING_CONSUMER,
            "bti.scheduling.v1.",
        ),
        ("gateway-consumer", GATEWAY_CONSUMER, "bti.gateway.v1."),
    ] {
        let consumer = app.clone();
        service = service.task(Task::consume(
            name,
            w.bus.clone(),
            durable,
            filter,
            move |e| {
                let app = consumer.clone();
                async move { Ok(app.on_event(&e).await.map(drop)?) }
            },
        ));
    }
    if app.sends_email() {
        let worker = app.clone();
        service = service.task(Task::every("email", every, move || {
            let worker = worker.clone();
            async move { Ok(worker.deliver_due().await?) }
        }));
    }
    let sender = app.clone();
    service = service.task(Task::every("webhooks", hooks_every, move || {
        let sender = sender.clone();
        async move { Ok(sender.deliver_webhooks_due().await?) }
    }));
    Ok((service, app))
}
