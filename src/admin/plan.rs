//! The admin API's decisions as a plan: a call is parsed, authorized and turned
//! into the writes that carry it out, in order; the shell only performs them.
//!
//! [`plan()`] judges everything that needs no stored record: the team, the body,
//! and what the actor may hand out. A change of a stored key is judged again,
//! once the shell has read it, by [`Command::writes`]. Every authorization check
//! happens once, here; randomness (new keys and ids) is passed in.

use super::Route;
use super::{validate_create, validate_import, validate_rotate, validate_update};
use crate::admin::actor::Actor;
use crate::change::{CreditsEdit, KeyUpdate, Rotate};
use crate::config::Config;
use crate::credits::{Credits, CreditsChange, Filter};
use crate::directory::{query_pairs, Action, Applied, Change};
use crate::expiry;
use crate::field::FieldError;
use crate::ident;
use crate::key::{self, ApiKey, KeyHash};
use crate::keystate::StateChange;
use crate::problem::{Code, Problem};
use crate::record::KeyRecord;
use serde_json::{json, Value};

/// Said when a rotation's old key's object could not be told when it stops.
pub const OBJECT_NOT_TOLD: &str = "the old key's Durable Object could not be told: it stops within RECORD_CACHE_TTL of its revoked_at, not exactly then";
/// Said when a rotation's KV copies could not be written.
pub const ROTATION_NOT_COPIED: &str = "the KV copy could not be written: the new key may not work until the rotation's records are written again (PATCH either key)";
/// Said when an imported key's KV copy could not be written.
pub const IMPORT_NOT_COPIED: &str = "the KV copy could not be written: the key may not work until its record is written again (PATCH it)";

/// What the audit log is to say of a write; the shell stamps it with the time,
/// the actor and the request.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    /// What was done.
    pub action: Action,
    /// The key acted on.
    pub key_id: String,
    /// Non-secret details.
    pub details: Value,
}

/// A key to add to a team.
#[derive(Debug, Clone, PartialEq)]
pub struct Insert {
    /// Its SHA-256.
    pub hash: KeyHash,
    /// Its record.
    pub record: KeyRecord,
    /// Its audit entry.
    pub audit: Audit,
    /// Warnings for the reply (an expiry cut to the issuer's).
    pub warnings: Vec<String>,
}

/// A call, judged: what the shell is to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Who calls ([`super::me_view`]).
    Me,
    /// Issue a key: its KV copy first, then the team directory (which may refuse
    /// it: the copy is then removed), and the plaintext in the reply, once.
    Issue(Box<Insert>, ApiKey),
    /// Register a key issued elsewhere: refused if KV knows its hash; the team
    /// directory first (which refuses a hash it knows), then its KV copy
    /// ([`IMPORT_NOT_COPIED`] if that fails: the key is registered).
    Import(Box<Insert>),
    /// A page of the team's keys, each with its usage, kept by `filter`.
    List {
        /// The team.
        team: String,
        /// Where the page starts.
        cursor: Option<String>,
        /// Its size.
        limit: u32,
        /// Which of the page's keys are shown, by their credits.
        filter: Filter,
    },
    /// A page of the team's audit log.
    Audit {
        /// The team.
        team: String,
        /// Where the page starts.
        cursor: Option<String>,
        /// Its size.
        limit: u32,
        /// Only this key's entries.
        key: Option<String>,
    },
    /// One key with its usage and last outcomes.
    Get {
        /// The team.
        team: String,
        /// The key.
        id: String,
    },
    /// A change of a stored key: the shell reads it, then asks
    /// [`Command::writes`].
    Change {
        /// The team.
        team: String,
        /// The key.
        id: String,
        /// What to change.
        command: Command,
    },
}

/// A change of a stored key, validated but not yet judged against the key.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `PATCH`.
    Update(KeyUpdate),
    /// `DELETE`.
    Revoke,
    /// `POST …/rotate`.
    Rotate(Rotate),
}

