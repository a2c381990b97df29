//! Referrals from external systems: create (claimed, then routed onto the
//! subject's relay log or into intake), read and list.

use bti_proto::caselog::AttachedReferral;
use bti_proto::gateway::*;
use bti_runtime::api::{PageToken, enum_of, new_id, page_size, paginate};
use bti_runtime::auth::{Caller, Principal};
use bti_runtime::db::{Claim, Idem};
use bti_runtime::peers::caselog::Attach;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::App;
use crate::api::convert::{referral_msg, referral_msgs, shown_or_withheld};
use crate::domain::access::{
    basis, employee_basis, employee_needs_log, intake_content_visible, own_basis,
};
use crate::domain::routing::{Decision, Question, Routing};
use crate::domain::validate::referral_input;
use crate::domain::*;

/// Why a referral is read when routing it: the client sent it.
const SENT: &str = "sent by the client";

impl App {
    pub async fn create_referral(
        &self,
        caller: &Caller,
        mut q: CreateReferralRequest,
    ) -> ApiResult<Referral> {
        let c = self.client(caller, SCOPE_REFERRALS_WRITE).await?;
        if q.request_id.is_empty() {
            return Err(ApiError::invalid("request_id", "required: a UUID"));
        }
        // The fingerprint leaves the attachments' bytes out (encoding them
        // again would copy tens of MiB); their SHA-256 fields stand for them.
        // A first create checks them against the bytes before it claims the
        // key, so a replay answers with what was stored for matching bytes.
        let bytes: Vec<Vec<u8>> = q
            .referral
            .iter_mut()
            .flat_map(|r| r.attachments.iter_mut())
            .map(|a| std::mem::take(&mut a.data))
            .collect();
        let idem = Idem::of(&q.request_id, &q)?;
        let mut r = q
            .referral
            .ok_or_else(|| ApiError::invalid("referral", "required"))?;
        for (a, data) in r.attachments.iter_mut().zip(bytes) {
            a.data = data;
        }
        let scope = format!("CreateReferral/{}", c.id);
        // A retry answers with the first result before anything it was
        // checked against (the registration, the directory) is asked again.
        if let Some(request_id) = &idem.request_id {
            let stored = self.store.idempotency_key(&scope, request_id).await?;
            if let Claim::Replay(existing) = idem.judge(stored)? {
                return self.created(self.stored(&existing).await?, caller).await;
            }
        }
        let mut v = Violations::new();
        let mut input = referral_input(&mut r, self.cfg.max_attachment_bytes, &mut v);
        v.finish()?;
        if !c.acts_for(&input.tenant) {
            return Err(ApiError::PermissionDenied(
                "the client may not act for this municipality".into(),
            ));
        }
        let person = self
            .peers
            .directory
            .lookup_person(&input.tenant, &input.national_id)
            .await?
            .ok_or_else(|| {
                ApiError::precondition(
                    "SUBJECT_NOT_IN_DIRECTORY",
                    input.id_field,
                    "the municipality's directory has no person with this national id",
                )
            })?;
        let mut attachments = std::mem::take(&mut input.attachments);
        let request_id = idem.request_id.clone().unwrap_or_default();
        let record = ReferralRecord::pending(new_id(), &c, request_id, input, person, self.now());
        for a in &mut attachments {
            a.meta.referral = record.id.clone();
        }
        let row = self.access(
            &record.id,
            caller,
            "CREATE",
            "CreateReferral: received",
            &basis(&record, SENT),
        );
        let record = match self
            .store
            .begin_referral(&scope, &idem, &record, &attachments, &row)
            .await?
        {
            Claim::New => record,
            // A racing retry claimed the key first.
            Claim::Replay(existing) => self.stored(&existing).await?,
        };
        self.created(record, caller).await
    }

    pub async fn get_referral(
        &self,
        caller: &Caller,
        q: GetReferralRequest,
    ) -> ApiResult<Referral> {
        let id = ReferralName::parse("name", &q.name)?.referral;
        let (basis, withhold) = if matches!(caller.principal, Principal::Client { .. }) {
            let c = self.client(caller, SCOPE_REFERRALS_READ).await?;
            (own_basis(&self.own_referral(&c, &q.name).await?), false)
        } else {
            let r = self.referral("name", &q.name).await?;
            let log = if employee_needs_log(caller, &r) {
                self.peers.relay.active_log(&r.tenant, &r.person).await?
            } else {
                None
            };
            let basis = employee_basis(caller, &r, log.as_ref())
                .ok_or_else(|| ApiError::NotFound(q.name.clone()))?;
            let withhold =
                r.placement() == Placement::Intake && !intake_content_visible(caller, &r);
            (basis, withhold)
        };
        let purpose = if withhold {
            "GetReferral (content withheld)"
        } else {
            "GetReferral"
        };
        let row = self.access(&id, caller, "READ", purpose, &basis);
        let (r, attachments) = self
            .store
            .read_referral(&id, &row)
            .await?
            .ok_or_else(|| ApiError::NotFound(q.name.clone()))?;
        Ok(shown_or_withheld(
            referral_msg(&r, &attachments, self.now()),
            !withhold,
        ))
    }

