//! A key chain's Durable Object as plain logic over a [`Store`]: what it keeps,
//! when it writes what, and in what order. The shell's `KeyAuthority` is the
//! SQLite store, the RPC method, the alarm and the network; every decision of the
//! object is here, tested over an in-memory store that can be told to fail.
//!
//! - **Decisions write before they answer.** [`KeyObject::admit`],
//!   [`KeyObject::lease`] and [`KeyObject::change_credits`] run one decision of
//!   [`ChainState`] and write what it changed (counters, credits, open leases, the
//!   low-credit watch), comparing before with after: nothing decided is
//!   forgotten by a restart.
//! - **Usage waits for the flush.** Usage figures, outcomes and series are kept in
//!   memory ([`Pending`]) and written by [`KeyObject::flush`] (the shell's alarm,
//!   within a second): a crash loses at most that second of them, never a count.
//! - **Loading** reads what the store holds and seeds lease ids so that they
//!   never repeat across restarts ([`seed_lease_ids`]).
//! - **Placing** a key ([`KeyObject::place`]) takes its state from its team
//!   directory's record, and the chain's first key brings the chain's credits.
//! - **Low-credit notices** are claimed and written ([`DueNotice`]) before they
//!   are sent, so that an eviction before the alarm loses none; a failed
//!   delivery is tried [`NOTICE_TRIES`] times before it is released
//!   ([`KeyObject::delivered`]).

use crate::credits::{Credits, CreditsChange, LowWatch};
use crate::keystate::{Admission, Answer, ChainState, KeyState, StateChange};
use crate::lease::{Lease, LeaseAnswer, LeaseRequest};
use crate::notice::CreditsLow;
use crate::problem::Problem;
use crate::ratelimit::Counter;
use crate::record::KeyRecord;
use crate::usage::{Outcome, Series, Usage, OUTCOMES_KEPT};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a key chain's object stores. A failing store answers `Err` with an
/// `UNAVAILABLE` problem; the call then fails as a whole.
pub trait Store {
    /// Everything stored: key states and usage figures, counters, credits,
    /// the low-credit watch, open leases, series and the kept outcomes (oldest
    /// first). Lease ids are not seeded ([`seed_lease_ids`] does).
    fn load(&mut self) -> Result<ChainState, Problem>;
    /// One key's state and usage figures.
    fn put_key(&mut self, id: &str, state: &KeyState, usage: &Usage) -> Result<(), Problem>;
    /// A counter as it is now (`None`: its window ended, it goes).
    fn put_counter(&mut self, name: &str, counter: Option<&Counter>) -> Result<(), Problem>;
    /// The chain's credits (`None`: it has none).
    fn put_credits(&mut self, credits: Option<&Credits>) -> Result<(), Problem>;
    /// The open leases, all of them.
    fn put_leases(&mut self, open: &[Lease]) -> Result<(), Problem>;
    /// One key's series.
    fn put_series(&mut self, key: &str, series: &Series) -> Result<(), Problem>;
    /// Adds one key's new outcomes, then keeps only its newest `keep`.
    fn add_outcomes(&mut self, key: &str, new: &[Outcome], keep: usize) -> Result<(), Problem>;
    /// The low-credit watch.
    fn put_low(&mut self, low: &LowWatch) -> Result<(), Problem>;
    /// The leases that lapsed unreturned with credits, all of them (a late
    /// return still gives back what they did not spend).
    fn put_lapsed(&mut self, lapsed: &[Lease]) -> Result<(), Problem>;
    /// The claimed low-credit notices not yet delivered.
    fn notices(&mut self) -> Result<Vec<DueNotice>, Problem>;
    /// The claimed low-credit notices not yet delivered, all of them.
    fn put_notices(&mut self, due: &[DueNotice]) -> Result<(), Problem>;
}

/// A claimed low-credit notice not yet delivered: written with its claim, so
/// that an object evicted before its alarm still sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueNotice {
    /// The notice.
    pub notice: CreditsLow,
    /// Its failed deliveries so far.
    #[serde(default)]
    pub tries: u32,
}

/// For each key admitted since the last flush, how many outcomes it recorded
/// since then (only the newest [`OUTCOMES_KEPT`] of them are written).
pub type Pending = BTreeMap<String, usize>;

/// The chain's credits before and after an admin's change, or why not.
pub type CreditsChanged = Result<(Option<Credits>, Option<Credits>), String>;

