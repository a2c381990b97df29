//! The notification service's SQL, written once for both backends; `$lock`
//! is what the delivery claim appends to its row selection.

macro_rules! notification_sql_store {
    ($store:ident, $db:ty, $lock:literal) => {
        use async_trait::async_trait;
        use bti_runtime::ApiResult;
        use bti_runtime::db::{Plumbing, check_versioned};
        use chrono::{DateTime, Utc};

        use super::{NewNotification, NotificationStore, Outcome, Settle};
        use crate::domain::*;

        type Tx = sqlx::Transaction<'static, $db>;

        impl $store {
            async fn insert_notification(tx: &mut Tx, n: &NotificationRecord) -> ApiResult<()> {
                sqlx::query(
                    "INSERT INTO notifications (tenant, id, recipient, kind, resource, link, cause, state, \
                     resolve_time, create_time, update_time, version, case_log, via_unit) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(&n.tenant)
                .bind(&n.id)
                .bind(&n.recipient)
                .bind(&n.kind)
                .bind(&n.resource)
                .bind(&n.link)
                .bind(&n.cause)
                .bind(&n.state)
                .bind(n.resolve_time)
                .bind(n.create_time)
                .bind(n.update_time)
                .bind(n.version)
                .bind(&n.case_log)
                .bind(&n.via_unit)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            async fn insert_delivery(tx: &mut Tx, d: &DeliveryRecord) -> ApiResult<()> {
                sqlx::query(
                    "INSERT INTO deliveries (id, tenant, notification, recipient, channel, state, due_time, \
                     attempts, last_error, create_time, update_time) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&d.id)
                .bind(&d.tenant)
                .bind(&d.notification)
                .bind(&d.recipient)
                .bind(&d.channel)
                .bind(&d.state)
                .bind(d.due_time)
                .bind(d.attempts)
                .bind(&d.last_error)
                .bind(d.create_time)
                .bind(d.update_time)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Archives what `s` settles and cancels its pending deliveries;
            /// how many notifications it archived.
            async fn settle(tx: &mut Tx, s: &Settle, now: DateTime<Utc>) -> ApiResult<u64> {
                if s.kinds.is_empty() {
                    return Self::settle_under(tx, s, now).await;
                }
                let mut archived = 0;
                for kind in &s.kinds {
                    sqlx::query(
                        "UPDATE deliveries SET state = 'CANCELLED', last_error = 'settled', update_time = $1 \
                         WHERE state = 'PENDING' AND tenant = $2 AND notification IN \
                         (SELECT id FROM notifications WHERE tenant = $2 AND cause = $3 AND kind = $4 \
                          AND resolve_time IS NULL)",
                    )
                    .bind(now)
                    .bind(&s.tenant)
                    .bind(&s.cause)
                    .bind(kind)
                    .execute(&mut **tx)
                    .await?;
                    archived += sqlx::query(
                        "UPDATE notifications SET state = 'ARCHIVED', resolve_time = $1, update_time = $1, \
                         version = version + 1 \
                         WHERE tenant = $2 AND cause = $3 AND kind = $4 AND resolve_time IS NULL",
                    )
                    .bind(now)
                    .bind(&s.tenant)
                    .bind(&s.cause)
                    .bind(kind)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                }
                Ok(archived)
            }

            /// Everything (of one recipient, or everyone's) at or under `s.cause`.
            async fn settle_under(tx: &mut Tx, s: &Settle, now: DateTime<Utc>) -> ApiResult<u64> {
                let recipient = s.recipient.as_deref().unwrap_or("");
                let prefix = format!("{}/", s.cause);
                let len = i32::try_from(prefix.len()).unwrap_or(i32::MAX);
                const MATCH: &str = "tenant = $2 AND resolve_time IS NULL AND ($3 = '' OR recipient = $3) \
                     AND (resource = $4 OR substr(resource, 1, $5) = $6)";
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE deliveries SET state = 'CANCELLED', last_error = 'settled', update_time = $1 \
                     WHERE state = 'PENDING' AND tenant = $2 AND notification IN \
                     (SELECT id FROM notifications WHERE {MATCH})"
                )))
                .bind(now)
                .bind(&s.tenant)
                .bind(recipient)
                .bind(&s.cause)
                .bind(len)
                .bind(&prefix)
                .execute(&mut **tx)
                .await?;
                Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE notifications SET state = 'ARCHIVED', resolve_time = $1, update_time = $1, \
                     version = version + 1 WHERE {MATCH}"
                )))
                .bind(now)
                .bind(&s.tenant)
                .bind(recipient)
                .bind(&s.cause)
                .bind(len)
                .bind(&prefix)
                .execute(&mut **tx)
                .await?
                .rows_affected())
            }
        }

        #[async_trait]
        impl NotificationStore for $store {
            async fn apply_event(
                &self,
                event_id: &str,
                now: DateTime<Utc>,
                created: &[NewNotification],
                settled: &[Settle],
                webhooks: &[WebhookDeliveryRecord],
            ) -> ApiResult<bool> {
                let mut tx = self.begin().await?;
                // The event's own id is the idempotency key: a second delivery
                // finds it and does nothing.
                let first = sqlx::query(
                    "INSERT INTO processed_events (event_id, processed_time) VALUES ($1, $2) \
                     ON CONFLICT (event_id) DO NOTHING",
                )
                .bind(event_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !first {
                    return Ok(false);
                }
                // Settle first: an event that both settles and notifies (a
                // meeting cancelled) keeps its new notification.
                for s in settled {
                    if Self::settle(&mut tx, s, now).await? > 0 {
                        tx.enqueue(&s.event).await?;
                    }
                }
                for c in created {
                    Self::insert_notification(&mut tx, &c.notification).await?;
                    for d in &c.deliveries {
                        Self::insert_delivery(&mut tx, d).await?;
                    }
                    tx.enqueue(&c.event).await?;
                }
                for w in webhooks {
                    Self::insert_webhook_delivery(&mut tx, w).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn get_notification(&self, tenant: &str, id: &str) -> ApiResult<Option<NotificationRecord>> {
                Ok(sqlx::query_as("SELECT * FROM notifications WHERE tenant = $1 AND id = $2")
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_notifications(
                &self,
                tenant: &str,
                recipient: &str,
                states: &[State],
                before: &str,
                limit: i64,
            ) -> ApiResult<Vec<NotificationRecord>> {
                let has = |s: State| states.contains(&s);
                Ok(sqlx::query_as(
                    "SELECT * FROM notifications WHERE tenant = $1 AND recipient = $2 \
                     AND ((state = 'UNREAD' AND $3) OR (state = 'SEEN' AND $4) OR (state = 'READ' AND $5) \
                          OR (state = 'ARCHIVED' AND $6)) \
                     AND ($7 = '' OR id < $7) ORDER BY id DESC LIMIT $8",
                )
                .bind(tenant)
                .bind(recipient)
                .bind(has(State::Unread))
                .bind(has(State::Seen))
                .bind(has(State::Read))
                .bind(has(State::Archived))
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn list_new_notifications(
                &self,
                tenant: &str,
                recipient: &str,
                after: &str,
                limit: i64,
            ) -> ApiResult<Vec<NotificationRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM notifications WHERE tenant = $1 AND recipient = $2 AND state <> 'ARCHIVED' \
                     AND id > $3 ORDER BY id LIMIT $4",
                )
                .bind(tenant)
                .bind(recipient)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn count_unread(&self, tenant: &str, recipient: &str) -> ApiResult<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM notifications WHERE tenant = $1 AND recipient = $2 \
                     AND state IN ('UNREAD', 'SEEN')",
                )
                .bind(tenant)
                .bind(recipient)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn update_notification(&self, n: &NotificationRecord) -> ApiResult<NotificationRecord> {
                let name = n.name();
                let mut tx = self.begin().await?;
                let rows = sqlx::query(
                    "UPDATE notifications SET state = $1, update_time = $2, version = version + 1 \
                     WHERE tenant = $3 AND id = $4 AND version = $5",
                )
                .bind(&n.state)
                .bind(n.update_time)
                .bind(&n.tenant)
                .bind(&n.id)
                .bind(n.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let exists = rows == 0
                    && sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM notifications WHERE tenant = $1 AND id = $2")
                        .bind(&n.tenant)
                        .bind(&n.id)
                        .fetch_one(&mut *tx)
                        .await?
                        > 0;
                check_versioned(rows, exists, &name)?;
                tx.commit().await?;
                Ok(NotificationRecord {
                    version: n.version + 1,
                    ..n.clone()
                })
            }

            async fn mark_all_read(&self, tenant: &str, recipient: &str, now: DateTime<Utc>) -> ApiResult<i64> {
                let mut tx = self.begin().await?;
                let rows = sqlx::query(
                    "UPDATE notifications SET state = 'READ', update_time = $1, version = version + 1 \
                     WHERE tenant = $2 AND recipient = $3 AND state IN ('UNREAD', 'SEEN')",
                )
                .bind(now)
                .bind(tenant)
                .bind(recipient)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(rows as i64)
            }

            async fn get_preferences(&self, tenant: &str, recipient: &str) -> ApiResult<Option<PreferencesRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM notification_preferences WHERE tenant = $1 AND recipient = $2",
                )
                .bind(tenant)
                .bind(recipient)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn put_preferences(&self, p: &PreferencesRecord) -> ApiResult<PreferencesRecord> {
                let name = PreferencesName::new(&p.tenant, "me").to_string();
                let mut tx = self.begin().await?;
                let rows = if p.version == 0 {
                    // Two first saves at once: the loser is told to retry.
                    sqlx::query(
                        "INSERT INTO notification_preferences (tenant, recipient, email_address, language_code, \
                         muted, digest_time, quiet_start, quiet_end, version, update_time) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9) ON CONFLICT (tenant, recipient) DO NOTHING",
                    )
                    .bind(&p.tenant)
                    .bind(&p.recipient)
                    .bind(&p.email_address)
                    .bind(&p.language_code)
                    .bind(&p.muted)
                    .bind(&p.digest_time)
                    .bind(&p.quiet_start)
                    .bind(&p.quiet_end)
                    .bind(p.update_time)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                } else {
                    sqlx::query(
                        "UPDATE notification_preferences SET email_address = $1, language_code = $2, muted = $3, \
                         digest_time = $4, quiet_start = $5, quiet_end = $6, version = version + 1, \
                         update_time = $7 WHERE tenant = $8 AND recipient = $9 AND version = $10",
                    )
                    .bind(&p.email_address)
                    .bind(&p.language_code)
                    .bind(&p.muted)
                    .bind(&p.digest_time)
                    .bind(&p.quiet_start)
                    .bind(&p.quiet_end)
                    .bind(p.update_time)
                    .bind(&p.tenant)
                    .bind(&p.recipient)
                    .bind(p.version)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                };
                // Either way a miss means someone else saved first.
                check_versioned(rows, true, &name)?;
                tx.commit().await?;
                Ok(PreferencesRecord {
                    version: p.version + 1,
                    ..p.clone()
                })
            }

            async fn get_template(&self, tenant: &str, id: &str) -> ApiResult<Option<TemplateRecord>> {
                Ok(sqlx::query_as("SELECT * FROM notification_templates WHERE tenant = $1 AND id = $2")
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn put_template(&self, t: &TemplateRecord) -> ApiResult<TemplateRecord> {
                let mut tx = self.begin().await?;
                let rows = if t.version == 0 {
                    sqlx::query(
                        "INSERT INTO notification_templates (tenant, id, subject, body, version, update_time) \
                         VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (tenant, id) DO NOTHING",
                    )
                    .bind(&t.tenant)
                    .bind(&t.id)
                    .bind(&t.subject)
                    .bind(&t.body)
                    .bind(t.update_time)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                } else {
                    sqlx::query(
                        "UPDATE notification_templates SET subject = $1, body = $2, update_time = $3, \
                         version = version + 1 WHERE tenant = $4 AND id = $5 AND version = $6",
                    )
                    .bind(&t.subject)
                    .bind(&t.body)
                    .bind(t.update_time)
                    .bind(&t.tenant)
                    .bind(&t.id)
                    .bind(t.version)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                };
                check_versioned(rows, true, &t.id)?;
                tx.commit().await?;
                Ok(TemplateRecord {
                    version: t.version + 1,
                    ..t.clone()
                })
            }

            async fn claim_deliveries(
                &self,
                now: DateTime<Utc>,
                claim_until: DateTime<Utc>,
                limit: i64,
            ) -> ApiResult<Vec<DeliveryRecord>> {
                let mut tx = self.begin().await?;
                let rows: Vec<DeliveryRecord> = sqlx::query_as(concat!(
                    "UPDATE deliveries SET due_time = $1, attempts = attempts + 1, update_time = $2 \
                     WHERE id IN (SELECT id FROM deliveries WHERE state = 'PENDING' AND due_time <= $2 \
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

            async fn finish_delivery(&self, id: &str, o: &Outcome, now: DateTime<Utc>) -> ApiResult<()> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "UPDATE deliveries SET state = $1, due_time = $2, last_error = $3, update_time = $4 \
                     WHERE id = $5",
                )
                .bind(&o.state)
                .bind(o.due_time)
                .bind(&o.last_error)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                if let Some(e) = &o.event {
                    tx.enqueue(e).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_deliveries(&self, tenant: &str, notification: &str) -> ApiResult<Vec<DeliveryRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM deliveries WHERE tenant = $1 AND notification = $2 ORDER BY create_time, id",
                )
                .bind(tenant)
                .bind(notification)
                .fetch_all(&self.pool)
                .await?)
            }
        }
    };
}

pub(crate) use notification_sql_store;
