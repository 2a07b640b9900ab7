//! Rate-limit policies and fixed-window arithmetic: pure, with counters in and counters out.
//!
//! Each policy `{name, limit, window}` counts admitted requests in fixed windows
//! aligned to the Unix epoch: `[k·w, (k+1)·w)`. A request is admitted only if every
//! policy of its key has room; then it counts against all of them, and a refused
//! request counts against none. At most `limit` requests are admitted in any one
//! window; across a window boundary up to `2·limit` can pass within `w` seconds.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Longest window accepted.
pub const MAX_WINDOW_S: u32 = 366 * 86_400;
/// Most policies one key may have.
pub const MAX_POLICIES: usize = 8;

/// One limit: at most `limit` admitted requests per `window_s` seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitPolicy {
    /// Name, shown in headers and in `violated-policies`: `[a-z0-9_-]{1,32}`.
    pub name: String,
    /// Admitted requests per window, at least 1.
    pub limit: u32,
    /// Window length in seconds.
    #[serde(rename = "window", with = "window_serde")]
    pub window_s: u32,
}

/// Parses a window such as `10s`, `1m`, `1h`, `1d` into seconds.
pub fn parse_window(s: &str) -> Result<u32, String> {
    let err = || {
        format!("{s:?} is not a window: use a whole number with s, m, h or d (\"10s\", \"1m\", \"1h\", \"1d\")")
    };
    let unit = match s.chars().last() {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3_600,
        Some('d') => 86_400,
        _ => return Err(err()),
    };
    let digits = &s[..s.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let n: u64 = digits.parse().map_err(|_| err())?;
    let secs = n.saturating_mul(unit);
    if secs == 0 || secs > u64::from(MAX_WINDOW_S) {
        return Err(format!("{s:?}: a window is between 1s and 366d"));
    }
    Ok(secs as u32)
}

/// The shortest spelling of a window (`60` is `1m`).
pub fn format_window(secs: u32) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

mod window_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(secs: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_window(*secs))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_window(&s).map_err(serde::de::Error::custom)
    }
}

/// Parses a list of policies (`RATE_LIMITS`, a plan, or a key's override), with
/// errors as `(field, message)` pairs under `field`.
pub fn parse_policies(
    value: &Value,
    field: &str,
) -> Result<Vec<LimitPolicy>, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let Some(items) = value.as_array() else {
        return Err(vec![(
            field.to_string(),
            "must be an array of {\"name\", \"limit\", \"window\"} objects".to_string(),
        )]);
    };
    if items.len() > MAX_POLICIES {
        return Err(vec![(
            field.to_string(),
            format!("at most {MAX_POLICIES} policies"),
        )]);
    }
    let mut policies: Vec<LimitPolicy> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let Some(obj) = item.as_object() else {
            errors.push((
                f,
                "must be an object with name, limit and window".to_string(),
            ));
            continue;
        };
        let mut unknown = Vec::new();
        crate::field::unknown_fields(obj, &f, &["name", "limit", "window"], &mut unknown);
        errors.extend(unknown.into_iter().map(|e| (e.field, e.message)));
        let policy = LimitPolicy {
            name: policy_name(obj, &f, &policies, &mut errors),
            limit: policy_limit(obj, &f, &mut errors),
            window_s: policy_window(obj, &f, &mut errors),
        };
        policies.push(policy);
    }
    if errors.is_empty() {
        Ok(policies)
    } else {
        Err(errors)
    }
}

/// A policy's `name`: a valid name, not one of `earlier`'s.
fn policy_name(
    obj: &Map<String, Value>,
    f: &str,
    earlier: &[LimitPolicy],
    errors: &mut Vec<(String, String)>,
) -> String {
    match obj.get("name").and_then(Value::as_str) {
        Some(n) if crate::ident::valid_name(n) => {
            if earlier.iter().any(|p| p.name == n) {
                errors.push((format!("{f}.name"), format!("{n:?} is used twice")));
            }
            n.to_string()
        }
        _ => {
            errors.push((
                format!("{f}.name"),
                "must be 1 to 32 characters of a-z, 0-9, '_' and '-'".to_string(),
            ));
            String::new()
        }
    }
}

