//! Golden fixtures: every message between the worker and its Durable Objects,
//! and every stored form, as this release writes them (`tests/wire/v2/`). Every
//! later release must read them: a change that breaks an old reader, or reads
//! an old writer's field as something else, fails here. Each release that
//! changes a message adds its own directory beside the earlier ones.
//!
//! `KW_WRITE_WIRE=1 cargo test --lib wire` writes this release's directory
//! again (only when a message changed on purpose, and never over an older one).

use crate::change::{CreditsEdit, KeyUpdate, Limits, NewExpiry, Patch, Rotate};
use crate::credits::{Credits, CreditsChange, LowWatch};
use crate::directory::{Action, Applied, AuditEntry, Call, Change, Page, Reply, Stored};
use crate::keyobject::{CreditsCall, CreditsChanged, DueNotice, UsageQuery, UsageReport};
use crate::keystate::{Admission, Answer, ChainState, Denial, KeyState, StateChange};
use crate::lease::{Holder, Lease, LeaseAnswer, LeaseRequest};
use crate::problem::{Code, Problem};
use crate::ratelimit::LimitPolicy;
use crate::record::{AdmissionMode, KeyRecord};
use crate::usage::{Outcome, Series, Usage};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::PathBuf;

/// This release's directory of fixtures.
const THIS_RELEASE: &str = "v2";

const NOW_MS: i64 = 1_800_000_000_000;

fn policies() -> Vec<LimitPolicy> {
    vec![LimitPolicy {
        name: "burst".into(),
        limit: 5,
        window_s: 60,
    }]
}

fn record() -> KeyRecord {
    KeyRecord {
        id: "key_a1".into(),
        team: "acme".into(),
        subject: Some("user_9".into()),
        name: "ci".into(),
        scopes: vec!["documents.read".into()],
        hint: "kw_…abcd".into(),
        created_at: NOW_MS / 1000 - 10,
        created_by: "admin".into(),
        expires_at: Some(NOW_MS / 1000 + 86_400),
        enabled: true,
        revoked_at: None,
        plan: Some("pro".into()),
        rate_limits: Some(policies()),
        ip_allow: Some(vec!["10.0.0.0/8".parse().unwrap()]),
        meta: json!({"tier": "gold"}).as_object().cloned(),
        lineage: Some("key_a0".into()),
        replaces: Some("key_a0".into()),
        replaced_by: None,
        placed: Some(true),
        region: Some("weur".into()),
        admission: Some(AdmissionMode::Leased),
        credits: Some(credits()),
        imported: false,
        rev: 3,
    }
}

fn credits() -> Credits {
    Credits {
        remaining: 40,
        refill: None,
        since: NOW_MS / 1000 - 100,
    }
}

fn admission(denial: Option<Denial>) -> Admission {
    Admission {
        key: "key_a1".into(),
        team: "acme".into(),
        policies: policies(),
        method: "GET".into(),
        path: "/documents/1".into(),
        denial,
        cost: 2,
        rev: Some(3),
    }
}

fn outcome() -> Outcome {
    Outcome {
        at_ms: NOW_MS,
        method: "GET".into(),
        path: "/documents/1".into(),
        status: Some(429),
        code: Some(Code::RateLimited),
    }
}

fn audit() -> AuditEntry {
    AuditEntry {
        seq: 7,
        at_ms: NOW_MS,
        actor: "key_m1".into(),
        action: Action::KeyUpdate,
        key_id: "key_a1".into(),
        request_id: "req_1".into(),
        details: json!({"fields": ["name"]}),
    }
}

