//! The relay log's application layer: one function per RPC, named after it,
//! taking the caller and the request message. Rules live in `domain`; this
//! layer reads, asks the peers (consent on every request, never cached; the
//! directory), decides with the rules, and commits each change with its
//! access-log rows and events.

mod access_log;
mod consent_events;
mod entries;
mod evaluations;
mod export;
mod goals;
mod handovers;
mod logs;
mod measures;
mod oversight;
mod participants;
mod referrals;
mod summary;
mod transfers;

pub use consent_events::CONSUMER;

use std::sync::Arc;

use bti_proto::caselog::AccessAction;
use bti_runtime::api::{PageToken, page_size, paginate};
use bti_runtime::auth::Principal;
use bti_runtime::clock::SharedClock;
use bti_runtime::db::Claim;
use bti_runtime::events::{OutboxEvent, OutboxSignal};
use bti_runtime::peers::{ConsentChecker, Directory};
use bti_runtime::{ApiError, ApiResult};
use chrono::{DateTime, Utc};

use crate::domain::access::{self, Purpose, professional_candidates, require_read};
use crate::domain::*;
use crate::store::{CaseLogStore, Op, Work};

/// The peers the relay log asks.
#[derive(Clone)]
pub struct Peers {
    pub consent: ConsentChecker,
    pub directory: Directory,
}

/// The relay log's state: its store, peers, outbox signal and clock.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn CaseLogStore>,
    peers: Peers,
    outbox: OutboxSignal,
    clock: SharedClock,
}

/// A log resolved for a request: its state, the caller and their capacity,
/// and the request's time.
pub(crate) struct Authorized {
    p: Principal,
    ctx: LogContext,
    cap: Capacity,
    at: DateTime<Utc>,
}

impl Authorized {
    fn log(&self) -> &CaseLogRecord {
        &self.ctx.log
    }

    fn name(&self) -> CaseLogName {
        self.ctx.log.log_name()
    }

    fn tenant(&self) -> &str {
        &self.ctx.log.tenant
    }

    fn id(&self) -> &str {
        &self.ctx.log.id
    }

    /// The access-log row of this caller acting on `resource`.
    fn access(&self, resource: &str, action: AccessAction, method: &str) -> AccessRecord {
        access::access_row(
            &self.p,
            &self.cap,
            self.tenant(),
            self.id(),
            resource,
            action,
            method,
            self.at,
        )
    }

    fn event<M: prost::Name>(&self, subject: &str, payload: &M) -> OutboxEvent {
        event_at(self.at, subject, self.tenant(), payload)
    }

    /// Records activity on the log, refusing a log closed meanwhile.
    fn touch(&self) -> Op {
        Op::Touch {
            tenant: self.tenant().to_string(),
            id: self.id().to_string(),
            at: self.at,
        }
    }

    /// Who the caller is as an author in the log.
    fn author(&self) -> String {
        access::subject_of(&self.p)
    }
}

/// An event of the relay log at `at`.
fn event_at<M: prost::Name>(
    at: DateTime<Utc>,
    subject: &str,
    tenant: &str,
    payload: &M,
) -> OutboxEvent {
    OutboxEvent {
        time: at,
        ..OutboxEvent::new(SOURCE, subject, tenant, payload)
    }
}

/// One page of a list: the page size, where it starts, and the query the
/// page token is bound to.
pub(crate) struct Page {
    query: Vec<String>,
    size: i64,
    after: String,
}

impl Page {
    fn new(method: &str, parts: &[&str], size: i32, token: &str) -> ApiResult<Page> {
        let query: Vec<String> = std::iter::once(method)
            .chain(parts.iter().copied())
            .map(String::from)
            .collect();
        let size = page_size("page_size", size)?;
        let q: Vec<&str> = query.iter().map(String::as_str).collect();
        let after = PageToken::decode("page_token", token, &q)?
            .map(|t| t.after)
            .unwrap_or_default();
        Ok(Page { query, size, after })
    }

    /// Rows to fetch: one more than the page, to know whether another follows.
    fn limit(&self) -> i64 {
        self.size + 1
    }

