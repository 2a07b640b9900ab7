//! A team directory's transactions, behind a small storage trait: the team's
//! Durable Object implements [`Store`] over SQLite (`src/shell/directory.rs`), and
//! the tests below over memory. Every call is answered here, with no `await`
//! between its reads and writes (the object runs it in one synchronous step): the
//! duplicate-hash conflict, the live-key limit, a change and its audit entry,
//! placing a key's object, claiming notices, and paging.

use super::{apply, Applied, AuditEntry, Call, Change, KeyCursor, Page, Reply, Stored};
use crate::field::FieldError;
use crate::notice::{self, Notice};
use crate::problem::{Code, Problem};
use crate::record::KeyRecord;
use serde::Serialize;
use serde_json::json;

/// What a team's directory stores. A failing store answers `Err` with an
/// `UNAVAILABLE` problem; the call then fails as a whole.
pub trait Store {
    /// One key by id.
    fn get(&self, id: &str) -> Result<Option<Stored>, Problem>;
    /// Whether a key with this hash is stored.
    fn hash_known(&self, hash: &str) -> Result<bool, Problem>;
    /// How many keys are live at `now_ms`, as [`KeyRecord::is_live`] says.
    fn live(&self, now_ms: i64) -> Result<u64, Problem>;
    /// Adds or replaces a key (by id).
    fn put(&mut self, stored: &Stored) -> Result<(), Problem>;
    /// Appends an audit entry (its `seq` is the store's to assign).
    fn append(&mut self, entry: AuditEntry) -> Result<(), Problem>;
    /// At most `limit` keys, newest first (`created_at`, then id, descending),
    /// after `after`.
    fn keys(&self, after: Option<&KeyCursor>, limit: u32) -> Result<Vec<KeyRecord>, Problem>;
    /// At most `limit` audit entries, newest first, with `seq` below `before`, of
    /// the key `key` only when one is given.
    fn audit(&self, before: i64, limit: u32, key: Option<&str>)
        -> Result<Vec<AuditEntry>, Problem>;
    /// Keys neither revoked nor due to be, expiring after `now_ms` and at or before
    /// `horizon_ms`.
    fn expiring(&self, now_ms: i64, horizon_ms: i64) -> Result<Vec<KeyRecord>, Problem>;
    /// The thresholds (days) already claimed for a key's notices.
    fn claimed(&self, key_id: &str) -> Result<Vec<u32>, Problem>;
    /// Claims (`true`) or releases a threshold of a key's notices.
    fn claim(&mut self, key_id: &str, days: u32, claimed: bool) -> Result<(), Problem>;
    /// A key locator shard's record under `hash`, if one was noted.
    fn located(&self, hash: &str) -> Result<Option<Stored>, Problem>;
    /// Notes a record under its hash in a key locator shard, unless the hash
    /// holds one already.
    fn note(&mut self, stored: &Stored) -> Result<(), Problem>;
}

/// Answers one call: the [`Reply`] as JSON text, a refusal included; `Err` only
/// when the store failed.
pub fn answer(store: &mut impl Store, call: Call, now_ms: i64) -> Result<String, Problem> {
    match call {
        Call::Insert {
            hash,
            record,
            max_live,
            audit,
        } => reply(insert(store, &hash, &record, max_live, audit, now_ms)),
        Call::Apply {
            id,
            change,
            audit,
            judged,
        } => reply(change_one(
            store,
            &id,
            &change,
            audit,
            judged.as_deref(),
            now_ms,
        )),
        Call::Get { id } => reply(Ok(store.get(&id)?)),
        Call::Place { id } => reply(Ok(place(store, &id)?)),
        Call::List { cursor, limit } => reply(list(store, cursor.as_deref(), limit)),
        Call::Audit { cursor, limit, key } => {
            reply(audit_page(store, cursor.as_deref(), limit, key.as_deref()))
        }
        Call::Expiring {
            now_ms,
            thresholds,
            max,
        } => reply(Ok(claim_notices(store, now_ms, &thresholds, max)?)),
        Call::Note { hash, record } => reply(note(store, hash, *record)),
        Call::Locate { hash } => reply(match crate::locator::valid_hash(&hash) {
            true => store.located(&hash),
            false => Err(malformed_hash()),
        }),
        Call::Unclaim { key_id, days } => {
            for d in days {
                store.claim(&key_id, d, false)?;
            }
            reply(Ok(()))
        }
    }
}

