//! Directory domain, pure: the stored records, their validation, resource
//! names, and who may do what (`access`).

pub mod access;
pub mod names;

pub use names::*;

use bti_proto::directory::{MemberRole, PersonKind, UnitType};
use chrono::{DateTime, NaiveDate, Utc};

/// Event source of the directory.
pub const SOURCE: &str = "//bti.no/directory";

pub const DEFAULT_YOUTH_CONSENT_AGE: i32 = 15;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TenantRecord {
    pub id: String,
    pub display_name: String,
    pub youth_consent_age: i32,
    pub require_all_guardians_consent: bool,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UnitRecord {
    pub tenant: String,
    pub id: String,
    pub display_name: String,
    pub unit_type: String,
    pub organization_number: String,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MemberRecord {
    pub tenant: String,
    pub unit: String,
    pub id: String,
    pub subject: String,
    pub display_name: String,
    pub role: String,
    pub absent: bool,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// A person. `Debug` leaves out the national id and names.
#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct PersonRecord {
    pub tenant: String,
    pub id: String,
    pub kind: String,
    pub national_id: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl std::fmt::Debug for PersonRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonRecord")
            .field("tenant", &self.tenant)
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GuardianshipRecord {
    pub tenant: String,
    pub person: String,
    pub id: String,
    pub guardian: String,
    pub parental_responsibility: bool,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

// Enum validation: stored by name, `UNSPECIFIED` and unknown numbers refused.

pub fn unit_type(value: i32) -> Result<UnitType, String> {
    match UnitType::try_from(value) {
        Ok(UnitType::Unspecified) => Err("required".into()),
        Ok(t) => Ok(t),
        Err(_) => Err("unknown unit type".into()),
    }
}

pub fn member_role(value: i32) -> Result<MemberRole, String> {
    match MemberRole::try_from(value) {
        Ok(MemberRole::Unspecified) => Err("required".into()),
        Ok(r) => Ok(r),
        Err(_) => Err("unknown role".into()),
    }
}

pub fn person_kind(value: i32) -> Result<PersonKind, String> {
    match PersonKind::try_from(value) {
        Ok(PersonKind::Unspecified) => Err("required".into()),
        Ok(k) => Ok(k),
        Err(_) => Err("unknown person kind".into()),
    }
}

pub fn youth_consent_age(value: i32) -> Result<i32, String> {
    if (12..=18).contains(&value) {
        Ok(value)
    } else {
        Err("must be between 12 and 18".into())
    }
}

/// Display names and person names: required, at most 200 characters.
pub const MAX_NAME: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_refuse_unspecified_and_unknown() {
        assert!(unit_type(0).is_err());
        assert!(unit_type(999).is_err());
        assert_eq!(unit_type(2).unwrap(), UnitType::School);
        assert!(member_role(0).is_err());
        assert!(person_kind(42).is_err());
    }

    #[test]
    fn person_debug_hides_identity() {
        let p = PersonRecord {
            tenant: "4201".into(),
            id: "p1".into(),
            kind: "PERSON_KIND_CHILD".into(),
            national_id: "01010750160".into(),
            given_name: "Kari".into(),
            family_name: "Nordmann".into(),
            birth_date: NaiveDate::from_ymd_opt(2007, 1, 1).unwrap(),
            version: 1,
            create_time: Utc::now(),
            update_time: Utc::now(),
        };
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("01010750160")
                && !shown.contains("Kari")
                && !shown.contains("Nordmann")
        );
    }
}
