//! KS Fiks "bekymringsmelding" v2 documents (public-sector reporter), validated
//! against the published schema embedded from `schema/`, checked for control
//! characters in the text they carry, and against the referral they come
//! with (its municipality and subject). Everything wrong is reported at once,
//! as far as the document can be read: the facts are compared whenever the
//! document is JSON and holds them, whether or not the schema passes.
//!
//! Violations name the failing place as a JSON Pointer and describe it by
//! schema keyword only: the document holds national ids, names and the
//! concern itself, so no value from it is ever echoed.
//!
//! The schema's `date-time` is read as case systems send it: RFC 3339 with an
//! offset, or a local date-time without one (KS' own example has
//! `2020-03-16T13:29:33`), which is Norwegian time, Europe/Oslo.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Resource, Validator};
use serde_json::Value;

const SCHEMA: &str = include_str!("../../schema/offentlig.bekymringsmelding.v2.json");
const ADDRESS: &str = include_str!("../../schema/adresse.json");
/// Where `../adresse.json` resolves from the schema's `$id`.
const ADDRESS_URI: &str = "https://fiks.ks.no/adresse.json";
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
const MAX_VIOLATIONS: usize = 50;

/// What the document must agree with: the referral it comes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected<'a> {
    /// `referral.tenant`.
    pub tenant: &'a str,
    /// The subject's national id (the mother's, for an unborn child).
    pub national_id: Option<&'a str>,
    /// The subject is an unborn child.
    pub unborn: bool,
}

/// Facts the gateway reads from a document. `kommunenummer` and the
/// children are `None` when the document does not hold them in a form that
/// can be read (the schema then says what is wrong).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiksFacts {
    pub kommunenummer: Option<String>,
    /// `fnr` of each child in `offentligBarn` (empty when absent).
    pub child_national_ids: Option<Vec<String>>,
    /// Some child is unborn (`ufoedt`).
    pub unborn: bool,
    /// Every guardian (`foresatte`) was told (`orientert`).
    pub guardians_informed: bool,
}

/// One failing place: a JSON Pointer into the document ("" for the whole
/// document) and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
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
        // `date-time` is meant as a rule, so it is checked, as it is meant.
        .should_validate_formats(true)
        .with_format("date-time", |s: &str| sending_time(s).is_some())
        .with_resource(
            ADDRESS_URI,
            Resource::from_contents(address).expect("address schema"),
        )
        .build(&schema)
        .expect("the published schema compiles")
});