fn malformed_hash() -> Problem {
    Problem::new(
        Code::ValidationFailed,
        "a key hash is 64 lowercase hex digits",
    )
}

/// Notes a new key in a locator shard (the first record of a hash is kept).
fn note(store: &mut impl Store, hash: String, record: KeyRecord) -> Result<(), Problem> {
    if !crate::locator::valid_hash(&hash) {
        return Err(malformed_hash());
    }
    store.note(&Stored { hash, record })
}

/// A refusal travels as a [`Reply::Err`]; a storage failure fails the whole call.
fn reply<T: Serialize>(result: Result<T, Problem>) -> Result<String, Problem> {
    let text = match result {
        Ok(v) => serde_json::to_string(&Reply::Ok(v)),
        Err(p) if p.code == Code::Unavailable => return Err(p),
        Err(p) => serde_json::to_string(&Reply::<T>::refuse(&p)),
    };
    text.map_err(|e| {
        Problem::new(
            Code::Unavailable,
            format!("a reply could not be written: {e}"),
        )
    })
}

/// Adds a key, unless its hash is known or the team is at `max_live` live keys.
fn insert(
    store: &mut impl Store,
    hash: &str,
    record: &KeyRecord,
    max_live: u32,
    audit: AuditEntry,
    now_ms: i64,
) -> Result<(), Problem> {
    if store.hash_known(hash)? {
        return Err(Problem::new(
            Code::Conflict,
            "this key is already registered",
        ));
    }
    room_for_one(store, max_live, now_ms)?;
    store.put(&Stored {
        hash: hash.to_string(),
        record: record.clone(),
    })?;
    store.append(audit)
}

/// Refuses when the team already holds `max_live` live keys (a key in a
/// rotation's grace, or disabled, still counts).
fn room_for_one(store: &impl Store, max_live: u32, now_ms: i64) -> Result<(), Problem> {
    let live = store.live(now_ms)?;
    if live >= u64::from(max_live) {
        return Err(Problem::new(
            Code::TeamKeyLimit,
            format!("the team already holds {live} live keys, the most MAX_KEYS_PER_TEAM ({max_live}) allows; revoke unused keys first"),
        )
        .with("live_keys", json!(live))
        .with("max_keys_per_team", json!(max_live)));
    }
    Ok(())
}

/// Applies a change to one key, with its audit entry (completed with the time the
/// key is revoked, if it is).
fn change_one(
    store: &mut impl Store,
    id: &str,
    change: &Change,
    mut audit: AuditEntry,
    judged: Option<&KeyRecord>,
    now_ms: i64,
) -> Result<Applied, Problem> {
    let stored = store
        .get(id)?
        .ok_or_else(|| Problem::new(Code::NotFound, "no such key in this team"))?;
    if judged.is_some_and(|j| !super::same_record(&stored.record, j)) {
        return Err(super::changed_since_judged());
    }
    let applied = apply(&stored, change, now_ms)?;
    if let Change::Rotate { max_live, .. } = change {
        // With a grace, the old key stays live beside the new one.
        if applied.key.record.is_live(now_ms) {
            room_for_one(store, *max_live, now_ms)?;
        }
    }
    if let Some(new) = &applied.new_key {
        if store.hash_known(&new.hash)? {
            return Err(Problem::new(Code::Conflict, "the new key collides; retry"));
        }
        store.put(new)?;
    }
    store.put(&applied.key)?;
    if let (Some(obj), Some(at)) = (audit.details.as_object_mut(), applied.key.record.revoked_at) {
        obj.insert("revoked_at".into(), json!(crate::expiry::rfc3339(at)));
    }
    store.append(audit)?;
    Ok(applied)
}

/// A key's first request reached its object: marks the key placed, once, and
/// answers its record in the same step.
fn place(store: &mut impl Store, id: &str) -> Result<Option<Stored>, Problem> {
    let mut stored = store.get(id)?;
    if let Some(s) = stored.as_mut().filter(|s| s.record.placed == Some(false)) {
        s.record.placed = Some(true);
        store.put(s)?;
    }
    Ok(stored)
}

