//! gRPC surface of the relay log service.

use std::sync::Arc;

use bti_proto::caselog::case_log_service_server::{CaseLogService, CaseLogServiceServer};
use bti_proto::caselog::*;
use bti_proto::google::r#type::Date;
use bti_runtime::api::{
    PageToken, check_etag, etag, new_id, now, page_size, paginate, parse_name, timestamp,
    update_paths,
};
use bti_runtime::auth::{Principal, Role, principal};
use bti_runtime::db::Idem;
use bti_runtime::events::{OutboxEvent, OutboxSignal};
use bti_runtime::{ApiError, ApiResult, Violations};
use chrono::NaiveDate;
use tonic::{Request, Response, Status};

use crate::access::{
    Peers, access_row, require_active, require_holder, require_read, require_write,
};
use crate::domain::{self, *};
use crate::store::{Applied, CaseLogStore, LogContext, Op, Order, Work};

/// The relay log's gRPC API.
#[derive(Clone)]
pub struct CaseLogApi {
    store: Arc<dyn CaseLogStore>,
    peers: Peers,
    outbox: OutboxSignal,
}

fn reply<T>(result: ApiResult<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

fn enum_of<E: Copy + Into<i32>>(parse: fn(&str) -> Option<E>, s: &str) -> i32 {
    parse(s).map_or(0, Into::into)
}

use bti_runtime::api::date;

fn parse_date(field: &str, d: Option<&Date>) -> ApiResult<NaiveDate> {
    d.and_then(|d| NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32))
        .ok_or_else(|| ApiError::invalid(field, "required: a valid date"))
}

/// Page-token key for a list sorted by id.
fn key_of(id: &str) -> String {
    id.to_string()
}

fn case_log_msg(r: &CaseLogRecord, entries: &[EntryRecord]) -> CaseLog {
    CaseLog {
        name: r.name(),
        subject: r.subject.clone(),
        subject_kind: enum_of(SubjectKind::from_str_name, &r.subject_kind),
        unit: r.unit.clone(),
        concern: r.concern.clone(),
        concern_degree: enum_of(ConcernDegree::from_str_name, &r.concern_degree),
        level: enum_of(Level::from_str_name, &r.level),
        state: enum_of(CaseLogState::from_str_name, &r.state),
        holder: Some(BatonHolder {
            professional: r.holder.clone(),
            unit: r.holder_unit.clone(),
            since: Some(timestamp(r.holder_since)),
        }),
        pending_handover: child_or_empty(r, "handovers", &r.pending_handover),
        pending_transfer: child_or_empty(r, "transfers", &r.pending_transfer),
        consent_revision: r.consent_revision.clone(),
        close_reason: enum_of(CloseReason::from_str_name, &r.close_reason),
        close_time: r.close_time.map(timestamp),
        latest_entries: entries.iter().map(entry_msg).collect(),
        last_activity_time: Some(timestamp(r.last_activity_time)),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag(r.version),
        // Stored from the relay log's next migration on.
        concern_area: 0,
    }
}

/// A log as the gateway sees it when routing a referral: no content.
fn redacted_log_msg(r: &CaseLogRecord) -> CaseLog {
    CaseLog {
        name: r.name(),
        subject: r.subject.clone(),
        subject_kind: enum_of(SubjectKind::from_str_name, &r.subject_kind),
        unit: r.unit.clone(),
        state: enum_of(CaseLogState::from_str_name, &r.state),
        holder: Some(BatonHolder {
            professional: r.holder.clone(),
            unit: r.holder_unit.clone(),
            since: Some(timestamp(r.holder_since)),
        }),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        ..Default::default()
    }
}

fn referral_msg(r: &ReferralRecord) -> AttachedReferral {
    AttachedReferral {
        name: r.name(),
        referral: r.referral.clone(),
        kind: enum_of(ReferralKind::from_str_name, &r.kind),
        restricted: r.restricted,
        legal_basis: r.legal_basis.clone(),
        from_organization: r.from_organization.clone(),
        create_time: Some(timestamp(r.create_time)),
        from_unit: r.from_unit.clone(),
        client: r.client.clone(),
    }
}

/// The external client an access row names: `clients/{c}` as `client:{c}`.
fn client_actor(client: &str) -> String {
    format!(
        "client:{}",
        client.strip_prefix("clients/").unwrap_or(client)
    )
}

fn child_or_empty(r: &CaseLogRecord, collection: &str, id: &str) -> String {
    if id.is_empty() {
        String::new()
    } else {
        child_name(&r.tenant, &r.id, collection, id)
    }
}

fn entry_msg(e: &EntryRecord) -> Entry {
    Entry {
        name: child_name(&e.tenant, &e.case_log, "entries", &e.id),
        kind: enum_of(EntryKind::from_str_name, &e.kind),
        text: e.text.clone(),
        corrects: if e.corrects.is_empty() {
            String::new()
        } else {
            child_name(&e.tenant, &e.case_log, "entries", &e.corrects)
        },
        author: e.author.clone(),
        author_unit: e.author_unit.clone(),
        create_time: Some(timestamp(e.create_time)),
    }
}

fn level_change_msg(l: &LevelChangeRecord) -> LevelChange {
    LevelChange {
        name: child_name(&l.tenant, &l.case_log, "levelChanges", &l.id),
        from_level: enum_of(Level::from_str_name, &l.from_level),
        to_level: enum_of(Level::from_str_name, &l.to_level),
        reason: l.reason.clone(),
        actor: l.actor.clone(),
        create_time: Some(timestamp(l.create_time)),
    }
}

fn goal_msg(g: &GoalRecord) -> Goal {
    Goal {
        name: child_name(&g.tenant, &g.case_log, "goals", &g.id),
        description: g.description.clone(),
        achieved: g.achieved,
        create_time: Some(timestamp(g.create_time)),
        update_time: Some(timestamp(g.update_time)),
        etag: etag(g.version),
    }
}

fn measure_msg(m: &MeasureRecord) -> Measure {
    Measure {
        name: child_name(&m.tenant, &m.case_log, "measures", &m.id),
        description: m.description.clone(),
        goal: if m.goal.is_empty() {
            String::new()
        } else {
            child_name(&m.tenant, &m.case_log, "goals", &m.goal)
        },
        responsible_unit: m.responsible_unit.clone(),
        responsible_professional: m.responsible_professional.clone(),
        start_date: date(m.start_date),
        evaluate_by_date: date(m.evaluate_by_date),
        state: enum_of(MeasureState::from_str_name, &m.state),
        create_time: Some(timestamp(m.create_time)),
        update_time: Some(timestamp(m.update_time)),
        etag: etag(m.version),
    }
}

fn evaluation_msg(e: &EvaluationRecord) -> Evaluation {
    Evaluation {
        name: format!(
            "{}/evaluations/{}",
            child_name(&e.tenant, &e.case_log, "measures", &e.measure),
            e.id
        ),
        decision: enum_of(EvaluationDecision::from_str_name, &e.decision),
        child_experience: e.child_experience.clone(),
        summary: e.summary.clone(),
        evaluation_date: date(e.evaluation_date),
        author: e.author.clone(),
        create_time: Some(timestamp(e.create_time)),
    }
}

fn participant_msg(p: &ParticipantRecord) -> Participant {
    Participant {
        name: child_name(&p.tenant, &p.case_log, "participants", &p.id),
        unit: p.unit.clone(),
        professional: p.professional.clone(),
        tasks: p.tasks.clone(),
        create_time: Some(timestamp(p.create_time)),
        remove_time: p.remove_time.map(timestamp),
        etag: etag(p.version),
    }
}

fn handover_msg(h: &HandoverRecord) -> Handover {
    Handover {
        name: child_name(&h.tenant, &h.case_log, "handovers", &h.id),
        to_professional: h.to_professional.clone(),
        to_unit: h.to_unit.clone(),
        from_professional: h.from_professional.clone(),
        message: h.message.clone(),
        state: enum_of(HandoverState::from_str_name, &h.state),
        transfer: if h.transfer.is_empty() {
            String::new()
        } else {
            child_name(&h.tenant, &h.case_log, "transfers", &h.transfer)
        },
        create_time: Some(timestamp(h.create_time)),
        decide_time: h.decide_time.map(timestamp),
        etag: etag(h.version),
    }
}

fn transfer_msg(t: &TransferRecord) -> Transfer {
    Transfer {
        name: child_name(&t.tenant, &t.case_log, "transfers", &t.id),
        to_unit: t.to_unit.clone(),
        to_professional: t.to_professional.clone(),
        reason: enum_of(TransferReason::from_str_name, &t.reason),
        note: t.note.clone(),
        state: enum_of(TransferState::from_str_name, &t.state),
        handover: child_name(&t.tenant, &t.case_log, "handovers", &t.handover),
        create_time: Some(timestamp(t.create_time)),
        decide_time: t.decide_time.map(timestamp),
    }
}

fn access_msg(a: &AccessRecord) -> AccessLogEntry {
    AccessLogEntry {
        name: child_name(&a.tenant, &a.case_log, "accessLogEntries", &a.id),
        actor: a.actor.clone(),
        acting_as: enum_of(ActingAs::from_str_name, &a.acting_as),
        unit: a.unit.clone(),
        resource: a.resource.clone(),
        action: enum_of(AccessAction::from_str_name, &a.action),
        purpose: a.purpose.clone(),
        basis: a.basis.clone(),
        create_time: Some(timestamp(a.create_time)),
    }
}

fn subject_of(p: &Principal) -> String {
    match p {
        Principal::Employee { subject, .. } => subject.clone(),
        other => other.label(),
    }
}

/// A unit name of `tenant`.
fn same_tenant_unit(field: &str, tenant: &str, unit: &str) -> ApiResult<()> {
    let ids = parse_name(field, unit, UNIT_PATTERN)?;
    if ids[0] != tenant {
        return Err(ApiError::invalid(
            field,
            "must be a unit of the same municipality",
        ));
    }
    Ok(())
}

/// A log resolved for a request: its state and the caller's capacity.
struct Authorized {
    p: Principal,
    ctx: LogContext,
    cap: Capacity,
}

impl Authorized {
    fn log(&self) -> &CaseLogRecord {
        &self.ctx.log
    }

    fn access(&self, resource: &str, action: AccessAction, method: &str) -> AccessRecord {
        access_row(
            &self.p,
            &self.cap,
            &self.ctx.log.tenant,
            &self.ctx.log.id,
            resource,
            action,
            method,
        )
    }

    fn event<M: prost::Name>(&self, subject: &str, payload: &M) -> OutboxEvent {
        OutboxEvent::new(SOURCE, subject, &self.ctx.log.tenant, payload)
    }

    fn child(&self, collection: &str, id: &str) -> String {
        child_name(&self.ctx.log.tenant, &self.ctx.log.id, collection, id)
    }

    /// The log row after a change (the store applies it at the read version).
    fn updated_log(&self) -> CaseLogRecord {
        let mut l = self.ctx.log.clone();
        let t = now();
        l.update_time = t;
        l.last_activity_time = t;
        l
    }

    fn touch(&self) -> Op {
        Op::Touch {
            tenant: self.ctx.log.tenant.clone(),
            id: self.ctx.log.id.clone(),
            at: now(),
        }
    }
}

impl CaseLogApi {
    pub fn new(store: Arc<dyn CaseLogStore>, peers: Peers, outbox: OutboxSignal) -> Self {
        CaseLogApi {
            store,
            peers,
            outbox,
        }
    }

    pub fn into_server(self) -> CaseLogServiceServer<Self> {
        CaseLogServiceServer::new(self)
    }

    pub(crate) fn store(&self) -> &Arc<dyn CaseLogStore> {
        &self.store
    }

    pub(crate) fn peers(&self) -> &Peers {
        &self.peers
    }

