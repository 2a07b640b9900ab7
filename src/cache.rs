//! A small bounded cache with a time to live, for key records within one isolate.
//!
//! Time is passed in. Entries older than the TTL are never returned; when the cache
//! is full, expired entries go first, then the oldest.

use std::collections::HashMap;
use std::hash::Hash;

/// A bounded map whose entries expire `ttl_ms` after insertion.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    entries: HashMap<K, (V, i64)>,
    capacity: usize,
    ttl_ms: i64,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// A cache of at most `capacity` entries living `ttl_ms` each (0 disables it).
    pub fn new(capacity: usize, ttl_ms: i64) -> Self {
        TtlCache {
            entries: HashMap::new(),
            capacity,
            ttl_ms,
        }
    }

    /// The value for `key` if it was inserted less than the TTL before `now_ms`.
    pub fn get(&self, key: &K, now_ms: i64) -> Option<V> {
        self.entries
            .get(key)
            .filter(|(_, at)| now_ms >= *at && now_ms - at < self.ttl_ms)
            .map(|(v, _)| v.clone())
    }

    /// Inserts or replaces `key`, evicting if full.
    pub fn insert(&mut self, key: K, value: V, now_ms: i64) {
        if self.ttl_ms <= 0 || self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            let ttl = self.ttl_ms;
            self.entries
                .retain(|_, (_, at)| now_ms >= *at && now_ms - *at < ttl);
            if self.entries.len() >= self.capacity {
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    self.entries.remove(&k);
                }
            }
        }
        self.entries.insert(key, (value, now_ms));
    }

    /// Number of entries, expired or not.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let mut c = TtlCache::new(4, 1_000);
        c.insert("a", 1, 10_000);
        assert_eq!(c.get(&"a", 10_000), Some(1));
        assert_eq!(c.get(&"a", 10_999), Some(1));
        assert_eq!(c.get(&"a", 11_000), None);
        // A clock that went back does not make an entry fresh.
        assert_eq!(c.get(&"a", 9_000), None);
        c.insert("a", 2, 11_000);
        assert_eq!(c.get(&"a", 11_500), Some(2));
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut c = TtlCache::new(2, 1_000);
        c.insert(1, "x", 0);
        c.insert(2, "y", 10);
        c.insert(3, "z", 20);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&1, 30), None, "the oldest went first");
        assert_eq!((c.get(&2, 30), c.get(&3, 30)), (Some("y"), Some("z")));
        // Expired entries go before live ones.
        c.insert(4, "w", 1_015);
        assert_eq!((c.get(&3, 1_016), c.get(&4, 1_016)), (Some("z"), Some("w")));
    }

    #[test]
    fn a_zero_ttl_disables_it() {
        let mut c = TtlCache::new(2, 0);
        c.insert(1, 1, 0);
        assert!(c.is_empty());
        assert_eq!(c.get(&1, 0), None);
    }
}
