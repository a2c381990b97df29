//! The Fiks validation over generated documents: arbitrary text, arbitrary
//! JSON, and the published example with one value replaced anywhere in it
//! are accepted or refused with violations, never a panic; a violation never
//! echoes a value from the document (which holds national ids and names).

use bti_gateway::domain::fiks::{Expected, validate};
use proptest::prelude::*;
use serde_json::Value;

const EXAMPLE: &str = include_str!("fixtures/offentlig-bekymringsmelding-v2.json");

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every (path, leaf) of a document.
fn leaves(v: &Value, path: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| leaves(x, format!("{path}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| leaves(x, format!("{path}/{i}"), out)),
        _ => out.push(path),
    }
}

fn expected() -> Expected<'static> {
    Expected {
        tenant: "4201",
        national_id: None,
        unborn: false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_text_is_validated_without_panic(s in "\\PC{0,300}") {
        let _ = validate(&s, &expected());
    }

    #[test]
    fn any_json_is_validated_without_panic(v in json_value()) {
        let _ = validate(&v.to_string(), &expected());
    }

    #[test]
    fn the_example_with_one_value_replaced_never_echoes_it(pick in any::<prop::sample::Index>(), replacement in json_value()) {
        let mut doc: Value = serde_json::from_str(EXAMPLE).unwrap();
        let mut paths = Vec::new();
        leaves(&doc, String::new(), &mut paths);
        let path = pick.get(&paths).clone();
        *doc.pointer_mut(&path).unwrap() = replacement.clone();
        if let Err(violations) = validate(&doc.to_string(), &expected())
            && let Value::String(s) = &replacement
            && s.chars().count() >= 4
        {
            for v in &violations {
                prop_assert!(!v.description.contains(s.as_str()), "{v:?} echoes {s:?}");
            }
        }
    }
}
