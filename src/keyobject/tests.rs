use super::*;
use crate::credits::CreditsChange;
use crate::lease::Holder;
use crate::problem::Code;
use crate::ratelimit::LimitPolicy;
use proptest::prelude::*;
use std::collections::VecDeque;

const NOW_MS: i64 = 1_800_000_000_000;

/// A key object's storage in memory, that can be told to fail: the shape of the
/// shell's SQLite tables, one field a table.
#[derive(Debug, Clone, Default)]
struct Memory {
    keys: BTreeMap<String, (KeyState, Usage)>,
    counters: BTreeMap<String, Counter>,
    credits: Option<Credits>,
    leases: Vec<Lease>,
    series: BTreeMap<String, Series>,
    outcomes: BTreeMap<String, VecDeque<Outcome>>,
    low: Option<LowWatch>,
    lapsed: Vec<Lease>,
    notices: Vec<DueNotice>,
    /// Every write fails while set.
    failing: bool,
    /// How many writes succeeded.
    writes: usize,
}

impl Memory {
    fn write(&mut self) -> Result<(), Problem> {
        if self.failing {
            return Err(Problem::new(Code::Unavailable, "the store is failing"));
        }
        self.writes += 1;
        Ok(())
    }
}

impl Store for Memory {
    fn load(&mut self) -> Result<ChainState, Problem> {
        if self.failing {
            return Err(Problem::new(Code::Unavailable, "the store is failing"));
        }
        let mut auth = ChainState::default();
        for (id, (state, usage)) in &self.keys {
            auth.states.insert(id.clone(), *state);
            auth.usage.insert(id.clone(), usage.clone());
        }
        auth.counters = self.counters.clone();
        auth.credits = self.credits;
        auth.book.open = self.leases.clone();
        auth.series = self.series.clone();
        auth.outcomes = self.outcomes.clone();
        auth.low = self.low.unwrap_or_default();
        auth.book.lapsed = self.lapsed.clone();
        Ok(auth)
    }
    fn put_key(&mut self, id: &str, state: &KeyState, usage: &Usage) -> Result<(), Problem> {
        self.write()?;
        self.keys.insert(id.into(), (*state, usage.clone()));
        Ok(())
    }
    fn put_counter(&mut self, name: &str, counter: Option<&Counter>) -> Result<(), Problem> {
        self.write()?;
        match counter {
            Some(c) => self.counters.insert(name.into(), *c),
            None => self.counters.remove(name),
        };
        Ok(())
    }
    fn put_credits(&mut self, credits: Option<&Credits>) -> Result<(), Problem> {
        self.write()?;
        self.credits = credits.copied();
        Ok(())
    }
    fn put_leases(&mut self, open: &[Lease]) -> Result<(), Problem> {
        self.write()?;
        self.leases = open.to_vec();
        Ok(())
    }
    fn put_series(&mut self, key: &str, series: &Series) -> Result<(), Problem> {
        self.write()?;
        self.series.insert(key.into(), series.clone());
        Ok(())
    }
    fn add_outcomes(&mut self, key: &str, new: &[Outcome], keep: usize) -> Result<(), Problem> {
        self.write()?;
        let kept = self.outcomes.entry(key.into()).or_default();
        kept.extend(new.iter().cloned());
        while kept.len() > keep {
            kept.pop_front();
        }
        Ok(())
    }
    fn put_low(&mut self, low: &LowWatch) -> Result<(), Problem> {
        self.write()?;
        self.low = Some(*low);
        Ok(())
    }
    fn put_lapsed(&mut self, lapsed: &[Lease]) -> Result<(), Problem> {
        self.write()?;
        self.lapsed = lapsed.to_vec();
        Ok(())
    }
    fn notices(&mut self) -> Result<Vec<DueNotice>, Problem> {
        if self.failing {
            return Err(Problem::new(Code::Unavailable, "the store is failing"));
        }
        Ok(self.notices.clone())
    }
    fn put_notices(&mut self, due: &[DueNotice]) -> Result<(), Problem> {
        self.write()?;
        self.notices = due.to_vec();
        Ok(())
    }
}

fn policies() -> Vec<LimitPolicy> {
    vec![LimitPolicy {
        name: "burst".into(),
        limit: 3,
        window_s: 60,
    }]
}

fn admission(key: &str, cost: u64) -> Admission {
    Admission {
        key: key.into(),
        team: "acme".into(),
        policies: policies(),
        method: "GET".into(),
        path: "/documents/1".into(),
        denial: None,
        cost,
        rev: None,
    }
}

