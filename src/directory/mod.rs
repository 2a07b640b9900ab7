//! A team's directory of keys, as plain data: the calls its Durable Object answers,
//! rotation, list cursors and the audit log's entries. The directory is the
//! authority for a team's records (KV holds a copy for the request path).

pub mod store;

use crate::change::{KeyUpdate, Rotate};
use crate::problem::{Code, Problem};
use crate::record::{KeyRecord, KeyStatus};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Default and largest page of a list.
pub const PAGE_DEFAULT: u32 = 20;
/// Largest page of a list.
pub const PAGE_MAX: u32 = 100;

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// A key issued.
    #[serde(rename = "key.create")]
    KeyCreate,
    /// A key registered by its hash.
    #[serde(rename = "key.import")]
    KeyImport,
    /// A key changed (`PATCH`).
    #[serde(rename = "key.update")]
    KeyUpdate,
    /// A key revoked.
    #[serde(rename = "key.revoke")]
    KeyRevoke,
    /// A key rotated.
    #[serde(rename = "key.rotate")]
    KeyRotate,
}

/// One admin action, as the audit log keeps it. Never any secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the team's log, from 1, assigned by the directory.
    #[serde(default)]
    pub seq: u64,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// `admin`, or the id of the `keys:manage` key that acted.
    pub actor: String,
    /// What was done.
    pub action: Action,
    /// The key acted on.
    pub key_id: String,
    /// The request, for correlation with the logs.
    pub request_id: String,
    /// What changed: field names and non-secret values.
    #[serde(default)]
    pub details: Value,
}

impl AuditEntry {
    /// The JSON view.
    pub fn view(&self) -> Value {
        json!({
            "seq": self.seq,
            "at": crate::expiry::rfc3339_ms(self.at_ms),
            "actor": self.actor,
            "action": self.action,
            "key_id": self.key_id,
            "request_id": self.request_id,
            "details": self.details,
        })
    }
}

/// A call to a team's directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// Adds a key, unless the team is at `max_live` live keys or the hash is known.
    Insert {
        /// The key's SHA-256, hex.
        hash: String,
        /// The new record.
        record: Box<KeyRecord>,
        /// `MAX_KEYS_PER_TEAM`.
        max_live: u32,
        /// The audit entry to append with it.
        audit: AuditEntry,
    },
    /// Changes one key; answers the new record (and a second one for a rotation).
    Apply {
        /// The key id.
        id: String,
        /// The change.
        change: Change,
        /// The audit entry to append with it (its `details` are completed).
        audit: AuditEntry,
        /// The record the change was judged on: if the key's record is no longer
        /// that one ([`same_record`]), the change is refused with
        /// [`changed_since_judged`] and nothing is written. `None`: applied to
        /// whatever the record is (the admin token's calls, and revocation).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        judged: Option<Box<KeyRecord>>,
    },
    /// One key and its hash.
    Get {
        /// The key id.
        id: String,
    },
    /// A key's first request reached its Durable Object: marks the key placed (so
    /// that admin calls now reach the object too) and answers its record, in one
    /// step, so that every change is either in the answer or told to the object.
    Place {
        /// The key id.
        id: String,
    },
    /// A page of keys, newest first.
    List {
        /// Where the previous page ended.
        cursor: Option<String>,
        /// Page size.
        limit: u32,
    },
    /// Claims the expiry notices due at `now_ms` for `thresholds` (days): each
    /// is returned once, and marked so that it is never returned again.
    Expiring {
        /// Unix milliseconds.
        now_ms: i64,
        /// `EXPIRY_NOTICE_DAYS`.
        thresholds: Vec<u32>,
        /// Most notices to claim (the rest wait for the next run).
        max: u32,
    },
    /// Releases a claimed notice whose delivery failed, so the next run retries it.
    Unclaim {
        /// The key id.
        key_id: String,
        /// The thresholds the notice settled.
        days: Vec<u32>,
    },
    /// A key locator shard's (`crate::locator`): keeps a new key's record under
    /// its hash, unless the hash holds one already (the first is kept).
    Note {
        /// The key's SHA-256, hex.
        hash: String,
        /// The record as the key was made.
        record: Box<KeyRecord>,
    },
    /// A key locator shard's: the record noted under a hash, with the hash.
    Locate {
        /// The key's SHA-256, hex.
        hash: String,
    },
    /// A page of the audit log, newest first.
    Audit {
        /// Where the previous page ended.
        cursor: Option<String>,
        /// Page size.
        limit: u32,
        /// Only the entries of this key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
}

