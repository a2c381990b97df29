//! What scheduling does with the other services' events, consumed durably
//! (JetStream in `bti serve`) and idempotently by event id: it follows each
//! relay log's subject, unit and holder, derives the deadlines of the model,
//! cancels a closed log's meetings, takes a unit whose consent ended off
//! the child's future meetings, and follows the child's guardians there.

use bti_proto::caselog::{
    BatonPassed, CaseLogClosed, CaseLogOpened, ConcernArea, EntryAppended, EntryKind,
    EvaluationRecorded, MeasureChanged, MeasureState, TransferChanged, TransferState,
};
use bti_proto::consent::{ConsentChanged, ConsentExpired, ConsentGranted, ConsentWithdrawn};
use bti_proto::directory::GuardianshipChanged;
use bti_proto::scheduling::DeadlineKind;
use bti_proto::types::EventEnvelope;
use bti_runtime::ApiResult;
use chrono::{DateTime, Utc};
use prost::{Message, Name};

use super::App;
use super::deadlines::Cause;
use crate::domain::deadlines;
use crate::domain::*;

/// The durable consumer every replica shares.
pub const CONSUMER: &str = "scheduling";

fn decode<M: Message + Default>(e: &EventEnvelope) -> anyhow::Result<M> {
    Ok(M::decode(e.data.as_slice())?)
}

fn time_of(e: &EventEnvelope) -> DateTime<Utc> {
    e.time
        .as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .unwrap_or_else(Utc::now)
}

/// The log a child resource's name belongs to (`tenants/t/caseLogs/l/...`).
fn log_of(name: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = name.split('/').collect();
    (parts.len() >= 4 && parts[0] == "tenants" && parts[2] == "caseLogs")
        .then(|| (parts[1].to_string(), parts[..4].join("/")))
}

impl App {
    /// Handles one event once; a redelivery of a handled event does nothing.
    pub async fn on_event(&self, e: &EventEnvelope) -> anyhow::Result<()> {
        if self.store.handled(&e.id).await? {
            return Ok(());
        }
        self.handle(e).await?;
        self.store.mark_handled(&e.id, self.now()).await?;
        Ok(())
    }

    async fn handle(&self, e: &EventEnvelope) -> anyhow::Result<()> {
        let t = e.r#type.as_str();
        if t == CaseLogOpened::full_name() {
            self.on_opened(decode(e)?, time_of(e)).await?;
        } else if t == BatonPassed::full_name() {
            let m: BatonPassed = decode(e)?;
            if let Some(mut log) = self.log(&m.case_log).await? {
                let from = std::mem::replace(&mut log.holder, m.to_professional.clone());
                log.holder_unit = m.to_unit.clone();
                self.store.upsert_log(&log).await?;
                self.pass_baton(&log, &from, m.former_holder_stays).await?;
            }
        } else if t == TransferChanged::full_name() {
            let m: TransferChanged = decode(e)?;
            if m.state == TransferState::Completed as i32
                && let Some((_, name)) = log_of(&m.transfer)
                && let Some(mut log) = self.log(&name).await?
            {
                let from = std::mem::replace(&mut log.unit, m.to_unit.clone());
                self.store.upsert_log(&log).await?;
                self.transfer_deadlines(&log, &from).await?;
            }
        } else if t == CaseLogClosed::full_name() {
            let m: CaseLogClosed = decode(e)?;
            if let Some(mut log) = self.log(&m.case_log).await? {
                log.active = false;
                self.store.upsert_log(&log).await?;
                self.cancel_for_log(&log.tenant, &log.case_log).await?;
                self.cancel_for_log_deadlines(&log.tenant, &log.case_log)
                    .await?;
            }
        } else if t == EntryAppended::full_name() {
            let m: EntryAppended = decode(e)?;
            if m.kind == EntryKind::GuardianContact as i32
                && let Some((tenant, log)) = log_of(&m.entry)
            {
                self.close_cause(&tenant, &format!("contact:{log}"), true)
                    .await?;
            }
        } else if t == MeasureChanged::full_name() {
            self.on_measure(decode(e)?).await?;
        } else if t == EvaluationRecorded::full_name() {
            let m: EvaluationRecorded = decode(e)?;
            if let Some((tenant, _)) = log_of(&m.measure) {
                self.close_cause(&tenant, &format!("measure:{}", m.measure), true)
                    .await?;
            }
        } else if t == ConsentGranted::full_name() {
            let m: ConsentGranted = decode(e)?;
            self.on_validity(&m.consent, &m.subject, m.valid_until.as_ref())
                .await?;
        } else if t == ConsentChanged::full_name() {
            let m: ConsentChanged = decode(e)?;
            self.on_validity(&m.consent, &m.subject, m.valid_until.as_ref())
                .await?;
            self.on_coverage_ended(&m.subject, &m.removed_units).await?;
        } else if t == ConsentWithdrawn::full_name() {
            let m: ConsentWithdrawn = decode(e)?;
            self.on_consent_ended(&m.consent, &m.subject).await?;
            self.on_coverage_ended(&m.subject, &m.removed_units).await?;
        } else if t == GuardianshipChanged::full_name() {
            let m: GuardianshipChanged = decode(e)?;
            // `tenants/{t}/persons/{child}/guardianships/{id}`
            if let Some((child, _)) = m.guardianship.split_once("/guardianships/")
                && let Ok(person) = PersonName::parse("subject", child)
            {
                let with = m.parental_responsibility && !m.deleted;
                self.guardian_changed(&person.tenant, child, &m.guardian, with)
                    .await?;
            }
        } else if t == ConsentExpired::full_name() {
            let m: ConsentExpired = decode(e)?;
            self.on_consent_ended(&m.consent, &m.subject).await?;
        }
        Ok(())
    }

