//! The caller's inbox: list, get, count, mark read, archive.

use std::collections::VecDeque;
use std::time::Duration;

use bti_proto::notification::notification::State as StateMsg;
use bti_proto::notification::*;
use bti_runtime::api::{PageToken, check_etag, page_size, paginate};
use bti_runtime::auth::Principal;
use bti_runtime::{ApiResult, Violations};
use futures::StreamExt;
use futures::stream::BoxStream;

use super::App;
use crate::api::convert::notification_msg;
use crate::domain::*;

/// How many unread notifications an unread count judges one by one.
const COUNT_LIMIT: i64 = 1000;

/// The states asked for; none means everything still in the inbox.
fn states(r: &ListNotificationsRequest) -> ApiResult<Vec<State>> {
    if r.states.is_empty() {
        return Ok(vec![State::Unread, State::Seen, State::Read]);
    }
    let mut v = Violations::new();
    let mut out = Vec::new();
    for (i, s) in r.states.iter().enumerate() {
        match StateMsg::try_from(*s) {
            Ok(StateMsg::Unread) => out.push(State::Unread),
            Ok(StateMsg::Seen) => out.push(State::Seen),
            Ok(StateMsg::Read) => out.push(State::Read),
            Ok(StateMsg::Archived) => out.push(State::Archived),
            _ => v.add(format!("states[{i}]"), "must be a state"),
        }
    }
    v.finish()?;
    Ok(out)
}

struct Watch {
    app: App,
    tenant: String,
    recipient: String,
    after: String,
    queue: VecDeque<NotificationRecord>,
    failed: bool,
}

impl Watch {
    async fn next(mut self) -> Option<(ApiResult<Notification>, Watch)> {
        if self.failed {
            return None;
        }
        let poll = Duration::from_millis(self.app.cfg.watch_poll_ms.max(10));
        loop {
            if let Some(n) = self.queue.pop_front() {
                return Some((Ok(notification_msg(&n)), self));
            }
            let woken = self.app.created.notified();
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(poll) => {}
            }
            let rows = self
                .app
                .store
                .list_new_notifications(&self.tenant, &self.recipient, &self.after, 50)
                .await;
            match rows {
                Ok(rows) => {
                    if let Some(last) = rows.last() {
                        self.after = last.id.clone();
                    }
                    match self.app.visible(rows).await {
                        Ok(rows) => self.queue.extend(rows),
                        Err(e) => {
                            self.failed = true;
                            return Some((Err(e), self));
                        }
                    }
                }
                // Said once, then the stream ends; the client watches anew.
                Err(e) => {
                    self.failed = true;
                    return Some((Err(e), self));
                }
            }
        }
    }
}

impl App {
    pub async fn list_notifications(
        &self,
        p: &Principal,
        r: ListNotificationsRequest,
    ) -> ApiResult<ListNotificationsResponse> {
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        let (recipient, _) = recipient_of(p, &tenant)?;
        let states = states(&r)?;
        let limit = page_size("page_size", r.page_size)?;
        let key: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        let key = key.join(",");
        // Bound to the caller too: a token is no way into someone else's inbox.
        let query = [r.parent.as_str(), recipient.as_str(), key.as_str()];
        let before = PageToken::decode("page_token", &r.page_token, &query)?
            .map(|t| t.after)
            .unwrap_or_default();
        let rows = self
            .store
            .list_notifications(&tenant, &recipient, &states, &before, limit + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, limit, |n| n.id.clone(), &query);
        // What they may no longer read is not shown (a page may be short).
        let rows = self.visible(rows).await?;
        Ok(ListNotificationsResponse {
            notifications: rows.iter().map(notification_msg).collect(),
            next_page_token,
        })
    }

    /// New notifications as they arrive: woken by this replica's consumer,
    /// and polling for what other replicas created.
    pub async fn watch_notifications(
        &self,
        p: &Principal,
        r: WatchNotificationsRequest,
    ) -> ApiResult<BoxStream<'static, ApiResult<Notification>>> {
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        let (recipient, _) = recipient_of(p, &tenant)?;
        let all = [State::Unread, State::Seen, State::Read, State::Archived];
        let newest = self
            .store
            .list_notifications(&tenant, &recipient, &all, "", 1)
            .await?;
        let watch = Watch {
            app: self.clone(),
            tenant,
            recipient,
            after: newest.first().map(|n| n.id.clone()).unwrap_or_default(),
            queue: VecDeque::new(),
            failed: false,
        };
        Ok(futures::stream::unfold(watch, Watch::next).boxed())
    }

    pub async fn get_notification(
        &self,
        p: &Principal,
        r: GetNotificationRequest,
    ) -> ApiResult<Notification> {
        Ok(notification_msg(&self.owned(p, "name", &r.name).await?))
    }

    pub async fn count_unread_notifications(
        &self,
        p: &Principal,
        r: CountUnreadNotificationsRequest,
    ) -> ApiResult<CountUnreadNotificationsResponse> {
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        let (recipient, _) = recipient_of(p, &tenant)?;
        // Counted as listed: only what they may still read.
        let unread = [State::Unread, State::Seen];
        let total = self.store.count_unread(&tenant, &recipient).await?;
        let rows = self
            .store
            .list_notifications(
                &tenant,
                &recipient,
                &unread,
                "",
                total.clamp(0, COUNT_LIMIT),
            )
            .await?;
        let hidden = rows.len() - self.visible(rows.clone()).await?.len();
        Ok(CountUnreadNotificationsResponse {
            unread_count: total - hidden as i64,
        })
    }

    pub async fn mark_notification_read(
        &self,
        p: &Principal,
        r: MarkNotificationReadRequest,
    ) -> ApiResult<Notification> {
        let n = self.owned(p, "name", &r.name).await?;
        check_etag(&r.name, &r.etag, n.version)?;
        // Read stays read, archived stays archived: marking is idempotent.
        if matches!(n.state(), Some(State::Read | State::Archived)) {
            return Ok(notification_msg(&n));
        }
        self.set_state(n, State::Read).await
    }

    pub async fn mark_all_notifications_read(
        &self,
        p: &Principal,
        r: MarkAllNotificationsReadRequest,
    ) -> ApiResult<MarkAllNotificationsReadResponse> {
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        let (recipient, _) = recipient_of(p, &tenant)?;
        Ok(MarkAllNotificationsReadResponse {
            marked_count: self
                .store
                .mark_all_read(&tenant, &recipient, self.now())
                .await?,
        })
    }

    pub async fn archive_notification(
        &self,
        p: &Principal,
        r: ArchiveNotificationRequest,
    ) -> ApiResult<Notification> {
        let n = self.owned(p, "name", &r.name).await?;
        check_etag(&r.name, &r.etag, n.version)?;
        if n.state() == Some(State::Archived) {
            return Ok(notification_msg(&n));
        }
        self.set_state(n, State::Archived).await
    }

    async fn set_state(&self, n: NotificationRecord, s: State) -> ApiResult<Notification> {
        let changed = NotificationRecord {
            state: s.as_str().into(),
            update_time: self.now(),
            ..n
        };
        Ok(notification_msg(
            &self.store.update_notification(&changed).await?,
        ))
    }
}
