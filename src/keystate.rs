//! What a key's Durable Object knows for certain: revocation and disabling, applied
//! before its rate limits, so that they take effect on the very next request.

use crate::ratelimit::Verdict;
use crate::record::KeyStatus;
use serde::{Deserialize, Serialize};

/// The authoritative state of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyState {
    /// Unix seconds from which the key is revoked.
    pub revoked_at: Option<i64>,
    /// Whether the key is disabled.
    pub disabled: bool,
}

/// A change sent by the admin API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    /// Revoke from this time (Unix seconds). The earliest revocation always wins.
    #[serde(default)]
    pub revoked_at: Option<i64>,
    /// Enable or disable.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// The object's answer to one admission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// `active`, or why the key may not be used.
    pub status: KeyStatus,
    /// The rate-limit verdict, for an active key.
    pub verdict: Option<Verdict>,
}

impl KeyState {
    /// Applies a change. A revocation is never undone or postponed.
    pub fn apply(&mut self, change: StateChange) {
        if let Some(at) = change.revoked_at {
            self.revoked_at = Some(self.revoked_at.map_or(at, |old| old.min(at)));
        }
        if let Some(enabled) = change.enabled {
            self.disabled = !enabled;
        }
    }

    /// The status at `now_ms`, as far as this state decides it (never `Expired`).
    pub fn status(&self, now_ms: i64) -> KeyStatus {
        if self
            .revoked_at
            .is_some_and(|r| now_ms >= r.saturating_mul(1000))
        {
            KeyStatus::Revoked
        } else if self.disabled {
            KeyStatus::Disabled
        } else {
            KeyStatus::Active
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(changes: &[StateChange], now_ms: i64, expected: KeyStatus) {
        let mut s = KeyState::default();
        for c in changes {
            s.apply(*c);
        }
        assert_eq!(s.status(now_ms), expected, "{changes:?}");
    }

    fn revoke(at: i64) -> StateChange {
        StateChange {
            revoked_at: Some(at),
            enabled: None,
        }
    }

    fn enable(on: bool) -> StateChange {
        StateChange {
            revoked_at: None,
            enabled: Some(on),
        }
    }

    #[test]
    fn transitions() {
        use KeyStatus::*;
        check(&[], 0, Active);
        check(&[enable(false)], 0, Disabled);
        check(&[enable(false), enable(true)], 0, Active);
        check(&[revoke(10)], 10_000, Revoked);
        check(&[revoke(10)], 9_999, Active);
        check(&[revoke(10), enable(true)], 10_000, Revoked);
        check(&[revoke(10), enable(false)], 5_000, Disabled);
        // A later revocation time never postpones an earlier one.
        check(&[revoke(10), revoke(100)], 50_000, Revoked);
        check(&[revoke(100), revoke(10)], 50_000, Revoked);
    }

    #[test]
    fn changes_decode_with_missing_fields() {
        let c: StateChange = serde_json::from_str(r#"{"enabled": false}"#).unwrap();
        assert_eq!(c, enable(false));
    }
}
