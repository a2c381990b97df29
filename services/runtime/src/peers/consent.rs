//! The consent service's access question.

use bti_proto::consent::consent_service_client::ConsentServiceClient;
use bti_proto::consent::{CheckAccessRequest, ConsentPurpose};
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
}
