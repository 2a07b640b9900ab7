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
//!   use.

use crate::ratelimit::{self, counter_key, Counters, LimitPolicy, PolicyStatus, Verdict};
use crate::usage::{Outcome, OUTCOMES_KEPT};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

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
}

/// What an isolate gives back: the lease and how many requests it admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Return {
    /// The lease.
    pub id: u64,
    /// Requests admitted with it.
    pub used: u32,
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
    /// Whether a new lease is wanted (false: only returns and the report).
    pub want: bool,
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
    /// The key's chain has credits, which are spent exactly: no lease is
    /// granted, and each request asks the object.
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

/// The open leases of one key's object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Book {
    /// The next lease's id.
    pub next_id: u64,
    /// Open leases, oldest first (few: one or two per isolate).
    pub open: Vec<Lease>,
}

impl Book {
    /// Quota reserved by open leases in one window of one counter.
    pub fn reserved(&self, key: &str, window_start_ms: i64) -> u32 {
        self.open
            .iter()
            .filter(|l| {
                l.windows
                    .iter()
                    .any(|(k, w)| k == key && *w == window_start_ms)
            })
            .fold(0u32, |sum, l| sum.saturating_add(l.granted))
    }

    /// Leases that were not returned within [`RETURN_GRACE_MS`] of their deadline
    /// (their isolate went away) count as wholly used in their windows. Returns
    /// the ids closed.
    pub fn expire(&mut self, counters: &mut Counters, now_ms: i64) -> Vec<u64> {
        let (expired, open): (Vec<Lease>, Vec<Lease>) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|l| l.deadline_ms.saturating_add(RETURN_GRACE_MS) <= now_ms);
        self.open = open;
        for l in &expired {
            count(counters, l, l.granted);
        }
        expired.iter().map(|l| l.id).collect()
    }

    /// A returned lease: what it admitted counts, the rest is free again. A lease
    /// that is no longer open (already returned, or expired and counted) changes
    /// nothing, so a return sent twice counts once.
    pub fn settle(&mut self, counters: &mut Counters, r: Return) -> bool {
        let Some(i) = self.open.iter().position(|l| l.id == r.id) else {
            return false;
        };
        let l = self.open.remove(i);
        count(counters, &l, r.used.min(l.granted));
        true
    }

    /// Grants `holder` a lease for `policies` at `now_ms`, sized by its `demand`,
    /// ending within `ttl_ms`; or the refused verdict when a window has no quota
    /// left. A key without policies gets an unlimited lease, not kept.
    #[allow(clippy::too_many_arguments)]
    pub fn grant(
        &mut self,
        policies: &[LimitPolicy],
        counters: &mut Counters,
        holder: &str,
        demand: u32,
        now_ms: i64,
        ttl_ms: u32,
    ) -> Result<Grant, Exhausted> {
        let until = now_ms + i64::from(ttl_ms);
        if policies.is_empty() {
            return Ok(Grant {
                id: 0,
                n: None,
                deadline_ms: until,
                windows: vec![],
            });
        }
        // What one more request would leave, counting every open lease as used.
        let mut probe = counters.clone();
        let verdict =
            ratelimit::admit_reserving(policies, &mut probe, now_ms, |k, w| self.reserved(k, w));
        if !verdict.admitted {
            // Spent for good until its window ends, or only held by open leases,
            // whose unused quota may come back by their deadlines.
            let mut spent_until = None::<i64>;
            let mut held_until = None::<i64>;
            for p in policies
                .iter()
                .filter(|p| verdict.violated.contains(&p.name))
            {
                let c = ratelimit::current(p, probe.get(&counter_key(p)), now_ms);
                let end = c.window_start_ms + i64::from(p.window_s) * 1000;
                if c.count >= p.limit {
                    spent_until = spent_until.max(Some(end));
                } else {
                    held_until = held_until.max(Some(end));
                }
            }
            // Quota held by leases comes back when they are returned, at their
            // deadlines at the latest for isolates that are still there.
            let first_deadline = self
                .open
                .iter()
                .map(|l| l.deadline_ms.max(now_ms + RETRY_HELD_MS))
                .min();
            let until_ms = match (spent_until, held_until) {
                (Some(end), _) => end,
                (None, Some(end)) => first_deadline.map_or(end, |d| d.min(end)),
                (None, None) => now_ms + 1000,
            };
            return Err(Exhausted { verdict, until_ms });
        }
        let available = verdict
            .policies
            .iter()
            .map(|s| s.remaining + 1)
            .min()
            .unwrap_or(1);
        let mut others: Vec<&str> = self
            .open
            .iter()
            .map(|l| l.holder.as_str())
            .filter(|h| *h != holder)
            .collect();
        others.sort_unstable();
        others.dedup();
        let n = size(available, demand, others.len());
        let mut windows = Vec::with_capacity(policies.len());
        let mut reserved = Vec::with_capacity(policies.len());
        let mut deadline_ms = until;
        for p in policies {
            let key = counter_key(p);
            let c = ratelimit::current(p, counters.get(&key), now_ms);
            let end_ms = c.window_start_ms + i64::from(p.window_s) * 1000;
            deadline_ms = deadline_ms.min(end_ms);
            counters.insert(key.clone(), c);
            reserved.push((key, c.window_start_ms));
            windows.push(Window {
                name: p.name.clone(),
                limit: p.limit,
                window_s: p.window_s,
                end_ms,
            });
        }
        self.next_id += 1;
        let lease = Lease {
            id: self.next_id,
            holder: holder.to_string(),
            granted: n,
            windows: reserved,
            deadline_ms,
        };
        self.open.push(lease);
        Ok(Grant {
            id: self.next_id,
            n: Some(n),
            deadline_ms,
            windows,
        })
    }
}

