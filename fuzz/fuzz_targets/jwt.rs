#![no_main]
//! Bearer tokens: any string is refused (UNAUTHENTICATED) by a verifier that
//! trusts one local issuer; never a panic.
use std::sync::{Arc, OnceLock};

use bti_runtime::auth::{AuthConfig, LocalIssuer, Verifier};
use libfuzzer_sys::fuzz_target;

fn verifier() -> &'static (tokio::runtime::Runtime, Arc<Verifier>) {
    static V: OnceLock<(tokio::runtime::Runtime, Arc<Verifier>)> = OnceLock::new();
    V.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let dir = std::env::temp_dir().join("bti-fuzz-jwt");
        let issuer = LocalIssuer::open(&dir).unwrap();
        let v = rt
            .block_on(Verifier::new(&AuthConfig {
                issuers: vec![issuer.issuer_config()],
                ..AuthConfig::default()
            }))
            .unwrap();
        (rt, v)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = jsonwebtoken::decode_header(s);
    let (rt, v) = verifier();
    assert!(rt.block_on(v.verify(s)).is_err());
});
