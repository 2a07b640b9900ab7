//! Leased admission (`ADMISSION = "leased"`), as plain data: the key's object
//! grants an isolate a lease, a number of requests it may admit on its own until a
//! deadline, and the isolate admits from it without calling the object.
//!
//! # The algorithm
//!
//! The object ([`Book`], beside the chain's counters):
//! - A lease reserves the same number of requests `n` in the current window of
//!   every policy of the key. Until it is returned, all `n` count as used: for
//!   each window, `count + reserved <= limit` always holds, where `count` is what
//!   returned leases (and exact admissions) reported as admitted and `reserved`
//!   is the quota of open leases. The requests admitted in a window, across every
//!   isolate, are at most `count + reserved`, so never more than the limit.
//! - A lease ends at `min(now + LEASE_TTL, end of every policy's window)`, so its
//!   quota is spent in the window it was reserved in.
//! - A returned lease adds what it admitted to `count`; the rest is free again. A
//!   lease that is never returned (its isolate went away) counts as wholly used
//!   once its deadline has passed: quota is lost for the rest of that window, never
//!   overshot.
//! - Lease size ([`size`]): twice what the isolate admitted in the last TTL (its
//!   demand), at least 1, and at most half of what is left in the tightest
//!   window, shared among the isolates holding leases. Near exhaustion leases
//!   shrink to one request, so the tail of a window behaves like exact mode.
//! - A revoked or disabled key gets no lease: every isolate's quota ends at its
//!   lease's deadline, within `LEASE_TTL`.
//!
//! The isolate ([`Holder`]):
//! - admits from a lease while it has quota and its deadline has not passed;
//! - asks for a new lease in the background once half of the quota is spent or
//!   half of the lease's time has passed, so a steady stream never waits;
//! - once the object says a window is exhausted, refuses locally (429, with the
//!   window's reset as `Retry-After`) until that window ends;
//! - reports usage and outcomes with each renewal, and returns what it did not
//!   use; a return whose call failed is sent again with the next one, and a
//!   grant whose answer never came is cancelled by it.
//!
//! # Credits
//!
//! A chain with credits leases them too, in cost units, beside the quota:
//! - The object's `remaining` counts what is on lease as not yet spent; what is
//!   *free* is `remaining` less every open lease's units. A lease, and an exact
//!   admission, takes only from what is free, so what is spent in a refill
//!   period, across every isolate, is never more than its credits.
//! - A lease's units ([`credit_size`]): twice what the isolate spent in the last
//!   TTL, at least the cost of the request that asks, at most half of what is
//!   free shared among the holders. When that cannot cover the asking cost, no
//!   lease is granted and the request is admitted exactly: the last credits are
//!   spent at the object, one request at a time.
//! - The holder admits a request only if a lease holds its route's cost, and
//!   returns what it spent: the rest is free again. A lease not returned counts
//!   as wholly spent at its deadline; its return, if it comes later, gives the
//!   unspent units back.
//! - A lease ends by the next refill, and units of a period that has ended are
//!   neither counted nor given back: a refill sets `remaining` to its amount.
//!   An admin's change keeps open leases in the period; setting `remaining`
//!   sets what may be spent from then on, units on lease included.

mod book;
mod holder;

pub use book::{Book, CreditShare, LAPSED_KEPT};
pub use holder::{Holder, Local};

use crate::ratelimit::{LimitPolicy, Verdict};
use crate::usage::{Outcome, OUTCOMES_KEPT};
use serde::{Deserialize, Serialize};

/// How long after its deadline a lease may still be returned: its isolate admits
/// nothing with it after the deadline, so what it reports then is final. Until
/// it is returned, or this has passed, all of its quota counts as used.
pub const RETURN_GRACE_MS: i64 = 5_000;

/// How soon an isolate asks again when the quota it wants is only held by other
/// isolates' leases past their deadlines (their returns are on their way).
pub const RETRY_HELD_MS: i64 = 250;

/// Default `LEASE_TTL`, milliseconds.
pub const DEFAULT_TTL_MS: u32 = 1_000;
/// The range `LEASE_TTL` may take, milliseconds.
pub const TTL_RANGE_MS: (u32, u32) = (100, 60_000);

/// A lease, as the key's object keeps it until it is returned or expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Its id, unique within the object.
    pub id: u64,
    /// The isolate that holds it.
    pub holder: String,
    /// Requests it may admit.
    pub granted: u32,
    /// The windows it reserves quota in: counter key and window start.
    pub windows: Vec<(String, i64)>,
    /// Unix milliseconds after which it admits nothing.
    pub deadline_ms: i64,
    /// Credits it holds, in cost units (0 without).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub credits: u64,
    /// The credits' period they were taken in (the credits' `since`).
    #[serde(default, skip_serializing_if = "is_zero_i")]
    pub credits_since: i64,
    /// The holder's call that was granted it, so that the holder can cancel a
    /// grant it never received.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ask: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_i(n: &i64) -> bool {
    *n == 0
}

/// What an isolate gives back: the lease and how many requests it admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Return {
    /// The lease.
    pub id: u64,
    /// Requests admitted with it.
    pub used: u32,
    /// Credits spent with it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spent: u64,
}

/// One policy of a lease, for the isolate's RateLimit fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The policy's name.
    pub name: String,
    /// Its limit.
    pub limit: u32,
    /// Its window, seconds.
    pub window_s: u32,
    /// Unix milliseconds at which the current window ends.
    pub end_ms: i64,
}