/// The writes of a change, in the order the shell carries them out.
#[derive(Debug, Clone, PartialEq)]
pub struct Writes {
    /// Told to the key's object first, since it decides every request from then
    /// on (revocation, disabling, enabling); told again after the directory if
    /// the object did not exist yet and its first request may have created it.
    pub first: Option<StateChange>,
    /// The isolate's leases of the key dropped at once.
    pub drop_leases: bool,
    /// The directory's change, with its audit entry.
    pub change: Change,
    /// Its audit entry.
    pub audit: Audit,
    /// A rotation's new key: once the directory has committed, its plaintext is
    /// returned whatever else fails ([`after_rotation`]).
    pub rotated: Option<Rotated>,
    /// A change of the key's credits, for its object to apply after `first` and
    /// before the directory (which keeps a copy, with the audit entry, by
    /// [`Writes::credited`]). It creates the object if the key has none yet.
    pub credits: Option<CreditsChange>,
    /// The record the change was judged on, when the directory must apply it to
    /// that record only ([`Call::Apply`](crate::directory::Call::Apply)'s
    /// `judged`): a key actor's changes, except revocation. A change landing in
    /// between (an admin's new scopes, credits or meta) could make the key more
    /// than the actor may touch; the shell then reads the key again and judges
    /// again. Revocation only takes power away, and was the actor's to do when
    /// judged: it applies to whatever the key is by then.
    pub judged: Option<KeyRecord>,
}

impl Writes {
    /// What the key's object answered to [`Writes::credits`]: the credits before
    /// and after, into the record's copy and the audit entry.
    pub fn credited(&mut self, before: Option<Credits>, after: Option<Credits>, now: i64) {
        if let Change::Update(u) = &mut self.change {
            u.credits = Some(CreditsEdit::Applied(after));
        }
        self.audit.details["credits"] = json!({
            "old": before.map(|c| c.view(now)),
            "new": after.map(|c| c.view(now)),
        });
    }
}

/// A rotation's new key, for the reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotated {
    /// Its plaintext, returned once.
    pub plaintext: ApiKey,
    /// Warnings known before any write (an expiry cut to the rotating key's).
    pub warnings: Vec<String>,
}

/// What follows a committed rotation: the old key's object learns when it stops
/// (best effort: [`OBJECT_NOT_TOLD`]), and its leases go at once if it stops now.
#[derive(Debug, Clone, PartialEq)]
pub struct AfterRotation {
    /// For the old key's object.
    pub state: StateChange,
    /// Whether the isolate's leases of the old key are dropped.
    pub drop_leases: bool,
}

/// Judges a call by `actor` at `now` (Unix seconds): the team it may act on, the
/// body (every invalid field at once) and the powers it may hand out. `fill`
/// supplies random bytes for a new key and its id.
pub fn plan(
    actor: &Actor,
    route: Route,
    body: &[u8],
    query: Option<&str>,
    now: i64,
    config: &Config,
    fill: impl FnMut(&mut [u8]),
) -> Result<Plan, Problem> {
    if let Some(team) = route.team() {
        actor.may_manage(team)?;
    }
    Ok(match route {
        Route::Me => Plan::Me,
        Route::CreateKey { team } => issue(actor, team, body, now, config, fill)?,
        Route::ImportKey { team } => import(actor, team, body, now, config, fill)?,
        Route::ListKeys { team } => {
            let (cursor, limit) = crate::directory::page_query(query)?;
            Plan::List {
                team,
                cursor,
                limit,
                filter: credits_filter(query)?,
            }
        }
        Route::Audit { team } => {
            let (cursor, limit) = crate::directory::page_query(query)?;
            Plan::Audit {
                team,
                cursor,
                limit,
                key: key_filter(query)?,
            }
        }
        Route::GetKey { team, id } => Plan::Get { team, id },
        Route::UpdateKey { team, id } => {
            let update = validate_update(body, config)?;
            actor.may_update(&update)?;
            Plan::Change {
                team,
                id,
                command: Command::Update(update),
            }
        }
        Route::RevokeKey { team, id } => Plan::Change {
            team,
            id,
            command: Command::Revoke,
        },
        Route::RotateKey { team, id } => Plan::Change {
            team,
            id,
            command: Command::Rotate(validate_rotate(body, now)?),
        },
    })
}

/// A key to issue to `team`: the body validated, kept within the actor's powers
/// (with a warning where its expiry is cut), given its plan's credits, and its
/// plaintext and id minted.
fn issue(
    actor: &Actor,
    team: String,
    body: &[u8],
    now: i64,
    config: &Config,
    mut fill: impl FnMut(&mut [u8]),
) -> Result<Plan, Problem> {
    let mut new = validate_create(body, now, config)?;
    let warnings = actor.restrict_new(&mut new, config)?;
    let new = new.with_plan_credits(config, now);
    let plaintext = key::generate(&config.key_prefix, &mut fill);
    let id = ident::mint_key_id(&mut fill);
    let hint = plaintext.hint(&config.key_prefix);
    let record = new.into_record(id, team, hint, now, actor.name());
    let insert = Insert {
        hash: plaintext.hash(),
        audit: created(Action::KeyCreate, &record),
        record,
        warnings,
    };
    Ok(Plan::Issue(Box::new(insert), plaintext))
}

