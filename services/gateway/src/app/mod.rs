//! The gateway's application layer: one function per RPC, named after it,
//! taking the [`Caller`] and the request message. Rules live in `domain`;
//! this layer asks the store and the peers, decides with those rules and
//! commits.

mod clients;
mod intake;
mod referrals;
mod status;
mod summaries;
mod sweep;

use std::sync::Arc;

use bti_runtime::auth::{Caller, Principal};
use bti_runtime::clock::SharedClock;
use bti_runtime::events::{OutboxEvent, OutboxSignal};
use bti_runtime::peers::{CaseLog, ConsentChecker, Directory};
use bti_runtime::{ApiError, ApiResult};
use chrono::{DateTime, Utc};

use crate::api::convert::referral_msg;
use crate::domain::access::{check_registration, own_basis};
use crate::domain::*;
use crate::limit::Limits;
use crate::store::GatewayStore;

/// Limits of the gateway, from the `[service.gateway]` configuration section.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct GatewayConfig {
    /// Largest PDF attachment accepted.
    pub max_attachment_bytes: usize,
    /// Largest request message decoded (attachments included).
    pub max_request_bytes: usize,
    /// Requests per second for a client registered without a rate.
    pub default_rate_per_second: u32,
    /// Calls in flight per client.
    pub max_in_flight_per_client: usize,
    /// How often the sweep settles abandoned referrals and reports missed
    /// statutory deadlines.
    pub sweep_interval_secs: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_attachment_bytes: 10 * 1024 * 1024,
            max_request_bytes: 32 * 1024 * 1024,
            default_rate_per_second: DEFAULT_RATE as u32,
            max_in_flight_per_client: 8,
            sweep_interval_secs: 30,
        }
    }
}

/// The services the gateway asks.
#[derive(Clone)]
pub struct Peers {
    pub directory: Directory,
    pub consent: ConsentChecker,
    /// The relay log, called with the gateway's scope.
    pub relay: CaseLog,
}

/// The gateway's state: its store, peers, quotas, outbox signal, clock and
/// configuration.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn GatewayStore>,
    peers: Peers,
    limits: Arc<Limits>,
    outbox: OutboxSignal,
    clock: SharedClock,
    cfg: GatewayConfig,
}

impl App {
    pub fn new(
        store: Arc<dyn GatewayStore>,
        peers: Peers,
        outbox: OutboxSignal,
        clock: SharedClock,
        cfg: GatewayConfig,
    ) -> Self {
        let limits = Limits::new(cfg.default_rate_per_second, cfg.max_in_flight_per_client);
        App {
            store,
            peers,
            limits,
            outbox,
            clock,
            cfg,
        }
    }

    pub fn store(&self) -> &Arc<dyn GatewayStore> {
        &self.store
    }

    /// The quota state the [`crate::limit::ClientLimit`] layer shares.
    pub fn limits(&self) -> &Arc<Limits> {
        &self.limits
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.cfg
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn event<M: prost::Name>(&self, subject: &str, tenant: &str, payload: &M) -> OutboxEvent {
        OutboxEvent::new(SOURCE, subject, tenant, payload)
    }

    /// After a committed write, so the relay publishes promptly.
    fn committed<T>(&self, value: T) -> ApiResult<T> {
        self.outbox.wake();
        Ok(value)
    }

    /// The registered client behind a client token with `scope`, checked
    /// against its registration (organisation, scopes, disabled, pinned
    /// certificate). Tells the quota layer its rate.
    async fn client(&self, caller: &Caller, scope: &str) -> ApiResult<ClientRecord> {
        let Principal::Client {
            client_id,
            organization_number,
            scopes,
        } = &caller.principal
        else {
            return Err(ApiError::PermissionDenied(
                "only registered external systems call this method".into(),
            ));
        };
        let c = self
            .store
            .client(client_id)
            .await?
            .ok_or_else(|| ApiError::PermissionDenied("the client is not registered".into()))?;
        check_registration(
            &c,
            organization_number,
            scopes,
            scope,
            caller.certificate_sha256.as_deref(),
        )?;
        self.limits
            .set_rate(&c.id, c.rate_limit_per_second.max(1) as u32);
        Ok(c)
    }

    /// An access-log row for `actor` on referral `id`.
    fn access(
        &self,
        id: &str,
        actor: &Principal,
        action: &str,
        purpose: &str,
        basis: &str,
    ) -> AccessRecord {
        self.access_as(id, actor.label(), action, purpose, basis)
    }

    fn access_as(
        &self,
        id: &str,
        actor: String,
        action: &str,
        purpose: &str,
        basis: &str,
    ) -> AccessRecord {
        AccessRecord {
            id: bti_runtime::api::new_id(),
            referral: id.to_string(),
            actor,
            action: action.to_string(),
            purpose: purpose.to_string(),
            basis: basis.to_string(),
            create_time: self.now(),
        }
    }

    /// Commits a read row for each of `rows` (a list that shows them).
    async fn log_reads(
        &self,
        p: &Principal,
        rows: &[ReferralRecord],
        purpose: &str,
        basis: impl Fn(&ReferralRecord) -> String,
    ) -> ApiResult<()> {
        let access: Vec<AccessRecord> = rows
            .iter()
            .map(|r| self.access(&r.id, p, "READ", purpose, &basis(r)))
            .collect();
        self.store.log_access(&access).await
    }

    /// A client's call that changes nothing still shows it the referral: a
    /// read, logged as one.
    async fn unchanged(
        &self,
        p: &Principal,
        current: &ReferralRecord,
        purpose: &str,
    ) -> ApiResult<bti_proto::gateway::Referral> {
        self.log_reads(p, std::slice::from_ref(current), purpose, own_basis)
            .await?;
        Ok(referral_msg(current, &[], self.now()))
    }

    /// Stores a change to `current` (at its version) with its access row and
    /// event, and answers with the stored result.
    async fn save(
        &self,
        current: &ReferralRecord,
        mut updated: ReferralRecord,
        row: AccessRecord,
        event: OutboxEvent,
    ) -> ApiResult<bti_proto::gateway::Referral> {
        updated.version = current.version + 1;
        updated.update_time = self.now();
        self.store
            .update_referral(&updated, current.version, Some(&row), vec![event])
            .await?;
        self.committed(referral_msg(&updated, &[], self.now()))
    }

    /// The referral `name` names, unlogged (for authorization), or NOT_FOUND.
    async fn referral(&self, field: &str, name: &str) -> ApiResult<ReferralRecord> {
        let id = ReferralName::parse(field, name)?.referral;
        self.store
            .referral(&id)
            .await?
            .ok_or_else(|| ApiError::NotFound(name.to_string()))
    }

    /// The caller's own referral, or NOT_FOUND (another client's too).
    async fn own_referral(&self, c: &ClientRecord, name: &str) -> ApiResult<ReferralRecord> {
        match self.referral("name", name).await {
            Ok(r) if r.client == c.id => Ok(r),
            Ok(_) => Err(ApiError::NotFound(name.to_string())),
            Err(e) => Err(e),
        }
    }

    /// The caller's own referral, settled first if a create left it pending.
    async fn own_settled(&self, c: &ClientRecord, name: &str) -> ApiResult<ReferralRecord> {
        let r = self.own_referral(c, name).await?;
        if r.is_pending() {
            self.settle(r).await
        } else {
            Ok(r)
        }
    }
}