    pub async fn list_referrals(
        &self,
        caller: &Caller,
        q: ListReferralsRequest,
    ) -> ApiResult<ListReferralsResponse> {
        let c = self.client(caller, SCOPE_REFERRALS_READ).await?;
        let query = ["ListReferrals", c.id.as_str()];
        let size = page_size("page_size", q.page_size)?;
        let before = PageToken::decode("page_token", &q.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .client_referrals(&c.id, before.as_deref().unwrap_or(""), size + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |r| r.id.clone(), &query);
        self.log_reads(caller, &rows, "ListReferrals", own_basis)
            .await?;
        Ok(ListReferralsResponse {
            referrals: referral_msgs(&rows, self.now()),
            next_page_token,
        })
    }

    /// The referral a claimed request id names.
    async fn stored(&self, id: &str) -> ApiResult<ReferralRecord> {
        self.store
            .referral(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(referral_name(id)))
    }

    /// The answer to a create: the referral, settled if still pending, with
    /// its attachments (a logged read).
    async fn created(&self, record: ReferralRecord, p: &Principal) -> ApiResult<Referral> {
        let settled = if record.is_pending() {
            self.settle(record).await?
        } else {
            record
        };
        let row = self.access(
            &settled.id,
            p,
            "READ",
            "CreateReferral: the stored result",
            &own_basis(&settled),
        );
        let attachments = self
            .store
            .read_referral(&settled.id, &row)
            .await?
            .map(|(_, a)| a)
            .unwrap_or_default();
        Ok(referral_msg(&settled, &attachments, self.now()))
    }

    /// Routes a pending referral (see [`Routing`]): onto the subject's
    /// active relay log, or into the municipality's intake, once. Several
    /// settles of one referral may run at once (a retried create, the sweep,
    /// another replica) and ask the relay log and consent at different
    /// moments; the first to decide on a relay log records that decision
    /// before it asks the relay log to attach, and every other settle then
    /// follows it (the attach is idempotent by the referral's id), so the
    /// relay log and the gateway never disagree about where it landed.
    pub async fn settle(&self, mut r: ReferralRecord) -> ApiResult<ReferralRecord> {
        // Each turn either finishes or learns another settle's decision.
        for _ in 0..4 {
            if !r.is_pending() {
                return Ok(r);
            }
            if r.settle_log.is_empty() {
                match self.route(&r).await? {
                    Some(log) => {
                        if self.store.claim_attach(&r.id, &log).await? {
                            r.settle_log = log;
                            r.version += 1;
                        } else {
                            r = self.stored(&r.id).await?;
                        }
                        continue;
                    }
                    None => {
                        if let Some(done) = self.finish(&r, None).await? {
                            return Ok(done);
                        }
                        r = self.stored(&r.id).await?;
                        continue;
                    }
                }
            }
            // Attach where it was decided; the log may have closed since.
            let attached = AttachedReferral {
                referral: r.name(),
                kind: enum_of(bti_proto::caselog::ReferralKind::from_str_name, &r.kind),
                restricted: r.restricted,
                legal_basis: r.legal_basis.clone(),
                from_organization: r.from_organization.clone(),
                from_unit: r.from_unit.clone(),
                client: client_name(&r.client),
                ..Default::default()
            };
            let placed = match self
                .peers
                .relay
                .attach(&r.settle_log, attached, &r.id)
                .await?
            {
                Attach::Attached(a) => Some(a.name),
                Attach::Refused => None,
            };
            if let Some(done) = self.finish(&r, placed).await? {
                return Ok(done);
            }
            r = self.stored(&r.id).await?;
        }
        Err(ApiError::Aborted(format!(
            "{}: settled concurrently; read it again",
            r.name()
        )))
    }

    /// Where `r` should go now: the relay log to attach it to, or intake.
    async fn route(&self, r: &ReferralRecord) -> ApiResult<Option<String>> {
        let mut routing = Routing::of(r);
        let mut log = None;
        loop {
            match routing.decide() {
                Decision::Ask(Question::ActiveLog) => {
                    log = self.peers.relay.active_log(&r.tenant, &r.person).await?;
                    routing.active_log = Some(log.is_some());
                }
                Decision::Ask(Question::Consent) => {
                    let revision = self
                        .peers
                        .consent
                        .relay_log_revision(&r.person, &r.from_unit)
                        .await?;
                    routing.consent_covers_sender = Some(revision.is_some());
                }
                Decision::RelayLog => return Ok(log.map(|l| l.name)),
                Decision::Intake => return Ok(None),
            }
        }
    }

    /// Records where `r` landed (attached as `attached` on its decided log,
    /// or in intake), if no other settle finished or decided otherwise
    /// first; `None` then.
    async fn finish(
        &self,
        current: &ReferralRecord,
        attached: Option<String>,
    ) -> ApiResult<Option<ReferralRecord>> {
        let mut r = current.clone();
        let (placement, purpose) = match attached {
            Some(name) => {
                r.case_log = r.settle_log.clone();
                r.attached_referral = name;
                (
                    Placement::CaseLog,
                    "CreateReferral: attached to the relay log",
                )
            }
            None => (Placement::Intake, "CreateReferral: placed in intake"),
        };
        r.placement = placement.as_str_name().into();
        r.update_time = self.now();
        let row = self.access_as(
            &r.id,
            client_label(&r.client),
            "UPDATE",
            purpose,
            &basis(&r, SENT),
        );
        let event = self.event(
            &r.name(),
            &r.tenant,
            &ReferralReceived {
                referral: r.name(),
                tenant: r.tenant.clone(),
                kind: enum_of(ReferralKind::from_str_name, &r.kind),
                placement: placement as i32,
                case_log: r.case_log.clone(),
                restricted: r.restricted,
            },
        );
        if self
            .store
            .settle_referral(&r, &current.settle_log, &row, event)
            .await?
        {
            r.version += 1;
            Ok(Some(self.committed(r)?))
        } else {
            Ok(None)
        }
    }
}