/// A key issued elsewhere to register with `team`, by its hash: the body
/// validated, kept within the actor's powers, given its plan's credits and an id,
/// and marked imported.
fn import(
    actor: &Actor,
    team: String,
    body: &[u8],
    now: i64,
    config: &Config,
    fill: impl FnMut(&mut [u8]),
) -> Result<Plan, Problem> {
    let mut import = validate_import(body, now, config)?;
    let warnings = actor.restrict_new(&mut import.key, config)?;
    import.key = import.key.with_plan_credits(config, now);
    let id = ident::mint_key_id(fill);
    let hint = format!("{}…{}", import.prefix, import.last4.unwrap_or_default());
    let mut record = import.key.into_record(id, team, hint, now, actor.name());
    record.imported = true;
    Ok(Plan::Import(Box::new(Insert {
        hash: KeyHash(import.hash),
        audit: created(Action::KeyImport, &record),
        record,
        warnings,
    })))
}

impl Command {
    /// Judges the change against the stored key and states its writes. A key
    /// actor changes or revokes only keys whose scopes it holds, and rotates only
    /// keys no more powerful than itself (the new plaintext carries the old
    /// key's powers); neither key of its rotation outlives it.
    pub fn writes(
        self,
        actor: &Actor,
        stored: &KeyRecord,
        now: i64,
        config: &Config,
        fill: impl FnMut(&mut [u8]),
    ) -> Result<Writes, Problem> {
        let judged = match (actor, &self) {
            (Actor::Admin, _) | (Actor::Key(_), Command::Revoke) => None,
            (Actor::Key(_), _) => Some(stored.clone()),
        };
        match self {
            Command::Update(update) => update_writes(update, actor, stored, now, judged),
            Command::Revoke => revoke_writes(actor, stored, now, judged),
            Command::Rotate(rotate) => {
                rotate_writes(rotate, actor, stored, now, config, fill, judged)
            }
        }
    }
}

/// The writes of an update, by an actor holding the key's scopes: the object
/// told first of enabling or disabling (and the leases dropped on disabling),
/// and a change of credits refused here if the record already cannot take it.
fn update_writes(
    update: KeyUpdate,
    actor: &Actor,
    stored: &KeyRecord,
    now: i64,
    judged: Option<KeyRecord>,
) -> Result<Writes, Problem> {
    actor.may_grant(&stored.scopes)?;
    let credits = match update.credits {
        Some(CreditsEdit::Asked(c)) => {
            // Refused here when the record says so; the object judges
            // again what it holds.
            c.apply(stored.credits, now)
                .map_err(|m| Problem::new(Code::Conflict, m))?;
            Some(c)
        }
        _ => None,
    };
    let first = update.enabled.map(|enabled| StateChange {
        key: stored.id.clone(),
        revoked_at: None,
        enabled: Some(enabled),
        rev: None,
    });
    Ok(Writes {
        first,
        drop_leases: update.enabled == Some(false),
        audit: changed(
            Action::KeyUpdate,
            stored,
            json!({"fields": update.fields()}),
        ),
        change: Change::Update(update),
        rotated: None,
        credits,
        judged,
    })
}

/// The writes of a revocation at `now`, by an actor holding the key's scopes:
/// the object told first and the leases dropped, then the directory.
fn revoke_writes(
    actor: &Actor,
    stored: &KeyRecord,
    now: i64,
    judged: Option<KeyRecord>,
) -> Result<Writes, Problem> {
    actor.may_grant(&stored.scopes)?;
    Ok(Writes {
        first: Some(StateChange {
            key: stored.id.clone(),
            revoked_at: Some(now),
            enabled: None,
            rev: None,
        }),
        drop_leases: true,
        change: Change::Revoke { at: now },
        audit: changed(Action::KeyRevoke, stored, json!({})),
        rotated: None,
        credits: None,
        judged,
    })
}

