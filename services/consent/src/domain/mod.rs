//! Consent domain, pure: records and names, the municipality's consent
//! policy and the access decision (`policy`), input rules (`input`), and who
//! may do what (`access`).

pub mod access;
pub mod input;
pub mod policy;

pub use policy::*;

use bti_proto::consent::{ConsentPurpose, ConsentState};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Event source of the consent service.
pub const SOURCE: &str = "//bti.no/consent";

/// Everyone is an adult, who consents alone, from this age.
pub const ADULT_AGE: u32 = 18;

bti_runtime::resource_name!(
    /// A municipality.
    pub struct TenantName = "tenants/{tenant}" { tenant }
);
bti_runtime::resource_name!(
    /// A consent.
    pub struct ConsentName = "tenants/{tenant}/consents/{consent}" { tenant, consent }
);
bti_runtime::resource_name!(
    /// An immutable revision of a consent (the revision is a number).
    pub struct RevisionName =
        "tenants/{tenant}/consents/{consent}/revisions/{revision}" { tenant, consent, revision }
);
bti_runtime::resource_name!(
    /// A guardian's consent to be represented in meetings.
    pub struct RepresentationName =
        "tenants/{tenant}/representations/{representation}" { tenant, representation }
);
bti_runtime::resource_name!(
    /// A directory person.
    pub struct PersonName = "tenants/{tenant}/persons/{person}" { tenant, person }
);
bti_runtime::resource_name!(
    /// A directory unit.
    pub struct UnitName = "tenants/{tenant}/units/{unit}" { tenant, unit }
);

pub fn consent_name(tenant: &str, id: &str) -> String {
    ConsentName::new(tenant, id).to_string()
}
pub fn revision_name(tenant: &str, consent: &str, revision: i64) -> String {
    RevisionName::new(tenant, consent, revision.to_string()).to_string()
}
pub fn representation_name(tenant: &str, id: &str) -> String {
    RepresentationName::new(tenant, id).to_string()
}

/// One grantor as stored (JSON in `consents.grantors`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantorRecord {
    pub person: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ConsentRecord {
    pub tenant: String,
    pub id: String,
    pub subject: String,
    pub purpose: String,
    pub grantors: String,
    pub state: String,
    pub revision: i64,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub withdraw_time: Option<DateTime<Utc>>,
    pub withdraw_reason: String,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl ConsentRecord {
    pub fn name(&self) -> String {
        consent_name(&self.tenant, &self.id)
    }

    pub fn grantor_list(&self) -> Vec<GrantorRecord> {
        serde_json::from_str(&self.grantors).unwrap_or_default()
    }

    pub fn is_active(&self) -> bool {
        self.state == ConsentState::Active.as_str_name()
    }
}

/// A consent with the units it covers now.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentView {
    pub consent: ConsentRecord,
    pub units: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RevisionRecord {
    pub tenant: String,
    pub consent: String,
    pub revision: i64,
    pub kind: String,
    pub covered_units: String,
    pub state: String,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub method: String,
    pub method_reference: String,
    pub actor: String,
    pub reason: String,
    pub create_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RepresentationRecord {
    pub tenant: String,
    pub id: String,
    pub guardian: String,
    pub subject: String,
    pub representative: String,
    pub representative_unit: String,
    pub method: String,
    pub method_reference: String,
    pub valid_until: Option<DateTime<Utc>>,
    pub revoked: bool,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// A consent of the subject for the purpose, as CheckAccess sees it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Candidate {
    pub id: String,
    pub revision: i64,
    pub state: String,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub covers: bool,
}

/// A consent row of a batch access read: its subject and purpose, and one
/// asked-about unit it covers (empty when it covers none of them).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CoveredCandidate {
    pub subject: String,
    pub purpose: String,
    pub id: String,
    pub revision: i64,
    pub state: String,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub unit: String,
}

/// The candidates of one question (`subject`, `unit`, `purpose`) among a
/// batch's rows, as [`Candidate`]s in consent order.
pub fn candidates_for(
    rows: &[CoveredCandidate],
    subject: &str,
    unit: &str,
    purpose: &str,
) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.subject == subject && r.purpose == purpose)
    {
        let covers = r.unit == unit;
        match out.iter_mut().find(|c| c.id == r.id) {
            Some(c) => c.covers |= covers,
            None => out.push(Candidate {
                id: r.id.clone(),
                revision: r.revision,
                state: r.state.clone(),
                valid_from: r.valid_from,
                valid_until: r.valid_until,
                covers,
            }),
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

pub fn purpose(value: i32) -> Result<ConsentPurpose, String> {
    match ConsentPurpose::try_from(value) {
        Ok(ConsentPurpose::Unspecified) => Err("required".into()),
        Ok(p) => Ok(p),
        Err(_) => Err("unknown purpose".into()),
    }
}
