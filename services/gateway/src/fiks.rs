//! KS Fiks "bekymringsmelding" v2 documents (public-sector reporter), validated
//! against the published schema embedded from `schema/`. Violations name the
//! failing place as a JSON Pointer and describe it by schema keyword only:
//! the document holds national ids, names and the concern itself, so no
//! value from it is ever echoed.

use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Resource, Validator};
use serde_json::Value;

const SCHEMA: &str = include_str!("../schema/offentlig.bekymringsmelding.v2.json");
const ADDRESS: &str = include_str!("../schema/adresse.json");
/// Where `../adresse.json` resolves from the schema's `$id`.
const ADDRESS_URI: &str = "https://fiks.ks.no/adresse.json";
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
const MAX_VIOLATIONS: usize = 50;

/// Facts the gateway needs from a valid document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiksFacts {
    pub kommunenummer: String,
    /// `fnr` of each child in `offentligBarn` (empty when absent).
    pub child_national_ids: Vec<String>,
    /// Some child is unborn (`ufoedt`).
    pub unborn: bool,
    /// Every guardian (`foresatte`) was told (`orientert`).
    pub guardians_informed: bool,
}

/// One failing place: a JSON Pointer into the document ("" for the whole
/// document) and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiksViolation {
    pub pointer: String,
    pub description: String,
}

static VALIDATOR: LazyLock<Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(SCHEMA).expect("embedded schema is JSON");
    let address: Value = serde_json::from_str(ADDRESS).expect("embedded schema is JSON");
    jsonschema::options()
        .with_draft(Draft::Draft201909)
        // 2019-09 makes `format` an annotation; the published schema's
        // `date-time` is meant as a rule, so it is checked.
        .should_validate_formats(true)
        .with_resource(
            ADDRESS_URI,
            Resource::from_contents(address).expect("address schema"),
        )
        .build(&schema)
        .expect("the published schema compiles")
});

fn violation(pointer: &str, description: impl Into<String>) -> FiksViolation {
    FiksViolation {
        pointer: pointer.to_string(),
        description: description.into(),
    }
}

/// A property name from the document, shortened: names are schema vocabulary
/// unless a sender invents them.
fn name(s: &str) -> String {
    s.chars().take(64).collect()
}

fn describe(kind: &ValidationErrorKind) -> String {
    use ValidationErrorKind as K;
    match kind {
        K::Required { property } => match property.as_str() {
            Some(p) => format!("required property \"{}\" is missing", name(p)),
            None => "a required property is missing".into(),
        },
        K::Type { kind } => match kind {
            jsonschema::error::TypeKind::Single(t) => format!("must be of type {t}"),
            jsonschema::error::TypeKind::Multiple(ts) => {
                let names: Vec<String> = ts.iter().map(|t| t.to_string()).collect();
                format!("must be of type {}", names.join(" or "))
            }
        },
        K::Pattern { pattern } => format!("must match the pattern {pattern}"),
        K::Format { format } => format!("must be a valid {format}"),
        K::MinItems { limit } => format!("must have at least {limit} items"),
        K::MaxItems { limit } => format!("must have at most {limit} items"),
        K::MinLength { limit } => format!("must be at least {limit} characters"),
        K::MaxLength { limit } => format!("must be at most {limit} characters"),
        K::AdditionalProperties { unexpected } | K::UnevaluatedProperties { unexpected } => {
            let names: Vec<String> = unexpected
                .iter()
                .map(|u| format!("\"{}\"", name(u)))
                .collect();
            format!("unexpected properties {}", names.join(", "))
        }
        K::Enum { .. } | K::Constant { .. } => "is not one of the allowed values".into(),
        K::FalseSchema => "is not allowed".into(),
        _ => "does not satisfy the schema".into(),
    }
}