/// The expiry notices due at `now_ms`, at most `max`; each is claimed before it is
/// answered, so that it is never sent twice for a threshold.
fn claim_notices(
    store: &mut impl Store,
    now_ms: i64,
    thresholds: &[u32],
    max: u32,
) -> Result<Vec<Notice>, Problem> {
    let Some(days) = thresholds.iter().max() else {
        return Ok(vec![]);
    };
    let horizon_ms = now_ms + i64::from(*days) * 86_400_000;
    let now = now_ms.div_euclid(1000);
    let mut notices = Vec::new();
    for record in store.expiring(now_ms, horizon_ms)? {
        if notices.len() >= max as usize {
            break;
        }
        let claimed = store.claimed(&record.id)?;
        let due = notice::due(record.expires_at.unwrap_or(0), now, thresholds, &claimed);
        let Some(&days) = due.first() else { continue };
        for d in &due {
            store.claim(&record.id, *d, true)?;
        }
        notices.push(Notice {
            record,
            days,
            settles: due,
        });
    }
    Ok(notices)
}

/// A page of at most `limit` items from `limit + 1` read: the extra one says that
/// another page follows, after the cursor of the last item kept.
fn page<T>(mut items: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(cursor)
    } else {
        None
    };
    Page { items, next_cursor }
}

/// The refusal of a cursor that no page handed out.
fn bad_cursor() -> Problem {
    Problem::validation(vec![FieldError::new(
        "cursor",
        "is not a cursor from a previous page",
    )])
}

fn list(store: &impl Store, cursor: Option<&str>, limit: u32) -> Result<Page<KeyRecord>, Problem> {
    let after = match cursor {
        None => None,
        Some(c) => Some(KeyCursor::parse(c).ok_or_else(bad_cursor)?),
    };
    let items = store.keys(after.as_ref(), limit + 1)?;
    Ok(page(items, limit, |r| KeyCursor::of(r).encode()))
}

