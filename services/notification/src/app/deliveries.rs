//! The e-mail worker: claims due deliveries, checks at send time that they
//! are still wanted (not settled, not read, not muted, an address known),
//! renders and sends them, and records the outcome, retrying on the
//! persisted schedule.

use bti_proto::notification::{DeliveryFailed, NotificationChannel};
use bti_runtime::ApiResult;
use bti_runtime::events::OutboxEvent;
use chrono::Duration;

use super::App;
use super::mail::{Mailer, SendError};
use crate::domain::kinds::Channel;
use crate::domain::retry::delay_with_jitter;
use crate::domain::*;
use crate::store::Outcome;

impl App {
    /// One round: every due delivery claimed and attempted; how many were sent.
    pub async fn deliver_due(&self) -> ApiResult<usize> {
        let Some(mailer) = self.mailer.clone() else {
            return Ok(0);
        };
        let now = self.now();
        let claim_until = now + Duration::seconds(self.cfg.claim_secs.max(1));
        let claimed = self
            .store
            .claim_deliveries(now, claim_until, self.cfg.batch.max(1))
            .await?;
        let mut sent = 0;
        for d in claimed {
            let outcome = self.attempt(&mailer, &d).await?;
            sent += usize::from(outcome.state == DELIVERY_SENT);
            let wake = outcome.event.is_some();
            self.store
                .finish_delivery(&d.id, &outcome, self.now())
                .await?;
            if wake {
                self.outbox.wake();
            }
        }
        Ok(sent)
    }

    async fn attempt(&self, mailer: &Mailer, d: &DeliveryRecord) -> ApiResult<Outcome> {
        let end = |state: &str, why: &str| Outcome {
            state: state.into(),
            due_time: d.due_time,
            last_error: why.into(),
            event: None,
        };
        let cancel = |why: &str| Ok(end(DELIVERY_CANCELLED, why));
        let Some(n) = self
            .store
            .get_notification(&d.tenant, &d.notification)
            .await?
        else {
            return cancel("notification gone");
        };
        if n.resolve_time.is_some() {
            return cancel("settled");
        }
        if n.state() == Some(State::Read) {
            return cancel("already read");
        }
        let Some(kind) = n.kind() else {
            return cancel("unknown kind");
        };
        let prefs = self.store.get_preferences(&d.tenant, &d.recipient).await?;
        let Some(p) = prefs.filter(|p| !p.email_address.is_empty()) else {
            return cancel("no address");
        };
        if !p.rules().enabled(kind, Channel::Email) {
            return cancel("muted");
        }
        let failed = |why: &str| Outcome {
            event: Some(OutboxEvent::new(
                SOURCE,
                &n.name(),
                &n.tenant,
                &DeliveryFailed {
                    notification: n.name(),
                    channel: NotificationChannel::Email as i32,
                },
            )),
            ..end(DELIVERY_FAILED, why)
        };
        let municipality = self.municipality(&n.tenant);
        let rendered = match self
            .templates
            .render(kind, &p.language_code, &n.link, &municipality)
        {
            Ok(r) => r,
            Err(_) => return Ok(failed("template")),
        };
        let result = mailer
            .send(&d.id, &self.cfg.sender, &p.email_address, &rendered)
            .await;
        Ok(match result {
            Ok(()) => end(DELIVERY_SENT, ""),
            Err(SendError::Permanent(why)) => failed(why),
            Err(SendError::Transient(why)) => {
                // `attempts` already counts this one; the schedule says how
                // long to wait before the next, or that it is over.
                let jitter = uuid::Uuid::new_v4().as_u128() as f64 / u128::MAX as f64;
                match delay_with_jitter(d.attempts.max(0) as u32, jitter) {
                    Some(delay) => Outcome {
                        due_time: self.now() + delay,
                        ..end(DELIVERY_PENDING, why)
                    },
                    None => failed(why),
                }
            }
        })
    }
}
