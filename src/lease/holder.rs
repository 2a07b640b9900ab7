//! The isolate's side of leased admission: one key's [`Holder`].

use super::{LeaseAnswer, LeaseRequest, Report, Return, Window};
use crate::credits::Balance;
use crate::ratelimit::{self, LimitPolicy, PolicyStatus, Verdict};
use crate::usage::Outcome;
use std::collections::VecDeque;

/// Most returns kept to be sent again after failed calls.
const UNRETURNED_KEPT: usize = 32;

/// A lease as an isolate holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    id: u64,
    /// Requests it may still admit (`None`: unlimited).
    left: Option<u32>,
    granted: Option<u32>,
    used: u32,
    /// Credits it may still spend (`None`: the chain had none at the grant).
    credits_left: Option<u64>,
    credits_granted: Option<u64>,
    spent: u64,
    deadline_ms: i64,
}

impl Held {
    fn usable(&self, now_ms: i64) -> bool {
        now_ms < self.deadline_ms && self.left != Some(0) && self.credits_left != Some(0)
    }

    /// Whether it may admit a request that costs `cost` credits.
    fn covers(&self, now_ms: i64, cost: u64) -> bool {
        self.usable(now_ms) && self.credits_left.is_none_or(|c| c >= cost)
    }

    fn back(&self) -> Return {
        Return {
            id: self.id,
            used: self.used,
            spent: self.spent,
        }
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
        /// What is left of the chain's credits, as of the newest lease, less
        /// what this isolate spent since (none without credits).
        credits: Option<Balance>,
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
    /// When recent requests were admitted, and what they cost, for the demand
    /// (at most one TTL back).
    recent: VecDeque<(i64, u64)>,
    /// The chain's credits as of the newest lease, and what was spent since.
    credits: Option<(Balance, u64)>,
    /// Returns whose calls failed, to be sent again.
    unreturned: Vec<Return>,
    /// The number of the last call.
    asks: u64,
    /// Calls whose answers never came, to be cancelled.
    cancelled: Vec<u64>,
    /// Whether a call to the object is under way for this key.
    pub asking: bool,
    /// Whether a background report is scheduled.
    pub report_due: bool,
}

impl Holder {
    /// Decides one request that costs `cost` credits at `now_ms` without the
    /// object, if it can.
    pub fn admit(&mut self, now_ms: i64, ttl_ms: u32, cost: u64) -> Local {
        let usable = self.leases.iter().any(|l| l.covers(now_ms, cost));
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
        let Some(i) = self.leases.iter().position(|l| l.covers(now_ms, cost)) else {
            return Local::Ask;
        };
        let lease = &mut self.leases[i];
        if let Some(left) = &mut lease.left {
            *left -= 1;
        }
        lease.used += 1;
        if let Some(c) = &mut lease.credits_left {
            *c -= cost;
            lease.spent += cost;
        }
        let credits = self.credits.as_mut().map(|(b, spent)| {
            *spent = spent.saturating_add(cost);
            Balance {
                remaining: b.remaining.saturating_sub(*spent),
                ..*b
            }
        });
        self.recent.push_back((now_ms, cost));
        let horizon = now_ms - i64::from(ttl_ms);
        while self.recent.front().is_some_and(|(t, _)| *t <= horizon) {
            self.recent.pop_front();
        }
        Local::Admitted {
            verdict: self.verdict(now_ms),
            credits,
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

    /// Whether to renew: half of the newest lease's quota or credits is spent,
    /// or half of its time has passed.
    fn renew_due(&self, now_ms: i64, ttl_ms: u32) -> bool {
        let usable: Vec<&Held> = self.leases.iter().filter(|l| l.usable(now_ms)).collect();
        let Some(newest) = usable.last() else {
            return true;
        };
        let left: u32 = usable.iter().filter_map(|l| l.left).sum();
        let credits: u64 = usable.iter().filter_map(|l| l.credits_left).sum();
        let low = newest.granted.is_some_and(|g| left.saturating_mul(2) <= g)
            || newest
                .credits_granted
                .is_some_and(|g| credits.saturating_mul(2) <= g);
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
    /// all of them when `closing`; and those whose return failed), the report,
    /// and whether a new lease is wanted. The least credits it asks for are the
    /// largest recent cost (the caller sets `cost` for a request that waits).
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
        let recent = self.recent.iter().filter(|(t, _)| *t > horizon);
        let demand = recent.clone().count() as u32;
        let demand_cost = recent
            .clone()
            .fold(0u64, |sum, (_, c)| sum.saturating_add(*c));
        let cost = recent.map(|(_, c)| *c).max().unwrap_or(0);
        let mut returns = std::mem::take(&mut self.unreturned);
        returns.extend(back.iter().filter(|l| l.id != 0).map(Held::back));
        self.asks += 1;
        LeaseRequest {
            key: key.to_string(),
            team: String::new(),
            holder: holder.to_string(),
            policies: policies.to_vec(),
            returns,
            report: std::mem::take(&mut self.report),
            demand,
            demand_cost,
            cost,
            want: !closing,
            ask: self.asks,
            cancel: std::mem::take(&mut self.cancelled),
            rev: None,
            ttl_ms,
        }
    }

    /// Keeps every lease's return to be sent with the next call, and holds none.
    fn give_back_all(&mut self) {
        let held = std::mem::take(&mut self.leases);
        self.unreturned
            .extend(held.iter().filter(|l| l.id != 0).map(Held::back));
        self.keep_unreturned();
        self.exhausted = None;
    }

    fn keep_unreturned(&mut self) {
        let cut = self.unreturned.len().saturating_sub(UNRETURNED_KEPT);
        self.unreturned.drain(..cut);
        let cut = self.cancelled.len().saturating_sub(UNRETURNED_KEPT);
        self.cancelled.drain(..cut);
    }

    /// Takes the object's answer. A key that is no longer active
    /// loses every lease at once.
    pub fn apply(&mut self, answer: &LeaseAnswer) {
        self.asking = false;
        if answer.status != crate::record::KeyStatus::Active {
            self.give_back_all();
            return;
        }
        if let Some(g) = &answer.grant {
            self.windows = g.windows.clone();
            let units = g.credits.map(|c| c.units);
            self.credits = g.credits.map(|c| {
                let b = Balance {
                    remaining: c.remaining,
                    next_refill: c.next_refill,
                };
                (b, 0)
            });
            self.leases.push(Held {
                id: g.id,
                left: g.n,
                granted: g.n,
                used: 0,
                credits_left: units,
                credits_granted: units,
                spent: 0,
                deadline_ms: g.deadline_ms,
            });
        }
        if let Some(e) = &answer.exhausted {
            self.exhausted = Some((e.until_ms, e.verdict.clone()));
        }
    }

    /// A call that failed: the report and the returns are kept to be sent
    /// again (a return the object took already counts once).
    pub fn failed(&mut self, request: LeaseRequest) {
        self.asking = false;
        self.report.merge(request.report);
        self.unreturned.extend(request.returns);
        self.cancelled.extend(request.cancel);
        if request.want {
            self.cancelled.push(request.ask);
        }
        self.keep_unreturned();
    }

    /// Stops admitting from any lease (the isolate revoked or disabled the key
    /// itself); their returns go with the next call.
    pub fn drop_leases(&mut self) {
        self.give_back_all();
    }

    /// Whether anything is held, unreported or not given back (a final call is
    /// due).
    pub fn settled(&self) -> bool {
        self.leases.iter().all(|l| l.id == 0)
            && self.report.is_empty()
            && self.unreturned.is_empty()
            && self.cancelled.is_empty()
    }

    /// Whether no request was admitted in the last half `ttl_ms`: leases held now
    /// would go unused, and are best given back.
    pub fn idle(&self, now_ms: i64, ttl_ms: u32) -> bool {
        self.recent
            .back()
            .is_none_or(|(t, _)| now_ms - t >= i64::from(ttl_ms) / 2)
    }

    /// The earliest deadline of a held lease, for the background report.
    pub fn next_deadline(&self) -> Option<i64> {
        self.leases.iter().map(|l| l.deadline_ms).min()
    }

    /// Whether a held lease is spent or past its deadline: it should go back to
    /// the object now, so that its unused quota is free again.
    pub fn returnable(&self, now_ms: i64) -> bool {
        self.leases.iter().any(|l| l.id != 0 && !l.usable(now_ms))
            || !self.unreturned.is_empty()
            || !self.cancelled.is_empty()
    }
}
