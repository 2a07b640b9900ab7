//! Fuzz target: key records as KV holds them, and admin request bodies.
#![no_main]
use keyward::config::Config;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn config() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| {
        Config::from_vars(|name| match name {
            "POLICY" => Some(serde_json::json!({})),
            "ORIGIN_URL" => Some(serde_json::json!("http://127.0.0.1:1")),
            "PLANS" => Some(serde_json::json!({"free": []})),
            _ => None,
        })
        .expect("a valid configuration")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<keyward::record::KeyRecord>(data) {
        let _ = r.status(1_800_000_000_000);
        let _ = r.is_live(1_800_000_000_000);
        let _ = keyward::admin::key_view(&r, 1_800_000_000_000, None);
        let _ = keyward::forward::identity_headers(&r);
        let again = serde_json::to_string(&r).expect("a record serialises");
        assert_eq!(serde_json::from_str::<keyward::record::KeyRecord>(&again).ok(), Some(r));
    }
    let c = config();
    let _ = keyward::admin::validate_create(data, 1_800_000_000, c);
    let _ = keyward::admin::validate_update(data, c);
    let _ = keyward::admin::validate_import(data, 1_800_000_000, c);
    let _ = keyward::admin::validate_rotate(data, 1_800_000_000);
});
