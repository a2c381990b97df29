//! Gateway domain, pure: the stored records, resource names, the national
//! referral format (`fiks`), input validation (`validate`), routing of a new
//! referral (`routing`), the statutory deadlines (`deadlines`), the status
//! rules (`status`) and who may do what (`access`). Nothing here does I/O.

pub mod access;
pub mod deadlines;
pub mod fiks;
pub mod names;
pub mod routing;
pub mod status;
pub mod validate;

pub use deadlines::{DeadlineView, FEEDBACK, INVESTIGATION, REVIEW, deadlines};
pub use names::*;
pub use status::{Transition, apply_status, transition};

use bti_proto::gateway::{Placement, ReferralKind, ReferralStatus};
use chrono::{DateTime, Utc};

/// Event source of the gateway service.
pub const SOURCE: &str = "//bti.no/gateway";

/// Scopes a client may be granted.
pub const SCOPE_REFERRALS_WRITE: &str = "bti:referrals.write";
pub const SCOPE_REFERRALS_READ: &str = "bti:referrals.read";
pub const SCOPE_SUMMARIES_READ: &str = "bti:summaries.read";
pub const KNOWN_SCOPES: [&str; 3] = [
    SCOPE_REFERRALS_WRITE,
    SCOPE_REFERRALS_READ,
    SCOPE_SUMMARIES_READ,
];

/// Requests per second a client gets when its registration says nothing.
pub const DEFAULT_RATE: i32 = 20;
pub const MAX_RATE: i32 = 10_000;
pub const MAX_SHORT: usize = 1_000;
pub const MAX_TEXT: usize = 20_000;
pub const MAX_ATTACHMENTS: usize = 5;
/// Display names, external references.
pub const MAX_NAME: usize = 200;
pub const MAX_FILENAME: usize = 255;

/// Placement while the referral is being routed (never listed).
pub const PENDING: &str = "PLACEMENT_UNSPECIFIED";