/// A policy's `limit`: 1 to a billion requests a window.
fn policy_limit(obj: &Map<String, Value>, f: &str, errors: &mut Vec<(String, String)>) -> u32 {
    match obj.get("limit").and_then(Value::as_u64) {
        Some(l) if (1..=1_000_000_000).contains(&l) => l as u32,
        _ => {
            errors.push((
                format!("{f}.limit"),
                "must be a whole number from 1 to 1000000000".to_string(),
            ));
            0
        }
    }
}

/// A policy's `window`, in seconds (see [`parse_window`]).
fn policy_window(obj: &Map<String, Value>, f: &str, errors: &mut Vec<(String, String)>) -> u32 {
    match obj.get("window").and_then(Value::as_str).map(parse_window) {
        Some(Ok(w)) => w,
        Some(Err(msg)) => {
            errors.push((format!("{f}.window"), msg));
            0
        }
        None => {
            errors.push((
                format!("{f}.window"),
                "must be a string such as \"1m\"".to_string(),
            ));
            0
        }
    }
}

/// Whether `these` policies admit no more than `than` in any window of `than`: for
/// each policy of `than`, one of `these` has a limit no higher over a window that
/// is a whole multiple of it. Windows are aligned to the epoch, so each window of
/// the shorter policy lies inside one window of the longer, and the longer's limit
/// bounds it. No policies (`than` empty) is unlimited, which anything is within.
pub fn within(these: &[LimitPolicy], than: &[LimitPolicy]) -> bool {
    than.iter().all(|a| {
        these
            .iter()
            .any(|t| t.window_s % a.window_s == 0 && t.limit <= a.limit)
    })
}

/// The count of one policy in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counter {
    /// Start of the window, Unix milliseconds.
    pub window_start_ms: i64,
    /// Admitted requests in that window.
    pub count: u32,
}

/// Counters by policy identity ([`counter_key`]).
pub type Counters = BTreeMap<String, Counter>;

/// The identity of a policy's counter: its name and window (`burst/60`). Keys of
/// one rotation chain share their counters, but each has its own policies: a
/// policy's counter is shared only with a policy of the same name and window, and
/// each key checks the shared count against its own limit.
pub fn counter_key(policy: &LimitPolicy) -> String {
    format!("{}/{}", policy.name, policy.window_s)
}

/// The window (seconds) in a counter's identity, if it is one.
fn key_window_s(key: &str) -> Option<i64> {
    let (_, w) = key.rsplit_once('/')?;
    w.parse::<u32>().ok().filter(|w| *w > 0).map(i64::from)
}

/// Where one policy stands after a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStatus {
    /// The policy's name.
    pub name: String,
    /// Its limit.
    pub limit: u32,
    /// Its window, seconds.
    pub window_s: u32,
    /// Requests still admitted in the current window.
    pub remaining: u32,
    /// Whole seconds until the window resets (at least 1).
    pub reset_s: u64,
}

/// The outcome of one admission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Whether the request was admitted (and counted).
    pub admitted: bool,
    /// Every policy, in the key's order.
    pub policies: Vec<PolicyStatus>,
    /// Names of the policies with no room left, when refused.
    pub violated: Vec<String>,
    /// When refused: whole seconds after which a retry is admitted (at least 1).
    pub retry_after_s: Option<u64>,
}

/// The window of `policy` that `counter` should count in at `now_ms`. A clock that
/// went backwards never reopens a window: the later stored window is kept.
pub(crate) fn current(policy: &LimitPolicy, counter: Option<&Counter>, now_ms: i64) -> Counter {
    let w = i64::from(policy.window_s) * 1000;
    let start = now_ms.div_euclid(w) * w;
    match counter {
        Some(c) if c.window_start_ms >= start => *c,
        _ => Counter {
            window_start_ms: start,
            count: 0,
        },
    }
}

