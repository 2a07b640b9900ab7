//! What an isolate admits on its own when a key's Durable Object cannot answer and
//! `RATE_LIMIT_FAILURE` is `open`: fail-open is bounded, never a blank cheque.
//!
//! - The key's own limits still hold per isolate: its policies are counted in the
//!   isolate's memory while the object is unreachable, so a key holder who floods
//!   its own object past `AUTHORITY_TIMEOUT` gains at most its limit per isolate.
//! - A key that the isolate has seen refused by its object as revoked or
//!   disabled is never let through on fail-open: it fails closed, until the
//!   object says otherwise.
//! - A key whose object said it spends credits is never let through on
//!   fail-open either (only its object spends them exactly), whatever an older
//!   copy of its record says: an admin's new credits fail it closed from the
//!   first answer that shows them. (A record that says credits fails closed
//!   before this memory is asked: `decide::may_fail_open`.)

use crate::ratelimit::{self, Counters, LimitPolicy, Verdict};
use std::collections::BTreeMap;

/// Most keys whose fail-open counters or refusals one isolate remembers.
pub const MAX_KEYS: usize = 10_000;

/// One isolate's fail-open memory, by key id.
#[derive(Debug, Default)]
pub struct FailOpen {
    keys: BTreeMap<String, Seen>,
}

/// What the isolate remembers of one key.
#[derive(Debug, Default)]
struct Seen {
    /// The key's limits, counted here while its object is unreachable.
    counters: Counters,
    /// Whether its object last refused it as revoked or disabled.
    refused: bool,
    /// Whether its object last said that it spends credits.
    credited: bool,
    /// When it was last touched, to forget the oldest first.
    at_ms: i64,
}

/// Why a request is not let through on fail-open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The key's object refused it as revoked or disabled before: fail closed.
    SeenRefused,
    /// The key's object said it spends credits, which only the object counts:
    /// fail closed.
    SeenCredited,
    /// The key's limits, counted in this isolate, are exhausted.
    Limited(Verdict),
}

impl FailOpen {
    /// Records what the key's object answered: a revoked or disabled key
    /// (`refused`), or one that spends credits (`credited`), is remembered; an
    /// active one without credits is forgotten.
    pub fn saw(&mut self, key: &str, refused: bool, credited: bool, now_ms: i64) {
        if refused || credited {
            let seen = self.entry(key, now_ms);
            (seen.refused, seen.credited) = (refused, credited);
        } else if let Some(seen) = self.keys.get_mut(key) {
            (seen.refused, seen.credited) = (false, false);
        }
    }

    /// The memory of `key`, made room for: past [`MAX_KEYS`], the key touched
    /// longest ago is forgotten.
    fn entry(&mut self, key: &str, now_ms: i64) -> &mut Seen {
        if !self.keys.contains_key(key) && self.keys.len() >= MAX_KEYS {
            let oldest = self
                .keys
                .iter()
                .min_by_key(|(_, s)| s.at_ms)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.keys.remove(&k);
            }
        }
        let seen = self.keys.entry(key.to_string()).or_default();
        seen.at_ms = now_ms;
        seen
    }

    /// Decides a request for `key` with `policies` at `now_ms` while its object is
    /// unreachable: refused if the key was seen refused or spending credits, or
    /// its limits are spent in this isolate, else counted and admitted.
    pub fn admit(
        &mut self,
        key: &str,
        policies: &[LimitPolicy],
        now_ms: i64,
    ) -> Result<Verdict, Refusal> {
        let seen = self.entry(key, now_ms);
        if seen.refused {
            return Err(Refusal::SeenRefused);
        }
        if seen.credited {
            return Err(Refusal::SeenCredited);
        }
        let verdict = ratelimit::admit(policies, &mut seen.counters, now_ms);
        if verdict.admitted {
            Ok(verdict)
        } else {
            Err(Refusal::Limited(verdict))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burst(limit: u32) -> Vec<LimitPolicy> {
        vec![LimitPolicy {
            name: "burst".into(),
            limit,
            window_s: 60,
        }]
    }

    #[track_caller]
    fn check(
        f: &mut FailOpen,
        key: &str,
        policies: &[LimitPolicy],
        now_ms: i64,
        expected: Result<(), &str>,
    ) {
        let got = f
            .admit(key, policies, now_ms)
            .map(|_| ())
            .map_err(|r| match r {
                Refusal::SeenRefused => "seen refused",
                Refusal::SeenCredited => "seen credited",
                Refusal::Limited(_) => "limited",
            });
        assert_eq!(got, expected, "{key} at {now_ms}");
    }

    #[test]
    fn fail_open_keeps_each_keys_limits_per_isolate() {
        let mut f = FailOpen::default();
        for _ in 0..3 {
            check(&mut f, "key_a", &burst(3), 0, Ok(()));
        }
        check(&mut f, "key_a", &burst(3), 59_999, Err("limited"));
        check(&mut f, "key_b", &burst(3), 59_999, Ok(()));
        check(&mut f, "key_a", &burst(3), 60_000, Ok(()));
        // A key without limits has nothing to bound.
        for _ in 0..100 {
            check(&mut f, "key_c", &[], 0, Ok(()));
        }
        let Err(Refusal::Limited(v)) = f.admit("key_a", &burst(1), 60_000) else {
            panic!("limited");
        };
        assert_eq!(v.retry_after_s, Some(60));
    }

    #[test]
    fn a_key_seen_revoked_or_disabled_never_fails_open() {
        let mut f = FailOpen::default();
        f.saw("key_a", true, false, 0);
        check(&mut f, "key_a", &[], 0, Err("seen refused"));
        check(&mut f, "key_b", &[], 0, Ok(()));
        // Enabled again: the object said so.
        f.saw("key_a", false, false, 1);
        check(&mut f, "key_a", &[], 1, Ok(()));
    }

    #[test]
    fn a_key_seen_spending_credits_never_fails_open() {
        let mut f = FailOpen::default();
        // Its record (cached) says no credits; its object said it has some.
        f.saw("key_a", false, true, 0);
        check(&mut f, "key_a", &[], 0, Err("seen credited"));
        check(&mut f, "key_a", &burst(100), 1, Err("seen credited"));
        // Revoked and credited: revoked is the reason given.
        f.saw("key_a", true, true, 2);
        check(&mut f, "key_a", &[], 2, Err("seen refused"));
        // Its credits removed, as its object said: open again.
        f.saw("key_a", false, false, 3);
        check(&mut f, "key_a", &[], 3, Ok(()));
        // A key never seen at all keeps no memory.
        f.saw("key_b", false, false, 4);
        assert!(!f.keys.contains_key("key_b"));
    }

    #[test]
    fn memory_is_bounded() {
        let mut f = FailOpen::default();
        for i in 0..MAX_KEYS + 5 {
            f.saw(&format!("key_{i}"), true, false, i as i64);
        }
        assert_eq!(f.keys.len(), MAX_KEYS);
        // The oldest went first.
        assert!(!f.keys.contains_key("key_0"));
        assert!(f.keys.contains_key(&format!("key_{}", MAX_KEYS + 4)));
        f.admit("key_new", &burst(1), MAX_KEYS as i64 + 10).unwrap();
        assert_eq!(f.keys.len(), MAX_KEYS);
        assert!(!f.keys.contains_key("key_5"));
    }
}