/// Stored `content_kind` of a referral.
pub const STRUCTURED: &str = "structured";
pub const FIKS: &str = "fiks";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClientRecord {
    pub id: String,
    pub display_name: String,
    pub organization_number: String,
    /// Kommunenummer, space-separated.
    pub tenants: String,
    /// Space-separated.
    pub scopes: String,
    pub unit: String,
    pub certificate_sha256: String,
    pub rate_limit_per_second: i32,
    pub disabled: bool,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl ClientRecord {
    pub fn name(&self) -> String {
        client_name(&self.id)
    }

    pub fn tenant_list(&self) -> Vec<&str> {
        self.tenants.split_whitespace().collect()
    }

    pub fn acts_for(&self, tenant: &str) -> bool {
        self.tenant_list().contains(&tenant)
    }

    pub fn allows_scope(&self, scope: &str) -> bool {
        self.scopes.split_whitespace().any(|s| s == scope)
    }

    /// The kommunenummer of the unit it speaks for.
    pub fn unit_tenant(&self) -> String {
        unit_tenant(&self.unit)
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReferralRecord {
    pub id: String,
    pub client: String,
    pub request_id: String,
    pub tenant: String,
    /// Directory person (for an unborn child, the mother).
    pub person: String,
    /// `CHILD` or `UNBORN_CHILD`.
    pub subject_kind: String,
    pub kind: String,
    pub external_reference: String,
    pub from_organization: String,
    pub from_unit: String,
    /// [`STRUCTURED`] or [`FIKS`].
    pub content_kind: String,
    pub concern: String,
    pub background: String,
    pub guardians_informed: bool,
    pub fiks_json: String,
    pub restricted: bool,
    pub legal_basis: String,
    pub lift_time: Option<DateTime<Utc>>,
    pub status: String,
    pub feedback: String,
    pub placement: String,
    pub case_log: String,
    pub attached_referral: String,
    pub assigned_unit: String,
    pub investigation_extended: bool,
    pub received_time: Option<DateTime<Utc>>,
    pub investigation_time: Option<DateTime<Utc>>,
    pub closed_time: Option<DateTime<Utc>>,
    /// Deadlines already reported missed (DeadlineMissed sent), space-separated kinds.
    pub missed: String,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    /// While pending: the relay log a settle decided to attach it to (empty
    /// until one did). Every later settle follows this decision.
    pub settle_log: String,
}

impl ReferralRecord {
    /// A new referral from `client`, pending until routed.
    pub fn pending(
        id: String,
        client: &ClientRecord,
        request_id: String,
        input: validate::ReferralInput,
        person: String,
        now: DateTime<Utc>,
    ) -> ReferralRecord {
        let c = input.content;
        ReferralRecord {
            id,
            client: client.id.clone(),
            request_id,
            tenant: input.tenant,
            person,
            subject_kind: if input.unborn {
                "UNBORN_CHILD"
            } else {
                "CHILD"
            }
            .into(),
            kind: input.kind.as_str_name().into(),
            external_reference: input.external_reference,
            from_organization: client.organization_number.clone(),
            from_unit: client.unit.clone(),
            content_kind: c.kind.into(),
            concern: c.concern,
            background: c.background,
            guardians_informed: c.guardians_informed,
            fiks_json: c.fiks_json,
            restricted: input.restricted,
            legal_basis: input.legal_basis,
            lift_time: None,
            status: ReferralStatus::Submitted.as_str_name().into(),
            feedback: String::new(),
            placement: PENDING.into(),
            case_log: String::new(),
            attached_referral: String::new(),
            assigned_unit: String::new(),
            investigation_extended: false,
            received_time: None,
            investigation_time: None,
            closed_time: None,
            missed: String::new(),
            settle_log: String::new(),
            version: 1,
            create_time: now,
            update_time: now,
        }
    }

    pub fn name(&self) -> String {
        referral_name(&self.id)
    }

    pub fn is_pending(&self) -> bool {
        self.placement == PENDING
    }

    pub fn kind(&self) -> ReferralKind {
        ReferralKind::from_str_name(&self.kind).unwrap_or_default()
    }

    pub fn status(&self) -> ReferralStatus {
        ReferralStatus::from_str_name(&self.status).unwrap_or_default()
    }

    pub fn placement(&self) -> Placement {
        Placement::from_str_name(&self.placement).unwrap_or_default()
    }

    /// Restricted and not lifted.
    pub fn is_restricted(&self) -> bool {
        self.restricted && self.lift_time.is_none()
    }

    /// Statutory deadlines: child-welfare reports only.
    pub fn deadlines(&self, now: DateTime<Utc>) -> Vec<DeadlineView> {
        deadlines(self, now)
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AttachmentRecord {
    pub referral: String,
    pub position: i32,
    pub filename: String,
    pub content_type: String,
    pub sha256: String,
    pub size_bytes: i64,
}

/// An attachment to store: its metadata and bytes.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub meta: AttachmentRecord,
    pub data: Vec<u8>,
}

/// One access to referral data.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AccessRecord {
    pub id: String,
    pub referral: String,
    pub actor: String,
    pub action: String,
    pub purpose: String,
    pub basis: String,
    pub create_time: DateTime<Utc>,
}

/// The access-log actor of a client acting without a token at hand (the
/// sweep settling its referral).
pub fn client_label(id: &str) -> String {
    format!("client:{id}")
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    bti_runtime::api::hex(&sha2::Sha256::digest(data))
}

/// `%PDF-` magic: what the attachment claims to be.
pub fn looks_like_pdf(data: &[u8]) -> bool {
    data.starts_with(b"%PDF-")
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A child-welfare report created at `create`, in intake.
    pub fn report(create: DateTime<Utc>) -> ReferralRecord {
        ReferralRecord {
            id: "r".into(),
            client: "c".into(),
            request_id: String::new(),
            tenant: "4201".into(),
            person: "tenants/4201/persons/p".into(),
            subject_kind: "CHILD".into(),
            kind: ReferralKind::ChildWelfareReport.as_str_name().into(),
            external_reference: "x".into(),
            from_organization: String::new(),
            from_unit: "tenants/4201/units/barnevern".into(),
            content_kind: STRUCTURED.into(),
            concern: String::new(),
            background: String::new(),
            guardians_informed: false,
            fiks_json: String::new(),
            restricted: false,
            legal_basis: String::new(),
            lift_time: None,
            status: ReferralStatus::Submitted.as_str_name().into(),
            feedback: String::new(),
            placement: Placement::Intake.as_str_name().into(),
            case_log: String::new(),
            attached_referral: String::new(),
            assigned_unit: String::new(),
            investigation_extended: false,
            received_time: None,
            investigation_time: None,
            closed_time: None,
            missed: String::new(),
            settle_log: String::new(),
            version: 1,
            create_time: create,
            update_time: create,
        }
    }

    pub fn client(tenants: &str, unit: &str) -> ClientRecord {
        let t = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        ClientRecord {
            id: "cw".into(),
            display_name: "cw".into(),
            organization_number: "974760673".into(),
            tenants: tenants.into(),
            scopes: SCOPE_REFERRALS_WRITE.into(),
            unit: unit.into(),
            certificate_sha256: String::new(),
            rate_limit_per_second: 20,
            disabled: false,
            version: 1,
            create_time: t,
            update_time: t,
        }
    }
}