    async fn log(&self, name: &str) -> ApiResult<Option<LogRecord>> {
        let Ok(n) = CaseLogName::parse("case_log", name) else {
            return Ok(None);
        };
        self.store.get_log(&n.tenant, name).await
    }

    async fn on_opened(&self, m: CaseLogOpened, at: DateTime<Utc>) -> ApiResult<()> {
        let Ok(n) = CaseLogName::parse("case_log", &m.case_log) else {
            return Ok(());
        };
        let log = LogRecord {
            tenant: n.tenant.clone(),
            case_log: m.case_log.clone(),
            subject: m.subject.clone(),
            unit: m.unit.clone(),
            holder: m.holder.clone(),
            holder_unit: if m.holder_unit.is_empty() {
                m.unit.clone()
            } else {
                m.holder_unit.clone()
            },
            active: true,
            open_time: at,
        };
        self.store.upsert_log(&log).await?;
        // The employee who registered the unease owes the guardians a talk.
        let area = ConcernArea::try_from(m.concern_area).unwrap_or(ConcernArea::Unspecified);
        let (kind, due) = deadlines::guardian_contact(area, at);
        self.derive(Cause {
            kind,
            key: format!("contact:{}", m.case_log),
            log: &log,
            resource: &m.case_log,
            unit: &log.unit,
            responsible: &log.holder,
            due,
        })
        .await?;
        for c in self.store.consents_of(&log.tenant, &log.subject).await? {
            if c.valid_until.is_some() {
                self.renewal(&log, &c.consent, c.valid_until).await?;
            }
        }
        self.review(&log, 1, at).await
    }

    async fn on_measure(&self, m: MeasureChanged) -> ApiResult<()> {
        let Some((tenant, name)) = log_of(&m.measure) else {
            return Ok(());
        };
        let cause = format!("measure:{}", m.measure);
        let state = MeasureState::try_from(m.state).unwrap_or(MeasureState::Unspecified);
        if state != MeasureState::Active {
            self.close_cause(&tenant, &cause, false).await?;
            return Ok(());
        }
        let (Some(log), Some(date)) = (self.log(&name).await?, m.evaluate_by_date) else {
            return Ok(());
        };
        let Some(date) =
            chrono::NaiveDate::from_ymd_opt(date.year, date.month as u32, date.day as u32)
        else {
            return Ok(());
        };
        let responsible = if m.responsible_professional.is_empty() {
            log.holder.clone()
        } else {
            m.responsible_professional.clone()
        };
        let unit = if m.responsible_unit.is_empty() {
            log.unit.clone()
        } else {
            m.responsible_unit.clone()
        };
        self.derive(Cause {
            kind: DeadlineKind::MeasureEvaluation,
            key: cause,
            log: &log,
            resource: &m.measure,
            unit: &unit,
            responsible: &responsible,
            due: deadlines::evaluate_by(date),
        })
        .await?;
        Ok(())
    }

    /// A consent with an end of validity: the holder of each of the child's
    /// active logs renews it in time.
    async fn on_validity(
        &self,
        consent: &str,
        subject: &str,
        until: Option<&prost_types::Timestamp>,
    ) -> ApiResult<()> {
        let Ok(person) = PersonName::parse("subject", subject) else {
            return Ok(());
        };
        let until = until.and_then(|t| DateTime::from_timestamp(t.seconds, 0));
        self.store
            .upsert_consent(&ConsentValidity {
                tenant: person.tenant.clone(),
                consent: consent.to_string(),
                subject: subject.to_string(),
                valid_until: until,
                active: true,
            })
            .await?;
        for log in self.store.active_logs_of(&person.tenant, subject).await? {
            self.renewal(&log, consent, until).await?;
        }
        Ok(())
    }

    /// The renewal the holder of `log` owes before `consent` ends.
    async fn renewal(
        &self,
        log: &LogRecord,
        consent: &str,
        until: Option<DateTime<Utc>>,
    ) -> ApiResult<()> {
        let cause = format!("consent:{consent}:{}", log.case_log);
        {
            match until {
                Some(until) => {
                    self.derive(Cause {
                        kind: DeadlineKind::ConsentRenewal,
                        key: cause,
                        log,
                        resource: consent,
                        unit: &log.unit,
                        responsible: &log.holder,
                        due: deadlines::consent_renewal(until),
                    })
                    .await?;
                }
                None => {
                    self.close_cause(&log.tenant, &cause, true).await?;
                }
            }
        }
        Ok(())
    }

    async fn on_consent_ended(&self, consent: &str, subject: &str) -> ApiResult<()> {
        let Ok(person) = PersonName::parse("subject", subject) else {
            return Ok(());
        };
        self.store
            .upsert_consent(&ConsentValidity {
                tenant: person.tenant.clone(),
                consent: consent.to_string(),
                subject: subject.to_string(),
                valid_until: None,
                active: false,
            })
            .await?;
        for log in self.store.active_logs_of(&person.tenant, subject).await? {
            self.close_cause(
                &person.tenant,
                &format!("consent:{consent}:{}", log.case_log),
                false,
            )
            .await?;
        }
        Ok(())
    }

    async fn on_coverage_ended(&self, subject: &str, units: &[String]) -> ApiResult<()> {
        if units.is_empty() {
            return Ok(());
        }
        let Ok(person) = PersonName::parse("subject", subject) else {
            return Ok(());
        };
        self.remove_units_for(&person.tenant, subject, units)
            .await?;
        Ok(())
    }
}
