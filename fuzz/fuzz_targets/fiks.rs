#![no_main]
//! The KS Fiks bekymringsmelding validation: any document is accepted or
//! refused with violations, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let expected = bti_gateway::domain::fiks::Expected {
        tenant: "4201",
        national_id: None,
        unborn: false,
    };
    let _ = bti_gateway::domain::fiks::validate(s, &expected);
});
