//! The core verify path, natively: credential, key format and checksum, SHA-256,
//! and the decision against a record, against a bare SHA-256 of the same key.
//! `cargo bench --bench verify` prints nanoseconds per call (a benchmark, not a test).

use keyward::config::Config;
use keyward::decide::{self, Gate};
use keyward::key;
use keyward::record::KeyRecord;
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Runs `f` for about `budget` and returns nanoseconds per call (best of 5 runs).
fn time(budget: Duration, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < budget / 5 {
            for _ in 0..1_000 {
                f();
            }
            n += 1_000;
        }
        best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
    }
    best
}

fn main() {
    let config = Config::from_vars(|name| match name {
        "POLICY" => Some(serde_json::json!({
            "public": ["/health"],
            "routes": [{"method": "GET", "path": "/documents/**", "scopes": ["documents.read"]}]
        })),
        "ORIGIN_URL" => Some(serde_json::json!("http://127.0.0.1:1")),
        _ => None,
    })
    .expect("a valid configuration");
    let k = key::generate("kw_", |b: &mut [u8]| {
        b.iter_mut().enumerate().for_each(|(i, x)| *x = i as u8)
    });
    let header = format!("Bearer {}", k.expose());
    let record = KeyRecord {
        id: "key_bench".into(),
        team: "bench".into(),
        name: "bench".into(),
        scopes: vec!["documents.read".into()],
        enabled: true,
        ..Default::default()
    };
    let budget = Duration::from_secs(2);
    let bare = time(budget, || {
        black_box(Sha256::digest(black_box(k.expose()).as_bytes()));
    });
    let verify = time(budget, || {
        let gate = decide::before_lookup(
            &config,
            "GET",
            black_box("/documents/1"),
            Some(black_box(&header)),
        );
        let Ok(Gate::Lookup { key, route, .. }) = gate else {
            panic!("a lookup")
        };
        black_box(key.hash());
        decide::after_lookup(Some(&record), route, None, black_box(1_800_000_000_000))
            .expect("admitted");
    });
    let path = time(budget, || {
        let p = keyward::path::canonicalize(black_box("/documents/1")).expect("canonical");
        black_box(config.policy.judge("GET", &p));
    });
    let parse = time(budget, || {
        let t = keyward::credential::bearer(Some(black_box(&header))).expect("a bearer");
        black_box(key::parse("kw_", t).expect("a key"));
    });
    let hash = time(budget, || {
        black_box(key::hash_key(black_box(k.expose())));
    });
    let crc = time(budget, || {
        black_box(key::crc32(black_box(k.expose()).as_bytes()));
    });
    let route = config.policy.judge("GET", "/documents/1");
    let after = time(budget, || {
        decide::after_lookup(Some(black_box(&record)), route, None, 1_800_000_000_000)
            .expect("admitted");
    });
    println!("  path: canonicalise and judge:                   {path:8.0} ns");
    println!("  credential and key format (checksum):           {parse:8.0} ns");
    println!("  SHA-256 and hex:                                {hash:8.0} ns");
    println!("  decision against the record:                    {after:8.0} ns");
    println!("bare SHA-256 of the key:                         {bare:8.0} ns");
    println!("bare CRC32 of the key (the checksum's core):      {crc:8.0} ns");
    println!("verify path (parse, checksum, hash, decide):      {verify:8.0} ns");
    println!("ratio: {:.2}x (goal: within 2x)", verify / bare);
}