/// A change to one key, applied inside the directory so that concurrent changes
/// never overwrite each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A `PATCH`.
    Update(KeyUpdate),
    /// Revocation at a time (Unix seconds).
    Revoke {
        /// Unix seconds.
        at: i64,
    },
    /// Rotation: the new key, built by [`rotate`] in the directory.
    Rotate {
        /// The new key's id.
        new_id: String,
        /// The new key's hash.
        new_hash: String,
        /// The new key's hint.
        new_hint: String,
        /// The rotation's parameters.
        rotate: Rotate,
        /// Unix seconds.
        now: i64,
        /// `MAX_KEYS_PER_TEAM`: a grace keeps the old key live beside the new one.
        max_live: u32,
        /// Who rotates: the new key's `created_by`.
        by: String,
        /// The latest time (Unix seconds) either key may work: the rotating key's
        /// own expiry, when a key rotates (`None`: no bound).
        #[serde(default)]
        not_after: Option<i64>,
    },
}

/// A stored key: its hash and record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// SHA-256 of the key, hex.
    pub hash: String,
    /// The record.
    pub record: KeyRecord,
}

/// Whether `current` is still the record that a change was judged on: every
/// field but `placed`, which a key's first request sets without changing what
/// the key may do.
pub fn same_record(current: &KeyRecord, judged: &KeyRecord) -> bool {
    let unplaced = |r: &KeyRecord| KeyRecord {
        placed: None,
        ..r.clone()
    };
    unplaced(current) == unplaced(judged)
}

/// The refusal of a change judged on a record that changed before it was
/// applied: the caller reads the key again and judges again.
pub fn changed_since_judged() -> Problem {
    Problem::new(
        Code::Conflict,
        "the key changed while this call was judged; nothing was changed, send it again",
    )
    .with("changed_since_judged", json!(true))
}

/// Whether `p` is [`changed_since_judged`].
pub fn is_changed_since_judged(p: &Problem) -> bool {
    p.code == Code::Conflict && p.extensions.get("changed_since_judged") == Some(&json!(true))
}

/// The answer to [`Call::Apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The changed key.
    pub key: Stored,
    /// The key that a rotation created.
    pub new_key: Option<Stored>,
}

/// A page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// A directory's answer: a value, or a problem to pass on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply<T> {
    /// Done.
    Ok(T),
    /// Refused.
    Err {
        /// The problem code (`TEAM_KEY_LIMIT`).
        code: Code,
        /// The detail.
        detail: String,
        /// The problem's extension members.
        #[serde(default)]
        extensions: serde_json::Map<String, Value>,
    },
}

impl<T> Reply<T> {
    /// A refusal from a problem.
    pub fn refuse(p: &Problem) -> Reply<T> {
        Reply::Err {
            code: p.code,
            detail: p.detail.clone(),
            extensions: p.extensions.clone(),
        }
    }

    /// Back to a result.
    pub fn into_result(self) -> Result<T, Problem> {
        match self {
            Reply::Ok(v) => Ok(v),
            Reply::Err {
                code,
                detail,
                extensions,
            } => {
                let mut p = Problem::new(code, detail);
                p.extensions = extensions;
                Err(p)
            }
        }
    }
}

