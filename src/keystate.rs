//! What a key's Durable Object knows for certain, as plain data: revocation and
//! disabling per key id, the shared rate-limit counters of a rotation chain, and
//! each key's usage and last request outcomes. It is decided here, persisted by
//! the shell.

use crate::credits::{Balance, Credits, CreditsChange, Exhausted, LowWatch};
use crate::lease::{Book, CreditGrant, CreditShare, LeaseAnswer, LeaseRequest, Report};
use crate::notice::CreditsLow;
use crate::problem::{Code, Problem};
use crate::ratelimit::{self, Counters, LimitPolicy, Verdict};
use crate::record::KeyStatus;
use crate::usage::{cut_path, Kind, Outcome, Series, Usage, OUTCOMES_KEPT};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// The authoritative state of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyState {
    /// Unix seconds from which the key is revoked.
    pub revoked_at: Option<i64>,
    /// Whether the key is disabled.
    pub disabled: bool,
    /// The newest revision of the key's record the object was told of: an
    /// admission judged on an older one is judged again ([`Answer::stale`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rev: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
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
    /// The record's revision once its team directory applied the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<u64>,
}

/// A denial decided before the object was asked (scope, expiry, address): the
/// object only records it, and counts nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    /// The HTTP status answered.
    pub status: u16,
    /// The problem code: always written; `None` when a newer release's worker
    /// sent a code this release does not know (the denial stays a denial).
    #[serde(deserialize_with = "crate::problem::known_code")]
    pub code: Option<Code>,
}

impl Denial {
    /// The denial of a refusal: its code, and the status that code answers.
    pub fn of(problem: &Problem) -> Denial {
        Denial {
            status: problem.status(),
            code: Some(problem.code),
        }
    }
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
    /// What the request spends of the chain's credits, if it has any (its
    /// route's `cost`).
    #[serde(default = "crate::policy::default_cost")]
    pub cost: u64,
    /// The revision of the record the request was judged on (absent from
    /// releases before revisions, whose requests are never judged again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<u64>,
}

