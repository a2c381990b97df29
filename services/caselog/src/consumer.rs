//! Reacting to consent events: when a consent is withdrawn, expires or stops
//! covering units, every active relay log of that subject whose owning unit
//! is no longer covered is closed with reason "consent withdrawn". Access was
//! already refused on the next request (the consent service is asked every
//! time); this records the closing. Idempotent, as delivery is at least once:
//! an already closed log is left alone.

use std::sync::Arc;

use bti_proto::caselog::{ActingAs, CaseLogState, CloseReason};
use bti_proto::consent::{ConsentChanged, ConsentExpired, ConsentWithdrawn};
use bti_proto::types::EventEnvelope;
use bti_runtime::auth::Principal;
use bti_runtime::events::EventBus;
use bti_runtime::{ApiError, ApiResult};
use futures::StreamExt;
use prost::{Message, Name};

use crate::CaseLogApi;
use crate::domain::Capacity;

/// The durable consumer name on the bus.
pub const CONSUMER: &str = "caselog-consent";

impl CaseLogApi {
    /// Handles one consent event; returns how many logs it closed.
    pub async fn on_consent_event(&self, e: &EventEnvelope) -> ApiResult<usize> {
        let (consent, subject) = if e.r#type == ConsentWithdrawn::full_name() {
            let m = ConsentWithdrawn::decode(e.data.as_slice()).map_err(ApiError::internal)?;
            (m.consent, m.subject)
        } else if e.r#type == ConsentExpired::full_name() {
            let m = ConsentExpired::decode(e.data.as_slice()).map_err(ApiError::internal)?;
            (m.consent, m.subject)
        } else if e.r#type == ConsentChanged::full_name() {
            let m = ConsentChanged::decode(e.data.as_slice()).map_err(ApiError::internal)?;
            if m.removed_units.is_empty() {
                return Ok(0);
            }
            (m.consent, m.subject)
        } else {
            return Ok(0);
        };
        let tenant =
            bti_runtime::api::parse_name("subject", &subject, crate::domain::PERSON_PATTERN)?[0]
                .to_string();
        let active = CaseLogState::Active.as_str_name();
        let mut closed = 0;
        for log in self
            .store()
            .list_case_logs(&tenant, &subject, active, "", 100)
            .await?
        {
            if self
                .peers()
                .consent
                .relay_log_revision(&subject, &log.unit)
                .await?
                .is_some()
            {
                continue; // another consent still covers the owning unit
            }
            let system = Principal::Service {
                name: "caselog".into(),
                scopes: vec![],
            };
            let cap = Capacity {
                acting_as: ActingAs::Service,
                unit: String::new(),
                basis: format!("{consent} no longer covers {}", log.unit),
            };
            match self
                .close_as(
                    system,
                    cap,
                    &log.tenant,
                    &log.id,
                    CloseReason::ConsentWithdrawn,
                )
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

    /// Consumes consent events until `shutdown`, acking each once handled.
    pub async fn run_consent_consumer(
        self,
        bus: Arc<dyn EventBus>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut events = match bus.subscribe(CONSUMER, "bti.consent.v1.").await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "cannot subscribe to consent events");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                next = events.next() => match next {
                    None => return,
                    Some(Err(e)) => tracing::warn!(error = %format!("{e:#}"), "consent event stream"),
                    Some(Ok(d)) => match self.on_consent_event(&d.envelope).await {
                        Ok(_) => {
                            if let Err(e) = d.ack().await {
                                tracing::warn!(error = %e, "ack failed");
                            }
                        }
                        // Not acked: JetStream redelivers it.
                        Err(e) => tracing::warn!(error = %e, event = %d.envelope.id, "consent event not handled"),
                    },
                },
            }
        }
    }
}
