//! The webhook SQL, written once for both backends (in a module of its own
//! beside `sql.rs`'s expansion, so the two do not clash).

macro_rules! webhook_sql_store {
    ($store:ident, $db:ty, $lock:literal) => {
        mod webhook_sql {
            use async_trait::async_trait;
            use bti_runtime::db::{Claim, Idem, Plumbing, check_versioned, write_error};
            use bti_runtime::events::OutboxEvent;
            use bti_runtime::{ApiError, ApiResult};
            use chrono::{DateTime, Utc};

            use super::$store;
            use crate::domain::*;
            use crate::store::{Endpoint, WebhookOutcome, WebhookStore};

            type Tx = sqlx::Transaction<'static, $db>;

            impl $store {
                pub(super) async fn insert_webhook_delivery(
                    tx: &mut Tx,
                    d: &WebhookDeliveryRecord,
                ) -> ApiResult<()> {
                    sqlx::query(
                        "INSERT INTO webhook_deliveries (id, tenant, subscription, kind, resource, payload, state, \
                         due_time, attempts, last_http_status, last_error, create_time, update_time) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    )
                    .bind(&d.id)
                    .bind(&d.tenant)
                    .bind(&d.subscription)
                    .bind(&d.kind)
                    .bind(&d.resource)
                    .bind(&d.payload)
                    .bind(&d.state)
                    .bind(d.due_time)
                    .bind(d.attempts)
                    .bind(d.last_http_status)
                    .bind(&d.last_error)
                    .bind(d.create_time)
                    .bind(d.update_time)
                    .execute(&mut **tx)
                    .await?;
                    Ok(())
                }
            }

            #[async_trait]
            impl WebhookStore for $store {
                async fn create_subscription(
                    &self,
                    s: &SubscriptionRecord,
                    idem: &Idem,
                ) -> ApiResult<SubscriptionRecord> {
                    let name = s.name();
                    let mut tx = self.begin().await?;
                    if let Claim::Replay(existing) = tx.claim("CreateWebhookSubscription", idem, &name).await? {
                        drop(tx);
                        let n = SubscriptionName::parse("name", &existing)?;
                        return self
                            .get_subscription(&n.tenant, &n.subscription)
                            .await?
                            .ok_or(ApiError::NotFound(existing));
                    }
                    sqlx::query(
                        "INSERT INTO webhook_subscriptions (tenant, id, uri, kinds, state, secret, previous_secret, \
                         previous_until, failing_since, create_time, update_time, version, units, client) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                    )
                    .bind(&s.tenant)
                    .bind(&s.id)
                    .bind(&s.uri)
                    .bind(&s.kinds)
                    .bind(&s.state)
                    .bind(&s.secret)
                    .bind(&s.previous_secret)
                    .bind(s.previous_until)
                    .bind(s.failing_since)
                    .bind(s.create_time)
                    .bind(s.update_time)
                    .bind(s.version)
                    .bind(&s.units)
                    .bind(&s.client)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, &name))?;
                    tx.commit().await?;
                    Ok(s.clone())
                }

                async fn get_subscription(&self, tenant: &str, id: &str) -> ApiResult<Option<SubscriptionRecord>> {
                    Ok(sqlx::query_as("SELECT * FROM webhook_subscriptions WHERE tenant = $1 AND id = $2")
                        .bind(tenant)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?)
                }

                async fn list_subscriptions(
                    &self,
                    tenant: &str,
                    after: &str,
                    limit: i64,
                ) -> ApiResult<Vec<SubscriptionRecord>> {
                    Ok(sqlx::query_as(
                        "SELECT * FROM webhook_subscriptions WHERE tenant = $1 AND state <> 'DELETED' AND id > $2 \
                         ORDER BY id LIMIT $3",
                    )
                    .bind(tenant)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn live_subscriptions(&self, tenant: &str) -> ApiResult<Vec<SubscriptionRecord>> {
                    Ok(sqlx::query_as(
                        "SELECT * FROM webhook_subscriptions WHERE tenant = $1 AND state <> 'DELETED' ORDER BY id",
                    )
                    .bind(tenant)
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn enable_subscription(
                    &self,
                    s: &SubscriptionRecord,
                    now: DateTime<Utc>,
                ) -> ApiResult<SubscriptionRecord> {
                    let mut tx = self.begin().await?;
                    let rows = sqlx::query(
                        "UPDATE webhook_subscriptions SET state = 'ACTIVE', failing_since = NULL, update_time = $1, \
                         version = version + 1 WHERE tenant = $2 AND id = $3 AND version = $4",
                    )
                    .bind(now)
                    .bind(&s.tenant)
                    .bind(&s.id)
                    .bind(s.version)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    check_versioned(rows, true, &s.name())?;
                    sqlx::query(
                        "UPDATE webhook_deliveries SET state = 'PENDING', due_time = $1, attempts = 0, \
                         last_error = '', update_time = $1 \
                         WHERE tenant = $2 AND subscription = $3 AND state = 'FAILED'",
                    )
                    .bind(now)
                    .bind(&s.tenant)
                    .bind(&s.id)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(SubscriptionRecord {
                        state: SUB_ACTIVE.into(),
                        failing_since: None,
                        update_time: now,
                        version: s.version + 1,
                        ..s.clone()
                    })
                }

                async fn update_subscription(
                    &self,
                    s: &SubscriptionRecord,
                    event: Option<OutboxEvent>,
                ) -> ApiResult<SubscriptionRecord> {
                    let name = s.name();
                    let mut tx = self.begin().await?;
                    let rows = sqlx::query(
                        "UPDATE webhook_subscriptions SET uri = $1, kinds = $2, state = $3, secret = $4, \
                         previous_secret = $5, previous_until = $6, update_time = $7, version = version + 1 \
                         WHERE tenant = $8 AND id = $9 AND version = $10",
                    )
                    .bind(&s.uri)
                    .bind(&s.kinds)
                    .bind(&s.state)
                    .bind(&s.secret)
                    .bind(&s.previous_secret)
                    .bind(s.previous_until)
                    .bind(s.update_time)
                    .bind(&s.tenant)
                    .bind(&s.id)
                    .bind(s.version)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    check_versioned(rows, true, &name)?;
                    if s.state == SUB_DELETED {
                        sqlx::query(
                            "UPDATE webhook_deliveries SET state = 'FAILED', last_error = 'subscription deleted', \
                             update_time = $1 WHERE tenant = $2 AND subscription = $3 AND state = 'PENDING'",
                        )
                        .bind(s.update_time)
                        .bind(&s.tenant)
                        .bind(&s.id)
                        .execute(&mut *tx)
                        .await?;
                    }
                    if let Some(e) = &event {
                        tx.enqueue(e).await?;
                    }
                    tx.commit().await?;
                    Ok(SubscriptionRecord {
                        version: s.version + 1,
                        ..s.clone()
                    })
                }

                async fn claim_webhook_deliveries(
                    &self,
                    now: DateTime<Utc>,
                    claim_until: DateTime<Utc>,
                    limit: i64,
                ) -> ApiResult<Vec<WebhookDeliveryRecord>> {
                    let mut tx = self.begin().await?;
                    let rows: Vec<WebhookDeliveryRecord> = sqlx::query_as(concat!(
                        "UPDATE webhook_deliveries SET due_time = $1, attempts = attempts + 1, update_time = $2 \
                         WHERE id IN (SELECT id FROM webhook_deliveries WHERE state = 'PENDING' AND due_time <= $2 \
                         ORDER BY due_time LIMIT $3",
                        $lock,
                        ") RETURNING *"
                    ))
                    .bind(claim_until)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(rows)
                }

                async fn finish_webhook_delivery(
                    &self,
                    d: &WebhookDeliveryRecord,
                    o: &WebhookOutcome,
                    now: DateTime<Utc>,
                ) -> ApiResult<()> {
                    let mut tx = self.begin().await?;
                    sqlx::query(
                        "UPDATE webhook_deliveries SET state = $1, due_time = $2, last_http_status = $3, \
                         last_error = $4, update_time = $5 WHERE id = $6",
                    )
                    .bind(&o.state)
                    .bind(o.due_time)
                    .bind(o.http_status)
                    .bind(&o.last_error)
                    .bind(now)
                    .bind(&d.id)
                    .execute(&mut *tx)
                    .await?;
                    // Unchanged means no request was made: nothing to list.
                    if !matches!(o.endpoint, Endpoint::Unchanged) {
                        sqlx::query(
                            "INSERT INTO webhook_attempts (tenant, delivery, http_status, error, attempt_time) \
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(&d.tenant)
                        .bind(&d.id)
                        .bind(o.http_status)
                        .bind(&o.last_error)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    let sql = match o.endpoint {
                        Endpoint::Unchanged => None,
                        Endpoint::Succeeded => Some(
                            "UPDATE webhook_subscriptions SET failing_since = NULL, update_time = $1 \
                             WHERE tenant = $2 AND id = $3 AND failing_since IS NOT NULL",
                        ),
                        Endpoint::Failing(_) => Some(
                            "UPDATE webhook_subscriptions SET failing_since = $1, update_time = $1 \
                             WHERE tenant = $2 AND id = $3 AND failing_since IS NULL",
                        ),
                        Endpoint::Disable(_) => Some(
                            "UPDATE webhook_subscriptions SET state = 'DISABLED', update_time = $1, \
                             version = version + 1 WHERE tenant = $2 AND id = $3 AND state = 'ACTIVE'",
                        ),
                    };
                    let at = match &o.endpoint {
                        Endpoint::Failing(since) => *since,
                        _ => now,
                    };
                    let mut changed = 0;
                    if let Some(sql) = sql {
                        changed = sqlx::query(sql)
                            .bind(at)
                            .bind(&d.tenant)
                            .bind(&d.subscription)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                    }
                    if let Endpoint::Disable(event) = &o.endpoint
                        && changed == 1
                    {
                        sqlx::query(
                            "UPDATE webhook_deliveries SET state = 'FAILED', last_error = 'endpoint disabled', \
                             update_time = $1 WHERE tenant = $2 AND subscription = $3 AND state = 'PENDING'",
                        )
                        .bind(now)
                        .bind(&d.tenant)
                        .bind(&d.subscription)
                        .execute(&mut *tx)
                        .await?;
                        tx.enqueue(event).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn list_webhook_attempts(&self, tenant: &str, delivery: &str) -> ApiResult<Vec<AttemptRecord>> {
                    Ok(sqlx::query_as(
                        "SELECT * FROM webhook_attempts WHERE tenant = $1 AND delivery = $2 ORDER BY seq",
                    )
                    .bind(tenant)
                    .bind(delivery)
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn list_webhook_deliveries(
                    &self,
                    tenant: &str,
                    subscription: &str,
                    before: &str,
                    limit: i64,
                ) -> ApiResult<Vec<WebhookDeliveryRecord>> {
                    Ok(sqlx::query_as(
                        "SELECT * FROM webhook_deliveries WHERE tenant = $1 AND subscription = $2 \
                         AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4",
                    )
                    .bind(tenant)
                    .bind(subscription)
                    .bind(before)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
                }
            }
        }
    };
}

pub(crate) use webhook_sql_store;