/// A lease as granted to an isolate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The lease's id (0 for a key without limits, whose lease is not kept).
    pub id: u64,
    /// Requests it may admit; `None` for a key without limits.
    pub n: Option<u32>,
    /// Unix milliseconds after which it admits nothing.
    pub deadline_ms: i64,
    /// The key's policies and their current windows.
    pub windows: Vec<Window>,
    /// The chain's credits it holds, if the chain has credits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<CreditGrant>,
}

/// Credits granted with a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditGrant {
    /// Cost units the lease holds.
    pub units: u64,
    /// What was free at the grant, these units included: what the isolate
    /// reports as left, less what it spent since.
    pub remaining: u64,
    /// When the next refill comes (Unix seconds), if there is one.
    pub next_refill: Option<i64>,
}

/// Usage and outcomes an isolate decided since its last report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Requests let through.
    pub admitted: u64,
    /// Requests refused after the key was recognised.
    pub denied: u64,
    /// Unix milliseconds of the last request let through.
    pub last_used_ms: Option<i64>,
    /// The newest outcomes, oldest first (at most [`OUTCOMES_KEPT`]).
    pub outcomes: Vec<Outcome>,
}

impl Report {
    /// Whether there is nothing to report.
    pub fn is_empty(&self) -> bool {
        self.admitted == 0 && self.denied == 0 && self.outcomes.is_empty()
    }

    /// Adds an older report (a failed one, to be sent again) to this one.
    pub fn merge(&mut self, older: Report) {
        self.admitted += older.admitted;
        self.denied += older.denied;
        self.last_used_ms = self.last_used_ms.max(older.last_used_ms);
        let mut outcomes = older.outcomes;
        outcomes.append(&mut self.outcomes);
        let cut = outcomes.len().saturating_sub(OUTCOMES_KEPT);
        self.outcomes = outcomes.split_off(cut);
    }

    fn outcome(&mut self, o: Outcome) {
        self.outcomes.push(o);
        if self.outcomes.len() > OUTCOMES_KEPT {
            self.outcomes.remove(0);
        }
    }
}

/// An isolate's call to the key's object: returns, a report, and (with `want`) a
/// request for a new lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRequest {
    /// The key id.
    pub key: String,
    /// The key's team, whose directory the object asks once for the key's state.
    #[serde(default)]
    pub team: String,
    /// The asking isolate.
    pub holder: String,
    /// The key's policies.
    pub policies: Vec<LimitPolicy>,
    /// Leases given back.
    #[serde(default)]
    pub returns: Vec<Return>,
    /// What the isolate decided since its last report.
    #[serde(default)]
    pub report: Report,
    /// Requests the isolate admitted for the key in the last `LEASE_TTL`.
    pub demand: u32,
    /// Credits they spent.
    #[serde(default)]
    pub demand_cost: u64,
    /// The least credits a new lease must hold: the asking request's cost (0:
    /// no request waits). Missing, as every message's `cost`:
    /// [`crate::policy::default_cost`].
    #[serde(default = "crate::policy::default_cost")]
    pub cost: u64,
    /// Whether a new lease is wanted (false: only returns and the report).
    pub want: bool,
    /// This call's number among the holder's calls (from 1).
    #[serde(default)]
    pub ask: u64,
    /// Earlier calls of the holder whose answers never came: any lease they
    /// were granted was never used, and is given back whole.
    #[serde(default)]
    pub cancel: Vec<u64>,
    /// The revision of the key's record the isolate judges requests on
    /// (absent from releases before revisions): an older one than the object
    /// knows gets no lease, and the request is asked exactly (and so judged
    /// again on the team directory's record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<u64>,
    /// `LEASE_TTL`, milliseconds.
    pub ttl_ms: u32,
}

/// What the object answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseAnswer {
    /// `active`, or why the key may not be used.
    pub status: crate::record::KeyStatus,
    /// The new lease.
    pub grant: Option<Grant>,
    /// When a window is exhausted: the refused verdict (violated policies, a true
    /// `Retry-After`) and when the last exhausted window ends.
    pub exhausted: Option<Exhausted>,
    /// The chain's credits are too few to lease the asking cost: no lease is
    /// granted, and the request is to be admitted exactly.
    #[serde(default)]
    pub exact: bool,
}

/// A refusal for want of quota: nothing is admitted until `until_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exhausted {
    /// The refused verdict.
    pub verdict: Verdict,
    /// Unix milliseconds at which the last exhausted window ends.
    pub until_ms: i64,
}

/// The size of a lease: twice the isolate's `demand` (requests in the last TTL),
/// at least 1, and at most half of what is `available` in the tightest window,
/// shared with the `others` isolates that hold leases too; never more than
/// `available`, which must be at least 1.
pub fn size(available: u32, demand: u32, others: usize) -> u32 {
    let holders = u32::try_from(others).unwrap_or(u32::MAX).saturating_add(1);
    let share = available / holders.saturating_mul(2);
    demand
        .saturating_mul(2)
        .max(1)
        .min(share.max(1))
        .min(available)
}

