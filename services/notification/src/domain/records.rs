//! The stored records, resource names, inbox states and recipients.

use bti_runtime::auth::Principal;
use bti_runtime::{ApiError, ApiResult};
use chrono::{DateTime, NaiveTime, Utc};

use super::kinds::{Channel, Kind, Role};
use super::preferences::Preferences;

/// The `source` of every event this service publishes.
pub const SOURCE: &str = "//bti.no/notification";

bti_runtime::resource_name!(
    /// A municipality.
    pub struct TenantName = "tenants/{tenant}" { tenant }
);
bti_runtime::resource_name!(
    /// A notification; ids are unique, the recipient is a column.
    pub struct NotificationName = "tenants/{tenant}/notifications/{notification}" { tenant, notification }
);
bti_runtime::resource_name!(
    /// The caller's preferences (`recipient` is always `me`).
    pub struct PreferencesName = "tenants/{tenant}/notificationPreferences/{recipient}" { tenant, recipient }
);

/// Where a notification is in its recipient's inbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Unread,
    Seen,
    Read,
    Archived,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unread => "UNREAD",
            State::Seen => "SEEN",
            State::Read => "READ",
            State::Archived => "ARCHIVED",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        [State::Unread, State::Seen, State::Read, State::Archived]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Who a notification is for, as stored: a professional by identity-provider
/// subject, or a person (guardian, youth) by directory resource name. The
/// prefix keeps the two apart whatever a subject looks like.
pub fn professional(subject: &str) -> String {
    format!("subject:{subject}")
}

pub fn person(name: &str) -> String {
    format!("person:{name}")
}

/// The caller's recipient key and role, in `tenant`. Only people have an
/// inbox; systems and services do not.
pub fn recipient_of(p: &Principal, tenant: &str) -> ApiResult<(String, Role)> {
    let denied = || ApiError::PermissionDenied("only people have an inbox".into());
    match p {
        Principal::Employee {
            subject, tenant: t, ..
        } if t == tenant => Ok((professional(subject), Role::Professional)),
        Principal::Guardian {
            person: n,
            tenant: t,
            ..
        }
        | Principal::Youth {
            person: n,
            tenant: t,
            ..
        } if t == tenant => Ok((person(n), Role::Guardian)),
        Principal::Employee { .. } | Principal::Guardian { .. } | Principal::Youth { .. } => Err(
            ApiError::PermissionDenied("the inbox is in the caller's own municipality".into()),
        ),
        _ => Err(denied()),
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NotificationRecord {
    pub tenant: String,
    pub id: String,
    pub recipient: String,
    /// `Kind::as_str`.
    pub kind: String,
    /// The resource that awaits the recipient.
    pub resource: String,
    pub link: String,
    /// What settles it (an offer, a meeting, a deadline); may equal `resource`.
    pub cause: String,
    /// `State::as_str`.
    pub state: String,
    pub resolve_time: Option<DateTime<Utc>>,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub version: i64,
    /// The relay log it concerns; empty when none (a unit's own meeting).
    pub case_log: String,
    /// The unit an offer or transfer was made to the recipient for.
    pub via_unit: String,
}

impl NotificationRecord {
    pub fn name(&self) -> String {
        NotificationName::new(&self.tenant, &self.id).to_string()
    }

    pub fn kind(&self) -> Option<Kind> {
        Kind::parse(&self.kind)
    }

    pub fn state(&self) -> Option<State> {
        State::parse(&self.state)
    }
}

/// A queued message on a channel other than the inbox.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub id: String,
    pub tenant: String,
    pub notification: String,
    pub recipient: String,
    /// `email`.
    pub channel: String,
    /// PENDING, SENT, FAILED or CANCELLED.
    pub state: String,
    /// When it is next due; while claimed, when the claim lapses.
    pub due_time: DateTime<Utc>,
    /// Attempts made (a claim counts as one).
    pub attempts: i64,
    /// A short reason for the last failure or cancellation; no content.
    pub last_error: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

pub const DELIVERY_PENDING: &str = "PENDING";
pub const DELIVERY_SENT: &str = "SENT";
pub const DELIVERY_FAILED: &str = "FAILED";
pub const DELIVERY_CANCELLED: &str = "CANCELLED";

/// The channel of e-mails gathered into the recipient's daily digest.
pub const EMAIL_DIGEST: &str = "email-digest";

pub fn channel_str(c: Channel) -> &'static str {
    match c {
        Channel::Inbox => "inbox",
        Channel::Email => "email",
    }
}

pub fn parse_channel(s: &str) -> Option<Channel> {
    match s {
        "inbox" => Some(Channel::Inbox),
        "email" => Some(Channel::Email),
        _ => None,
    }
}

/// Languages e-mails are written in.
pub const LANGUAGES: [&str; 2] = ["nb", "nn"];

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PreferencesRecord {
    pub tenant: String,
    pub recipient: String,
    pub email_address: String,
    /// `nb` or `nn`.
    pub language_code: String,
    /// JSON array of `"<kind>/<channel>"`.
    pub muted: String,
    /// `HH:MM`, Europe/Oslo.
    pub digest_time: Option<String>,
    pub quiet_start: Option<String>,
    pub quiet_end: Option<String>,
    /// 0 when never stored.
    pub version: i64,
    pub update_time: DateTime<Utc>,
}

impl PreferencesRecord {
    /// What a person has before changing anything.
    pub fn default_for(tenant: &str, recipient: &str, now: DateTime<Utc>) -> Self {
        PreferencesRecord {
            tenant: tenant.into(),
            recipient: recipient.into(),
            email_address: String::new(),
            language_code: "nb".into(),
            muted: "[]".into(),
            digest_time: None,
            quiet_start: None,
            quiet_end: None,
            version: 0,
            update_time: now,
        }
    }

    pub fn muted_pairs(&self) -> Vec<(Kind, Channel)> {
        let raw: Vec<String> = serde_json::from_str(&self.muted).unwrap_or_default();
        raw.iter()
            .filter_map(|s| {
                let (k, c) = s.split_once('/')?;
                Some((Kind::parse(k)?, parse_channel(c)?))
            })
            .collect()
    }

    pub fn set_muted(&mut self, pairs: &[(Kind, Channel)]) {
        let mut raw: Vec<String> = pairs
            .iter()
            .map(|(k, c)| format!("{}/{}", k.as_str(), channel_str(*c)))
            .collect();
        raw.sort();
        raw.dedup();
        self.muted = serde_json::to_string(&raw).expect("strings serialize");
    }

    /// The rules' view of these preferences.
    pub fn rules(&self) -> Preferences {
        let time = |s: &Option<String>| s.as_deref().and_then(parse_time);
        Preferences {
            muted: self.muted_pairs().into_iter().collect(),
            digest_at: time(&self.digest_time),
            quiet: time(&self.quiet_start).zip(time(&self.quiet_end)),
        }
    }
}

bti_runtime::resource_name!(
    /// A municipality's template, by kind and language (`handover-offered-nn`).
    pub struct TemplateName = "tenants/{tenant}/notificationTemplates/{template}" { tenant, template }
);

/// A municipality's own template.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TemplateRecord {
    pub tenant: String,
    /// `<kind>/<language>`.
    pub id: String,
    pub subject: String,
    pub body: String,
    /// 0 while the built-in one applies.
    pub version: i64,
    pub update_time: DateTime<Utc>,
}

