//! The key's object side of leased admission: the [`Book`] of open leases.

use super::{size, Exhausted, Grant, Lease, Return, Window, RETRY_HELD_MS, RETURN_GRACE_MS};
use crate::credits::{Credits, MAX_AMOUNT};
use crate::ratelimit::{self, counter_key, Counters, LimitPolicy, Verdict};

/// How many lapsed leases with credits the book remembers, for returns that
/// come after their lease was counted as wholly spent.
pub const LAPSED_KEPT: usize = 64;

/// The open leases of one key's object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Book {
    /// The next lease's id.
    pub next_id: u64,
    /// Open leases, oldest first (few: one or two per isolate).
    pub open: Vec<Lease>,
    /// Leases with credits that expired unreturned, newest last (at most
    /// [`LAPSED_KEPT`], written like the open ones): a late return gives back
    /// what they did not spend.
    pub lapsed: Vec<Lease>,
}

/// The credits a new lease takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditShare {
    /// Cost units.
    pub units: u64,
    /// The credits' period (their `since`).
    pub since: i64,
    /// Unix milliseconds of the next refill, which the lease may not outlive.
    pub until_ms: Option<i64>,
}

impl Book {
    /// Credits held by open leases taken in the period that began at `since`.
    pub fn credits_held(&self, since: i64) -> u64 {
        self.open
            .iter()
            .filter(|l| l.credits_since == since)
            .fold(0, |sum, l| sum.saturating_add(l.credits))
    }

    /// What of `credits` is free: their `remaining`, less what open leases of
    /// their period hold.
    pub fn credits_free(&self, credits: &Credits) -> u64 {
        credits
            .remaining
            .saturating_sub(self.credits_held(credits.since))
    }

    /// The latest deadline of an open lease holding credits of the period that
    /// began at `since`: by then, and [`RETURN_GRACE_MS`], they are settled.
    pub fn credits_back_by_ms(&self, since: i64) -> Option<i64> {
        self.open
            .iter()
            .filter(|l| l.credits > 0 && l.credits_since == since)
            .map(|l| l.deadline_ms)
            .max()
    }

    /// How many isolates other than `holder` hold open leases.
    pub fn others(&self, holder: &str) -> usize {
        let mut others: Vec<&str> = self
            .open
            .iter()
            .map(|l| l.holder.as_str())
            .filter(|h| *h != holder)
            .collect();
        others.sort_unstable();
        others.dedup();
        others.len()
    }

