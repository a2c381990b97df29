//! Deadlines: derived from the other services' events (see `events.rs`),
//! read by their owners and the units' leaders, reassigned, completed or
//! cancelled, and moved through reminder, overdue and escalation by the
//! sweep on the injected clock.

use bti_proto::directory::UnitType;
use bti_proto::scheduling::*;
use bti_proto::types::Recipient;
use bti_runtime::api::{check_etag, new_id, page_size, update_paths};
use bti_runtime::auth::{Principal, Role};
use bti_runtime::events::OutboxEvent;
use bti_runtime::{ApiError, ApiResult};
use chrono::{DateTime, Utc};

use super::App;
use super::series::{next_offset, offset_of};
use crate::api::convert;
use crate::domain::access::{may_manage_deadline, may_read_deadline, permission_denied};
use crate::domain::deadlines::{self, stages_passed};
use crate::domain::*;
use crate::store::DeadlineQuery;

/// What derives a deadline.
pub(crate) struct Cause<'a> {
    pub kind: DeadlineKind,
    pub key: String,
    pub log: &'a LogRecord,
    pub resource: &'a str,
    pub unit: &'a str,
    pub responsible: &'a str,
    pub due: DateTime<Utc>,
}

fn owner(d: &DeadlineRecord) -> Recipient {
    Recipient {
        professional: d.responsible.clone(),
        unit: d.unit.clone(),
        person: String::new(),
    }
}

impl App {
    fn kind_of(d: &DeadlineRecord) -> DeadlineKind {
        DeadlineKind::from_str_name(&d.kind).unwrap_or(DeadlineKind::Unspecified)
    }

    /// Creates the deadline of `c`, or moves the open one it already made.
    pub(crate) async fn derive(&self, c: Cause<'_>) -> ApiResult<DeadlineRecord> {
        let now = self.now();
        let t = deadlines::timing(c.kind, c.due);
        let d = DeadlineRecord {
            tenant: c.log.tenant.clone(),
            id: new_id(),
            kind: c.kind.as_str_name().to_string(),
            cause: c.key,
            case_log: c.log.case_log.clone(),
            subject: c.log.subject.clone(),
            resource: c.resource.to_string(),
            unit: c.unit.to_string(),
            responsible: c.responsible.to_string(),
            due_time: t.due,
            remind_time: t.remind,
            escalate_time: t.escalate,
            state: DeadlineState::Open.as_str_name().to_string(),
            stage: DeadlineStage::Pending.as_str_name().to_string(),
            close_time: None,
            version: 1,
            create_time: now,
            update_time: now,
        };
        self.store.upsert_deadline(&d).await
    }

    /// Closes the open deadline of `cause` (completed or cancelled), if any.
    pub(crate) async fn close_cause(
        &self,
        tenant: &str,
        cause: &str,
        completed: bool,
    ) -> ApiResult<Option<DeadlineRecord>> {
        match self.store.deadline_by_cause(tenant, cause).await? {
            Some(d) if d.is_open() => Ok(Some(self.close(d, completed, &[]).await?)),
            _ => Ok(None),
        }
    }

    async fn close(
        &self,
        mut d: DeadlineRecord,
        completed: bool,
        access: &[AccessRow],
    ) -> ApiResult<DeadlineRecord> {
        let now = self.now();
        let state = if completed {
            DeadlineState::Completed
        } else {
            DeadlineState::Cancelled
        };
        d.state = state.as_str_name().to_string();
        d.close_time = Some(now);
        d.update_time = now;
        let mut events = Vec::new();
        if completed {
            events.push(self.event(
                &d.name(),
                &d.tenant,
                &DeadlineCompleted {
                    deadline: d.name(),
                    kind: Self::kind_of(&d) as i32,
                    owner: Some(owner(&d)),
                },
            ));
        }
        let stored = self.store.save_deadline(&d, access, &events).await?;
        self.outbox.wake();
        if completed && Self::kind_of(&stored) == DeadlineKind::UnitReview {
            self.next_review(&stored).await?;
        }
        Ok(stored)
    }

    /// A review done: the next one, half a year (or four months) on.
    async fn next_review(&self, done: &DeadlineRecord) -> ApiResult<()> {
        let Some(log) = self
            .store
            .get_log(&done.tenant, &done.case_log)
            .await?
            .filter(|l| l.active)
        else {
            return Ok(());
        };
        let n: u32 = done
            .cause
            .rsplit(':')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        self.review(&log, n + 1, done.due_time.max(self.now()))
            .await
    }

    /// The `n`-th review of `log`, due an interval after `from`.
    pub(crate) async fn review(
        &self,
        log: &LogRecord,
        n: u32,
        from: DateTime<Utc>,
    ) -> ApiResult<()> {
        let unit_type = self
            .directory
            .unit(&log.unit)
            .await?
            .map(|u| u.unit_type)
            .unwrap_or(UnitType::Unspecified);
        self.derive(Cause {
            kind: DeadlineKind::UnitReview,
            key: format!("review:{}:{n}", log.case_log),
            log,
            resource: &log.case_log,
            unit: &log.unit,
            responsible: "",
            due: deadlines::next_review(from, unit_type),
        })
        .await?;
        Ok(())
    }