/// Applies `change` to `stored` at `now_ms`: returns the changed key and, for a
/// rotation, the new one.
pub fn apply(stored: &Stored, change: &Change, now_ms: i64) -> Result<Applied, Problem> {
    let mut record = stored.record.clone();
    let new_key = match change {
        Change::Update(update) => {
            update.apply(&mut record);
            None
        }
        Change::Revoke { at } => {
            if record.revoked_at.is_none_or(|r| r > *at) {
                record.revoked_at = Some(*at);
            }
            None
        }
        Change::Rotate {
            new_id,
            new_hash,
            new_hint,
            rotate: r,
            now,
            by,
            not_after,
            ..
        } => {
            let new = NewKeyOf {
                id: new_id,
                hint: new_hint,
                by,
                not_after: *not_after,
            };
            let (old, new) = rotate(&record, new, *now, *r, now_ms)?;
            record = old;
            Some(Stored {
                hash: new_hash.clone(),
                record: new,
            })
        }
    };
    record.rev = stored.record.rev + 1;
    Ok(Applied {
        key: Stored {
            hash: stored.hash.clone(),
            record,
        },
        new_key,
    })
}

/// The new key of a rotation: who asked for it, and the bound on both keys' lives.
#[derive(Debug, Clone, Copy)]
pub struct NewKeyOf<'a> {
    /// The new key's id.
    pub id: &'a str,
    /// Its hint.
    pub hint: &'a str,
    /// Who rotates (its `created_by`).
    pub by: &'a str,
    /// The latest time (Unix seconds) either key may work.
    pub not_after: Option<i64>,
}

/// Rotates `old` at `now` (Unix seconds): the new key takes its scopes, limits,
/// networks, meta, subject and name, and its counters (the same `lineage`); the
/// old key is revoked when the grace ends, and never later than its own expiry.
/// Neither key works past `new.not_after`. Only an active or disabled key that was
/// not rotated before can be rotated.
pub fn rotate(
    old: &KeyRecord,
    new: NewKeyOf<'_>,
    now: i64,
    r: Rotate,
    now_ms: i64,
) -> Result<(KeyRecord, KeyRecord), Problem> {
    let conflict = |detail: String| Err(Problem::new(Code::Conflict, detail));
    if let Some(next) = &old.replaced_by {
        return conflict(format!(
            "this key was already rotated to {next}; rotate that key"
        ));
    }
    match old.status(now_ms) {
        KeyStatus::Revoked => return conflict("a revoked key cannot be rotated".into()),
        KeyStatus::Expired => {
            return conflict("an expired key cannot be rotated; issue a new key".into())
        }
        KeyStatus::Unknown => return conflict("this key's status is not known here".into()),
        KeyStatus::Active | KeyStatus::Disabled => {}
    }
    if old.revoked_at.is_some() {
        return conflict("this key is already due to be revoked".into());
    }
    let mut until = now.saturating_add(i64::from(r.grace_s));
    for bound in [old.expires_at, new.not_after].into_iter().flatten() {
        until = until.min(bound);
    }
    let expires_at = match (r.expiry.resolve(old.expires_at), new.not_after) {
        (Some(e), Some(cap)) => Some(e.min(cap)),
        (e, cap) => e.or(cap),
    };
    let new_id = new.id;
    let new = KeyRecord {
        id: new.id.to_string(),
        hint: new.hint.to_string(),
        created_at: now,
        created_by: new.by.to_string(),
        expires_at,
        revoked_at: None,
        lineage: Some(old.chain().to_string()),
        replaces: Some(old.id.clone()),
        replaced_by: None,
        imported: false,
        ..old.clone()
    };
    let old = KeyRecord {
        revoked_at: Some(until),
        replaced_by: Some(new_id.to_string()),
        ..old.clone()
    };
    Ok((old, new))
}

/// A list cursor: the position after the last item of a page, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCursor {
    /// `created_at` of the last item.
    pub created_at: i64,
    /// Its id.
    pub id: String,
}

impl KeyCursor {
    /// The position after `record`.
    pub fn of(record: &KeyRecord) -> KeyCursor {
        KeyCursor {
            created_at: record.created_at,
            id: record.id.clone(),
        }
    }

    /// The opaque text form.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at, self.id)
    }

    /// Parses the text form.
    pub fn parse(s: &str) -> Option<KeyCursor> {
        let (at, id) = s.split_once('.')?;
        let created_at = at.parse().ok()?;
        crate::ident::valid_key_id(id).then(|| KeyCursor {
            created_at,
            id: id.to_string(),
        })
    }
}