    /// The page's messages and the next page's token.
    fn finish<T, M>(
        &self,
        rows: Vec<T>,
        key: impl Fn(&T) -> &str,
        msg: impl Fn(&T) -> M,
    ) -> (Vec<M>, String) {
        let q: Vec<&str> = self.query.iter().map(String::as_str).collect();
        let (rows, next) = paginate(rows, self.size, |r| key(r).to_string(), &q);
        (rows.iter().map(msg).collect(), next)
    }
}

impl App {
    pub fn new(
        store: Arc<dyn CaseLogStore>,
        peers: Peers,
        outbox: OutboxSignal,
        clock: SharedClock,
    ) -> Self {
        App {
            store,
            peers,
            outbox,
            clock,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Commits a write and wakes the relay.
    async fn commit(&self, work: Work) -> ApiResult<Claim> {
        let claim = self.store.apply(work).await?;
        self.outbox.wake();
        Ok(claim)
    }

    /// Resolves the log `name` for `p`; NOT_FOUND when it does not exist or
    /// is not theirs to know of.
    async fn authorize(&self, p: &Principal, name: &CaseLogName) -> ApiResult<Authorized> {
        self.authorize_for(p, name, Purpose::Any).await
    }

    async fn authorize_for(
        &self,
        p: &Principal,
        name: &CaseLogName,
        purpose: Purpose,
    ) -> ApiResult<Authorized> {
        let not_found = || ApiError::NotFound(name.to_string());
        let ctx = self
            .store
            .context(&name.tenant, &name.case_log)
            .await?
            .ok_or_else(not_found)?;
        let cap = self
            .capacity(p, &ctx, purpose)
            .await?
            .ok_or_else(not_found)?;
        Ok(Authorized {
            p: p.clone(),
            ctx,
            cap,
            at: self.now(),
        })
    }

    /// The capacity in which `p` may act on the log, or `None` (then the log
    /// does not exist for them). Consent is asked for every candidate unit,
    /// every time.
    async fn capacity(
        &self,
        p: &Principal,
        ctx: &LogContext,
        purpose: Purpose,
    ) -> ApiResult<Option<Capacity>> {
        let log = &ctx.log;
        match p {
            Principal::Employee {
                subject, tenant, ..
            } if *tenant == log.tenant => {
                let candidates = professional_candidates(
                    subject,
                    |u| p.works_in(u),
                    log,
                    &ctx.participants,
                    ctx.pending_handover.as_ref(),
                    purpose,
                );
                for (acting_as, unit) in candidates {
                    if let Some(basis) = self
                        .peers
                        .consent
                        .relay_log_revision(&log.subject, &unit)
                        .await?
                    {
                        return Ok(Some(Capacity {
                            acting_as,
                            unit,
                            basis,
                        }));
                    }
                }
                Ok(access::leader_unit(p, log).map(|u| Capacity::oversight(&u)))
            }
            Principal::Guardian { person, tenant, .. } if *tenant == log.tenant => {
                let guardians = self.peers.directory.guardians(&log.subject).await?;
                Ok(guardians.iter().any(|g| g == person).then(access::guardian))
            }
            Principal::Youth { person, tenant, .. }
                if *tenant == log.tenant && *person == log.subject =>
            {
                let policy = self.peers.directory.policy(tenant).await?;
                let facts = self
                    .peers
                    .directory
                    .subject(person, self.now().date_naive())
                    .await?;
                Ok(facts.and_then(|f| access::youth(f.age, policy.youth_consent_age)))
            }
            _ => Ok(access::gateway(p)),
        }
    }

    /// [`Self::capacity`] of an employee for each of `contexts`, with every
    /// candidate unit of every log asked of consent in one batch.
    async fn capacities(
        &self,
        p: &Principal,
        contexts: &[LogContext],
    ) -> ApiResult<Vec<Option<Capacity>>> {
        let Principal::Employee { subject, .. } = p else {
            return Ok(vec![None; contexts.len()]);
        };
        let candidates: Vec<Vec<(bti_proto::caselog::ActingAs, String)>> = contexts
            .iter()
            .map(|ctx| {
                professional_candidates(
                    subject,
                    |u| p.works_in(u),
                    &ctx.log,
                    &ctx.participants,
                    ctx.pending_handover.as_ref(),
                    Purpose::Any,
                )
            })
            .collect();
        let mut pairs: Vec<(String, String)> = contexts
            .iter()
            .zip(&candidates)
            .flat_map(|(ctx, c)| c.iter().map(|(_, u)| (ctx.log.subject.clone(), u.clone())))
            .collect();
        pairs.sort();
        pairs.dedup();
        let answers = self.peers.consent.relay_log_revisions(&pairs).await?;
        let basis = |subject: &str, unit: &str| {
            pairs
                .iter()
                .position(|(s, u)| s == subject && u == unit)
                .and_then(|i| answers[i].clone())
        };
        Ok(contexts
            .iter()
            .zip(candidates)
            .map(|(ctx, c)| {
                c.into_iter()
                    .find_map(|(acting_as, unit)| {
                        basis(&ctx.log.subject, &unit).map(|basis| Capacity {
                            acting_as,
                            unit,
                            basis,
                        })
                    })
                    .or_else(|| access::leader_unit(p, &ctx.log).map(|u| Capacity::oversight(&u)))
            })
            .collect())
    }

    /// The consent revision that lets `unit` take part, or FAILED_PRECONDITION naming `field`.
    async fn consent_covers(&self, subject: &str, unit: &str, field: &str) -> ApiResult<String> {
        self.peers
            .consent
            .relay_log_revision(subject, unit)
            .await?
            .ok_or_else(|| {
                ApiError::precondition(
                    "UNIT_NOT_COVERED_BY_CONSENT",
                    unit,
                    format!("{field}: no active consent lets this unit take part"),
                )
            })
    }

    /// A page of the log `parent`'s `method` list, for a reader: `read` gets
    /// the caller's standing, the page and the listing's access row.
    #[allow(clippy::too_many_arguments)]
    async fn list_page<T, M>(
        &self,
        p: &Principal,
        parent: &str,
        method: &str,
        size: i32,
        token: &str,
        read: impl AsyncFnOnce(&Authorized, &Page, &AccessRecord) -> ApiResult<Vec<T>>,
        key: fn(&T) -> &str,
        msg: fn(&T) -> M,
    ) -> ApiResult<(Vec<M>, String)> {
        let name = CaseLogName::parse("parent", parent)?;
        let a = self.authorize(p, &name).await?;
        require_read(&a.cap)?;
        let page = Page::new(method, &[parent], size, token)?;
        let access = a.access(parent, AccessAction::Read, method);
        let rows = read(&a, &page, &access).await?;
        Ok(page.finish(rows, key, msg))
    }

    /// Authorizes a change to the log `name` by its holder, on an active
    /// log, at `etag`.
    async fn authorize_holder(
        &self,
        p: &Principal,
        name: &str,
        etag: &str,
    ) -> ApiResult<Authorized> {
        let a = self
            .authorize(p, &CaseLogName::parse("name", name)?)
            .await?;
        access::require_holder(&a.cap)?;
        access::require_active(a.log())?;
        bti_runtime::api::check_etag(name, etag, a.log().version)?;
        Ok(a)
    }

    /// What a create answers: the record it made, or (for a retry with the
    /// same request id) the resource the first attempt made.
    async fn created<N, R, M>(
        claim: Claim,
        record: R,
        parse: fn(&str, &str) -> ApiResult<N>,
        read: impl AsyncFnOnce(N) -> ApiResult<Option<R>>,
        msg: fn(&R) -> M,
    ) -> ApiResult<M> {
        match claim {
            Claim::New => Ok(msg(&record)),
            Claim::Replay(existing) => Self::replayed(existing, parse, read, msg).await,
        }
    }

    /// The resource an earlier create with the same request id made, read
    /// back with `read`; NOT_FOUND if it is gone.
    async fn replayed<N, R, M>(
        existing: String,
        parse: fn(&str, &str) -> ApiResult<N>,
        read: impl AsyncFnOnce(N) -> ApiResult<Option<R>>,
        msg: fn(&R) -> M,
    ) -> ApiResult<M> {
        let name = parse("name", &existing)?;
        read(name)
            .await?
            .map(|r| msg(&r))
            .ok_or(ApiError::NotFound(existing))
    }
}

/// A required message field of a request.
fn required<T>(field: Option<T>, name: &str) -> ApiResult<T> {
    field.ok_or_else(|| ApiError::invalid(name, "required"))
}