/// Adds `used` to each of the lease's windows that is still its counter's current one.
fn count(counters: &mut Counters, l: &Lease, used: u32) {
    for (key, window) in &l.windows {
        if let Some(c) = counters.get_mut(key) {
            if c.window_start_ms == *window {
                c.count = c.count.saturating_add(used);
            }
        }
    }
}

/// A lease as an isolate holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    id: u64,
    /// Requests it may still admit (`None`: unlimited).
    left: Option<u32>,
    granted: Option<u32>,
    used: u32,
    deadline_ms: i64,
}

impl Held {
    fn usable(&self, now_ms: i64) -> bool {
        now_ms < self.deadline_ms && self.left != Some(0)
    }
}

/// What the isolate decides on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// Admitted from a lease: the RateLimit fields to send (none for a key
    /// without limits), and whether to renew in the background now.
    Admitted {
        /// What the isolate can truthfully tell of the key's limits.
        verdict: Option<Verdict>,
        /// Ask the object for a new lease now, without waiting for it.
        renew: bool,
    },
    /// A window is known to be exhausted: 429 without calling the object.
    Limited(Verdict),
    /// No usable lease: the object must be asked before answering.
    Ask,
}

/// One key's leases and unreported usage in one isolate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    leases: Vec<Held>,
    /// Until when (Unix ms) a window is exhausted, and the object's verdict.
    exhausted: Option<(i64, Verdict)>,
    report: Report,
    /// The key's policies and windows, as of the newest grant.
    windows: Vec<Window>,
    /// When recent requests were admitted, for the demand (at most one TTL back).
    recent: VecDeque<i64>,
    /// Whether a call to the object is under way for this key.
    pub asking: bool,
    /// Whether a background report is scheduled.
    pub report_due: bool,
}

impl Holder {
    /// Decides one request at `now_ms` without the object, if it can.
    pub fn admit(&mut self, now_ms: i64, ttl_ms: u32) -> Local {
        let usable = self.leases.iter().any(|l| l.usable(now_ms));
        if let Some((until, verdict)) = self.exhausted.as_ref().filter(|_| !usable) {
            if now_ms < *until {
                let mut v = verdict.clone();
                let retry = ratelimit::seconds_until(*until, now_ms);
                v.retry_after_s = Some(retry);
                for p in &mut v.policies {
                    p.reset_s = p.reset_s.min(retry.max(1));
                }
                return Local::Limited(v);
            }
            self.exhausted = None;
        }
        let Some(i) = self.leases.iter().position(|l| l.usable(now_ms)) else {
            return Local::Ask;
        };
        let lease = &mut self.leases[i];
        if let Some(left) = &mut lease.left {
            *left -= 1;
        }
        lease.used += 1;
        self.recent.push_back(now_ms);
        let horizon = now_ms - i64::from(ttl_ms);
        while self.recent.front().is_some_and(|t| *t <= horizon) {
            self.recent.pop_front();
        }
        Local::Admitted {
            verdict: self.verdict(now_ms),
            renew: !self.asking && self.renew_due(now_ms, ttl_ms),
        }
    }

