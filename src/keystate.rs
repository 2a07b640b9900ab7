//! What a key's Durable Object knows for certain, as plain data: revocation and
//! disabling per key id, the shared rate-limit counters of a rotation chain, and
//! each key's usage and last request outcomes. It is decided here, persisted by
//! the shell.

use crate::lease::{Book, LeaseAnswer, LeaseRequest, Report};
use crate::problem::Code;
use crate::ratelimit::{self, Counters, LimitPolicy, Verdict};
use crate::record::KeyStatus;
use crate::usage::{cut_path, Outcome, Usage, OUTCOMES_KEPT};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// The authoritative state of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyState {
    /// Unix seconds from which the key is revoked.
    pub revoked_at: Option<i64>,
    /// Whether the key is disabled.
    pub disabled: bool,
}

/// A change sent by the admin API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    /// The key id.
    pub key: String,
    /// Revoke from this time (Unix seconds). The earliest revocation always wins.
    #[serde(default)]
    pub revoked_at: Option<i64>,
    /// Enable or disable.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A denial decided before the object was asked (scope, expiry, address): the
/// object only records it, and counts nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    /// The HTTP status answered.
    pub status: u16,
    /// The problem code.
    pub code: Code,
}

/// One request for the object to decide (or, with `denial`, to record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    /// The key id.
    pub key: String,
    /// The key's team, whose directory the object asks once for the key's state.
    #[serde(default)]
    pub team: String,
    /// The key's rate-limit policies.
    pub policies: Vec<LimitPolicy>,
    /// The request method.
    pub method: String,
    /// The canonical request path (never the query), already cut by [`cut_path`]:
    /// only the outcome keeps it.
    pub path: String,
    /// Set when the request is already refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denial: Option<Denial>,
}

/// The object's answer to one admission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// `active`, or why the key may not be used.
    pub status: KeyStatus,
    /// The rate-limit verdict, for an active key that was not already refused.
    pub verdict: Option<Verdict>,
}

/// Everything one object holds: the keys of one rotation chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authority {
    /// State by key id.
    pub states: BTreeMap<String, KeyState>,
    /// Usage by key id.
    pub usage: BTreeMap<String, Usage>,
    /// Last outcomes by key id, oldest first.
    pub outcomes: BTreeMap<String, VecDeque<Outcome>>,
    /// The chain's shared counters.
    pub counters: Counters,
    /// Open leases (leased admission): quota granted and not yet returned.
    pub book: Book,
}

impl KeyState {
    /// Applies a change. A revocation is never undone or postponed.
    pub fn apply(&mut self, change: &StateChange) {
        if let Some(at) = change.revoked_at {
            self.revoked_at = Some(self.revoked_at.map_or(at, |old| old.min(at)));
        }
        if let Some(enabled) = change.enabled {
            self.disabled = !enabled;
        }
    }

    /// The status at `now_ms`, as far as this state decides it (never `Expired`).
    pub fn status(&self, now_ms: i64) -> KeyStatus {
        if self
            .revoked_at
            .is_some_and(|r| now_ms >= r.saturating_mul(1000))
        {
            KeyStatus::Revoked
        } else if self.disabled {
            KeyStatus::Disabled
        } else {
            KeyStatus::Active
        }
    }
}

impl Authority {
    /// Decides one admission at `now_ms`: a recorded denial stays one; then
    /// revocation and disabling; then the limits. Updates the usage, the outcomes
    /// and (only when admitted) the counters, and keeps the outcome (see
    /// [`Authority::newest_outcomes`]).
    pub fn admit(&mut self, a: &Admission, now_ms: i64) -> Answer {
        let state = self.states.get(&a.key).copied().unwrap_or_default();
        let status = state.status(now_ms);
        let (verdict, denial) = match (&a.denial, status) {
            (Some(d), _) => (None, Some((d.status, d.code))),
            (None, KeyStatus::Active) => {
                // Quota leased to isolates (a key switched between modes) counts.
                self.book.expire(&mut self.counters, now_ms);
                let book = &self.book;
                let v =
                    ratelimit::admit_reserving(&a.policies, &mut self.counters, now_ms, |k, w| {
                        book.reserved(k, w)
                    });
                let denial = (!v.admitted).then_some((429, Code::RateLimited));
                (Some(v), denial)
            }
            (None, KeyStatus::Revoked) => (None, Some((401, Code::KeyRevoked))),
            (None, KeyStatus::Disabled) => (None, Some((401, Code::KeyDisabled))),
            (None, KeyStatus::Expired) => (None, Some((401, Code::KeyExpired))),
        };
        let usage = self.usage.entry(a.key.clone()).or_default();
        match &denial {
            None => {
                usage.requests += 1;
                usage.last_used_at = Some(now_ms.div_euclid(1000));
            }
            Some(_) => usage.denied += 1,
        }
        let (status_code, code) = denial.map_or((None, None), |(s, c)| (Some(s), Some(c)));
        let outcome = Outcome {
            at_ms: now_ms,
            method: a.method.clone(),
            path: cut_path(&a.path),
            status: status_code,
            code,
        };
        let kept = self.outcomes.entry(a.key.clone()).or_default();
        kept.push_back(outcome);
        while kept.len() > OUTCOMES_KEPT {
            kept.pop_front();
        }
        Answer { status, verdict }
    }