/// The credits a lease holds: twice what the isolate spent in the last TTL
/// (`demand`), at least `want` (the asking request's cost) and at least 1, at
/// most half of what is `free`, shared with the `others` isolates that hold
/// leases. `None` when that share cannot cover it: the request is to be
/// admitted exactly.
pub fn credit_size(free: u64, want: u64, demand: u64, others: usize) -> Option<u64> {
    let holders = u64::try_from(others).unwrap_or(u64::MAX).saturating_add(1);
    let share = free / holders.saturating_mul(2);
    let least = want.max(1);
    (share >= least).then(|| demand.saturating_mul(2).max(least).min(share))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystate::{ChainState, StateChange};
    use crate::ratelimit::Counters;
    use crate::record::KeyStatus;

    fn p(name: &str, limit: u32, window_s: u32) -> LimitPolicy {
        LimitPolicy {
            name: name.into(),
            limit,
            window_s,
        }
    }

    #[test]
    fn lease_sizes() {
        #[track_caller]
        fn check(available: u32, demand: u32, others: usize, expected: u32) {
            assert_eq!(
                size(available, demand, others),
                expected,
                "{available} {demand} {others}"
            );
        }
        check(1000, 0, 0, 1);
        check(1000, 10, 0, 20);
        check(1000, 400, 0, 500);
        check(1000, 400, 1, 250);
        check(1000, 400, 3, 125);
        // Near exhaustion, down to one.
        check(3, 100, 0, 1);
        check(2, 100, 0, 1);
        check(1, 100, 5, 1);
        check(9, 100, 0, 4);
        check(u32::MAX, u32::MAX, usize::MAX, 1);
    }

    const BURST: fn() -> Vec<LimitPolicy> = || vec![p("burst", 10, 60)];

    #[test]
    fn the_book_never_grants_more_than_is_left() {
        let mut book = Book::default();
        let mut c = Counters::new();
        let a = book
            .grant(&BURST(), &mut c, "a", 100, None, 1_000, 1_000)
            .unwrap();
        assert_eq!((a.n, a.deadline_ms), (Some(5), 2_000));
        assert_eq!(book.reserved("burst/60", 0), 5);
        // Another isolate shares what is left.
        let b = book
            .grant(&BURST(), &mut c, "b", 100, None, 1_000, 1_000)
            .unwrap();
        assert_eq!(b.n, Some(1));
        let a2 = book
            .grant(&BURST(), &mut c, "a", 100, None, 1_000, 1_000)
            .unwrap();
        assert_eq!(a2.n, Some(1));
        let a3 = book
            .grant(&BURST(), &mut c, "a", 1, None, 1_000, 1_000)
            .unwrap();
        assert_eq!(a3.n, Some(1));
        assert_eq!(book.reserved("burst/60", 0), 8);
        // a returns its first lease having used 2 of 5: 3 come back.
        assert!(book.settle(
            &mut c,
            &mut None,
            Return {
                id: a.id,
                used: 2,
                spent: 0
            }
        ));
        assert!(
            !book.settle(
                &mut c,
                &mut None,
                Return {
                    id: a.id,
                    used: 2,
                    spent: 0
                }
            ),
            "counted once"
        );
        assert_eq!((c["burst/60"].count, book.reserved("burst/60", 0)), (2, 3));
        // 2 used + 3 reserved: 5 left, of which a gets half.
        let a4 = book
            .grant(&BURST(), &mut c, "a", 100, None, 1_500, 1_000)
            .unwrap();
        assert_eq!(a4.n, Some(1));
        // b never returns: once the grace after its deadline has passed, its
        // lease counts as used.
        const G: i64 = RETURN_GRACE_MS;
        book.expire(&mut c, &mut None, 1_999 + G);
        assert_eq!(c["burst/60"].count, 2);
        book.expire(&mut c, &mut None, 2_000 + G);
        assert_eq!(c["burst/60"].count, 2 + 1 + 1 + 1);
        assert_eq!(book.open.len(), 1);
        book.expire(&mut c, &mut None, 2_500 + G);
        assert_eq!(c["burst/60"].count, 6);
        // 6 counted, 4 left: then exhausted, with a true Retry-After.
        let now = 3_000 + G;
        let mut granted = 0;
        while let Ok(g) = book.grant(&BURST(), &mut c, "a", 0, None, now, 1_000) {
            granted += g.n.unwrap();
        }
        assert_eq!(granted, 4);
        let refused = book
            .grant(&BURST(), &mut c, "a", 0, None, now, 1_000)
            .unwrap_err();
        assert_eq!(refused.verdict.violated, vec!["burst".to_string()]);
        assert_eq!(refused.verdict.retry_after_s, Some(52));
        // The last 4 are only held by open leases: ask again at their deadline.
        assert_eq!(refused.until_ms, now + 1_000);
        // Past it, their returns are awaited: ask again shortly.
        let refused = book
            .grant(&BURST(), &mut c, "a", 0, None, now + 1_000, 1_000)
            .unwrap_err();
        assert_eq!(refused.until_ms, now + 1_000 + RETRY_HELD_MS);
        // Never returned, they count as used: spent until the window ends.
        book.expire(&mut c, &mut None, now + 1_000 + G);
        let refused = book
            .grant(&BURST(), &mut c, "a", 0, None, now + 1_000 + G, 1_000)
            .unwrap_err();
        assert_eq!((c["burst/60"].count, refused.until_ms), (10, 60_000));
    }

    #[test]
    fn a_lease_ends_with_its_window_and_counts_in_it_alone() {
        let mut book = Book::default();
        let mut c = Counters::new();
        let policies = [p("burst", 100, 10), p("daily", 1000, 86_400)];
        let g = book
            .grant(&policies, &mut c, "a", 10, None, 9_500, 1_000)
            .unwrap();
        assert_eq!((g.n, g.deadline_ms), (Some(20), 10_000));
        assert_eq!(g.windows[0].end_ms, 10_000);
        assert_eq!(g.windows[1].end_ms, 86_400_000);
        // Returned after its window ended: the daily window counts it, the burst
        // window it was reserved in is gone and the new one starts at zero.
        let next = book
            .grant(&policies, &mut c, "b", 1, None, 10_100, 1_000)
            .unwrap();
        assert_eq!(next.n, Some(2));
        assert!(book.settle(
            &mut c,
            &mut None,
            Return {
                id: g.id,
                used: 20,
                spent: 0
            }
        ));
        assert_eq!(c["burst/10"].count, 0);
        assert_eq!(c["daily/86400"].count, 20);
        // A key without limits: an unlimited lease, kept nowhere.
        let free = book.grant(&[], &mut c, "a", 0, None, 0, 500).unwrap();
        assert_eq!((free.n, free.deadline_ms, free.id), (None, 500, 0));
        assert_eq!(book.open.len(), 1);
    }

    #[test]
    fn a_return_after_the_deadline_still_frees_what_was_not_used() {
        let mut book = Book::default();
        let mut c = Counters::new();
        let g = book
            .grant(&BURST(), &mut c, "a", 100, None, 0, 1_000)
            .unwrap();
        assert_eq!(g.n, Some(5));
        book.expire(&mut c, &mut None, 1_500);
        assert_eq!(book.reserved("burst/60", 0), 5, "held until returned");
        assert!(book.settle(
            &mut c,
            &mut None,
            Return {
                id: g.id,
                used: 1,
                spent: 0
            }
        ));
        assert_eq!((c["burst/60"].count, book.reserved("burst/60", 0)), (1, 0));
    }

    #[test]
    fn credit_lease_sizes() {
        #[track_caller]
        fn check(free: u64, want: u64, demand: u64, others: usize, expected: Option<u64>) {
            let got = credit_size(free, want, demand, others);
            assert_eq!(got, expected, "{free} {want} {demand} {others}");
        }
        check(1000, 1, 0, 0, Some(1));
        check(1000, 0, 0, 0, Some(1));
        check(1000, 1, 30, 0, Some(60));
        check(1000, 10, 3, 0, Some(10));
        check(1000, 1, 400, 0, Some(500));
        check(1000, 1, 400, 1, Some(250));
        check(1000, 1, 400, 3, Some(125));
        // The last credits are never leased: they go exact.
        check(2, 1, 100, 0, Some(1));
        check(1, 1, 100, 0, None);
        check(0, 0, 0, 0, None);
        check(19, 10, 0, 0, None);
        check(20, 10, 0, 0, Some(10));
        check(39, 10, 0, 1, None);
    }

    fn credited(remaining: u64, refill: Option<crate::credits::Refill>) -> ChainState {
        ChainState {
            credits: Some(crate::credits::Credits {
                remaining,
                refill,
                since: 0,
            }),
            ..Default::default()
        }
    }

    fn ask_for(auth: &mut ChainState, h: &mut Holder, cost: u64, now: i64) -> LeaseAnswer {
        let mut r = h.request("key_a", "isolate_1", &[], now, 1_000, false);
        r.cost = cost;
        let answer = auth.lease(&r, now);
        h.apply(&answer);
        answer
    }

    fn spent_left(auth: &ChainState) -> u64 {
        auth.credits.unwrap().remaining
    }

    #[test]
    fn an_isolate_spends_route_costs_from_its_lease_and_returns_the_rest() {
        let mut auth = credited(20, None);
        let mut h = Holder::default();
        assert_eq!(h.admit(0, 1_000, 2), Local::Ask);
        let g = ask_for(&mut auth, &mut h, 2, 0).grant.unwrap();
        let c = g.credits.unwrap();
        assert_eq!((c.units, c.remaining), (2, 20), "the cost asked for");
        assert_eq!(auth.book.credits_held(0), 2);
        let Local::Admitted { credits, .. } = h.admit(0, 1_000, 2) else {
            panic!("admitted from the lease")
        };
        assert_eq!(credits.map(|b| b.remaining), Some(18));
        assert_eq!(h.admit(1, 1_000, 1), Local::Ask, "nothing left on lease");
        // Demand grew: 2 spent in the last TTL asks for 4, half of the free 18 caps it.
        let c = ask_for(&mut auth, &mut h, 1, 1)
            .grant
            .unwrap()
            .credits
            .unwrap();
        assert_eq!((c.units, c.remaining), (4, 18));
        assert!(matches!(h.admit(2, 1_000, 3), Local::Admitted { .. }));
        assert_eq!(h.admit(3, 1_000, 2), Local::Ask, "1 left does not cover 2");
        assert!(
            matches!(h.admit(3, 1_000, 0), Local::Admitted { .. }),
            "free routes pass"
        );
        assert!(matches!(h.admit(3, 1_000, 1), Local::Admitted { .. }));
        // A spent lease went back with the next call; the other goes now.
        let r = h.request("key_a", "isolate_1", &[], 4, 1_000, true);
        assert_eq!(r.returns.iter().map(|r| r.spent).collect::<Vec<_>>(), [4]);
        auth.lease(&r, 4);
        assert_eq!((spent_left(&auth), auth.book.credits_held(0)), (14, 0));
        // A return sent twice counts once.
        auth.lease(&r, 5);
        assert_eq!(spent_left(&auth), 14);
    }

    #[test]
    fn exact_admissions_spend_only_what_no_lease_holds() {
        use crate::keystate::Admission;
        let mut auth = credited(4, None);
        let mut h = Holder::default();
        let units = ask_for(&mut auth, &mut h, 2, 0)
            .grant
            .unwrap()
            .credits
            .unwrap()
            .units;
        assert_eq!(units, 2);
        let exact = |auth: &mut ChainState, cost: u64, now: i64| {
            let a = Admission {
                key: "key_a".into(),
                team: "acme".into(),
                policies: vec![],
                method: "GET".into(),
                path: "/".into(),
                denial: None,
                cost,
                rev: None,
            };
            auth.admit(&a, now)
        };
        let b = exact(&mut auth, 2, 10).credits.expect("2 of 4 are free");
        assert_eq!(b.remaining, 0, "what is left is what is free");
        let e = exact(&mut auth, 1, 20)
            .exhausted
            .expect("the rest is on lease");
        assert_eq!((e.remaining, e.on_lease, e.cost), (0, 2, 1));
        assert_eq!(e.back_by, Some(7), "the lease's deadline and its grace");
        let e = exact(&mut auth, 3, 20).exhausted.unwrap();
        assert_eq!(e.on_lease, 0, "not even with the lease back");
        assert_eq!(e.back_by, None, "so no retry when it is back");
        // The lease spends 1 and comes back: 1 is free again.
        assert!(matches!(h.admit(30, 1_000, 1), Local::Admitted { .. }));
        let r = h.request("key_a", "isolate_1", &[], 40, 1_000, true);
        auth.lease(&r, 40);
        assert!(exact(&mut auth, 1, 50).credits.is_some());
        assert_eq!(spent_left(&auth), 0);
    }

    #[test]
    fn a_lease_not_returned_counts_as_spent_until_its_late_return() {
        let mut auth = credited(10, None);
        let mut h = Holder::default();
        ask_for(&mut auth, &mut h, 4, 0);
        assert!(matches!(h.admit(10, 1_000, 1), Local::Admitted { .. }));
        // Past its deadline and the grace, the object counts all 4 as spent.
        let mut other = Holder::default();
        let r = other.request("key_a", "isolate_2", &[], 6_001, 1_000, true);
        auth.lease(&r, 6_001);
        assert_eq!((spent_left(&auth), auth.book.credits_held(0)), (6, 0));
        assert_eq!(auth.book.lapsed.len(), 1);
        // Its return, late, gives back the 3 it did not spend.
        let r = h.request("key_a", "isolate_1", &[], 7_000, 1_000, true);
        auth.lease(&r, 7_000);
        assert_eq!(spent_left(&auth), 9);
        assert!(auth.book.lapsed.is_empty());
    }

    #[test]
    fn a_grant_whose_answer_never_came_is_cancelled_whole() {
        let mut auth = credited(
            10,
            Some(crate::credits::Refill {
                interval: crate::credits::Interval::Daily,
                amount: 10,
            }),
        );
        let mut h = Holder::default();
        let mut r = h.request("key_a", "isolate_1", &[], 0, 1_000, false);
        r.cost = 3;
        auth.lease(&r, 0);
        h.failed(r);
        assert_eq!(auth.book.credits_held(0), 3);
        let answer = ask_for(&mut auth, &mut h, 1, 10);
        assert!(answer.grant.is_some());
        assert_eq!(auth.book.open.len(), 1, "the lost grant was cancelled");
        assert_eq!(auth.book.credits_held(0), 1);
        assert_eq!(spent_left(&auth), 10);
    }

    #[test]
    fn credits_on_lease_end_with_their_refill_period() {
        use crate::credits::{CreditsChange, Interval, Refill};
        let day = 86_400_000;
        let daily = Refill {
            interval: Interval::Daily,
            amount: 10,
        };
        let mut auth = credited(10, Some(daily));
        let mut h = Holder::default();
        let late = day - 300;
        let g = ask_for(&mut auth, &mut h, 4, late).grant.unwrap();
        assert_eq!(g.deadline_ms, day, "no lease outlives the refill");
        assert_eq!(g.credits.unwrap().next_refill, Some(86_400));
        assert!(matches!(h.admit(late, 1_000, 4), Local::Admitted { .. }));
        assert_eq!(h.admit(day, 1_000, 0), Local::Ask, "past the refill");
        // The refill sets the amount: the old period's return changes nothing.
        let r = h.request("key_a", "isolate_1", &[], day + 1, 1_000, true);
        auth.lease(&r, day + 1);
        assert_eq!(spent_left(&auth), 10);
        // An admin's new amount keeps the leases in the period: setting 5 with
        // 2 on lease leaves 3 free, and what the lease spends is spent.
        let mut h = Holder::default();
        ask_for(&mut auth, &mut h, 2, day + 10);
        let set = CreditsChange::Update {
            remaining: Some(5),
            add: None,
            refill: None,
        };
        auth.change_credits(set, (day + 200) / 1000 + 1).unwrap();
        let c = auth.credits.unwrap();
        assert_eq!(c.since, 86_401, "a new period");
        assert_eq!(c.remaining - auth.book.credits_held(c.since), 3);
        assert!(matches!(
            h.admit(day + 300, 1_000, 2),
            Local::Admitted { .. }
        ));
        let r = h.request("key_a", "isolate_1", &[], day + 400, 1_000, true);
        auth.lease(&r, day + 400);
        assert_eq!(spent_left(&auth), 3);
    }

    #[test]
    fn leases_and_returns_keep_their_fields_on_the_wire() {
        let plain = Lease {
            id: 7,
            holder: "i1:key_a".into(),
            granted: 3,
            windows: vec![("burst/60".into(), 0)],
            deadline_ms: 1_000,
            credits: 0,
            credits_since: 0,
            ask: 0,
        };
        let json = serde_json::to_value(&plain).unwrap();
        for absent in ["credits", "credits_since", "ask"] {
            assert!(json.get(absent).is_none(), "{absent} is left out at 0");
        }
        let credited = Lease {
            credits: 4,
            credits_since: -5,
            ask: 9,
            ..plain.clone()
        };
        for lease in [plain, credited] {
            let text = serde_json::to_string(&lease).unwrap();
            assert_eq!(
                serde_json::from_str::<Lease>(&text).unwrap(),
                lease,
                "{text}"
            );
        }
        let r = Return {
            id: 7,
            used: 2,
            spent: 0,
        };
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"id":7,"used":2}"#);
        let r = Return { spent: 5, ..r };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Return>(&text).unwrap(), r);
    }

    #[test]
    fn a_report_keeps_the_newest_outcomes_and_knows_when_it_is_empty() {
        let outcome = |at_ms, status| Outcome {
            at_ms,
            method: "GET".into(),
            path: "/".into(),
            status,
            code: None,
        };
        assert!(Report::default().is_empty());
        for r in [
            Report {
                admitted: 1,
                ..Default::default()
            },
            Report {
                denied: 1,
                ..Default::default()
            },
            Report {
                outcomes: vec![outcome(0, None)],
                ..Default::default()
            },
        ] {
            assert!(!r.is_empty(), "{r:?}");
        }
        let mut h = Holder::default();
        for at in 0..60 {
            h.record(outcome(at, if at % 2 == 0 { None } else { Some(403) }));
        }
        let r = h.request("key_a", "i1", &[], 100, 1_000, true);
        assert_eq!((r.report.admitted, r.report.denied), (30, 30));
        assert_eq!(r.report.outcomes.len(), OUTCOMES_KEPT);
        assert_eq!(r.report.outcomes[0].at_ms, 10, "the oldest went");
        assert_eq!(r.report.last_used_ms, Some(58));
    }

    fn lease(id: u64, holder: &str, credits: u64, since: i64, deadline_ms: i64) -> Lease {
        Lease {
            id,
            holder: holder.into(),
            granted: 1,
            windows: vec![("burst/60".into(), 0)],
            deadline_ms,
            credits,
            credits_since: since,
            ask: id,
        }
    }

    #[test]
    fn the_book_counts_credits_and_quota_by_period_and_window() {
        let mut book = Book {
            next_id: 10,
            open: vec![
                lease(1, "a", 3, 100, 5_000),
                lease(2, "b", 0, 100, 9_000),
                lease(3, "b", 4, 200, 8_000),
                Lease {
                    windows: vec![("long/3600".into(), 0), ("burst/60".into(), 60_000)],
                    ..lease(4, "c", 2, 100, 6_000)
                },
            ],
            lapsed: vec![],
        };
        assert_eq!(book.credits_held(100), 5);
        assert_eq!(book.credits_held(200), 4);
        assert_eq!(
            book.credits_back_by_ms(100),
            Some(6_000),
            "not the lease without credits"
        );
        assert_eq!(book.credits_back_by_ms(300), None);
        assert_eq!(
            book.reserved("burst/60", 0),
            3,
            "the same counter and window"
        );
        assert_eq!(book.reserved("long/3600", 0), 1);
        assert_eq!(book.reserved("burst/60", 60_000), 1);
        assert_eq!(book.others("a"), 2);
        assert_eq!(book.others("z"), 3);
        // An admin's new period takes its leases along, and no other's.
        book.move_credits(100, 150);
        let periods: Vec<i64> = book.open.iter().map(|l| l.credits_since).collect();
        assert_eq!(periods, [150, 150, 200, 150]);
        // Expired unreturned: only leases with credits of the period are kept for
        // a late return, and their credits count as spent.
        let mut credits = Some(crate::credits::Credits {
            remaining: 20,
            refill: None,
            since: 150,
        });
        let mut counters = Counters::default();
        let closed = book.expire(&mut counters, &mut credits, 9_000 + RETURN_GRACE_MS);
        assert_eq!(closed, [1, 2, 3, 4]);
        let lapsed: Vec<u64> = book.lapsed.iter().map(|l| l.id).collect();
        assert_eq!(lapsed, [1, 4]);
        assert_eq!(credits.unwrap().remaining, 15);
    }

    #[test]
    fn a_cancel_gives_back_only_that_holders_grant() {
        let mut book = Book {
            next_id: 10,
            open: vec![lease(1, "a", 3, 0, 5_000), lease(2, "b", 3, 0, 5_000)],
            lapsed: vec![Lease {
                ask: 0,
                ..lease(3, "a", 3, 0, 1_000)
            }],
        };
        let mut credits = Some(crate::credits::Credits {
            remaining: 10,
            refill: None,
            since: 0,
        });
        let mut counters = Counters::default();
        book.cancel(&mut counters, &mut credits, "a", 0);
        book.cancel(&mut counters, &mut credits, "a", 2);
        book.cancel(&mut counters, &mut credits, "b", 1);
        assert_eq!(
            (book.open.len(), book.lapsed.len()),
            (2, 1),
            "nothing matched"
        );
        book.cancel(&mut counters, &mut credits, "a", 1);
        let open: Vec<u64> = book.open.iter().map(|l| l.id).collect();
        assert_eq!(open, [2]);
        assert_eq!(credits.unwrap().remaining, 10, "nothing spent");
    }

    #[test]
    fn a_holder_says_when_to_renew_report_and_give_back() {
        let mut auth = credited(100, None);
        let mut h = Holder::default();
        assert!(h.settled() && h.idle(0, 1_000));
        assert_eq!(h.next_deadline(), None);
        assert!(!h.returnable(0));
        // Credits alone: half of the lease's units spent is time to renew.
        let mut r = h.request("key_a", "i1", &[], 0, 1_000, false);
        r.demand_cost = 2;
        h.apply(&auth.lease(&r, 0));
        assert_eq!(h.next_deadline(), Some(1_000));
        assert!(!h.settled(), "a lease is held");
        let renew = |h: &mut Holder, now| match h.admit(now, 1_000, 1) {
            Local::Admitted { renew, .. } => renew,
            other => panic!("{other:?}"),
        };
        assert!(!renew(&mut h, 10), "3 of 4 left");
        assert!(renew(&mut h, 20), "2 of 4 left");
        assert!(!h.idle(20, 1_000) && !h.idle(519, 1_000));
        assert!(h.idle(520, 1_000), "half a TTL without a request");
        assert!(!h.returnable(520));
        assert!(h.returnable(1_000), "past its deadline");
        // Half of the lease's time passed is time to renew too.
        let mut h = Holder::default();
        let mut r = h.request("key_a", "i2", &[], 2_000, 1_000, false);
        r.demand_cost = 50;
        h.apply(&auth.lease(&r, 2_000));
        assert!(!renew(&mut h, 2_499));
        assert!(renew(&mut h, 2_500));
        // The demand counts the last TTL, not a request exactly one TTL back.
        let r = h.request("key_a", "i2", &[], 3_499, 1_000, false);
        assert_eq!((r.demand, r.demand_cost), (1, 1));
        h.failed(r);
        assert!(h.returnable(3_499), "a cancellation is due");
        // Dropped leases go back with the next call; an unkept lease is not sent.
        h.apply(&LeaseAnswer {
            status: KeyStatus::Active,
            grant: Some(Grant {
                id: 0,
                n: None,
                deadline_ms: 9_000,
                windows: vec![],
                credits: None,
            }),
            exhausted: None,
            exact: false,
        });
        let granted = auth.lease(&h.request("key_a", "i2", &[], 3_500, 1_000, false), 3_500);
        h.apply(&granted);
        h.drop_leases();
        assert_eq!(h.admit(3_501, 1_000, 1), Local::Ask);
        assert!(h.returnable(3_501) && !h.settled());
        let r = h.request("key_a", "i2", &[], 3_502, 1_000, true);
        let ids: Vec<u64> = r.returns.iter().map(|r| r.id).collect();
        assert_eq!(ids, [granted.grant.unwrap().id]);
        assert!(h.settled());
        // Returns and cancellations kept after failures are bounded.
        let mut h = Holder::default();
        for _ in 0..40 {
            let r = h.request("key_a", "i3", &[], 0, 1_000, false);
            h.failed(r);
        }
        let r = h.request("key_a", "i3", &[], 0, 1_000, false);
        assert_eq!(r.cancel.len(), 32);
        assert_eq!(r.cancel[0], 9, "the oldest went");
    }

    fn policies() -> Vec<LimitPolicy> {
        vec![p("burst", 10, 60)]
    }

    fn ask(auth: &mut ChainState, h: &mut Holder, who: &str, now: i64) -> LeaseAnswer {
        let r = h.request("key_a", who, &policies(), now, 1_000, false);
        let answer = auth.lease(&r, now);
        h.apply(&answer);
        answer
    }

    #[test]
    fn an_isolate_admits_from_its_lease_and_renews_before_it_runs_out() {
        let mut auth = ChainState::default();
        let mut h = Holder::default();
        assert_eq!(h.admit(0, 1_000, 1), Local::Ask);
        // The first request waits for a lease of 2 (demand 0 → 1, doubled... at
        // least one), and is admitted from it.
        let a = ask(&mut auth, &mut h, "i1", 0);
        assert_eq!(a.grant.as_ref().and_then(|g| g.n), Some(1));
        let Local::Admitted { verdict, renew, .. } = h.admit(0, 1_000, 1) else {
            panic!("admitted");
        };
        assert!(renew, "the lease is spent");
        let v = verdict.unwrap();
        assert_eq!((v.policies[0].remaining, v.policies[0].reset_s), (0, 60));
        assert_eq!(h.admit(1, 1_000, 1), Local::Ask);
        // With demand, leases grow (2 for one request in the last TTL); the
        // RateLimit remaining is what is held, and half spent is time to renew.
        let a = ask(&mut auth, &mut h, "i1", 1);
        assert_eq!(a.grant.and_then(|g| g.n), Some(2));
        let Local::Admitted { verdict, renew, .. } = h.admit(2, 1_000, 1) else {
            panic!("admitted");
        };
        assert_eq!(verdict.unwrap().policies[0].remaining, 1);
        assert!(renew);
        // Renewing keeps a usable lease, and tells the demand.
        let r = h.request("key_a", "i1", &policies(), 600, 1_000, false);
        assert!(r.returns.is_empty());
        assert_eq!(r.demand, 2);
        assert!(h.asking);
        assert!(
            matches!(h.admit(601, 1_000, 1), Local::Admitted { renew: false, .. }),
            "one renewal at a time"
        );
        let answer = auth.lease(&r, 600);
        h.apply(&answer);
        assert!(!h.asking);
        // 1 counted, 2 reserved: 7 left, of which at most half.
        assert_eq!(answer.grant.and_then(|g| g.n), Some(3));
        // Past its deadline, a lease admits nothing.
        assert!(matches!(h.admit(1_599, 1_000, 1), Local::Admitted { .. }));
        assert_eq!(h.admit(1_600, 1_000, 1), Local::Ask);
    }

    #[test]
    fn an_exhausted_window_is_refused_locally_until_it_ends() {
        let mut auth = ChainState::default();
        let mut h = Holder::default();
        let mut admitted = 0;
        for t in 0..100 {
            match h.admit(t, 60_000, 1) {
                Local::Admitted { .. } => admitted += 1,
                Local::Ask => {
                    let r = h.request("key_a", "i1", &policies(), t, 60_000, false);
                    let answer = auth.lease(&r, t);
                    h.apply(&answer);
                    if let Local::Admitted { .. } = h.admit(t, 60_000, 1) {
                        admitted += 1;
                    }
                }
                Local::Limited(v) => {
                    assert_eq!(v.violated, vec!["burst".to_string()]);
                    assert_eq!(v.retry_after_s, Some(60));
                }
            }
        }
        assert_eq!(admitted, 10);
        let Local::Limited(v) = h.admit(30_000, 60_000, 1) else {
            panic!("limited");
        };
        assert_eq!(v.retry_after_s, Some(30));
        assert_eq!(h.admit(60_000, 60_000, 1), Local::Ask, "a new window");
    }

    #[test]
    fn revocation_ends_every_lease_at_renewal() {
        let mut auth = ChainState::default();
        let mut h = Holder::default();
        ask(&mut auth, &mut h, "i1", 0);
        auth.change(&StateChange {
            key: "key_a".into(),
            revoked_at: Some(0),
            enabled: None,
            rev: None,
        });
        // The lease already held works until its deadline (LEASE_TTL)...
        assert!(matches!(h.admit(10, 1_000, 1), Local::Admitted { .. }));
        // ...and the next renewal ends it.
        let a = ask(&mut auth, &mut h, "i1", 20);
        assert_eq!((a.status, a.grant), (KeyStatus::Revoked, None));
        assert_eq!(h.admit(21, 1_000, 1), Local::Ask);
        // The isolate that revoked drops its lease at once.
        let mut other = Holder::default();
        let mut auth = ChainState::default();
        ask(&mut auth, &mut other, "i2", 0);
        other.drop_leases();
        assert_eq!(other.admit(1, 1_000, 1), Local::Ask);
    }

    #[test]
    fn no_lease_outlives_a_revocation_that_is_due() {
        let mut auth = ChainState::default();
        auth.change(&StateChange {
            key: "key_a".into(),
            revoked_at: Some(2),
            enabled: None,
            rev: None,
        });
        let mut h = Holder::default();
        let a = ask(&mut auth, &mut h, "i1", 1_500);
        assert_eq!(a.grant.map(|g| g.deadline_ms), Some(2_000));
        assert_eq!(auth.book.open[0].deadline_ms, 2_000);
        assert!(matches!(h.admit(1_999, 1_000, 1), Local::Admitted { .. }));
        assert_eq!(h.admit(2_000, 1_000, 1), Local::Ask);
        assert_eq!(
            ask(&mut auth, &mut h, "i1", 2_000).status,
            KeyStatus::Revoked
        );
    }

    #[test]
    fn reports_carry_usage_and_outcomes_and_survive_a_failed_call() {
        let mut auth = ChainState::default();
        let mut h = Holder::default();
        let outcome = |at_ms, status: Option<u16>| Outcome {
            at_ms,
            method: "GET".into(),
            path: "/".into(),
            status,
            code: status.map(|_| crate::problem::Code::InsufficientScope),
        };
        h.record(outcome(1_000, None));
        h.record(outcome(2_000, Some(403)));
        let r = h.request("key_a", "i1", &policies(), 2_000, 1_000, true);
        assert!(!r.want);
        h.failed(r);
        h.record(outcome(3_000, None));
        let r = h.request("key_a", "i1", &policies(), 3_000, 1_000, true);
        assert_eq!((r.report.admitted, r.report.denied), (2, 1));
        let times: Vec<i64> = r.report.outcomes.iter().map(|o| o.at_ms).collect();
        assert_eq!(times, vec![1_000, 2_000, 3_000]);
        let answer = auth.lease(&r, 3_000);
        assert_eq!(answer.grant, None);
        let usage = &auth.usage["key_a"];
        assert_eq!(
            (usage.requests, usage.denied, usage.last_used_at),
            (2, 1, Some(3))
        );
        assert_eq!(auth.outcomes["key_a"].len(), 3);
        assert!(h.settled());
    }

    #[test]
    fn exact_admissions_count_leased_quota_as_used() {
        let mut auth = ChainState::default();
        let mut h = Holder::default();
        for t in 0..4 {
            if h.admit(t, 60_000, 1) == Local::Ask {
                ask(&mut auth, &mut h, "i1", t);
                h.admit(t, 60_000, 1);
            }
        }
        let reserved = auth.book.reserved("burst/60", 0);
        let counted = auth.counters["burst/60"].count;
        assert!(reserved > 0 && counted > 0);
        let exact = crate::keystate::Admission {
            key: "key_a".into(),
            team: "acme".into(),
            policies: policies(),
            method: "GET".into(),
            path: "/".into(),
            denial: None,
            cost: 1,
            rev: None,
        };
        let admitted = (0..20)
            .filter(|_| auth.admit(&exact, 10).verdict.is_some_and(|v| v.admitted))
            .count() as u32;
        assert_eq!(admitted + reserved + counted, 10);
    }
}
