//! Records to contract messages.

use bti_proto::consent::*;
use bti_runtime::api::{enum_of, etag, timestamp};

use crate::domain::*;

pub fn consent_msg(v: &ConsentView) -> Consent {
    let c = &v.consent;
    Consent {
        name: c.name(),
        subject: c.subject.clone(),
        purpose: enum_of(ConsentPurpose::from_str_name, &c.purpose),
        grantors: c
            .grantor_list()
            .into_iter()
            .map(|g| Grantor {
                person: g.person,
                role: enum_of(GrantorRole::from_str_name, &g.role),
            })
            .collect(),
        covered_units: v.units.clone(),
        method: None,
        valid_from: Some(timestamp(c.valid_from)),
        valid_until: c.valid_until.map(timestamp),
        state: enum_of(ConsentState::from_str_name, &c.state),
        revision: revision_name(&c.tenant, &c.id, c.revision),
        withdraw_time: c.withdraw_time.map(timestamp),
        withdraw_reason: c.withdraw_reason.clone(),
        create_time: Some(timestamp(c.create_time)),
        update_time: Some(timestamp(c.update_time)),
        etag: etag(c.version),
    }
}

pub fn revision_msg(r: &RevisionRecord) -> ConsentRevision {
    ConsentRevision {
        name: revision_name(&r.tenant, &r.consent, r.revision),
        kind: enum_of(RevisionKind::from_str_name, &r.kind),
        covered_units: serde_json::from_str(&r.covered_units).unwrap_or_default(),
        state: enum_of(ConsentState::from_str_name, &r.state),
        valid_from: Some(timestamp(r.valid_from)),
        valid_until: r.valid_until.map(timestamp),
        method: r.method.clone(),
        method_reference: r.method_reference.clone(),
        actor: r.actor.clone(),
        reason: r.reason.clone(),
        create_time: Some(timestamp(r.create_time)),
    }
}

pub fn representation_msg(r: &RepresentationRecord) -> Representation {
    Representation {
        name: representation_name(&r.tenant, &r.id),
        guardian: r.guardian.clone(),
        subject: r.subject.clone(),
        representative: r.representative.clone(),
        representative_unit: r.representative_unit.clone(),
        method: None,
        valid_until: r.valid_until.map(timestamp),
        revoked: r.revoked,
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag(r.version),
    }
}