pub(crate) fn seconds_until(end_ms: i64, now_ms: i64) -> u64 {
    let ms = (end_ms - now_ms).max(1);
    (ms as u64).div_ceil(1000)
}

/// Decides one request against `policies` at `now_ms`, updating `counters` only when
/// the request is admitted. Another policy's counter (another key of the chain, or
/// a policy the key had before) is kept until its window ends, and then dropped:
/// one key's admission never resets another key's count.
pub fn admit(policies: &[LimitPolicy], counters: &mut Counters, now_ms: i64) -> Verdict {
    admit_reserving(policies, counters, now_ms, |_, _| 0)
}

/// [`admit`], with `reserved(counter key, window start)` more requests counted as
/// used in each window: quota granted to leases and not yet returned.
pub fn admit_reserving(
    policies: &[LimitPolicy],
    counters: &mut Counters,
    now_ms: i64,
    reserved: impl Fn(&str, i64) -> u32,
) -> Verdict {
    let keys: Vec<String> = policies.iter().map(counter_key).collect();
    let windows: Vec<Counter> = policies
        .iter()
        .zip(&keys)
        .map(|(p, k)| current(p, counters.get(k), now_ms))
        .collect();
    let held: Vec<u32> = keys
        .iter()
        .zip(&windows)
        .map(|(k, c)| reserved(k, c.window_start_ms))
        .collect();
    let violated: Vec<String> = policies
        .iter()
        .zip(&windows)
        .zip(&held)
        .filter(|((p, c), r)| c.count.saturating_add(**r) >= p.limit)
        .map(|((p, _), _)| p.name.clone())
        .collect();
    let admitted = violated.is_empty();
    counters.retain(|key, c| {
        keys.contains(key)
            || key_window_s(key).is_some_and(|w| now_ms < c.window_start_ms + w * 1000)
    });
    let mut statuses = Vec::with_capacity(policies.len());
    let mut retry_after_s = None::<u64>;
    for (((p, c), key), r) in policies.iter().zip(windows).zip(keys).zip(held) {
        let c = if admitted {
            Counter {
                count: c.count + 1,
                ..c
            }
        } else {
            c
        };
        let end = c.window_start_ms + i64::from(p.window_s) * 1000;
        let reset_s = seconds_until(end, now_ms);
        if !admitted && c.count.saturating_add(r) >= p.limit {
            retry_after_s = Some(retry_after_s.unwrap_or(0).max(reset_s));
        }
        if admitted {
            counters.insert(key, c);
        }
        statuses.push(PolicyStatus {
            name: p.name.clone(),
            limit: p.limit,
            window_s: p.window_s,
            remaining: p.limit.saturating_sub(c.count.saturating_add(r)),
            reset_s,
        });
    }
    Verdict {
        admitted,
        policies: statuses,
        violated,
        retry_after_s,
    }
}