/// A `date-time` of a document as an instant: RFC 3339 with an offset, or a
/// local date-time (`YYYY-MM-DDTHH:MM:SS` with optional fractions) in
/// Europe/Oslo. A local time Oslo skips (the hour clocks go forward) is none;
/// one it has twice (the hour they go back) is the first.
pub fn sending_time(s: &str) -> Option<DateTime<Utc>> {
    // RFC 3339's separator; chrono would take a space too.
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't')) {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    chrono_tz::Europe::Oslo
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

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

/// A JSON Pointer segment (RFC 6901 escapes).
fn segment(key: &str) -> String {
    name(key).replace('~', "~0").replace('/', "~1")
}

/// Every string (and property name) holding a forbidden control character,
/// by pointer: the document's text reaches caseworkers as text fields do.
fn controls(v: &Value, pointer: &str, out: &mut Vec<FiksViolation>) {
    const WHAT: &str = "must not contain control characters other than tab and line breaks";
    let forbidden = bti_runtime::api::has_forbidden_control;
    match v {
        Value::String(s) if forbidden(s) => out.push(violation(pointer, WHAT)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                controls(item, &format!("{pointer}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                if forbidden(key) {
                    out.push(violation(
                        pointer,
                        "a property name contains control characters",
                    ));
                }
                controls(item, &format!("{pointer}/{}", segment(key)), out);
            }
        }
        _ => {}
    }
}

impl FiksFacts {
    /// What `doc` says, as far as it can be read.
    pub fn of(doc: &Value) -> FiksFacts {
        let children = doc["offentligBarn"].as_array();
        let guardians = doc["foresatte"].as_array().cloned().unwrap_or_default();
        FiksFacts {
            kommunenummer: doc["kommunenummer"].as_str().map(str::to_string),
            child_national_ids: children.map(|cs| {
                cs.iter()
                    .map(|c| c["fnr"].as_str().unwrap_or_default().to_string())
                    .collect()
            }),
            unborn: children
                .is_some_and(|cs| cs.iter().any(|c| c["ufoedt"].as_bool() == Some(true))),
            guardians_informed: !guardians.is_empty()
                && guardians
                    .iter()
                    .all(|g| g["orientert"].as_bool() == Some(true)),
        }
    }

    /// Where the document disagrees with the referral it comes with.
    pub fn disagreements(&self, e: &Expected) -> Vec<FiksViolation> {
        let mut out = Vec::new();
        if let Some(k) = &self.kommunenummer
            && k != e.tenant
        {
            out.push(violation(
                "/kommunenummer",
                "does not match referral.tenant",
            ));
        }
        if let Some(ids) = &self.child_national_ids {
            if e.unborn {
                if !self.unborn {
                    out.push(violation(
                        "/offentligBarn",
                        "the subject is an unborn child but no child in the document is unborn",
                    ));
                }
            } else if let Some(nid) = e.national_id
                && !ids.iter().any(|f| f == nid)
            {
                out.push(violation(
                    "/offentligBarn",
                    "no child in the document has the national id of referral.subject",
                ));
            }
        }
        out
    }
}

/// Validates `json` against the published schema, its text for control
/// characters and its facts against `expected`; every violation at once.
pub fn validate(json: &str, expected: &Expected) -> Result<FiksFacts, Vec<FiksViolation>> {
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
    controls(&doc, "", &mut found);
    let facts = FiksFacts::of(&doc);
    // A field the schema refuses already says what to mend there.
    let disagreements: Vec<FiksViolation> = facts
        .disagreements(expected)
        .into_iter()
        .filter(|d| !found.iter().any(|f| f.pointer == d.pointer))
        .collect();
    found.extend(disagreements);
    if found.is_empty() {
        return Ok(facts);
    }
    found.sort();
    found.dedup();
    found.truncate(MAX_VIOLATIONS);
    Err(found)
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

    /// The subject of [`example_document`].
    const EXAMPLE: Expected = Expected {
        tenant: "4201",
        national_id: Some("13897248022"),
        unborn: false,
    };

    /// A public-sector report in the form of KS' published v2 example.
    const KS_EXAMPLE: &str =
        include_str!("../../tests/fixtures/offentlig-bekymringsmelding-v2.json");

    fn doc() -> Value {
        serde_json::from_str(&example_document()).unwrap()
    }

    fn check(d: &Value) -> Result<FiksFacts, Vec<FiksViolation>> {
        validate(&d.to_string(), &EXAMPLE)
    }

    fn pointers(r: Result<FiksFacts, Vec<FiksViolation>>) -> Vec<String> {
        r.expect_err("should fail")
            .into_iter()
            .map(|v| v.pointer)
            .collect()
    }

    #[test]
    fn the_example_is_valid_and_yields_its_facts() {
        let facts = validate(&example_document(), &EXAMPLE).unwrap();
        assert_eq!(facts.kommunenummer.as_deref(), Some("4201"));
        assert_eq!(facts.child_national_ids, Some(vec!["13897248022".into()]));
        assert!(!facts.unborn && !facts.guardians_informed);
    }

    #[test]
    fn the_published_example_is_valid_as_it_is_sent() {
        let subject = Expected {
            tenant: "4201",
            national_id: Some("28871350045"),
            unborn: false,
        };
        let facts = validate(KS_EXAMPLE, &subject).unwrap();
        assert!(facts.guardians_informed);
        assert_eq!(facts.child_national_ids.map(|c| c.len()), Some(2));
    }

    #[test]
    fn failures_are_named_by_json_pointer() {
        let mut d = doc();
        d.as_object_mut().unwrap().remove("melding");
        assert_eq!(pointers(check(&d)), vec![""]);
        let mut d = doc();
        d["kommunenummer"] = "42".into();
        d["offentligBarn"][0]["ufoedt"] = "nei".into();
        d["offentligBarn"][0]["adresse"] = serde_json::json!({});
        assert_eq!(
            pointers(check(&d)),
            vec![
                "/kommunenummer",
                "/offentligBarn/0/adresse",
                "/offentligBarn/0/ufoedt"
            ]
        );
        let mut d = doc();
        d["foresatte"] = serde_json::json!([]);
        assert_eq!(pointers(check(&d)), vec!["/foresatte"]);
    }

    #[test]
    fn facts_are_compared_even_when_the_schema_fails() {
        let mut d = doc();
        d["bydelsnummer"] = "1".into();
        d["kommunenummer"] = "1103".into();
        d["offentligBarn"][0]["fnr"] = "01010750160".into();
        let e = check(&d).unwrap_err();
        assert_eq!(
            e.iter().map(|v| v.pointer.as_str()).collect::<Vec<_>>(),
            vec!["/bydelsnummer", "/kommunenummer", "/offentligBarn"]
        );
        assert_eq!(e[1].description, "does not match referral.tenant");
        // Without the fact fields there is nothing to compare.
        d.as_object_mut().unwrap().remove("kommunenummer");
        d.as_object_mut().unwrap().remove("offentligBarn");
        let e = check(&d).unwrap_err();
        assert!(
            e.iter()
                .all(|v| v.pointer.is_empty() || v.pointer == "/bydelsnummer"),
            "{e:?}"
        );
        // An unborn subject needs an unborn child in the document.
        let unborn = Expected {
            unborn: true,
            ..EXAMPLE
        };
        let e = validate(&example_document(), &unborn).unwrap_err();
        assert_eq!(pointers(Err(e)), vec!["/offentligBarn"]);
    }

    #[test]
    fn the_sending_time_must_be_a_date_time() {
        let mut d = doc();
        for bad in [
            "i går kveld",
            "2026-11-20",
            "2026-11-20 09:30:00Z",
            "2026-11-20T09:30",
            "2026-11-20T25:30:00",
            "2026-02-30T09:30:00",
            "2026-03-29T02:30:00",
        ] {
            d["sendingstidspunkt"] = bad.into();
            let e = check(&d).unwrap_err();
            assert_eq!(e.len(), 1, "{bad}");
            assert_eq!(e[0].pointer, "/sendingstidspunkt");
            assert_eq!(e[0].description, "must be a valid date-time");
        }
        for good in [
            "2026-11-20T09:30:00Z",
            "2026-11-20T09:30:00+01:00",
            "2026-11-20T09:30:00",
            "2026-11-20T09:30:00.123",
        ] {
            d["sendingstidspunkt"] = good.into();
            assert!(check(&d).is_ok(), "{good}");
        }
    }

    #[test]
    fn local_times_are_norwegian_time() {
        let at = |s| sending_time(s).map(|t| t.to_rfc3339());
        // Winter (CET) and summer (CEST).
        assert_eq!(
            at("2020-03-16T13:29:33").unwrap(),
            "2020-03-16T12:29:33+00:00"
        );
        assert_eq!(
            at("2020-06-16T13:29:33").unwrap(),
            "2020-06-16T11:29:33+00:00"
        );
        // The hour skipped in spring does not exist; the one repeated in
        // autumn is taken the first time.
        assert_eq!(at("2020-03-29T02:30:00"), None);
        assert_eq!(
            at("2020-10-25T02:30:00").unwrap(),
            "2020-10-25T00:30:00+00:00"
        );
        // An offset is taken as given.
        assert_eq!(
            at("2020-03-16T13:29:33Z").unwrap(),
            "2020-03-16T13:29:33+00:00"
        );
    }

    #[test]
    fn control_characters_in_the_text_are_named_by_pointer() {
        let mut d = doc();
        d["melding"]["historie"] = "a\u{0}b".into();
        d["offentligBarn"][0]["orientertGrunn"] = "ring\u{7}".into();
        d["melding"]["melding"] = "to\nlinjer\tog tab".into();
        assert_eq!(
            pointers(check(&d)),
            vec!["/melding/historie", "/offentligBarn/0/orientertGrunn"]
        );
        let shown = format!("{:?}", check(&d).unwrap_err());
        assert!(!shown.contains("ring"), "{shown}");
    }

    #[test]
    fn invalid_and_oversized_documents_fail_at_the_root() {
        let e = validate("{\"kommunenummer\": ", &EXAMPLE).unwrap_err();
        assert_eq!(e[0].pointer, "");
        assert!(e[0].description.starts_with("not valid JSON"));
        let big = format!("\"{}\"", "x".repeat(MAX_DOCUMENT_BYTES));
        assert_eq!(
            validate(&big, &EXAMPLE).unwrap_err()[0].description,
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
        let shown = format!("{:?}", check(&d).unwrap_err());
        for secret in ["13897248022", "Testesen", "Larsen", "blåmerke"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("/offentligBarn/0/fnr"));
    }
}