    /// Closes an active log on the system's behalf; `false` when it was
    /// already closed (or gone).
    pub(crate) async fn close_as(
        &self,
        p: Principal,
        cap: Capacity,
        tenant: &str,
        id: &str,
        reason: CloseReason,
    ) -> ApiResult<bool> {
        let Some(ctx) = self.store.context(tenant, id).await? else {
            return Ok(false);
        };
        if !ctx.log.is_active() {
            return Ok(false);
        }
        let a = Authorized { p, ctx, cap };
        self.close(&a, reason, "", "ConsentWithdrawn").await?;
        Ok(true)
    }

    async fn commit(&self, work: Work) -> ApiResult<Applied> {
        let applied = self.store.apply(work).await?;
        self.outbox.wake();
        Ok(applied)
    }

    /// Resolves `name` (a log, or `prefix` of a child's name) for `p`;
    /// NOT_FOUND when the log does not exist or is not theirs to know of.
    async fn authorize(&self, p: Principal, field: &str, log_name: &str) -> ApiResult<Authorized> {
        let ids = parse_name(field, log_name, CASE_LOG_PATTERN)?;
        let not_found = || ApiError::NotFound(log_name.to_string());
        let ctx = self
            .store
            .context(ids[0], ids[1])
            .await?
            .ok_or_else(not_found)?;
        let cap = self.peers.capacity(&p, &ctx).await?.ok_or_else(not_found)?;
        Ok(Authorized { p, ctx, cap })
    }

    /// The log part (`tenants/t/caseLogs/c`) of a child resource name.
    fn log_of(field: &str, name: &str, pattern: &str) -> ApiResult<(String, String)> {
        let ids = parse_name(field, name, pattern)?;
        Ok((case_log_name(ids[0], ids[1]), ids[2].to_string()))
    }

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

    async fn do_create(&self, req: Request<CreateCaseLogRequest>) -> ApiResult<CaseLog> {
        let p = principal(&req)?;
        let idem = Idem::of(&req.get_ref().request_id, req.get_ref())?;
        let r = req.into_inner();
        let tenant = parse_name("parent", &r.parent, TENANT_PATTERN)?[0].to_string();
        let Principal::Employee {
            subject: employee, ..
        } = &p
        else {
            return Err(ApiError::PermissionDenied(
                "relay logs are opened by employees".into(),
            ));
        };
        if !p.is_employee_of(&tenant) {
            return Err(ApiError::PermissionDenied(
                "not an employee of this municipality".into(),
            ));
        }
        let c = r
            .case_log
            .ok_or_else(|| ApiError::invalid("case_log", "required"))?;
        let subject_ids = parse_name("case_log.subject", &c.subject, PERSON_PATTERN)?;
        if subject_ids[0] != tenant {
            return Err(ApiError::invalid(
                "case_log.subject",
                "must be a person of the same municipality",
            ));
        }
        same_tenant_unit("case_log.unit", &tenant, &c.unit)?;
        let mut v = Violations::new();
        v.text("case_log.concern", &c.concern, MAX_TEXT);
        let level = v.check("case_log.level", domain::level(c.level));
        let degree = ConcernDegree::try_from(c.concern_degree).ok();
        if degree.is_none() {
            v.add("case_log.concern_degree", "unknown degree");
        }
        v.finish()?;
        if !p.works_in(&c.unit) {
            return Err(ApiError::PermissionDenied(
                "a relay log is opened in a unit the employee works in".into(),
            ));
        }
        let facts = self
            .peers
            .directory
            .subject(&c.subject, now().date_naive())
            .await?
            .ok_or_else(|| {
                ApiError::invalid("case_log.subject", "no such person in the directory")
            })?;
        let Some(revision) = self
            .peers
            .consent
            .relay_log_revision(&c.subject, &c.unit)
            .await?
        else {
            return Err(ApiError::precondition(
                "NO_CONSENT",
                c.unit.clone(),
                "no active consent covers this unit for the subject; a shared relay log needs the guardians' consent (level 0 work is not shared)",
            ));
        };
        let kind = if facts.pregnant_woman {
            SubjectKind::PregnantWoman
        } else if facts.youth {
            SubjectKind::Youth
        } else {
            SubjectKind::Child
        };
        let t = now();
        let record = CaseLogRecord {
            tenant: tenant.clone(),
            id: new_id(),
            subject: c.subject.clone(),
            subject_kind: kind.as_str_name().into(),
            unit: c.unit.clone(),
            concern: c.concern.trim().to_string(),
            concern_degree: degree.expect("validated").as_str_name().into(),
            level: level.expect("validated").as_str_name().into(),
            state: CaseLogState::Active.as_str_name().into(),
            holder: employee.clone(),
            holder_unit: c.unit.clone(),
            holder_since: t,
            pending_handover: String::new(),
            pending_transfer: String::new(),
            consent_revision: revision.clone(),
            close_reason: String::new(),
            close_time: None,
            last_activity_time: t,
            version: 1,
            create_time: t,
            update_time: t,
        };
        let name = record.name();
        let cap = Capacity {
            acting_as: ActingAs::Creator,
            unit: c.unit.clone(),
            basis: revision,
        };
        let work = Work {
            idem: Some(("CreateCaseLog".into(), idem, name.clone())),
            ops: vec![
                Op::InsertCaseLog(record.clone()),
                Op::InsertHolder {
                    tenant: tenant.clone(),
                    case_log: record.id.clone(),
                    professional: employee.clone(),
                    unit: c.unit.clone(),
                    since: t,
                },
            ],
            access: vec![access_row(
                &p,
                &cap,
                &record.tenant,
                &record.id,
                &name,
                AccessAction::Create,
                "CreateCaseLog",
            )],
            events: vec![OutboxEvent::new(
                SOURCE,
                &name,
                &tenant,
                &CaseLogOpened {
                    case_log: name.clone(),
                    subject: c.subject.clone(),
                    unit: c.unit.clone(),
                    level: c.level,
                    holder: employee.clone(),
                    holder_unit: c.unit.clone(),
                    concern_degree: degree.expect("validated") as i32,
                    concern_area: c.concern_area,
                },
            )],
        };
        match self.commit(work).await {
            Ok(Applied::Done) => Ok(case_log_msg(&record, &[])),
            Ok(Applied::Replay(existing)) => self.get_as(&p, &existing).await,
            Err(ApiError::AlreadyExists(_)) => Err(ApiError::precondition(
                "ACTIVE_CASE_LOG_EXISTS",
                c.subject.clone(),
                "the subject already has an active relay log; join it as a participant",
            )),
            Err(e) => Err(e),
        }
    }

    async fn get_as(&self, p: &Principal, name: &str) -> ApiResult<CaseLog> {
        let a = self.authorize(p.clone(), "name", name).await?;
        require_read(&a.cap)?;
        let access = a.access(name, AccessAction::Read, "GetCaseLog");
        let (log, entries) = self
            .store
            .read_log(&a.log().tenant, &a.log().id, LATEST_ENTRIES, &access)
            .await?
            .ok_or_else(|| ApiError::NotFound(name.to_string()))?;
        Ok(case_log_msg(&log, &entries))
    }

    async fn do_list(&self, req: Request<ListCaseLogsRequest>) -> ApiResult<ListCaseLogsResponse> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let tenant = parse_name("parent", &r.parent, TENANT_PATTERN)?[0].to_string();
        if !r.subject.is_empty() {
            parse_name("subject", &r.subject, PERSON_PATTERN)?;
        }
        let state = match r.state {
            0 => String::new(),
            n => CaseLogState::try_from(n)
                .map_err(|_| ApiError::invalid("state", "unknown state"))?
                .as_str_name()
                .to_string(),
        };
        let query = [
            "ListCaseLogs",
            r.parent.as_str(),
            r.subject.as_str(),
            state.as_str(),
        ];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .list_case_logs(
                &tenant,
                &r.subject,
                &state,
                after.as_deref().unwrap_or(""),
                size + 1,
            )
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |l| key_of(&l.id), &query);
        // Only logs the caller may read are listed; each listing is logged.
        let mut visible = Vec::new();
        let mut access = Vec::new();
        for log in rows {
            let ctx = self.store.context(&log.tenant, &log.id).await?;
            let Some(ctx) = ctx else { continue };
            let Some(cap) = self.peers.capacity(&p, &ctx).await? else {
                continue;
            };
            let shown = if cap.may_read() {
                case_log_msg(&ctx.log, &[])
            } else if cap.is_gateway() {
                // Routing an external referral: which log, whose baton; no content.
                redacted_log_msg(&ctx.log)
            } else {
                continue;
            };
            access.push(access_row(
                &p,
                &cap,
                &ctx.log.tenant,
                &ctx.log.id,
                &ctx.log.name(),
                AccessAction::Read,
                "ListCaseLogs",
            ));
            visible.push(shown);
        }
        self.store.log_reads(&access).await?;
        Ok(ListCaseLogsResponse {
            case_logs: visible,
            next_page_token,
        })
    }

    async fn do_change_level(&self, req: Request<ChangeLevelRequest>) -> ApiResult<CaseLog> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let a = self.authorize(p, "name", &r.name).await?;
        require_holder(&a.cap)?;
        require_active(a.log())?;
        check_etag(&r.name, &r.etag, a.log().version)?;
        let mut v = Violations::new();
        let level = v.check("level", domain::level(r.level));
        v.text("reason", &r.reason, MAX_SHORT);
        v.finish()?;
        let level = level.expect("validated");
        if level.as_str_name() == a.log().level {
            return Err(ApiError::invalid("level", "is already the log's level"));
        }
        let mut log = a.updated_log();
        log.level = level.as_str_name().into();
        let change = LevelChangeRecord {
            tenant: log.tenant.clone(),
            case_log: log.id.clone(),
            id: new_id(),
            from_level: a.log().level.clone(),
            to_level: log.level.clone(),
            reason: r.reason.trim().into(),
            actor: a.p.label(),
            create_time: log.update_time,
        };
        let work = Work {
            ops: vec![
                Op::UpdateCaseLog(log.clone()),
                Op::InsertLevelChange(change),
            ],
            access: vec![a.access(&r.name, AccessAction::Update, "ChangeLevel")],
            events: vec![a.event(
                &r.name,
                &LevelChanged {
                    case_log: r.name.clone(),
                    from_level: enum_of(Level::from_str_name, &a.log().level),
                    to_level: level as i32,
                },
            )],
            ..Default::default()
        };
        self.commit(work).await?;
        Ok(case_log_msg(
            &CaseLogRecord {
                version: log.version + 1,
                ..log
            },
            &[],
        ))
    }

    async fn do_close(&self, req: Request<CloseCaseLogRequest>) -> ApiResult<CaseLog> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let a = self.authorize(p, "name", &r.name).await?;
        require_holder(&a.cap)?;
        require_active(a.log())?;
        check_etag(&r.name, &r.etag, a.log().version)?;
        let reason = match CloseReason::try_from(r.reason) {
            Ok(CloseReason::Unspecified) | Err(_) => {
                return Err(ApiError::invalid("reason", "required: a close reason"));
            }
            Ok(reason) => reason,
        };
        if r.note.chars().count() > MAX_TEXT {
            return Err(ApiError::invalid(
                "note",
                format!("at most {MAX_TEXT} characters"),
            ));
        }
        self.close(&a, reason, r.note.trim(), "CloseCaseLog").await
    }

    /// Closes the log; an open handover or transfer is withdrawn with it.
    async fn close(
        &self,
        a: &Authorized,
        reason: CloseReason,
        note: &str,
        method: &str,
    ) -> ApiResult<CaseLog> {
        let mut log = a.updated_log();
        log.state = CaseLogState::Closed.as_str_name().into();
        log.close_reason = reason.as_str_name().into();
        log.close_time = Some(log.update_time);
        log.pending_handover.clear();
        log.pending_transfer.clear();
        let mut ops = vec![Op::UpdateCaseLog(log.clone())];
        if let Some(h) = &a.ctx.pending_handover {
            ops.push(Op::UpdateHandover {
                record: HandoverRecord {
                    state: HandoverState::Withdrawn.as_str_name().into(),
                    decide_time: Some(log.update_time),
                    ..h.clone()
                },
                from_state: HandoverState::Offered.as_str_name().into(),
            });
        }
        if !note.is_empty() {
            ops.push(Op::InsertEntry(EntryRecord {
                tenant: log.tenant.clone(),
                case_log: log.id.clone(),
                id: new_id(),
                kind: EntryKind::Note.as_str_name().into(),
                text: note.into(),
                corrects: String::new(),
                author: subject_of(&a.p),
                author_unit: a.cap.unit.clone(),
                create_time: log.update_time,
            }));
        }
        let name = log.name();
        let work = Work {
            ops,
            access: vec![a.access(&name, AccessAction::Update, method)],
            events: vec![a.event(
                &name,
                &CaseLogClosed {
                    case_log: name.clone(),
                    reason: reason as i32,
                    holder: log.holder.clone(),
                },
            )],
            ..Default::default()
        };
        self.commit(work).await?;
        Ok(case_log_msg(
            &CaseLogRecord {
                version: log.version + 1,
                ..log
            },
            &[],
        ))
    }

    async fn do_create_entry(&self, req: Request<CreateEntryRequest>) -> ApiResult<Entry> {
        let p = principal(&req)?;
        let idem = Idem::of(&req.get_ref().request_id, req.get_ref())?;
        let r = req.into_inner();
        let a = self.authorize(p, "parent", &r.parent).await?;
        require_write(&a.cap)?;
        require_active(a.log())?;
        let e = r
            .entry
            .ok_or_else(|| ApiError::invalid("entry", "required"))?;
        let mut v = Violations::new();
        let kind = v.check("entry.kind", domain::entry_kind(e.kind));
        v.text("entry.text", &e.text, MAX_TEXT);
        let corrects = if e.corrects.is_empty() {
            String::new()
        } else {
            match Self::log_of("entry.corrects", &e.corrects, ENTRY_PATTERN) {
                Ok((log, id)) if log == r.parent => id,
                _ => {
                    v.add("entry.corrects", "must be an entry of this relay log");
                    String::new()
                }
            }
        };
        v.finish()?;
        let record = EntryRecord {
            tenant: a.log().tenant.clone(),
            case_log: a.log().id.clone(),
            id: new_id(),
            kind: kind.expect("validated").as_str_name().into(),
            text: e.text.trim().to_string(),
            corrects,
            author: subject_of(&a.p),
            author_unit: a.cap.unit.clone(),
            create_time: now(),
        };
        let name = a.child("entries", &record.id);
        let work = Work {
            idem: Some(("CreateEntry".into(), idem, name.clone())),
            ops: vec![a.touch(), Op::InsertEntry(record.clone())],
            access: vec![a.access(&name, AccessAction::Create, "CreateEntry")],
            events: vec![a.event(
                &name,
                &EntryAppended {
                    entry: name.clone(),
                    kind: e.kind,
                    corrects: e.corrects.clone(),
                    author_unit: record.author_unit.clone(),
                },
            )],
        };
        match self.commit(work).await? {
            Applied::Done => Ok(entry_msg(&record)),
            Applied::Replay(existing) => {
                let (_, id) = Self::log_of("name", &existing, ENTRY_PATTERN)?;
                let access = a.access(&existing, AccessAction::Read, "CreateEntry (retry)");
                let found = self
                    .store
                    .entry(&a.log().tenant, &a.log().id, &id, &access)
                    .await?;
                found
                    .map(|e| entry_msg(&e))
                    .ok_or(ApiError::NotFound(existing))
            }
        }
    }

    async fn do_get_entry(&self, req: Request<GetEntryRequest>) -> ApiResult<Entry> {
        let p = principal(&req)?;
        let name = req.into_inner().name;
        let (log, id) = Self::log_of("name", &name, ENTRY_PATTERN)?;
        let a = self.authorize(p, "name", &log).await?;
        require_read(&a.cap)?;
        let access = a.access(&name, AccessAction::Read, "GetEntry");
        let found = self
            .store
            .entry(&a.log().tenant, &a.log().id, &id, &access)
            .await?;
        found.map(|e| entry_msg(&e)).ok_or(ApiError::NotFound(name))
    }
}

