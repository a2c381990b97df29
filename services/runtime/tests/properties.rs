//! Properties of what the runtime parses from clients, over generated
//! inputs (proptest): national ids, resource names, page tokens, tokens and
//! request bytes never panic, refuse what is not theirs and round-trip what
//! is. The long versions are the `cargo fuzz` targets in `fuzz/`.

use bti_runtime::api::{PageToken, parse_name};
use bti_runtime::ids::{first_national_id, make_national_id, parse_national_id};
use chrono::NaiveDate;
use proptest::prelude::*;

bti_runtime::resource_name!(
    /// For the properties.
    pub struct MeasureName = "tenants/{tenant}/caseLogs/{case_log}/measures/{measure}"
        { tenant, case_log, measure }
);

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,40}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_string_is_a_national_id_or_refused_without_echoing_it(s in "\\PC{0,20}") {
        if let Err(e) = parse_national_id(&s) {
            prop_assert!(s.len() < 3 || !e.contains(&s), "the error echoes the input");
        }
    }

    #[test]
    fn digit_strings_parse_or_refuse_and_valid_ones_keep_their_birth_date(s in "[0-9]{11}") {
        if let Ok(id) = parse_national_id(&s) {
            prop_assert_eq!(id.expose(), s.as_str());
            // (Synthetic numbers come as month + 40 or + 80; the generator
            // makes the + 80 kind only.)
            prop_assume!(!id.synthetic);
            let again = make_national_id(id.birth_date, s[6..9].parse().unwrap(), id.kind == bti_runtime::ids::NationalIdKind::DNumber, id.synthetic);
            prop_assert_eq!(again.as_deref(), Some(s.as_str()));
        }
    }

    #[test]
    fn generated_national_ids_round_trip(days in 0i64..(365 * 120), d in any::<bool>(), synthetic in any::<bool>()) {
        let birth = NaiveDate::from_ymd_opt(1905, 1, 1).unwrap() + chrono::Duration::days(days);
        let id = first_national_id(birth, d, synthetic);
        let parsed = parse_national_id(&id).unwrap();
        prop_assert_eq!(parsed.birth_date, birth);
        prop_assert_eq!(parsed.synthetic, synthetic);
    }

    #[test]
    fn any_string_is_a_resource_name_or_invalid_argument(s in "\\PC{0,80}") {
        match MeasureName::parse("name", &s) {
            Ok(n) => prop_assert_eq!(n.to_string(), s.clone()),
            Err(e) => prop_assert!(matches!(e, bti_runtime::ApiError::InvalidArgument(_))),
        }
        let _ = parse_name("name", &s, "tenants/{tenant}");
    }

    #[test]
    fn resource_names_round_trip(t in id(), c in id(), m in id()) {
        let n = MeasureName::new(t.clone(), c, m);
        prop_assert_eq!(MeasureName::parse("name", &n.to_string()).unwrap(), n);
    }

    #[test]
    fn page_tokens_decode_only_for_their_query(after in "\\PC{0,40}", q1 in "\\PC{0,10}", q2 in "\\PC{0,10}", junk in "\\PC{0,60}") {
        let t = PageToken::encode(&after, &[&q1]);
        prop_assert_eq!(PageToken::decode("page_token", &t, &[&q1]).unwrap().unwrap().after, after);
        if q1 != q2 {
            prop_assert!(PageToken::decode("page_token", &t, &[&q2]).is_err());
        }
        // Anything else is refused or read, never a panic.
        let _ = PageToken::decode("page_token", &junk, &[&q1]);
    }
}

/// Bearer tokens: random strings, random JWT-shaped strings and mangled
/// real tokens are UNAUTHENTICATED, never a panic and never accepted.
#[test]
fn arbitrary_tokens_are_refused() {
    use bti_runtime::auth::{AuthConfig, LocalIssuer, Verifier, personas};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = std::env::temp_dir().join(format!("bti-prop-jwt-{}", uuid::Uuid::new_v4().simple()));
    let issuer = LocalIssuer::open(&dir).unwrap();
    let verifier = rt
        .block_on(Verifier::new(&AuthConfig {
            issuers: vec![issuer.issuer_config()],
            ..AuthConfig::default()
        }))
        .unwrap();
    let good = issuer.sign(personas::operator()).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(1000));
    let strategy = (
        "\\PC{0,200}",
        "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,200}\\.[A-Za-z0-9_-]{0,90}",
        0usize..600,
        any::<u8>(),
    );
    runner
        .run(&strategy, |(random, shaped, at, byte)| {
            for token in [random, shaped] {
                let r = rt.block_on(verifier.verify(&token));
                prop_assert!(
                    matches!(r, Err(bti_runtime::ApiError::Unauthenticated(_))),
                    "{token:?}"
                );
            }
            // One byte of a valid token changed: never accepted as it was.
            let mut bytes = good.clone().into_bytes();
            let i = at % bytes.len();
            if bytes[i] != byte && byte.is_ascii_graphic() {
                bytes[i] = byte;
                let mangled = String::from_utf8(bytes).unwrap();
                if let Ok(p) = rt.block_on(verifier.verify(&mangled)) {
                    // base64url has spare bits in its last character: the
                    // same signature may decode from two spellings.
                    prop_assert_eq!(p, rt.block_on(verifier.verify(&good)).unwrap());
                }
            }
            Ok(())
        })
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// Request bytes: for every request message of every BTI method, random
/// bytes are either a message (screened) or refused as malformed; the screen
/// never panics.
#[test]
fn random_request_bytes_are_screened_without_panic() {
    use bti_runtime::screen::check_strings;
    use prost_reflect::{DescriptorPool, DynamicMessage};
    let pool = DescriptorPool::decode(bti_proto::FILE_DESCRIPTOR_SET).unwrap();
    let inputs: Vec<_> = pool
        .services()
        .flat_map(|s| s.methods().map(|m| m.input()).collect::<Vec<_>>())
        .collect();
    assert!(
        inputs.len() > 50,
        "every method's request type: {}",
        inputs.len()
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(3000));
    runner
        .run(
            &(
                0..inputs.len(),
                proptest::collection::vec(any::<u8>(), 0..200),
            ),
            |(i, bytes)| {
                if let Ok(m) = DynamicMessage::decode(inputs[i].clone(), bytes.as_slice()) {
                    let mut v = Vec::new();
                    check_strings(&m, "", &mut v);
                }
                Ok(())
            },
        )
        .unwrap();
}
