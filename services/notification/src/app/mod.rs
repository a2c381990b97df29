//! The notification service's application layer: one function per RPC,
//! named after it, taking the caller and the request message; the event
//! consumer and the e-mail worker. The rules are pure, in `domain`.

mod access;
mod deliveries;
mod events;
mod inbox;
mod logs;
pub mod mail;
mod preferences;
mod resolver;
mod templates;
mod webhook_sender;
mod webhooks;

use std::sync::Arc;

use bti_runtime::auth::Principal;
use bti_runtime::clock::SharedClock;
use bti_runtime::events::OutboxSignal;
use bti_runtime::{ApiError, ApiResult};
use chrono::{DateTime, Utc};

use crate::NotificationConfig;
use crate::domain::templates::Templates;
use crate::domain::*;
use crate::store::NotificationStore;

/// The notification service's state: its store, the outbox signal, the
/// clock, its configuration, the templates and the mailer (if e-mail is on).
#[derive(Clone)]
pub struct App {
    store: Arc<dyn NotificationStore>,
    outbox: OutboxSignal,
    clock: SharedClock,
    cfg: Arc<NotificationConfig>,
    templates: Arc<Templates>,
    mailer: Option<Arc<mail::Mailer>>,
    /// Where meeting e-mails get their invitation's calendar, when configured.
    scheduling: Option<bti_runtime::peers::Scheduling>,
    /// Asked at send time whether a unit may still read a child's log.
    consent: bti_runtime::peers::ConsentChecker,
    /// Guardians, unit members and leaders.
    directory: bti_runtime::peers::Directory,
    /// Webhook client: no redirects followed, bounded per attempt.
    http: reqwest::Client,
    /// Woken when this replica creates notifications, for watches.
    created: Arc<tokio::sync::Notify>,
}

impl App {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn NotificationStore>,
        outbox: OutboxSignal,
        clock: SharedClock,
        cfg: NotificationConfig,
        mailer: Option<mail::Mailer>,
        scheduling: Option<bti_runtime::peers::Scheduling>,
        consent: bti_runtime::peers::ConsentChecker,
        directory: bti_runtime::peers::Directory,
    ) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // The addresses checked are the addresses connected to.
            .dns_resolver(Arc::new(resolver::PolicyResolver {
                allow_private: cfg.webhooks.allow_private,
            }))
            .timeout(std::time::Duration::from_millis(
                cfg.webhooks.timeout_ms.max(100),
            ))
            .build()
            .expect("the HTTP client builds");
        App {
            http,
            created: Arc::new(tokio::sync::Notify::new()),
            store,
            outbox,
            clock,
            cfg: Arc::new(cfg),
            templates: Arc::new(Templates::default()),
            mailer: mailer.map(Arc::new),
            scheduling,
            consent,
            directory,
        }
    }

    /// Whether e-mail is configured (an SMTP relay or an `.eml` directory).
    pub fn sends_email(&self) -> bool {
        self.mailer.is_some()
    }

    /// The store, for tests and tools that inspect the records.
    pub fn store(&self) -> &Arc<dyn NotificationStore> {
        &self.store
    }

    fn now(&self) -> DateTime<Utc> {
        use chrono::SubsecRound;
        self.clock.now().trunc_subsecs(6)
    }

    fn link(&self, resource: &str) -> String {
        format!(
            "{}/{resource}",
            self.cfg.link_base_url.trim_end_matches('/')
        )
    }

    fn municipality(&self, tenant: &str) -> String {
        self.cfg
            .municipalities
            .get(tenant)
            .cloned()
            .unwrap_or_else(|| format!("kommune {tenant}"))
    }

    /// The caller's notification `name`; NOT_FOUND when it is someone
    /// else's, so that whether it exists does not leak.
    async fn owned(&self, p: &Principal, field: &str, name: &str) -> ApiResult<NotificationRecord> {
        let n = NotificationName::parse(field, name)?;
        let (recipient, _) = recipient_of(p, &n.tenant)?;
        match self
            .store
            .get_notification(&n.tenant, &n.notification)
            .await?
        {
            Some(rec)
                if rec.recipient == recipient
                    && self
                        .may_receive(&rec, &mut access::AccessMemo::default())
                        .await? =>
            {
                Ok(rec)
            }
            _ => Err(ApiError::NotFound(name.to_string())),
        }
    }
}
