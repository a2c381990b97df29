//! What services ask the relay log, over its gRPC contract: a subject's
//! active log (names and holder only), and, for the gateway with its scope,
//! attaching a referral, lifting a restriction, and a summary for a client.

use crate::client::ServiceCredentials;
use crate::{ApiError, ApiResult};
use bti_proto::caselog::case_log_service_client::CaseLogServiceClient;
use bti_proto::caselog::{
    AttachReferralRequest, AttachedReferral, CaseLogState, CaseLogSummary,
    GetCaseLogSummaryRequest, LiftReferralRestrictionRequest, ListCaseLogsRequest,
};
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Client = CaseLogServiceClient<InterceptedService<Channel, ServiceCredentials>>;

/// The relay log, as its callers see it.
#[derive(Clone)]
pub struct CaseLog {
    client: Client,
}

/// A subject's active relay log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveLog {
    pub name: String,
    pub unit: String,
    pub holder: String,
    pub holder_unit: String,
}

/// How an attach ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attach {
    Attached(AttachedReferral),
    /// The log closed or consent no longer covers the sender's unit since
    /// the gateway looked: the referral goes to intake instead.
    Refused,
}

fn unavailable(status: tonic::Status) -> ApiError {
    tracing::warn!(code = ?status.code(), "relay log call failed");
    ApiError::Unavailable("the relay log could not be reached".into())
}

impl CaseLog {
    pub fn new(channel: Channel, credentials: ServiceCredentials) -> Self {
        CaseLog {
            client: CaseLogServiceClient::with_interceptor(channel, credentials),
        }
    }

    /// The subject's active log in `tenant`, if any.
    pub async fn active_log(&self, tenant: &str, person: &str) -> ApiResult<Option<ActiveLog>> {
        let page = self
            .client
            .clone()
            .list_case_logs(ListCaseLogsRequest {
                parent: format!("tenants/{tenant}"),
                subject: person.to_string(),
                state: CaseLogState::Active as i32,
                page_size: 1,
                ..Default::default()
            })
            .await
            .map_err(unavailable)?
            .into_inner();
        Ok(page.case_logs.into_iter().next().map(|l| {
            let holder = l.holder.unwrap_or_default();
            ActiveLog {
                name: l.name,
                unit: l.unit,
                holder: holder.professional,
                holder_unit: holder.unit,
            }
        }))
    }

    pub async fn attach(
        &self,
        log: &str,
        referral: AttachedReferral,
        request_id: &str,
    ) -> ApiResult<Attach> {
        match self
            .client
            .clone()
            .attach_referral(AttachReferralRequest {
                parent: log.to_string(),
                referral: Some(referral),
                request_id: request_id.to_string(),
            })
            .await
        {
            Ok(r) => Ok(Attach::Attached(r.into_inner())),
            Err(s) if matches!(s.code(), Code::FailedPrecondition | Code::NotFound) => {
                Ok(Attach::Refused)
            }
            Err(s) => Err(unavailable(s)),
        }
    }

    pub async fn lift(&self, attached: &str) -> ApiResult<()> {
        self.client
            .clone()
            .lift_referral_restriction(LiftReferralRestrictionRequest {
                name: attached.to_string(),
            })
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The summary, or `None` when the relay log finds no basis (NOT_FOUND).
    pub async fn summary(
        &self,
        log: &str,
        unit: &str,
        client: &str,
        basis_referral: &str,
    ) -> ApiResult<Option<CaseLogSummary>> {
        match self
            .client
            .clone()
            .get_case_log_summary(GetCaseLogSummaryRequest {
                name: log.to_string(),
                on_behalf_of_unit: unit.to_string(),
                client: client.to_string(),
                legal_basis_referral: basis_referral.to_string(),
            })
            .await
        {
            Ok(r) => Ok(Some(r.into_inner())),
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(unavailable(s)),
        }
    }
}