/// The `RateLimit-Policy` field: every policy of the key.
pub fn policy_header(statuses: &[PolicyStatus]) -> String {
    statuses
        .iter()
        .map(|s| format!("\"{}\";q={};w={}", s.name, s.limit, s.window_s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `RateLimit` field: remaining quota and seconds to reset, for every policy.
pub fn ratelimit_header(statuses: &[PolicyStatus]) -> String {
    statuses
        .iter()
        .map(|s| format!("\"{}\";r={};t={}", s.name, s.remaining, s.reset_s))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(name: &str, limit: u32, window: &str) -> LimitPolicy {
        LimitPolicy {
            name: name.into(),
            limit,
            window_s: parse_window(window).unwrap(),
        }
    }

    #[track_caller]
    fn check_window(s: &str, expected: Result<u32, ()>) {
        assert_eq!(parse_window(s).map_err(|_| ()), expected, "{s}");
        if let Ok(secs) = expected {
            assert_eq!(parse_window(&format_window(secs)), Ok(secs));
        }
    }

    #[test]
    fn windows() {
        check_window("10s", Ok(10));
        check_window("1m", Ok(60));
        check_window("90m", Ok(5_400));
        check_window("1h", Ok(3_600));
        check_window("1d", Ok(86_400));
        check_window("366d", Ok(366 * 86_400));
        check_window("367d", Err(()));
        check_window("0s", Err(()));
        check_window("s", Err(()));
        check_window("1", Err(()));
        check_window("1w", Err(()));
        check_window("-1m", Err(()));
        check_window("1.5h", Err(()));
        check_window("99999999999999999999d", Err(()));
        assert_eq!(format_window(60), "1m");
        assert_eq!(format_window(90), "90s");
        assert_eq!(format_window(7_200), "2h");
    }

    #[track_caller]
    fn check_parse(v: Value, expected: Result<usize, &[&str]>) {
        match (parse_policies(&v, "RATE_LIMITS"), expected) {
            (Ok(got), Ok(n)) => assert_eq!(got.len(), n),
            (Err(errors), Err(fields)) => {
                let got: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
                assert_eq!(got, fields, "{errors:?}");
            }
            (got, want) => panic!("{v}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn policy_lists() {
        check_parse(json!([]), Ok(0));
        check_parse(
            json!([{"name": "burst", "limit": 100, "window": "1m"}, {"name": "daily", "limit": 10000, "window": "1d"}]),
            Ok(2),
        );
        check_parse(json!({}), Err(&["RATE_LIMITS"]));
        check_parse(json!([1]), Err(&["RATE_LIMITS[0]"]));
        check_parse(
            json!([{"name": "Burst", "limit": 1, "window": "1m"}]),
            Err(&["RATE_LIMITS[0].name"]),
        );
        check_parse(
            json!([{"name": "a", "limit": 0, "window": "1m"}]),
            Err(&["RATE_LIMITS[0].limit"]),
        );
        check_parse(
            json!([{"name": "a", "limit": 1.5, "window": "1m"}]),
            Err(&["RATE_LIMITS[0].limit"]),
        );
        check_parse(
            json!([{"name": "a", "limit": 1, "window": "1w"}]),
            Err(&["RATE_LIMITS[0].window"]),
        );
        check_parse(
            json!([{"name": "a", "limit": 1}]),
            Err(&["RATE_LIMITS[0].window"]),
        );
        check_parse(
            json!([{"name": "a", "limit": 1, "window": "1m", "burst": 3}]),
            Err(&["RATE_LIMITS[0].burst"]),
        );
        check_parse(
            json!([{"name": "a", "limit": 1, "window": "1m"}, {"name": "a", "limit": 2, "window": "1h"}]),
            Err(&["RATE_LIMITS[1].name"]),
        );
        check_parse(
            json!(vec![json!({"name": "a", "limit": 1, "window": "1m"}); 9]),
            Err(&["RATE_LIMITS"]),
        );
    }

    #[test]
    fn policies_serialize_with_readable_windows() {
        let policy = p("burst", 100, "1m");
        let v = serde_json::to_value(&policy).unwrap();
        assert_eq!(v, json!({"name": "burst", "limit": 100, "window": "1m"}));
        assert_eq!(serde_json::from_value::<LimitPolicy>(v).unwrap(), policy);
    }

    /// Runs `n` requests at `now_ms` and returns how many were admitted.
    fn run(policies: &[LimitPolicy], counters: &mut Counters, now_ms: i64, n: u32) -> u32 {
        (0..n)
            .filter(|_| admit(policies, counters, now_ms).admitted)
            .count() as u32
    }

    #[test]
    fn a_window_admits_exactly_the_limit() {
        let burst = [p("burst", 3, "10s")];
        let mut c = Counters::new();
        assert_eq!(run(&burst, &mut c, 100_000, 10), 3);
        assert_eq!(run(&burst, &mut c, 109_999, 10), 0);
        // The next window starts at 110 000 ms.
        assert_eq!(run(&burst, &mut c, 110_000, 10), 3);
    }

    #[track_caller]
    fn check_verdict(
        policies: &[LimitPolicy],
        counters: &mut Counters,
        now_ms: i64,
        admitted: bool,
        statuses: &[(u32, u64)],
        retry: Option<u64>,
    ) {
        let v = admit(policies, counters, now_ms);
        assert_eq!(v.admitted, admitted, "{v:?}");
        let got: Vec<(u32, u64)> = v
            .policies
            .iter()
            .map(|s| (s.remaining, s.reset_s))
            .collect();
        assert_eq!(got, statuses, "{v:?}");
        assert_eq!(v.retry_after_s, retry, "{v:?}");
    }

    #[test]
    fn remaining_reset_and_retry_after() {
        let two = [p("burst", 2, "10s"), p("daily", 3, "1d")];
        let mut c = Counters::new();
        let day = 86_400_000;
        // At 3.5 s into a 10 s window: 6.5 s left, rounded up to 7.
        check_verdict(&two, &mut c, 3_500, true, &[(1, 7), (2, 86_397)], None);
        check_verdict(&two, &mut c, 9_999, true, &[(0, 1), (1, 86_391)], None);
        check_verdict(&two, &mut c, 9_999, false, &[(0, 1), (1, 86_391)], Some(1));
        // The burst window reset; the daily one has one left.
        check_verdict(&two, &mut c, 10_000, true, &[(1, 10), (0, 86_390)], None);
        // Now the daily policy blocks, so retry-after is the end of the day even
        // though the burst policy has room.
        let v = admit(&two, &mut c, 12_000);
        assert!(!v.admitted);
        assert_eq!(v.violated, vec!["daily".to_string()]);
        assert_eq!(v.retry_after_s, Some(86_388));
        assert_eq!(
            v.policies[0].remaining, 1,
            "a refused request consumes nothing"
        );
        check_verdict(&two, &mut c, day, true, &[(1, 10), (2, 86_400)], None);
    }

    #[test]
    fn retry_after_is_the_latest_violated_reset() {
        let both = [p("a", 1, "10s"), p("b", 1, "1m")];
        let mut c = Counters::new();
        assert!(admit(&both, &mut c, 0).admitted);
        let v = admit(&both, &mut c, 1_000);
        assert_eq!(v.violated, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(v.retry_after_s, Some(59));
        // And a retry after exactly that long is admitted.
        assert!(admit(&both, &mut c, 1_000 + 59_000).admitted);
    }

    #[test]
    fn a_clock_that_goes_back_does_not_reopen_a_window() {
        let burst = [p("burst", 2, "10s")];
        let mut c = Counters::new();
        assert_eq!(run(&burst, &mut c, 25_000, 2), 2);
        // A call stamped in the previous window (clock skew between calls).
        let v = admit(&burst, &mut c, 19_000);
        assert!(!v.admitted);
        assert_eq!(v.retry_after_s, Some(11));
        assert_eq!(run(&burst, &mut c, 30_000, 5), 2);
    }

    #[test]
    fn negative_and_epoch_times() {
        let burst = [p("burst", 1, "10s")];
        let mut c = Counters::new();
        assert!(admit(&burst, &mut c, -1).admitted);
        assert!(!admit(&burst, &mut c, -1).admitted);
        assert!(admit(&burst, &mut c, 0).admitted);
    }

    #[test]
    fn policy_changes() {
        let mut c = Counters::new();
        assert_eq!(run(&[p("a", 5, "1m")], &mut c, 0, 3), 3);
        // A policy added later starts from zero.
        assert_eq!(run(&[p("a", 5, "1m"), p("b", 1, "1m")], &mut c, 0, 5), 1);
        assert_eq!(c.len(), 2);
        assert_eq!(run(&[p("b", 1, "1m")], &mut c, 0, 1), 0);
        // A policy the key no longer has keeps its count until its window ends...
        assert_eq!(run(&[p("a", 5, "1m")], &mut c, 1_000, 5), 1);
        // ...and is then dropped.
        assert_eq!(run(&[], &mut c, 59_999, 10), 10);
        assert_eq!(c.len(), 2);
        assert_eq!(run(&[], &mut c, 60_000, 10), 10);
        assert!(c.is_empty(), "{c:?}");
        // A stored counter that is no policy's identity is dropped.
        c.insert("a".into(), Counter::default());
        assert_eq!(run(&[p("b", 1, "1m")], &mut c, 0, 1), 1);
        assert_eq!(c.keys().collect::<Vec<_>>(), vec!["b/60"]);
    }

    #[test]
    fn limits_within_limits() {
        #[track_caller]
        fn check(these: &[LimitPolicy], than: &[LimitPolicy], expected: bool) {
            assert_eq!(within(these, than), expected, "{these:?} within {than:?}");
        }
        let burst = || p("burst", 10, "1m");
        check(&[], &[], true);
        check(&[burst()], &[], true);
        check(&[], &[burst()], false);
        check(&[burst()], &[burst()], true);
        check(&[p("x", 9, "1m")], &[burst()], true);
        check(&[p("x", 11, "1m")], &[burst()], false);
        // A longer window that is a whole multiple, with a limit no higher.
        check(&[p("x", 10, "1h")], &[burst()], true);
        check(&[p("x", 10, "90s")], &[burst()], false);
        check(&[p("x", 1, "30s")], &[burst()], false);
        check(
            &[p("x", 10, "1h"), p("y", 100, "1d")],
            &[burst(), p("d", 100, "1d")],
            true,
        );
        check(&[p("x", 10, "1h")], &[burst(), p("d", 5, "1d")], false);
    }

    #[test]
    fn keys_of_one_chain_keep_their_own_limits() {
        // The old key of a rotation (burst 10/min) and its successor alternate:
        // neither resets the other's count, and the old key is admitted 10 times
        // in the window, no more. A successor's policy of the same name and window
        // shares the count, which each key checks against its own limit.
        let old = [p("burst", 10, "1m")];
        let mut c = Counters::new();
        let successors = [
            (vec![], 10),
            (vec![p("other", 1, "1h")], 10),
            (vec![p("burst", 100, "1m")], 5),
        ];
        for (round, (successor, expected)) in successors.into_iter().enumerate() {
            let mut old_admitted = 0;
            for i in 0..30 {
                let t = 3_600_000 * (round as i64 + 1) + i;
                if admit(&old, &mut c, t).admitted {
                    old_admitted += 1;
                }
                admit(&successor, &mut c, t);
            }
            assert_eq!(old_admitted, expected, "{successor:?}");
        }
        // The same name with another window is another counter.
        let mut c = Counters::new();
        assert_eq!(run(&[p("burst", 2, "1m")], &mut c, 0, 5), 2);
        assert_eq!(run(&[p("burst", 2, "1h")], &mut c, 0, 5), 2);
    }

    #[test]
    fn headers() {
        let v = admit(
            &[p("burst", 100, "1m"), p("daily", 10_000, "1d")],
            &mut Counters::new(),
            43_000,
        );
        assert_eq!(
            policy_header(&v.policies),
            "\"burst\";q=100;w=60, \"daily\";q=10000;w=86400"
        );
        assert_eq!(
            ratelimit_header(&v.policies),
            "\"burst\";r=99;t=17, \"daily\";r=9999;t=86357"
        );
    }
}