/// Shared shape of the list methods: authorize a read of the parent log,
/// decode the page, read with the access row, encode the next page.
macro_rules! list {
    ($self:ident, $req:ident, $method:literal, |$a:ident, $parent:ident, $after:ident, $limit:ident| $read:expr, $key:expr, $msg:expr) => {{
        let p = principal(&$req)?;
        let r = $req.into_inner();
        let $a = $self.authorize(p, "parent", &r.parent).await?;
        require_read(&$a.cap)?;
        let query = [$method, r.parent.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after_token = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let $after = after_token.as_deref().unwrap_or("");
        let $limit = size + 1;
        let $parent = r.parent.as_str();
        let rows = $read;
        let (rows, next) = paginate(rows, size, $key, &query);
        (rows.iter().map($msg).collect::<Vec<_>>(), next)
    }};
}

impl CaseLogApi {
    async fn do_list_entries(
        &self,
        req: Request<ListEntriesRequest>,
    ) -> ApiResult<ListEntriesResponse> {
        let (entries, next_page_token) = list!(
            self,
            req,
            "ListEntries",
            |a, parent, after, limit| {
                let access = a.access(parent, AccessAction::Read, "ListEntries");
                self.store
                    .entries(
                        &a.log().tenant,
                        &a.log().id,
                        after,
                        limit,
                        Order::Newest,
                        &access,
                    )
                    .await?
            },
            |e| key_of(&e.id),
            entry_msg
        );
        Ok(ListEntriesResponse {
            entries,
            next_page_token,
        })
    }

    async fn do_list_level_changes(
        &self,
        req: Request<ListLevelChangesRequest>,
    ) -> ApiResult<ListLevelChangesResponse> {
        let (level_changes, next_page_token) = list!(
            self,
            req,
            "ListLevelChanges",
            |a, parent, after, limit| {
                let access = a.access(parent, AccessAction::Read, "ListLevelChanges");
                self.store
                    .level_changes(&a.log().tenant, &a.log().id, after, limit, &access)
                    .await?
            },
            |l| key_of(&l.id),
            level_change_msg
        );
        Ok(ListLevelChangesResponse {
            level_changes,
            next_page_token,
        })
    }

    async fn do_list_goals(&self, req: Request<ListGoalsRequest>) -> ApiResult<ListGoalsResponse> {
        let (goals, next_page_token) = list!(
            self,
            req,
            "ListGoals",
            |a, parent, after, limit| {
                let access = a.access(parent, AccessAction::Read, "ListGoals");
                self.store
                    .goals(&a.log().tenant, &a.log().id, after, limit, &access)
                    .await?
            },
            |g| key_of(&g.id),
            goal_msg
        );
        Ok(ListGoalsResponse {
            goals,
            next_page_token,
        })
    }

    async fn do_list_measures(
        &self,
        req: Request<ListMeasuresRequest>,
    ) -> ApiResult<ListMeasuresResponse> {
        let (measures, next_page_token) = list!(
            self,
            req,
            "ListMeasures",
            |a, parent, after, limit| {
                let access = a.access(parent, AccessAction::Read, "ListMeasures");
                self.store
                    .measures(&a.log().tenant, &a.log().id, after, limit, &access)
                    .await?
            },
            |m| key_of(&m.id),
            measure_msg
        );
        Ok(ListMeasuresResponse {
            measures,
            next_page_token,
        })
    }

    async fn do_list_participants(
        &self,
        req: Request<ListParticipantsRequest>,
    ) -> ApiResult<ListParticipantsResponse> {
        let show_removed = req.get_ref().show_removed;
        let (participants, next_page_token) = list!(
            self,
            req,
            "ListParticipants",
            |a, parent, after, limit| {
                let access = a.access(parent, AccessAction::Read, "ListParticipants");
                self.store
                    .participants(&a.log().tenant, &a.log().id, after, limit, &access)
                    .await?
            },
            |p| key_of(&p.id),
            participant_msg
        );
        let participants = participants
            .into_iter()
            .filter(|p| show_removed || p.remove_time.is_none())
            .collect();
        Ok(ListParticipantsResponse {
            participants,
            next_page_token,
        })
    }

    async fn do_list_handovers(
        &self,
        req: Request<ListHandoversRequest>,
    ) -> ApiResult<ListHandoversResponse> {
        let (handovers, next_page_token) = list!(
            self,
            req,
            "ListHandovers",
            |a, parent, after, limit| {
                let access = a.access(parent, AccessAction::Read, "ListHandovers");
                self.store
                    .handovers(&a.log().tenant, &a.log().id, after, limit, &access)
                    .await?
            },
            |h| key_of(&h.id),
            handover_msg
        );
        Ok(ListHandoversResponse {
            handovers,
            next_page_token,
        })
    }

    async fn do_list_transfers(
        &self,
        req: Request<ListTransfersRequest>,
    ) -> ApiResult<ListTransfersResponse> {
        let (transfers, next_page_token) = list!(
            self,
            req,
            "ListTransfers",
            |a, parent, after, limit| {
                let access = a.access(parent, AccessAction::Read, "ListTransfers");
                self.store
                    .transfers(&a.log().tenant, &a.log().id, after, limit, &access)
                    .await?
            },
            |t| key_of(&t.id),
            transfer_msg
        );
        Ok(ListTransfersResponse {
            transfers,
            next_page_token,
        })
    }

    async fn do_list_access(
        &self,
        req: Request<ListAccessLogEntriesRequest>,
    ) -> ApiResult<ListAccessLogEntriesResponse> {
        let (access_log_entries, next_page_token) = list!(
            self,
            req,
            "ListAccessLogEntries",
            |a, parent, after, limit| {
                let access = a.access(
                    &format!("{parent}/accessLogEntries"),
                    AccessAction::Read,
                    "ListAccessLogEntries",
                );
                self.store
                    .access_log(
                        &a.log().tenant,
                        &a.log().id,
                        after,
                        limit,
                        a.cap.is_family(),
                        &access,
                    )
                    .await?
            },
            |x| key_of(&x.id),
            access_msg
        );
        Ok(ListAccessLogEntriesResponse {
            access_log_entries,
            next_page_token,
        })
    }

    async fn do_list_evaluations(
        &self,
        req: Request<ListEvaluationsRequest>,
    ) -> ApiResult<ListEvaluationsResponse> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let (log, measure) = Self::log_of("parent", &r.parent, MEASURE_PATTERN)?;
        let a = self.authorize(p, "parent", &log).await?;
        require_read(&a.cap)?;
        let query = ["ListEvaluations", r.parent.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let access = a.access(&r.parent, AccessAction::Read, "ListEvaluations");
        let rows = self
            .store
            .evaluations(
                &a.log().tenant,
                &a.log().id,
                &measure,
                after.as_deref().unwrap_or(""),
                size + 1,
                &access,
            )
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |e| key_of(&e.id), &query);
        Ok(ListEvaluationsResponse {
            evaluations: rows.iter().map(evaluation_msg).collect(),
            next_page_token,
        })
    }

    async fn do_create_goal(&self, req: Request<CreateGoalRequest>) -> ApiResult<Goal> {
        let p = principal(&req)?;
        let idem = Idem::of(&req.get_ref().request_id, req.get_ref())?;
        let r = req.into_inner();
        let a = self.authorize(p, "parent", &r.parent).await?;
        require_write(&a.cap)?;
        require_active(a.log())?;
        let g = r
            .goal
            .ok_or_else(|| ApiError::invalid("goal", "required"))?;
        let mut v = Violations::new();
        v.text("goal.description", &g.description, MAX_SHORT);
        v.finish()?;
        let t = now();
        let record = GoalRecord {
            tenant: a.log().tenant.clone(),
            case_log: a.log().id.clone(),
            id: new_id(),
            description: g.description.trim().into(),
            achieved: g.achieved,
            version: 1,
            create_time: t,
            update_time: t,
        };
        let name = a.child("goals", &record.id);
        let applied = self
            .commit(Work {
                idem: Some(("CreateGoal".into(), idem, name.clone())),
                ops: vec![a.touch(), Op::InsertGoal(record.clone())],
                access: vec![a.access(&name, AccessAction::Create, "CreateGoal")],
                events: vec![a.event(&name, &GoalChanged { goal: name.clone() })],
            })
            .await?;
        if let Applied::Replay(existing) = applied {
            return self.replay_goal(&a, &existing).await;
        }
        Ok(goal_msg(&record))
    }

    async fn do_update_goal(&self, req: Request<UpdateGoalRequest>) -> ApiResult<Goal> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let g = r
            .goal
            .ok_or_else(|| ApiError::invalid("goal", "required"))?;
        let (log, id) = Self::log_of("goal.name", &g.name, GOAL_PATTERN)?;
        let paths = update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &["description", "achieved"],
        )?;
        let a = self.authorize(p, "goal.name", &log).await?;
        require_write(&a.cap)?;
        require_active(a.log())?;
        let mut record = self
            .store
            .goal(&a.log().tenant, &a.log().id, &id)
            .await?
            .ok_or_else(|| ApiError::NotFound(g.name.clone()))?;
        check_etag(&g.name, &g.etag, record.version)?;
        for path in &paths {
            match path.as_str() {
                "description" => {
                    let mut v = Violations::new();
                    v.text("goal.description", &g.description, MAX_SHORT);
                    v.finish()?;
                    record.description = g.description.trim().into();
                }
                _ => record.achieved = g.achieved,
            }
        }
        record.update_time = now();
        self.commit(Work {
            ops: vec![a.touch(), Op::UpdateGoal(record.clone())],
            access: vec![a.access(&g.name, AccessAction::Update, "UpdateGoal")],
            events: vec![a.event(
                &g.name,
                &GoalChanged {
                    goal: g.name.clone(),
                },
            )],
            ..Default::default()
        })
        .await?;
        Ok(goal_msg(&GoalRecord {
            version: record.version + 1,
            ..record
        }))
    }

    async fn do_create_measure(&self, req: Request<CreateMeasureRequest>) -> ApiResult<Measure> {
        let p = principal(&req)?;
        let idem = Idem::of(&req.get_ref().request_id, req.get_ref())?;
        let r = req.into_inner();
        let a = self.authorize(p, "parent", &r.parent).await?;
        require_write(&a.cap)?;
        require_active(a.log())?;
        let m = r
            .measure
            .ok_or_else(|| ApiError::invalid("measure", "required"))?;
        let mut v = Violations::new();
        v.text("measure.description", &m.description, MAX_SHORT);
        v.text(
            "measure.responsible_professional",
            &m.responsible_professional,
            200,
        );
        let start = v.check(
            "measure.start_date",
            parse_date("measure.start_date", m.start_date.as_ref())
                .map_err(|_| "required: a valid date".to_string()),
        );
        let by = v.check(
            "measure.evaluate_by_date",
            parse_date("measure.evaluate_by_date", m.evaluate_by_date.as_ref())
                .map_err(|_| "required: a valid date".to_string()),
        );
        if let (Some(s), Some(b)) = (start, by)
            && b < s
        {
            v.add("measure.evaluate_by_date", "must not be before start_date");
        }
        let goal = if m.goal.is_empty() {
            String::new()
        } else {
            match Self::log_of("measure.goal", &m.goal, GOAL_PATTERN) {
                Ok((log, id)) if log == r.parent => id,
                _ => {
                    v.add("measure.goal", "must be a goal of this relay log");
                    String::new()
                }
            }
        };
        v.finish()?;
        same_tenant_unit(
            "measure.responsible_unit",
            &a.log().tenant,
            &m.responsible_unit,
        )?;
        if !goal.is_empty()
            && self
                .store
                .goal(&a.log().tenant, &a.log().id, &goal)
                .await?
                .is_none()
        {
            return Err(ApiError::invalid(
                "measure.goal",
                "must be a goal of this relay log",
            ));
        }
        self.consent_covers(
            &a.log().subject,
            &m.responsible_unit,
            "measure.responsible_unit",
        )
        .await?;
        let t = now();
        let record = MeasureRecord {
            tenant: a.log().tenant.clone(),
            case_log: a.log().id.clone(),
            id: new_id(),
            description: m.description.trim().into(),
            goal,
            responsible_unit: m.responsible_unit.clone(),
            responsible_professional: m.responsible_professional.trim().into(),
            start_date: start.expect("validated"),
            evaluate_by_date: by.expect("validated"),
            state: MeasureState::Active.as_str_name().into(),
            version: 1,
            create_time: t,
            update_time: t,
        };
        let name = a.child("measures", &record.id);
        let applied = self
            .commit(Work {
                idem: Some(("CreateMeasure".into(), idem, name.clone())),
                ops: vec![a.touch(), Op::InsertMeasure(record.clone())],
                access: vec![a.access(&name, AccessAction::Create, "CreateMeasure")],
                events: vec![a.event(
                    &name,
                    &MeasureChanged {
                        measure: name.clone(),
                        responsible_unit: record.responsible_unit.clone(),
                        state: MeasureState::Active as i32,
                        evaluate_by_date: date(record.evaluate_by_date),
                        responsible_professional: record.responsible_professional.clone(),
                    },
                )],
            })
            .await?;
        if let Applied::Replay(existing) = applied {
            return self.replay_measure(&a, &existing).await;
        }
        Ok(measure_msg(&record))
    }

    async fn do_get_measure(&self, req: Request<GetMeasureRequest>) -> ApiResult<Measure> {
        let p = principal(&req)?;
        let name = req.into_inner().name;
        let (log, id) = Self::log_of("name", &name, MEASURE_PATTERN)?;
        let a = self.authorize(p, "name", &log).await?;
        require_read(&a.cap)?;
        let record = self
            .store
            .measure(&a.log().tenant, &a.log().id, &id)
            .await?
            .ok_or_else(|| ApiError::NotFound(name.clone()))?;
        self.store
            .log_reads(&[a.access(&name, AccessAction::Read, "GetMeasure")])
            .await?;
        Ok(measure_msg(&record))
    }

    async fn do_update_measure(&self, req: Request<UpdateMeasureRequest>) -> ApiResult<Measure> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let m = r
            .measure
            .ok_or_else(|| ApiError::invalid("measure", "required"))?;
        let (log, id) = Self::log_of("measure.name", &m.name, MEASURE_PATTERN)?;
        let paths = update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &[
                "description",
                "responsible_unit",
                "responsible_professional",
                "evaluate_by_date",
                "state",
            ],
        )?;
        let a = self.authorize(p, "measure.name", &log).await?;
        require_write(&a.cap)?;
        require_active(a.log())?;
        let mut record = self
            .store
            .measure(&a.log().tenant, &a.log().id, &id)
            .await?
            .ok_or_else(|| ApiError::NotFound(m.name.clone()))?;
        check_etag(&m.name, &m.etag, record.version)?;
        let mut v = Violations::new();
        for path in &paths {
            match path.as_str() {
                "description" => {
                    v.text("measure.description", &m.description, MAX_SHORT);
                    record.description = m.description.trim().into();
                }
                "responsible_unit" => {
                    same_tenant_unit(
                        "measure.responsible_unit",
                        &a.log().tenant,
                        &m.responsible_unit,
                    )?;
                    self.consent_covers(
                        &a.log().subject,
                        &m.responsible_unit,
                        "measure.responsible_unit",
                    )
                    .await?;
                    record.responsible_unit = m.responsible_unit.clone();
                }
                "responsible_professional" => {
                    v.text(
                        "measure.responsible_professional",
                        &m.responsible_professional,
                        200,
                    );
                    record.responsible_professional = m.responsible_professional.trim().into();
                }
                "evaluate_by_date" => {
                    match parse_date("measure.evaluate_by_date", m.evaluate_by_date.as_ref()) {
                        Ok(d) if d >= record.start_date => record.evaluate_by_date = d,
                        Ok(_) => v.add("measure.evaluate_by_date", "must not be before start_date"),
                        Err(_) => v.add("measure.evaluate_by_date", "required: a valid date"),
                    }
                }
                _ => match MeasureState::try_from(m.state) {
                    Ok(s @ (MeasureState::Active | MeasureState::Ended)) => {
                        record.state = s.as_str_name().into()
                    }
                    _ => v.add("measure.state", "must be ACTIVE or ENDED"),
                },
            }
        }
        v.finish()?;
        record.update_time = now();
        let state = enum_of(MeasureState::from_str_name, &record.state);
        self.commit(Work {
            ops: vec![a.touch(), Op::UpdateMeasure(record.clone())],
            access: vec![a.access(&m.name, AccessAction::Update, "UpdateMeasure")],
            events: vec![a.event(
                &m.name,
                &MeasureChanged {
                    measure: m.name.clone(),
                    responsible_unit: record.responsible_unit.clone(),
                    state,
                    evaluate_by_date: date(record.evaluate_by_date),
                    responsible_professional: record.responsible_professional.clone(),
                },
            )],
            ..Default::default()
        })
        .await?;
        Ok(measure_msg(&MeasureRecord {
            version: record.version + 1,
            ..record
        }))
    }

    async fn do_create_evaluation(
        &self,
        req: Request<CreateEvaluationRequest>,
    ) -> ApiResult<Evaluation> {
        let p = principal(&req)?;
        let idem = Idem::of(&req.get_ref().request_id, req.get_ref())?;
        let r = req.into_inner();
        let (log, measure_id) = Self::log_of("parent", &r.parent, MEASURE_PATTERN)?;
        let a = self.authorize(p, "parent", &log).await?;
        require_write(&a.cap)?;
        require_active(a.log())?;
        let e = r
            .evaluation
            .ok_or_else(|| ApiError::invalid("evaluation", "required"))?;
        let mut v = Violations::new();
        let decision = match EvaluationDecision::try_from(e.decision) {
            Ok(EvaluationDecision::Unspecified) | Err(_) => {
                v.add("evaluation.decision", "required: one of the four decisions");
                None
            }
            Ok(d) => Some(d),
        };
        let when = v.check(
            "evaluation.evaluation_date",
            parse_date("evaluation.evaluation_date", e.evaluation_date.as_ref())
                .map_err(|_| "required: a valid date".to_string()),
        );
        if e.child_experience.chars().count() > MAX_TEXT {
            v.add(
                "evaluation.child_experience",
                format!("at most {MAX_TEXT} characters"),
            );
        }
        if e.summary.chars().count() > MAX_TEXT {
            v.add(
                "evaluation.summary",
                format!("at most {MAX_TEXT} characters"),
            );
        }
        v.finish()?;
        let measure = self
            .store
            .measure(&a.log().tenant, &a.log().id, &measure_id)
            .await?
            .ok_or_else(|| ApiError::NotFound(r.parent.clone()))?;
        let decision = decision.expect("validated");
        let t = now();
        let record = EvaluationRecord {
            tenant: a.log().tenant.clone(),
            case_log: a.log().id.clone(),
            measure: measure_id,
            id: new_id(),
            decision: decision.as_str_name().into(),
            child_experience: e.child_experience.trim().into(),
            summary: e.summary.trim().into(),
            evaluation_date: when.expect("validated"),
            author: subject_of(&a.p),
            create_time: t,
        };
        let name = format!("{}/evaluations/{}", r.parent, record.id);
        let mut ops = vec![a.touch(), Op::InsertEvaluation(record.clone())];
        // "End the measure" ends it; the other decisions keep it running.
        if decision == EvaluationDecision::EndMeasure
            && measure.state == MeasureState::Active.as_str_name()
        {
            ops.push(Op::UpdateMeasure(MeasureRecord {
                state: MeasureState::Ended.as_str_name().into(),
                update_time: t,
                ..measure
            }));
        }
        let applied = self
            .commit(Work {
                idem: Some(("CreateEvaluation".into(), idem, name.clone())),
                ops,
                access: vec![a.access(&name, AccessAction::Create, "CreateEvaluation")],
                events: vec![a.event(
                    &name,
                    &EvaluationRecorded {
                        evaluation: name.clone(),
                        decision: decision as i32,
                        measure: r.parent.clone(),
                    },
                )],
            })
            .await?;
        if let Applied::Replay(existing) = applied {
            return self.replay_evaluation(&a, &existing).await;
        }
        Ok(evaluation_msg(&record))
    }

    async fn do_create_participant(
        &self,
        req: Request<CreateParticipantRequest>,
    ) -> ApiResult<Participant> {
        let p = principal(&req)?;
        let idem = Idem::of(&req.get_ref().request_id, req.get_ref())?;
        let r = req.into_inner();
        let a = self.authorize(p, "parent", &r.parent).await?;
        require_holder(&a.cap)?;
        require_active(a.log())?;
        let part = r
            .participant
            .ok_or_else(|| ApiError::invalid("participant", "required"))?;
        same_tenant_unit("participant.unit", &a.log().tenant, &part.unit)?;
        if part.tasks.chars().count() > MAX_SHORT {
            return Err(ApiError::invalid(
                "participant.tasks",
                format!("at most {MAX_SHORT} characters"),
            ));
        }
        self.consent_covers(&a.log().subject, &part.unit, "participant.unit")
            .await?;
        let record = ParticipantRecord {
            tenant: a.log().tenant.clone(),
            case_log: a.log().id.clone(),
            id: new_id(),
            unit: part.unit.clone(),
            professional: part.professional.trim().into(),
            tasks: part.tasks.trim().into(),
            removed: false,
            remove_time: None,
            version: 1,
            create_time: now(),
        };
        let name = a.child("participants", &record.id);
        let applied = self
            .commit(Work {
                idem: Some(("CreateParticipant".into(), idem, name.clone())),
                ops: vec![a.touch(), Op::InsertParticipant(record.clone())],
                access: vec![a.access(&name, AccessAction::Create, "CreateParticipant")],
                events: vec![a.event(
                    &name,
                    &ParticipantChanged {
                        participant: name.clone(),
                        unit: record.unit.clone(),
                        removed: false,
                        professional: record.professional.clone(),
                    },
                )],
            })
            .await?;
        if let Applied::Replay(existing) = applied {
            return self.replay_participant(&a, &existing).await;
        }
        Ok(participant_msg(&record))
    }

    async fn change_participant(
        &self,
        p: Principal,
        name: &str,
        etag_sent: &str,
        change: impl FnOnce(&mut ParticipantRecord),
        method: &str,
    ) -> ApiResult<Participant> {
        let (log, id) = Self::log_of("name", name, PARTICIPANT_PATTERN)?;
        let a = self.authorize(p, "name", &log).await?;
        require_holder(&a.cap)?;
        require_active(a.log())?;
        let mut record = self
            .store
            .participant(&a.log().tenant, &a.log().id, &id)
            .await?
            .filter(|p| !p.removed)
            .ok_or_else(|| ApiError::NotFound(name.to_string()))?;
        check_etag(name, etag_sent, record.version)?;
        change(&mut record);
        self.commit(Work {
            ops: vec![a.touch(), Op::UpdateParticipant(record.clone())],
            access: vec![a.access(name, AccessAction::Update, method)],
            events: vec![a.event(
                name,
                &ParticipantChanged {
                    participant: name.to_string(),
                    unit: record.unit.clone(),
                    removed: record.removed,
                    professional: record.professional.clone(),
                },
            )],
            ..Default::default()
        })
        .await?;
        Ok(participant_msg(&ParticipantRecord {
            version: record.version + 1,
            ..record
        }))
    }

    async fn do_create_handover(&self, req: Request<CreateHandoverRequest>) -> ApiResult<Handover> {
        let p = principal(&req)?;
        let idem = Idem::of(&req.get_ref().request_id, req.get_ref())?;
        let r = req.into_inner();
        let a = self.authorize(p, "parent", &r.parent).await?;
        require_holder(&a.cap)?;
        if let Some(existing) = self.store.replayed("CreateHandover", &idem).await? {
            return self.replay_handover(&a, &existing).await;
        }
        require_active(a.log())?;
        let h = r
            .handover
            .ok_or_else(|| ApiError::invalid("handover", "required"))?;
        let mut v = Violations::new();
        v.text("handover.to_professional", &h.to_professional, 200);
        if h.message.chars().count() > MAX_SHORT {
            v.add(
                "handover.message",
                format!("at most {MAX_SHORT} characters"),
            );
        }
        v.finish()?;
        same_tenant_unit("handover.to_unit", &a.log().tenant, &h.to_unit)?;
        if h.to_professional.trim() == a.log().holder && h.to_unit == a.log().holder_unit {
            return Err(ApiError::invalid(
                "handover.to_professional",
                "already holds the baton",
            ));
        }
        if !a.log().pending_handover.is_empty() {
            return Err(ApiError::precondition(
                "HANDOVER_PENDING",
                a.child("handovers", &a.log().pending_handover),
                "an offer is open; withdraw it first",
            ));
        }
        self.consent_covers(&a.log().subject, &h.to_unit, "handover.to_unit")
            .await?;
        let record = self.offer(
            &a,
            h.to_professional.trim(),
            &h.to_unit,
            h.message.trim(),
            "",
        );
        let name = a.child("handovers", &record.id);
        let mut log = a.updated_log();
        log.pending_handover = record.id.clone();
        let applied = self
            .commit(Work {
                idem: Some(("CreateHandover".into(), idem, name.clone())),
                ops: vec![Op::UpdateCaseLog(log), Op::InsertHandover(record.clone())],
                access: vec![a.access(&name, AccessAction::Create, "CreateHandover")],
                events: vec![self.offered_event(&a, &record)],
            })
            .await?;
        if let Applied::Replay(existing) = applied {
            return self.replay_handover(&a, &existing).await;
        }
        Ok(handover_msg(&record))
    }

    fn offer(
        &self,
        a: &Authorized,
        to: &str,
        unit: &str,
        message: &str,
        transfer: &str,
    ) -> HandoverRecord {
        HandoverRecord {
            tenant: a.log().tenant.clone(),
            case_log: a.log().id.clone(),
            id: new_id(),
            to_professional: to.into(),
            to_unit: unit.into(),
            from_professional: a.log().holder.clone(),
            message: message.into(),
            state: HandoverState::Offered.as_str_name().into(),
            transfer: transfer.into(),
            version: 1,
            create_time: now(),
            decide_time: None,
        }
    }

    fn offered_event(&self, a: &Authorized, h: &HandoverRecord) -> OutboxEvent {
        let name = a.child("handovers", &h.id);
        a.event(
            &name,
            &HandoverOffered {
                handover: name.clone(),
                to_professional: h.to_professional.clone(),
                to_unit: h.to_unit.clone(),
            },
        )
    }

    /// Accept, decline or withdraw the open offer `name`.
    async fn decide(
        &self,
        p: Principal,
        name: &str,
        etag_sent: &str,
        outcome: HandoverState,
    ) -> ApiResult<Handover> {
        let (log, id) = Self::log_of("name", name, HANDOVER_PATTERN)?;
        let a = self.authorize(p, "name", &log).await?;
        let h = a
            .ctx
            .pending_handover
            .clone()
            .filter(|h| h.id == id)
            .ok_or_else(|| {
                ApiError::precondition("HANDOVER_NOT_OPEN", name, "this offer is no longer open")
            })?;
        check_etag(name, etag_sent, h.version)?;
        require_active(a.log())?;
        match outcome {
            HandoverState::Withdrawn => require_holder(&a.cap)?,
            _ if a.cap.acting_as != ActingAs::HandoverRecipient => {
                return Err(ApiError::PermissionDenied(
                    "only the professional offered the baton may answer".into(),
                ));
            }
            _ => {}
        }
        let t = now();
        let decided = HandoverRecord {
            state: outcome.as_str_name().into(),
            decide_time: Some(t),
            ..h.clone()
        };
        let mut log = a.updated_log();
        log.pending_handover.clear();
        let mut ops = vec![Op::UpdateHandover {
            record: decided.clone(),
            from_state: HandoverState::Offered.as_str_name().into(),
        }];
        let mut events = vec![a.event(
            name,
            &HandoverDecided {
                handover: name.to_string(),
                state: outcome as i32,
                to_professional: h.to_professional.clone(),
                from_professional: h.from_professional.clone(),
            },
        )];
        let transfer = if h.transfer.is_empty() {
            None
        } else {
            self.store
                .transfer(&log.tenant, &log.id, &h.transfer)
                .await?
        };
        if outcome == HandoverState::Accepted {
            log.holder = h.to_professional.clone();
            log.holder_unit = h.to_unit.clone();
            log.holder_since = t;
            ops.push(Op::InsertHolder {
                tenant: log.tenant.clone(),
                case_log: log.id.clone(),
                professional: h.to_professional.clone(),
                unit: h.to_unit.clone(),
                since: t,
            });
            events.push(a.event(
                &log.name(),
                &BatonPassed {
                    case_log: log.name(),
                    from_professional: a.log().holder.clone(),
                    to_professional: h.to_professional.clone(),
                    to_unit: h.to_unit.clone(),
                    reassigned: false,
                    former_holder_stays: false,
                },
            ));
        }
        if let Some(tr) = transfer {
            // A transfer completes when its handover is accepted; otherwise it ends with the offer.
            let state = if outcome == HandoverState::Accepted {
                log.unit = tr.to_unit.clone();
                TransferState::Completed
            } else {
                TransferState::Cancelled
            };
            log.pending_transfer.clear();
            let tname = a.child("transfers", &tr.id);
            events.push(a.event(
                &tname,
                &TransferChanged {
                    transfer: tname.clone(),
                    to_unit: tr.to_unit.clone(),
                    state: state as i32,
                    to_professional: tr.to_professional.clone(),
                },
            ));
            ops.push(Op::UpdateTransfer {
                record: TransferRecord {
                    state: state.as_str_name().into(),
                    decide_time: Some(t),
                    ..tr
                },
                from_state: TransferState::Pending.as_str_name().into(),
            });
        }
        ops.insert(0, Op::UpdateCaseLog(log));
        let method = match outcome {
            HandoverState::Accepted => "AcceptHandover",
            HandoverState::Declined => "DeclineHandover",
            _ => "WithdrawHandover",
        };
        self.commit(Work {
            ops,
            access: vec![a.access(name, AccessAction::Update, method)],
            events,
            ..Default::default()
        })
        .await
        .map_err(|e| match e {
            // The loser of a race sees why, not a bare version conflict.
            ApiError::EtagMismatch(_) => ApiError::Aborted(format!(
                "{name}: the log changed concurrently; read it again"
            )),
            other => other,
        })?;
        Ok(handover_msg(&HandoverRecord {
            version: decided.version + 1,
            ..decided
        }))
    }

    async fn do_reassign(&self, req: Request<ReassignBatonRequest>) -> ApiResult<CaseLog> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let a = self.authorize(p, "name", &r.name).await?;
        if !(a.p.has_role(Role::UnitLeader)
            && (a.p.works_in(&a.log().unit) || a.p.works_in(&a.log().holder_unit)))
        {
            return Err(ApiError::PermissionDenied(
                "a leader of the log's unit reassigns the baton".into(),
            ));
        }
        require_active(a.log())?;
        check_etag(&r.name, &r.etag, a.log().version)?;
        let mut v = Violations::new();
        v.text("to_professional", &r.to_professional, 200);
        v.text("reason", &r.reason, MAX_SHORT);
        v.finish()?;
        same_tenant_unit("to_unit", &a.log().tenant, &r.to_unit)?;
        let absent = self
            .peers
            .directory
            .member_absent(&a.log().holder_unit, &a.log().holder)
            .await?;
        if absent != Some(true) {
            return Err(ApiError::precondition(
                "HOLDER_NOT_ABSENT",
                r.name.clone(),
                "the baton is reassigned only while the holder is marked absent; otherwise offer a handover",
            ));
        }
        self.consent_covers(&a.log().subject, &r.to_unit, "to_unit")
            .await?;
        let t = now();
        let mut log = a.updated_log();
        log.holder = r.to_professional.trim().into();
        log.holder_unit = r.to_unit.clone();
        log.holder_since = t;
        log.pending_handover.clear();
        let mut ops = vec![
            Op::UpdateCaseLog(log.clone()),
            Op::InsertHolder {
                tenant: log.tenant.clone(),
                case_log: log.id.clone(),
                professional: log.holder.clone(),
                unit: log.holder_unit.clone(),
                since: t,
            },
            Op::InsertEntry(EntryRecord {
                tenant: log.tenant.clone(),
                case_log: log.id.clone(),
                id: new_id(),
                kind: EntryKind::Note.as_str_name().into(),
                text: format!("Stafetten er overført av einingsleiar: {}", r.reason.trim()),
                corrects: String::new(),
                author: subject_of(&a.p),
                author_unit: a.cap.unit.clone(),
                create_time: t,
            }),
        ];
        if let Some(h) = &a.ctx.pending_handover {
            ops.push(Op::UpdateHandover {
                record: HandoverRecord {
                    state: HandoverState::Withdrawn.as_str_name().into(),
                    decide_time: Some(t),
                    ..h.clone()
                },
                from_state: HandoverState::Offered.as_str_name().into(),
            });
        }
        self.commit(Work {
            ops,
            access: vec![a.access(&r.name, AccessAction::Update, "ReassignBaton")],
            events: vec![a.event(
                &r.name,
                &BatonPassed {
                    case_log: r.name.clone(),
                    from_professional: a.log().holder.clone(),
                    to_professional: log.holder.clone(),
                    to_unit: log.holder_unit.clone(),
                    reassigned: true,
                    former_holder_stays: false,
                },
            )],
            ..Default::default()
        })
        .await?;
        Ok(case_log_msg(
            &CaseLogRecord {
                version: log.version + 1,
                ..log
            },
            &[],
        ))
    }

    async fn do_create_transfer(&self, req: Request<CreateTransferRequest>) -> ApiResult<Transfer> {
        let p = principal(&req)?;
        let idem = Idem::of(&req.get_ref().request_id, req.get_ref())?;
        let r = req.into_inner();
        let a = self.authorize(p, "parent", &r.parent).await?;
        require_holder(&a.cap)?;
        if let Some(existing) = self.store.replayed("CreateTransfer", &idem).await? {
            return self.replay_transfer(&a, &existing).await;
        }
        require_active(a.log())?;
        let tr = r
            .transfer
            .ok_or_else(|| ApiError::invalid("transfer", "required"))?;
        let mut v = Violations::new();
        v.text("transfer.to_professional", &tr.to_professional, 200);
        let reason = match TransferReason::try_from(tr.reason) {
            Ok(TransferReason::Unspecified) | Err(_) => {
                v.add("transfer.reason", "required");
                None
            }
            Ok(x) => Some(x),
        };
        if reason == Some(TransferReason::Other) && tr.note.trim().is_empty() {
            v.add("transfer.note", "required with reason OTHER");
        }
        v.finish()?;
        same_tenant_unit("transfer.to_unit", &a.log().tenant, &tr.to_unit)?;
        if tr.to_unit == a.log().unit {
            return Err(ApiError::invalid(
                "transfer.to_unit",
                "the log already belongs to this unit",
            ));
        }
        if !a.log().pending_handover.is_empty() {
            return Err(ApiError::precondition(
                "HANDOVER_PENDING",
                r.parent.clone(),
                "an offer is open; withdraw it first",
            ));
        }
        self.consent_covers(&a.log().subject, &tr.to_unit, "transfer.to_unit")
            .await?;
        let t = now();
        let transfer_id = new_id();
        let handover = self.offer(
            &a,
            tr.to_professional.trim(),
            &tr.to_unit,
            tr.note.trim(),
            &transfer_id,
        );
        let record = TransferRecord {
            tenant: a.log().tenant.clone(),
            case_log: a.log().id.clone(),
            id: transfer_id,
            to_unit: tr.to_unit.clone(),
            to_professional: tr.to_professional.trim().into(),
            reason: reason.expect("validated").as_str_name().into(),
            note: tr.note.trim().into(),
            state: TransferState::Pending.as_str_name().into(),
            handover: handover.id.clone(),
            create_time: t,
            decide_time: None,
        };
        let mut log = a.updated_log();
        log.pending_handover = handover.id.clone();
        log.pending_transfer = record.id.clone();
        let name = a.child("transfers", &record.id);
        let applied = self
            .commit(Work {
                idem: Some(("CreateTransfer".into(), idem, name.clone())),
                ops: vec![
                    Op::UpdateCaseLog(log),
                    Op::InsertTransfer(record.clone()),
                    Op::InsertHandover(handover.clone()),
                ],
                access: vec![a.access(&name, AccessAction::Create, "CreateTransfer")],
                events: vec![
                    a.event(
                        &name,
                        &TransferChanged {
                            transfer: name.clone(),
                            to_unit: record.to_unit.clone(),
                            state: TransferState::Pending as i32,
                            to_professional: record.to_professional.clone(),
                        },
                    ),
                    self.offered_event(&a, &handover),
                ],
            })
            .await?;
        if let Applied::Replay(existing) = applied {
            return self.replay_transfer(&a, &existing).await;
        }
        Ok(transfer_msg(&record))
    }

    async fn do_cancel_transfer(&self, req: Request<CancelTransferRequest>) -> ApiResult<Transfer> {
        let p = principal(&req)?;
        let name = req.into_inner().name;
        let (log, id) = Self::log_of("name", &name, TRANSFER_PATTERN)?;
        let a = self.authorize(p.clone(), "name", &log).await?;
        require_holder(&a.cap)?;
        if a.log().pending_transfer != id {
            return Err(ApiError::precondition(
                "TRANSFER_NOT_PENDING",
                &name,
                "this transfer is not pending",
            ));
        }
        let handover = child_name(
            &a.log().tenant,
            &a.log().id,
            "handovers",
            &a.log().pending_handover,
        );
        self.decide(p, &handover, "", HandoverState::Withdrawn)
            .await?;
        let record = self
            .store
            .transfer(&a.log().tenant, &a.log().id, &id)
            .await?
            .ok_or_else(|| ApiError::NotFound(name.clone()))?;
        Ok(transfer_msg(&record))
    }

    async fn do_export(&self, req: Request<ExportCaseLogRequest>) -> ApiResult<CaseLogExport> {
        let p = principal(&req)?;
        let name = req.into_inner().name;
        let a = self.authorize(p, "name", &name).await?;
        require_read(&a.cap)?;
        let (tenant, id) = (a.log().tenant.clone(), a.log().id.clone());
        let row = |what: &str| {
            a.access(
                &format!("{name}/{what}"),
                AccessAction::Export,
                "ExportCaseLog",
            )
        };
        const ALL: i64 = i64::MAX;
        let (log, _) = self
            .store
            .read_log(&tenant, &id, 0, &row("caseLog"))
            .await?
            .ok_or_else(|| ApiError::NotFound(name.clone()))?;
        let export = CaseLogExport {
            case_log: Some(case_log_msg(&log, &[])),
            level_changes: self
                .store
                .level_changes(&tenant, &id, "", ALL, &row("levelChanges"))
                .await?
                .iter()
                .map(level_change_msg)
                .collect(),
            goals: self
                .store
                .goals(&tenant, &id, "", ALL, &row("goals"))
                .await?
                .iter()
                .map(goal_msg)
                .collect(),
            measures: self
                .store
                .measures(&tenant, &id, "", ALL, &row("measures"))
                .await?
                .iter()
                .map(measure_msg)
                .collect(),
            evaluations: self
                .store
                .evaluations(&tenant, &id, "", "", ALL, &row("evaluations"))
                .await?
                .iter()
                .map(evaluation_msg)
                .collect(),
            entries: self
                .store
                .entries(&tenant, &id, "", ALL, Order::Oldest, &row("entries"))
                .await?
                .iter()
                .map(entry_msg)
                .collect(),
            participants: self
                .store
                .participants(&tenant, &id, "", ALL, &row("participants"))
                .await?
                .iter()
                .map(participant_msg)
                .collect(),
            handovers: self
                .store
                .handovers(&tenant, &id, "", ALL, &row("handovers"))
                .await?
                .iter()
                .map(handover_msg)
                .collect(),
            transfers: self
                .store
                .transfers(&tenant, &id, "", ALL, &row("transfers"))
                .await?
                .iter()
                .map(transfer_msg)
                .collect(),
            referrals: self
                .store
                .referrals(
                    &tenant,
                    &id,
                    "",
                    ALL,
                    a.cap.sees_restricted(),
                    &row("referrals"),
                )
                .await?
                .iter()
                .map(referral_msg)
                .collect(),
            access_log: self
                .store
                .access_log(
                    &tenant,
                    &id,
                    "",
                    ALL,
                    a.cap.is_family(),
                    &row("accessLogEntries"),
                )
                .await?
                .iter()
                .map(access_msg)
                .collect(),
            export_time: Some(timestamp(now())),
        };
        Ok(export)
    }

    async fn do_overviews(
        &self,
        req: Request<ListCaseLogOverviewsRequest>,
    ) -> ApiResult<ListCaseLogOverviewsResponse> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let ids = parse_name("parent", &r.parent, UNIT_PATTERN)?;
        if !(p.is_tenant_role(ids[0], Role::UnitLeader) && p.works_in(&r.parent)) {
            return Err(ApiError::PermissionDenied(
                "the unit's leader follows up its relay logs".into(),
            ));
        }
        let query = ["ListCaseLogOverviews", r.parent.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let today = now().date_naive();
        let rows = self
            .store
            .overview(
                ids[0],
                &r.parent,
                today,
                after.as_deref().unwrap_or(""),
                size + 1,
            )
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |o| key_of(&o.id), &query);
        let mut overviews = Vec::with_capacity(rows.len());
        let mut access = Vec::with_capacity(rows.len());
        let cap = Capacity {
            acting_as: ActingAs::UnitLeader,
            unit: r.parent.clone(),
            basis: "oversight (unit leader)".into(),
        };
        for o in rows {
            let absent = self
                .peers
                .directory
                .member_absent(&o.holder_unit, &o.holder)
                .await?
                .unwrap_or(false);
            let name = case_log_name(ids[0], &o.id);
            access.push(access_row(
                &p,
                &cap,
                ids[0],
                &o.id,
                &name,
                AccessAction::Read,
                "ListCaseLogOverviews",
            ));
            overviews.push(CaseLogOverview {
                case_log: name,
                level: enum_of(Level::from_str_name, &o.level),
                age_days: (today - o.create_time.date_naive()).num_days() as i32,
                holder: Some(BatonHolder {
                    professional: o.holder,
                    unit: o.holder_unit,
                    since: Some(timestamp(o.holder_since)),
                }),
                holder_absent: absent,
                overdue_evaluations: o.overdue_evaluations as i32,
                last_activity_time: Some(timestamp(o.last_activity_time)),
            });
        }
        self.store.log_reads(&access).await?;
        Ok(ListCaseLogOverviewsResponse {
            overviews,
            next_page_token,
        })
    }

    async fn do_statistics(
        &self,
        req: Request<GetCaseLogStatisticsRequest>,
    ) -> ApiResult<CaseLogStatistics> {
        let p = principal(&req)?;
        let tenant = parse_name("parent", &req.get_ref().parent, TENANT_PATTERN)?[0].to_string();
        if !p.is_tenant_role(&tenant, Role::MunicipalAdmin) {
            return Err(ApiError::PermissionDenied(
                "statistics are for the municipal administrator".into(),
            ));
        }
        let (counts, closed) = self
            .store
            .statistics(&tenant, now() - chrono::Duration::days(365))
            .await?;
        Ok(CaseLogStatistics {
            counts: counts
                .into_iter()
                .map(|c| CaseLogCount {
                    unit: c.unit,
                    level: enum_of(Level::from_str_name, &c.level),
                    active: c.active as i32,
                    older_than_a_year: c.older_than_a_year as i32,
                })
                .collect(),
            closed_last_year: closed as i32,
        })
    }
}

