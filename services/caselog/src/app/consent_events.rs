//! Reacting to consent events: when a consent is withdrawn, expires or stops
//! covering units, every active relay log of that subject whose owning unit
//! is no longer covered is closed with reason "consent withdrawn". Access was
//! already refused on the next request (the consent service is asked every
//! time); this records the closing. Idempotent, as delivery is at least once:
//! an already closed log is left alone.

use bti_proto::caselog::{CaseLogState, CloseReason};
use bti_proto::consent::{ConsentChanged, ConsentExpired, ConsentWithdrawn};
use bti_proto::types::EventEnvelope;
use bti_runtime::{ApiError, ApiResult};
use prost::{Message, Name};

use super::App;
use crate::domain::*;

/// The durable consumer name on the bus.
pub const CONSUMER: &str = "caselog-consent";

/// The consent and subject an event is about, when it may end coverage.
fn ended_coverage(e: &EventEnvelope) -> ApiResult<Option<(String, String)>> {
    let data = e.data.as_slice();
    let decoded = if e.r#type == ConsentWithdrawn::full_name() {
        ConsentWithdrawn::decode(data).map(|m| Some((m.consent, m.subject)))
    } else if e.r#type == ConsentExpired::full_name() {
        ConsentExpired::decode(data).map(|m| Some((m.consent, m.subject)))
    } else if e.r#type == ConsentChanged::full_name() {
        ConsentChanged::decode(data)
            .map(|m| (!m.removed_units.is_empty()).then_some((m.consent, m.subject)))
    } else {
        Ok(None)
    };
    decoded.map_err(ApiError::internal)
}

impl App {
    /// Handles one consent event; returns how many logs it closed.
    pub async fn on_consent_event(&self, e: &EventEnvelope) -> ApiResult<usize> {
        let Some((consent, subject)) = ended_coverage(e)? else {
            return Ok(0);
        };
        let tenant = PersonName::parse("subject", &subject)?.tenant;
        let active = CaseLogState::Active.as_str_name();
        let mut closed = 0;
        for log in self
            .store
            .list_case_logs(&tenant, &subject, active, "", 100)
            .await?
        {
            if self
                .peers
                .consent
                .relay_log_revision(&subject, &log.unit)
                .await?
                .is_some()
            {
                continue; // another consent still covers the owning unit
            }
            let basis = format!("{consent} no longer covers {}", log.unit);
            match self
                .close_as_system(&log.log_name(), CloseReason::ConsentWithdrawn, basis)
                .await
            {
                Ok(true) => closed += 1,
                Ok(false) => {}
                // Someone changed the log meanwhile; the redelivery retries.
                Err(ApiError::EtagMismatch(_)) | Err(ApiError::Aborted(_)) => {
                    return Err(ApiError::Aborted("relay log changed while closing".into()));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(closed)
    }
}