    /// The newest `n` of `key`'s kept outcomes, oldest first: after `n` admissions,
    /// the ones they recorded, as far as they are still kept (at most
    /// [`OUTCOMES_KEPT`]; older ones would be trimmed from storage at once).
    pub fn newest_outcomes(&self, key: &str, n: usize) -> impl Iterator<Item = &Outcome> {
        let kept = self.outcomes.get(key);
        let len = kept.map_or(0, VecDeque::len);
        kept.into_iter().flatten().skip(len.saturating_sub(n))
    }

    /// Answers an isolate's lease call at `now_ms` (see [`crate::lease`]): expired
    /// leases count as used, returned ones count what they admitted, the report
    /// goes into the key's usage and outcomes, and an active key gets a new lease
    /// (or, with a window exhausted, the refused verdict).
    pub fn lease(&mut self, r: &LeaseRequest, now_ms: i64) -> LeaseAnswer {
        self.book.expire(&mut self.counters, now_ms);
        for ret in &r.returns {
            self.book.settle(&mut self.counters, *ret);
        }
        self.report(&r.key, &r.report);
        let state = self.states.get(&r.key).copied().unwrap_or_default();
        let status = state.status(now_ms);
        let mut answer = LeaseAnswer {
            status,
            grant: None,
            exhausted: None,
        };
        if status != KeyStatus::Active || !r.want {
            return answer;
        }
        let (lo, hi) = crate::lease::TTL_RANGE_MS;
        let ttl = r.ttl_ms.clamp(lo, hi);
        match self.book.grant(
            &r.policies,
            &mut self.counters,
            &r.holder,
            r.demand,
            now_ms,
            ttl,
        ) {
            Ok(mut g) => {
                // A key due to be revoked (a rotation's grace) gets no lease past it.
                if let Some(end) = state.revoked_at.map(|r| r.saturating_mul(1000)) {
                    if end < g.deadline_ms {
                        g.deadline_ms = end;
                        if let Some(l) = self.book.open.iter_mut().find(|l| l.id == g.id) {
                            l.deadline_ms = end;
                        }
                    }
                }
                answer.grant = Some(g)
            }
            Err(e) => answer.exhausted = Some(e),
        }
        answer
    }

    /// Adds an isolate's report to a key's usage and outcomes.
    fn report(&mut self, key: &str, r: &Report) {
        if r.is_empty() {
            return;
        }
        let usage = self.usage.entry(key.to_string()).or_default();
        usage.requests += r.admitted;
        usage.denied += r.denied;
        let last = r.last_used_ms.map(|ms| ms.div_euclid(1000));
        usage.last_used_at = usage.last_used_at.max(last);
        let kept = self.outcomes.entry(key.to_string()).or_default();
        kept.extend(r.outcomes.iter().cloned());
        while kept.len() > OUTCOMES_KEPT {
            kept.pop_front();
        }
    }