    /// The RateLimit fields: what the usable leases still hold is reserved for
    /// this isolate, so the true remaining is never less.
    fn verdict(&self, now_ms: i64) -> Option<Verdict> {
        let windows = &self.windows;
        if windows.is_empty() {
            return None;
        }
        let left: u32 = self
            .leases
            .iter()
            .filter(|l| l.usable(now_ms))
            .filter_map(|l| l.left)
            .fold(0, u32::saturating_add);
        Some(Verdict {
            admitted: true,
            policies: windows
                .iter()
                .map(|w| PolicyStatus {
                    name: w.name.clone(),
                    limit: w.limit,
                    window_s: w.window_s,
                    remaining: left.min(w.limit),
                    reset_s: ratelimit::seconds_until(w.end_ms, now_ms),
                })
                .collect(),
            violated: vec![],
            retry_after_s: None,
        })
    }

    /// Whether to renew: half of the newest lease's quota is spent, or half of
    /// its time has passed.
    fn renew_due(&self, now_ms: i64, ttl_ms: u32) -> bool {
        let usable: Vec<&Held> = self.leases.iter().filter(|l| l.usable(now_ms)).collect();
        let Some(newest) = usable.last() else {
            return true;
        };
        let left: u32 = usable.iter().filter_map(|l| l.left).sum();
        let low = newest.granted.is_some_and(|g| left.saturating_mul(2) <= g);
        let late = newest.deadline_ms - now_ms <= i64::from(ttl_ms) / 2;
        low || late
    }

    /// Records a refusal decided in the isolate (scope, address, a local 429), or
    /// an admission's outcome, for the next report.
    pub fn record(&mut self, outcome: Outcome) {
        match outcome.status {
            None => {
                self.report.admitted += 1;
                self.report.last_used_ms = self.report.last_used_ms.max(Some(outcome.at_ms));
            }
            Some(_) => self.report.denied += 1,
        }
        self.report.outcome(outcome);
    }

