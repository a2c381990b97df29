//! What the notification service asks scheduling: a recipient's invitation
//! to a meeting, to attach to their e-mail.

use bti_proto::scheduling::GetMeetingInvitationRequest;
use bti_proto::scheduling::scheduling_service_client::SchedulingServiceClient;
use bti_proto::types::Recipient;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::client::ServiceCredentials;
use crate::{ApiError, ApiResult};

/// The scope a caller needs for another recipient's invitation.
pub const SCOPE_INVITATIONS: &str = "bti.scheduling.invitations";

/// Scheduling, as the notification service sees it.
#[derive(Clone)]
pub struct Scheduling {
    client: SchedulingServiceClient<InterceptedService<Channel, ServiceCredentials>>,
}

/// One recipient's calendar for one meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// `REQUEST` or `CANCEL`.
    pub method: String,
    pub ics: String,
}

impl Scheduling {
    pub fn new(channel: Channel, credentials: ServiceCredentials) -> Self {
        Scheduling {
            client: SchedulingServiceClient::with_interceptor(channel, credentials),
        }
    }

    /// `to`'s invitation to `meeting`, or `None` when they are not on it
    /// (or this service set runs no scheduling).
    pub async fn invitation(&self, meeting: &str, to: Recipient) -> ApiResult<Option<Invitation>> {
        match self
            .client
            .clone()
            .get_meeting_invitation(GetMeetingInvitationRequest {
                name: meeting.to_string(),
                recipient: Some(to),
            })
            .await
        {
            Ok(r) => {
                let r = r.into_inner();
                Ok(Some(Invitation {
                    method: r.method,
                    ics: r.ics,
                }))
            }
            Err(s) if matches!(s.code(), Code::NotFound | Code::Unimplemented) => Ok(None),
            Err(s) => {
                tracing::warn!(code = ?s.code(), "scheduling call failed");
                Err(ApiError::Unavailable(
                    "scheduling could not be reached".into(),
                ))
            }
        }
    }
}