/// An admin's change of a key chain's credits, as the worker asks its object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditsCall {
    /// The key the admin named.
    pub key: String,
    /// Its team, whose directory the object asks if it never met the key.
    pub team: String,
    /// The change.
    pub change: CreditsChange,
}

/// A request for one key's usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageQuery {
    /// The key id.
    pub key: String,
    /// Whether the last outcomes and the series are wanted too.
    pub outcomes: bool,
}

/// One key's usage and, when asked, its last outcomes (oldest first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    /// The figures.
    pub usage: Usage,
    /// The last outcomes.
    pub outcomes: Vec<Outcome>,
    /// The chain's credits as they stand.
    #[serde(default)]
    pub credits: Option<Credits>,
    /// Requests per hour over the last day and per day over the last 30, with
    /// the outcomes ([`Series::encode`]).
    #[serde(default)]
    pub series: Option<String>,
}

/// Lease ids that never repeat across restarts: past every open lease's, and
/// past `now_ms` shifted left by ten bits, so that a return of a lease granted
/// before a restart can never settle a lease granted after it.
pub fn seed_lease_ids(auth: &mut ChainState, now_ms: i64) {
    let newest = auth.book.open.iter().map(|l| l.id).max().unwrap_or(0);
    auth.book.next_id = newest.max((now_ms.max(0) as u64) << 10);
}

/// How often a low-credit notice is tried before it is released for the next
/// request to claim again.
pub const NOTICE_TRIES: u32 = 5;

/// What follows one delivery of a low-credit notice that was tried `tries`
/// times before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Sent: done.
    Sent,
    /// Failed: try again later, having tried this many times.
    Again(u32),
    /// Failed for the last time: release the claim.
    Release,
}

/// What follows a delivery that was `sent` or not, after `tries` earlier tries.
pub fn after_delivery(tries: u32, sent: bool) -> Delivery {
    match (sent, tries + 1 < NOTICE_TRIES) {
        (true, _) => Delivery::Sent,
        (false, true) => Delivery::Again(tries + 1),
        (false, false) => Delivery::Release,
    }
}

/// A key chain's object over its store.
#[derive(Debug)]
pub struct KeyObject<S> {
    store: S,
    loaded: Option<ChainState>,
    /// Usage and outcomes decided but not yet written.
    pending: Pending,
    /// The low-credit watch as last written.
    low_saved: LowWatch,
    /// The claimed notices not yet delivered, read on first use.
    notices: Option<Vec<DueNotice>>,
}

impl<S: Store> KeyObject<S> {
    /// An object over `store`, read on first use.
    pub fn new(store: S) -> KeyObject<S> {
        KeyObject {
            store,
            loaded: None,
            pending: Pending::new(),
            low_saved: LowWatch::default(),
            notices: None,
        }
    }

    /// The store, for the shell's own reads.
    pub fn store(&mut self) -> &mut S {
        &mut self.store
    }

    /// Everything, read from the store on first use (at `now_ms`).
    pub fn authority(&mut self, now_ms: i64) -> Result<&mut ChainState, Problem> {
        if self.loaded.is_none() {
            let mut auth = self.store.load()?;
            seed_lease_ids(&mut auth, now_ms);
            self.low_saved = auth.low;
            self.loaded = Some(auth);
        }
        Ok(self.loaded.as_mut().expect("loaded above"))
    }

