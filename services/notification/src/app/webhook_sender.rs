//! The webhook worker: claims due deliveries, signs each attempt per the
//! Standard Webhooks specification (the same `webhook-id` every time),
//! POSTs it without following redirects, and records the HTTP status and
//! what follows from it: done, retry on the schedule, give up, or disable
//! the endpoint (410 Gone, five days of failures).

use bti_proto::notification::WebhookSubscriptionDisabled;
use bti_runtime::ApiResult;
use bti_runtime::events::OutboxEvent;
use chrono::Duration;

use super::App;
use crate::domain::retry::{Next, after_attempt};
use crate::domain::signing::headers;
use crate::domain::url_policy::{check, is_private};
use crate::domain::*;
use crate::store::{Endpoint, WebhookOutcome};

impl App {
    /// One round: every due webhook delivery claimed and attempted; how many
    /// were delivered.
    pub async fn deliver_webhooks_due(&self) -> ApiResult<usize> {
        let now = self.now();
        let claim_until = now + Duration::seconds(self.cfg.claim_secs.max(1));
        let claimed = self
            .store
            .claim_webhook_deliveries(now, claim_until, self.cfg.batch.max(1))
            .await?;
        let mut delivered = 0;
        for d in claimed {
            let outcome = self.attempt_webhook(&d).await?;
            delivered += usize::from(outcome.state == WEBHOOK_DELIVERED);
            let wake = matches!(outcome.endpoint, Endpoint::Disable(_));
            self.store
                .finish_webhook_delivery(&d, &outcome, self.now())
                .await?;
            if wake {
                self.outbox.wake();
            }
        }
        Ok(delivered)
    }

    async fn attempt_webhook(&self, d: &WebhookDeliveryRecord) -> ApiResult<WebhookOutcome> {
        let failed = |why: &str| WebhookOutcome {
            state: WEBHOOK_FAILED.into(),
            due_time: d.due_time,
            http_status: 0,
            last_error: why.into(),
            endpoint: Endpoint::Unchanged,
        };
        let sub = match self
            .store
            .get_subscription(&d.tenant, &d.subscription)
            .await?
        {
            Some(s) if s.state == SUB_ACTIVE => s,
            _ => return Ok(failed("subscription not active")),
        };
        // The policy may have tightened since the subscription was made.
        let Ok(url) = check(&sub.uri, self.url_policy()) else {
            return Ok(failed("endpoint refused by policy"));
        };
        if !self.cfg.webhooks.allow_private && resolves_privately(&url).await {
            return Ok(failed("endpoint resolves to a private address"));
        }
        let now = self.now();
        let body = d.payload.clone().into_bytes();
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/json");
        for (name, value) in headers(&sub.secrets(), &d.webhook_id(), now, &body) {
            req = req.header(name, value);
        }
        let status = match req.body(body).send().await {
            Ok(resp) => Some(resp.status().as_u16()),
            Err(_) => None,
        };
        let attempt = d.attempts.saturating_sub(1).max(0) as u32;
        let failing_since = sub.failing_since.unwrap_or(now);
        let jitter = uuid::Uuid::new_v4().as_u128() as f64 / u128::MAX as f64;
        let http_status = status.map(i64::from).unwrap_or(0);
        let why = match status {
            Some(s) => format!("http {s}"),
            None => "no response".into(),
        };
        Ok(
            match after_attempt(status, attempt, now, failing_since, jitter) {
                Next::Done => WebhookOutcome {
                    state: WEBHOOK_DELIVERED.into(),
                    due_time: now,
                    http_status,
                    last_error: String::new(),
                    endpoint: Endpoint::Succeeded,
                },
                Next::RetryAt(at) => WebhookOutcome {
                    state: WEBHOOK_PENDING.into(),
                    due_time: at,
                    http_status,
                    last_error: why,
                    endpoint: Endpoint::Failing(now),
                },
                Next::GiveUp => WebhookOutcome {
                    http_status,
                    endpoint: Endpoint::Failing(now),
                    ..failed(&why)
                },
                Next::DisableEndpoint => WebhookOutcome {
                    http_status,
                    endpoint: Endpoint::Disable(OutboxEvent::new(
                        SOURCE,
                        &sub.name(),
                        &sub.tenant,
                        &WebhookSubscriptionDisabled {
                            webhook_subscription: sub.name(),
                        },
                    )),
                    ..failed(&why)
                },
            },
        )
    }
}

/// Whether the URL's host resolves to any private or loopback address (a
/// public name pointing inward). Unresolvable counts as not private: the
/// attempt then fails on its own and is retried.
async fn resolves_privately(url: &url::Url) -> bool {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => addrs.into_iter().any(|a| is_private(a.ip())),
        Err(_) => false,
    }
}
