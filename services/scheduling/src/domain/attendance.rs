//! Who attends a case's meeting: the baton holder who organizes it, the
//! standing units that the child's consent covers (never one it does not),
//! the guardians or their representatives, and the child from the age at
//! which children take part in their own meetings.

use bti_proto::scheduling::{ParticipantResponse, ParticipantRole};
use bti_runtime::Violations;

use super::ParticipantRecord;

/// Children take part in their own BTI meetings from this age (younger
/// children are heard through the guardians and the holder).
pub const CHILD_ATTENDS_FROM: u32 = 12;

/// The parts of a participant the caller sends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Wanted {
    pub role: String,
    pub unit: String,
    pub professional: String,
    pub person: String,
    pub representation: String,
}

fn record(tenant: &str, meeting: &str, w: Wanted) -> ParticipantRecord {
    ParticipantRecord {
        tenant: tenant.to_string(),
        meeting: meeting.to_string(),
        id: bti_runtime::api::new_id(),
        role: w.role,
        unit: w.unit,
        professional: w.professional,
        person: w.person,
        representation: w.representation,
        response: ParticipantResponse::Unspecified.as_str_name().to_string(),
        removed: false,
    }
}

fn role(r: ParticipantRole) -> String {
    r.as_str_name().to_string()
}

/// What a case's meeting starts with, before the caller's additions.
pub struct Proposal<'a> {
    pub holder: &'a str,
    pub holder_unit: &'a str,
    /// The standing units that the child's consent covers.
    pub covered_standing: &'a [String],
    pub guardians: &'a [String],
    pub child: &'a str,
    pub child_age: u32,
}

/// The participants a booking or a case meeting starts with.
pub fn proposed(tenant: &str, meeting: &str, p: &Proposal<'_>) -> Vec<ParticipantRecord> {
    let mut out = vec![record(
        tenant,
        meeting,
        Wanted {
            role: role(ParticipantRole::Organizer),
            unit: p.holder_unit.to_string(),
            professional: p.holder.to_string(),
            ..Default::default()
        },
    )];
    for u in p.covered_standing {
        if u != p.holder_unit {
            out.push(record(
                tenant,
                meeting,
                Wanted {
                    role: role(ParticipantRole::Unit),
                    unit: u.clone(),
                    ..Default::default()
                },
            ));
        }
    }
    for g in p.guardians {
        out.push(record(
            tenant,
            meeting,
            Wanted {
                role: role(ParticipantRole::Guardian),
                person: g.clone(),
                ..Default::default()
            },
        ));
    }
    if p.child_age >= CHILD_ATTENDS_FROM {
        out.push(record(
            tenant,
            meeting,
            Wanted {
                role: role(ParticipantRole::Child),
                person: p.child.to_string(),
                ..Default::default()
            },
        ));
    }
    out
}

/// Checks the shape of each added participant (`field` is the request's
/// list field); which units consent covers is the caller's to check.
pub fn check_wanted(field: &str, wanted: &[Wanted], v: &mut Violations) {
    for (i, w) in wanted.iter().enumerate() {
        let f = |part: &str| format!("{field}[{i}].{part}");
        match ParticipantRole::from_str_name(&w.role) {
            Some(ParticipantRole::Unit) => v.require(&f("unit"), &w.unit),
            Some(ParticipantRole::Professional) => {
                v.require(&f("unit"), &w.unit);
                v.require(&f("professional"), &w.professional);
            }
            Some(ParticipantRole::Guardian) => v.require(&f("person"), &w.person),
            Some(ParticipantRole::Representative) => {
                v.require(&f("representation"), &w.representation);
                v.require(&f("person"), &w.person);
            }
            Some(ParticipantRole::Organizer) => v.add(
                f("role"),
                "the organizer is the baton holder, set by the service",
            ),
            Some(ParticipantRole::Child) => {
                v.add(f("role"), "the child takes part by age, set by the service")
            }
            _ => v.add(f("role"), "required"),
        }
    }
}