/// Fixtures by name, each with the examples written for it.
type Fixtures = Vec<(&'static str, Vec<Value>)>;

fn v(x: &dyn erased::Ser) -> Value {
    x.value()
}

/// Every message and stored form of this release.
fn written() -> Fixtures {
    let mut all = key_object();
    all.extend(chain());
    all.extend(directory());
    all
}

/// The worker's messages to a key's object, and the object's answers.
fn key_object() -> Fixtures {
    let mut chain = ChainState {
        credits: Some(credits()),
        ..ChainState::default()
    };
    let admitted = chain.admit(&admission(None), NOW_MS);
    let mut poor = ChainState {
        credits: Some(Credits {
            remaining: 1,
            ..credits()
        }),
        ..ChainState::default()
    };
    let exhausted = poor.admit(&admission(None), NOW_MS);
    vec![
        (
            "admission",
            vec![
                v(&admission(None)),
                v(&admission(Some(Denial {
                    status: 403,
                    code: Some(Code::InsufficientScope),
                }))),
            ],
        ),
        (
            "answer",
            vec![
                v(&admitted),
                v(&exhausted),
                v(&Answer {
                    stale: true,
                    ..admitted.clone()
                }),
            ],
        ),
        (
            "state_change",
            vec![v(&StateChange {
                key: "key_a1".into(),
                revoked_at: Some(NOW_MS / 1000),
                enabled: Some(false),
                rev: Some(4),
            })],
        ),
        (
            "key_state",
            vec![v(&KeyState {
                revoked_at: Some(NOW_MS / 1000),
                disabled: true,
                rev: 4,
            })],
        ),
        (
            "credits_call",
            vec![v(&CreditsCall {
                key: "key_a1".into(),
                team: "acme".into(),
                change: CreditsChange::Remove,
            })],
        ),
        (
            "usage_query",
            vec![v(&UsageQuery {
                key: "key_a1".into(),
                outcomes: true,
            })],
        ),
    ]
}

/// Leases, credits and usage: the messages, and what the key's object stores.
fn chain() -> Fixtures {
    let mut holder = Holder::default();
    holder.record(outcome());
    let mut request = holder.request(
        "key_a1",
        "isolate_1:key_a1",
        &policies(),
        NOW_MS,
        1_000,
        false,
    );
    (request.team, request.cost, request.rev) = ("acme".into(), 2, Some(3));
    let mut chain = ChainState {
        credits: Some(credits()),
        ..ChainState::default()
    };
    let granted = chain.lease(&request, NOW_MS);
    let lease: Vec<Lease> = chain.book.open.clone();
    let changed: CreditsChanged = chain.change_credits(
        CreditsChange::Update {
            remaining: Some(10),
            add: None,
            refill: None,
        },
        NOW_MS / 1000,
    );
    let refused: CreditsChanged = Err("this key has no credits to add to".into());
    let mut series = Series::default();
    series.add(NOW_MS, crate::usage::Kind::Admitted, 3);
    let report = UsageReport {
        usage: Usage {
            last_used_at: Some(NOW_MS / 1000),
            requests: 3,
            denied: 1,
            today: 3,
        },
        outcomes: vec![outcome()],
        credits: Some(credits()),
        series: Some(series.encode()),
    };
    vec![
        ("lease_request", vec![v(&request)]),
        ("lease_answer", vec![v(&granted)]),
        ("credits_changed", vec![v(&changed), v(&refused)]),
        ("usage_report", vec![v(&report)]),
        ("stored_lease", lease.iter().map(|l| v(l)).collect()),
        ("stored_credits", vec![v(&credits())]),
        (
            "stored_low_watch",
            vec![v(&LowWatch {
                since: 5,
                high: 40,
                claimed: true,
            })],
        ),
        ("stored_series", vec![json!(series.encode())]),
        (
            "stored_due_notice",
            vec![v(&DueNotice {
                notice: crate::notice::CreditsLow {
                    team: "acme".into(),
                    key_id: "key_a1".into(),
                    remaining: 4,
                    of: 40,
                    percent: 10,
                    since: NOW_MS / 1000 - 100,
                    next_refill: Some(NOW_MS / 1000 + 86_400),
                },
                tries: 2,
            })],
        ),
    ]
}

/// Every call a team directory answers.
fn directory_calls() -> Vec<Value> {
    let update = KeyUpdate {
        name: Some("renamed".into()),
        scopes: Some(vec![]),
        enabled: Some(false),
        limits: Some(Limits::Own(policies())),
        ip_allow: Some(Patch::Clear),
        meta: Some(Patch::Set(serde_json::Map::new())),
        admission: Some(Patch::Set(AdmissionMode::Exact)),
        credits: Some(CreditsEdit::Applied(Some(credits()))),
    };
    vec![
        v(&Call::Insert {
            hash: "ab".repeat(32),
            record: Box::new(record()),
            max_live: 100,
            audit: audit(),
        }),
        v(&Call::Apply {
            id: "key_a1".into(),
            change: Change::Update(update),
            audit: audit(),
            judged: Some(Box::new(record())),
        }),
        v(&Call::Apply {
            id: "key_a1".into(),
            change: Change::Revoke { at: NOW_MS / 1000 },
            audit: audit(),
            judged: None,
        }),
        v(&Call::Apply {
            id: "key_a1".into(),
            change: Change::Rotate {
                new_id: "key_a2".into(),
                new_hash: "cd".repeat(32),
                new_hint: "kw_…wxyz".into(),
                rotate: Rotate {
                    grace_s: 3600,
                    expiry: NewExpiry::At(NOW_MS / 1000 + 86_400),
                },
                now: NOW_MS / 1000,
                max_live: 100,
                by: "admin".into(),
                not_after: None,
            },
            audit: audit(),
            judged: None,
        }),
        v(&Call::Get {
            id: "key_a1".into(),
        }),
        v(&Call::Place {
            id: "key_a1".into(),
        }),
        v(&Call::List {
            cursor: Some("c".into()),
            limit: 50,
        }),
        v(&Call::Expiring {
            now_ms: NOW_MS,
            thresholds: vec![7, 1],
            max: 100,
        }),
        v(&Call::Unclaim {
            key_id: "key_a1".into(),
            days: vec![7],
        }),
        v(&Call::Audit {
            cursor: None,
            limit: 50,
            key: Some("key_a1".into()),
        }),
    ]
}

/// The calls a team directory answers as a key locator shard.
fn locator_calls() -> Vec<Value> {
    vec![
        v(&Call::Note {
            hash: "ab".repeat(32),
            record: Box::new(record()),
        }),
        v(&Call::Locate {
            hash: "ab".repeat(32),
        }),
    ]
}

/// A team directory's calls and replies, and the key record it stores.
fn directory() -> Fixtures {
    let stored = Stored {
        hash: "ab".repeat(32),
        record: record(),
    };
    let refusal = Reply::<()>::refuse(
        &Problem::new(Code::TeamKeyLimit, "the team holds 100 live keys").with("limit", json!(100)),
    );
    vec![
        (
            "directory_call",
            [directory_calls(), locator_calls()].concat(),
        ),
        (
            "directory_reply_applied",
            vec![v(&Reply::Ok(Applied {
                key: stored.clone(),
                new_key: Some(stored.clone()),
            }))],
        ),
        (
            "directory_reply_stored",
            vec![
                v(&Reply::Ok(Some(stored.clone()))),
                v(&Reply::<Option<Stored>>::Ok(None)),
            ],
        ),
        (
            "directory_reply_keys",
            vec![v(&Reply::Ok(Page {
                items: vec![record()],
                next_cursor: Some("c".into()),
            }))],
        ),
        (
            "directory_reply_audit",
            vec![v(&Reply::Ok(Page {
                items: vec![audit()],
                next_cursor: None,
            }))],
        ),
        ("directory_reply_none", vec![v(&Reply::Ok(())), v(&refusal)]),
        (
            "stored_key_record",
            vec![
                v(&record()),
                v(&KeyRecord {
                    placed: None,
                    ..KeyRecord::default()
                }),
            ],
        ),
    ]
}

/// Reads `value` as the type of the fixture `name` and writes it back.
fn reread(name: &str, value: &Value) -> Result<Value, String> {
    fn again<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
        let read: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        serde_json::to_value(&read).map_err(|e| e.to_string())
    }
    match name {
        "admission" => again::<Admission>(value),
        "answer" => again::<Answer>(value),
        "state_change" => again::<StateChange>(value),
        "key_state" => again::<KeyState>(value),
        "lease_request" => again::<LeaseRequest>(value),
        "lease_answer" => again::<LeaseAnswer>(value),
        "credits_call" => again::<CreditsCall>(value),
        "credits_changed" => again::<CreditsChanged>(value),
        "usage_query" => again::<UsageQuery>(value),
        "usage_report" => again::<UsageReport>(value),
        "directory_call" => again::<Call>(value),
        "directory_reply_applied" => again::<Reply<Applied>>(value),
        "directory_reply_stored" => again::<Reply<Option<Stored>>>(value),
        "directory_reply_keys" => again::<Reply<Page<KeyRecord>>>(value),
        "directory_reply_audit" => again::<Reply<Page<AuditEntry>>>(value),
        "directory_reply_none" => again::<Reply<()>>(value),
        "stored_key_record" => again::<KeyRecord>(value),
        "stored_lease" => again::<Lease>(value),
        "stored_due_notice" => again::<DueNotice>(value),
        "stored_credits" => again::<Credits>(value),
        "stored_low_watch" => again::<LowWatch>(value),
        "stored_series" => match value.as_str().and_then(Series::decode) {
            Some(s) => Ok(json!(s.encode())),
            None => Err("not a series".into()),
        },
        other => Err(format!("no reader for the fixture {other:?}")),
    }
}

