//! Fuzz target: key format and checksum, keyward's own and a legacy format.
#![no_main]
use keyward::key::{self, LegacyFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let legacy = [LegacyFormat {
        prefix: "api_".into(),
        length: 20,
    }];
    if let Ok(k) = key::parse("kw_", &text) {
        // Whatever parses re-parses, and hashes to 64 hex characters.
        assert!(key::parse("kw_", k.expose()).is_ok());
        assert_eq!(k.hash().as_str().len(), 64);
    }
    if let Ok(k) = key::parse_any("kw_", &legacy, &text) {
        assert!(k.expose().starts_with("kw_") || k.expose().len() == 20);
    }
});