fn credits(remaining: u64) -> Credits {
    Credits {
        remaining,
        refill: None,
        since: NOW_MS / 1000,
    }
}

fn record(credits: Option<Credits>) -> KeyRecord {
    KeyRecord {
        id: "key_a".into(),
        team: "acme".into(),
        enabled: true,
        credits,
        ..Default::default()
    }
}

/// What storage holds of an object's state: every field a restart keeps (a
/// key's usage of nothing yet is the same with or without its entry).
fn persisted(auth: &ChainState) -> impl PartialEq + std::fmt::Debug {
    let mut usage = auth.usage.clone();
    usage.retain(|_, u| *u != Usage::default());
    (
        auth.states.clone(),
        usage,
        auth.counters.clone(),
        auth.credits,
        auth.book.open.clone(),
        auth.book.lapsed.clone(),
        auth.series.clone(),
        auth.outcomes.clone(),
        auth.low,
    )
}

#[test]
fn a_decision_is_written_before_it_answers() {
    let mut o = KeyObject::new(Memory::default());
    o.place("key_a", Some(&record(Some(credits(10)))), NOW_MS)
        .unwrap();
    assert_eq!(
        o.store().credits,
        Some(credits(10)),
        "the first key brings the chain's credits"
    );
    let answer = o.admit(&admission("key_a", 2), NOW_MS).unwrap();
    assert!(answer.verdict.unwrap().admitted);
    // Counters and credits are written at once; usage waits for the flush.
    assert_eq!(o.store().counters.values().map(|c| c.count).sum::<u32>(), 1);
    assert_eq!(o.store().credits.map(|c| c.remaining), Some(8));
    assert!(o.pending());
    assert_eq!(o.store().keys["key_a"].1.requests, 0);
    o.flush(NOW_MS).unwrap();
    assert!(!o.pending());
    assert_eq!(o.store().keys["key_a"].1.requests, 1);
    assert_eq!(o.store().outcomes["key_a"].len(), 1);
    // Nothing pending: a flush writes nothing.
    let writes = o.store().writes;
    o.flush(NOW_MS).unwrap();
    assert_eq!(o.store().writes, writes);
}

/// A lease call's report carries the isolate's outcomes: each is written by the
/// next flush, with the key's usage.
#[test]
fn a_reports_outcomes_wait_for_the_flush() {
    let mut o = KeyObject::new(Memory::default());
    o.place("key_a", Some(&record(None)), NOW_MS).unwrap();
    let mut h = Holder::default();
    for i in 0..3 {
        h.record(Outcome {
            at_ms: NOW_MS + i,
            method: "GET".into(),
            path: format!("/documents/{i}"),
            status: None,
            code: None,
        });
    }
    let r = h.request("key_a", "i1", &policies(), NOW_MS + 5, 1_000, true);
    assert_eq!(r.report.outcomes.len(), 3);
    o.lease(&r, NOW_MS + 5).unwrap();
    assert!(o.pending());
    assert!(!o.store().outcomes.contains_key("key_a"));
    o.flush(NOW_MS + 5).unwrap();
    let paths: Vec<&str> = o.store().outcomes["key_a"]
        .iter()
        .map(|o| o.path.as_str())
        .collect();
    assert_eq!(paths, ["/documents/0", "/documents/1", "/documents/2"]);
    assert_eq!(o.store().keys["key_a"].1.requests, 3);
}

#[test]
fn placing_takes_the_records_state_once() {
    let mut o = KeyObject::new(Memory::default());
    let disabled = KeyRecord {
        enabled: false,
        revoked_at: Some(5),
        ..record(None)
    };
    assert!(!o.knows("key_a", NOW_MS).unwrap());
    o.place("key_a", Some(&disabled), NOW_MS).unwrap();
    let state = o.store().keys["key_a"].0;
    assert_eq!(
        state,
        KeyState {
            revoked_at: Some(5),
            disabled: true,
            rev: 0,
        }
    );
    // Placed once: a later record changes nothing here.
    o.place("key_a", Some(&record(None)), NOW_MS).unwrap();
    assert_eq!(o.store().keys["key_a"].0, state);
    // A rotation's new key finds the chain's credits; it brings none.
    let mut o = KeyObject::new(Memory::default());
    o.place("key_a", Some(&record(Some(credits(10)))), NOW_MS)
        .unwrap();
    let heir = KeyRecord {
        id: "key_b".into(),
        ..record(Some(credits(1000)))
    };
    o.place("key_b", Some(&heir), NOW_MS).unwrap();
    assert_eq!(o.store().credits, Some(credits(10)));
    // A key its directory does not know gets a blank state.
    o.place("key_c", None, NOW_MS).unwrap();
    assert_eq!(o.store().keys["key_c"].0, KeyState::default());
    // An admin's change that came first stands.
    let mut o = KeyObject::new(Memory::default());
    let revoke = StateChange {
        key: "key_a".into(),
        revoked_at: Some(7),
        enabled: None,
        rev: None,
    };
    o.change(&revoke, NOW_MS).unwrap();
    o.place("key_a", Some(&record(None)), NOW_MS).unwrap();
    assert_eq!(o.store().keys["key_a"].0.revoked_at, Some(7));
}

