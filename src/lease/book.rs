//! The key's object side of leased admission: the [`Book`] of open leases.

use super::{size, Exhausted, Grant, Lease, Return, Window, RETRY_HELD_MS, RETURN_GRACE_MS};
use crate::ratelimit::{self, counter_key, Counters, LimitPolicy};

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
