//! The municipality's consent policy (who must consent) and the access
//! decision ("may this unit act on this subject now?"), pure.

use bti_proto::consent::{ConsentState, DenialReason, GrantorRole};
use bti_runtime::{ApiError, ApiResult};
use chrono::{DateTime, Utc};

use super::{ADULT_AGE, Candidate, GrantorRecord};

/// The answer to "may this unit act on this subject for this purpose now?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Allowed { consent: String, revision: i64 },
    Denied(DenialReason),
}

/// Decides access from the subject's consents for the purpose at `now`. Time
/// is checked here, so a consent stops covering at its valid-until instant
/// even before the expiry sweep records it.
pub fn decide(candidates: &[Candidate], now: DateTime<Utc>) -> Access {
    let active = |c: &Candidate| c.state == ConsentState::Active.as_str_name();
    let in_time = |c: &Candidate| c.valid_from <= now && c.valid_until.is_none_or(|u| now < u);
    if let Some(c) = candidates
        .iter()
        .find(|c| active(c) && in_time(c) && c.covers)
    {
        return Access::Allowed {
            consent: c.id.clone(),
            revision: c.revision,
        };
    }
    let covering: Vec<&Candidate> = candidates.iter().filter(|c| c.covers).collect();
    let reason = if candidates.is_empty() {
        DenialReason::NoConsent
    } else if covering.iter().any(|c| active(c) && c.valid_from > now) {
        DenialReason::NotYetValid
    } else if covering
        .iter()
        .any(|c| c.state == ConsentState::Expired.as_str_name() || (active(c) && !in_time(c)))
    {
        DenialReason::Expired
    } else if covering
        .iter()
        .any(|c| c.state == ConsentState::Withdrawn.as_str_name())
    {
        DenialReason::Withdrawn
    } else {
        DenialReason::UnitNotCovered
    };
    Access::Denied(reason)
}

pub use bti_runtime::peers::directory::{Policy, SubjectFacts};