    /// The call to send: the leases to give back (spent or past their deadline;
    /// all of them when `closing`), the report, and whether a new lease is wanted.
    pub fn request(
        &mut self,
        key: &str,
        holder: &str,
        policies: &[LimitPolicy],
        now_ms: i64,
        ttl_ms: u32,
        closing: bool,
    ) -> LeaseRequest {
        let (back, keep): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.leases)
            .into_iter()
            .partition(|l| closing || !l.usable(now_ms));
        self.leases = keep;
        self.asking = true;
        let horizon = now_ms - i64::from(ttl_ms);
        let demand = self.recent.iter().filter(|t| **t > horizon).count() as u32;
        LeaseRequest {
            key: key.to_string(),
            team: String::new(),
            holder: holder.to_string(),
            policies: policies.to_vec(),
            returns: back
                .iter()
                .filter(|l| l.id != 0)
                .map(|l| Return {
                    id: l.id,
                    used: l.used,
                })
                .collect(),
            report: std::mem::take(&mut self.report),
            demand,
            want: !closing,
            ttl_ms,
        }
    }

    /// Takes the object's answer. A key that is no longer active
    /// loses every lease at once.
    pub fn apply(&mut self, answer: &LeaseAnswer) {
        self.asking = false;
        if answer.status != crate::record::KeyStatus::Active {
            self.leases.clear();
            self.exhausted = None;
            return;
        }
        if let Some(g) = &answer.grant {
            self.windows = g.windows.clone();
            self.leases.push(Held {
                id: g.id,
                left: g.n,
                granted: g.n,
                used: 0,
                deadline_ms: g.deadline_ms,
            });
        }
        if let Some(e) = &answer.exhausted {
            self.exhausted = Some((e.until_ms, e.verdict.clone()));
        }
    }

    /// A call that failed: the report is kept to be sent again (the leases that
    /// were given back are the object's to expire).
    pub fn failed(&mut self, request: LeaseRequest) {
        self.asking = false;
        self.report.merge(request.report);
    }

    /// Drops every lease (the isolate revoked or disabled the key itself).
    pub fn drop_leases(&mut self) {
        self.leases.clear();
        self.exhausted = None;
    }

    /// Whether anything is held or unreported (a final report is due).
    pub fn settled(&self) -> bool {
        self.leases.iter().all(|l| l.id == 0) && self.report.is_empty()
    }

    /// Whether no request was admitted in the last half `ttl_ms`: leases held now
    /// would go unused, and are best given back.
    pub fn idle(&self, now_ms: i64, ttl_ms: u32) -> bool {
        self.recent
            .back()
            .is_none_or(|t| now_ms - t >= i64::from(ttl_ms) / 2)
    }

    /// The earliest deadline of a held lease, for the background report.
    pub fn next_deadline(&self) -> Option<i64> {
        self.leases.iter().map(|l| l.deadline_ms).min()
    }

    /// Whether a held lease is spent or past its deadline: it should go back to
    /// the object now, so that its unused quota is free again.
    pub fn returnable(&self, now_ms: i64) -> bool {
        self.leases.iter().any(|l| l.id != 0 && !l.usable(now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystate::{Authority, StateChange};
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
            .grant(&BURST(), &mut c, "a", 100, 1_000, 1_000)
            .unwrap();
        assert_eq!((a.n, a.deadline_ms), (Some(5), 2_000));
        assert_eq!(book.reserved("burst/60", 0), 5);
        // Another isolate shares what is left.
        let b = book
            .grant(&BURST(), &mut c, "b", 100, 1_000, 1_000)
            .unwrap();
        assert_eq!(b.n, Some(1));
        let a2 = book
            .grant(&BURST(), &mut c, "a", 100, 1_000, 1_000)
            .unwrap();
        assert_eq!(a2.n, Some(1));
        let a3 = book.grant(&BURST(), &mut c, "a", 1, 1_000, 1_000).unwrap();
        assert_eq!(a3.n, Some(1));
        assert_eq!(book.reserved("burst/60", 0), 8);
        // a returns its first lease having used 2 of 5: 3 come back.
        assert!(book.settle(&mut c, Return { id: a.id, used: 2 }));
        assert!(
            !book.settle(&mut c, Return { id: a.id, used: 2 }),
            "counted once"
        );
        assert_eq!((c["burst/60"].count, book.reserved("burst/60", 0)), (2, 3));
        // 2 used + 3 reserved: 5 left, of which a gets half.
        let a4 = book
            .grant(&BURST(), &mut c, "a", 100, 1_500, 1_000)
            .unwrap();
        assert_eq!(a4.n, Some(1));
        // b never returns: once the grace after its deadline has passed, its
        // lease counts as used.
        const G: i64 = RETURN_GRACE_MS;
        book.expire(&mut c, 1_999 + G);
        assert_eq!(c["burst/60"].count, 2);
        book.expire(&mut c, 2_000 + G);
        assert_eq!(c["burst/60"].count, 2 + 1 + 1 + 1);
        assert_eq!(book.open.len(), 1);
        book.expire(&mut c, 2_500 + G);
        assert_eq!(c["burst/60"].count, 6);
        // 6 counted, 4 left: then exhausted, with a true Retry-After.
        let now = 3_000 + G;
        let mut granted = 0;
        while let Ok(g) = book.grant(&BURST(), &mut c, "a", 0, now, 1_000) {
            granted += g.n.unwrap();
        }
        assert_eq!(granted, 4);
        let refused = book
            .grant(&BURST(), &mut c, "a", 0, now, 1_000)
            .unwrap_err();
        assert_eq!(refused.verdict.violated, vec!["burst".to_string()]);
        assert_eq!(refused.verdict.retry_after_s, Some(52));
        // The last 4 are only held by open leases: ask again at their deadline.
        assert_eq!(refused.until_ms, now + 1_000);
        // Past it, their returns are awaited: ask again shortly.
        let refused = book
            .grant(&BURST(), &mut c, "a", 0, now + 1_000, 1_000)
            .unwrap_err();
        assert_eq!(refused.until_ms, now + 1_000 + RETRY_HELD_MS);
        // Never returned, they count as used: spent until the window ends.
        book.expire(&mut c, now + 1_000 + G);
        let refused = book
            .grant(&BURST(), &mut c, "a", 0, now + 1_000 + G, 1_000)
            .unwrap_err();
        assert_eq!((c["burst/60"].count, refused.until_ms), (10, 60_000));
    }

    #[test]
    fn a_lease_ends_with_its_window_and_counts_in_it_alone() {
        let mut book = Book::default();
        let mut c = Counters::new();
        let policies = [p("burst", 100, 10), p("daily", 1000, 86_400)];
        let g = book
            .grant(&policies, &mut c, "a", 10, 9_500, 1_000)
            .unwrap();
        assert_eq!((g.n, g.deadline_ms), (Some(20), 10_000));
        assert_eq!(g.windows[0].end_ms, 10_000);
        assert_eq!(g.windows[1].end_ms, 86_400_000);
        // Returned after its window ended: the daily window counts it, the burst
        // window it was reserved in is gone and the new one starts at zero.
        let next = book
            .grant(&policies, &mut c, "b", 1, 10_100, 1_000)
            .unwrap();
        assert_eq!(next.n, Some(2));
        assert!(book.settle(&mut c, Return { id: g.id, used: 20 }));
        assert_eq!(c["burst/10"].count, 0);
        assert_eq!(c["daily/86400"].count, 20);
        // A key without limits: an unlimited lease, kept nowhere.
        let free = book.grant(&[], &mut c, "a", 0, 0, 500).unwrap();
        assert_eq!((free.n, free.deadline_ms, free.id), (None, 500, 0));
        assert_eq!(book.open.len(), 1);
    }

    #[test]
    fn a_return_after_the_deadline_still_frees_what_was_not_used() {
        let mut book = Book::default();
        let mut c = Counters::new();
        let g = book.grant(&BURST(), &mut c, "a", 100, 0, 1_000).unwrap();
        assert_eq!(g.n, Some(5));
        book.expire(&mut c, 1_500);
        assert_eq!(book.reserved("burst/60", 0), 5, "held until returned");
        assert!(book.settle(&mut c, Return { id: g.id, used: 1 }));
        assert_eq!((c["burst/60"].count, book.reserved("burst/60", 0)), (1, 0));
    }

    fn policies() -> Vec<LimitPolicy> {
        vec![p("burst", 10, 60)]
    }

    fn ask(auth: &mut Authority, h: &mut Holder, who: &str, now: i64) -> LeaseAnswer {
        let r = h.request("key_a", who, &policies(), now, 1_000, false);
        let answer = auth.lease(&r, now);
        h.apply(&answer);
        answer
    }

    #[test]
    fn an_isolate_admits_from_its_lease_and_renews_before_it_runs_out() {
        let mut auth = Authority::default();
        let mut h = Holder::default();
        assert_eq!(h.admit(0, 1_000), Local::Ask);
        // The first request waits for a lease of 2 (demand 0 → 1, doubled... at
        // least one), and is admitted from it.
        let a = ask(&mut auth, &mut h, "i1", 0);
        assert_eq!(a.grant.as_ref().and_then(|g| g.n), Some(1));
        let Local::Admitted { verdict, renew } = h.admit(0, 1_000) else {
            panic!("admitted");
        };
        assert!(renew, "the lease is spent");
        let v = verdict.unwrap();
        assert_eq!((v.policies[0].remaining, v.policies[0].reset_s), (0, 60));
        assert_eq!(h.admit(1, 1_000), Local::Ask);
        // With demand, leases grow (2 for one request in the last TTL); the
        // RateLimit remaining is what is held, and half spent is time to renew.
        let a = ask(&mut auth, &mut h, "i1", 1);
        assert_eq!(a.grant.and_then(|g| g.n), Some(2));
        let Local::Admitted { verdict, renew } = h.admit(2, 1_000) else {
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
            matches!(h.admit(601, 1_000), Local::Admitted { renew: false, .. }),
            "one renewal at a time"
        );
        let answer = auth.lease(&r, 600);
        h.apply(&answer);
        assert!(!h.asking);
        // 1 counted, 2 reserved: 7 left, of which at most half.
        assert_eq!(answer.grant.and_then(|g| g.n), Some(3));
        // Past its deadline, a lease admits nothing.
        assert!(matches!(h.admit(1_599, 1_000), Local::Admitted { .. }));
        assert_eq!(h.admit(1_600, 1_000), Local::Ask);
    }

    #[test]
    fn an_exhausted_window_is_refused_locally_until_it_ends() {
        let mut auth = Authority::default();
        let mut h = Holder::default();
        let mut admitted = 0;
        for t in 0..100 {
            match h.admit(t, 60_000) {
                Local::Admitted { .. } => admitted += 1,
                Local::Ask => {
                    let r = h.request("key_a", "i1", &policies(), t, 60_000, false);
                    let answer = auth.lease(&r, t);
                    h.apply(&answer);
                    if let Local::Admitted { .. } = h.admit(t, 60_000) {
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
        let Local::Limited(v) = h.admit(30_000, 60_000) else {
            panic!("limited");
        };
        assert_eq!(v.retry_after_s, Some(30));
        assert_eq!(h.admit(60_000, 60_000), Local::Ask, "a new window");
    }

    #[test]
    fn revocation_ends_every_lease_at_renewal() {
        let mut auth = Authority::default();
        let mut h = Holder::default();
        ask(&mut auth, &mut h, "i1", 0);
        auth.change(&StateChange {
            key: "key_a".into(),
            revoked_at: Some(0),
            enabled: None,
        });
        // The lease already held works until its deadline (LEASE_TTL)...
        assert!(matches!(h.admit(10, 1_000), Local::Admitted { .. }));
        // ...and the next renewal ends it.
        let a = ask(&mut auth, &mut h, "i1", 20);
        assert_eq!((a.status, a.grant), (KeyStatus::Revoked, None));
        assert_eq!(h.admit(21, 1_000), Local::Ask);
        // The isolate that revoked drops its lease at once.
        let mut other = Holder::default();
        let mut auth = Authority::default();
        ask(&mut auth, &mut other, "i2", 0);
        other.drop_leases();
        assert_eq!(other.admit(1, 1_000), Local::Ask);
    }

    #[test]
    fn no_lease_outlives_a_revocation_that_is_due() {
        let mut auth = Authority::default();
        auth.change(&StateChange {
            key: "key_a".into(),
            revoked_at: Some(2),
            enabled: None,
        });
        let mut h = Holder::default();
        let a = ask(&mut auth, &mut h, "i1", 1_500);
        assert_eq!(a.grant.map(|g| g.deadline_ms), Some(2_000));
        assert_eq!(auth.book.open[0].deadline_ms, 2_000);
        assert!(matches!(h.admit(1_999, 1_000), Local::Admitted { .. }));
        assert_eq!(h.admit(2_000, 1_000), Local::Ask);
        assert_eq!(
            ask(&mut auth, &mut h, "i1", 2_000).status,
            KeyStatus::Revoked
        );
    }

    #[test]
    fn reports_carry_usage_and_outcomes_and_survive_a_failed_call() {
        let mut auth = Authority::default();
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
        let mut auth = Authority::default();
        let mut h = Holder::default();
        for t in 0..4 {
            if h.admit(t, 60_000) == Local::Ask {
                ask(&mut auth, &mut h, "i1", t);
                h.admit(t, 60_000);
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
        };
        let admitted = (0..20)
            .filter(|_| auth.admit(&exact, 10).verdict.is_some_and(|v| v.admitted))
            .count() as u32;
        assert_eq!(admitted + reserved + counted, 10);
    }
}
