//! Fuzz target: the `Authorization` header, as text and as arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(token) = keyward::credential::bearer(Some(&text)) {
        assert!(!token.is_empty() && !token.contains(' ') && !token.contains('\t'));
        assert!(text.contains(token));
    }
});