impl CaseLogApi {
    async fn replay_goal(&self, a: &Authorized, existing: &str) -> ApiResult<Goal> {
        let (_, id) = Self::log_of("name", existing, GOAL_PATTERN)?;
        let r = self.store.goal(&a.log().tenant, &a.log().id, &id).await?;
        r.map(|g| goal_msg(&g))
            .ok_or_else(|| ApiError::NotFound(existing.into()))
    }

    async fn replay_measure(&self, a: &Authorized, existing: &str) -> ApiResult<Measure> {
        let (_, id) = Self::log_of("name", existing, MEASURE_PATTERN)?;
        let r = self
            .store
            .measure(&a.log().tenant, &a.log().id, &id)
            .await?;
        r.map(|m| measure_msg(&m))
            .ok_or_else(|| ApiError::NotFound(existing.into()))
    }

    async fn replay_evaluation(&self, a: &Authorized, existing: &str) -> ApiResult<Evaluation> {
        let ids = parse_name("name", existing, EVALUATION_PATTERN)?;
        let access = a.access(existing, AccessAction::Read, "CreateEvaluation (retry)");
        let all = self
            .store
            .evaluations(&a.log().tenant, &a.log().id, ids[2], "", i64::MAX, &access)
            .await?;
        all.iter()
            .find(|e| e.id == ids[3])
            .map(evaluation_msg)
            .ok_or_else(|| ApiError::NotFound(existing.into()))
    }

