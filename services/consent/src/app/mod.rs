//! The consent service's application layer: one function per RPC, named
//! after it, taking the caller and the request message. The policy, the
//! access decision and who may act are pure rules in `domain`.

mod access;
mod consents;
mod representations;
mod revisions;

use std::sync::Arc;

use bti_proto::consent::RevisionKind;
use bti_runtime::auth::Principal;
use bti_runtime::clock::SharedClock;
use bti_runtime::events::{OutboxEvent, OutboxSignal};
use bti_runtime::peers::Directory;
use bti_runtime::{ApiError, ApiResult, Violations};
use chrono::{DateTime, Utc};

use crate::domain::access::{can_change, can_read, permission_denied};
use crate::domain::*;
use crate::store::ConsentStore;

/// The consent service's state: its store, the directory it asks, the
/// outbox signal and the clock.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn ConsentStore>,
    directory: Directory,
    outbox: OutboxSignal,
    clock: SharedClock,
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializable")
}

impl App {
    pub fn new(
        store: Arc<dyn ConsentStore>,
        directory: Directory,
        outbox: OutboxSignal,
        clock: SharedClock,
    ) -> Self {
        App {
            store,
            directory,
            outbox,
            clock,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn event<M: prost::Name>(&self, subject: &str, tenant: &str, payload: &M) -> OutboxEvent {
        OutboxEvent::new(SOURCE, subject, tenant, payload)
    }

    fn committed<T>(&self, value: T) -> ApiResult<T> {
        self.outbox.wake();
        Ok(value)
    }

    /// Asks the directory about each requested unit not already `known`,
    /// reporting unknown ones by their index in the request.
    async fn check_units_exist(&self, requested: &[String], known: &[String]) -> ApiResult<()> {
        let mut v = Violations::new();
        for (i, u) in requested.iter().enumerate() {
            if !known.contains(u) && !self.directory.unit_exists(u).await? {
                v.add(format!("consent.covered_units[{i}]"), "unknown unit");
            }
        }
        v.finish()
    }

    /// Guardians with parental responsibility of the consent's subject, fetched
    /// only for a guardian principal (the only one it can matter for).
    async fn guardians_for(&self, p: &Principal, subject: &str) -> ApiResult<Vec<String>> {
        if matches!(p, Principal::Guardian { .. }) {
            self.directory.guardians(subject).await
        } else {
            Ok(Vec::new())
        }
    }

    /// The consent, if `p` may read it; otherwise NOT_FOUND, so that whether a
    /// child has a consent on record does not leak.
    async fn readable(&self, p: &Principal, field: &str, name: &str) -> ApiResult<ConsentView> {
        let n = ConsentName::parse(field, name)?;
        let not_found = || ApiError::NotFound(name.to_string());
        let view = self
            .store
            .get_consent(&n.tenant, &n.consent)
            .await?
            .ok_or_else(not_found)?;
        let guardians = self.guardians_for(p, &view.consent.subject).await?;
        if can_read(p, &view, &guardians) {
            Ok(view)
        } else {
            Err(not_found())
        }
    }

    /// The active consent, if `p` may change it; NOT_FOUND if they may not
    /// even read it.
    async fn changeable(
        &self,
        p: &Principal,
        field: &str,
        name: &str,
        sent_etag: &str,
    ) -> ApiResult<ConsentView> {
        let view = self.readable(p, field, name).await?;
        let guardians = self.guardians_for(p, &view.consent.subject).await?;
        if !can_change(p, &view, &guardians) {
            return Err(permission_denied());
        }
        bti_runtime::api::check_etag(name, sent_etag, view.consent.version)?;
        if !view.consent.is_active() {
            return Err(ApiError::precondition(
                "CONSENT_NOT_ACTIVE",
                name,
                "the consent is no longer active",
            ));
        }
        Ok(view)
    }

    /// The revision a change of `c` (already at its new revision number) writes.
    #[allow(clippy::too_many_arguments)]
    fn revision(
        &self,
        c: &ConsentRecord,
        units: &[String],
        kind: RevisionKind,
        method: (String, String),
        actor: &Principal,
        reason: String,
        at: DateTime<Utc>,
    ) -> RevisionRecord {
        RevisionRecord {
            tenant: c.tenant.clone(),
            consent: c.id.clone(),
            revision: c.revision,
            kind: kind.as_str_name().to_string(),
            covered_units: json(&units),
            state: c.state.clone(),
            valid_from: c.valid_from,
            valid_until: c.valid_until,
            method: method.0,
            method_reference: method.1,
            actor: actor.label(),
            reason,
            create_time: at,
        }
    }
}
