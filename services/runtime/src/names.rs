//! Typed resource names (AIP-122): one struct per pattern, parsed once at the
//! edge and displayed back, so no code indexes `ids[n]` or formats a name by
//! hand.
//!
//! ```
//! bti_runtime::resource_name!(
//!     /// A unit.
//!     pub struct UnitName = "tenants/{tenant}/units/{unit}" { tenant, unit }
//! );
//! let u = UnitName::parse("unit", "tenants/4201/units/school").unwrap();
//! assert_eq!((u.tenant.as_str(), u.unit.as_str()), ("4201", "school"));
//! assert_eq!(u.to_string(), "tenants/4201/units/school");
//! assert_eq!(UnitName::new("4201", "school"), u);
//! ```

/// Declares a resource-name struct whose `String` fields are the pattern's
/// `{variables}`, named in the same order (checked at compile time by count),
/// with `parse(field, value)` (INVALID_ARGUMENT naming `field` when `value`
/// is not of the pattern), `new(..)` and `Display`.
#[macro_export]
macro_rules! resource_name {
    ($(#[$meta:meta])* $vis:vis struct $name:ident = $pattern:literal { $($field:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis struct $name {
            $(pub $field: String,)+
        }

        const _: () = assert!(
            $crate::names::count_variables($pattern) == [$(stringify!($field)),+].len(),
            concat!("the fields of ", stringify!($name), " must name every variable of its pattern")
        );

        #[allow(dead_code)]
        impl $name {
            /// The AIP-122 pattern.
            pub const PATTERN: &'static str = $pattern;

            /// Parses `value`; INVALID_ARGUMENT naming `field` when it is not
            /// of this pattern.
            pub fn parse(field: &str, value: &str) -> $crate::ApiResult<Self> {
                let ids = $crate::api::parse_name(field, value, Self::PATTERN)?;
                let mut ids = ids.into_iter();
                Ok(Self {
                    $($field: ids.next().unwrap_or_default().to_string(),)+
                })
            }

            /// From the pattern's variables, in order.
            #[allow(clippy::too_many_arguments)]
            pub fn new($($field: impl Into<String>),+) -> Self {
                Self { $($field: $field.into(),)+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                $crate::names::render(f, Self::PATTERN, &[$(self.$field.as_str()),+])
            }
        }

        impl From<&$name> for String {
            fn from(n: &$name) -> String {
                n.to_string()
            }
        }
    };
}

/// How many `{variables}` a pattern has (usable in constants).
pub const fn count_variables(pattern: &str) -> usize {
    let bytes = pattern.as_bytes();
    let mut i = 0;
    let mut n = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            n += 1;
        }
        i += 1;
    }
    n
}

/// Writes `pattern` with its variables replaced by `ids`, in order.
pub fn render(f: &mut std::fmt::Formatter<'_>, pattern: &str, ids: &[&str]) -> std::fmt::Result {
    let mut ids = ids.iter();
    for (i, segment) in pattern.split('/').enumerate() {
        if i > 0 {
            f.write_str("/")?;
        }
        if segment.starts_with('{') {
            f.write_str(ids.next().copied().unwrap_or(""))?;
        } else {
            f.write_str(segment)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    crate::resource_name!(
        /// For the tests.
        pub struct EvaluationName =
            "tenants/{tenant}/caseLogs/{case_log}/measures/{measure}/evaluations/{evaluation}"
            { tenant, case_log, measure, evaluation }
    );

    #[test]
    fn parses_displays_and_names_its_parts() {
        let raw = "tenants/4201/caseLogs/c1/measures/m1/evaluations/e1";
        let n = EvaluationName::parse("name", raw).unwrap();
        assert_eq!(n.tenant, "4201");
        assert_eq!(n.case_log, "c1");
        assert_eq!(n.measure, "m1");
        assert_eq!(n.evaluation, "e1");
        assert_eq!(n.to_string(), raw);
        assert_eq!(EvaluationName::new("4201", "c1", "m1", "e1"), n);
        assert_eq!(super::count_variables(EvaluationName::PATTERN), 4);
    }

    #[test]
    fn refuses_other_shapes_naming_the_field() {
        for bad in [
            "tenants/4201/caseLogs/c1",
            "tenants/4201/caseLogs/c1/measures/m1/evaluations/",
            "tenants/4201/cases/c1/measures/m1/evaluations/e1",
            "tenants/42 01/caseLogs/c1/measures/m1/evaluations/e1",
        ] {
            let err = EvaluationName::parse("parent", bad).unwrap_err();
            let status: tonic::Status = err.into();
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{bad}");
            assert!(status.message().contains("parent"), "{bad}");
        }
    }
}