/// Most directory pages a filtered list reads for one answer: it answers fewer
/// than `limit` keys only on the last page, or when this many pages held fewer.
pub const FILTERED_PAGES: u32 = 4;

/// One answer of a filtered list, gathered over the directory's pages: the
/// kept items, up to `limit`, and where the next answer starts. A list kept by
/// a filter never answers a short or empty page while more pages remain
/// within [`FILTERED_PAGES`].
#[derive(Debug)]
pub struct Gather<T> {
    items: Vec<T>,
    limit: usize,
    pages_left: u32,
    next: Option<String>,
}

impl<T> Gather<T> {
    /// An answer of at most `limit` items.
    pub fn new(limit: u32) -> Gather<T> {
        Gather {
            items: Vec::new(),
            limit: limit as usize,
            pages_left: FILTERED_PAGES,
            next: None,
        }
    }

    /// Takes one page read from the directory: each record with what it shows
    /// as when the filter keeps it, and the page's `next_cursor`. The cursor of
    /// the next page to read, or `None` when the answer is whole.
    pub fn take(
        &mut self,
        page: Vec<(KeyCursor, Option<T>)>,
        next_cursor: Option<String>,
    ) -> Option<String> {
        self.pages_left = self.pages_left.saturating_sub(1);
        self.next = next_cursor;
        let last = page.len();
        for (i, (at, kept)) in page.into_iter().enumerate() {
            self.items.extend(kept);
            if self.items.len() == self.limit {
                // Full: the next answer starts after this record (none after
                // the last record of the last page).
                if i + 1 < last {
                    self.next = Some(at.encode());
                }
                return None;
            }
        }
        self.next.clone().filter(|_| self.pages_left > 0)
    }

    /// The kept items and the next answer's cursor.
    pub fn finish(self) -> (Vec<T>, Option<String>) {
        (self.items, self.next)
    }
}