/// The object's answer to one admission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// `active`, or why the key may not be used.
    pub status: KeyStatus,
    /// The rate-limit verdict, for an active key that was not already refused.
    pub verdict: Option<Verdict>,
    /// What is left of the chain's credits after an admitted request, if it has
    /// any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<Balance>,
    /// Why a request that every other check admitted was refused: its route
    /// costs more than is left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exhausted: Option<Exhausted>,
    /// The request was judged on an older revision of the key's record than
    /// the object knows: nothing was counted, spent or recorded, and the
    /// request is to be judged again on the team directory's record.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stale: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Everything one object holds: the keys of one rotation chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainState {
    /// State by key id.
    pub states: BTreeMap<String, KeyState>,
    /// Usage by key id.
    pub usage: BTreeMap<String, Usage>,
    /// Last outcomes by key id, oldest first.
    pub outcomes: BTreeMap<String, VecDeque<Outcome>>,
    /// Requests per hour and per day by outcome, by key id.
    pub series: BTreeMap<String, Series>,
    /// The chain's shared counters.
    pub counters: Counters,
    /// Open leases (leased admission): quota granted and not yet returned.
    pub book: Book,
    /// The chain's credits, if it has any: taken from the record of its first
    /// key to reach the object, then changed only by spending and by admins.
    pub credits: Option<Credits>,
    /// The low-credit notice's watch over the credits' period.
    pub low: LowWatch,
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
        if let Some(rev) = change.rev {
            self.rev = self.rev.max(rev);
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

impl ChainState {
    /// Decides one admission at `now_ms`: a recorded denial stays one; then
    /// revocation and disabling; then the limits. Updates the usage, the outcomes
    /// and (only when admitted) the counters, and keeps the outcome (see
    /// [`ChainState::newest_outcomes`]).
    pub fn admit(&mut self, a: &Admission, now_ms: i64) -> Answer {
        let state = self.states.get(&a.key).copied().unwrap_or_default();
        let status = state.status(now_ms);
        if a.rev.is_some_and(|rev| rev < state.rev) {
            return Answer {
                status,
                verdict: None,
                credits: None,
                exhausted: None,
                stale: true,
            };
        }
        let refused = |denial| {
            let answer = Answer {
                status,
                verdict: None,
                credits: None,
                exhausted: None,
                stale: false,
            };
            (Some(denial), answer)
        };
        let (denial, answer) = match (&a.denial, status) {
            (Some(d), _) => refused((d.status, d.code)),
            (None, KeyStatus::Active) => {
                let (denial, answer) = self.admit_active(a, now_ms);
                (denial.map(|(s, c)| (s, Some(c))), answer)
            }
            (None, KeyStatus::Revoked) => refused((401, Some(Code::KeyRevoked))),
            (None, KeyStatus::Disabled) => refused((401, Some(Code::KeyDisabled))),
            (None, KeyStatus::Expired) => refused((401, Some(Code::KeyExpired))),
            (None, KeyStatus::Unknown) => refused((503, Some(Code::Unavailable))),
        };
        self.record(a, denial, now_ms);
        answer
    }

    /// Decides an active key's request by the limits, then the credits: the
    /// denial (status and code) if any, and the answer. The counters count it only
    /// when both admit it; the credits are spent only then.
    fn admit_active(&mut self, a: &Admission, now_ms: i64) -> (Option<(u16, Code)>, Answer) {
        // Quota and credits leased to isolates count as used.
        self.catch_up(now_ms);
        let now = now_ms.div_euclid(1000);
        // Credits are spent only by a request that the limits admit, and a
        // request they cannot pay for leaves the counters as they were.
        let spent = self.spend(a.cost, now);
        let mut trial;
        let counters = match spent {
            Some(Err(_)) => {
                trial = self.counters.clone();
                &mut trial
            }
            _ => &mut self.counters,
        };
        let book = &self.book;
        let v =
            ratelimit::admit_reserving(&a.policies, counters, now_ms, |k, w| book.reserved(k, w));
        let (mut credits, mut exhausted) = (None, None);
        let denial = match (v.admitted, spent) {
            (false, _) => Some((429, Code::RateLimited)),
            (true, Some(Err(e))) => {
                exhausted = Some(e);
                Some((429, Code::CreditsExhausted))
            }
            (true, Some(Ok(after))) => {
                self.credits = Some(after);
                // What is free: credits on lease are as good as spent.
                credits = Some(Balance {
                    remaining: self.book.credits_free(&after),
                    next_refill: after.next_refill(now),
                });
                None
            }
            (true, None) => None,
        };
        let answer = Answer {
            status: KeyStatus::Active,
            verdict: Some(v),
            credits,
            exhausted,
            stale: false,
        };
        (denial, answer)
    }

    /// What spending `cost` at `now` would leave of the chain's credits, if it has
    /// any, counting what leases hold; or why they cannot pay, with when credits on
    /// lease come back at the latest.
    fn spend(&self, cost: u64, now: i64) -> Option<Result<Credits, Exhausted>> {
        self.credits.map(|c| {
            let held = self.book.credits_held(c.since);
            c.spend(cost, now, held).map_err(|mut e| {
                if e.on_lease > 0 {
                    let back = self.book.credits_back_by_ms(c.since);
                    e.back_by =
                        back.map(|ms| (ms + crate::lease::RETURN_GRACE_MS).div_euclid(1000) + 1);
                }
                e
            })
        })
    }

    /// Records a decided request (`denial`: its status and code, if refused) in
    /// the key's usage, series and kept outcomes.
    fn record(&mut self, a: &Admission, denial: Option<(u16, Option<Code>)>, now_ms: i64) {
        let usage = self.usage.entry(a.key.clone()).or_default();
        match &denial {
            None => {
                usage.requests += 1;
                usage.last_used_at = Some(now_ms.div_euclid(1000));
            }
            Some(_) => usage.denied += 1,
        }
        let (status_code, code) = denial.map_or((None, None), |(s, c)| (Some(s), c));
        self.series
            .entry(a.key.clone())
            .or_default()
            .add(now_ms, Kind::of(status_code, code), 1);
        let outcome = Outcome {
            at_ms: now_ms,
            method: a.method.clone(),
            path: cut_path(&a.path),
            status: status_code,
            code,
        };
        self.keep_outcomes(&a.key, [outcome]);
    }

    /// Adds `outcomes` to `key`'s kept outcomes, of which the newest
    /// [`OUTCOMES_KEPT`] stay.
    fn keep_outcomes(&mut self, key: &str, outcomes: impl IntoIterator<Item = Outcome>) {
        let kept = self.outcomes.entry(key.to_string()).or_default();
        kept.extend(outcomes);
        while kept.len() > OUTCOMES_KEPT {
            kept.pop_front();
        }
    }

    /// The newest `n` of `key`'s kept outcomes, oldest first: after `n` admissions,
    /// the ones they recorded, as far as they are still kept (at most
    /// [`OUTCOMES_KEPT`]; older ones would be trimmed from storage at once).
    pub fn newest_outcomes(&self, key: &str, n: usize) -> impl Iterator<Item = &Outcome> {
        let kept = self.outcomes.get(key);
        let len = kept.map_or(0, VecDeque::len);
        kept.into_iter().flatten().skip(len.saturating_sub(n))
    }

    /// What a lease call gives back, whatever it is answered: its returns
    /// settled, its cancelled grants undone, its report taken.
    fn take_back(&mut self, r: &LeaseRequest, now_ms: i64) {
        self.catch_up(now_ms);
        for ret in &r.returns {
            self.book
                .settle(&mut self.counters, &mut self.credits, *ret);
        }
        for ask in &r.cancel {
            let (counters, credits) = (&mut self.counters, &mut self.credits);
            self.book.cancel(counters, credits, &r.holder, *ask);
        }
        self.report(&r.key, &r.report, now_ms);
    }

    /// Answers an isolate's lease call at `now_ms` (see [`crate::lease`]): expired
    /// leases count as used, returned ones count what they admitted, the report
    /// goes into the key's usage and outcomes, and an active key gets a new lease
    /// (or, with a window exhausted, the refused verdict).
    pub fn lease(&mut self, r: &LeaseRequest, now_ms: i64) -> LeaseAnswer {
        self.take_back(r, now_ms);
        let state = self.states.get(&r.key).copied().unwrap_or_default();
        let status = state.status(now_ms);
        let mut answer = LeaseAnswer {
            status,
            grant: None,
            exhausted: None,
            exact: false,
        };
        if status != KeyStatus::Active || !r.want {
            return answer;
        }
        // Judged on an older record than this object knows: no lease; asked
        // exactly, the request is judged again on the directory's record.
        if r.rev.is_some_and(|rev| rev < state.rev) {
            answer.exact = true;
            return answer;
        }
        // Credits are leased from what is free; when too few are left to lease
        // the asking cost, the request is admitted exactly.
        let now = now_ms.div_euclid(1000);
        let mut credit_grant = None;
        let share = match self.credits {
            None => None,
            Some(c) => {
                let free = self.book.credits_free(&c);
                let others = self.book.others(&r.holder);
                let Some(units) = crate::lease::credit_size(free, r.cost, r.demand_cost, others)
                else {
                    answer.exact = true;
                    return answer;
                };
                let next_refill = c.next_refill(now);
                credit_grant = Some(CreditGrant {
                    units,
                    remaining: free,
                    next_refill,
                });
                Some(CreditShare {
                    units,
                    since: c.since,
                    until_ms: next_refill.map(|s| s.saturating_mul(1000)),
                })
            }
        };
        let (lo, hi) = crate::lease::TTL_RANGE_MS;
        let ttl = r.ttl_ms.clamp(lo, hi);
        match self.book.grant(
            &r.policies,
            &mut self.counters,
            &r.holder,
            r.demand,
            share,
            now_ms,
            ttl,
        ) {
            Ok(mut g) => {
                if let Some(l) = self.book.open.iter_mut().find(|l| l.id == g.id) {
                    l.ask = r.ask;
                }
                // A key due to be revoked (a rotation's grace) gets no lease past it.
                if let Some(end) = state.revoked_at.map(|r| r.saturating_mul(1000)) {
                    g.deadline_ms = g.deadline_ms.min(end);
                    if let Some(l) = self.book.open.iter_mut().find(|l| l.id == g.id) {
                        l.deadline_ms = g.deadline_ms;
                    }
                }
                g.credits = credit_grant;
                answer.grant = Some(g)
            }
            Err(e) => answer.exhausted = Some(e),
        }
        answer
    }

    /// Adds an isolate's report (taken at `now_ms`) to a key's usage, outcomes
    /// and series: its admitted requests at its last use, its refusals at their
    /// outcomes' times (those beyond the outcomes it carries, now, as refused).
    fn report(&mut self, key: &str, r: &Report, now_ms: i64) {
        if r.is_empty() {
            return;
        }
        let series = self.series.entry(key.to_string()).or_default();
        series.add(r.last_used_ms.unwrap_or(now_ms), Kind::Admitted, r.admitted);
        let refusals: Vec<&Outcome> = r.outcomes.iter().filter(|o| o.status.is_some()).collect();
        for o in &refusals {
            series.add(o.at_ms, Kind::of(o.status, o.code), 1);
        }
        let untold = r.denied.saturating_sub(refusals.len() as u64);
        series.add(now_ms, Kind::Refused, untold);
        let usage = self.usage.entry(key.to_string()).or_default();
        usage.requests += r.admitted;
        usage.denied += r.denied;
        let last = r.last_used_ms.map(|ms| ms.div_euclid(1000));
        usage.last_used_at = usage.last_used_at.max(last);
        self.keep_outcomes(key, r.outcomes.iter().cloned());
    }

    /// Takes the credits of the chain's first key to reach the object (`None`
    /// when another key of the chain already did).
    pub fn adopt_credits(&mut self, first: bool, credits: Option<Credits>) {
        if first {
            self.credits = credits;
        }
    }

    /// Applies an admin's change of the chain's credits at `now` (Unix seconds):
    /// the credits before (as they stood at `now`) and after, or why not.
    pub fn change_credits(
        &mut self,
        change: CreditsChange,
        now: i64,
    ) -> Result<(Option<Credits>, Option<Credits>), String> {
        self.refresh_credits(now.saturating_mul(1000));
        let before = self.credits;
        let after = change.apply(self.credits, now)?;
        // Credits on lease stay in the period: what the holders return counts.
        if let (Some(b), Some(a)) = (before, after) {
            self.book.move_credits(b.since, a.since);
        }
        self.credits = after;
        if let Some(c) = &after {
            self.low.observe(c);
        }
        Ok((before, after))
    }

    /// The credits as they stand at `now_ms`: refilled if a refill came due,
    /// which ends the period of every lease taken before it.
    /// Brings the state to `now_ms` before a decision: a refill that came due,
    /// then leases past their deadline counted (their credits, of the period
    /// the refill left, as spent).
    fn catch_up(&mut self, now_ms: i64) {
        self.refresh_credits(now_ms);
        self.book
            .expire(&mut self.counters, &mut self.credits, now_ms);
    }

    fn refresh_credits(&mut self, now_ms: i64) {
        self.credits = self.credits.map(|c| c.at(now_ms.div_euclid(1000)));
        if let Some(c) = &self.credits {
            self.low.observe(c);
        }
    }

    /// The low-credit notice due at `now_ms` (`percent`: `CREDITS_LOW_PERCENT`),
    /// claimed for the credits' period, with `key` and `team` named in it.
    pub fn low_credits(
        &mut self,
        key: &str,
        team: &str,
        percent: u8,
        now_ms: i64,
    ) -> Option<CreditsLow> {
        let c = self.credits?.at(now_ms.div_euclid(1000));
        let of = self.low.claim(&c, percent)?;
        Some(CreditsLow {
            team: team.to_string(),
            key_id: key.to_string(),
            remaining: c.remaining,
            of,
            percent,
            since: c.since,
            next_refill: c.next_refill(now_ms.div_euclid(1000)),
        })
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
            rev: None,
        }
    }

    fn enable(on: bool) -> StateChange {
        StateChange {
            key: "key_a".into(),
            revoked_at: None,
            enabled: Some(on),
            rev: None,
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
        // An admission from a worker that names no cost costs the default.
        let a: Admission =
            serde_json::from_str(r#"{"key":"key_a","policies":[],"method":"GET","path":"/"}"#)
                .unwrap();
        assert_eq!((a.cost, a.team.as_str(), a.denial), (1, "", None));
    }

    #[test]
    fn reports_keep_the_newest_outcomes() {
        let mut auth = ChainState::default();
        let outcome = |at_ms| Outcome {
            at_ms,
            method: "GET".into(),
            path: "/".into(),
            status: None,
            code: None,
        };
        for from in [0, 40] {
            let report = Report {
                admitted: 40,
                denied: 0,
                last_used_ms: Some(from + 39),
                outcomes: (from..from + 40).map(outcome).collect(),
            };
            let r = LeaseRequest {
                key: "key_a".into(),
                team: "acme".into(),
                holder: "i1".into(),
                policies: vec![],
                returns: vec![],
                report,
                demand: 0,
                demand_cost: 0,
                cost: 0,
                want: false,
                ask: 1,
                cancel: vec![],
                rev: None,
                ttl_ms: 1_000,
            };
            auth.lease(&r, 1_000);
        }
        let kept = &auth.outcomes["key_a"];
        assert_eq!(kept.len(), OUTCOMES_KEPT);
        assert_eq!(kept.front().map(|o| o.at_ms), Some(30), "the oldest went");
        assert_eq!(auth.usage["key_a"].requests, 80);
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
            denial: denial.map(|(status, code)| Denial {
                status,
                code: Some(code),
            }),
            cost: 1,
            rev: None,
        }
    }

    fn credited(remaining: u64) -> ChainState {
        ChainState {
            credits: Some(Credits {
                remaining,
                refill: None,
                since: 0,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_low_credit_notice_names_the_key_and_comes_once_per_period() {
        let mut auth = credited(4);
        let spend = |auth: &mut ChainState| {
            let a = Admission {
                cost: 1,
                ..admission("key_a", 100, None)
            };
            auth.admit(&a, 1_000);
            auth.low_credits("key_a", "acme", 50, 1_000)
        };
        assert_eq!(spend(&mut auth), None, "3 of 4");
        assert_eq!(spend(&mut auth), None, "2 of 4 is not below half");
        let n = spend(&mut auth).expect("1 of 4");
        assert_eq!(
            (
                n.key_id.as_str(),
                n.team.as_str(),
                n.remaining,
                n.of,
                n.percent,
                n.since
            ),
            ("key_a", "acme", 1, 4, 50, 0)
        );
        assert_eq!(spend(&mut auth), None, "once per period");
        // An admin's new amount begins a period; adding does not.
        let set = |remaining, add| CreditsChange::Update {
            remaining,
            add,
            refill: None,
        };
        auth.change_credits(set(None, Some(1)), 5).unwrap();
        assert_eq!(auth.low_credits("key_a", "acme", 50, 5_000), None);
        auth.change_credits(set(Some(1), None), 6).unwrap();
        let n = auth.low_credits("key_b", "acme", 50, 6_000);
        assert_eq!(n.map(|n| (n.remaining, n.of, n.since)), None, "1 of 1");
        auth.change_credits(set(Some(10), None), 7).unwrap();
        for left in (5..10).rev() {
            assert_eq!(spend(&mut auth), None, "{left} of 10");
        }
        let n = spend(&mut auth).expect("4 of 10");
        assert_eq!((n.remaining, n.of, n.since), (4, 10, 7));
    }

    #[test]
    fn credits_are_spent_only_by_admitted_requests() {
        let mut auth = credited(5);
        let at = |auth: &mut ChainState, cost: u64, limit: u32, denial| {
            let a = Admission {
                cost,
                ..admission("key_a", limit, denial)
            };
            auth.admit(&a, 1_000)
        };
        // Costs 1 and 2 spend exactly down to 0.
        for (cost, left) in [(1, 4), (2, 2), (2, 0)] {
            let answer = at(&mut auth, cost, 100, None);
            assert_eq!(answer.credits.map(|b| b.remaining), Some(left));
            assert_eq!(answer.exhausted, None);
        }
        // A free route is admitted at 0; a priced one is refused, and its
        // counters stay as they were.
        assert!(at(&mut auth, 0, 100, None).exhausted.is_none());
        let counted = auth.counters["burst/60"].count;
        let refused = at(&mut auth, 1, 100, None);
        let e = refused.exhausted.unwrap();
        assert_eq!((e.remaining, e.cost, e.next_refill), (0, 1, None));
        assert_eq!(refused.credits, None);
        assert_eq!(auth.counters["burst/60"].count, counted);
        assert_eq!(
            auth.outcomes["key_a"].back().unwrap().code,
            Some(Code::CreditsExhausted)
        );
        assert_eq!(auth.usage["key_a"].denied, 1);

        // Refused before (scope) or by the limits: nothing is spent.
        let mut auth = credited(5);
        let denied = Some((403, Code::InsufficientScope));
        assert_eq!(at(&mut auth, 1, 100, denied).credits, None);
        for _ in 0..3 {
            at(&mut auth, 1, 2, None);
        }
        assert_eq!(
            auth.credits.unwrap().remaining,
            3,
            "two admitted, one rate limited"
        );
        // A revoked key spends nothing either.
        auth.change(&revoke(0));
        at(&mut auth, 1, 100, None);
        assert_eq!(auth.credits.unwrap().remaining, 3);
    }

    #[test]
    fn admissions_and_reports_fill_the_series() {
        let mut auth = ChainState::default();
        let now = 1_800_000_000_000;
        auth.admit(&admission("key_a", 2, None), now);
        auth.admit(&admission("key_a", 2, None), now);
        auth.admit(&admission("key_a", 2, None), now); // rate limited
        auth.admit(
            &admission("key_a", 2, Some((403, Code::InsufficientScope))),
            now,
        );
        let hour = auth.series["key_a"].window(now).hours[23];
        assert_eq!((hour.admitted, hour.limited, hour.refused), (2, 1, 1));
        // A leased isolate's report: admitted at its last use, refusals at theirs,
        // and those it could not carry as refused now.
        let refusal = Outcome {
            at_ms: now,
            method: "GET".into(),
            path: "/".into(),
            status: Some(429),
            code: Some(Code::RateLimited),
        };
        let report = Report {
            admitted: 5,
            denied: 3,
            last_used_ms: Some(now),
            outcomes: vec![refusal],
        };
        auth.report("key_a", &report, now);
        let hour = auth.series["key_a"].window(now).hours[23];
        assert_eq!((hour.admitted, hour.limited, hour.refused), (7, 2, 3));
    }

    #[test]
    fn a_chain_without_credits_spends_nothing() {
        let mut auth = ChainState::default();
        let answer = auth.admit(&admission("key_a", 10, None), 1_000);
        assert_eq!((answer.credits, answer.exhausted), (None, None));
        assert_eq!(auth.credits, None);
    }

    #[test]
    fn credits_come_from_the_first_key_and_admins() {
        let mut auth = ChainState::default();
        let five = credited(5).credits;
        auth.adopt_credits(true, five);
        // A rotation's new key: the chain's credits stay the chain's.
        auth.adopt_credits(false, credited(100).credits);
        assert_eq!(auth.credits, five);
        let add = CreditsChange::Update {
            remaining: None,
            add: Some(3),
            refill: None,
        };
        let (before, after) = auth.change_credits(add, 10).unwrap();
        assert_eq!(
            (before.map(|c| c.remaining), after.map(|c| c.remaining)),
            (Some(5), Some(8))
        );
        assert_eq!(auth.credits.map(|c| c.remaining), Some(8));
        assert_eq!(
            auth.change_credits(CreditsChange::Remove, 10),
            Ok((after, None))
        );
        assert!(
            auth.change_credits(add, 10).is_err(),
            "no credits to add to"
        );
        // A chain with credits leases them from what is free, at most half of
        // it; too few to lease the asking cost, and the request goes exact.
        let mut auth = credited(5);
        let r = LeaseRequest {
            key: "key_a".into(),
            team: "acme".into(),
            holder: "isolate_1".into(),
            policies: vec![],
            returns: vec![],
            report: Report::default(),
            demand: 5,
            demand_cost: 5,
            cost: 1,
            want: true,
            ask: 1,
            cancel: vec![],
            rev: None,
            ttl_ms: 1_000,
        };
        let answer = auth.lease(&r, 1_000);
        let g = answer.grant.expect("a lease");
        assert!(!answer.exact);
        assert_eq!(g.n, None, "no limits: any number of requests");
        let c = g.credits.expect("credits on lease");
        assert_eq!((c.units, c.remaining, c.next_refill), (2, 5, None));
        assert_eq!(auth.book.credits_held(0), 2);
        let answer = auth.lease(
            &LeaseRequest {
                cost: 2,
                ..r.clone()
            },
            1_000,
        );
        assert!(answer.exact && answer.grant.is_none(), "3 free: 1 to lease");
        let mut auth = credited(1);
        let answer = auth.lease(&r, 1_000);
        assert!(answer.exact && answer.grant.is_none());
    }

    /// Admits `a` and returns (status, outcome code, requests, denied).
    #[track_caller]
    fn check_admit(
        auth: &mut ChainState,
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
        let mut auth = ChainState::default();
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
    fn sixty_admitted() -> (ChainState, Admission) {
        let mut auth = ChainState::default();
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
        fn check(auth: &ChainState, (key, n): (&str, usize), expected: &[&str]) {
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

    /// An admission judged on an older revision of the record than the object
    /// was told of is answered stale: nothing counted, spent or recorded. Without
    /// a revision (a release before them), or on the newest, it is decided.
    #[test]
    fn an_admission_on_an_older_record_is_answered_stale() {
        let mut auth = ChainState::default();
        auth.change(&StateChange {
            key: "key_a".into(),
            rev: Some(3),
            ..StateChange::default()
        });
        // A later change with an older revision never lowers it.
        auth.change(&StateChange {
            key: "key_a".into(),
            rev: Some(2),
            ..StateChange::default()
        });
        let at = |rev| Admission {
            rev,
            ..admission("key_a", 5, None)
        };
        let answer = auth.admit(&at(Some(2)), 1_000);
        assert!(answer.stale && answer.verdict.is_none());
        assert!(!auth.usage.contains_key("key_a") && !auth.outcomes.contains_key("key_a"));
        assert!(auth.counters.is_empty());
        for rev in [Some(3), Some(4), None] {
            let answer = auth.admit(&at(rev), 1_000);
            assert!(!answer.stale && answer.verdict.unwrap().admitted, "{rev:?}");
        }
        assert_eq!(auth.usage["key_a"].requests, 3);
    }

    /// A lease asked on an older revision of the record than the object knows
    /// is not granted: the request goes exact, and is judged again there. Its
    /// returns and report are taken all the same.
    #[test]
    fn a_lease_on_an_older_record_is_not_granted() {
        let mut auth = ChainState::default();
        auth.change(&StateChange {
            key: "key_a".into(),
            rev: Some(2),
            ..StateChange::default()
        });
        let mut holder = crate::lease::Holder::default();
        let _ = holder.admit(0, 1_000, 1);
        let mut r = holder.request("key_a", "i1", &[], 0, 1_000, false);
        for (rev, granted) in [(Some(1), false), (Some(2), true), (None, true)] {
            r.rev = rev;
            let answer = auth.lease(&r, 0);
            assert_eq!(
                (answer.grant.is_some(), answer.exact),
                (granted, !granted),
                "{rev:?}"
            );
        }
    }
}