/// Whether `new` keeps every field of `old` with the same value (it may add
/// fields of its own): nothing an old writer said is lost or read otherwise.
fn keeps(old: &Value, new: &Value) -> bool {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => o.iter().all(|(k, v)| {
            n.get(k).is_some_and(|nv| keeps(v, nv)) || v.is_null() && !n.contains_key(k)
        }),
        (Value::Array(o), Value::Array(n)) => {
            o.len() == n.len() && o.iter().zip(n).all(|(a, b)| keeps(a, b))
        }
        (o, n) => o == n,
    }
}

/// The fixtures' root, this release's directory written first (once) when
/// `KW_WRITE_WIRE` is set.
fn fixtures() -> PathBuf {
    static WRITTEN: std::sync::Once = std::sync::Once::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/wire");
    if std::env::var_os("KW_WRITE_WIRE").is_some() {
        WRITTEN.call_once(|| {
            let dir = root.join(THIS_RELEASE);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, examples) in written() {
                let text = serde_json::to_string_pretty(&examples).unwrap() + "\n";
                std::fs::write(dir.join(format!("{name}.json")), text).unwrap();
            }
        });
    }
    root
}

#[test]
fn every_release_reads_every_earlier_releases_messages() {
    let root = fixtures();
    let mut read = 0;
    for release in std::fs::read_dir(&root).unwrap() {
        let release = release.unwrap().path();
        for file in std::fs::read_dir(&release).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let examples: Vec<Value> = serde_json::from_str(&text).unwrap();
            assert!(!examples.is_empty(), "{}", path.display());
            for old in &examples {
                let new = reread(&name, old).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(
                    keeps(old, &new),
                    "{}: {old}\nread back as {new}",
                    path.display()
                );
                read += 1;
            }
        }
    }
    assert!(read >= 30, "{read} fixtures read");
}