    async fn replay_participant(&self, a: &Authorized, existing: &str) -> ApiResult<Participant> {
        let (_, id) = Self::log_of("name", existing, PARTICIPANT_PATTERN)?;
        let r = self
            .store
            .participant(&a.log().tenant, &a.log().id, &id)
            .await?;
        r.map(|x| participant_msg(&x))
            .ok_or_else(|| ApiError::NotFound(existing.into()))
    }

    async fn replay_handover(&self, a: &Authorized, existing: &str) -> ApiResult<Handover> {
        let (_, id) = Self::log_of("name", existing, HANDOVER_PATTERN)?;
        let r = self
            .store
            .handover(&a.log().tenant, &a.log().id, &id)
            .await?;
        r.map(|h| handover_msg(&h))
            .ok_or_else(|| ApiError::NotFound(existing.into()))
    }

    async fn replay_transfer(&self, a: &Authorized, existing: &str) -> ApiResult<Transfer> {
        let (_, id) = Self::log_of("name", existing, TRANSFER_PATTERN)?;
        let r = self
            .store
            .transfer(&a.log().tenant, &a.log().id, &id)
            .await?;
        r.map(|t| transfer_msg(&t))
            .ok_or_else(|| ApiError::NotFound(existing.into()))
    }
}

fn require_gateway(cap: &Capacity) -> ApiResult<()> {
    if cap.is_gateway() {
        Ok(())
    } else {
        Err(ApiError::PermissionDenied(
            "external referrals and summaries go through the gateway".into(),
        ))
    }
}

