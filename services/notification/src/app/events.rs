//! The consumer: another service's event turned into notifications (and
//! queued e-mails) and settled ones archived, once per event id.

use bti_proto::notification::{NotificationCreated, NotificationsResolved};
use bti_proto::types::EventEnvelope;
use bti_runtime::ApiResult;
use bti_runtime::api::new_id;
use bti_runtime::events::OutboxEvent;

use super::App;
use crate::api::convert::kind_enum;
use crate::domain::access::LogRecord;
use crate::domain::causes::{Audience, Group, Intent, effects};
use crate::domain::kinds::{Channel, eligible};
use crate::domain::preferences::Decision;
use crate::domain::*;
use crate::store::{NewNotification, Settle};

impl App {
    /// Handles one event; how many notifications it created (0 for a
    /// redelivery or an event that concerns no inbox).
    pub async fn on_event(&self, e: &EventEnvelope) -> ApiResult<usize> {
        // The record of the log first: what the event itself tells is
        // judged by the log as it now stands.
        self.follow_log(e).await?;
        let fx = match effects(e) {
            Ok(fx) => fx,
            Err(err) => {
                // Redelivering bytes that do not decode cannot help.
                tracing::warn!(event = %e.id, r#type = %e.r#type, error = %err, "undecodable event skipped");
                return Ok(0);
            }
        };
        if fx.is_empty() {
            return Ok(0);
        }
        let mut intents = fx.notify;
        for g in fx.groups {
            intents.extend(self.expand(g).await?);
        }
        let mut told = std::collections::BTreeSet::new();
        let mut created = Vec::new();
        for intent in intents {
            let key = (
                intent.recipient.clone(),
                intent.kind,
                intent.resource.clone(),
            );
            if eligible(intent.role, intent.kind, intent.restricted) && told.insert(key) {
                created.push(self.new_notification(intent).await?);
            }
        }
        let settled: Vec<Settle> = fx
            .resolve
            .into_iter()
            .map(|r| Settle {
                event: OutboxEvent::new(
                    SOURCE,
                    &r.cause,
                    &r.tenant,
                    &NotificationsResolved {
                        resource: r.cause.clone(),
                    },
                ),
                kinds: r.kinds.iter().map(|k| k.as_str().to_string()).collect(),
                recipient: r.recipient,
                tenant: r.tenant,
                cause: r.cause,
            })
            .collect();
        let webhooks = self.webhook_deliveries(&created).await?;
        let n = created.len();
        if self
            .store
            .apply_event(&e.id, self.now(), &created, &settled, &webhooks)
            .await?
        {
            self.outbox.wake();
            self.created.notify_waiters();
            Ok(n)
        } else {
            Ok(0)
        }
    }

    /// Everyone a group intent is for, as the directory says now: a log's
    /// child's guardians (none for a log this service has not seen opened),
    /// a unit's present members.
    async fn expand(&self, g: Group) -> ApiResult<Vec<Intent>> {
        let recipients: Vec<String> = match &g.audience {
            Audience::GuardiansOf(case_log) => {
                match self.store.get_log(&g.intent.tenant, case_log).await? {
                    Some(log) => self
                        .directory
                        .guardians(&log.subject)
                        .await?
                        .iter()
                        .map(|p| person(p))
                        .collect(),
                    None => Vec::new(),
                }
            }
            Audience::MembersOf(unit) => self
                .directory
                .members(unit)
                .await?
                .into_iter()
                .filter(|m| !m.absent)
                .map(|m| professional(&m.subject))
                .collect(),
        };
        Ok(recipients
            .into_iter()
            .map(|recipient| Intent {
                recipient,
                ..g.intent.clone()
            })
            .collect())
    }

    /// One webhook delivery per subscription that wants it, for each kind
    /// and resource among `created` (a meeting with five invitees is one).
    async fn webhook_deliveries(
        &self,
        created: &[NewNotification],
    ) -> ApiResult<Vec<WebhookDeliveryRecord>> {
        let now = self.now();
        let mut seen = std::collections::BTreeSet::new();
        let mut subs: std::collections::BTreeMap<String, Vec<SubscriptionRecord>> =
            Default::default();
        let mut out = Vec::new();
        let mut logs = std::collections::BTreeMap::new();
        for c in created {
            let n = &c.notification;
            let Some(kind) = n.kind() else { continue };
            if !seen.insert((n.tenant.clone(), n.kind.clone(), n.resource.clone())) {
                continue;
            }
            if !subs.contains_key(&n.tenant) {
                let live = self.store.live_subscriptions(&n.tenant).await?;
                subs.insert(n.tenant.clone(), live);
            }
            let units = self.units_of(n, &mut logs).await?;
            for s in subs[&n.tenant].iter().filter(|s| s.wants(kind, &units)) {
                // A disabled endpoint's share is on record, to be replayed.
                let (state, last_error) = if s.state == SUB_ACTIVE {
                    (WEBHOOK_PENDING, "")
                } else {
                    (WEBHOOK_FAILED, "endpoint disabled")
                };
                out.push(WebhookDeliveryRecord {
                    id: new_id(),
                    tenant: n.tenant.clone(),
                    subscription: s.id.clone(),
                    kind: n.kind.clone(),
                    resource: n.resource.clone(),
                    payload: payload(kind, &n.tenant, &n.resource, now),
                    state: state.into(),
                    due_time: now,
                    attempts: 0,
                    last_http_status: 0,
                    last_error: last_error.into(),
                    create_time: now,
                    update_time: now,
                });
            }
        }
        Ok(out)
    }

    /// The units a notification is about, for webhook filters: the unit an
    /// offer, transfer or referral is to, and the owning and holding units
    /// of the log it concerns (as this service knows the log now).
    async fn units_of(
        &self,
        n: &NotificationRecord,
        logs: &mut std::collections::BTreeMap<String, Option<LogRecord>>,
    ) -> ApiResult<Vec<String>> {
        let mut units = Vec::new();
        if !n.via_unit.is_empty() {
            units.push(n.via_unit.clone());
        }
        if !n.case_log.is_empty() {
            if !logs.contains_key(&n.case_log) {
                let log = self.store.get_log(&n.tenant, &n.case_log).await?;
                logs.insert(n.case_log.clone(), log);
            }
            if let Some(log) = &logs[&n.case_log] {
                units.extend([log.unit.clone(), log.holder_unit.clone()]);
            }
        }
        Ok(units)
    }

    /// The notification for `i`, in the inbox unless muted there, with an
    /// e-mail queued for when the recipient's preferences allow one.
    async fn new_notification(&self, i: Intent) -> ApiResult<NewNotification> {
        let now = self.now();
        let prefs = self.store.get_preferences(&i.tenant, &i.recipient).await?;
        let rules = prefs.as_ref().map(|p| p.rules()).unwrap_or_default();
        let state = match rules.decide(i.kind, Channel::Inbox, now) {
            // Muted in the inbox: still on record, filed straight away.
            Decision::Muted => State::Archived,
            _ => State::Unread,
        };
        let n = NotificationRecord {
            tenant: i.tenant.clone(),
            id: new_id(),
            recipient: i.recipient.clone(),
            kind: i.kind.as_str().into(),
            link: self.link(&i.resource),
            resource: i.resource,
            cause: i.cause,
            state: state.as_str().into(),
            resolve_time: None,
            create_time: now,
            update_time: now,
            version: 1,
            case_log: i.case_log,
            via_unit: i.via_unit,
        };
        let has_address = prefs.as_ref().is_some_and(|p| !p.email_address.is_empty());
        let email = channel_str(Channel::Email);
        let due = match rules.decide(i.kind, Channel::Email, now) {
            _ if !self.sends_email() || !has_address => None,
            Decision::Muted => None,
            Decision::Now => Some((now, email)),
            Decision::At(t) => Some((t, email)),
            // Gathered with the others due then into one message.
            Decision::Digest(t) => Some((t, EMAIL_DIGEST)),
        };
        let deliveries = due
            .map(|(due_time, channel)| DeliveryRecord {
                id: new_id(),
                tenant: n.tenant.clone(),
                notification: n.id.clone(),
                recipient: n.recipient.clone(),
                channel: channel.into(),
                state: DELIVERY_PENDING.into(),
                due_time,
                attempts: 0,
                last_error: String::new(),
                create_time: now,
                update_time: now,
            })
            .into_iter()
            .collect();
        let event = OutboxEvent::new(
            SOURCE,
            &n.name(),
            &n.tenant,
            &NotificationCreated {
                notification: n.name(),
                kind: kind_enum(i.kind) as i32,
                resource: n.resource.clone(),
            },
        );
        Ok(NewNotification {
            notification: n,
            deliveries,
            event,
        })
    }
}