pub fn format_time(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

pub fn parse_time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn muted_pairs_round_trip_and_feed_the_rules() {
        let now = Utc::now();
        let mut p = PreferencesRecord::default_for("4201", &professional("e1"), now);
        p.set_muted(&[
            (Kind::EntryAdded, Channel::Email),
            (Kind::EntryAdded, Channel::Email),
        ]);
        assert_eq!(p.muted, r#"["entry.added/email"]"#);
        assert_eq!(p.muted_pairs(), [(Kind::EntryAdded, Channel::Email)]);
        p.quiet_start = Some("22:00".into());
        p.quiet_end = Some("07:00".into());
        let rules = p.rules();
        assert!(!rules.enabled(Kind::EntryAdded, Channel::Email));
        assert!(rules.quiet.is_some());
    }

    #[test]
    fn recipients_by_principal() {
        let e = Principal::Employee {
            subject: "e1".into(),
            tenant: "4201".into(),
            units: vec![],
            roles: vec![],
        };
        assert_eq!(
            recipient_of(&e, "4201").unwrap(),
            ("subject:e1".into(), Role::Professional)
        );
        assert!(recipient_of(&e, "0301").is_err());
        let g = Principal::Guardian {
            subject: "g".into(),
            tenant: "4201".into(),
            person: "tenants/4201/persons/p".into(),
        };
        assert_eq!(recipient_of(&g, "4201").unwrap().1, Role::Guardian);
        let s = Principal::Service {
            name: "x".into(),
            scopes: vec![],
        };
        assert!(recipient_of(&s, "4201").is_err());
    }

    #[test]
    fn states_round_trip() {
        for s in [State::Unread, State::Seen, State::Read, State::Archived] {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
    }
}
