//! The consent service's access question.

use bti_proto::consent::consent_service_client::ConsentServiceClient;
use bti_proto::consent::{
    BatchCheckAccessRequest, CheckAccessRequest, ConsentPurpose, GetRepresentationRequest,
};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::client::ServiceCredentials;
use crate::{ApiError, ApiResult};

/// Asks the consent service, on every call (never cached, so a withdrawal
/// applies to the next request).
#[derive(Clone)]
pub struct ConsentChecker {
    client: ConsentServiceClient<InterceptedService<Channel, ServiceCredentials>>,
}

impl ConsentChecker {
    pub fn new(channel: Channel, credentials: ServiceCredentials) -> Self {
        ConsentChecker {
            client: ConsentServiceClient::with_interceptor(channel, credentials),
        }
    }

    /// The consent revision that lets `unit` act on `subject` for relay-log
    /// collaboration now, or `None`.
    pub async fn relay_log_revision(&self, subject: &str, unit: &str) -> ApiResult<Option<String>> {
        let answer = self
            .client
            .clone()
            .check_access(CheckAccessRequest {
                subject: subject.to_string(),
                unit: unit.to_string(),
                purpose: ConsentPurpose::RelayLogCollaboration as i32,
            })
            .await
            .map_err(|s| {
                tracing::warn!(code = ?s.code(), "consent check failed");
                ApiError::Unavailable("the consent service could not be reached".into())
            })?
            .into_inner();
        Ok(answer.allowed.then_some(answer.revision))
    }

    /// [`Self::relay_log_revision`] for each `(subject, unit)` pair, asked in
    /// one call (at most 1000 pairs, all of one municipality).
    pub async fn relay_log_revisions(
        &self,
        pairs: &[(String, String)],
    ) -> ApiResult<Vec<Option<String>>> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let requests = pairs
            .iter()
            .map(|(subject, unit)| CheckAccessRequest {
                subject: subject.clone(),
                unit: unit.clone(),
                purpose: ConsentPurpose::RelayLogCollaboration as i32,
            })
            .collect();
        let answers = self
            .client
            .clone()
            .batch_check_access(BatchCheckAccessRequest { requests })
            .await
            .map_err(|s| {
                tracing::warn!(code = ?s.code(), "consent batch check failed");
                ApiError::Unavailable("the consent service could not be reached".into())
            })?
            .into_inner()
            .responses;
        if answers.len() != pairs.len() {
            return Err(ApiError::Unavailable(
                "the consent service answered a different number of questions".into(),
            ));
        }
        Ok(answers
            .into_iter()
            .map(|a| a.allowed.then_some(a.revision))
            .collect())
    }

    /// A representation in force (not revoked, not past its validity at
    /// `now`), or `None`.
    pub async fn representation(
        &self,
        name: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> ApiResult<Option<Representative>> {
        let r = match self
            .client
            .clone()
            .get_representation(GetRepresentationRequest {
                name: name.to_string(),
            })
            .await
        {
            Ok(r) => r.into_inner(),
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::NotFound | tonic::Code::InvalidArgument
                ) =>
            {
                return Ok(None);
            }
            Err(s) => {
                tracing::warn!(code = ?s.code(), "representation look-up failed");
                return Err(ApiError::Unavailable(
                    "the consent service could not be reached".into(),
                ));
            }
        };
        let expired = r.valid_until.is_some_and(|t| t.seconds < now.timestamp());
        Ok((!r.revoked && !expired).then_some(Representative {
            guardian: r.guardian,
            subject: r.subject,
            professional: r.representative,
            unit: r.representative_unit,
        }))
    }
}

/// A professional standing in for a guardian in meetings, by consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Representative {
    pub guardian: String,
    pub subject: String,
    pub professional: String,
    pub unit: String,
}