#[test]
fn lease_ids_never_repeat_across_restarts() {
    let mut auth = ChainState::default();
    seed_lease_ids(&mut auth, 1_000);
    assert_eq!(auth.book.next_id, 1_000 << 10);
    auth.book.open.push(Lease {
        id: u64::MAX - 1,
        holder: "i1".into(),
        granted: 1,
        windows: vec![],
        deadline_ms: 0,
        credits: 0,
        credits_since: 0,
        ask: 0,
    });
    seed_lease_ids(&mut auth, 1_000);
    assert_eq!(auth.book.next_id, u64::MAX - 1);
    seed_lease_ids(&mut ChainState::default(), -5);
    // A restart later seeds past every id granted before it.
    let mut o = KeyObject::new(Memory::default());
    o.place("key_a", Some(&record(None)), NOW_MS).unwrap();
    let mut h = Holder::default();
    let r = h.request("key_a", "i1", &policies(), NOW_MS, 1_000, false);
    let granted = o.lease(&r, NOW_MS).unwrap();
    let first = granted.grant.unwrap().id;
    assert!(first > 0);
    let mut again = KeyObject::new(o.store().clone());
    assert!(again.authority(NOW_MS + 1).unwrap().book.next_id > first);
}

#[test]
fn usage_reports_today_outcomes_and_series() {
    let mut o = KeyObject::new(Memory::default());
    o.place("key_a", Some(&record(Some(credits(10)))), NOW_MS)
        .unwrap();
    o.admit(&admission("key_a", 1), NOW_MS).unwrap();
    let q = |outcomes| UsageQuery {
        key: "key_a".into(),
        outcomes,
    };
    let r = o.usage(&q(true), NOW_MS).unwrap();
    assert_eq!((r.usage.requests, r.usage.today), (1, 1));
    assert_eq!(r.outcomes.len(), 1);
    assert_eq!(r.credits.map(|c| c.remaining), Some(9));
    assert!(r.series.is_some());
    let r = o.usage(&q(false), NOW_MS).unwrap();
    assert_eq!((r.outcomes.len(), r.series), (0, None));
    assert_eq!(r.usage.today, 1);
    let r = o
        .usage(
            &UsageQuery {
                key: "key_z".into(),
                outcomes: true,
            },
            NOW_MS,
        )
        .unwrap();
    assert_eq!((r.usage.requests, r.outcomes.len()), (0, 0));
}

#[test]
fn a_failing_store_fails_the_call() {
    let mut o = KeyObject::new(Memory {
        failing: true,
        ..Default::default()
    });
    assert_eq!(
        o.knows("key_a", NOW_MS).unwrap_err().code,
        Code::Unavailable
    );
    let mut o = KeyObject::new(Memory::default());
    o.place("key_a", Some(&record(Some(credits(10)))), NOW_MS)
        .unwrap();
    o.store().failing = true;
    assert!(o.admit(&admission("key_a", 1), NOW_MS).is_err());
    assert!(o.place("key_b", None, NOW_MS).is_err());
    assert!(o.change_credits(CreditsChange::Remove, NOW_MS).is_err());
    o.store().failing = false;
    o.flush(NOW_MS).unwrap();
}

/// An object whose chain spent 6 of its 10 credits: below 50%.
fn spent_to_four() -> KeyObject<Memory> {
    let mut o = KeyObject::new(Memory::default());
    o.place("key_a", Some(&record(Some(credits(10)))), NOW_MS)
        .unwrap();
    for _ in 0..3 {
        o.admit(&admission("key_a", 2), NOW_MS).unwrap();
    }
    o
}

