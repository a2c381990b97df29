#![no_main]
//! Resource names and page tokens: never a panic; a parsed name displays as
//! it was given.
use libfuzzer_sys::fuzz_target;

bti_runtime::resource_name!(
    /// A measure.
    pub struct MeasureName = "tenants/{tenant}/caseLogs/{case_log}/measures/{measure}"
        { tenant, case_log, measure }
);

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(n) = MeasureName::parse("name", s) {
        assert_eq!(n.to_string(), s);
    }
    let _ = bti_runtime::api::PageToken::decode("page_token", s, &["ListEntries", "x"]);
});
