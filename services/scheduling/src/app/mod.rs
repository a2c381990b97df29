//! The scheduling service's application layer: one function per RPC, named
//! after it, taking the caller and the request message; the consumers of
//! the other services' events; the deadline sweep. Rules are in `domain`.

mod access;
mod deadlines;
mod events;
mod invitations;
mod meetings;
mod series;
mod slots;

use std::sync::Arc;

use bti_proto::scheduling::{MeetingCancelled, MeetingChanged, MeetingScheduled};
use bti_proto::types::Recipient;
use bti_runtime::auth::Principal;
use bti_runtime::clock::SharedClock;
use bti_runtime::events::{OutboxEvent, OutboxSignal};
use bti_runtime::peers::{ConsentChecker, Directory};
use bti_runtime::{ApiError, ApiResult};
use chrono::{DateTime, Utc};

pub use events::CONSUMER;

use crate::SchedulingConfig;
use crate::domain::access::{Standing, standing};
use crate::domain::*;
use crate::store::SchedulingStore;

/// The scheduling service's state.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn SchedulingStore>,
    directory: Directory,
    consent: ConsentChecker,
    outbox: OutboxSignal,
    clock: SharedClock,
    config: Arc<SchedulingConfig>,
}

/// A case meeting (or unit meeting) as the caller may see it.
pub(crate) struct Seen {
    pub view: MeetingView,
    pub standing: Standing,
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializable")
}

