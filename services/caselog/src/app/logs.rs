//! Relay logs: opening under consent, reading, listing, levels, closing.

use bti_proto::caselog::*;
use bti_runtime::api::{enum_of, new_id};
use bti_runtime::auth::Principal;
use bti_runtime::db::{Claim, Idem};
use bti_runtime::{ApiError, ApiResult};

use super::{App, Authorized, Page, event_at, required};
use crate::api::convert::{case_log_msg, level_change_msg, redacted_log_msg};
use crate::domain::access::{self, Purpose, require_employee_of, require_read, require_works_in};
use crate::domain::closing::close;
use crate::domain::validate::{self, NewCaseLog};
use crate::domain::*;
use crate::store::{Op, Order, Work};

impl App {
    pub async fn create_case_log(
        &self,
        p: &Principal,
        r: CreateCaseLogRequest,
    ) -> ApiResult<CaseLog> {
        let idem = Idem::of(&r.request_id, &r)?;
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        let employee = require_employee_of(p, &tenant)?;
        let c = required(r.case_log, "case_log")?;
        let new = validate::new_case_log(&tenant, &c)?;
        let (subject, unit) = (new.subject.to_string(), new.unit.to_string());
        require_works_in(p, &unit)?;
        let at = self.now();
        let facts = self
            .peers
            .directory
            .subject(&subject, at.date_naive())
            .await?
            .ok_or_else(|| {
                ApiError::invalid("case_log.subject", "no such person in the directory")
            })?;
        let Some(revision) = self
            .peers
            .consent
            .relay_log_revision(&subject, &unit)
            .await?
        else {
            return Err(ApiError::precondition(
                "NO_CONSENT",
                unit,
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
        let NewCaseLog {
            concern,
            degree,
            area,
            level,
            ..
        } = new;
        let record = CaseLogRecord {
            tenant: tenant.clone(),
            id: new_id(),
            subject: subject.clone(),
            subject_kind: kind.as_str_name().into(),
            unit: unit.clone(),
            concern,
            concern_degree: degree.as_str_name().into(),
            concern_area: area.as_str_name().into(),
            level: level.as_str_name().into(),
            state: CaseLogState::Active.as_str_name().into(),
            holder: employee.clone(),
            holder_unit: unit.clone(),
            holder_since: at,
            pending_handover: String::new(),
            pending_transfer: String::new(),
            consent_revision: revision.clone(),
            close_reason: String::new(),
            close_time: None,
            last_activity_time: at,
            version: 1,
            create_time: at,
            update_time: at,
        };
        let name = record.name();
        let cap = Capacity {
            acting_as: ActingAs::Creator,
            unit: unit.clone(),
            basis: revision,
        };
        let opened = CaseLogOpened {
            case_log: name.clone(),
            subject: subject.clone(),
            unit: unit.clone(),
            level: level as i32,
            holder: employee.clone(),
            holder_unit: unit.clone(),
            concern_degree: degree as i32,
            concern_area: area as i32,
        };
        let work = Work {
            idem: Some(("CreateCaseLog".into(), idem, name.clone())),
            ops: vec![
                Op::InsertCaseLog(record.clone()),
                Op::InsertHolder {
                    tenant: tenant.clone(),
                    case_log: record.id.clone(),
                    professional: employee,
                    unit,
                    since: at,
                },
            ],
            access: vec![access::access_row(
                p,
                &cap,
                &record.tenant,
                &record.id,
                &name,
                AccessAction::Create,
                "CreateCaseLog",
                at,
            )],
            events: vec![event_at(at, &name, &tenant, &opened)],
        };
        match self.commit(work).await {
            Ok(Claim::New) => Ok(case_log_msg(&record, &[])),
            Ok(Claim::Replay(existing)) => {
                self.read_case_log(p, &CaseLogName::parse("name", &existing)?)
                    .await
            }
            Err(ApiError::AlreadyExists(_)) => Err(ApiError::precondition(
                "ACTIVE_CASE_LOG_EXISTS",
                subject,
                "the subject already has an active relay log; join it as a participant",
            )),
            Err(e) => Err(e),
        }
    }

    pub async fn get_case_log(&self, p: &Principal, r: GetCaseLogRequest) -> ApiResult<CaseLog> {
        self.read_case_log(p, &CaseLogName::parse("name", &r.name)?)
            .await
    }

    async fn read_case_log(&self, p: &Principal, name: &CaseLogName) -> ApiResult<CaseLog> {
        let a = self.authorize(p, name).await?;
        require_read(&a.cap)?;
        let access = a.access(&name.to_string(), AccessAction::Read, "GetCaseLog");
        // The log as the authorization read found it (read committed would
        // give no firmer snapshot inside a transaction), and the newest
        // entries with the access row: one statement on PostgreSQL.
        let entries = self
            .store
            .entries(
                a.tenant(),
                a.id(),
                "",
                LATEST_ENTRIES,
                Order::Newest,
                &access,
            )
            .await?;
        Ok(case_log_msg(a.log(), &entries))
    }

    pub async fn list_case_logs(
        &self,
        p: &Principal,
        r: ListCaseLogsRequest,
    ) -> ApiResult<ListCaseLogsResponse> {
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        if !r.subject.is_empty() {
            PersonName::parse("subject", &r.subject)?;
        }
        let state = match r.state {
            0 => String::new(),
            n => CaseLogState::try_from(n)
                .map_err(|_| ApiError::invalid("state", "unknown state"))?
                .as_str_name()
                .to_string(),
        };
        let page = Page::new(
            "ListCaseLogs",
            &[&r.parent, &r.subject, &state],
            r.page_size,
            &r.page_token,
        )?;
        let at = self.now();
        let judged = match p {
            Principal::Employee {
                subject,
                tenant: t,
                units,
                ..
            } if *t == tenant => {
                let contexts = self
                    .store
                    .professional_contexts(
                        &tenant,
                        subject,
                        units,
                        &r.subject,
                        &state,
                        &page.after,
                        page.limit(),
                    )
                    .await?;
                let (contexts, next) = page.finish(contexts, |c| &c.log.id, Clone::clone);
                let caps = self.capacities(p, &contexts).await?;
                (contexts.into_iter().zip(caps).collect::<Vec<_>>(), next)
            }
            _ => {
                let rows = self
                    .store
                    .list_case_logs(&tenant, &r.subject, &state, &page.after, page.limit())
                    .await?;
                let (rows, next) = page.finish(rows, |l| &l.id, Clone::clone);
                let mut judged = Vec::new();
                for log in rows {
                    let Some(ctx) = self.store.context(&log.tenant, &log.id).await? else {
                        continue;
                    };
                    let cap = self.capacity(p, &ctx, Purpose::Any).await?;
                    judged.push((ctx, cap));
                }
                (judged, next)
            }
        };
        let (judged, next_page_token) = judged;
        // Only logs the caller may read are listed; each listing is logged.
        let mut case_logs = Vec::new();
        let mut reads = Vec::new();
        for (ctx, cap) in judged {
            let Some(cap) = cap else { continue };
            let shown = if cap.may_read() {
                case_log_msg(&ctx.log, &[])
            } else if cap.is_gateway() {
                // Routing an external referral: which log, whose baton; no content.
                redacted_log_msg(&ctx.log)
            } else {
                continue;
            };
            reads.push(access::access_row(
                p,
                &cap,
                &ctx.log.tenant,
                &ctx.log.id,
                &ctx.log.name(),
                AccessAction::Read,
                "ListCaseLogs",
                at,
            ));
            case_logs.push(shown);
        }
        self.store.log_reads(&reads).await?;
        Ok(ListCaseLogsResponse {
            case_logs,
            next_page_token,
        })
    }

    pub async fn change_level(&self, p: &Principal, r: ChangeLevelRequest) -> ApiResult<CaseLog> {
        let a = self.authorize_holder(p, &r.name, &r.etag).await?;
        let level = validate::level_change(&r)?;
        if level.as_str_name() == a.log().level {
            return Err(ApiError::invalid("level", "is already the log's level"));
        }
        let mut log = a.log().changed(a.at);
        log.level = level.as_str_name().into();
        let change = LevelChangeRecord {
            tenant: log.tenant.clone(),
            case_log: log.id.clone(),
            id: new_id(),
            from_level: a.log().level.clone(),
            to_level: log.level.clone(),
            reason: r.reason.trim().into(),
            actor: a.p.label(),
            create_time: a.at,
        };
        let changed = LevelChanged {
            case_log: r.name.clone(),
            from_level: enum_of(Level::from_str_name, &a.log().level),
            to_level: level as i32,
        };
        self.commit(Work {
            ops: vec![
                Op::UpdateCaseLog(log.clone()),
                Op::InsertLevelChange(change),
            ],
            access: vec![a.access(&r.name, AccessAction::Update, "ChangeLevel")],
            events: vec![a.event(&r.name, &changed)],
            ..Default::default()
        })
        .await?;
        Ok(case_log_msg(&log.saved(), &[]))
    }

    pub async fn list_level_changes(
        &self,
        p: &Principal,
        r: ListLevelChangesRequest,
    ) -> ApiResult<ListLevelChangesResponse> {
        let (level_changes, next_page_token) = self
            .list_page(
                p,
                &r.parent,
                "ListLevelChanges",
                r.page_size,
                &r.page_token,
                async |a, page, access| {
                    self.store
                        .level_changes(a.tenant(), a.id(), &page.after, page.limit(), access)
                        .await
                },
                |l| &l.id,
                level_change_msg,
            )
            .await?;
        Ok(ListLevelChangesResponse {
            level_changes,
            next_page_token,
        })
    }

    pub async fn close_case_log(
        &self,
        p: &Principal,
        r: CloseCaseLogRequest,
    ) -> ApiResult<CaseLog> {
        let a = self.authorize_holder(p, &r.name, &r.etag).await?;
        let reason = validate::close_request(&r)?;
        self.close(&a, reason, r.note.trim(), "CloseCaseLog").await
    }

    /// Closes an active log on the relay log's own behalf (consent no longer
    /// covers it); `false` when it was already closed (or gone).
    pub(crate) async fn close_as_system(
        &self,
        log: &CaseLogName,
        reason: CloseReason,
        basis: String,
    ) -> ApiResult<bool> {
        let Some(ctx) = self.store.context(&log.tenant, &log.case_log).await? else {
            return Ok(false);
        };
        if !ctx.log.is_active() {
            return Ok(false);
        }
        let a = Authorized {
            p: Principal::Service {
                name: "caselog".into(),
                scopes: vec![],
            },
            ctx,
            cap: Capacity::system(basis),
            at: self.now(),
        };
        self.close(&a, reason, "", "ConsentWithdrawn").await?;
        Ok(true)
    }

    /// Closes the log; the open offer is withdrawn and its transfer cancelled with it.
    async fn close(
        &self,
        a: &Authorized,
        reason: CloseReason,
        note: &str,
        method: &str,
    ) -> ApiResult<CaseLog> {
        let closing = close(&a.ctx, reason, note, &a.author(), &a.cap.unit, a.at);
        let name = a.name().to_string();
        let mut ops = vec![Op::UpdateCaseLog(closing.log.clone())];
        let mut events = vec![a.event(
            &name,
            &CaseLogClosed {
                case_log: name.clone(),
                reason: reason as i32,
                holder: closing.log.holder.clone(),
            },
        )];
        self.void(a, &closing.voided, &mut ops, &mut events);
        ops.extend(closing.note.map(Op::InsertEntry));
        self.commit(Work {
            ops,
            access: vec![a.access(&name, AccessAction::Update, method)],
            events,
            ..Default::default()
        })
        .await?;
        Ok(case_log_msg(&closing.log.saved(), &[]))
    }
}
