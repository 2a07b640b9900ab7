//! Changes of a stored key, as the admin API validates them and the team
//! directory applies them: a `PATCH`'s fields ([`KeyUpdate`]) and a rotation's
//! parameters ([`Rotate`]). A leaf: the admin API builds them, the directory
//! applies them, and neither imports the other for them.

use crate::credits::{Credits, CreditsChange};
use crate::ratelimit::LimitPolicy;
use crate::record::{AdmissionMode, KeyRecord};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A validated `POST /teams/{team}/keys/{id}/rotate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotate {
    /// Seconds the old key keeps working (never past its own expiry).
    pub grace_s: u32,
    /// The new key's expiry.
    pub expiry: NewExpiry,
}

/// The expiry of a rotation's new key. An explicit type, not `Option<Option<_>>`:
/// JSON has one `null`, and "never" must not turn into "keep" on its way to the
/// directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewExpiry {
    /// The old key's expiry.
    Keep,
    /// Never expires.
    Never,
    /// At this time (Unix seconds).
    At(i64),
}

impl NewExpiry {
    /// The new key's `expires_at`, given the old key's.
    pub fn resolve(self, old: Option<i64>) -> Option<i64> {
        match self {
            NewExpiry::Keep => old,
            NewExpiry::Never => None,
            NewExpiry::At(t) => Some(t),
        }
    }
}

/// A change of a key's limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limits {
    /// Neither a plan nor its own: `RATE_LIMITS` applies.
    Default,
    /// A plan from `PLANS`.
    Plan(String),
    /// The key's own policies (`[]`: unlimited).
    Own(Vec<LimitPolicy>),
}

/// A field that a `PATCH` sets or clears (`null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Patch<T> {
    /// Set to `null`.
    Clear,
    /// Set to a value.
    Set(T),
}

impl<T: Clone> Patch<T> {
    fn value(&self) -> Option<T> {
        match self {
            Patch::Clear => None,
            Patch::Set(v) => Some(v.clone()),
        }
    }
}

/// A validated `PATCH` body: each field is `None` when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUpdate {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Enable or disable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// New limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// New networks, or none (every address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_allow: Option<Patch<Vec<IpNet>>>,
    /// New meta, or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Patch<Map<String, Value>>>,
    /// New admission mode, or none (the plan's or `ADMISSION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission: Option<Patch<AdmissionMode>>,
    /// A change of the key's credits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<CreditsEdit>,
}

/// A `PATCH` of a key's credits: first as asked, for the key's Durable Object
/// (the authority for what is left) to apply; then as it applied it, for the
/// record's copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditsEdit {
    /// As the admin asked.
    Asked(CreditsChange),
    /// As the key's object applied it: the credits after it (`None`: none).
    Applied(Option<Credits>),
}

impl KeyUpdate {
    /// Applies the update to a record.
    pub fn apply(&self, record: &mut KeyRecord) {
        if let Some(name) = &self.name {
            record.name = name.clone();
        }
        if let Some(scopes) = &self.scopes {
            record.scopes = scopes.clone();
        }
        if let Some(enabled) = self.enabled {
            record.enabled = enabled;
        }
        match &self.limits {
            None => {}
            Some(Limits::Default) => (record.plan, record.rate_limits) = (None, None),
            Some(Limits::Plan(p)) => (record.plan, record.rate_limits) = (Some(p.clone()), None),
            Some(Limits::Own(l)) => (record.plan, record.rate_limits) = (None, Some(l.clone())),
        }
        if let Some(p) = &self.ip_allow {
            record.ip_allow = p.value();
        }
        if let Some(p) = &self.meta {
            record.meta = p.value();
        }
        if let Some(p) = &self.admission {
            record.admission = p.value();
        }
        // What the object applied; a change still as asked leaves the copy alone.
        if let Some(CreditsEdit::Applied(c)) = self.credits {
            record.credits = c;
        }
    }

    /// The names of the fields it changes, for the audit log.
    pub fn fields(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        let present = [
            ("name", self.name.is_some()),
            ("scopes", self.scopes.is_some()),
            ("enabled", self.enabled.is_some()),
            ("limits", self.limits.is_some()),
            ("ip_allow", self.ip_allow.is_some()),
            ("meta", self.meta.is_some()),
            ("admission", self.admission.is_some()),
            ("credits", self.credits.is_some()),
        ];
        for (name, p) in present {
            if p {
                f.push(name);
            }
        }
        f
    }
}
