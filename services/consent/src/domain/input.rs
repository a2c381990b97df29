//! Input rules shared by consents and representations: how consent was
//! given, covered units, and persons of the same municipality.

use std::collections::BTreeSet;

use bti_proto::consent::ConsentMethod;
use bti_proto::consent::consent_method::Method;
use bti_runtime::auth::Principal;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::{PersonName, UnitName};

/// How consent was given, as stored: (`signed_form` | `oral`, reference).
pub fn method_of(
    field: &str,
    m: Option<&ConsentMethod>,
    p: &Principal,
    v: &mut Violations,
) -> Option<(String, String)> {
    match m.and_then(|m| m.method.as_ref()) {
        Some(Method::SignedForm(f)) => {
            v.text(
                &format!("{field}.signed_form.document_reference"),
                &f.document_reference,
                500,
            );
            let hash_ok = f.content_sha256.len() == 64
                && f.content_sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !hash_ok {
                v.add(
                    format!("{field}.signed_form.content_sha256"),
                    "must be a hex SHA-256 (64 characters)",
                );
            }
            Some((
                "signed_form".into(),
                format!(
                    "{} sha256:{}",
                    f.document_reference.trim(),
                    f.content_sha256.to_lowercase()
                ),
            ))
        }
        Some(Method::Oral(_)) => match p {
            Principal::Employee { subject, .. } => {
                Some(("oral".into(), format!("recorded by {subject}")))
            }
            _ => {
                v.add(
                    format!("{field}.oral"),
                    "an oral consent is written down by an employee",
                );
                None
            }
        },
        None => {
            v.add(field.to_string(), "required: signed_form or oral");
            None
        }
    }
}

/// Unit names of `tenant`, de-duplicated and sorted; at least one.
pub fn units_of(field: &str, tenant: &str, units: &[String], v: &mut Violations) -> Vec<String> {
    let mut out = BTreeSet::new();
    for (i, u) in units.iter().enumerate() {
        match UnitName::parse(field, u) {
            Ok(n) if n.tenant == tenant => {
                out.insert(u.clone());
            }
            Ok(_) => v.add(
                format!("{field}[{i}]"),
                "must be a unit of the same municipality",
            ),
            Err(_) => v.add(
                format!("{field}[{i}]"),
                "must be a unit name tenants/{tenant}/units/{unit}",
            ),
        }
    }
    if units.is_empty() {
        v.add(field.to_string(), "at least one unit is required");
    }
    out.into_iter().collect()
}

/// A person of `tenant`.
pub fn same_tenant_person(field: &str, tenant: &str, name: &str) -> ApiResult<PersonName> {
    let n = PersonName::parse(field, name)?;
    if n.tenant != tenant {
        return Err(ApiError::invalid(
            field,
            "must be a person of the same municipality",
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bti_proto::consent::{OralConsent, SignedForm};

    fn teacher() -> Principal {
        Principal::Employee {
            subject: "t".into(),
            tenant: "4201".into(),
            units: vec![],
            roles: vec![],
        }
    }

    #[test]
    fn units_are_of_the_tenant_sorted_and_unique() {
        let mut v = Violations::new();
        let units = units_of(
            "u",
            "4201",
            &[
                "tenants/4201/units/b".into(),
                "tenants/4201/units/a".into(),
                "tenants/4201/units/b".into(),
            ],
            &mut v,
        );
        assert!(v.is_empty());
        assert_eq!(units, ["tenants/4201/units/a", "tenants/4201/units/b"]);
        let mut v = Violations::new();
        units_of(
            "u",
            "4201",
            &["tenants/4202/units/a".into(), "x".into()],
            &mut v,
        );
        let err: tonic::Status = v.finish().unwrap_err().into();
        assert_eq!(
            bti_runtime::testing::violated_fields(&err),
            ["u[0]", "u[1]"]
        );
        let mut v = Violations::new();
        units_of("u", "4201", &[], &mut v);
        assert!(!v.is_empty());
    }

    #[test]
    fn forms_need_a_reference_and_a_hash_and_oral_consent_an_employee() {
        let form = |reference: &str, hash: &str| ConsentMethod {
            method: Some(Method::SignedForm(SignedForm {
                document_reference: reference.into(),
                content_sha256: hash.into(),
            })),
        };
        let mut v = Violations::new();
        let m = method_of(
            "m",
            Some(&form("arkiv 1", &"A".repeat(64))),
            &teacher(),
            &mut v,
        );
        assert!(v.is_empty());
        assert_eq!(m.unwrap().1, format!("arkiv 1 sha256:{}", "a".repeat(64)));
        let mut v = Violations::new();
        method_of("m", Some(&form(" ", "xyz")), &teacher(), &mut v);
        let err: tonic::Status = v.finish().unwrap_err().into();
        assert_eq!(
            bti_runtime::testing::violated_fields(&err),
            [
                "m.signed_form.document_reference",
                "m.signed_form.content_sha256"
            ]
        );
        let oral = ConsentMethod {
            method: Some(Method::Oral(OralConsent::default())),
        };
        let guardian = Principal::Guardian {
            subject: "g".into(),
            tenant: "4201".into(),
            person: "tenants/4201/persons/g".into(),
        };
        let mut v = Violations::new();
        assert!(method_of("m", Some(&oral), &guardian, &mut v).is_none());
        assert!(!v.is_empty());
        let mut v = Violations::new();
        assert_eq!(
            method_of("m", Some(&oral), &teacher(), &mut v).unwrap().0,
            "oral"
        );
    }
}