impl App {
    pub fn new(
        store: Arc<dyn SchedulingStore>,
        directory: Directory,
        consent: ConsentChecker,
        outbox: OutboxSignal,
        clock: SharedClock,
        config: SchedulingConfig,
    ) -> Self {
        App {
            store,
            directory,
            consent,
            outbox,
            clock,
            config: Arc::new(config),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        use chrono::SubsecRound;
        self.clock.now().trunc_subsecs(6)
    }

    fn event<M: prost::Name>(&self, subject: &str, tenant: &str, payload: &M) -> OutboxEvent {
        OutboxEvent::new(SOURCE, subject, tenant, payload)
    }

    fn committed<T>(&self, value: T) -> ApiResult<T> {
        self.outbox.wake();
        Ok(value)
    }

    /// The access-log row of `p` touching `resource` about `subject`.
    fn access(
        &self,
        p: &Principal,
        tenant: &str,
        subject: &str,
        resource: &str,
        write: bool,
        purpose: String,
    ) -> AccessRow {
        AccessRow {
            tenant: tenant.to_string(),
            subject: subject.to_string(),
            id: bti_runtime::api::new_id(),
            actor: p.label(),
            resource: resource.to_string(),
            action: if write { "WRITE" } else { "READ" }.to_string(),
            purpose,
            create_time: self.now(),
        }
    }

    /// Whether the child's consent lets `unit` take part now (asked on
    /// every request, never cached).
    async fn covered(&self, subject: &str, unit: &str) -> ApiResult<bool> {
        Ok(self
            .consent
            .relay_log_revision(subject, unit)
            .await?
            .is_some())
    }

    /// The meeting, if `p` may see it: NOT_FOUND otherwise, so that whether a
    /// child has meetings does not leak. A professional on a case's meeting
    /// sees it only while consent covers the unit they act for.
    async fn seen(&self, p: &Principal, field: &str, name: &str) -> ApiResult<Seen> {
        let n = MeetingName::parse(field, name)?;
        let not_found = || ApiError::NotFound(name.to_string());
        let view = self
            .store
            .get_meeting(&n.tenant, &n.meeting)
            .await?
            .filter(|v| v.meeting.unit == n.unit)
            .ok_or_else(not_found)?;
        self.judge(p, view).await?.ok_or_else(not_found)
    }

    /// How `p` stands to a meeting already read, if they may see it.
    async fn judge(&self, p: &Principal, view: MeetingView) -> ApiResult<Option<Seen>> {
        let standing_units = Self::standing_units_of(&view);
        let Some(s) = standing(p, &view, &standing_units) else {
            return Ok(None);
        };
        if let Standing::Participant { unit, .. } = &s
            && view.meeting.is_case()
            && !unit.is_empty()
            && !self.covered(&view.meeting.subject, unit).await?
        {
            return Ok(None);
        }
        Ok(Some(Seen { view, standing: s }))
    }

    /// A unit meeting's standing team, for who may see it: its unit
    /// participants (a series' meetings carry the team, so the series need
    /// not be read).
    fn standing_units_of(v: &MeetingView) -> Vec<String> {
        if v.meeting.is_case() {
            return Vec::new();
        }
        v.active_participants()
            .filter(|p| !p.unit.is_empty())
            .map(|p| p.unit.clone())
            .collect()
    }

    /// Everyone a meeting concerns, as recipients of its events.
    fn recipients(ps: &[ParticipantRecord]) -> Vec<Recipient> {
        ps.iter()
            .map(|p| Recipient {
                professional: p.professional.clone(),
                unit: p.unit.clone(),
                person: p.person.clone(),
            })
            .collect()
    }

    fn scheduled_event(&self, v: &MeetingView) -> OutboxEvent {
        let m = &v.meeting;
        self.event(
            &m.name(),
            &m.tenant,
            &MeetingScheduled {
                meeting: m.name(),
                case_log: m.case_log.clone(),
                recipients: Self::recipients(&v.active_participants().cloned().collect::<Vec<_>>()),
                sequence: m.sequence,
                start_time: Some(bti_runtime::api::timestamp(m.start_time)),
            },
        )
    }

    fn changed_event(&self, v: &MeetingView, removed: &[ParticipantRecord]) -> OutboxEvent {
        let m = &v.meeting;
        self.event(
            &m.name(),
            &m.tenant,
            &MeetingChanged {
                meeting: m.name(),
                case_log: m.case_log.clone(),
                recipients: Self::recipients(&v.active_participants().cloned().collect::<Vec<_>>()),
                removed: Self::recipients(removed),
                sequence: m.sequence,
                start_time: Some(bti_runtime::api::timestamp(m.start_time)),
            },
        )
    }

    fn cancelled_event(&self, v: &MeetingView) -> OutboxEvent {
        let m = &v.meeting;
        self.event(
            &m.name(),
            &m.tenant,
            &MeetingCancelled {
                meeting: m.name(),
                case_log: m.case_log.clone(),
                recipients: Self::recipients(&v.active_participants().cloned().collect::<Vec<_>>()),
                sequence: m.sequence,
            },
        )
    }

    /// A new meeting of `log`'s case in `unit`, organized by its holder.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn case_meeting(
        &self,
        log: &LogRecord,
        unit: &UnitName,
        id: String,
        kind: bti_proto::scheduling::MeetingKind,
        (start_time, duration_secs): (DateTime<Utc>, i64),
        (location, video_link): (&str, &str),
        agenda: &[String],
    ) -> MeetingRecord {
        let now = self.now();
        MeetingRecord {
            tenant: unit.tenant.clone(),
            unit: unit.unit.clone(),
            id,
            kind: kind.as_str_name().to_string(),
            case_log: log.case_log.clone(),
            subject: log.subject.clone(),
            series: String::new(),
            slot: String::new(),
            start_time,
            duration_secs,
            location: location.to_string(),
            video_link: video_link.to_string(),
            agenda: json(&agenda),
            organizer: log.holder.clone(),
            organizer_unit: log.holder_unit.clone(),
            state: bti_proto::scheduling::MeetingState::Scheduled
                .as_str_name()
                .to_string(),
            minutes_entry: String::new(),
            sequence: 0,
            version: 1,
            create_time: now,
            update_time: now,
        }
    }

    /// The caller as "my meetings" asks for them.
    pub(crate) fn mine(p: &Principal) -> crate::store::Mine {
        match p {
            Principal::Employee { subject, units, .. } => crate::store::Mine {
                professional: subject.clone(),
                person: String::new(),
                units: format!(",{},", units.join(",")),
            },
            Principal::Guardian { person, .. } | Principal::Youth { person, .. } => {
                crate::store::Mine {
                    professional: String::new(),
                    person: person.clone(),
                    units: String::new(),
                }
            }
            _ => crate::store::Mine::default(),
        }
    }

    /// Where a meeting is opened in BTI.
    fn link(&self, name: &str) -> String {
        format!("{}/{}", self.config.link_base.trim_end_matches('/'), name)
    }
}
