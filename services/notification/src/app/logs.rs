//! This service's record of each relay log, followed from the relay log's
//! events (upserts: a redelivered event changes nothing): its subject,
//! owning unit, holder, participants and whether it is open. What access at
//! send time is judged by, together with consent asked at that moment.

use bti_proto::caselog::{
    BatonPassed, CaseLogClosed, CaseLogOpened, ParticipantChanged, TransferChanged, TransferState,
};
use bti_proto::types::EventEnvelope;
use bti_runtime::ApiResult;
use prost::{Message, Name};

use super::App;
use crate::domain::access::{LogParticipantRecord, LogRecord, case_log_of};

fn tenant_of(case_log: &str) -> String {
    case_log.split('/').nth(1).unwrap_or_default().to_string()
}

impl App {
    /// Updates the record of the log `e` is about, if it is such an event.
    pub(crate) async fn follow_log(&self, e: &EventEnvelope) -> ApiResult<()> {
        let t = e.r#type.as_str();
        let data = e.data.as_slice();
        // Undecodable events are skipped by the consumer's effects as well.
        if t == CaseLogOpened::full_name() {
            let Ok(m) = CaseLogOpened::decode(data) else {
                return Ok(());
            };
            if case_log_of(&m.case_log).is_none() {
                return Ok(());
            }
            let holder_unit = if m.holder_unit.is_empty() {
                m.unit.clone()
            } else {
                m.holder_unit
            };
            self.store
                .put_log(&LogRecord {
                    tenant: tenant_of(&m.case_log),
                    case_log: m.case_log,
                    subject: m.subject,
                    unit: m.unit,
                    holder: m.holder,
                    holder_unit,
                    active: true,
                })
                .await?;
        } else if t == BatonPassed::full_name() {
            let Ok(m) = BatonPassed::decode(data) else {
                return Ok(());
            };
            if let Some(mut log) = self.known_log(&m.case_log).await? {
                log.holder = m.to_professional;
                log.holder_unit = m.to_unit;
                self.store.put_log(&log).await?;
            }
        } else if t == TransferChanged::full_name() {
            let Ok(m) = TransferChanged::decode(data) else {
                return Ok(());
            };
            if m.state() == TransferState::Completed
                && let Some(name) = case_log_of(&m.transfer)
                && let Some(mut log) = self.known_log(&name).await?
            {
                log.unit = m.to_unit;
                self.store.put_log(&log).await?;
            }
        } else if t == CaseLogClosed::full_name() {
            let Ok(m) = CaseLogClosed::decode(data) else {
                return Ok(());
            };
            if let Some(mut log) = self.known_log(&m.case_log).await? {
                log.active = false;
                self.store.put_log(&log).await?;
            }
        } else if t == ParticipantChanged::full_name() {
            let Ok(m) = ParticipantChanged::decode(data) else {
                return Ok(());
            };
            if let Some(case_log) = case_log_of(&m.participant) {
                self.store
                    .put_log_participant(&LogParticipantRecord {
                        tenant: tenant_of(&case_log),
                        case_log,
                        participant: m.participant,
                        unit: m.unit,
                        professional: m.professional,
                        removed: m.removed,
                    })
                    .await?;
            }
        }
        Ok(())
    }

    async fn known_log(&self, case_log: &str) -> ApiResult<Option<LogRecord>> {
        match case_log_of(case_log) {
            Some(name) => self.store.get_log(&tenant_of(&name), &name).await,
            None => Ok(None),
        }
    }
}
