#![no_main]
//! National ids: parsing any bytes never panics; what parses keeps its digits.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(id) = bti_runtime::ids::parse_national_id(s)
    {
        assert_eq!(id.expose(), s);
    }
});
