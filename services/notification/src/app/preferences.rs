//! The caller's notification preferences.

use bti_proto::google::r#type::TimeOfDay;
use bti_proto::notification::*;
use bti_runtime::api::{check_etag, update_paths};
use bti_runtime::auth::Principal;
use bti_runtime::{ApiError, ApiResult, Violations};
use chrono::NaiveTime;

use super::App;
use super::mail::valid_address;
use crate::api::convert::{channel_of, kind_of, preferences_msg};
use crate::domain::kinds::Kind;
use crate::domain::preferences::{PreferenceError, Preferences};
use crate::domain::*;

const UPDATABLE: [&str; 6] = [
    "email_address",
    "language_code",
    "muted_kinds",
    "digest_time",
    "quiet_start_time",
    "quiet_end_time",
];

const P: &str = "notification_preferences";

/// A whole-minute time of day, or none when unset.
fn time_of_day(field: &str, t: Option<&TimeOfDay>, v: &mut Violations) -> Option<String> {
    let t = t?;
    let time = u32::try_from(t.hours)
        .ok()
        .zip(u32::try_from(t.minutes).ok())
        .filter(|_| t.seconds == 0 && t.nanos == 0)
        .and_then(|(h, m)| NaiveTime::from_hms_opt(h, m, 0));
    match time {
        Some(time) => Some(format_time(time)),
        None => {
            v.add(
                format!("{P}.{field}"),
                "must be a whole minute from 00:00 to 23:59",
            );
            None
        }
    }
}

impl App {
    /// The caller's preferences in the tenant of `name`, which must end in `me`.
    fn preferences_of(
        &self,
        p: &Principal,
        field: &str,
        name: &str,
    ) -> ApiResult<(String, String)> {
        let n = PreferencesName::parse(field, name)?;
        if n.recipient != "me" {
            return Err(ApiError::invalid(
                field,
                "must be tenants/{tenant}/notificationPreferences/me: preferences are the caller's own",
            ));
        }
        let (recipient, _) = recipient_of(p, &n.tenant)?;
        Ok((n.tenant, recipient))
    }

    async fn stored_preferences(
        &self,
        tenant: &str,
        recipient: &str,
    ) -> ApiResult<PreferencesRecord> {
        Ok(match self.store.get_preferences(tenant, recipient).await? {
            Some(p) => p,
            None => PreferencesRecord::default_for(tenant, recipient, self.now()),
        })
    }

    pub async fn get_notification_preferences(
        &self,
        p: &Principal,
        r: GetNotificationPreferencesRequest,
    ) -> ApiResult<NotificationPreferences> {
        let (tenant, recipient) = self.preferences_of(p, "name", &r.name)?;
        Ok(preferences_msg(
            &self.stored_preferences(&tenant, &recipient).await?,
        ))
    }

    pub async fn update_notification_preferences(
        &self,
        p: &Principal,
        r: UpdateNotificationPreferencesRequest,
    ) -> ApiResult<NotificationPreferences> {
        let Some(msg) = r.notification_preferences else {
            return Err(ApiError::invalid(P, "required"));
        };
        let (tenant, recipient) = self.preferences_of(p, &format!("{P}.name"), &msg.name)?;
        let paths = update_paths("update_mask", r.update_mask.as_ref(), &UPDATABLE)?;
        let mut rec = self.stored_preferences(&tenant, &recipient).await?;
        check_etag(&msg.name, &msg.etag, rec.version)?;
        let mut v = Violations::new();
        for path in &paths {
            match path.as_str() {
                "email_address" => {
                    let a = msg.email_address.trim();
                    if !a.is_empty() && !valid_address(a) {
                        v.add(format!("{P}.email_address"), "must be an e-mail address");
                    }
                    rec.email_address = a.to_string();
                }
                "language_code" => match msg.language_code.as_str() {
                    "" => rec.language_code = "nb".into(),
                    l if LANGUAGES.contains(&l) => rec.language_code = l.into(),
                    _ => v.add(format!("{P}.language_code"), "must be nb or nn"),
                },
                "muted_kinds" => {
                    let mut rules = Preferences::default();
                    for (i, m) in msg.muted_kinds.iter().enumerate() {
                        let field = format!("{P}.muted_kinds[{i}]");
                        let (Some(kind), Some(channel)) = (kind_of(m.kind), channel_of(m.channel))
                        else {
                            v.add(field, "needs a kind and a channel");
                            continue;
                        };
                        if let Err(PreferenceError::Unmutable(k)) = rules.set(kind, channel, false)
                        {
                            v.add(field, unmutable(k));
                        }
                    }
                    let pairs: Vec<_> = rules.muted.into_iter().collect();
                    rec.set_muted(&pairs);
                }
                "digest_time" => {
                    rec.digest_time = time_of_day("digest_time", msg.digest_time.as_ref(), &mut v)
                }
                "quiet_start_time" => {
                    rec.quiet_start =
                        time_of_day("quiet_start_time", msg.quiet_start_time.as_ref(), &mut v)
                }
                "quiet_end_time" => {
                    rec.quiet_end =
                        time_of_day("quiet_end_time", msg.quiet_end_time.as_ref(), &mut v)
                }
                _ => {}
            }
        }
        match (&rec.quiet_start, &rec.quiet_end) {
            (Some(_), None) | (None, Some(_)) => v.add(
                format!("{P}.quiet_end_time"),
                "quiet hours need both a start and an end",
            ),
            (Some(a), Some(b)) if a == b => v.add(
                format!("{P}.quiet_end_time"),
                "quiet hours must not be empty",
            ),
            _ => {}
        }
        v.finish()?;
        rec.update_time = self.now();
        Ok(preferences_msg(&self.store.put_preferences(&rec).await?))
    }
}

fn unmutable(k: Kind) -> String {
    format!("{} cannot be muted: it must reach you", k.as_str())
}