    /// Whether usage or outcomes wait to be written.
    pub fn pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Runs one decision at `now_ms` and writes what it changed (counters,
    /// credits, open leases, the low-credit watch) before returning.
    fn decide<T>(
        &mut self,
        now_ms: i64,
        f: impl FnOnce(&mut ChainState) -> T,
    ) -> Result<T, Problem> {
        let auth = self.authority(now_ms)?;
        let (counters, credits, leases, lapsed) = (
            auth.counters.clone(),
            auth.credits,
            auth.book.open.clone(),
            auth.book.lapsed.clone(),
        );
        let out = f(auth);
        let auth = self.loaded.as_ref().expect("loaded");
        for (name, c) in &auth.counters {
            if counters.get(name) != Some(c) {
                self.store.put_counter(name, Some(c))?;
            }
        }
        for name in counters.keys().filter(|n| !auth.counters.contains_key(*n)) {
            self.store.put_counter(name, None)?;
        }
        if auth.credits != credits {
            self.store.put_credits(auth.credits.as_ref())?;
        }
        if auth.book.open != leases {
            self.store.put_leases(&auth.book.open)?;
        }
        if auth.book.lapsed != lapsed {
            self.store.put_lapsed(&auth.book.lapsed)?;
        }
        let low = auth.low;
        self.write_low(low)?;
        Ok(out)
    }

    /// Decides one request (or records a refusal decided before): revocation and
    /// disabling first, then the limits and credits; the outcome waits for the
    /// flush.
    pub fn admit(&mut self, a: &Admission, now_ms: i64) -> Result<Answer, Problem> {
        let answer = self.decide(now_ms, |auth| auth.admit(a, now_ms))?;
        *self.pending.entry(a.key.clone()).or_default() += 1;
        Ok(answer)
    }

    /// Answers an isolate's lease call: settles its returns, takes its report,
    /// and grants a new lease; the report's outcomes wait for the flush.
    pub fn lease(&mut self, r: &LeaseRequest, now_ms: i64) -> Result<LeaseAnswer, Problem> {
        let answer = self.decide(now_ms, |auth| auth.lease(r, now_ms))?;
        if !r.report.is_empty() {
            *self.pending.entry(r.key.clone()).or_default() += r.report.outcomes.len();
        }
        Ok(answer)
    }

    /// Applies an admin's change of the chain's credits.
    pub fn change_credits(
        &mut self,
        change: CreditsChange,
        now_ms: i64,
    ) -> Result<CreditsChanged, Problem> {
        self.decide(now_ms, |auth| {
            auth.change_credits(change, now_ms.div_euclid(1000))
        })
    }

    /// Applies an admin's change (revoke, enable, disable) and writes it.
    pub fn change(&mut self, change: &StateChange, now_ms: i64) -> Result<KeyState, Problem> {
        let auth = self.authority(now_ms)?;
        let state = auth.change(change);
        let usage = auth.usage.get(&change.key).cloned().unwrap_or_default();
        self.store.put_key(&change.key, &state, &usage)?;
        Ok(state)
    }

    /// Whether the object holds `key`'s state (else its first request places it).
    pub fn knows(&mut self, key: &str, now_ms: i64) -> Result<bool, Problem> {
        Ok(self.authority(now_ms)?.states.contains_key(key))
    }

    /// Whether a call about `key` from `team` must first place it (ask its
    /// team directory): not when the object knows the key. A call that names no
    /// team (a release's from before teams were sent) for a key the object never
    /// met is refused: judged from a blank state, a revoked key or one with
    /// credits would be let through.
    pub fn must_place(&mut self, key: &str, team: &str, now_ms: i64) -> Result<bool, Problem> {
        if self.knows(key, now_ms)? {
            return Ok(false);
        }
        if team.is_empty() {
            return Err(Problem::new(
                crate::problem::Code::Unavailable,
                "the call names no team, and this key's object has not met the key",
            ));
        }
        Ok(true)
    }

    /// A key's first request: its state taken from its team directory's
    /// `record` (none: a blank state), unless an admin's change got here first;
    /// the chain's first key brings the chain's credits, a later one (a
    /// rotation's new key) finds the chain's.
    pub fn place(
        &mut self,
        key: &str,
        record: Option<&KeyRecord>,
        now_ms: i64,
    ) -> Result<(), Problem> {
        let auth = self.authority(now_ms)?;
        if auth.states.contains_key(key) {
            return Ok(());
        }
        let state = record.map_or_else(KeyState::default, |r| KeyState {
            revoked_at: r.revoked_at,
            disabled: !r.enabled,
            rev: r.rev,
        });
        let first = auth.states.is_empty();
        auth.adopt_credits(first, record.and_then(|r| r.credits));
        auth.states.insert(key.to_string(), state);
        let usage = auth.usage.entry(key.to_string()).or_default().clone();
        let credits = auth.credits.filter(|_| first);
        if let Some(c) = &credits {
            self.store.put_credits(Some(c))?;
        }
        self.store.put_key(key, &state, &usage)
    }

    /// One key's usage at `now_ms` (its requests today from its series), and its
    /// last outcomes and series when asked.
    pub fn usage(&mut self, q: &UsageQuery, now_ms: i64) -> Result<UsageReport, Problem> {
        let auth = self.authority(now_ms)?;
        let series = auth.series.get(&q.key);
        let mut usage = auth.usage.get(&q.key).cloned().unwrap_or_default();
        usage.today = series.map_or(0, |s| s.today(now_ms).admitted);
        let outcomes = match (q.outcomes, auth.outcomes.get(&q.key)) {
            (true, Some(o)) => o.iter().cloned().collect(),
            _ => vec![],
        };
        let series = q
            .outcomes
            .then(|| series.cloned().unwrap_or_default().window(now_ms).encode());
        Ok(UsageReport {
            usage,
            outcomes,
            credits: auth.credits,
            series,
        })
    }

    /// Writes the pending usage figures, series and outcomes. Of a key's new
    /// outcomes only the newest [`OUTCOMES_KEPT`] are written: the store keeps
    /// no more, so a busy key costs at most that many per flush.
    pub fn flush(&mut self, now_ms: i64) -> Result<(), Problem> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.authority(now_ms)?;
        let pending = std::mem::take(&mut self.pending);
        let auth = self.loaded.as_ref().expect("loaded");
        for (key, n) in &pending {
            let new: Vec<Outcome> = auth.newest_outcomes(key, *n).cloned().collect();
            self.store.add_outcomes(key, &new, OUTCOMES_KEPT)?;
            let usage = auth.usage.get(key).cloned().unwrap_or_default();
            let state = auth.states.get(key).copied().unwrap_or_default();
            self.store.put_key(key, &state, &usage)?;
            if let Some(series) = auth.series.get(key) {
                self.store.put_series(key, series)?;
            }
        }
        Ok(())
    }