/// This release writes its messages exactly as its fixtures hold them: a change
/// of a message's form is a new release directory, on purpose.
#[test]
fn this_release_writes_what_its_fixtures_hold() {
    let dir = fixtures().join(THIS_RELEASE);
    let written = written();
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        files,
        written.len(),
        "a fixture for every message, and no other"
    );
    for (name, examples) in written {
        let text = std::fs::read_to_string(dir.join(format!("{name}.json")))
            .unwrap_or_else(|e| panic!("{name}: {e}: KW_WRITE_WIRE=1 cargo test --lib wire"));
        let stored: Vec<Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(
            stored, examples,
            "{name} is written otherwise than its fixture"
        );
    }
}

/// Object-safe serialisation, so that one list holds every message type.
mod erased {
    pub trait Ser {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap()
        }
    }
}

/// What a later release may send that this one must read on purpose: unknown
/// fields, statuses and codes, and fields it leaves out.
mod tolerance {
    use super::*;
    use crate::decide;
    use crate::record::KeyStatus;

    fn read<T: DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A status this release does not know refuses, as `UNAVAILABLE`, whether
    /// the object's exact answer or its lease answer says it; the lease holder
    /// keeps nothing.
    #[test]
    fn an_unknown_status_is_refused_never_admitted() {
        let mut answer =
            serde_json::to_value(ChainState::default().admit(&admission(None), NOW_MS)).unwrap();
        answer["status"] = json!("suspended");
        let answer: Answer = read(answer);
        assert_eq!(answer.status, KeyStatus::Unknown);
        let refused = decide::status_refusal(&record(), answer.status).unwrap();
        assert_eq!(refused.code, Code::Unavailable);
        let admitted = crate::admission::answered(&record(), answer, NOW_MS).0;
        assert_eq!(admitted.unwrap_err().code, Code::Unavailable);

        let mut chain = ChainState {
            credits: Some(credits()),
            ..ChainState::default()
        };
        let mut holder = Holder::default();
        let mut r = holder.request("key_a1", "i1", &policies(), NOW_MS, 1_000, false);
        r.team = "acme".into();
        let mut lease = serde_json::to_value(chain.lease(&r, NOW_MS)).unwrap();
        assert!(lease["grant"].is_object());
        lease["status"] = json!("suspended");
        let lease: LeaseAnswer = read(lease);
        holder.apply(&lease);
        assert!(decide::status_refusal(&record(), lease.status).is_some());
        assert!(matches!(
            holder.admit(NOW_MS, 1_000, 1),
            crate::lease::Local::Ask
        ));
    }