#[test]
fn the_low_credit_watch_is_written_when_it_changes() {
    let mut o = spent_to_four();
    // 4 of 10 left: below 50%, claimed and written once.
    let n = o.claim_low("key_a", "acme", 50, NOW_MS).unwrap().unwrap();
    assert_eq!((n.remaining, n.of), (4, 10));
    assert!(o.store().low.unwrap().claimed);
    let writes = o.store().writes;
    assert_eq!(o.claim_low("key_a", "acme", 50, NOW_MS).unwrap(), None);
    assert_eq!(o.store().writes, writes, "unchanged: not written again");
    // The last failed delivery releases the claim.
    for _ in 0..NOTICE_TRIES {
        o.delivered(&n.id(), false, NOW_MS).unwrap();
    }
    assert!(!o.store().low.unwrap().claimed);
    assert!(o.claim_low("key_a", "acme", 50, NOW_MS).unwrap().is_some());
}

/// A claimed notice is written with its claim: an object evicted before its
/// alarm finds it due on its next start, with the tries it had, until it is
/// sent or released.
#[test]
fn a_claimed_notice_outlives_a_restart_until_it_is_delivered() {
    let mut o = spent_to_four();
    let n = o.claim_low("key_a", "acme", 50, NOW_MS).unwrap().unwrap();
    let mut restarted = KeyObject::new(o.store().clone());
    let due = restarted.due_notices().unwrap();
    assert_eq!(
        due,
        [DueNotice {
            notice: n.clone(),
            tries: 0
        }]
    );
    assert_eq!(
        restarted.delivered(&n.id(), false, NOW_MS).unwrap(),
        Some(Delivery::Again(1))
    );
    let mut again = KeyObject::new(restarted.store().clone());
    assert_eq!(again.due_notices().unwrap()[0].tries, 1);
    assert_eq!(again.delivered("ntc_other", true, NOW_MS).unwrap(), None);
    assert_eq!(
        again.delivered(&n.id(), true, NOW_MS).unwrap(),
        Some(Delivery::Sent)
    );
    assert!(again.due_notices().unwrap().is_empty());
    assert!(KeyObject::new(again.store().clone())
        .due_notices()
        .unwrap()
        .is_empty());
    // Sent: the period's claim stands, no second notice.
    assert!(again.store().low.unwrap().claimed);
    assert_eq!(again.claim_low("key_a", "acme", 50, NOW_MS).unwrap(), None);
    // A store that fails to write the notice fails the claim with the watch.
    let mut failing = spent_to_four();
    failing.store().failing = true;
    assert!(failing.claim_low("key_a", "acme", 50, NOW_MS).is_err());
}

#[test]
fn a_notice_is_tried_five_times_then_released() {
    assert_eq!(after_delivery(0, true), Delivery::Sent);
    assert_eq!(after_delivery(4, true), Delivery::Sent);
    assert_eq!(after_delivery(0, false), Delivery::Again(1));
    assert_eq!(after_delivery(3, false), Delivery::Again(4));
    assert_eq!(after_delivery(4, false), Delivery::Release);
    let tries = (0..)
        .scan(0, |t, _| match after_delivery(*t, false) {
            Delivery::Again(n) => {
                *t = n;
                Some(n)
            }
            _ => None,
        })
        .count();
    assert_eq!(tries + 1, NOTICE_TRIES as usize);
}

/// One step of a key object's life.
#[derive(Debug, Clone)]
enum Op {
    Admit(usize, u64),
    Lease(usize),
    Return(usize),
    Revoke(usize),
    Disable(usize, bool),
    SetCredits(u64),
    Deliver(bool),
    Flush,
    Later(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..3, 0u64..3).prop_map(|(k, c)| Op::Admit(k, c)),
        2 => (0usize..3).prop_map(Op::Lease),
        1 => (0usize..3).prop_map(Op::Return),
        1 => (0usize..3).prop_map(Op::Revoke),
        1 => (0usize..3, any::<bool>()).prop_map(|(k, d)| Op::Disable(k, d)),
        1 => (0u64..20).prop_map(Op::SetCredits),
        1 => any::<bool>().prop_map(Op::Deliver),
        2 => Just(Op::Flush),
        1 => (0i64..90_000).prop_map(Op::Later),
    ]
}

const KEYS: [&str; 3] = ["key_a", "key_b", "key_c"];