    /// Claims the low-credit notice if one is due (`percent`:
    /// `CREDITS_LOW_PERCENT`), writing the watch and the notice first: a
    /// period's notice is never sent twice, and never lost to an eviction.
    pub fn claim_low(
        &mut self,
        key: &str,
        team: &str,
        percent: u8,
        now_ms: i64,
    ) -> Result<Option<CreditsLow>, Problem> {
        let auth = self.authority(now_ms)?;
        let notice = auth.low_credits(key, team, percent, now_ms);
        let low = auth.low;
        self.write_low(low)?;
        if let Some(n) = &notice {
            let mut due = self.due_notices()?;
            due.push(DueNotice {
                notice: n.clone(),
                tries: 0,
            });
            self.write_notices(due)?;
        }
        Ok(notice)
    }

    /// The claimed notices not yet delivered.
    pub fn due_notices(&mut self) -> Result<Vec<DueNotice>, Problem> {
        if self.notices.is_none() {
            self.notices = Some(self.store.notices()?);
        }
        Ok(self.notices.clone().unwrap_or_default())
    }

    /// Records one delivery of the notice `id`, `sent` or not, and says what
    /// follows ([`after_delivery`]): a sent notice is done, a failed one waits
    /// for another try, and the last failure releases the period's claim for
    /// the next request to claim again. `None`: no such notice is due.
    pub fn delivered(
        &mut self,
        id: &str,
        sent: bool,
        now_ms: i64,
    ) -> Result<Option<Delivery>, Problem> {
        let mut due = self.due_notices()?;
        let Some(at) = due.iter().position(|d| d.notice.id() == id) else {
            return Ok(None);
        };
        let next = after_delivery(due[at].tries, sent);
        let since = due[at].notice.since;
        match next {
            Delivery::Again(tries) => due[at].tries = tries,
            Delivery::Sent | Delivery::Release => {
                due.remove(at);
            }
        }
        if next == Delivery::Release {
            self.release_low(since, now_ms)?;
        }
        self.write_notices(due)?;
        Ok(Some(next))
    }

    fn write_notices(&mut self, due: Vec<DueNotice>) -> Result<(), Problem> {
        self.store.put_notices(&due)?;
        self.notices = Some(due);
        Ok(())
    }

    /// Releases the claim of the notice of the period that began at `since`
    /// (its delivery failed for the last time).
    fn release_low(&mut self, since: i64, now_ms: i64) -> Result<(), Problem> {
        let auth = self.authority(now_ms)?;
        auth.low.release(since);
        let low = auth.low;
        self.write_low(low)
    }

    /// Writes the low-credit watch, if it changed since it was last written.
    fn write_low(&mut self, low: LowWatch) -> Result<(), Problem> {
        if low != self.low_saved {
            self.store.put_low(&low)?;
            self.low_saved = low;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