    /// An admin's change moved the credits' period from `from` to `to` (a new
    /// `remaining` or refill): open leases keep counting in it.
    pub fn move_credits(&mut self, from: i64, to: i64) {
        for l in self.open.iter_mut().chain(&mut self.lapsed) {
            if l.credits_since == from {
                l.credits_since = to;
            }
        }
    }

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
    /// (their isolate went away) count as wholly used in their windows, and their
    /// credits (of the current period) as wholly spent. Returns the ids closed.
    pub fn expire(
        &mut self,
        counters: &mut Counters,
        credits: &mut Option<Credits>,
        now_ms: i64,
    ) -> Vec<u64> {
        let (expired, open): (Vec<Lease>, Vec<Lease>) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|l| l.deadline_ms.saturating_add(RETURN_GRACE_MS) <= now_ms);
        self.open = open;
        let ids = expired.iter().map(|l| l.id).collect();
        for l in expired {
            count(counters, &l, l.granted);
            if let Some(c) = credits.as_mut().filter(|c| c.since == l.credits_since) {
                if l.credits > 0 {
                    c.remaining = c.remaining.saturating_sub(l.credits);
                    self.lapsed.push(l);
                }
            }
        }
        let cut = self.lapsed.len().saturating_sub(LAPSED_KEPT);
        self.lapsed.drain(..cut);
        ids
    }

    /// A returned lease: what it admitted counts and what it spent is spent; the
    /// rest is free again. A lease that lapsed gives back what it did not spend.
    /// A lease that is no longer open (already returned, or expired and
    /// counted) changes nothing else, so a return sent twice counts once; nor do
    /// credits of a period that has ended.
    pub fn settle(
        &mut self,
        counters: &mut Counters,
        credits: &mut Option<Credits>,
        r: Return,
    ) -> bool {
        let in_period = |l: &Lease, c: &Credits| c.since == l.credits_since;
        let spent = |l: &Lease| r.spent.min(l.credits);
        if let Some(i) = self.open.iter().position(|l| l.id == r.id) {
            let l = self.open.remove(i);
            count(counters, &l, r.used.min(l.granted));
            if let Some(c) = credits.as_mut().filter(|c| in_period(&l, c)) {
                c.remaining = c.remaining.saturating_sub(spent(&l));
            }
            return true;
        }
        if let Some(i) = self.lapsed.iter().position(|l| l.id == r.id) {
            let l = self.lapsed.remove(i);
            if let Some(c) = credits.as_mut().filter(|c| in_period(&l, c)) {
                let unspent = l.credits - spent(&l);
                c.remaining = c.remaining.saturating_add(unspent).min(MAX_AMOUNT);
            }
        }
        false
    }

    /// Gives back whole the lease granted to `holder`'s call `ask`, whose
    /// answer never reached it: nothing was admitted with it.
    pub fn cancel(
        &mut self,
        counters: &mut Counters,
        credits: &mut Option<Credits>,
        holder: &str,
        ask: u64,
    ) {
        let granted = self
            .open
            .iter()
            .chain(&self.lapsed)
            .find(|l| ask != 0 && l.ask == ask && l.holder == holder);
        if let Some(l) = granted {
            let none = Return {
                id: l.id,
                used: 0,
                spent: 0,
            };
            self.settle(counters, credits, none);
        }
    }

    /// Grants `holder` a lease for `policies` at `now_ms`, sized by its `demand`,
    /// with the credits it is to hold, ending within `ttl_ms` and by the next
    /// refill; or the refused verdict when a window has no quota left. A key
    /// without policies or credits gets an unlimited lease, not kept.
    #[allow(clippy::too_many_arguments)]
    pub fn grant(
        &mut self,
        policies: &[LimitPolicy],
        counters: &mut Counters,
        holder: &str,
        demand: u32,
        credits: Option<CreditShare>,
        now_ms: i64,
        ttl_ms: u32,
    ) -> Result<Grant, Exhausted> {
        let mut until = now_ms + i64::from(ttl_ms);
        if let Some(end) = credits.and_then(|c| c.until_ms) {
            until = until.min(end);
        }
        if policies.is_empty() && credits.is_none() {
            return Ok(Grant {
                id: 0,
                n: None,
                deadline_ms: until,
                windows: vec![],
                credits: None,
            });
        }
        // What one more request would leave, counting every open lease as used.
        let mut probe = counters.clone();
        let verdict =
            ratelimit::admit_reserving(policies, &mut probe, now_ms, |k, w| self.reserved(k, w));
        if !verdict.admitted {
            let until_ms = self.refused_until(policies, &probe, &verdict, now_ms);
            return Err(Exhausted { verdict, until_ms });
        }
        let n = verdict
            .policies
            .iter()
            .map(|s| s.remaining + 1)
            .min()
            .map(|available| size(available, demand, self.others(holder)));
        let (windows, reserved) = current_windows(policies, counters, now_ms);
        // The lease ends by the end of each of its windows.
        let deadline_ms = windows.iter().map(|w| w.end_ms).fold(until, i64::min);
        self.next_id += 1;
        let lease = Lease {
            id: self.next_id,
            holder: holder.to_string(),
            granted: n.unwrap_or(0),
            windows: reserved,
            deadline_ms,
            credits: credits.map_or(0, |c| c.units),
            credits_since: credits.map_or(0, |c| c.since),
            ask: 0,
        };
        self.open.push(lease);
        Ok(Grant {
            id: self.next_id,
            n,
            deadline_ms,
            windows,
            credits: None,
        })
    }

    /// When a lease refused by `verdict` (tried on `probe`) may be asked for again:
    /// when the last window that is spent for good ends; else, where quota is only
    /// held by open leases, at the first of their deadlines (not sooner than
    /// [`RETRY_HELD_MS`] from now) or when the held windows end, if that is sooner.
    fn refused_until(
        &self,
        policies: &[LimitPolicy],
        probe: &Counters,
        verdict: &Verdict,
        now_ms: i64,
    ) -> i64 {
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
        // A violated policy is either spent or held (`admitted` is false).
        spent_until.unwrap_or_else(|| {
            let end = held_until.unwrap_or(now_ms);
            first_deadline.map_or(end, |d| d.min(end))
        })
    }
}

/// Each policy's current window at `now_ms`, its counter brought to it: the
/// windows a grant names, and the (counter, window start) pairs its lease holds.
fn current_windows(
    policies: &[LimitPolicy],
    counters: &mut Counters,
    now_ms: i64,
) -> (Vec<Window>, Vec<(String, i64)>) {
    let mut windows = Vec::with_capacity(policies.len());
    let mut reserved = Vec::with_capacity(policies.len());
    for p in policies {
        let key = counter_key(p);
        let c = ratelimit::current(p, counters.get(&key), now_ms);
        let end_ms = c.window_start_ms + i64::from(p.window_s) * 1000;
        counters.insert(key.clone(), c);
        reserved.push((key, c.window_start_ms));
        windows.push(Window {
            name: p.name.clone(),
            limit: p.limit,
            window_s: p.window_s,
            end_ms,
        });
    }
    (windows, reserved)
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
