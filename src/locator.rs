//! Finding a key that the isolate's KV copy does not hold yet: a new key is
//! accepted in every location on its first request, without waiting for KV to
//! carry its record there (up to 60 s).
//!
//! **The locator.** When a key is issued, imported or made by a rotation, the
//! admin API notes its record under its hash in one of [`SHARDS`] locator
//! shards (`directory::Call::Note`) before it returns the key. A shard is a
//! team directory object under a name no team can have ([`shard`]: `~locator/`
//! and the hash's first two hex digits), so it needs no object class of its own
//! (and no migration, which a gradual deployment cannot carry). A request whose
//! key KV does not know asks the key's shard (`directory::Call::Locate`) for
//! that record. The shard's copy is the record as it was made: a later change
//! raised its revision, which the key's object knows, so admission judges the
//! request again on the team directory's record (`admission::admit`), as it
//! does for an older KV copy. A hash already noted keeps its first record.
//!
//! **The abuse bound.** Key checksums are public, so anyone can make well-formed
//! keys that exist nowhere. [`Misses`] bounds what such keys cost, per isolate:
//! a hash found unknown is not asked again for [`UNKNOWN_TTL_MS`], and at most
//! [`MISS_BURST`] misses ask at once, then one per [`MISS_INTERVAL_MS`]. Over
//! any `d` milliseconds an isolate's misses make at most
//! `MISS_BURST + d / MISS_INTERVAL_MS` shard calls (10 plus 10 a second),
//! whatever keys they carry; a miss over the bound is refused as unknown, as
//! KV's answer says.

use crate::cache::TtlCache;

/// How many shards the locator has: one per first byte of a key's hash.
pub const SHARDS: usize = 256;

/// What every shard's object name starts with: no team id holds `~`.
pub const SHARD_PREFIX: &str = "~locator/";

/// The name of the shard that holds `hash` (lowercase hex).
pub fn shard(hash: &str) -> String {
    format!("{SHARD_PREFIX}{}", hash.get(..2).unwrap_or("00"))
}

/// Whether `hash` is a key hash as stored: 64 lowercase hex digits.
pub fn valid_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Misses that ask at once: the burst.
pub const MISS_BURST: i64 = 10;
/// Then one miss may ask per this many milliseconds (10 a second).
pub const MISS_INTERVAL_MS: i64 = 100;
/// How long a hash found unknown is not asked again.
pub const UNKNOWN_TTL_MS: i64 = 10_000;
/// Most hashes an isolate remembers as unknown.
const UNKNOWN_CAPACITY: usize = 4096;

/// What an isolate does with a key that KV does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// Ask the locator.
    Ask,
    /// The locator said unknown within [`UNKNOWN_TTL_MS`]: unknown.
    KnownUnknown,
    /// Over the isolate's bound: unknown, as KV says, without asking.
    OverBudget,
}

/// One isolate's misses: the hashes found unknown lately, and the bound on
/// asking (a generic cell rate: a miss may ask when the theoretical arrival
/// time is at most `(MISS_BURST - 1) × MISS_INTERVAL_MS` ahead of now).
#[derive(Debug)]
pub struct Misses {
    /// When the next ask would be due if asks came evenly, Unix milliseconds.
    due_ms: i64,
    unknown: TtlCache<String, ()>,
}

impl Default for Misses {
    fn default() -> Self {
        Misses {
            due_ms: 0,
            unknown: TtlCache::new(UNKNOWN_CAPACITY, UNKNOWN_TTL_MS),
        }
    }
}

impl Misses {
    /// What to do with a miss of `hash` at `now_ms`; an [`Miss::Ask`] is counted.
    pub fn on_miss(&mut self, hash: &str, now_ms: i64) -> Miss {
        if self.unknown.get(&hash.to_string(), now_ms).is_some() {
            return Miss::KnownUnknown;
        }
        let due = self.due_ms.max(now_ms);
        if due - now_ms > (MISS_BURST - 1) * MISS_INTERVAL_MS {
            return Miss::OverBudget;
        }
        self.due_ms = due + MISS_INTERVAL_MS;
        Miss::Ask
    }

    /// The locator found no key with `hash`.
    pub fn unknown(&mut self, hash: &str, now_ms: i64) {
        self.unknown.insert(hash.to_string(), (), now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_the_hashs_first_byte_under_a_name_no_team_has() {
        assert_eq!(shard(&"ab".repeat(32)), "~locator/ab");
        assert_eq!(shard(&format!("0f{}", "1".repeat(62))), "~locator/0f");
        assert!(!crate::ident::valid_team(&shard(&"ab".repeat(32))));
        let all: std::collections::BTreeSet<String> = (0..=255u8)
            .map(|b| shard(&format!("{b:02x}{}", "0".repeat(62))))
            .collect();
        assert_eq!(all.len(), SHARDS);
        assert!(valid_hash(&"0123456789abcdef".repeat(4)));
        for bad in [
            "",
            "C3",
            &"C3".repeat(32),
            &"c3".repeat(31),
            &format!("{}g", "c".repeat(63)),
        ] {
            assert!(!valid_hash(bad), "{bad:?}");
        }
    }

    /// The bound: a burst of `MISS_BURST`, then one per `MISS_INTERVAL_MS`,
    /// whatever the hashes; a hash found unknown is not asked again for
    /// `UNKNOWN_TTL_MS`, and costs nothing of the bound meanwhile.
    #[test]
    fn misses_ask_within_the_bound() {
        let mut m = Misses::default();
        let t0 = 1_800_000_000_000;
        let asked = |m: &mut Misses, from: usize, n: usize, now| {
            (from..from + n)
                .filter(|i| m.on_miss(&format!("{i:064x}"), now) == Miss::Ask)
                .count()
        };
        assert_eq!(asked(&mut m, 0, 100, t0), MISS_BURST as usize);
        assert_eq!(m.on_miss("x", t0 + MISS_INTERVAL_MS - 1), Miss::OverBudget);
        assert_eq!(asked(&mut m, 100, 100, t0 + MISS_INTERVAL_MS), 1);
        // A second later, ten more (the bucket refilled by the time passed).
        assert_eq!(asked(&mut m, 200, 100, t0 + 1_000 + MISS_INTERVAL_MS), 10);
        // After a long quiet, the burst again, never more.
        assert_eq!(asked(&mut m, 300, 100, t0 + 3_600_000), MISS_BURST as usize);

        let mut m = Misses::default();
        let hash = "e5".repeat(32);
        assert_eq!(m.on_miss(&hash, t0), Miss::Ask);
        m.unknown(&hash, t0);
        for _ in 0..100 {
            assert_eq!(
                m.on_miss(&hash, t0 + UNKNOWN_TTL_MS - 1),
                Miss::KnownUnknown
            );
        }
        assert_eq!(asked(&mut m, 0, 100, t0 + 1), (MISS_BURST - 1) as usize);
        assert_eq!(m.on_miss(&hash, t0 + UNKNOWN_TTL_MS), Miss::Ask);
    }
}
