//! Fuzz target: scope grammar, route-policy parsing and judging, path canonicalisation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(g) = keyward::scope::parse_grant(&text) {
        assert!(keyward::scope::covers(&g, &g) || g.ends_with('*'));
    }
    let _ = keyward::scope::parse_required(&text);
    if let Ok(p) = keyward::path::canonicalize(&text) {
        assert_eq!(keyward::path::canonicalize(&p), Ok(p.clone()));
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(policy) = keyward::policy::Policy::parse(&value) {
            for (m, p) in [("GET", "/"), ("POST", "/documents/1"), ("DELETE", "/a/b/c/")] {
                let _ = policy.judge(m, p);
            }
            let _ = policy.judge("GET", &text);
        }
    }
});