    /// Applies an admin change to one key and returns its new state.
    pub fn change(&mut self, change: &StateChange) -> KeyState {
        let state = self.states.entry(change.key.clone()).or_default();
        state.apply(change);
        *state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(changes: &[StateChange], now_ms: i64, expected: KeyStatus) {
        let mut s = KeyState::default();
        for c in changes {
            s.apply(c);
        }
        assert_eq!(s.status(now_ms), expected, "{changes:?}");
    }

    fn revoke(at: i64) -> StateChange {
        StateChange {
            key: "key_a".into(),
            revoked_at: Some(at),
            enabled: None,
        }
    }

    fn enable(on: bool) -> StateChange {
        StateChange {
            key: "key_a".into(),
            revoked_at: None,
            enabled: Some(on),
        }
    }

    #[test]
    fn transitions() {
        use KeyStatus::*;
        check(&[], 0, Active);
        check(&[enable(false)], 0, Disabled);
        check(&[enable(false), enable(true)], 0, Active);
        check(&[revoke(10)], 10_000, Revoked);
        check(&[revoke(10)], 9_999, Active);
        check(&[revoke(10), enable(true)], 10_000, Revoked);
        check(&[revoke(10), enable(false)], 5_000, Disabled);
        // A later revocation time never postpones an earlier one.
        check(&[revoke(10), revoke(100)], 50_000, Revoked);
        check(&[revoke(100), revoke(10)], 50_000, Revoked);
    }

    #[test]
    fn changes_decode_with_missing_fields() {
        let c: StateChange = serde_json::from_str(r#"{"key":"key_a","enabled": false}"#).unwrap();
        assert_eq!(c, enable(false));
    }

    fn admission(key: &str, limit: u32, denial: Option<(u16, Code)>) -> Admission {
        Admission {
            key: key.into(),
            team: "acme".into(),
            policies: vec![LimitPolicy {
                name: "burst".into(),
                limit,
                window_s: 60,
            }],
            method: "GET".into(),
            path: "/documents/1".into(),
            denial: denial.map(|(status, code)| Denial { status, code }),
        }
    }

    /// Admits `a` and returns (status, outcome code, requests, denied).
    #[track_caller]
    fn check_admit(
        auth: &mut Authority,
        a: &Admission,
        now_ms: i64,
        expected: (KeyStatus, Option<Code>, u64, u64),
    ) {
        let answer = auth.admit(a, now_ms);
        let outcome = auth.outcomes[&a.key].back().expect("an outcome is kept");
        let u = &auth.usage[&a.key];
        let got = (answer.status, outcome.code, u.requests, u.denied);
        assert_eq!(got, expected, "{a:?}");
    }

    #[test]
    fn admissions_count_usage_and_keep_outcomes() {
        use KeyStatus::*;
        let mut auth = Authority::default();
        let ok = admission("key_a", 2, None);
        check_admit(&mut auth, &ok, 1_000, (Active, None, 1, 0));
        check_admit(&mut auth, &ok, 2_500, (Active, None, 2, 0));
        check_admit(
            &mut auth,
            &ok,
            3_000,
            (Active, Some(Code::RateLimited), 2, 1),
        );
        assert_eq!(auth.usage["key_a"].last_used_at, Some(2));
        // A denial decided elsewhere is recorded, and consumes no quota.
        let scope = admission("key_a", 2, Some((403, Code::InsufficientScope)));
        check_admit(
            &mut auth,
            &scope,
            61_000,
            (Active, Some(Code::InsufficientScope), 2, 2),
        );
        check_admit(&mut auth, &ok, 61_000, (Active, None, 3, 2));
        // Another key of the chain shares the counters but not the state or usage.
        let other = admission("key_b", 2, None);
        check_admit(&mut auth, &other, 61_500, (Active, None, 1, 0));
        check_admit(
            &mut auth,
            &other,
            61_600,
            (Active, Some(Code::RateLimited), 1, 1),
        );
        auth.change(&revoke(61));
        check_admit(
            &mut auth,
            &ok,
            62_000,
            (Revoked, Some(Code::KeyRevoked), 3, 3),
        );
        check_admit(&mut auth, &other, 121_000, (Active, None, 2, 1));
        let kinds: Vec<Option<u16>> = auth.outcomes["key_a"].iter().map(|o| o.status).collect();
        assert_eq!(
            kinds,
            vec![None, None, Some(429), Some(403), None, Some(401)]
        );
    }

    /// An authority that admitted sixty requests of `key_a`, to `/p/0` .. `/p/59`.
    fn sixty_admitted() -> (Authority, Admission) {
        let mut auth = Authority::default();
        let mut a = admission("key_a", 1_000, None);
        for i in 0..60 {
            a.path = format!("/p/{i}");
            auth.admit(&a, 1_000 + i);
        }
        (auth, a)
    }

    #[test]
    fn outcomes_keep_the_last_fifty_and_cut_long_paths() {
        let (mut auth, mut a) = sixty_admitted();
        let kept = &auth.outcomes["key_a"];
        assert_eq!(kept.len(), OUTCOMES_KEPT);
        assert_eq!(kept.front().unwrap().path, "/p/10");
        assert_eq!(kept.back().unwrap().path, "/p/59");
        a.path = format!("/{}", "é".repeat(300));
        auth.admit(&a, 2_000);
        let o = auth.outcomes["key_a"].back().unwrap();
        assert!(o.path.ends_with('…') && o.path.len() <= crate::usage::OUTCOME_PATH_LEN + 3);
        assert_eq!(
            cut_path(&o.path),
            o.path,
            "cutting a cut path changes nothing"
        );
    }

    #[test]
    fn newest_outcomes_are_the_last_n_kept() {
        let (auth, _) = sixty_admitted();
        #[track_caller]
        fn check(auth: &Authority, (key, n): (&str, usize), expected: &[&str]) {
            let got: Vec<&str> = auth
                .newest_outcomes(key, n)
                .map(|o| o.path.as_str())
                .collect();
            assert_eq!(got, expected, "{key} {n}");
        }
        check(&auth, ("key_a", 0), &[]);
        check(&auth, ("key_a", 1), &["/p/59"]);
        check(&auth, ("key_a", 3), &["/p/57", "/p/58", "/p/59"]);
        let all: Vec<String> = (10..60).map(|i| format!("/p/{i}")).collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        check(&auth, ("key_a", 50), &all);
        check(&auth, ("key_a", 60), &all);
        check(&auth, ("key_b", 5), &[]);
    }
}