fn audit_page(
    store: &impl Store,
    cursor: Option<&str>,
    limit: u32,
    key: Option<&str>,
) -> Result<Page<AuditEntry>, Problem> {
    let before = match cursor {
        None => i64::MAX,
        Some(c) => c.parse::<i64>().map_err(|_| bad_cursor())?,
    };
    let items = store.audit(before, limit + 1, key)?;
    Ok(page(items, limit, |e| e.seq.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{KeyUpdate, NewExpiry, Rotate};
    use crate::directory::Action;
    use crate::directory::Page;
    use serde::de::DeserializeOwned;
    use std::collections::BTreeMap;

    /// A team directory in memory, that can be told to fail.
    #[derive(Default)]
    struct Memory {
        keys: BTreeMap<String, Stored>,
        audit: Vec<AuditEntry>,
        claimed: Vec<(String, u32)>,
        located: BTreeMap<String, Stored>,
        failing: bool,
    }

    impl Memory {
        fn check(&self) -> Result<(), Problem> {
            if self.failing {
                Err(Problem::new(Code::Unavailable, "the store is down"))
            } else {
                Ok(())
            }
        }
    }

    impl Store for Memory {
        fn located(&self, hash: &str) -> Result<Option<Stored>, Problem> {
            self.check()?;
            Ok(self.located.get(hash).cloned())
        }
        fn note(&mut self, stored: &Stored) -> Result<(), Problem> {
            self.check()?;
            let entry = self.located.entry(stored.hash.clone());
            entry.or_insert_with(|| stored.clone());
            Ok(())
        }
        fn get(&self, id: &str) -> Result<Option<Stored>, Problem> {
            self.check()?;
            Ok(self.keys.get(id).cloned())
        }
        fn hash_known(&self, hash: &str) -> Result<bool, Problem> {
            self.check()?;
            Ok(self.keys.values().any(|s| s.hash == hash))
        }
        fn live(&self, now_ms: i64) -> Result<u64, Problem> {
            self.check()?;
            Ok(self
                .keys
                .values()
                .filter(|s| s.record.is_live(now_ms))
                .count() as u64)
        }
        fn put(&mut self, stored: &Stored) -> Result<(), Problem> {
            self.check()?;
            self.keys.insert(stored.record.id.clone(), stored.clone());
            Ok(())
        }
        fn append(&mut self, mut entry: AuditEntry) -> Result<(), Problem> {
            self.check()?;
            entry.seq = self.audit.len() as u64 + 1;
            self.audit.push(entry);
            Ok(())
        }
        fn keys(&self, after: Option<&KeyCursor>, limit: u32) -> Result<Vec<KeyRecord>, Problem> {
            self.check()?;
            let mut all: Vec<KeyRecord> = self.keys.values().map(|s| s.record.clone()).collect();
            all.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
            Ok(all
                .into_iter()
                .filter(|r| {
                    after.is_none_or(|c| {
                        (r.created_at, r.id.as_str()) < (c.created_at, c.id.as_str())
                    })
                })
                .take(limit as usize)
                .collect())
        }
        fn audit(
            &self,
            before: i64,
            limit: u32,
            key: Option<&str>,
        ) -> Result<Vec<AuditEntry>, Problem> {
            self.check()?;
            Ok(self
                .audit
                .iter()
                .rev()
                .filter(|e| (e.seq as i64) < before)
                .filter(|e| key.is_none_or(|k| e.key_id == k))
                .take(limit as usize)
                .cloned()
                .collect())
        }
        fn expiring(&self, now_ms: i64, horizon_ms: i64) -> Result<Vec<KeyRecord>, Problem> {
            self.check()?;
            Ok(self
                .keys
                .values()
                .map(|s| s.record.clone())
                .filter(|r| r.revoked_at.is_none())
                .filter(|r| {
                    r.expires_at
                        .is_some_and(|e| e * 1000 > now_ms && e * 1000 <= horizon_ms)
                })
                .collect())
        }
        fn claimed(&self, key_id: &str) -> Result<Vec<u32>, Problem> {
            self.check()?;
            Ok(self
                .claimed
                .iter()
                .filter(|(k, _)| k == key_id)
                .map(|(_, d)| *d)
                .collect())
        }
        fn claim(&mut self, key_id: &str, days: u32, claimed: bool) -> Result<(), Problem> {
            self.check()?;
            self.claimed.retain(|(k, d)| !(k == key_id && *d == days));
            if claimed {
                self.claimed.push((key_id.to_string(), days));
            }
            Ok(())
        }
    }

    const NOW: i64 = 1_800_000_000;
    const NOW_MS: i64 = NOW * 1000;

    fn record(id: &str, created_at: i64) -> KeyRecord {
        KeyRecord {
            id: id.into(),
            team: "acme".into(),
            name: "k".into(),
            created_at,
            enabled: true,
            expires_at: Some(NOW + 30 * 86_400),
            placed: Some(false),
            ..Default::default()
        }
    }

    fn audit(action: Action) -> AuditEntry {
        AuditEntry {
            seq: 0,
            at_ms: NOW_MS,
            actor: "admin".into(),
            action,
            key_id: "key_a".into(),
            request_id: "r".into(),
            details: json!({}),
        }
    }

    /// Answers `call` and reads the reply back: the value, or the refusal's code.
    fn call<T: DeserializeOwned>(store: &mut Memory, call: Call) -> Result<T, Code> {
        let text = answer(store, call, NOW_MS).map_err(|p| p.code)?;
        serde_json::from_str::<Reply<T>>(&text)
            .unwrap()
            .into_result()
            .map_err(|p| p.code)
    }

    fn insert(store: &mut Memory, id: &str, hash: &str, max_live: u32) -> Result<(), Code> {
        call::<()>(
            store,
            Call::Insert {
                hash: hash.into(),
                record: Box::new(record(id, NOW)),
                max_live,
                audit: audit(Action::KeyCreate),
            },
        )
    }

    /// A locator shard keeps the first record noted under a hash (another
    /// team's note of it moves nothing), finds nothing under another, refuses
    /// a malformed hash, and never touches the directory's own keys.
    #[test]
    fn a_locator_shard_keeps_a_hashs_first_record() {
        let mut s = Memory::default();
        let (h1, h2) = ("a1".repeat(32), "b2".repeat(32));
        let note = |s: &mut Memory, hash: &str, team: &str| {
            let record = KeyRecord {
                team: team.into(),
                ..record("key_a", NOW)
            };
            let record = Box::new(record);
            call::<()>(
                s,
                Call::Note {
                    hash: hash.into(),
                    record,
                },
            )
        };
        let locate = |s: &mut Memory, hash: &str| {
            call::<Option<Stored>>(s, Call::Locate { hash: hash.into() })
        };
        assert_eq!(locate(&mut s, &h1), Ok(None));
        assert_eq!(note(&mut s, &h1, "acme"), Ok(()));
        assert_eq!(note(&mut s, &h1, "evil"), Ok(()));
        let found = locate(&mut s, &h1).unwrap().unwrap();
        assert_eq!(
            (found.hash.as_str(), found.record.team.as_str()),
            (h1.as_str(), "acme")
        );
        assert_eq!(locate(&mut s, &h2), Ok(None));
        for bad in ["", "h1", &"A1".repeat(32), &"a1".repeat(31)] {
            assert_eq!(locate(&mut s, bad), Err(Code::ValidationFailed), "{bad:?}");
            assert_eq!(
                note(&mut s, bad, "acme"),
                Err(Code::ValidationFailed),
                "{bad:?}"
            );
        }
        assert_eq!(s.located.len(), 1);
        assert!(s.keys.is_empty() && s.audit.is_empty());
        s.failing = true;
        assert_eq!(locate(&mut s, &h1), Err(Code::Unavailable));
    }

    #[test]
    fn inserts_refuse_known_hashes_and_a_full_team() {
        let mut s = Memory::default();
        assert_eq!(insert(&mut s, "key_a", "h1", 2), Ok(()));
        assert_eq!(insert(&mut s, "key_b", "h1", 2), Err(Code::Conflict));
        assert_eq!(insert(&mut s, "key_b", "h2", 2), Ok(()));
        assert_eq!(insert(&mut s, "key_c", "h3", 2), Err(Code::TeamKeyLimit));
        // Revoked and expired keys leave room; a disabled one does not.
        s.keys.get_mut("key_a").unwrap().record.revoked_at = Some(NOW - 1);
        s.keys.get_mut("key_b").unwrap().record.enabled = false;
        assert_eq!(insert(&mut s, "key_c", "h3", 2), Ok(()));
        s.keys.get_mut("key_c").unwrap().record.expires_at = Some(NOW);
        assert_eq!(insert(&mut s, "key_d", "h4", 2), Ok(()));
        // Every insert that happened has its audit entry, and only those.
        let actions: Vec<u64> = s.audit.iter().map(|e| e.seq).collect();
        assert_eq!(actions, vec![1, 2, 3, 4]);
        // A failing store fails the call; it is not a refusal.
        s.failing = true;
        assert_eq!(insert(&mut s, "key_e", "h5", 9), Err(Code::Unavailable));
    }

    #[test]
    fn changes_keep_their_audit_entries_and_rotations_their_limit() {
        let mut s = Memory::default();
        insert(&mut s, "key_a", "h1", 10).unwrap();
        let revoke = Call::Apply {
            id: "key_a".into(),
            change: Change::Revoke { at: NOW },
            audit: audit(Action::KeyRevoke),
            judged: None,
        };
        let applied: Applied = call(&mut s, revoke).unwrap();
        assert_eq!(applied.key.record.revoked_at, Some(NOW));
        let details = &s.audit.last().unwrap().details;
        assert_eq!(details["revoked_at"], json!(crate::expiry::rfc3339(NOW)));
        let missing = Call::Apply {
            id: "key_zz".into(),
            change: Change::Revoke { at: NOW },
            audit: audit(Action::KeyRevoke),
            judged: None,
        };
        assert_eq!(call::<Applied>(&mut s, missing), Err(Code::NotFound));
        assert_eq!(s.audit.len(), 2, "no entry for a refused change");
        // A rotation with a grace needs room for one more live key.
        insert(&mut s, "key_b", "h2", 10).unwrap();
        let rotate = |grace_s, max_live, hash: &str| Call::Apply {
            id: "key_b".into(),
            change: Change::Rotate {
                new_id: "key_c".into(),
                new_hash: hash.into(),
                new_hint: "h".into(),
                rotate: Rotate {
                    grace_s,
                    expiry: NewExpiry::Keep,
                },
                now: NOW,
                max_live,
                by: "admin".into(),
                not_after: None,
            },
            audit: audit(Action::KeyRotate),
            judged: None,
        };
        assert_eq!(
            call::<Applied>(&mut s, rotate(3_600, 1, "h3")),
            Err(Code::TeamKeyLimit)
        );
        assert_eq!(
            call::<Applied>(&mut s, rotate(3_600, 10, "h1")),
            Err(Code::Conflict)
        );
        let rotated: Applied = call(&mut s, rotate(0, 1, "h3")).unwrap();
        assert_eq!(rotated.new_key.unwrap().record.id, "key_c");
        assert_eq!(s.keys["key_c"].hash, "h3");
        assert_eq!(s.keys["key_b"].record.replaced_by.as_deref(), Some("key_c"));
    }

    /// A change judged on a record applies only to that record: another change
    /// landed between, and nothing is written; a first request's placement is
    /// no change of what the key may do.
    #[test]
    fn a_change_applies_only_to_the_record_it_was_judged_on() {
        let mut s = Memory::default();
        insert(&mut s, "key_a", "h1", 10).unwrap();
        let judged = s.keys["key_a"].record.clone();
        let disable = |judged: &KeyRecord| Call::Apply {
            id: "key_a".into(),
            change: Change::Update(KeyUpdate {
                enabled: Some(false),
                ..Default::default()
            }),
            audit: audit(Action::KeyUpdate),
            judged: Some(Box::new(judged.clone())),
        };
        // An admin grants another scope meanwhile.
        s.keys.get_mut("key_a").unwrap().record.scopes = vec!["*".into()];
        let before = (s.keys["key_a"].clone(), s.audit.len());
        let got = call::<Applied>(&mut s, disable(&judged));
        assert_eq!(got, Err(Code::Conflict));
        assert_eq!((s.keys["key_a"].clone(), s.audit.len()), before);
        // Judged again on what is there now: applied.
        let now = s.keys["key_a"].record.clone();
        let applied: Applied = call(&mut s, disable(&now)).unwrap();
        assert!(!applied.key.record.enabled);
        // Placed by a first request meanwhile: still the record it was judged on.
        let judged = s.keys["key_a"].record.clone();
        s.keys.get_mut("key_a").unwrap().record.placed = Some(true);
        let _: Applied = call(&mut s, disable(&judged)).unwrap();
        let p = crate::directory::changed_since_judged();
        assert!(crate::directory::is_changed_since_judged(&p));
        assert!(!crate::directory::is_changed_since_judged(&Problem::new(
            Code::Conflict,
            "another"
        )));
    }

    #[test]
    fn placing_a_key_marks_it_once_and_answers_its_state() {
        let mut s = Memory::default();
        insert(&mut s, "key_a", "h1", 10).unwrap();
        s.keys.get_mut("key_a").unwrap().record.enabled = false;
        let placed: Option<Stored> = call(&mut s, Call::Place { id: "key_a".into() }).unwrap();
        let placed = placed.unwrap().record;
        assert_eq!((placed.placed, placed.enabled), (Some(true), false));
        assert_eq!(s.keys["key_a"].record.placed, Some(true));
        // Keys from before placement was kept stay as they were.
        s.keys.get_mut("key_a").unwrap().record.placed = None;
        let again: Option<Stored> = call(&mut s, Call::Place { id: "key_a".into() }).unwrap();
        assert_eq!(again.unwrap().record.placed, None);
        let none: Option<Stored> = call(
            &mut s,
            Call::Place {
                id: "key_zz".into(),
            },
        )
        .unwrap();
        assert_eq!(none, None);
    }

    #[test]
    fn lists_and_the_audit_log_page_newest_first() {
        let mut s = Memory::default();
        for (i, id) in ["key_a", "key_b", "key_c", "key_d", "key_e"]
            .iter()
            .enumerate()
        {
            let mut r = record(id, NOW + (i as i64 / 2));
            r.expires_at = None;
            s.put(&Stored {
                hash: format!("h{i}"),
                record: r,
            })
            .unwrap();
            s.append(audit(Action::KeyCreate)).unwrap();
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page: Page<KeyRecord> = call(
                &mut s,
                Call::List {
                    cursor: cursor.clone(),
                    limit: 2,
                },
            )
            .unwrap();
            seen.extend(page.items.iter().map(|r| r.id.clone()));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, ["key_e", "key_d", "key_c", "key_b", "key_a"]);
        let first: Page<AuditEntry> = call(
            &mut s,
            Call::Audit {
                cursor: None,
                limit: 3,
                key: None,
            },
        )
        .unwrap();
        assert_eq!(
            first.items.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [5, 4, 3]
        );
        let rest: Page<AuditEntry> = call(
            &mut s,
            Call::Audit {
                cursor: first.next_cursor,
                limit: 3,
                key: None,
            },
        )
        .unwrap();
        assert_eq!((rest.items.len(), rest.next_cursor), (2, None));
        // One key's entries only, paged the same way.
        let key = first.items[1].key_id.clone();
        let mine: Page<AuditEntry> = call(
            &mut s,
            Call::Audit {
                cursor: None,
                limit: 1,
                key: Some(key.clone()),
            },
        )
        .unwrap();
        assert_eq!(mine.items.len(), 1);
        assert!(mine.items.iter().all(|e| e.key_id == key));
        let more: Page<AuditEntry> = call(
            &mut s,
            Call::Audit {
                cursor: mine.next_cursor.clone(),
                limit: 5,
                key: Some(key.clone()),
            },
        )
        .unwrap();
        assert!(more.items.iter().all(|e| e.key_id == key));
        let none: Page<AuditEntry> = call(
            &mut s,
            Call::Audit {
                cursor: None,
                limit: 5,
                key: Some("key_nobody".into()),
            },
        )
        .unwrap();
        assert_eq!((none.items.len(), none.next_cursor), (0, None));
        let bad = Call::List {
            cursor: Some("nope".into()),
            limit: 2,
        };
        assert_eq!(
            call::<Page<KeyRecord>>(&mut s, bad),
            Err(Code::ValidationFailed)
        );
        let bad = Call::Audit {
            cursor: Some("x".into()),
            limit: 2,
            key: None,
        };
        assert_eq!(
            call::<Page<AuditEntry>>(&mut s, bad),
            Err(Code::ValidationFailed)
        );
    }

    #[test]
    fn refusals_are_replies_and_storage_failures_fail_the_call() {
        let refused = reply::<()>(Err(Problem::new(Code::Conflict, "known"))).unwrap();
        let r: Reply<()> = serde_json::from_str(&refused).unwrap();
        assert_eq!(r.into_result().map_err(|p| p.code), Err(Code::Conflict));
        let failed = reply::<()>(Err(Problem::new(Code::Unavailable, "disk")));
        assert_eq!(failed.map_err(|p| p.code), Err(Code::Unavailable));
        let ok: Reply<u32> = serde_json::from_str(&reply(Ok(7u32)).unwrap()).unwrap();
        assert_eq!(ok.into_result().map_err(|p| p.code), Ok(7));
        // A page that holds exactly `limit` items has no next page.
        let full = page(vec![1, 2], 2, |n| n.to_string());
        assert_eq!((full.items, full.next_cursor), (vec![1, 2], None));
        let more = page(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(
            (more.items, more.next_cursor),
            (vec![1, 2], Some("2".into()))
        );
    }

    #[test]
    fn notices_are_claimed_once_and_released_for_a_retry() {
        let mut s = Memory::default();
        let expiring = |id: &str, days: i64| {
            let mut r = record(id, NOW);
            r.expires_at = Some(NOW + days * 86_400 - 60);
            Stored {
                hash: id.into(),
                record: r,
            }
        };
        s.put(&expiring("key_a", 2)).unwrap();
        s.put(&expiring("key_b", 1)).unwrap();
        s.put(&expiring("key_c", 30)).unwrap();
        let mut revoked = expiring("key_d", 1);
        revoked.record.revoked_at = Some(NOW + 10);
        s.put(&revoked).unwrap();
        let claim = |s: &mut Memory, max| -> Vec<(String, u32, Vec<u32>)> {
            let n: Vec<Notice> = call(
                s,
                Call::Expiring {
                    now_ms: NOW_MS,
                    thresholds: vec![7, 1],
                    max,
                },
            )
            .unwrap();
            n.into_iter()
                .map(|n| (n.record.id, n.days, n.settles))
                .collect()
        };
        assert_eq!(
            claim(&mut s, 10),
            vec![
                ("key_a".to_string(), 7, vec![7]),
                ("key_b".to_string(), 1, vec![1, 7]),
            ]
        );
        assert!(claim(&mut s, 10).is_empty(), "never twice");
        let release = Call::Unclaim {
            key_id: "key_b".into(),
            days: vec![1, 7],
        };
        call::<()>(&mut s, release).unwrap();
        assert_eq!(
            claim(&mut s, 10),
            vec![("key_b".to_string(), 1, vec![1, 7])]
        );
        // At most `max` a run.
        s.claimed.clear();
        assert_eq!(claim(&mut s, 1).len(), 1);
        assert_eq!(claim(&mut s, 0).len(), 0);
    }
}
