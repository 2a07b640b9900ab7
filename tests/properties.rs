//! Properties of the core, checked with generated inputs (`proptest`): keys
//! round-trip and catch every single-character change, scope matching follows the
//! wildcard rules, and nothing that parses input panics, whatever the input.

use keyward::config::Config;
use keyward::key::{self, LegacyFormat};
use keyward::{admin, credential, identity, path, record, scope, signature};
use proptest::prelude::*;
use serde_json::json;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn prefix() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,16}"
}

fn a_key(prefix: &str, seed: &[u8]) -> String {
    let mut i = 0;
    key::generate(prefix, |buf: &mut [u8]| {
        for b in buf {
            *b = seed[i % seed.len()].wrapping_add(i as u8);
            i += 1;
        }
    })
    .expose()
    .to_string()
}

fn segment() -> impl Strategy<Value = String> {
    "[a-z0-9_-]{1,6}"
}

fn scope_path() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(segment(), 1..5)
}

fn config() -> Config {
    Config::from_vars(|name| match name {
        "POLICY" => Some(json!({
            "public": ["/health", "/open/**"],
            "routes": [
                {"method": "GET", "path": "/documents/**", "scopes": ["documents.read"]},
                {"method": ["POST", "PUT"], "path": "/documents/*/files/**", "scopes": ["documents.write"]},
                {"method": "*", "path": "/internal/**", "deny": true}
            ]
        })),
        "ORIGIN_URL" => Some(json!("http://127.0.0.1:1")),
        "PLANS" => Some(json!({"free": [{"name": "d", "limit": 1, "window": "1d"}]})),
        "LEGACY_KEY_FORMATS" => Some(json!([{"prefix": "api_", "length": 20}])),
        _ => None,
    })
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_keys_round_trip(p in prefix(), seed in prop::collection::vec(any::<u8>(), 1..64)) {
        let k = a_key(&p, &seed);
        let parsed = key::parse(&p, &k).expect("a generated key parses");
        prop_assert_eq!(parsed.expose(), k.as_str());
        prop_assert_eq!(parsed.hash().as_str().len(), 64);
        prop_assert_eq!(key::hint(&p, &k), format!("{p}…{}", &k[k.len() - 4..]));
    }

    #[test]
    fn a_single_changed_character_fails_the_checksum(
        p in prefix(),
        seed in prop::collection::vec(any::<u8>(), 1..64),
        at in 0usize..(key::RANDOM_LEN + key::CHECKSUM_LEN),
        with in 0usize..62,
    ) {
        let k = a_key(&p, &seed);
        let mut bytes = k.clone().into_bytes();
        let i = p.len() + at;
        let c = BASE62[with];
        prop_assume!(bytes[i] != c);
        bytes[i] = c;
        let changed = String::from_utf8(bytes).unwrap();
        prop_assert!(key::parse(&p, &changed).is_err(), "{} was accepted", changed);
    }

    #[test]
    fn both_separators_mean_the_same_scope(segs in scope_path()) {
        let dotted = segs.join(".");
        let coloned = segs.join(":");
        prop_assert_eq!(scope::parse_grant(&coloned), scope::parse_grant(&dotted));
        prop_assert_eq!(scope::parse_required(&coloned), Ok(dotted));
    }

    #[test]
    fn scope_matching_follows_the_wildcard_rules(grant in scope_path(), required in scope_path()) {
        let g = grant.join(".");
        let r = required.join(".");
        // A concrete grant covers exactly itself; `*` covers everything.
        prop_assert_eq!(scope::covers(&g, &r), g == r);
        prop_assert!(scope::covers("*", &r));
        prop_assert!(scope::covers(&r, &r));
        // `stem.*` covers what lies strictly below the stem, and nothing else.
        let stem = format!("{g}.*");
        let below = required.len() > grant.len() && required[..grant.len()] == grant[..];
        prop_assert_eq!(scope::covers(&stem, &r), below);
        prop_assert!(!scope::covers(&stem, &g), "a wildcard does not cover its stem");
    }

    #[test]
    fn grants_cover_transitively(a in scope_path(), b in scope_path(), c in scope_path(), wild in any::<(bool, bool)>()) {
        let as_grant = |s: &[String], w: bool| if w { format!("{}.*", s.join(".")) } else { s.join(".") };
        let (ga, gb) = (as_grant(&a, wild.0), as_grant(&b, wild.1));
        let rc = c.join(".");
        if scope::covers(&ga, &gb) && scope::covers(&gb, &rc) {
            prop_assert!(scope::covers(&ga, &rc), "{} covers {} covers {}", ga, gb, rc);
        }
    }

    #[test]
    fn the_policy_never_panics_and_judges_the_canonical_path(method in "[A-Z]{0,8}|\\PC{0,8}", raw in "\\PC{0,64}") {
        let c = config();
        if let Ok(p) = path::canonicalize(&raw) {
            let _ = c.policy.judge(&method, &p);
            // Canonical is a fixed point: the origin sees what was judged.
            prop_assert_eq!(path::canonicalize(&p), Ok(p.clone()));
        }
        let _ = keyward::decide::before_lookup(&c, &method, &raw, Some("Bearer x"));
    }

    /// An origin that decodes twice, strips `;` parameters and resolves dot
    /// segments (Tomcat, Spring, a double-decoding proxy) reads an accepted
    /// canonical path exactly as keyward's single decoding does.
    #[test]
    fn an_accepted_path_means_the_same_to_a_lax_origin(
        raw in "(/([.;a-fA-F0-9x]|%2[eEfF5]|%3[bB]|%5[cC]|%25|%[cC]0|%[aA][eE]|%20|%00){0,6}){1,5}"
    ) {
        if let Ok(p) = path::canonicalize(&raw) {
            prop_assert!(!p.contains(';'), "{p}");
            let once = lax_decode(p.as_bytes());
            prop_assert_eq!(lax_decode(&once), once.clone(), "decoded twice: {}", p);
            prop_assert_eq!(lax_origin(&p), once.clone(), "{}", p);
            prop_assert!(std::str::from_utf8(&once).is_ok(), "{p}");
            prop_assert_eq!(path::canonicalize(&p), Ok(p.clone()));
        }
    }

    /// A case-insensitive origin routes a path the way keyward judged it, under
    /// each folding rule that origins use (Java's `equalsIgnoreCase`, Python's
    /// `casefold` and `lower`, JavaScript's `/iu`): any letter of a protected
    /// path may be spelled as anything that rule equates with it, and keyward
    /// either refuses the path or judges it as the plain path.
    #[test]
    fn a_case_insensitive_origin_routes_what_was_judged(
        segs in prop::collection::vec(prop::sample::select(vec!["admin", "secrets", "internal", "static", "keys", "public", "x1"]), 1..4),
        rule in 0usize..4,
        picks in prop::collection::vec(any::<prop::sample::Index>(), 24),
        upper in prop::collection::vec(any::<bool>(), 24),
    ) {
        let plain = format!("/{}", segs.join("/"));
        let rules = folding_rules();
        let (name, groups) = &rules[rule];
        let mut spelled = String::new();
        for (i, ch) in plain.chars().enumerate() {
            let ch = if upper[i % 24] { ch.to_ascii_uppercase() } else { ch };
            let choices = groups.get(&ch.to_ascii_lowercase()).map(Vec::as_slice).unwrap_or(&[]);
            match choices {
                [] => spelled.push(ch),
                c => spelled.push_str(&c[picks[i % 24].index(c.len())]),
            }
        }
        let raw: String = spelled.bytes().map(|b| if b.is_ascii() { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
        let c = case_insensitive_config();
        let want = c.policy.judge("GET", &plain);
        let bearer = format!("Bearer {}", a_key(&c.key_prefix, b"case"));
        match keyward::decide::before_lookup(&c, "GET", &raw, Some(&bearer)) {
            Err(p) => prop_assert_eq!(p.code, keyward::problem::Code::InvalidPath, "{}: {}", name, spelled),
            Ok(keyward::decide::Gate::Public { .. }) => prop_assert_eq!(want, keyward::policy::RouteDecision::Public, "{}: {}", name, spelled),
            Ok(keyward::decide::Gate::Lookup { route, .. }) => prop_assert_eq!(route, want, "{}: {}", name, spelled),
        }
        // The plain path in any ASCII case is never refused.
        let ascii: String = plain.chars().enumerate().map(|(i, ch)| if upper[i % 24] { ch.to_ascii_uppercase() } else { ch }).collect();
        prop_assert!(path::check_case(&ascii).is_ok());
    }

    /// Leased admission never overshoots: whatever the interleaving of isolates
    /// admitting, renewing, returning, failing and vanishing, with exact admissions
    /// mixed in and the clock moving, no window of any policy admits more than its
    /// limit.
    #[test]
    fn leases_never_overshoot(
        limits in (1u32..40, 1u32..80),
        ttl_ms in 100u32..5_000,
        ops in prop::collection::vec((0u8..8, 0usize..4, 0i64..1_500), 1..400),
    ) {
        use keyward::keystate::{Admission, ChainState};
        use keyward::lease::{Holder, Local};
        use keyward::ratelimit::LimitPolicy;
        use std::collections::BTreeMap;
        let policies = vec![
            LimitPolicy { name: "burst".into(), limit: limits.0, window_s: 5 },
            LimitPolicy { name: "long".into(), limit: limits.1, window_s: 20 },
        ];
        let mut auth = ChainState::default();
        let mut holders: Vec<Holder> = (0..4).map(|_| Holder::default()).collect();
        let mut names: Vec<String> = (0..4).map(|i| format!("isolate{i}")).collect();
        let mut now = 1_000_000i64;
        let mut admitted: BTreeMap<(u32, i64), u32> = BTreeMap::new();
        let note = |now: i64, admitted: &mut BTreeMap<(u32, i64), u32>| {
            for p in &policies {
                let w = now.div_euclid(i64::from(p.window_s) * 1000);
                *admitted.entry((p.window_s, w)).or_default() += 1;
            }
        };
        for (op, i, step) in ops {
            let h = &mut holders[i];
            match op {
                // A request.
                0..=2 => match h.admit(now, ttl_ms, 1) {
                    Local::Admitted { .. } => note(now, &mut admitted),
                    Local::Limited(_) => {}
                    Local::Ask => {
                        let r = h.request("key_a", &names[i], &policies, now, ttl_ms, false);
                        let a = auth.lease(&r, now);
                        h.apply(&a);
                        if let Local::Admitted { .. } = h.admit(now, ttl_ms, 1) {
                            note(now, &mut admitted);
                        }
                    }
                },
                // A background renewal, a final return.
                3 | 4 => {
                    let r = h.request("key_a", &names[i], &policies, now, ttl_ms, op == 4);
                    let a = auth.lease(&r, now);
                    h.apply(&a);
                }
                // A call lost before or after the object took it.
                5 => {
                    let r = h.request("key_a", &names[i], &policies, now, ttl_ms, false);
                    if step % 2 == 0 {
                        auth.lease(&r, now);
                    }
                    h.failed(r);
                }
                // The isolate goes away with its leases; a new one takes its place.
                6 => {
                    *h = Holder::default();
                    names[i] = format!("{}'", names[i]);
                }
                // An exact admission at the object.
                _ => {
                    let a = Admission {
                        key: "key_a".into(),
                        team: "acme".into(),
                        policies: policies.clone(),
                        method: "GET".into(),
                        path: "/".into(),
                        denial: None,
                        cost: 1,
                        rev: None,
                    };
                    if auth.admit(&a, now).verdict.is_some_and(|v| v.admitted) {
                        note(now, &mut admitted);
                    }
                }
            }
            now += step;
        }
        for ((window_s, w), n) in &admitted {
            let limit = if *window_s == 5 { limits.0 } else { limits.1 };
            prop_assert!(*n <= limit, "window {window_s}s #{w}: {n} admitted, limit {limit}");
        }
    }

    /// Leased credits never overshoot, and nothing is lost: whatever the
    /// interleaving of isolates admitting from leases, renewing, returning and
    /// failing calls (the object taking some of them), with exact admissions and
    /// admins adding credits mixed in, what is admitted never costs more than
    /// the credits given; once every isolate has given its leases back, what is
    /// left is exactly what was given less what was admitted. An isolate that
    /// goes away loses at most what it held, never more.
    #[test]
    fn leased_credits_never_overshoot(
        r in 0u64..60,
        limit in prop::option::of(1u32..40),
        ttl_ms in 100u32..3_000,
        ops in prop::collection::vec((0u8..9, 0usize..3, 0u64..4, 0i64..1_500), 1..300),
        vanish in any::<bool>(),
    ) {
        use keyward::credits::{Credits, CreditsChange};
        use keyward::keystate::{Admission, ChainState};
        use keyward::lease::{Holder, Local};
        use keyward::ratelimit::LimitPolicy;
        let policies: Vec<LimitPolicy> = limit
            .map(|limit| LimitPolicy { name: "burst".into(), limit, window_s: 5 })
            .into_iter()
            .collect();
        let mut auth = ChainState {
            credits: Some(Credits { remaining: r, refill: None, since: 0 }),
            ..Default::default()
        };
        let mut holders: Vec<Holder> = (0..3).map(|_| Holder::default()).collect();
        let mut names: Vec<String> = (0..3).map(|i| format!("isolate{i}")).collect();
        let mut now = 1_000_000i64;
        let (mut given, mut spent, mut lost_holders) = (r, 0u64, false);
        let exact = |auth: &mut ChainState, cost: u64, now: i64| {
            let a = Admission {
                key: "key_a".into(),
                team: "acme".into(),
                policies: policies.clone(),
                method: "GET".into(),
                path: "/".into(),
                denial: None,
                cost,
                rev: None,
            };
            // What it spent.
            if auth.admit(&a, now).credits.is_some() { cost } else { 0 }
        };
        for (op, i, cost, step) in ops {
            let h = &mut holders[i];
            match op {
                // A request.
                0..=2 => match h.admit(now, ttl_ms, cost) {
                    Local::Admitted { .. } => spent += cost,
                    Local::Limited(_) => {}
                    Local::Ask => {
                        let mut q = h.request("key_a", &names[i], &policies, now, ttl_ms, false);
                        q.cost = cost;
                        let a = auth.lease(&q, now);
                        h.apply(&a);
                        match h.admit(now, ttl_ms, cost) {
                            Local::Admitted { .. } => spent += cost,
                            Local::Ask if a.exact => spent += exact(&mut auth, cost, now),
                            _ => {}
                        }
                    }
                },
                // A background renewal, a final return.
                3 | 4 => {
                    let q = h.request("key_a", &names[i], &policies, now, ttl_ms, op == 4);
                    let a = auth.lease(&q, now);
                    h.apply(&a);
                }
                // A call lost before or after the object took it.
                5 => {
                    let q = h.request("key_a", &names[i], &policies, now, ttl_ms, false);
                    if step % 2 == 0 {
                        auth.lease(&q, now);
                    }
                    h.failed(q);
                }
                // An exact admission at the object.
                6 => spent += exact(&mut auth, cost, now),
                // An admin adds credits.
                7 => {
                    let add = CreditsChange::Update { remaining: None, add: Some(cost), refill: None };
                    auth.change_credits(add, now.div_euclid(1000)).unwrap();
                    given += cost;
                }
                // The isolate goes away with its leases; a new one takes its place.
                _ if vanish => {
                    *h = Holder::default();
                    names[i] = format!("{}'", names[i]);
                    lost_holders = true;
                }
                _ => {}
            }
            prop_assert!(spent <= given, "{spent} spent of {given}");
            now += step;
        }
        for (h, name) in holders.iter_mut().zip(&names) {
            let q = h.request("key_a", name, &policies, now, ttl_ms, true);
            let a = auth.lease(&q, now);
            h.apply(&a);
        }
        // Whatever lapsed is counted as spent by now.
        let _ = exact(&mut auth, 0, now + 60_000);
        let left = auth.credits.unwrap().remaining;
        if lost_holders {
            prop_assert!(spent + left <= given);
        } else {
            prop_assert_eq!(spent + left, given, "nothing lost");
        }
    }

    /// Credits are exact: requests costing 1 against R credits are admitted exactly
    /// min(N, R) times; with any costs, what is admitted never exceeds R, and a
    /// refused request spends nothing.
    #[test]
    fn exactly_r_credits(r in 0u64..200, costs in prop::collection::vec(0u64..5, 0..300)) {
        use keyward::credits::Credits;
        let now = 1_800_000_000;
        let mut c = Credits { remaining: r, refill: None, since: now };
        let ones = (0..costs.len()).filter(|_| {
            match c.spend(1, now, 0) {
                Ok(next) => { c = next; true }
                Err(_) => false,
            }
        }).count() as u64;
        prop_assert_eq!(ones, (costs.len() as u64).min(r));
        let mut c = Credits { remaining: r, refill: None, since: now };
        let mut spent = 0;
        for cost in costs {
            match c.spend(cost, now, 0) {
                Ok(next) => {
                    prop_assert_eq!(next.remaining, c.remaining - cost);
                    spent += cost;
                    c = next;
                }
                Err(e) => {
                    prop_assert_eq!(e.remaining, c.remaining);
                    prop_assert!(e.cost > e.remaining);
                }
            }
        }
        prop_assert_eq!(spent + c.remaining, r);
    }

    /// The key's object spends exactly what the requests it admits cost: never
    /// more than R, nothing for a request refused by a denial, a rate limit or
    /// want of credits, and the counters count only admitted requests.
    #[test]
    fn the_object_spends_exactly_what_it_admits(
        r in 0u64..100,
        limit in 1u32..80,
        requests in prop::collection::vec((0u64..4, any::<bool>()), 0..200),
    ) {
        use keyward::credits::Credits;
        use keyward::keystate::{Admission, ChainState, Denial};
        use keyward::problem::Code;
        let mut auth = ChainState {
            credits: Some(Credits { remaining: r, refill: None, since: 0 }),
            ..Default::default()
        };
        let policy = keyward::ratelimit::LimitPolicy { name: "burst".into(), limit, window_s: 3600 };
        let (mut spent, mut admitted) = (0, 0u64);
        for (cost, denied) in requests {
            let a = Admission {
                key: "key_a".into(),
                team: "acme".into(),
                policies: vec![policy.clone()],
                method: "GET".into(),
                path: "/".into(),
                denial: denied.then_some(Denial { status: 403, code: Some(Code::InsufficientScope) }),
                cost,
                rev: None,
            };
            let left = auth.credits.unwrap().remaining;
            let answer = auth.admit(&a, 1_000);
            match (answer.credits, answer.exhausted) {
                (Some(b), None) => {
                    prop_assert!(!denied);
                    prop_assert_eq!(b.remaining, left - cost);
                    spent += cost;
                    admitted += 1;
                }
                (None, Some(e)) => prop_assert!(e.cost > e.remaining && e.remaining == left),
                (None, None) => prop_assert_eq!(auth.credits.unwrap().remaining, left),
                (Some(_), Some(_)) => prop_assert!(false, "admitted and exhausted"),
            }
        }
        prop_assert_eq!(spent + auth.credits.unwrap().remaining, r);
        let counted = auth.counters.get("burst/3600").map_or(0, |c| c.count);
        prop_assert_eq!(u64::from(counted), admitted);
    }

    #[test]
    fn credentials_and_formats_never_panic(header in "\\PC{0,80}", bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let _ = credential::bearer(Some(&header));
        let legacy = [LegacyFormat { prefix: "api_".into(), length: 20 }];
        let _ = key::parse_any("kw_", &legacy, &header);
        let lossy = String::from_utf8_lossy(&bytes);
        let _ = key::parse_any("kw_", &legacy, &lossy);
        let _ = scope::parse_grant(&header);
        let _ = admin::parse_grace(&header);
    }

    #[test]
    fn admin_input_never_panics(body in prop::collection::vec(any::<u8>(), 0..256), text in "\\PC{0,200}") {
        let c = config();
        for b in [body.as_slice(), text.as_bytes()] {
            let _ = admin::validate_create(b, 1_800_000_000, &c);
            let _ = admin::validate_update(b, &c);
            let _ = admin::validate_import(b, 1_800_000_000, &c);
            let _ = admin::validate_rotate(b, 1_800_000_000);
            let _ = admin::route("POST", &format!("/_keyward/v1{text}"));
            let _ = serde_json::from_slice::<record::KeyRecord>(b);
        }
    }

    #[test]
    fn structured_admin_bodies_never_panic(
        name in "\\PC{0,120}",
        scopes in prop::collection::vec("\\PC{0,20}", 0..4),
        grace in "\\PC{0,8}",
        nets in prop::collection::vec("[0-9a-f:./]{0,24}", 0..3),
    ) {
        let c = config();
        let body = json!({"name": name, "scopes": scopes, "ip_allow": nets, "meta": {"k": name}}).to_string();
        let _ = admin::validate_create(body.as_bytes(), 1_800_000_000, &c);
        let _ = admin::validate_update(body.as_bytes(), &c);
        let rotate = json!({"grace": grace}).to_string();
        let _ = admin::validate_rotate(rotate.as_bytes(), 1_800_000_000);
    }

    #[test]
    fn signatures_never_panic_and_only_the_signer_verifies(header in "\\PC{0,100}", body in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = signature::verify(b"secret", &header, &[&body], 1_800_000_000, 300);
        let good = signature::sign(b"secret", 1_800_000_000, &[&body]);
        prop_assert_eq!(signature::verify(b"secret", &good, &[&body], 1_800_000_000, 300), Ok(1_800_000_000));
        prop_assert!(signature::verify(b"other", &good, &[&body], 1_800_000_000, 300).is_err());
        let get = |n: &str| if n == identity::SIGNATURE_HEADER { Some(header.as_str()) } else { None };
        let _ = identity::verify(b"secret", "GET", "/", get, 1_800_000_000, 300);
    }
}

/// A policy for an origin that routes without regard to case, with denied and
/// scoped paths whose letters have look-alikes (`ſ`, `K`, `İ`, `ı`).
fn case_insensitive_config() -> Config {
    Config::from_vars(|name| match name {
        "POLICY" => Some(json!({
            "case_insensitive": true,
            "unmatched": "authenticate",
            "public": ["/static/**", "/public"],
            "routes": [
                {"method": "*", "path": "/admin", "deny": true},
                {"method": "*", "path": "/internal/**", "deny": true},
                {"method": "GET", "path": "/secrets/**", "scopes": ["secrets.read"]},
                {"method": "GET", "path": "/keys/*", "scopes": ["keys.read"]}
            ]
        })),
        "ORIGIN_URL" => Some(json!("http://127.0.0.1:1")),
        _ => None,
    })
    .unwrap()
}

/// Per folding rule (`tests/fixtures/case-folding/groups.tsv`, generated from
/// Java, Python and Node): for each ASCII letter, every other spelling that the
/// rule equates with it.
fn folding_rules() -> &'static [FoldingRule] {
    static RULES: std::sync::OnceLock<Vec<FoldingRule>> = std::sync::OnceLock::new();
    RULES.get_or_init(read_folding_rules)
}

/// A folding rule's name, and for each ASCII letter the other spellings it equates.
type FoldingRule = (String, std::collections::HashMap<char, Vec<String>>);

fn read_folding_rules() -> Vec<FoldingRule> {
    let text = include_str!("fixtures/case-folding/groups.tsv");
    let mut rules: Vec<FoldingRule> = Vec::new();
    let chars = |cps: &str| -> String {
        cps.split(' ')
            .map(|n| char::from_u32(n.parse().unwrap()).unwrap())
            .collect()
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let parts: Vec<&str> = line.split('\t').collect();
        let mut all: Vec<String> = parts[2].split(' ').map(chars).collect();
        all.push(chars(parts[1]));
        let Some(letter) = all
            .iter()
            .find(|m| m.len() == 1 && m.as_bytes()[0].is_ascii_alphabetic())
            .map(|m| m.as_bytes()[0].to_ascii_lowercase() as char)
        else {
            continue;
        };
        if rules.last().is_none_or(|(r, _)| r != parts[0]) {
            rules.push((parts[0].to_string(), Default::default()));
        }
        let entry = rules.last_mut().unwrap().1.entry(letter).or_default();
        entry.extend(all.into_iter().filter(|m| m.len() > 1 || !m.is_ascii()));
    }
    assert_eq!(rules.len(), 4);
    rules
}

/// Percent-decodes every valid escape, as a lax origin does.
fn lax_decode(p: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(p.len());
    let mut i = 0;
    while i < p.len() {
        let hex = p
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (p[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) if hex.is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit())) => {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The path as a lax origin routes it: decoded twice, `;` parameters stripped from
/// each segment, `.` and `..` resolved, `\` read as `/`.
fn lax_origin(p: &str) -> Vec<u8> {
    let twice = lax_decode(&lax_decode(p.as_bytes()));
    let text = String::from_utf8_lossy(&twice).replace('\\', "/");
    let mut segs: Vec<&str> = Vec::new();
    let parts: Vec<&str> = text.split('/').skip(1).collect();
    for (i, seg) in parts.iter().enumerate() {
        let seg = seg.split(';').next().unwrap_or("");
        match seg {
            "." => {}
            ".." => {
                segs.pop();
            }
            s if s.is_empty() && i + 1 < parts.len() => {}
            s => segs.push(s),
        }
    }
    format!("/{}", segs.join("/")).into_bytes()
}

proptest! {
    /// The locator's abuse bound: whatever misses arrive, at whatever times and
    /// with whatever hashes, an isolate's misses ask at most
    /// `MISS_BURST + d / MISS_INTERVAL_MS` times in any `d` milliseconds.
    #[test]
    fn misses_never_ask_beyond_the_bound(
        gaps in prop::collection::vec(0i64..250, 1..400),
        repeats in prop::collection::vec(0usize..4, 1..400),
    ) {
        use keyward::locator::{Miss, Misses, MISS_BURST, MISS_INTERVAL_MS};
        let mut misses = Misses::default();
        let mut now = 1_800_000_000_000i64;
        let mut asked = vec![];
        for (i, gap) in gaps.iter().enumerate() {
            now += gap;
            // Some hashes come back: one found unknown is not asked again.
            let hash = format!("{:064x}", i / (1 + repeats[i % repeats.len()]));
            if misses.on_miss(&hash, now) == Miss::Ask {
                asked.push(now);
                misses.unknown(&hash, now);
            }
        }
        for (i, from) in asked.iter().enumerate() {
            for (j, to) in asked.iter().enumerate().skip(i) {
                let bound = MISS_BURST + (to - from) / MISS_INTERVAL_MS;
                prop_assert!((j - i + 1) as i64 <= bound, "{} asks in {} ms", j - i + 1, to - from);
            }
        }
    }
}
