//! What services ask the directory, over its gRPC contract: a municipality's
//! policy, facts about a person (age, kind, guardians with parental
//! responsibility), whether units exist, and whether a staff member is absent.

use crate::client::ServiceCredentials;
use crate::{ApiError, ApiResult};
use bti_proto::directory::directory_service_client::DirectoryServiceClient;
use bti_proto::directory::{
    GetPersonRequest, GetTenantRequest, GetUnitRequest, ListGuardianshipsRequest,
    ListMembersRequest, LookupPersonRequest, MemberRole, PersonKind, UnitType,
};
use chrono::NaiveDate;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The municipality's consent policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub youth_consent_age: u32,
    pub require_all_guardians: bool,
}

/// What the directory says about a person the work is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectFacts {
    pub name: String,
    pub age: u32,
    pub pregnant_woman: bool,
    pub youth: bool,
    /// Guardians with parental responsibility.
    pub guardians: Vec<String>,
}

/// What the directory says about a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFacts {
    pub display_name: String,
    pub unit_type: UnitType,
}

/// One of a unit's staff, as the directory lists them (no display name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberFacts {
    /// The identity-provider subject.
    pub subject: String,
    pub leader: bool,
    pub absent: bool,
}

type Client = DirectoryServiceClient<InterceptedService<Channel, ServiceCredentials>>;

#[derive(Clone)]
pub struct Directory {
    client: Client,
}

/// A directory error: NOT_FOUND is the caller's to interpret; anything else
/// means the directory could not answer.
fn unavailable(status: tonic::Status) -> ApiError {
    tracing::warn!(code = ?status.code(), "directory call failed");
    ApiError::Unavailable("the directory could not be reached".into())
}

impl Directory {
    pub fn new(channel: Channel, credentials: ServiceCredentials) -> Self {
        Directory {
            client: DirectoryServiceClient::with_interceptor(channel, credentials),
        }
    }

    pub async fn policy(&self, tenant: &str) -> ApiResult<Policy> {
        let t = self
            .client
            .clone()
            .get_tenant(GetTenantRequest {
                name: format!("tenants/{tenant}"),
            })
            .await
            .map_err(|s| match s.code() {
                Code::NotFound => ApiError::NotFound(format!("tenants/{tenant}")),
                _ => unavailable(s),
            })?
            .into_inner();
        let settings = t.settings.unwrap_or_default();
        Ok(Policy {
            youth_consent_age: settings.youth_consent_age.max(0) as u32,
            require_all_guardians: settings.require_all_guardians_consent,
        })
    }

    /// The subject's facts, or `None` when no such person exists.
    pub async fn subject(&self, name: &str, today: NaiveDate) -> ApiResult<Option<SubjectFacts>> {
        let person = match self
            .client
            .clone()
            .get_person(GetPersonRequest {
                name: name.to_string(),
            })
            .await
        {
            Ok(p) => p.into_inner(),
            Err(s) if s.code() == Code::NotFound => return Ok(None),
            Err(s) => return Err(unavailable(s)),
        };
        let birth = person
            .birth_date
            .and_then(|d| NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32))
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("directory person without birth date"))
            })?;
        Ok(Some(SubjectFacts {
            name: name.to_string(),
            age: today.years_since(birth).unwrap_or(0),
            pregnant_woman: person.kind == PersonKind::PregnantWoman as i32,
            youth: person.kind == PersonKind::Youth as i32,
            guardians: self.guardians(name).await?,
        }))
    }

    /// Guardians of `person` with parental responsibility.
    pub async fn guardians(&self, person: &str) -> ApiResult<Vec<String>> {
        let mut out = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .client
                .clone()
                .list_guardianships(ListGuardianshipsRequest {
                    parent: person.to_string(),
                    page_size: 100,
                    page_token,
                })
                .await
                .map_err(|s| match s.code() {
                    Code::NotFound => ApiError::NotFound(person.to_string()),
                    _ => unavailable(s),
                })?
                .into_inner();
            out.extend(
                page.guardianships
                    .into_iter()
                    .filter(|g| g.parental_responsibility)
                    .map(|g| g.guardian),
            );
            if page.next_page_token.is_empty() {
                return Ok(out);
            }
            page_token = page.next_page_token;
        }
    }

    /// Whether `subject` is on `unit`'s staff list marked absent; `None` when
    /// they are not on it.
    pub async fn member_absent(&self, unit: &str, subject: &str) -> ApiResult<Option<bool>> {
        Ok(self
            .members(unit)
            .await?
            .into_iter()
            .find(|m| m.subject == subject)
            .map(|m| m.absent))
    }

    /// `unit`'s staff list (every page), subjects and roles only.
    pub async fn members(&self, unit: &str) -> ApiResult<Vec<MemberFacts>> {
        let mut out = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .client
                .clone()
                .list_members(ListMembersRequest {
                    parent: unit.to_string(),
                    page_size: 500,
                    page_token,
                })
                .await
                .map_err(|s| match s.code() {
                    Code::NotFound => ApiError::NotFound(unit.to_string()),
                    _ => unavailable(s),
                })?
                .into_inner();
            out.extend(page.members.into_iter().map(|m| MemberFacts {
                leader: m.role == MemberRole::UnitLeader as i32,
                subject: m.subject,
                absent: m.absent,
            }));
            if page.next_page_token.is_empty() {
                return Ok(out);
            }
            page_token = page.next_page_token;
        }
    }

    /// The directory person of `tenant` with `national_id` (never logged), or
    /// `None` when there is none.
    pub async fn lookup_person(
        &self,
        tenant: &str,
        national_id: &str,
    ) -> ApiResult<Option<String>> {
        match self
            .client
            .clone()
            .lookup_person(LookupPersonRequest {
                parent: format!("tenants/{tenant}"),
                national_id: national_id.to_string(),
            })
            .await
        {
            Ok(p) => Ok(Some(p.into_inner().name)),
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(unavailable(s)),
        }
    }

    /// A unit's display name and type, or `None` when there is no such unit.
    pub async fn unit(&self, name: &str) -> ApiResult<Option<UnitFacts>> {
        match self
            .client
            .clone()
            .get_unit(GetUnitRequest {
                name: name.to_string(),
            })
            .await
        {
            Ok(u) => {
                let u = u.into_inner();
                Ok(Some(UnitFacts {
                    display_name: u.display_name,
                    unit_type: UnitType::try_from(u.r#type).unwrap_or(UnitType::Unspecified),
                }))
            }
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(unavailable(s)),
        }
    }

    pub async fn unit_exists(&self, name: &str) -> ApiResult<bool> {
        Ok(self.unit(name).await?.is_some())
    }
}