/// The `name=value` pairs of a query string (without its `?`), empty ones left
/// out; a name without `=` has an empty value.
pub fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (&str, &str)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// Reads `limit` and `cursor` from a query string.
pub fn page_query(query: Option<&str>) -> Result<(Option<String>, u32), Problem> {
    let mut limit = PAGE_DEFAULT;
    let mut cursor = None;
    let mut errors = Vec::new();
    for (k, v) in query_pairs(query) {
        match k {
            "limit" => match v.parse::<u32>() {
                Ok(n) if (1..=PAGE_MAX).contains(&n) => limit = n,
                _ => errors.push(crate::field::FieldError::new(
                    "limit",
                    format!("must be a whole number from 1 to {PAGE_MAX}"),
                )),
            },
            "cursor"
                if !v.is_empty()
                    && v.len() <= 128
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_') =>
            {
                cursor = Some(v.to_string())
            }
            "cursor" => errors.push(crate::field::FieldError::new(
                "cursor",
                "is not a cursor from a previous page",
            )),
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok((cursor, limit))
    } else {
        Err(Problem::validation(errors))
    }
}

#[cfg(test)]
mod tests {

    fn at(n: i64) -> KeyCursor {
        KeyCursor {
            created_at: 1000 - n,
            id: format!("key_{n}"),
        }
    }

    /// A page of records `from..to`, of which the even ones are kept.
    fn evens(from: i64, to: i64) -> Vec<(KeyCursor, Option<i64>)> {
        (from..to)
            .map(|n| (at(n), (n % 2 == 0).then_some(n)))
            .collect()
    }

    #[test]
    fn a_filtered_list_fills_its_answer_across_pages() {
        // Two kept per page of four: three pages fill six.
        let mut g = Gather::new(6);
        let c = |n: i64| Some(at(n).encode());
        assert_eq!(g.take(evens(0, 4), c(3)), c(3));
        assert_eq!(g.take(evens(4, 8), c(7)), c(7));
        assert_eq!(g.take(evens(8, 12), c(11)), None);
        // Full on the page's third record: the next answer starts after it.
        assert_eq!(g.finish(), (vec![0, 2, 4, 6, 8, 10], c(10)));
        // Full on a page's last record: after it, as the page's own cursor says.
        let mut g = Gather::new(2);
        assert_eq!(g.take(evens(0, 3), c(2)), None);
        assert_eq!(g.finish(), (vec![0, 2], c(2)));

        // Full mid-page: the next answer starts after the record that filled it.
        let mut g = Gather::new(3);
        g.take(evens(0, 4), c(3));
        assert_eq!(g.take(evens(4, 8), c(7)), None);
        assert_eq!(g.finish(), (vec![0, 2, 4], c(4)));

        // The last page: no cursor, even when the answer is full on its last record.
        let mut g = Gather::new(2);
        assert_eq!(g.take(evens(0, 3), None), None);
        assert_eq!(g.finish(), (vec![0, 2], None));
        let mut g = Gather::new(5);
        assert_eq!(g.take(evens(0, 3), None), None);
        assert_eq!(g.finish(), (vec![0, 2], None));

        // Nothing kept: at most FILTERED_PAGES pages, then an answer that
        // says where to go on.
        let mut g: Gather<i64> = Gather::new(2);
        let none = |from: i64| (from..from + 2).map(|n| (at(n), None)).collect();
        let mut reads = 1;
        let mut next = g.take(none(0), c(1));
        while let Some(cursor) = next {
            reads += 1;
            next = g.take(none(reads * 2), Some(cursor));
        }
        assert_eq!(reads, FILTERED_PAGES as i64);
        assert_eq!(g.finish().0, Vec::<i64>::new());
    }
    use super::*;
    use crate::change::NewExpiry;

    const NOW: i64 = 1_800_000_000;

    fn old() -> KeyRecord {
        KeyRecord {
            id: "key_old".into(),
            team: "acme".into(),
            name: "ci".into(),
            scopes: vec!["documents.read".into()],
            hint: "kw_…abcd".into(),
            created_at: NOW - 1000,
            created_by: "admin".into(),
            expires_at: Some(NOW + 86_400),
            enabled: true,
            plan: Some("free".into()),
            ..Default::default()
        }
    }

    fn by_admin() -> NewKeyOf<'static> {
        NewKeyOf {
            id: "key_new",
            hint: "kw_…wxyz",
            by: "admin",
            not_after: None,
        }
    }

    #[track_caller]
    fn check_rotate(
        edit: fn(&mut KeyRecord),
        grace_s: u32,
        expected: Result<(Option<i64>, Option<i64>), Code>,
    ) {
        let mut o = old();
        edit(&mut o);
        let r = Rotate {
            grace_s,
            expiry: NewExpiry::Keep,
        };
        let got = rotate(&o, by_admin(), NOW, r, NOW * 1000)
            .map(|(old, new)| {
                assert_eq!(old.replaced_by.as_deref(), Some("key_new"));
                assert_eq!(new.replaces.as_deref(), Some(o.id.as_str()));
                assert_eq!(
                    (&new.scopes, &new.plan, &new.name),
                    (&o.scopes, &o.plan, &o.name)
                );
                assert_eq!(new.chain(), o.chain());
                (old.revoked_at, new.expires_at)
            })
            .map_err(|p| p.code);
        assert_eq!(got, expected);
    }

    /// The new key of a rotation is new in what makes it itself (id, hint,
    /// creation, maker), a key of its own (never imported), and the old key's in
    /// the rest; the old key points to it.
    #[test]
    fn a_rotations_new_key_is_its_own() {
        let imported = KeyRecord {
            imported: true,
            ..old()
        };
        let r = Rotate {
            grace_s: 0,
            expiry: NewExpiry::Keep,
        };
        let (old_key, new) = rotate(&imported, by_admin(), NOW, r, NOW * 1000).unwrap();
        assert_eq!(
            (
                new.id.as_str(),
                new.hint.as_str(),
                new.created_at,
                new.imported
            ),
            ("key_new", "kw_…wxyz", NOW, false)
        );
        assert_eq!((new.revoked_at, new.replaced_by.as_deref()), (None, None));
        assert_eq!(new.replaces.as_deref(), Some("key_old"));
        assert_eq!(old_key.replaced_by.as_deref(), Some("key_new"));
        assert_eq!(old_key.hint, imported.hint);
    }

    #[test]
    fn an_audit_entry_is_shown_whole() {
        let e = AuditEntry {
            seq: 7,
            at_ms: 1_800_000_000_123,
            actor: "key_m".into(),
            action: Action::KeyRevoke,
            key_id: "key_a".into(),
            request_id: "r1".into(),
            details: json!({"why": "leaked"}),
        };
        assert_eq!(
            e.view(),
            json!({"seq": 7, "at": crate::expiry::rfc3339_ms(1_800_000_000_123),
                   "actor": "key_m", "action": "key.revoke", "key_id": "key_a",
                   "request_id": "r1", "details": {"why": "leaked"}})
        );
    }

    #[test]
    fn rotation() {
        let day = Some(NOW + 86_400);
        check_rotate(|_| {}, 0, Ok((Some(NOW), day)));
        check_rotate(|_| {}, 3_600, Ok((Some(NOW + 3_600), day)));
        // The grace never outlives the old key's expiry.
        check_rotate(|_| {}, 7 * 86_400, Ok((day, day)));
        check_rotate(
            |o| o.expires_at = None,
            7 * 86_400,
            Ok((Some(NOW + 7 * 86_400), None)),
        );
        check_rotate(|o| o.enabled = false, 0, Ok((Some(NOW), day)));
        check_rotate(
            |o| o.lineage = Some("key_first".into()),
            0,
            Ok((Some(NOW), day)),
        );
        check_rotate(|o| o.revoked_at = Some(NOW - 1), 0, Err(Code::Conflict));
        check_rotate(|o| o.revoked_at = Some(NOW + 60), 0, Err(Code::Conflict));
        check_rotate(|o| o.expires_at = Some(NOW - 1), 0, Err(Code::Conflict));
        check_rotate(
            |o| o.replaced_by = Some("key_x".into()),
            0,
            Err(Code::Conflict),
        );
    }

    #[test]
    fn rotation_may_set_a_new_expiry() {
        let r = Rotate {
            grace_s: 0,
            expiry: NewExpiry::Never,
        };
        let (_, new) = rotate(&old(), by_admin(), NOW, r, NOW * 1000).unwrap();
        assert_eq!(new.expires_at, None);
        assert_eq!(new.lineage.as_deref(), Some("key_old"));
        assert!(!new.imported && new.revoked_at.is_none());
    }

    #[test]
    fn a_rotating_key_bounds_both_keys_and_is_recorded() {
        #[track_caller]
        fn check(
            grace_s: u32,
            expiry: NewExpiry,
            not_after: Option<i64>,
            expected: (i64, Option<i64>),
        ) {
            let new = NewKeyOf {
                by: "key_m",
                not_after,
                ..by_admin()
            };
            let r = Rotate { grace_s, expiry };
            let (old, new) = rotate(&old(), new, NOW, r, NOW * 1000).unwrap();
            assert_eq!(new.created_by, "key_m");
            assert_eq!((old.revoked_at.unwrap(), new.expires_at), expected);
        }
        let year = 366 * 86_400;
        let m = Some(NOW + 3_600);
        check(year, NewExpiry::Keep, m, (NOW + 3_600, m));
        check(year, NewExpiry::Never, m, (NOW + 3_600, m));
        check(60, NewExpiry::At(NOW + 7_200), m, (NOW + 60, m));
        check(60, NewExpiry::At(NOW + 600), m, (NOW + 60, Some(NOW + 600)));
        check(year, NewExpiry::Never, None, (NOW + 86_400, None));
    }

    fn expiry_bound(e: NewExpiry) -> Option<i64> {
        match e {
            NewExpiry::At(t) => Some(t),
            _ => None,
        }
    }

    /// Every message between the worker and its objects keeps each optional or
    /// nullable field through JSON: absent, `null`-like and set alike.
    #[test]
    fn messages_round_trip() {
        use crate::change::{CreditsEdit, KeyUpdate, Limits, Patch};
        use crate::keystate::{Admission, Answer, Denial, StateChange};
        use crate::usage::{Outcome, Usage};
        #[track_caller]
        fn check<T>(value: T)
        where
            T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
        {
            let json = serde_json::to_string(&value).unwrap();
            let back: T = serde_json::from_str(&json).unwrap();
            assert_eq!(back, value, "{json}");
        }
        let audit = AuditEntry {
            seq: 0,
            at_ms: 1,
            actor: "admin".into(),
            action: Action::KeyRotate,
            key_id: "key_old".into(),
            request_id: "r".into(),
            details: Value::Null,
        };
        for expiry in [NewExpiry::Keep, NewExpiry::Never, NewExpiry::At(NOW)] {
            check(Call::Apply {
                id: "key_old".into(),
                change: Change::Rotate {
                    new_id: "key_new".into(),
                    new_hash: "h".into(),
                    new_hint: "kw_…wxyz".into(),
                    rotate: Rotate {
                        grace_s: 60,
                        expiry,
                    },
                    now: NOW,
                    max_live: 10,
                    by: "key_m".into(),
                    not_after: expiry_bound(expiry),
                },
                audit: audit.clone(),
                judged: (expiry == NewExpiry::Never).then(|| Box::new(KeyRecord::default())),
            });
        }
        let updates = [
            KeyUpdate::default(),
            KeyUpdate {
                name: Some("n".into()),
                scopes: Some(vec![]),
                enabled: Some(false),
                limits: Some(Limits::Default),
                ip_allow: Some(Patch::Clear),
                meta: Some(Patch::Clear),
                admission: Some(Patch::Clear),
                credits: Some(CreditsEdit::Applied(None)),
            },
            KeyUpdate {
                credits: Some(CreditsEdit::Applied(Some(crate::credits::Credits {
                    remaining: 3,
                    refill: None,
                    since: 9,
                }))),
                ..Default::default()
            },
            KeyUpdate {
                credits: Some(CreditsEdit::Asked(crate::credits::CreditsChange::Remove)),
                ..Default::default()
            },
            KeyUpdate {
                admission: Some(Patch::Set(crate::record::AdmissionMode::Leased)),
                ..Default::default()
            },
            KeyUpdate {
                limits: Some(Limits::Own(vec![])),
                ip_allow: Some(Patch::Set(vec!["10.0.0.0/8".parse().unwrap()])),
                meta: Some(Patch::Set(serde_json::Map::new())),
                ..Default::default()
            },
            KeyUpdate {
                limits: Some(Limits::Plan("free".into())),
                ..Default::default()
            },
        ];
        for update in updates {
            check(Change::Update(update));
        }
        let full = KeyRecord {
            subject: Some("s".into()),
            revoked_at: Some(NOW),
            rate_limits: Some(vec![]),
            ip_allow: Some(vec![]),
            meta: Some(serde_json::Map::new()),
            lineage: Some("key_first".into()),
            replaces: Some("key_a".into()),
            replaced_by: Some("key_b".into()),
            imported: true,
            admission: Some(crate::record::AdmissionMode::Leased),
            credits: Some(crate::credits::Credits {
                remaining: 0,
                refill: Some(crate::credits::Refill {
                    interval: crate::credits::Interval::Monthly { day: 31 },
                    amount: 5,
                }),
                since: 1,
            }),
            expires_at: None,
            plan: None,
            ..old()
        };
        for record in [old(), full, KeyRecord::default()] {
            check(Call::Insert {
                hash: "h".into(),
                record: Box::new(record.clone()),
                max_live: 1,
                audit: audit.clone(),
            });
            check(Applied {
                key: Stored {
                    hash: "h".into(),
                    record: record.clone(),
                },
                new_key: None,
            });
        }
        for (revoked_at, enabled) in [(None, None), (Some(NOW), Some(false)), (None, Some(true))] {
            check(StateChange {
                key: "key_a".into(),
                revoked_at,
                enabled,
                rev: Some(3),
            });
        }
        for denial in [
            None,
            Some(Denial {
                status: 403,
                code: Some(Code::InsufficientScope),
            }),
        ] {
            check(Admission {
                key: "key_a".into(),
                team: "acme".into(),
                policies: vec![],
                method: "GET".into(),
                path: "/".into(),
                denial,
                cost: 2,
                rev: None,
            });
        }
        check(Answer {
            status: KeyStatus::Active,
            verdict: None,
            credits: Some(crate::credits::Balance {
                remaining: 3,
                next_refill: Some(7),
            }),
            exhausted: None,
            stale: false,
        });
        for (status, code) in [(None, None), (Some(429), Some(Code::RateLimited))] {
            check(Outcome {
                at_ms: 1,
                method: "GET".into(),
                path: "/".into(),
                status,
                code,
            });
        }
        for last_used_at in [None, Some(NOW)] {
            check(Usage {
                last_used_at,
                ..Default::default()
            });
        }
        check(Call::List {
            cursor: None,
            limit: 1,
        });
        check(Call::Audit {
            cursor: Some("1.key_a".into()),
            limit: 1,
            key: None,
        });
        check(Call::Audit {
            cursor: None,
            limit: 5,
            key: Some("key_a".into()),
        });
    }

    #[test]
    fn replies_carry_problems() {
        let p = Problem::new(Code::TeamKeyLimit, "full");
        let json = serde_json::to_string(&Reply::<u8>::refuse(&p)).unwrap();
        let back: Reply<u8> = serde_json::from_str(&json).unwrap();
        let got = back.into_result().unwrap_err();
        assert_eq!(
            (got.code, got.detail.as_str()),
            (Code::TeamKeyLimit, "full")
        );
        let ok: Reply<u8> =
            serde_json::from_str(&serde_json::to_string(&Reply::Ok(7u8)).unwrap()).unwrap();
        assert_eq!(ok.into_result().unwrap(), 7);
    }

    #[test]
    fn revocation_keeps_the_earliest_time() {
        let stored = Stored {
            hash: "h".into(),
            record: KeyRecord {
                revoked_at: Some(NOW + 10),
                ..old()
            },
        };
        let later = apply(&stored, &Change::Revoke { at: NOW + 99 }, NOW * 1000).unwrap();
        assert_eq!(later.key.record.revoked_at, Some(NOW + 10));
        let sooner = apply(&stored, &Change::Revoke { at: NOW }, NOW * 1000).unwrap();
        assert_eq!(sooner.key.record.revoked_at, Some(NOW));
    }

    /// Every change the directory applies is a new revision of the record.
    #[test]
    fn each_change_is_a_new_revision() {
        let stored = Stored {
            hash: "h".into(),
            record: KeyRecord { rev: 4, ..old() },
        };
        let rename = Change::Update(KeyUpdate {
            name: Some("renamed".into()),
            ..Default::default()
        });
        for change in [rename, Change::Revoke { at: NOW }] {
            let applied = apply(&stored, &change, NOW * 1000).unwrap();
            assert_eq!(applied.key.record.rev, 5, "{change:?}");
        }
    }

    #[track_caller]
    fn check_page(query: Option<&str>, expected: Result<(Option<&str>, u32), Code>) {
        let got = page_query(query).map_err(|p| p.code);
        let got = got
            .as_ref()
            .map(|(c, l)| (c.as_deref(), *l))
            .map_err(|c| *c);
        assert_eq!(got, expected, "{query:?}");
    }

    #[test]
    fn pages() {
        check_page(None, Ok((None, PAGE_DEFAULT)));
        check_page(Some("limit=5"), Ok((None, 5)));
        check_page(
            Some("cursor=17.key_abc&limit=100"),
            Ok((Some("17.key_abc"), 100)),
        );
        check_page(Some("other=1"), Ok((None, PAGE_DEFAULT)));
        check_page(Some("limit=0"), Err(Code::ValidationFailed));
        check_page(Some("limit=101"), Err(Code::ValidationFailed));
        check_page(Some("limit=x"), Err(Code::ValidationFailed));
        check_page(Some("cursor="), Err(Code::ValidationFailed));
        check_page(Some("cursor=a%27b"), Err(Code::ValidationFailed));
        let c = KeyCursor {
            created_at: 17,
            id: "key_abc".into(),
        };
        assert_eq!(KeyCursor::parse(&c.encode()), Some(c));
        assert_eq!(KeyCursor::parse("x.key_abc"), None);
        assert_eq!(KeyCursor::parse("17.nope"), None);
    }
}
