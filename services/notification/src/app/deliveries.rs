//! The e-mail worker: claims due deliveries, checks at send time that they
//! are still wanted (not settled, not read, not muted, an address known),
//! renders and sends them (a recipient's digest deliveries together, as one
//! message), and records the outcome, retrying on the persisted schedule.

use std::collections::BTreeMap;

use bti_proto::notification::{DeliveryFailed, NotificationChannel};
use bti_proto::types::Recipient;
use bti_runtime::ApiResult;
use bti_runtime::events::OutboxEvent;
use bti_runtime::peers::scheduling::Invitation;
use chrono::Duration;

use super::App;
use super::access::AccessMemo;
use super::mail::{Mailer, SendError};
use crate::domain::kinds::{Channel, Kind};
use crate::domain::retry::delay_with_jitter;
use crate::domain::templates::{Rendered, render_custom};
use crate::domain::*;
use crate::store::Outcome;

/// Why a delivery does not go out now.
enum Why {
    /// It never will (settled, read, muted, no access, ...).
    Not(&'static str),
    /// Access could not be asked: try again later.
    Unknown,
}

/// What a delivery still goes out with.
struct Wanted {
    d: DeliveryRecord,
    n: NotificationRecord,
    kind: Kind,
    prefs: PreferencesRecord,
}

fn ended(d: &DeliveryRecord, state: &str, why: &str) -> Outcome {
    Outcome {
        state: state.into(),
        due_time: d.due_time,
        last_error: why.into(),
        event: None,
    }
}

fn jitter() -> f64 {
    uuid::Uuid::new_v4().as_u128() as f64 / u128::MAX as f64
}

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
        let mut digests: BTreeMap<(String, String), Vec<Wanted>> = BTreeMap::new();
        let mut memo = AccessMemo::default();
        for d in claimed {
            let w = match self.still_wanted(d, &mut memo).await? {
                Ok(w) => w,
                Err((d, Why::Not(why))) => {
                    self.finish(&d, ended(&d, DELIVERY_CANCELLED, why)).await?;
                    continue;
                }
                // Consent or the directory out of reach: asked again later,
                // on the schedule, never sent unasked.
                Err((d, Why::Unknown)) => {
                    let why = "access: try later";
                    let outcome = match delay_with_jitter(d.attempts.max(0) as u32, jitter()) {
                        Some(delay) => Outcome {
                            due_time: self.now() + delay,
                            ..ended(&d, DELIVERY_PENDING, why)
                        },
                        None => ended(&d, DELIVERY_FAILED, why),
                    };
                    self.finish(&d, outcome).await?;
                    continue;
                }
            };
            if w.d.channel == EMAIL_DIGEST {
                let key = (w.d.tenant.clone(), w.d.recipient.clone());
                digests.entry(key).or_default().push(w);
                continue;
            }
            let rendered = self.render(&w).await?;
            let calendar = self.calendar(&w).await;
            sent += self.send(&mailer, &[w], rendered, calendar).await?;
        }
        for ((tenant, _), group) in digests {
            let links: Vec<String> = group.iter().map(|w| w.n.link.clone()).collect();
            let language = group[0].prefs.language_code.clone();
            let rendered =
                self.templates
                    .render_digest(&language, &links, &self.municipality(&tenant));
            sent += self.send(&mailer, &group, rendered.ok(), Ok(None)).await?;
        }
        Ok(sent)
    }

    /// The message: the municipality's own template for the kind and
    /// language if it has one, else the built-in; `None` if it will not render.
    async fn render(&self, w: &Wanted) -> ApiResult<Option<Rendered>> {
        let municipality = self.municipality(&w.n.tenant);
        let lang = if w.prefs.language_code == "nn" {
            "nn"
        } else {
            "nb"
        };
        let id = format!("{}/{lang}", w.kind.as_str());
        Ok(match self.store.get_template(&w.n.tenant, &id).await? {
            Some(t) => render_custom(&t.subject, &t.body, w.kind, &w.n.link, &municipality).ok(),
            None => self
                .templates
                .render(w.kind, lang, &w.n.link, &municipality)
                .ok(),
        })
    }

    /// The delivery with what it goes out with, or why it no longer does.
    async fn still_wanted(
        &self,
        d: DeliveryRecord,
        memo: &mut AccessMemo,
    ) -> ApiResult<Result<Wanted, (DeliveryRecord, Why)>> {
        let not = |d, why| Ok(Err((d, Why::Not(why))));
        let Some(n) = self
            .store
            .get_notification(&d.tenant, &d.notification)
            .await?
        else {
            return not(d, "notification gone");
        };
        if n.resolve_time.is_some() {
            return not(d, "settled");
        }
        if n.state() == Some(State::Read) {
            return not(d, "already read");
        }
        let Some(kind) = n.kind() else {
            return not(d, "unknown kind");
        };
        let prefs = self.store.get_preferences(&d.tenant, &d.recipient).await?;
        let Some(prefs) = prefs.filter(|p| !p.email_address.is_empty()) else {
            return not(d, "no address");
        };
        if !prefs.rules().enabled(kind, Channel::Email) {
            return not(d, "muted");
        }
        // Last, as it asks other services: may they still read the log?
        match self.may_receive(&n, memo).await {
            Ok(true) => {}
            Ok(false) => return not(d, "no access"),
            Err(_) => return Ok(Err((d, Why::Unknown))),
        }
        Ok(Ok(Wanted { d, n, kind, prefs }))
    }

    /// A meeting e-mail's calendar: the recipient's own invitation from
    /// scheduling. Scheduling out of reach is worth a retry.
    async fn calendar(&self, w: &Wanted) -> Result<Option<Invitation>, SendError> {
        let meeting_kind = matches!(
            w.kind,
            Kind::MeetingInvited | Kind::MeetingChanged | Kind::MeetingCancelled
        );
        let Some(scheduling) = self.scheduling.as_ref().filter(|_| meeting_kind) else {
            return Ok(None);
        };
        let to = match w.d.recipient.split_once(':') {
            Some(("subject", s)) => Recipient {
                professional: s.into(),
                ..Default::default()
            },
            Some(("person", p)) => Recipient {
                person: p.into(),
                ..Default::default()
            },
            _ => return Ok(None),
        };
        scheduling
            .invitation(&w.n.resource, to)
            .await
            .map_err(|_| SendError::Transient("scheduling: try later"))
    }

    /// Sends one message for `group` (one delivery, or a digest's) and
    /// records the same outcome for each; 1 if it was sent.
    async fn send(
        &self,
        mailer: &Mailer,
        group: &[Wanted],
        rendered: Option<Rendered>,
        calendar: Result<Option<Invitation>, SendError>,
    ) -> ApiResult<usize> {
        let first = &group[0];
        let result = match (&rendered, &calendar) {
            (_, Err(e)) => Err(e.clone()),
            (Some(r), Ok(c)) => {
                mailer
                    .send(
                        &first.d.id,
                        &self.cfg.sender,
                        &first.prefs.email_address,
                        r,
                        c.as_ref(),
                    )
                    .await
            }
            (None, _) => Err(SendError::Permanent("template")),
        };
        // One retry time for the whole group, so a digest stays one.
        let unit = jitter();
        let retry_at = |attempts: i64| {
            delay_with_jitter(attempts.max(0) as u32, unit).map(|delay| self.now() + delay)
        };
        for w in group {
            let failed = |why: &str| Outcome {
                event: Some(OutboxEvent::new(
                    SOURCE,
                    &w.n.name(),
                    &w.n.tenant,
                    &DeliveryFailed {
                        notification: w.n.name(),
                        channel: NotificationChannel::Email as i32,
                    },
                )),
                ..ended(&w.d, DELIVERY_FAILED, why)
            };
            // `attempts` already counts this one; the schedule says how long
            // to wait before the next, or that it is over.
            let outcome = match &result {
                Ok(()) => ended(&w.d, DELIVERY_SENT, ""),
                Err(SendError::Permanent(why)) => failed(why),
                Err(SendError::Transient(why)) => match retry_at(w.d.attempts) {
                    Some(at) => Outcome {
                        due_time: at,
                        ..ended(&w.d, DELIVERY_PENDING, why)
                    },
                    None => failed(why),
                },
            };
            self.finish(&w.d, outcome).await?;
        }
        Ok(usize::from(result.is_ok()))
    }

    async fn finish(&self, d: &DeliveryRecord, outcome: Outcome) -> ApiResult<()> {
        let wake = outcome.event.is_some();
        self.store
            .finish_delivery(&d.id, &outcome, self.now())
            .await?;
        if wake {
            self.outbox.wake();
        }
        Ok(())
    }
}
