//! Webhook subscriptions and deliveries as stored, and the thin payload.

use chrono::{DateTime, Utc};

use super::kinds::Kind;
use super::signing::Secrets;

bti_runtime::resource_name!(
    /// A webhook subscription.
    pub struct SubscriptionName = "tenants/{tenant}/webhookSubscriptions/{subscription}" { tenant, subscription }
);
bti_runtime::resource_name!(
    /// One delivery to a subscription.
    pub struct WebhookDeliveryName =
        "tenants/{tenant}/webhookSubscriptions/{subscription}/deliveries/{delivery}" { tenant, subscription, delivery }
);

pub const SUB_ACTIVE: &str = "ACTIVE";
pub const SUB_DISABLED: &str = "DISABLED";
pub const SUB_DELETED: &str = "DELETED";

pub const WEBHOOK_PENDING: &str = "PENDING";
pub const WEBHOOK_DELIVERED: &str = "DELIVERED";
pub const WEBHOOK_FAILED: &str = "FAILED";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SubscriptionRecord {
    pub tenant: String,
    pub id: String,
    pub uri: String,
    /// JSON array of `Kind::as_str`; empty for all.
    pub kinds: String,
    pub state: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_until: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub version: i64,
    /// JSON array of unit names; empty for all.
    pub units: String,
    /// The gateway client whose system it is (`clients/{client}`), or empty.
    pub client: String,
}

impl SubscriptionRecord {
    pub fn name(&self) -> String {
        SubscriptionName::new(&self.tenant, &self.id).to_string()
    }

    pub fn kind_list(&self) -> Vec<Kind> {
        let raw: Vec<String> = serde_json::from_str(&self.kinds).unwrap_or_default();
        raw.iter().filter_map(|k| Kind::parse(k)).collect()
    }

    pub fn set_kinds(&mut self, kinds: &[Kind]) {
        let mut raw: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        raw.sort();
        raw.dedup();
        self.kinds = serde_json::to_string(&raw).expect("strings serialize");
    }

    pub fn unit_list(&self) -> Vec<String> {
        serde_json::from_str(&self.units).unwrap_or_default()
    }

    pub fn set_units(&mut self, units: &[String]) {
        let mut raw = units.to_vec();
        raw.sort();
        raw.dedup();
        self.units = serde_json::to_string(&raw).expect("strings serialize");
    }

    /// Whether it wants a notification of `kind` about `units` (a disabled
    /// one too: what it misses is recorded for a replay).
    pub fn wants(&self, kind: Kind, units: &[String]) -> bool {
        let kinds = self.kind_list();
        let filter = self.unit_list();
        self.state != SUB_DELETED
            && (kinds.is_empty() || kinds.contains(&kind))
            && (filter.is_empty() || units.iter().any(|u| filter.contains(u)))
    }

    pub fn secrets(&self) -> Secrets {
        Secrets {
            current: self.secret.clone(),
            previous: self.previous_secret.clone().zip(self.previous_until),
        }
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WebhookDeliveryRecord {
    pub id: String,
    pub tenant: String,
    pub subscription: String,
    pub kind: String,
    pub resource: String,
    pub payload: String,
    pub state: String,
    pub due_time: DateTime<Utc>,
    pub attempts: i64,
    pub last_http_status: i64,
    pub last_error: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl WebhookDeliveryRecord {
    pub fn name(&self) -> String {
        WebhookDeliveryName::new(&self.tenant, &self.subscription, &self.id).to_string()
    }

    /// The `webhook-id` header: the same on every attempt, so the receiver
    /// can drop duplicates.
    pub fn webhook_id(&self) -> String {
        format!("msg_{}", self.id)
    }
}

/// One attempt of a webhook delivery.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AttemptRecord {
    pub seq: i64,
    pub tenant: String,
    pub delivery: String,
    pub http_status: i64,
    pub error: String,
    pub attempt_time: DateTime<Utc>,
}

/// The body: the event type, when, and which resource; nothing else.
pub fn payload(kind: Kind, tenant: &str, resource: &str, at: DateTime<Utc>) -> String {
    serde_json::json!({
        "type": kind.as_str(),
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "data": { "tenant": tenant, "resource": resource },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub() -> SubscriptionRecord {
        let t = Utc::now();
        SubscriptionRecord {
            tenant: "4201".into(),
            id: "s".into(),
            uri: "https://x.example/h".into(),
            kinds: "[]".into(),
            state: SUB_ACTIVE.into(),
            secret: "whsec_x".into(),
            previous_secret: None,
            previous_until: None,
            failing_since: None,
            create_time: t,
            update_time: t,
            version: 1,
            units: "[]".into(),
            client: String::new(),
        }
    }

    #[test]
    fn kinds_filter_and_state() {
        let mut s = sub();
        assert!(s.wants(Kind::EntryAdded, &[]));
        s.set_kinds(&[Kind::HandoverOffered, Kind::HandoverOffered]);
        assert_eq!(s.kinds, r#"["handover.offered"]"#);
        assert!(s.wants(Kind::HandoverOffered, &[]) && !s.wants(Kind::EntryAdded, &[]));
        s.state = SUB_DELETED.into();
        assert!(!s.wants(Kind::HandoverOffered, &[]));
    }

    #[test]
    fn units_filter() {
        let mut s = sub();
        let school = "tenants/4201/units/school".to_string();
        let nurse = "tenants/4201/units/nurse".to_string();
        assert!(s.wants(Kind::EntryAdded, std::slice::from_ref(&school)));
        s.set_units(&[school.clone(), school.clone()]);
        assert_eq!(s.unit_list(), std::slice::from_ref(&school));
        assert!(s.wants(Kind::EntryAdded, &[nurse.clone(), school]));
        assert!(!s.wants(Kind::EntryAdded, &[nurse]));
        assert!(
            !s.wants(Kind::EntryAdded, &[]),
            "about no unit: not for a unit's system"
        );
    }

    #[test]
    fn payload_is_thin() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let p = payload(
            Kind::HandoverOffered,
            "4201",
            "tenants/4201/caseLogs/l/handovers/h",
            at,
        );
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v["type"], "handover.offered");
        assert_eq!(v["timestamp"], "2027-01-15T08:00:00Z");
        assert_eq!(v["data"].as_object().unwrap().len(), 2);
    }
}
