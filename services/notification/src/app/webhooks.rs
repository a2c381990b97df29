//! Webhook subscriptions, managed by the municipality's administrators (and
//! operators): create, get, list, delete, rotate the secret, list deliveries.

use bti_proto::notification::*;
use bti_runtime::api::{PageToken, check_etag, new_id, page_size, paginate};
use bti_runtime::auth::{Principal, Role, SCOPE_ADMIN};
use bti_runtime::db::Idem;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::App;
use crate::api::convert::{kind_of, subscription_msg, webhook_delivery_msg};
use crate::domain::signing::generate_secret;
use crate::domain::url_policy::{self, Policy};
use crate::domain::*;

/// Administrators of `tenant` and operators.
pub(super) fn admin(p: &Principal, tenant: &str) -> ApiResult<()> {
    let ok = match p {
        Principal::Employee {
            tenant: t, roles, ..
        } => t == tenant && roles.contains(&Role::MunicipalAdmin),
        Principal::Service { .. } => p.has_scope(SCOPE_ADMIN),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::PermissionDenied(
            "webhooks are managed by the municipality's administrators".into(),
        ))
    }
}

impl App {
    pub(super) fn url_policy(&self) -> Policy {
        Policy {
            allow_http: self.cfg.webhooks.allow_http,
            allow_private: self.cfg.webhooks.allow_private,
        }
    }

    /// A subscription `p` may manage; deleted ones are NOT_FOUND.
    async fn managed(
        &self,
        p: &Principal,
        field: &str,
        name: &str,
    ) -> ApiResult<SubscriptionRecord> {
        let n = SubscriptionName::parse(field, name)?;
        admin(p, &n.tenant)?;
        match self
            .store
            .get_subscription(&n.tenant, &n.subscription)
            .await?
        {
            Some(s) if s.state != SUB_DELETED => Ok(s),
            _ => Err(ApiError::NotFound(name.to_string())),
        }
    }

    pub async fn create_webhook_subscription(
        &self,
        p: &Principal,
        r: CreateWebhookSubscriptionRequest,
    ) -> ApiResult<WebhookSubscription> {
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        admin(p, &tenant)?;
        let idem = Idem::of(&r.request_id, &r)?;
        let Some(msg) = &r.webhook_subscription else {
            return Err(ApiError::invalid("webhook_subscription", "required"));
        };
        let mut v = Violations::new();
        if let Err(refusal) = url_policy::check(&msg.uri, self.url_policy()) {
            v.add("webhook_subscription.uri", refusal.reason());
        }
        let mut kinds = Vec::new();
        for (i, k) in msg.kinds.iter().enumerate() {
            match kind_of(*k) {
                Some(k) => kinds.push(k),
                None => v.add(format!("webhook_subscription.kinds[{i}]"), "must be a kind"),
            }
        }
        let prefix = format!("tenants/{tenant}/units/");
        for (i, u) in msg.units.iter().enumerate() {
            let id = u.strip_prefix(&prefix).unwrap_or_default();
            if id.is_empty() || id.contains('/') || u.len() > 200 {
                v.add(
                    format!("webhook_subscription.units[{i}]"),
                    "must be a unit of this municipality (tenants/{tenant}/units/{unit})",
                );
            }
        }
        let client = msg.client.strip_prefix("clients/").unwrap_or_default();
        if !msg.client.is_empty()
            && (client.is_empty() || client.contains('/') || client.len() > 200)
        {
            v.add(
                "webhook_subscription.client",
                "must be a gateway client (clients/{client})",
            );
        }
        v.finish()?;
        let now = self.now();
        let mut s = SubscriptionRecord {
            tenant,
            id: new_id(),
            uri: msg.uri.clone(),
            kinds: "[]".into(),
            state: SUB_ACTIVE.into(),
            secret: generate_secret(),
            previous_secret: None,
            previous_until: None,
            failing_since: None,
            create_time: now,
            update_time: now,
            version: 1,
            units: "[]".into(),
            client: msg.client.clone(),
        };
        s.set_kinds(&kinds);
        s.set_units(&msg.units);
        let s = self.store.create_subscription(&s, &idem).await?;
        Ok(subscription_msg(&s, true))
    }