    /// A refusal with a code this release does not know stays a refusal: the
    /// object records it as denied, with its status, and the usage series
    /// counts it refused; a report's outcomes keep their key.
    #[test]
    fn an_unknown_code_keeps_the_refusal() {
        let mut a = serde_json::to_value(admission(Some(Denial {
            status: 451,
            code: Some(Code::InsufficientScope),
        })))
        .unwrap();
        a["denial"]["code"] = json!("UNAVAILABLE_FOR_LEGAL_REASONS");
        let a: Admission = read(a);
        assert_eq!(a.denial.as_ref().unwrap().code, None);
        let mut chain = ChainState::default();
        chain.admit(&a, NOW_MS);
        let usage = &chain.usage["key_a1"];
        assert_eq!((usage.requests, usage.denied), (0, 1));
        let kept = chain.outcomes["key_a1"].back().unwrap();
        assert_eq!((kept.status, kept.code), (Some(451), None));
        let today = chain.series["key_a1"].today(NOW_MS);
        assert_eq!((today.admitted, today.refused), (0, 1));

        let mut holder = Holder::default();
        holder.record(outcome());
        let mut r =
            serde_json::to_value(holder.request("key_a1", "i1", &policies(), NOW_MS, 1_000, false))
                .unwrap();
        r["team"] = json!("acme");
        r["report"]["outcomes"][0]["code"] = json!("SOMETHING_NEW");
        let r: LeaseRequest = read(r);
        assert_eq!(r.key, "key_a1");
        let mut chain = ChainState::default();
        chain.lease(&r, NOW_MS);
        let today = chain.series["key_a1"].today(NOW_MS);
        assert_eq!((today.admitted, today.refused + today.limited), (0, 1));
        let kept = chain.outcomes["key_a1"].back().unwrap();
        assert_eq!((kept.status, kept.code), (Some(429), None));
    }

    /// Fields a later release adds are ignored; fields an earlier one left out
    /// take one default on both sides (`cost`: a request's default cost).
    #[test]
    fn unknown_fields_are_ignored_and_missing_ones_default_alike() {
        let mut a = serde_json::to_value(admission(None)).unwrap();
        a["priority"] = json!("high");
        a.as_object_mut().unwrap().remove("cost");
        let a: Admission = read(a);
        assert_eq!(a.cost, crate::policy::DEFAULT_COST);
        let mut r = serde_json::to_value(Holder::default().request(
            "key_a1",
            "i1",
            &policies(),
            NOW_MS,
            1_000,
            false,
        ))
        .unwrap();
        r["shard"] = json!(3);
        r.as_object_mut().unwrap().remove("cost");
        let r: LeaseRequest = read(r);
        assert_eq!(r.cost, a.cost);
        let mut o = serde_json::to_value(outcome()).unwrap();
        o.as_object_mut().unwrap().remove("code");
        let o: Outcome = read(o);
        assert_eq!((o.status, o.code), (Some(429), None));
    }
}