impl CaseLogApi {
    async fn do_attach_referral(
        &self,
        req: Request<AttachReferralRequest>,
    ) -> ApiResult<AttachedReferral> {
        let p = principal(&req)?;
        let idem = Idem::of(&req.get_ref().request_id, req.get_ref())?;
        let r = req.into_inner();
        let a = self.authorize(p, "parent", &r.parent).await?;
        require_gateway(&a.cap)?;
        let x = r
            .referral
            .ok_or_else(|| ApiError::invalid("referral", "required"))?;
        let tenant = a.log().tenant.clone();
        let mut v = Violations::new();
        if parse_name("referral.referral", &x.referral, "referrals/{referral}").is_err() {
            v.add("referral.referral", "must be referrals/{referral}");
        }
        let kind = ReferralKind::try_from(x.kind).unwrap_or_default();
        if kind == ReferralKind::Unspecified {
            v.add("referral.kind", "required");
        }
        if same_tenant_unit("referral.from_unit", &tenant, &x.from_unit).is_err() {
            v.add(
                "referral.from_unit",
                "must be a unit of the log's municipality",
            );
        }
        if parse_name("referral.client", &x.client, "clients/{client}").is_err() {
            v.add("referral.client", "must be clients/{client}");
        }
        v.check(
            "referral.from_organization",
            bti_runtime::ids::validate_organization_number(&x.from_organization),
        );
        if x.restricted {
            v.text("referral.legal_basis", &x.legal_basis, MAX_SHORT);
        }
        v.finish()?;
        require_active(a.log())?;
        let (log_tenant, log_id) = (a.log().tenant.clone(), a.log().id.clone());
        if let Some(existing) = self
            .store
            .referral_by_source(&log_tenant, &log_id, &x.referral)
            .await?
        {
            return Ok(referral_msg(&existing));
        }
        // Restricted referrals need no consent; the others only from a unit
        // the subject's consent covers.
        let basis = if x.restricted {
            format!("legal basis: {}", x.legal_basis.trim())
        } else {
            self.consent_covers(&a.log().subject, &x.from_unit, "referral.from_unit")
                .await?
        };
        let record = ReferralRecord {
            tenant: log_tenant.clone(),
            case_log: log_id.clone(),
            id: new_id(),
            referral: x.referral.clone(),
            kind: kind.as_str_name().into(),
            restricted: x.restricted,
            legal_basis: x.legal_basis.trim().into(),
            from_organization: x.from_organization.clone(),
            create_time: now(),
            from_unit: x.from_unit.clone(),
            client: x.client.clone(),
        };
        let name = record.name();
        let row = AccessRecord {
            actor: client_actor(&record.client),
            acting_as: ActingAs::ExternalSystem.as_str_name().into(),
            unit: record.from_unit.clone(),
            purpose: "AttachReferral: referral from an external system".into(),
            basis,
            restricted_referral: if record.restricted {
                record.id.clone()
            } else {
                String::new()
            },
            ..a.access(&name, AccessAction::Create, "AttachReferral")
        };
        let event = a.event(
            &name,
            &ReferralAttached {
                attached_referral: name.clone(),
                holder: a.log().holder.clone(),
                restricted: record.restricted,
            },
        );
        let applied = self
            .commit(Work {
                idem: Some(("AttachReferral".into(), idem, name.clone())),
                ops: vec![a.touch(), Op::InsertReferral(record.clone())],
                access: vec![row],
                events: vec![event],
            })
            .await;
        let existing = match applied {
            Ok(Applied::Done) => return Ok(referral_msg(&record)),
            Ok(Applied::Replay(existing)) => {
                let (_, id) = Self::log_of("name", &existing, REFERRAL_PATTERN)?;
                self.store.referral(&log_tenant, &log_id, &id).await?
            }
            // A racing attach of the same referral won.
            Err(ApiError::AlreadyExists(_)) => {
                self.store
                    .referral_by_source(&log_tenant, &log_id, &x.referral)
                    .await?
            }
            Err(e) => return Err(e),
        };
        existing
            .map(|r| referral_msg(&r))
            .ok_or_else(|| ApiError::NotFound(name))
    }