proptest! {
    /// Whatever happens to an object, once its pending usage is flushed, a
    /// restart reads back exactly the state it holds: keys, usage, counters,
    /// credits, open leases, series, outcomes and the low-credit watch.
    #[test]
    fn persisting_then_reloading_gives_the_same_state(ops in prop::collection::vec(op(), 1..60)) {
        let mut o = KeyObject::new(Memory::default());
        let mut now = NOW_MS;
        let mut holders: Vec<Holder> = vec![Holder::default(); 3];
        o.place("key_a", Some(&record(Some(credits(12)))), now).unwrap();
        for op in ops {
            match op {
                Op::Admit(k, cost) => {
                    o.place(KEYS[k], None, now).unwrap();
                    o.admit(&admission(KEYS[k], cost), now).unwrap();
                }
                Op::Lease(k) | Op::Return(k) => {
                    o.place(KEYS[k], None, now).unwrap();
                    let closing = matches!(op, Op::Return(_));
                    let _ = holders[k].admit(now, 1_000, 1);
                    let r = holders[k].request(KEYS[k], "i1", &policies(), now, 1_000, closing);
                    let answer = o.lease(&r, now).unwrap();
                    holders[k].apply(&answer);
                }
                Op::Revoke(k) => {
                    o.change(&StateChange { key: KEYS[k].into(), revoked_at: Some(now / 1000), enabled: None, rev: None }, now).unwrap();
                }
                Op::Disable(k, d) => {
                    o.change(&StateChange { key: KEYS[k].into(), revoked_at: None, enabled: Some(!d), rev: None }, now).unwrap();
                }
                Op::SetCredits(n) => {
                    let change = CreditsChange::Update { remaining: Some(n), add: None, refill: None };
                    let _ = o.change_credits(change, now).unwrap();
                    let _ = o.claim_low("key_a", "acme", 50, now).unwrap();
                }
                Op::Deliver(sent) => {
                    if let Some(d) = o.due_notices().unwrap().first() {
                        o.delivered(&d.notice.id(), sent, now).unwrap();
                    }
                }
                Op::Flush => o.flush(now).unwrap(),
                Op::Later(ms) => now += ms,
            }
        }
        o.flush(now).unwrap();
        let live = persisted(o.authority(now).unwrap());
        let due = o.due_notices().unwrap();
        let mut restarted = KeyObject::new(o.store().clone());
        let read = persisted(restarted.authority(now).unwrap());
        prop_assert_eq!(read, live);
        prop_assert_eq!(restarted.due_notices().unwrap(), due);
    }
}

/// A lease that lapsed unreturned took its credits; its late return gives back
/// what it did not spend, across a restart of the object in between.
#[test]
fn a_lapsed_lease_is_written_and_its_late_return_survives_a_restart() {
    let mut o = KeyObject::new(Memory::default());
    o.place("key_a", Some(&record(Some(credits(20)))), NOW_MS)
        .unwrap();
    let mut h = Holder::default();
    let _ = h.admit(NOW_MS, 1_000, 1);
    let r = h.request("key_a", "i1", &policies(), NOW_MS, 1_000, false);
    let answer = o.lease(&r, NOW_MS).unwrap();
    h.apply(&answer);
    let held = o.store().leases[0].credits;
    assert!(held > 0, "the lease holds credits");
    // Long past its deadline, the next decision lapses it: its credits are gone.
    let later = NOW_MS + 600_000;
    o.admit(&admission("key_a", 0), later).unwrap();
    assert!(o.store().leases.is_empty());
    assert_eq!(o.store().lapsed.len(), 1);
    let after_lapse = o.store().credits.unwrap().remaining;
    assert_eq!(after_lapse, 20 - held);
    // The object restarts; the late return (nothing spent) still gives them back.
    let mut restarted = KeyObject::new(o.store().clone());
    let back = h.request("key_a", "i1", &policies(), later, 1_000, true);
    assert_eq!(back.returns.len(), 1);
    restarted.lease(&back, later).unwrap();
    assert_eq!(restarted.store().credits.unwrap().remaining, 20);
    assert!(restarted.store().lapsed.is_empty());
}

/// A call that names no team is judged only for a key the object already met.
#[test]
fn a_call_without_a_team_never_places_a_key() {
    let mut o = KeyObject::new(Memory::default());
    assert!(o.must_place("key_a", "acme", NOW_MS).unwrap());
    let refused = o.must_place("key_a", "", NOW_MS).unwrap_err();
    assert_eq!(refused.code, Code::Unavailable);
    o.place("key_a", Some(&record(None)), NOW_MS).unwrap();
    assert!(!o.must_place("key_a", "", NOW_MS).unwrap());
    assert!(!o.must_place("key_a", "acme", NOW_MS).unwrap());
}