/// The writes of a rotation, by an actor that may rotate the key: the new key
/// minted, never outliving the actor (with a warning where its expiry is cut),
/// and the directory first; the old key's object learns when it stops once the
/// directory has committed ([`after_rotation`]).
fn rotate_writes(
    rotate: Rotate,
    actor: &Actor,
    stored: &KeyRecord,
    now: i64,
    config: &Config,
    mut fill: impl FnMut(&mut [u8]),
    judged: Option<KeyRecord>,
) -> Result<Writes, Problem> {
    actor.may_rotate(stored, config)?;
    let resolved = rotate.expiry.resolve(stored.expires_at);
    let cut = actor
        .not_after()
        .filter(|cap| resolved.is_none_or(|e| e > *cap));
    let warnings = cut
        .map(|cap| {
            format!(
                "the new key expires at {}, when the key that rotated it does; a key never outlives its issuer",
                expiry::rfc3339(cap)
            )
        })
        .into_iter()
        .collect();
    let plaintext = key::generate(&config.key_prefix, &mut fill);
    let new_id = ident::mint_key_id(&mut fill);
    Ok(Writes {
        first: None,
        drop_leases: false,
        audit: changed(
            Action::KeyRotate,
            stored,
            json!({"replaced_by": new_id, "grace_s": rotate.grace_s}),
        ),
        change: Change::Rotate {
            new_id,
            new_hash: plaintext.hash().0,
            new_hint: plaintext.hint(&config.key_prefix),
            rotate,
            now,
            max_live: config.max_keys_per_team,
            by: actor.name().to_string(),
            not_after: actor.not_after(),
        },
        rotated: Some(Rotated {
            plaintext,
            warnings,
        }),
        credits: None,
        judged,
    })
}

/// The audit entry of a change of the stored key `r`.
fn changed(action: Action, r: &KeyRecord, details: Value) -> Audit {
    Audit {
        action,
        key_id: r.id.clone(),
        details,
    }
}

/// What a key's object is told once its team directory applied a change
/// (other than a rotation): the record's new revision, so that a request judged
/// on an older copy anywhere is judged again on the directory's.
pub fn revision(record: &KeyRecord) -> StateChange {
    StateChange {
        key: record.id.clone(),
        rev: Some(record.rev),
        ..StateChange::default()
    }
}

/// What follows a rotation that the directory applied at `now`.
pub fn after_rotation(applied: &Applied, now: i64) -> AfterRotation {
    let old = &applied.key.record;
    AfterRotation {
        state: StateChange {
            key: old.id.clone(),
            revoked_at: old.revoked_at,
            enabled: None,
            rev: Some(old.rev),
        },
        drop_leases: old.revoked_at.is_some_and(|at| at <= now),
    }
}

/// The audit log's filter by key: `key=key_…`.
fn key_filter(query: Option<&str>) -> Result<Option<String>, Problem> {
    let mut key = None;
    for (_, id) in query_pairs(query).filter(|(k, _)| *k == "key") {
        if !ident::valid_key_id(id) || key.is_some() {
            return Err(Problem::validation(vec![FieldError::new(
                "key",
                "must be one key id (key_ and base62)",
            )]));
        }
        key = Some(id.to_string());
    }
    Ok(key)
}

/// A list's filter by credits: `credits=exhausted` (none left) or
/// `credits_below=N` (fewer than N left); keys without credits match neither.
fn credits_filter(query: Option<&str>) -> Result<Filter, Problem> {
    let mut filter = Filter::All;
    let mut errors = Vec::new();
    for (k, v) in query_pairs(query) {
        let asked = match k {
            "credits" if v == "exhausted" => Filter::Exhausted,
            "credits" => {
                errors.push(FieldError::new("credits", "must be \"exhausted\""));
                continue;
            }
            "credits_below" => match v.parse::<u64>() {
                Ok(n) if n >= 1 => Filter::Below(n),
                _ => {
                    errors.push(FieldError::new(
                        "credits_below",
                        "must be a whole number from 1",
                    ));
                    continue;
                }
            },
            _ => continue,
        };
        if filter != Filter::All {
            errors.push(FieldError::new(k, "choose one credits filter"));
        }
        filter = asked;
    }
    if errors.is_empty() {
        Ok(filter)
    } else {
        Err(Problem::validation(errors))
    }
}

/// The audit entry of a new key: its non-secret facts.
fn created(action: Action, r: &KeyRecord) -> Audit {
    Audit {
        action,
        key_id: r.id.clone(),
        details: json!({
            "name": r.name,
            "scopes": r.scopes,
            "expires_at": r.expires_at.map(expiry::rfc3339),
            "plan": r.plan,
        }),
    }
}