    async fn do_lift_restriction(
        &self,
        req: Request<LiftReferralRestrictionRequest>,
    ) -> ApiResult<AttachedReferral> {
        let p = principal(&req)?;
        let name = req.into_inner().name;
        let (log, id) = Self::log_of("name", &name, REFERRAL_PATTERN)?;
        let a = self.authorize(p, "name", &log).await?;
        require_gateway(&a.cap)?;
        let (tenant, log_id) = (a.log().tenant.clone(), a.log().id.clone());
        let record = self
            .store
            .referral(&tenant, &log_id, &id)
            .await?
            .ok_or_else(|| ApiError::NotFound(name.clone()))?;
        if !record.restricted {
            return Ok(referral_msg(&record));
        }
        // Lifting is not content: allowed on a closed log too.
        let row = AccessRecord {
            actor: client_actor(&record.client),
            acting_as: ActingAs::ExternalSystem.as_str_name().into(),
            unit: record.from_unit.clone(),
            purpose: "LiftReferralRestriction: the external system lifted the restriction".into(),
            basis: format!("legal basis: {}", record.legal_basis),
            ..a.access(&name, AccessAction::Update, "LiftReferralRestriction")
        };
        let event = a.event(
            &name,
            &ReferralRestrictionLifted {
                attached_referral: name.clone(),
                holder: a.log().holder.clone(),
            },
        );
        match self
            .commit(Work {
                idem: None,
                ops: vec![Op::LiftReferral {
                    tenant: tenant.clone(),
                    case_log: log_id.clone(),
                    id: id.clone(),
                }],
                access: vec![row],
                events: vec![event],
            })
            .await
        {
            // A concurrent lift won: the result is the same.
            Ok(_) | Err(ApiError::Aborted(_)) => {}
            Err(e) => return Err(e),
        }
        self.store
            .referral(&tenant, &log_id, &id)
            .await?
            .map(|r| referral_msg(&r))
            .ok_or(ApiError::NotFound(name))
    }