/// Adds the wanted participants not already on the meeting.
pub fn add(
    existing: &mut Vec<ParticipantRecord>,
    tenant: &str,
    meeting: &str,
    wanted: Vec<Wanted>,
) {
    for w in wanted {
        let same = |p: &ParticipantRecord| {
            !p.removed
                && p.role == w.role
                && p.unit == w.unit
                && p.professional == w.professional
                && p.person == w.person
        };
        if !existing.iter().any(same) {
            existing.push(record(tenant, meeting, w));
        }
    }
}

/// Takes off every participant acting for one of `units` (their consent no
/// longer covers them); returns those taken off.
pub fn remove_units(
    participants: &mut [ParticipantRecord],
    units: &[String],
) -> Vec<ParticipantRecord> {
    let mut removed = Vec::new();
    for p in participants.iter_mut() {
        let organizer = p.role == role(ParticipantRole::Organizer);
        if !p.removed && !organizer && units.contains(&p.unit) {
            p.removed = true;
            removed.push(p.clone());
        }
    }
    removed
}

/// Everyone answers anew once the time changes.
pub fn reset_responses(participants: &mut [ParticipantRecord]) {
    for p in participants.iter_mut() {
        p.response = ParticipantResponse::Unspecified.as_str_name().to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal<'a>(covered: &'a [String], guardians: &'a [String], age: u32) -> Proposal<'a> {
        Proposal {
            holder: "kari",
            holder_unit: "tenants/t/units/school",
            covered_standing: covered,
            guardians,
            child: "tenants/t/persons/child",
            child_age: age,
        }
    }

    fn roles(ps: &[ParticipantRecord]) -> Vec<&str> {
        ps.iter().map(|p| p.role.as_str()).collect()
    }

    #[test]
    fn a_booking_starts_with_holder_covered_units_guardians_and_an_older_child() {
        let covered = vec![
            "tenants/t/units/nurse".to_string(),
            "tenants/t/units/school".to_string(),
        ];
        let guardians = vec!["tenants/t/persons/mother".to_string()];
        let ps = proposed("t", "m", &proposal(&covered, &guardians, 13));
        assert_eq!(
            roles(&ps),
            vec![
                "PARTICIPANT_ROLE_ORGANIZER",
                "PARTICIPANT_ROLE_UNIT",
                "PARTICIPANT_ROLE_GUARDIAN",
                "PARTICIPANT_ROLE_CHILD"
            ]
        );
        assert_eq!(ps[0].professional, "kari");
        assert_eq!(ps[1].unit, "tenants/t/units/nurse");
        assert_eq!(ps[2].person, "tenants/t/persons/mother");
        assert_eq!(ps[3].person, "tenants/t/persons/child");
        assert_ne!(ps[0].id, ps[1].id);
        let young = proposed(
            "t",
            "m",
            &proposal(&covered, &guardians, CHILD_ATTENDS_FROM - 1),
        );
        assert!(!roles(&young).contains(&"PARTICIPANT_ROLE_CHILD"));
        let of_age = proposed(
            "t",
            "m",
            &proposal(&covered, &guardians, CHILD_ATTENDS_FROM),
        );
        assert!(roles(&of_age).contains(&"PARTICIPANT_ROLE_CHILD"));
    }

    #[test]
    fn a_unit_whose_consent_ended_leaves_but_the_organizer_stays() {
        let covered = vec!["tenants/t/units/nurse".to_string()];
        let mut ps = proposed("t", "m", &proposal(&covered, &[], 8));
        let gone = remove_units(
            &mut ps,
            &[
                "tenants/t/units/nurse".to_string(),
                "tenants/t/units/school".to_string(),
            ],
        );
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].unit, "tenants/t/units/nurse");
        assert!(ps[1].removed && !ps[0].removed);
        assert!(remove_units(&mut ps, &["tenants/t/units/nurse".to_string()]).is_empty());
    }

    fn violations(wanted: &[Wanted]) -> Vec<(String, String)> {
        let mut v = Violations::new();
        check_wanted("p", wanted, &mut v);
        match v.finish() {
            Ok(()) => Vec::new(),
            Err(bti_runtime::ApiError::InvalidArgument(vs)) => {
                vs.into_iter().map(|f| (f.field, f.description)).collect()
            }
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn each_role_needs_its_own_parts() {
        let w = |r: ParticipantRole, unit: &str, professional: &str, person: &str| Wanted {
            role: r.as_str_name().into(),
            unit: unit.into(),
            professional: professional.into(),
            person: person.into(),
            representation: String::new(),
        };
        let fields = |ws: &[Wanted]| {
            violations(ws)
                .into_iter()
                .map(|(f, _)| f)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            fields(&[w(ParticipantRole::Professional, "u", "", "")]),
            ["p[0].professional"]
        );
        assert_eq!(
            fields(&[w(ParticipantRole::Professional, "", "per", "")]),
            ["p[0].unit"]
        );
        assert!(fields(&[w(ParticipantRole::Professional, "u", "per", "")]).is_empty());
        assert_eq!(
            fields(&[w(ParticipantRole::Guardian, "", "", "")]),
            ["p[0].person"]
        );
        assert!(fields(&[w(ParticipantRole::Guardian, "", "", "g")]).is_empty());
        assert!(fields(&[w(ParticipantRole::Unit, "u", "", "")]).is_empty());
        // The organizer and the child are the service's to set, and say so.
        let said = violations(&[
            w(ParticipantRole::Organizer, "u", "per", ""),
            w(ParticipantRole::Child, "", "", "c"),
        ]);
        assert!(said[0].1.contains("baton holder"), "{said:?}");
        assert!(said[1].1.contains("by age"), "{said:?}");
        assert_eq!(violations(&[Wanted::default()])[0].1, "required");
    }

    #[test]
    fn wanted_participants_need_their_parts_and_cannot_be_organizer_or_child() {
        let mut v = Violations::new();
        let w = |r: ParticipantRole| Wanted {
            role: r.as_str_name().into(),
            ..Default::default()
        };
        check_wanted(
            "participants",
            &[
                w(ParticipantRole::Unit),
                w(ParticipantRole::Representative),
                w(ParticipantRole::Organizer),
                w(ParticipantRole::Child),
                Wanted::default(),
            ],
            &mut v,
        );
        let err: tonic::Status = v.finish().unwrap_err().into();
        let fields = bti_runtime::testing::violated_fields(&err);
        for f in [
            "participants[0].unit",
            "participants[1].representation",
            "participants[1].person",
            "participants[2].role",
            "participants[3].role",
            "participants[4].role",
        ] {
            assert!(fields.contains(&f.to_string()), "{f} in {fields:?}");
        }
    }

    #[test]
    fn adding_skips_who_is_already_there_and_answers_reset_on_a_move() {
        let mut ps = proposed("t", "m", &proposal(&[], &[], 8));
        let nurse = Wanted {
            role: "PARTICIPANT_ROLE_UNIT".into(),
            unit: "tenants/t/units/nurse".into(),
            ..Default::default()
        };
        add(&mut ps, "t", "m", vec![nurse.clone(), nurse.clone()]);
        assert_eq!(ps.len(), 2);
        // Same role, another unit; same unit, another role: both new.
        let ppt = Wanted {
            unit: "tenants/t/units/ppt".into(),
            ..nurse.clone()
        };
        let named = Wanted {
            role: "PARTICIPANT_ROLE_PROFESSIONAL".into(),
            professional: "nils".into(),
            ..nurse
        };
        add(&mut ps, "t", "m", vec![ppt, named]);
        assert_eq!(ps.len(), 4);
        ps[1].response = "PARTICIPANT_RESPONSE_ACCEPTED".into();
        reset_responses(&mut ps);
        assert_eq!(ps[1].response, "PARTICIPANT_RESPONSE_UNSPECIFIED");
    }
}