/// A view with the reply's warnings, if any.
pub fn with_warnings(mut view: Value, warnings: &[impl AsRef<str>]) -> Value {
    if !warnings.is_empty() {
        let w: Vec<&str> = warnings.iter().map(AsRef::as_ref).collect();
        view["warnings"] = json!(w);
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::NewExpiry;
    use crate::directory::Stored;

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    fn config() -> Config {
        Config::from_vars(|name| match name {
            "POLICY" => Some(json!({})),
            "ORIGIN_URL" => Some(json!("http://127.0.0.1:1")),
            "PLANS" => Some(json!({
                "free": [{"name": "burst", "limit": 10, "window": "1m"}],
                "trial": {"limits": [], "credits": {"remaining": 100, "refill": {"interval": "daily", "amount": 100}}}
            })),
            _ => None,
        })
        .unwrap()
    }

    /// Random bytes that are the same in every run.
    fn fill(b: &mut [u8]) {
        for (i, x) in b.iter_mut().enumerate() {
            *x = (i * 37 % 200) as u8;
        }
    }

    /// A manager of `acme` holding `documents.*`, until NOW + 30 days.
    fn manager() -> Actor {
        Actor::key(KeyRecord {
            id: "key_m".into(),
            team: "acme".into(),
            scopes: vec!["keys.manage".into(), "documents.*".into()],
            expires_at: Some(NOW + 30 * DAY),
            plan: Some("free".into()),
            enabled: true,
            ..Default::default()
        })
    }

    /// A stored key of `acme` with `scopes`, expiring in a year.
    fn stored(scopes: &[&str]) -> KeyRecord {
        KeyRecord {
            id: "key_t".into(),
            team: "acme".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            expires_at: Some(NOW + 365 * DAY),
            plan: Some("free".into()),
            enabled: true,
            ..Default::default()
        }
    }

    fn route(method: &str, path: &str) -> Route {
        super::super::route(method, &format!("/_keyward/v1{path}")).unwrap()
    }

    fn run(actor: &Actor, method: &str, path: &str, body: Value) -> Result<Plan, Code> {
        let body = body.to_string();
        plan(
            actor,
            route(method, path),
            body.as_bytes(),
            Some("limit=5"),
            NOW,
            &config(),
            fill,
        )
        .map_err(|p| p.code)
    }

    /// The admin token's `GET` of `path` with the query `q`.
    fn queried(path: &str, q: &str) -> Result<Plan, Code> {
        let route = route("GET", path);
        plan(&Actor::Admin, route, b"", Some(q), NOW, &config(), fill).map_err(|p| p.code)
    }

    fn writes(actor: &Actor, command: Command, target: &KeyRecord) -> Result<Writes, Code> {
        command
            .writes(actor, target, NOW, &config(), fill)
            .map_err(|p| p.code)
    }

    /// A key actor's change applies only to the record it was judged on, except
    /// its revocation; the admin token's apply to the record as it is.
    #[test]
    fn a_key_actors_changes_name_the_record_they_were_judged_on() {
        let m = manager();
        let target = stored(&["documents.read"]);
        let disable = || {
            Command::Update(KeyUpdate {
                enabled: Some(false),
                ..Default::default()
            })
        };
        let rotate = || {
            Command::Rotate(Rotate {
                grace_s: 0,
                expiry: NewExpiry::Keep,
            })
        };
        for (actor, command, judged) in [
            (&m, disable(), true),
            (&m, rotate(), true),
            (&m, Command::Revoke, false),
            (&Actor::Admin, disable(), false),
            (&Actor::Admin, rotate(), false),
            (&Actor::Admin, Command::Revoke, false),
        ] {
            let w = writes(actor, command.clone(), &target).unwrap();
            assert_eq!(
                w.judged.as_ref(),
                judged.then_some(&target),
                "{} {command:?}",
                actor.name()
            );
        }
    }

    #[test]
    fn the_team_is_judged_before_the_body() {
        let m = manager();
        // Another team's: refused whatever the body, even one that is not JSON.
        for (method, path) in [
            ("POST", "/teams/other/keys"),
            ("GET", "/teams/other/keys"),
            ("GET", "/teams/other/audit"),
            ("DELETE", "/teams/other/keys/key_t"),
        ] {
            let r = plan(&m, route(method, path), b"{", None, NOW, &config(), fill);
            assert_eq!(
                r.map_err(|p| p.code),
                Err(Code::Forbidden),
                "{method} {path}"
            );
        }
        let huge = vec![b' '; super::super::MAX_BODY + 1];
        let r = plan(
            &m,
            route("POST", "/teams/acme/keys"),
            &huge,
            None,
            NOW,
            &config(),
            fill,
        );
        assert_eq!(r.map_err(|p| p.code), Err(Code::PayloadTooLarge));
        let r = plan(
            &Actor::Admin,
            route("POST", "/teams/other/keys"),
            b"{",
            None,
            NOW,
            &config(),
            fill,
        );
        assert_eq!(r.map_err(|p| p.code), Err(Code::ValidationFailed));
    }

    #[test]
    fn an_issued_key_is_minted_inside_the_actors_powers() {
        let Ok(Plan::Issue(insert, plaintext)) = run(
            &manager(),
            "POST",
            "/teams/acme/keys",
            json!({"name": "ci-bot", "scopes": ["documents.read"]}),
        ) else {
            panic!("not an issue")
        };
        let r = &insert.record;
        assert_eq!(insert.hash, plaintext.hash());
        assert!(crate::key::parse(&config().key_prefix, plaintext.expose()).is_ok());
        assert!(crate::ident::valid_key_id(&r.id));
        assert_eq!(r.hint, plaintext.hint(&config().key_prefix));
        assert_eq!((r.team.as_str(), r.created_by.as_str()), ("acme", "key_m"));
        assert_eq!(r.created_at, NOW);
        // Cut to the manager's expiry, with a warning; its plan inherited.
        assert_eq!(r.expires_at, Some(NOW + 30 * DAY));
        assert_eq!(insert.warnings.len(), 1);
        assert_eq!(r.plan.as_deref(), Some("free"));
        assert_eq!(r.placed, Some(false));
        assert_eq!(insert.audit.action, Action::KeyCreate);
        assert_eq!(insert.audit.key_id, r.id);
        assert_eq!(insert.audit.details["scopes"], json!(["documents.read"]));
        // The audit entry never holds the plaintext or the hash.
        let details = insert.audit.details.to_string();
        assert!(!details.contains(plaintext.expose()) && !details.contains(&insert.hash.0));

        let beyond = run(
            &manager(),
            "POST",
            "/teams/acme/keys",
            json!({"name": "ci-bot", "scopes": ["billing.read"]}),
        );
        assert_eq!(beyond, Err(Code::Forbidden));
    }

    #[test]
    fn an_imported_key_keeps_its_hash_and_is_marked() {
        let hash = "ab".repeat(32);
        let Ok(Plan::Import(insert)) = run(
            &Actor::Admin,
            "POST",
            "/teams/acme/keys/import",
            json!({"name": "old", "scopes": ["a"], "hash": hash, "prefix": "kw_", "last4": "wxyz"}),
        ) else {
            panic!("not an import")
        };
        assert_eq!(insert.hash.0, hash);
        assert!(insert.record.imported);
        assert_eq!(insert.record.hint, "kw_…wxyz");
        assert_eq!(insert.audit.action, Action::KeyImport);
        assert!(insert.warnings.is_empty());
    }

    #[test]
    fn reads_carry_their_page() {
        assert_eq!(
            run(&Actor::Admin, "GET", "/teams/acme/keys", json!(null)),
            Ok(Plan::List {
                team: "acme".into(),
                cursor: None,
                limit: 5,
                filter: Filter::All,
            })
        );
        let list = |q: &str| {
            queried("/teams/acme/keys", q).map(|p| match p {
                Plan::List { filter, .. } => filter,
                other => panic!("{other:?}"),
            })
        };
        assert_eq!(list("credits=exhausted&limit=3"), Ok(Filter::Exhausted));
        assert_eq!(list("credits_below=10"), Ok(Filter::Below(10)));
        for bad in [
            "credits=low",
            "credits_below=0",
            "credits_below=x",
            "credits=exhausted&credits_below=5",
        ] {
            assert_eq!(list(bad), Err(Code::ValidationFailed), "{bad}");
        }
        assert_eq!(
            run(&Actor::Admin, "GET", "/teams/acme/audit", json!(null)),
            Ok(Plan::Audit {
                team: "acme".into(),
                cursor: None,
                limit: 5,
                key: None,
            })
        );
        let audit = |q: &str| {
            queried("/teams/acme/audit", q).map(|p| match p {
                Plan::Audit { key, .. } => key,
                other => panic!("{other:?}"),
            })
        };
        assert_eq!(audit("key=key_abc&limit=2"), Ok(Some("key_abc".into())));
        for bad in [
            "key=nope",
            "key=",
            "key",
            "key=key_a&key=key_b",
            "key=key_a%2F",
        ] {
            assert_eq!(audit(bad), Err(Code::ValidationFailed), "{bad}");
        }
        assert_eq!(
            run(&manager(), "GET", "/teams/acme/keys/key_t", json!(null)),
            Ok(Plan::Get {
                team: "acme".into(),
                id: "key_t".into()
            })
        );
        assert_eq!(
            queried("/teams/acme/keys", "limit=0"),
            Err(Code::ValidationFailed)
        );
    }

    /// The command of a change planned by `actor`.
    fn command(actor: &Actor, method: &str, path: &str, body: Value) -> Result<Command, Code> {
        match run(actor, method, path, body)? {
            Plan::Change { command, .. } => Ok(command),
            other => panic!("not a change: {other:?}"),
        }
    }

    #[test]
    fn updates_tell_the_object_first_only_of_enabling() {
        let path = "/teams/acme/keys/key_t";
        let c = command(&Actor::Admin, "PATCH", path, json!({"enabled": false})).unwrap();
        let w = writes(&Actor::Admin, c, &stored(&["documents.read"])).unwrap();
        assert_eq!(
            w.first,
            Some(StateChange {
                key: "key_t".into(),
                revoked_at: None,
                enabled: Some(false),
                rev: None,
            })
        );
        assert!(w.drop_leases);
        assert_eq!(w.audit.details, json!({"fields": ["enabled"]}));

        let c = command(&Actor::Admin, "PATCH", path, json!({"enabled": true})).unwrap();
        let w = writes(&Actor::Admin, c, &stored(&[])).unwrap();
        assert_eq!(w.first.and_then(|c| c.enabled), Some(true));
        assert!(!w.drop_leases);

        let c = command(&Actor::Admin, "PATCH", path, json!({"name": "renamed"})).unwrap();
        let w = writes(&Actor::Admin, c, &stored(&[])).unwrap();
        assert_eq!((w.first, w.drop_leases, w.rotated), (None, false, None));
        assert!(matches!(w.change, Change::Update(u) if u.name.as_deref() == Some("renamed")));
    }

    #[test]
    fn a_manager_changes_only_keys_within_its_scopes() {
        let m = manager();
        let path = "/teams/acme/keys/key_t";
        // Fields only the admin token may change: refused before the key is read.
        assert_eq!(
            command(&m, "PATCH", path, json!({"meta": {"a": 1}})),
            Err(Code::Forbidden)
        );
        assert_eq!(
            command(&m, "PATCH", path, json!({"scopes": ["billing.read"]})),
            Err(Code::Forbidden)
        );
        let rename = command(&m, "PATCH", path, json!({"name": "renamed"})).unwrap();
        assert!(writes(&m, rename.clone(), &stored(&["documents.read"])).is_ok());
        for c in [rename, Command::Revoke] {
            assert_eq!(
                writes(&m, c, &stored(&["billing.read"])),
                Err(Code::Forbidden)
            );
        }
    }

    #[test]
    fn a_revocation_stops_the_object_and_the_leases_first() {
        let w = writes(&Actor::Admin, Command::Revoke, &stored(&["x"])).unwrap();
        assert_eq!(w.first.as_ref().and_then(|c| c.revoked_at), Some(NOW));
        assert!(w.drop_leases);
        assert_eq!(w.change, Change::Revoke { at: NOW });
        assert_eq!(w.audit.action, Action::KeyRevoke);
    }

    #[test]
    fn a_rotation_mints_its_key_and_bounds_it_by_the_rotating_key() {
        let path = "/teams/acme/keys/key_t/rotate";
        let c = command(&Actor::Admin, "POST", path, json!({"grace": "1h"})).unwrap();
        let w = writes(&Actor::Admin, c, &stored(&["documents.read"])).unwrap();
        let rotated = w.rotated.clone().unwrap();
        assert!(rotated.warnings.is_empty());
        assert_eq!((w.first.clone(), w.drop_leases), (None, false));
        let Change::Rotate {
            new_id,
            new_hash,
            new_hint,
            rotate,
            by,
            not_after,
            ..
        } = &w.change
        else {
            panic!("not a rotation")
        };
        assert_eq!(*new_hash, rotated.plaintext.hash().0);
        assert_eq!(*new_hint, rotated.plaintext.hint(&config().key_prefix));
        assert_eq!(
            w.audit.details,
            json!({"replaced_by": new_id, "grace_s": 3600})
        );
        assert_eq!(rotate.grace_s, 3600);
        assert_eq!((by.as_str(), *not_after), ("admin", None));

        // A manager's rotation: the new key (which would keep the old key's year)
        // is cut to the manager's expiry, with a warning.
        let m = manager();
        let c = command(&m, "POST", path, json!({"grace": "0s"})).unwrap();
        let w = writes(&m, c, &stored(&["documents.read"])).unwrap();
        assert_eq!(w.rotated.unwrap().warnings.len(), 1);
        assert!(
            matches!(w.change, Change::Rotate { not_after: Some(t), .. } if t == NOW + 30 * DAY)
        );
        // An expiry asked no later than the manager's: no warning.
        let c = command(
            &m,
            "POST",
            path,
            json!({"grace": "0s", "expires_in": "30d"}),
        )
        .unwrap();
        let w = writes(&m, c, &stored(&["documents.read"])).unwrap();
        assert!(w.rotated.unwrap().warnings.is_empty());
        // A key beyond the manager's powers is not rotated.
        let c = command(&m, "POST", path, json!({"grace": "0s"})).unwrap();
        assert_eq!(
            writes(&m, c, &stored(&["billing.read"])),
            Err(Code::Forbidden)
        );
    }

    #[test]
    fn after_a_rotation_the_old_key_stops_when_the_directory_said() {
        let applied = |revoked_at| Applied {
            key: Stored {
                hash: "h".into(),
                record: KeyRecord {
                    revoked_at,
                    ..stored(&[])
                },
            },
            new_key: None,
        };
        for (revoked_at, drop) in [
            (Some(NOW), true),
            (Some(NOW - 1), true),
            (Some(NOW + 1), false),
        ] {
            let after = after_rotation(&applied(revoked_at), NOW);
            assert_eq!(after.state.revoked_at, revoked_at);
            assert_eq!(after.state.key, "key_t");
            assert_eq!(after.drop_leases, drop, "{revoked_at:?}");
        }
    }

    #[test]
    fn credits_come_from_the_body_or_the_plan() {
        let issued = |body: Value| match run(&Actor::Admin, "POST", "/teams/acme/keys", body) {
            Ok(Plan::Issue(insert, _)) => insert.record.credits,
            other => panic!("{other:?}"),
        };
        let from_plan =
            issued(json!({"name": "trial key", "scopes": [], "plan": "trial"})).unwrap();
        assert_eq!((from_plan.remaining, from_plan.since), (100, NOW));
        let own = issued(
            json!({"name": "own", "scopes": [], "plan": "trial", "credits": {"remaining": 7}}),
        );
        assert_eq!(own.map(|c| (c.remaining, c.refill)), Some((7, None)));
        assert_eq!(
            issued(json!({"name": "none", "scopes": [], "plan": "free"})),
            None
        );
    }

    #[test]
    fn a_credits_patch_goes_to_the_object_then_into_the_record_and_the_audit() {
        let path = "/teams/acme/keys/key_t";
        let add = command(&Actor::Admin, "PATCH", path, json!({"credits": {"add": 5}})).unwrap();
        // A key without credits has nothing to add to: refused before any write.
        assert_eq!(
            writes(&Actor::Admin, add.clone(), &stored(&[])),
            Err(Code::Conflict)
        );
        let with = KeyRecord {
            credits: Some(Credits {
                remaining: 2,
                refill: None,
                since: NOW,
            }),
            ..stored(&[])
        };
        let mut w = writes(&Actor::Admin, add, &with).unwrap();
        assert!(matches!(
            w.credits,
            Some(CreditsChange::Update { add: Some(5), .. })
        ));
        assert_eq!(w.first, None);
        let after = Some(Credits {
            remaining: 7,
            ..with.credits.unwrap()
        });
        w.credited(with.credits, after, NOW);
        let Change::Update(u) = &w.change else {
            panic!("not an update")
        };
        assert_eq!(u.credits, Some(CreditsEdit::Applied(after)));
        assert_eq!(w.audit.details["fields"], json!(["credits"]));
        assert_eq!(w.audit.details["credits"]["old"]["remaining"], json!(2));
        assert_eq!(w.audit.details["credits"]["new"]["remaining"], json!(7));
        // Removing them: the record's copy goes too.
        let remove = command(&Actor::Admin, "PATCH", path, json!({"credits": null})).unwrap();
        let mut w = writes(&Actor::Admin, remove, &with).unwrap();
        w.credited(with.credits, None, NOW);
        let Change::Update(u) = &w.change else {
            panic!("not an update")
        };
        assert_eq!(u.credits, Some(CreditsEdit::Applied(None)));
        assert_eq!(w.audit.details["credits"]["new"], json!(null));
        // A manager may not change credits.
        assert_eq!(
            command(&manager(), "PATCH", path, json!({"credits": {"add": 1}})),
            Err(Code::Forbidden)
        );
    }

    #[test]
    fn warnings_are_added_only_when_there_are_some() {
        let none: [&str; 0] = [];
        assert_eq!(with_warnings(json!({"a": 1}), &none), json!({"a": 1}));
        assert_eq!(
            with_warnings(json!({"a": 1}), &["w"]),
            json!({"a": 1, "warnings": ["w"]})
        );
    }
}