/// Checks the grantors against the policy. Malformed grantors (not a guardian
/// with parental responsibility; the subject under the consent age) are
/// INVALID_ARGUMENT on the grantor's field; grantors that are valid but not
/// enough are FAILED_PRECONDITION naming each missing consent.
pub fn check_grantors(
    policy: Policy,
    subject: &SubjectFacts,
    grantors: &[GrantorRecord],
) -> ApiResult<()> {
    let mut violations = bti_runtime::Violations::new();
    let self_consents = subject.pregnant_woman || subject.age >= policy.youth_consent_age;
    for (i, g) in grantors.iter().enumerate() {
        let field = format!("consent.grantors[{i}]");
        match GrantorRole::from_str_name(&g.role) {
            Some(GrantorRole::Guardian) => {
                if !subject.guardians.contains(&g.person) {
                    violations.add(
                        format!("{field}.person"),
                        "is not a guardian with parental responsibility for the subject",
                    );
                }
            }
            Some(GrantorRole::Subject) => {
                if g.person != subject.name {
                    violations.add(
                        format!("{field}.person"),
                        "a subject grantor must be the subject",
                    );
                } else if !self_consents {
                    violations.add(
                        format!("{field}.role"),
                        format!(
                            "the subject is under the municipality's consent age ({}) and cannot consent",
                            policy.youth_consent_age
                        ),
                    );
                }
            }
            _ => violations.add(format!("{field}.role"), "required"),
        }
    }
    if grantors.is_empty() {
        violations.add("consent.grantors", "required");
    }
    violations.finish()?;

    let mut missing = Vec::new();
    let has = |p: &str| grantors.iter().any(|g| g.person == p);
    if self_consents && !has(&subject.name) {
        missing.push((
            "SUBJECT_CONSENT_MISSING".to_string(),
            subject.name.clone(),
            "the subject's own consent is required".to_string(),
        ));
    }
    // Adults and pregnant women consent alone; children and youths under 18
    // also need their guardians.
    let needs_guardians = !subject.pregnant_woman && subject.age < ADULT_AGE;
    if needs_guardians {
        if subject.guardians.is_empty() {
            missing.push((
                "NO_GUARDIAN_REGISTERED".to_string(),
                subject.name.clone(),
                "no guardian with parental responsibility is registered in the directory"
                    .to_string(),
            ));
        } else if policy.require_all_guardians {
            for g in subject.guardians.iter().filter(|g| !has(g)) {
                missing.push((
                    "GUARDIAN_CONSENT_MISSING".to_string(),
                    g.clone(),
                    "the municipality requires every guardian with parental responsibility to consent".to_string(),
                ));
            }
        } else if !subject.guardians.iter().any(|g| has(g)) {
            missing.push((
                "GUARDIAN_CONSENT_MISSING".to_string(),
                subject.name.clone(),
                "a guardian with parental responsibility must consent".to_string(),
            ));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApiError::FailedPreconditions {
            reason: "CONSENT_POLICY_NOT_MET",
            message: "the consent does not satisfy the municipality's consent policy".into(),
            violations: missing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn g(person: &str, role: GrantorRole) -> GrantorRecord {
        GrantorRecord {
            person: person.into(),
            role: role.as_str_name().into(),
        }
    }

    fn child(age: u32, guardians: &[&str]) -> SubjectFacts {
        SubjectFacts {
            name: "s".into(),
            age,
            pregnant_woman: false,
            youth: false,
            guardians: guardians.iter().map(|x| x.to_string()).collect(),
        }
    }

    const ONE: Policy = Policy {
        youth_consent_age: 15,
        require_all_guardians: false,
    };
    const ALL: Policy = Policy {
        youth_consent_age: 15,
        require_all_guardians: true,
    };

    fn missing(r: ApiResult<()>) -> Vec<(String, String)> {
        match r {
            Err(ApiError::FailedPreconditions { violations, .. }) => {
                violations.into_iter().map(|(k, s, _)| (k, s)).collect()
            }
            other => panic!("expected FailedPreconditions, got {other:?}"),
        }
    }

    #[test]
    fn one_guardian_suffices_unless_the_municipality_requires_all() {
        let s = child(8, &["mor", "far"]);
        assert!(check_grantors(ONE, &s, &[g("mor", GrantorRole::Guardian)]).is_ok());
        assert_eq!(
            missing(check_grantors(ALL, &s, &[g("mor", GrantorRole::Guardian)])),
            [("GUARDIAN_CONSENT_MISSING".to_string(), "far".to_string())]
        );
        assert!(
            check_grantors(
                ALL,
                &s,
                &[
                    g("mor", GrantorRole::Guardian),
                    g("far", GrantorRole::Guardian)
                ]
            )
            .is_ok()
        );
    }

    #[test]
    fn a_youth_at_the_age_consents_too_and_under_it_cannot() {
        let s = child(15, &["mor"]);
        assert_eq!(
            missing(check_grantors(ONE, &s, &[g("mor", GrantorRole::Guardian)])),
            [("SUBJECT_CONSENT_MISSING".to_string(), "s".to_string())]
        );
        assert!(
            check_grantors(
                ONE,
                &s,
                &[
                    g("mor", GrantorRole::Guardian),
                    g("s", GrantorRole::Subject)
                ]
            )
            .is_ok()
        );
        let young = child(14, &["mor"]);
        let err = check_grantors(ONE, &young, &[g("s", GrantorRole::Subject)]).unwrap_err();
        assert!(
            matches!(err, ApiError::InvalidArgument(ref v) if v[0].field == "consent.grantors[0].role"),
            "{err:?}"
        );
        // Sixteen where the municipality says so.
        let sixteen = Policy {
            youth_consent_age: 16,
            ..ONE
        };
        assert!(check_grantors(sixteen, &s, &[g("mor", GrantorRole::Guardian)]).is_ok());
    }

    #[test]
    fn adults_and_pregnant_women_consent_alone() {
        let adult = child(18, &[]);
        assert!(check_grantors(ONE, &adult, &[g("s", GrantorRole::Subject)]).is_ok());
        let pregnant = SubjectFacts {
            pregnant_woman: true,
            ..child(17, &[])
        };
        assert!(check_grantors(ONE, &pregnant, &[g("s", GrantorRole::Subject)]).is_ok());
    }

    #[test]
    fn a_stranger_is_not_a_grantor() {
        let s = child(8, &["mor"]);
        let err = check_grantors(ONE, &s, &[g("nabo", GrantorRole::Guardian)]).unwrap_err();
        assert!(
            matches!(err, ApiError::InvalidArgument(ref v) if v[0].field == "consent.grantors[0].person"),
            "{err:?}"
        );
        // A youth whose guardians are not registered cannot be covered yet.
        assert_eq!(
            missing(check_grantors(
                ONE,
                &child(16, &[]),
                &[g("s", GrantorRole::Subject)]
            )),
            [("NO_GUARDIAN_REGISTERED".to_string(), "s".to_string())]
        );
    }

    fn cand(state: ConsentState, from: i64, until: Option<i64>, covers: bool) -> Candidate {
        let now = DateTime::<Utc>::from_timestamp(1_000_000, 0).unwrap();
        Candidate {
            id: "c".into(),
            revision: 3,
            state: state.as_str_name().into(),
            valid_from: now + Duration::seconds(from),
            valid_until: until.map(|u| now + Duration::seconds(u)),
            covers,
        }
    }

    #[test]
    fn access_decisions() {
        let now = DateTime::<Utc>::from_timestamp(1_000_000, 0).unwrap();
        use ConsentState::*;
        assert_eq!(decide(&[], now), Access::Denied(DenialReason::NoConsent));
        assert_eq!(
            decide(&[cand(Active, -10, None, true)], now),
            Access::Allowed {
                consent: "c".into(),
                revision: 3
            }
        );
        assert_eq!(
            decide(&[cand(Active, -10, None, false)], now),
            Access::Denied(DenialReason::UnitNotCovered)
        );
        assert_eq!(
            decide(&[cand(Withdrawn, -10, None, true)], now),
            Access::Denied(DenialReason::Withdrawn)
        );
        assert_eq!(
            decide(&[cand(Expired, -10, Some(-1), true)], now),
            Access::Denied(DenialReason::Expired)
        );
        // Past valid-until but not yet swept: already denied.
        assert_eq!(
            decide(&[cand(Active, -10, Some(0), true)], now),
            Access::Denied(DenialReason::Expired)
        );
        assert_eq!(
            decide(&[cand(Active, 10, None, true)], now),
            Access::Denied(DenialReason::NotYetValid)
        );
        // Any one consent covering the unit now is enough.
        assert!(matches!(
            decide(
                &[
                    cand(Withdrawn, -10, None, true),
                    cand(Active, -5, None, true)
                ],
                now
            ),
            Access::Allowed { .. }
        ));
    }
}
