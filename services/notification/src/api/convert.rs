//! Records to contract messages, and contract enums to the domain's.

use bti_proto::google::r#type::TimeOfDay;
use bti_proto::notification::notification::State as StateMsg;
use bti_proto::notification::*;
use bti_runtime::api::{etag, timestamp};
use chrono::Timelike;

use crate::domain::kinds::{Channel, Kind};
use crate::domain::*;

/// `handover.offered` ↔ `NOTIFICATION_KIND_HANDOVER_OFFERED`.
pub fn kind_enum(k: Kind) -> NotificationKind {
    let name = format!(
        "NOTIFICATION_KIND_{}",
        k.as_str().replace('.', "_").to_uppercase()
    );
    NotificationKind::from_str_name(&name).unwrap_or(NotificationKind::Unspecified)
}

pub fn kind_of(value: i32) -> Option<Kind> {
    let k = NotificationKind::try_from(value).ok()?;
    Kind::ALL.into_iter().find(|d| kind_enum(*d) == k)
}

pub fn channel_of(value: i32) -> Option<Channel> {
    match NotificationChannel::try_from(value).ok()? {
        NotificationChannel::Inbox => Some(Channel::Inbox),
        NotificationChannel::Email => Some(Channel::Email),
        NotificationChannel::Unspecified => None,
    }
}

fn channel_enum(c: Channel) -> NotificationChannel {
    match c {
        Channel::Inbox => NotificationChannel::Inbox,
        Channel::Email => NotificationChannel::Email,
    }
}

fn state_enum(s: Option<State>) -> StateMsg {
    match s {
        Some(State::Unread) => StateMsg::Unread,
        Some(State::Seen) => StateMsg::Seen,
        Some(State::Read) => StateMsg::Read,
        Some(State::Archived) => StateMsg::Archived,
        None => StateMsg::Unspecified,
    }
}

pub fn notification_msg(n: &NotificationRecord) -> Notification {
    Notification {
        name: n.name(),
        kind: n.kind().map(kind_enum).unwrap_or_default() as i32,
        resource: n.resource.clone(),
        link: n.link.clone(),
        state: state_enum(n.state()) as i32,
        resolve_time: n.resolve_time.map(timestamp),
        create_time: Some(timestamp(n.create_time)),
        update_time: Some(timestamp(n.update_time)),
        etag: etag(n.version),
    }
}

fn time_msg(s: &Option<String>) -> Option<TimeOfDay> {
    let t = parse_time(s.as_deref()?)?;
    Some(TimeOfDay {
        hours: t.hour() as i32,
        minutes: t.minute() as i32,
        seconds: 0,
        nanos: 0,
    })
}

pub fn preferences_msg(p: &PreferencesRecord) -> NotificationPreferences {
    NotificationPreferences {
        name: PreferencesName::new(&p.tenant, "me").to_string(),
        email_address: p.email_address.clone(),
        language_code: p.language_code.clone(),
        muted_kinds: p
            .muted_pairs()
            .into_iter()
            .map(|(k, c)| MutedKind {
                kind: kind_enum(k) as i32,
                channel: channel_enum(c) as i32,
            })
            .collect(),
        digest_time: time_msg(&p.digest_time),
        quiet_start_time: time_msg(&p.quiet_start),
        quiet_end_time: time_msg(&p.quiet_end),
        update_time: (p.version > 0).then(|| timestamp(p.update_time)),
        etag: etag(p.version),
    }
}

pub fn subscription_msg(s: &SubscriptionRecord, with_secret: bool) -> WebhookSubscription {
    use webhook_subscription::State as S;
    WebhookSubscription {
        name: s.name(),
        uri: s.uri.clone(),
        kinds: s
            .kind_list()
            .into_iter()
            .map(|k| kind_enum(k) as i32)
            .collect(),
        state: match s.state.as_str() {
            SUB_ACTIVE => S::Active,
            SUB_DISABLED => S::Disabled,
            _ => S::Unspecified,
        } as i32,
        signing_secret: if with_secret {
            s.secret.clone()
        } else {
            String::new()
        },
        create_time: Some(timestamp(s.create_time)),
        update_time: Some(timestamp(s.update_time)),
        etag: etag(s.version),
        units: s.unit_list(),
        client: s.client.clone(),
    }
}

pub fn webhook_delivery_msg(
    d: &WebhookDeliveryRecord,
    attempts: &[AttemptRecord],
) -> WebhookDelivery {
    use webhook_delivery::State as S;
    let state = match d.state.as_str() {
        WEBHOOK_PENDING => S::Pending,
        WEBHOOK_DELIVERED => S::Delivered,
        WEBHOOK_FAILED => S::Failed,
        _ => S::Unspecified,
    };
    WebhookDelivery {
        name: d.name(),
        kind: Kind::parse(&d.kind).map(kind_enum).unwrap_or_default() as i32,
        resource: d.resource.clone(),
        state: state as i32,
        attempt_count: d.attempts.clamp(0, i64::from(i32::MAX)) as i32,
        last_http_status: d.last_http_status.clamp(0, 999) as i32,
        next_attempt_time: (state == S::Pending).then(|| timestamp(d.due_time)),
        create_time: Some(timestamp(d.create_time)),
        attempts: attempts
            .iter()
            .map(|a| webhook_delivery::Attempt {
                http_status: a.http_status.clamp(0, 999) as i32,
                error: a.error.clone(),
                attempt_time: Some(timestamp(a.attempt_time)),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_contract_value() {
        for k in Kind::ALL {
            let e = kind_enum(k);
            assert_ne!(e, NotificationKind::Unspecified, "{k:?}");
            assert_eq!(kind_of(e as i32), Some(k));
        }
        assert_eq!(kind_of(0), None);
        assert_eq!(kind_of(999), None);
    }
}
