//! Records to contract messages.

use bti_proto::directory::*;
use bti_runtime::api::{date, enum_of, etag, timestamp};

use crate::domain::*;

pub fn tenant_msg(r: &TenantRecord) -> Tenant {
    Tenant {
        name: tenant_name(&r.id),
        display_name: r.display_name.clone(),
        settings: Some(TenantSettings {
            youth_consent_age: r.youth_consent_age,
            require_all_guardians_consent: r.require_all_guardians_consent,
        }),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag(r.version),
    }
}

pub fn unit_msg(r: &UnitRecord) -> Unit {
    Unit {
        name: unit_name(&r.tenant, &r.id),
        display_name: r.display_name.clone(),
        r#type: enum_of(UnitType::from_str_name, &r.unit_type),
        organization_number: r.organization_number.clone(),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag(r.version),
    }
}

pub fn member_msg(r: &MemberRecord) -> Member {
    Member {
        name: member_name(&r.tenant, &r.unit, &r.id),
        subject: r.subject.clone(),
        display_name: r.display_name.clone(),
        role: enum_of(MemberRole::from_str_name, &r.role),
        absent: r.absent,
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag(r.version),
    }
}

pub fn person_msg(r: &PersonRecord) -> Person {
    Person {
        name: person_name(&r.tenant, &r.id),
        kind: enum_of(PersonKind::from_str_name, &r.kind),
        national_id: r.national_id.clone(),
        given_name: r.given_name.clone(),
        family_name: r.family_name.clone(),
        birth_date: date(r.birth_date),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag(r.version),
    }
}

pub fn guardianship_msg(r: &GuardianshipRecord) -> Guardianship {
    Guardianship {
        name: guardianship_name(&r.tenant, &r.person, &r.id),
        guardian: person_name(&r.tenant, &r.guardian),
        parental_responsibility: r.parental_responsibility,
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag(r.version),
    }
}