    /// A log transferred: its reviews and renewals go to the receiving
    /// unit (their names stay: deadlines are named under the tenant).
    pub(crate) async fn transfer_deadlines(&self, log: &LogRecord, from: &str) -> ApiResult<usize> {
        let mut n = 0;
        for d in self
            .store
            .open_deadlines_of(&log.tenant, &log.case_log)
            .await?
        {
            let kind = Self::kind_of(&d);
            if d.unit == from
                && matches!(
                    kind,
                    DeadlineKind::UnitReview | DeadlineKind::ConsentRenewal
                )
            {
                let mut moved = d.clone();
                moved.unit = log.unit.clone();
                moved.id = bti_runtime::api::new_id();
                self.store.upsert_deadline(&moved).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Cancels every open deadline of a log that closed.
    pub(crate) async fn cancel_for_log_deadlines(
        &self,
        tenant: &str,
        case_log: &str,
    ) -> ApiResult<usize> {
        let open = self.store.open_deadlines_of(tenant, case_log).await?;
        let n = open.len();
        for d in open {
            self.close(d, false, &[]).await?;
        }
        Ok(n)
    }

    /// Moves every open deadline through the stages passed by now, telling
    /// its owner (and on escalation the unit's leaders) once per stage.
    pub async fn advance_deadlines(&self) -> ApiResult<usize> {
        let now = self.now();
        let mut n = 0;
        loop {
            let due = self.store.due_deadlines(now, 100).await?;
            let last_batch = due.len() < 100;
            let before = n;
            for mut d in due {
                let was = DeadlineStage::from_str_name(&d.stage).unwrap_or(DeadlineStage::Pending);
                let passed = stages_passed(was, &d.timing(), now);
                let Some(last) = passed.last().copied() else {
                    continue;
                };
                let events: Vec<OutboxEvent> =
                    passed.iter().map(|s| self.stage_event(&d, *s)).collect();
                d.stage = last.as_str_name().to_string();
                d.update_time = now;
                match self.store.save_deadline(&d, &[], &events).await {
                    Ok(_) => n += 1,
                    // Another replica moved it first; nothing is told twice.
                    Err(ApiError::Aborted(_)) | Err(ApiError::EtagMismatch(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            self.outbox.wake();
            // A full batch that moved nothing (another replica took them all)
            // ends the round too; the next round finds what is left.
            if last_batch || n == before {
                return Ok(n);
            }
        }
    }

    fn stage_event(&self, d: &DeadlineRecord, s: DeadlineStage) -> OutboxEvent {
        let (name, kind, due) = (
            d.name(),
            Self::kind_of(d) as i32,
            Some(bti_runtime::api::timestamp(d.due_time)),
        );
        let resource = d.resource.clone();
        match s {
            DeadlineStage::Reminded => self.event(
                &name,
                &d.tenant,
                &DeadlineReminderDue {
                    deadline: name.clone(),
                    kind,
                    owner: Some(owner(d)),
                    due_time: due,
                    resource,
                },
            ),
            DeadlineStage::Overdue => self.event(
                &name,
                &d.tenant,
                &DeadlineOverdue {
                    deadline: name.clone(),
                    kind,
                    owner: Some(owner(d)),
                    due_time: due,
                    resource,
                },
            ),
            _ => self.event(
                &name,
                &d.tenant,
                &DeadlineEscalated {
                    deadline: name.clone(),
                    kind,
                    owner: Some(owner(d)),
                    escalated_to: vec![Recipient {
                        professional: String::new(),
                        unit: d.unit.clone(),
                        person: String::new(),
                    }],
                    due_time: due,
                    resource,
                },
            ),
        }
    }

    async fn readable_deadline(&self, p: &Principal, name: &str) -> ApiResult<DeadlineRecord> {
        let n = DeadlineName::parse("name", name)?;
        let not_found = || ApiError::NotFound(name.to_string());
        let d = self
            .store
            .get_deadline(&n.tenant, &n.deadline)
            .await?
            .ok_or_else(not_found)?;
        if !may_read_deadline(p, &d) {
            return Err(not_found());
        }
        Ok(d)
    }

    fn deadline_row(
        &self,
        p: &Principal,
        d: &DeadlineRecord,
        method: &str,
        write: bool,
    ) -> AccessRow {
        let why = if matches!(p, Principal::Employee { subject, .. } if subject == &d.responsible) {
            "responsible"
        } else {
            "oversight by the unit's leader"
        };
        self.access(
            p,
            &d.tenant,
            &d.subject,
            &d.name(),
            write,
            format!("{method}: {why}"),
        )
    }

    pub async fn get_deadline(&self, p: &Principal, r: GetDeadlineRequest) -> ApiResult<Deadline> {
        let d = self.readable_deadline(p, &r.name).await?;
        self.store
            .log_access(&[self.deadline_row(p, &d, "GetDeadline", false)])
            .await?;
        Ok(convert::deadline(&d))
    }

    pub async fn list_deadlines(
        &self,
        p: &Principal,
        r: ListDeadlinesRequest,
    ) -> ApiResult<ListDeadlinesResponse> {
        let t = TenantName::parse("parent", &r.parent)?;
        let Principal::Employee { subject, units, .. } = p else {
            return Err(permission_denied(
                "deadlines are the municipality's employees'",
            ));
        };
        if !p.is_employee_of(&t.tenant) {
            return Err(permission_denied(
                "deadlines are the municipality's employees'",
            ));
        }
        let f = convert::deadline_filter(&r.filter)?;
        let led: Vec<&String> = if p.has_role(Role::UnitLeader) {
            units.iter().collect()
        } else {
            Vec::new()
        };
        let mut q = DeadlineQuery {
            tenant: t.tenant.clone(),
            responsible: subject.clone(),
            led_units: format!(
                ",{},",
                led.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(",")
            ),
            ..f.query
        };
        match f.whose.as_deref() {
            Some("me") => q.led_units = String::new(),
            Some("unit") => q.responsible = String::new(),
            _ => {}
        }
        let size = page_size("page_size", r.page_size)?;
        let query = [r.parent.as_str(), r.filter.as_str()];
        q.offset = offset_of(&r.page_token, &query)?;
        q.limit = size + 1;
        let rows = self.store.list_deadlines(&q).await?;
        let (rows, next) = next_offset(rows, q.offset, size, &query);
        let rows: Vec<DeadlineRecord> = rows
            .into_iter()
            .filter(|d| may_read_deadline(p, d))
            .collect();
        let access: Vec<AccessRow> = rows
            .iter()
            .map(|d| self.deadline_row(p, d, "ListDeadlines", false))
            .collect();
        self.store.log_access(&access).await?;
        Ok(ListDeadlinesResponse {
            deadlines: rows.iter().map(convert::deadline).collect(),
            next_page_token: next,
        })
    }

    pub async fn update_deadline(
        &self,
        p: &Principal,
        r: UpdateDeadlineRequest,
    ) -> ApiResult<Deadline> {
        let sent = r.deadline.unwrap_or_default();
        update_paths("update_mask", r.update_mask.as_ref(), &["responsible"])?;
        let mut d = self.readable_deadline(p, &sent.name).await?;
        if !may_manage_deadline(p, &d) {
            return Err(permission_denied(
                "only the unit's leaders reassign a deadline",
            ));
        }
        check_etag(&sent.name, &sent.etag, d.version)?;
        if !d.is_open() {
            return Err(ApiError::precondition(
                "DEADLINE_CLOSED",
                &sent.name,
                "the deadline is completed or cancelled",
            ));
        }
        if sent.responsible.trim().is_empty()
            || bti_runtime::api::has_forbidden_control(&sent.responsible)
        {
            return Err(ApiError::invalid(
                "deadline.responsible",
                "required: the professional's subject",
            ));
        }
        d.responsible = sent.responsible.clone();
        d.update_time = self.now();
        let row = self.deadline_row(p, &d, "UpdateDeadline", true);
        let stored = self.store.save_deadline(&d, &[row], &[]).await?;
        self.committed(convert::deadline(&stored))
    }

    pub async fn complete_deadline(
        &self,
        p: &Principal,
        r: CompleteDeadlineRequest,
    ) -> ApiResult<Deadline> {
        let d = self.open_for(p, &r.name, &r.etag, false).await?;
        let row = self.deadline_row(p, &d, "CompleteDeadline", true);
        let stored = self.close(d, true, &[row]).await?;
        self.committed(convert::deadline(&stored))
    }

    pub async fn cancel_deadline(
        &self,
        p: &Principal,
        r: CancelDeadlineRequest,
    ) -> ApiResult<Deadline> {
        let d = self.open_for(p, &r.name, &r.etag, true).await?;
        let row = self.deadline_row(p, &d, "CancelDeadline", true);
        let stored = self.close(d, false, &[row]).await?;
        self.committed(convert::deadline(&stored))
    }

    /// The open deadline, if `p` may close it: its owner or a leader of its
    /// unit completes, only a leader cancels.
    async fn open_for(
        &self,
        p: &Principal,
        name: &str,
        etag: &str,
        leaders_only: bool,
    ) -> ApiResult<DeadlineRecord> {
        let d = self.readable_deadline(p, name).await?;
        if leaders_only && !may_manage_deadline(p, &d) {
            return Err(permission_denied(
                "only the unit's leaders cancel a deadline",
            ));
        }
        check_etag(name, etag, d.version)?;
        if !d.is_open() {
            return Err(ApiError::precondition(
                "DEADLINE_CLOSED",
                name,
                "the deadline is completed or cancelled",
            ));
        }
        Ok(d)
    }
}