/// Validates `json` against the published schema and extracts its facts.
pub fn validate(json: &str) -> Result<FiksFacts, Vec<FiksViolation>> {
    if json.len() > MAX_DOCUMENT_BYTES {
        return Err(vec![violation("", "document larger than 1 MiB")]);
    }
    let doc: Value = serde_json::from_str(json).map_err(|e| {
        vec![violation(
            "",
            format!("not valid JSON: line {} column {}", e.line(), e.column()),
        )]
    })?;
    let mut found: Vec<FiksViolation> = VALIDATOR
        .iter_errors(&doc)
        .map(|e| violation(e.instance_path.as_str(), describe(&e.kind)))
        .collect();
    if !found.is_empty() {
        found.sort_by(|a, b| (&a.pointer, &a.description).cmp(&(&b.pointer, &b.description)));
        found.dedup();
        found.truncate(MAX_VIOLATIONS);
        return Err(found);
    }
    let children = doc["offentligBarn"].as_array().cloned().unwrap_or_default();
    let guardians = doc["foresatte"].as_array().cloned().unwrap_or_default();
    Ok(FiksFacts {
        kommunenummer: doc["kommunenummer"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        child_national_ids: children
            .iter()
            .map(|c| c["fnr"].as_str().unwrap_or_default().to_string())
            .collect(),
        unborn: children.iter().any(|c| c["ufoedt"].as_bool() == Some(true)),
        guardians_informed: !guardians.is_empty()
            && guardians
                .iter()
                .all(|g| g["orientert"].as_bool() == Some(true)),
    })
}

/// A complete, valid example (fictional people, a synthetic national id), for
/// tests and the examples integrators are shown.
pub fn example_document() -> String {
    serde_json::json!({
        "kommunenummer": "4201",
        "kommunenavn": "Sauda",
        "bydelsnummer": "00",
        "bydelsnavn": "Sentrum",
        "offentligMelder": {
            "personnavn": "Lærar Larsen",
            "rolle": "Kontaktlærar",
            "telefonnummer": "+47 52 78 00 00",
            "epost": "larsen@skule.example.no",
            "virksomhet": {
                "navn": "Sauda ungdomsskule",
                "orgnr": "974760673",
                "adresse": {"adresselinje1": "Skulegata 1", "postnummer": "4200", "poststed": "Sauda"}
            }
        },
        "offentligBarn": [{
            "fnr": "13897248022",
            "ufoedt": false,
            "personnavn": "Test Testesen",
            "adresse": {"adresselinje1": "Heimvegen 2", "postnummer": "4200", "poststed": "Sauda"},
            "orientert": false,
            "orientertGrunn": "Frykt for at barnet vert utsett for meir"
        }],
        "foresatte": [{"personnavn": "Forelder Testesen", "orientert": false}],
        "melding": {"melding": "Barnet har blåmerke og seier det er redd for å gå heim.", "historie": "Observert over tre veker."},
        "sendingstidspunkt": "2026-11-20T09:30:00+01:00",
        "leveringskanal": "fagsystem"
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_json::from_str(&example_document()).unwrap()
    }

    fn pointers(r: Result<FiksFacts, Vec<FiksViolation>>) -> Vec<String> {
        r.expect_err("should fail")
            .into_iter()
            .map(|v| v.pointer)
            .collect()
    }

    #[test]
    fn the_example_is_valid_and_yields_its_facts() {
        let facts = validate(&example_document()).unwrap();
        assert_eq!(facts.kommunenummer, "4201");
        assert_eq!(facts.child_national_ids, vec!["13897248022"]);
        assert!(!facts.unborn && !facts.guardians_informed);
    }

    #[test]
    fn failures_are_named_by_json_pointer() {
        let mut d = doc();
        d.as_object_mut().unwrap().remove("melding");
        assert_eq!(pointers(validate(&d.to_string())), vec![""]);
        let mut d = doc();
        d["kommunenummer"] = "42".into();
        d["offentligBarn"][0]["ufoedt"] = "nei".into();
        d["offentligBarn"][0]["adresse"] = serde_json::json!({});
        assert_eq!(
            pointers(validate(&d.to_string())),
            vec![
                "/kommunenummer",
                "/offentligBarn/0/adresse",
                "/offentligBarn/0/ufoedt"
            ]
        );
        let mut d = doc();
        d["foresatte"] = serde_json::json!([]);
        assert_eq!(pointers(validate(&d.to_string())), vec!["/foresatte"]);
    }

    #[test]
    fn the_sending_time_must_be_a_date_time() {
        let mut d = doc();
        d["sendingstidspunkt"] = "i går kveld".into();
        let e = validate(&d.to_string()).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].pointer, "/sendingstidspunkt");
        assert_eq!(e[0].description, "must be a valid date-time");
        d["sendingstidspunkt"] = "2026-11-20T09:30:00Z".into();
        assert!(validate(&d.to_string()).is_ok());
    }

    #[test]
    fn invalid_and_oversized_documents_fail_at_the_root() {
        let e = validate("{\"kommunenummer\": ").unwrap_err();
        assert_eq!(e[0].pointer, "");
        assert!(e[0].description.starts_with("not valid JSON"));
        let big = format!("\"{}\"", "x".repeat(MAX_DOCUMENT_BYTES));
        assert_eq!(
            validate(&big).unwrap_err()[0].description,
            "document larger than 1 MiB"
        );
    }

    #[test]
    fn descriptions_never_echo_the_document() {
        let mut d = doc();
        d["offentligBarn"][0]["fnr"] = 13897248022u64.into();
        d["offentligBarn"][0]["personnavn"] = serde_json::json!(["Test Testesen"]);
        d["offentligMelder"]["epost"] = "Lærar Larsen at skule".into();
        d["melding"]["melding"] = serde_json::json!({"tekst": "Barnet har blåmerke"});
        let shown = format!("{:?}", validate(&d.to_string()).unwrap_err());
        for secret in ["13897248022", "Testesen", "Larsen", "blåmerke"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("/offentligBarn/0/fnr"));
    }
}