    async fn do_list_referrals(
        &self,
        req: Request<ListAttachedReferralsRequest>,
    ) -> ApiResult<ListAttachedReferralsResponse> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let a = self.authorize(p, "parent", &r.parent).await?;
        if !a.cap.sees_referrals() {
            return Err(ApiError::PermissionDenied(
                "attached referrals are shown to those who read the log and its unit's leader"
                    .into(),
            ));
        }
        let query = ["ListAttachedReferrals", r.parent.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let before = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let listing = a.access(
            &format!("{}/referrals", r.parent),
            AccessAction::Read,
            "ListAttachedReferrals",
        );
        let rows = self
            .store
            .referrals(
                &a.log().tenant,
                &a.log().id,
                before.as_deref().unwrap_or(""),
                size + 1,
                a.cap.sees_restricted(),
                &listing,
            )
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |x| key_of(&x.id), &query);
        // Each restricted referral shown is its own access, on its legal basis.
        let restricted: Vec<AccessRecord> = rows
            .iter()
            .filter(|x| x.restricted)
            .map(|x| AccessRecord {
                basis: format!("legal basis: {}", x.legal_basis),
                restricted_referral: x.id.clone(),
                ..a.access(&x.name(), AccessAction::Read, "ListAttachedReferrals")
            })
            .collect();
        self.store.log_reads(&restricted).await?;
        Ok(ListAttachedReferralsResponse {
            referrals: rows.iter().map(referral_msg).collect(),
            next_page_token,
        })
    }

    async fn do_summary(
        &self,
        req: Request<GetCaseLogSummaryRequest>,
    ) -> ApiResult<CaseLogSummary> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let a = self.authorize(p, "name", &r.name).await?;
        require_gateway(&a.cap)?;
        let (tenant, id) = (a.log().tenant.clone(), a.log().id.clone());
        let mut v = Violations::new();
        if same_tenant_unit("on_behalf_of_unit", &tenant, &r.on_behalf_of_unit).is_err() {
            v.add(
                "on_behalf_of_unit",
                "must be a unit of the log's municipality",
            );
        }
        if parse_name("client", &r.client, "clients/{client}").is_err() {
            v.add("client", "must be clients/{client}");
        }
        v.finish()?;
        // The external system learns nothing about a log it has no basis for.
        let not_found = || ApiError::NotFound(r.name.clone());
        let (basis, restricted_referral) = match self
            .peers
            .consent
            .relay_log_revision(&a.log().subject, &r.on_behalf_of_unit)
            .await?
        {
            Some(revision) => (revision, String::new()),
            None if !r.legal_basis_referral.is_empty() => {
                match self
                    .store
                    .referral_by_source(&tenant, &id, &r.legal_basis_referral)
                    .await?
                {
                    Some(x)
                        if x.kind == ReferralKind::ChildWelfareReport.as_str_name()
                            && !x.legal_basis.is_empty()
                            && x.client == r.client =>
                    {
                        let shown = if x.restricted { x.id } else { String::new() };
                        (format!("legal basis: {}", x.legal_basis), shown)
                    }
                    _ => return Err(not_found()),
                }
            }
            None => return Err(not_found()),
        };
        let row = AccessRecord {
            actor: client_actor(&r.client),
            acting_as: ActingAs::ExternalSystem.as_str_name().into(),
            unit: r.on_behalf_of_unit.clone(),
            purpose: "GetCaseLogSummary: summary for an external system".into(),
            basis,
            restricted_referral,
            ..a.access(
                &format!("{}/summary", r.name),
                AccessAction::Read,
                "GetCaseLogSummary",
            )
        };
        let rows = self
            .store
            .summary(&tenant, &id, &row)
            .await?
            .ok_or_else(not_found)?;
        Ok(CaseLogSummary {
            case_log: rows.log.name(),
            level: enum_of(Level::from_str_name, &rows.log.level),
            // No free text: reasons and the child's own words stay in the log.
            level_changes: rows
                .level_changes
                .iter()
                .map(|l| LevelChange {
                    reason: String::new(),
                    actor: String::new(),
                    ..level_change_msg(l)
                })
                .collect(),
            measures: rows.measures.iter().map(measure_msg).collect(),
            evaluations: rows
                .evaluations
                .iter()
                .map(|e| Evaluation {
                    child_experience: String::new(),
                    summary: String::new(),
                    ..evaluation_msg(e)
                })
                .collect(),
            holders: rows
                .holders
                .iter()
                .map(|(professional, unit, since)| BatonHolder {
                    professional: professional.clone(),
                    unit: unit.clone(),
                    since: Some(timestamp(*since)),
                })
                .collect(),
            create_time: Some(timestamp(rows.log.create_time)),
        })
    }
}

#[tonic::async_trait]
impl CaseLogService for CaseLogApi {
    async fn create_case_log(
        &self,
        r: Request<CreateCaseLogRequest>,
    ) -> Result<Response<CaseLog>, Status> {
        reply(self.do_create(r).await)
    }
    async fn get_case_log(
        &self,
        r: Request<GetCaseLogRequest>,
    ) -> Result<Response<CaseLog>, Status> {
        let result = async {
            let p = principal(&r)?;
            self.get_as(&p, &r.get_ref().name).await
        };
        reply(result.await)
    }
    async fn list_case_logs(
        &self,
        r: Request<ListCaseLogsRequest>,
    ) -> Result<Response<ListCaseLogsResponse>, Status> {
        reply(self.do_list(r).await)
    }
    async fn change_level(
        &self,
        r: Request<ChangeLevelRequest>,
    ) -> Result<Response<CaseLog>, Status> {
        reply(self.do_change_level(r).await)
    }
    async fn list_level_changes(
        &self,
        r: Request<ListLevelChangesRequest>,
    ) -> Result<Response<ListLevelChangesResponse>, Status> {
        reply(self.do_list_level_changes(r).await)
    }
    async fn close_case_log(
        &self,
        r: Request<CloseCaseLogRequest>,
    ) -> Result<Response<CaseLog>, Status> {
        reply(self.do_close(r).await)
    }
    async fn export_case_log(
        &self,
        r: Request<ExportCaseLogRequest>,
    ) -> Result<Response<CaseLogExport>, Status> {
        reply(self.do_export(r).await)
    }
    async fn create_goal(&self, r: Request<CreateGoalRequest>) -> Result<Response<Goal>, Status> {
        reply(self.do_create_goal(r).await)
    }
    async fn list_goals(
        &self,
        r: Request<ListGoalsRequest>,
    ) -> Result<Response<ListGoalsResponse>, Status> {
        reply(self.do_list_goals(r).await)
    }
    async fn update_goal(&self, r: Request<UpdateGoalRequest>) -> Result<Response<Goal>, Status> {
        reply(self.do_update_goal(r).await)
    }
    async fn create_measure(
        &self,
        r: Request<CreateMeasureRequest>,
    ) -> Result<Response<Measure>, Status> {
        reply(self.do_create_measure(r).await)
    }
    async fn get_measure(
        &self,
        r: Request<GetMeasureRequest>,
    ) -> Result<Response<Measure>, Status> {
        reply(self.do_get_measure(r).await)
    }
    async fn list_measures(
        &self,
        r: Request<ListMeasuresRequest>,
    ) -> Result<Response<ListMeasuresResponse>, Status> {
        reply(self.do_list_measures(r).await)
    }
    async fn update_measure(
        &self,
        r: Request<UpdateMeasureRequest>,
    ) -> Result<Response<Measure>, Status> {
        reply(self.do_update_measure(r).await)
    }
    async fn create_evaluation(
        &self,
        r: Request<CreateEvaluationRequest>,
    ) -> Result<Response<Evaluation>, Status> {
        reply(self.do_create_evaluation(r).await)
    }
    async fn list_evaluations(
        &self,
        r: Request<ListEvaluationsRequest>,
    ) -> Result<Response<ListEvaluationsResponse>, Status> {
        reply(self.do_list_evaluations(r).await)
    }
    async fn create_entry(
        &self,
        r: Request<CreateEntryRequest>,
    ) -> Result<Response<Entry>, Status> {
        reply(self.do_create_entry(r).await)
    }
    async fn get_entry(&self, r: Request<GetEntryRequest>) -> Result<Response<Entry>, Status> {
        reply(self.do_get_entry(r).await)
    }
    async fn list_entries(
        &self,
        r: Request<ListEntriesRequest>,
    ) -> Result<Response<ListEntriesResponse>, Status> {
        reply(self.do_list_entries(r).await)
    }
    async fn create_participant(
        &self,
        r: Request<CreateParticipantRequest>,
    ) -> Result<Response<Participant>, Status> {
        reply(self.do_create_participant(r).await)
    }
    async fn list_participants(
        &self,
        r: Request<ListParticipantsRequest>,
    ) -> Result<Response<ListParticipantsResponse>, Status> {
        reply(self.do_list_participants(r).await)
    }
    async fn update_participant(
        &self,
        r: Request<UpdateParticipantRequest>,
    ) -> Result<Response<Participant>, Status> {
        let result = async {
            let p = principal(&r)?;
            let r = r.into_inner();
            let part = r
                .participant
                .ok_or_else(|| ApiError::invalid("participant", "required"))?;
            update_paths("update_mask", r.update_mask.as_ref(), &["tasks"])?;
            if part.tasks.chars().count() > MAX_SHORT {
                return Err(ApiError::invalid(
                    "participant.tasks",
                    format!("at most {MAX_SHORT} characters"),
                ));
            }
            let tasks = part.tasks.trim().to_string();
            self.change_participant(
                p,
                &part.name,
                &part.etag,
                |x| x.tasks = tasks,
                "UpdateParticipant",
            )
            .await
        };
        reply(result.await)
    }
    async fn delete_participant(
        &self,
        r: Request<DeleteParticipantRequest>,
    ) -> Result<Response<Participant>, Status> {
        let result = async {
            let p = principal(&r)?;
            let r = r.into_inner();
            self.change_participant(
                p,
                &r.name,
                &r.etag,
                |x| {
                    x.removed = true;
                    x.remove_time = Some(now());
                },
                "DeleteParticipant",
            )
            .await
        };
        reply(result.await)
    }
    async fn create_handover(
        &self,
        r: Request<CreateHandoverRequest>,
    ) -> Result<Response<Handover>, Status> {
        reply(self.do_create_handover(r).await)
    }
    async fn list_handovers(
        &self,
        r: Request<ListHandoversRequest>,
    ) -> Result<Response<ListHandoversResponse>, Status> {
        reply(self.do_list_handovers(r).await)
    }
    async fn accept_handover(
        &self,
        r: Request<AcceptHandoverRequest>,
    ) -> Result<Response<Handover>, Status> {
        let result = async {
            let p = principal(&r)?;
            let r = r.into_inner();
            self.decide(p, &r.name, &r.etag, HandoverState::Accepted)
                .await
        };
        reply(result.await)
    }
    async fn decline_handover(
        &self,
        r: Request<DeclineHandoverRequest>,
    ) -> Result<Response<Handover>, Status> {
        let result = async {
            let p = principal(&r)?;
            let r = r.into_inner();
            self.decide(p, &r.name, &r.etag, HandoverState::Declined)
                .await
        };
        reply(result.await)
    }
    async fn withdraw_handover(
        &self,
        r: Request<WithdrawHandoverRequest>,
    ) -> Result<Response<Handover>, Status> {
        let result = async {
            let p = principal(&r)?;
            let r = r.into_inner();
            self.decide(p, &r.name, &r.etag, HandoverState::Withdrawn)
                .await
        };
        reply(result.await)
    }
    async fn reassign_baton(
        &self,
        r: Request<ReassignBatonRequest>,
    ) -> Result<Response<CaseLog>, Status> {
        reply(self.do_reassign(r).await)
    }
    async fn create_transfer(
        &self,
        r: Request<CreateTransferRequest>,
    ) -> Result<Response<Transfer>, Status> {
        reply(self.do_create_transfer(r).await)
    }
    async fn list_transfers(
        &self,
        r: Request<ListTransfersRequest>,
    ) -> Result<Response<ListTransfersResponse>, Status> {
        reply(self.do_list_transfers(r).await)
    }
    async fn cancel_transfer(
        &self,
        r: Request<CancelTransferRequest>,
    ) -> Result<Response<Transfer>, Status> {
        reply(self.do_cancel_transfer(r).await)
    }
    async fn attach_referral(
        &self,
        r: Request<AttachReferralRequest>,
    ) -> Result<Response<AttachedReferral>, Status> {
        reply(self.do_attach_referral(r).await)
    }
    async fn list_attached_referrals(
        &self,
        r: Request<ListAttachedReferralsRequest>,
    ) -> Result<Response<ListAttachedReferralsResponse>, Status> {
        reply(self.do_list_referrals(r).await)
    }
    async fn lift_referral_restriction(
        &self,
        r: Request<LiftReferralRestrictionRequest>,
    ) -> Result<Response<AttachedReferral>, Status> {
        reply(self.do_lift_restriction(r).await)
    }
    async fn list_access_log_entries(
        &self,
        r: Request<ListAccessLogEntriesRequest>,
    ) -> Result<Response<ListAccessLogEntriesResponse>, Status> {
        reply(self.do_list_access(r).await)
    }
    async fn list_case_log_overviews(
        &self,
        r: Request<ListCaseLogOverviewsRequest>,
    ) -> Result<Response<ListCaseLogOverviewsResponse>, Status> {
        reply(self.do_overviews(r).await)
    }
    async fn get_case_log_statistics(
        &self,
        r: Request<GetCaseLogStatisticsRequest>,
    ) -> Result<Response<CaseLogStatistics>, Status> {
        reply(self.do_statistics(r).await)
    }
    async fn get_case_log_summary(
        &self,
        r: Request<GetCaseLogSummaryRequest>,
    ) -> Result<Response<CaseLogSummary>, Status> {
        reply(self.do_summary(r).await)
    }
}