    pub async fn get_webhook_subscription(
        &self,
        p: &Principal,
        r: GetWebhookSubscriptionRequest,
    ) -> ApiResult<WebhookSubscription> {
        Ok(subscription_msg(
            &self.managed(p, "name", &r.name).await?,
            false,
        ))
    }

    pub async fn list_webhook_subscriptions(
        &self,
        p: &Principal,
        r: ListWebhookSubscriptionsRequest,
    ) -> ApiResult<ListWebhookSubscriptionsResponse> {
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        admin(p, &tenant)?;
        let limit = page_size("page_size", r.page_size)?;
        let query = [r.parent.as_str()];
        let after = PageToken::decode("page_token", &r.page_token, &query)?
            .map(|t| t.after)
            .unwrap_or_default();
        let rows = self
            .store
            .list_subscriptions(&tenant, &after, limit + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, limit, |s| s.id.clone(), &query);
        Ok(ListWebhookSubscriptionsResponse {
            webhook_subscriptions: rows.iter().map(|s| subscription_msg(s, false)).collect(),
            next_page_token,
        })
    }

    pub async fn delete_webhook_subscription(
        &self,
        p: &Principal,
        r: DeleteWebhookSubscriptionRequest,
    ) -> ApiResult<()> {
        let s = self.managed(p, "name", &r.name).await?;
        let deleted = SubscriptionRecord {
            state: SUB_DELETED.into(),
            update_time: self.now(),
            ..s
        };
        self.store.update_subscription(&deleted, None).await?;
        Ok(())
    }

    pub async fn rotate_webhook_subscription_secret(
        &self,
        p: &Principal,
        r: RotateWebhookSubscriptionSecretRequest,
    ) -> ApiResult<WebhookSubscription> {
        let s = self.managed(p, "name", &r.name).await?;
        check_etag(&r.name, &r.etag, s.version)?;
        let now = self.now();
        let rotated = s.secrets().rotate(generate_secret(), now);
        let (previous_secret, previous_until) = rotated.previous.unzip();
        let s = SubscriptionRecord {
            secret: rotated.current,
            previous_secret,
            previous_until,
            update_time: now,
            ..s
        };
        Ok(subscription_msg(
            &self.store.update_subscription(&s, None).await?,
            true,
        ))
    }

    pub async fn enable_webhook_subscription(
        &self,
        p: &Principal,
        r: EnableWebhookSubscriptionRequest,
    ) -> ApiResult<WebhookSubscription> {
        let s = self.managed(p, "name", &r.name).await?;
        check_etag(&r.name, &r.etag, s.version)?;
        let s = self.store.enable_subscription(&s, self.now()).await?;
        Ok(subscription_msg(&s, false))
    }

    pub async fn list_webhook_deliveries(
        &self,
        p: &Principal,
        r: ListWebhookDeliveriesRequest,
    ) -> ApiResult<ListWebhookDeliveriesResponse> {
        let s = self.managed(p, "parent", &r.parent).await?;
        let limit = page_size("page_size", r.page_size)?;
        let query = [r.parent.as_str()];
        let before = PageToken::decode("page_token", &r.page_token, &query)?
            .map(|t| t.after)
            .unwrap_or_default();
        let rows = self
            .store
            .list_webhook_deliveries(&s.tenant, &s.id, &before, limit + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, limit, |d| d.id.clone(), &query);
        let mut webhook_deliveries = Vec::with_capacity(rows.len());
        for d in &rows {
            let attempts = self.store.list_webhook_attempts(&d.tenant, &d.id).await?;
            webhook_deliveries.push(webhook_delivery_msg(d, &attempts));
        }
        Ok(ListWebhookDeliveriesResponse {
            webhook_deliveries,
            next_page_token,
        })
    }
}
