//! keyward's identifiers, checked in one place: team ids, plan and policy names
//! (`[a-z0-9_-]`, of a bounded length) and key ids (`key_` and base62).

/// Whether `s` is 1 to `max` characters of `a-z`, `0-9`, `_` and `-`.
pub fn is_slug(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
}

/// Whether `team` is a valid team id: `[a-z0-9_-]{1,64}`.
pub fn valid_team(team: &str) -> bool {
    is_slug(team, 64)
}

/// Whether `name` is a valid plan or rate-limit policy name: `[a-z0-9_-]{1,32}`.
pub fn valid_name(name: &str) -> bool {
    is_slug(name, 32)
}

/// What every key id starts with.
pub const KEY_ID_PREFIX: &str = "key_";
/// Random base62 characters of a new key id.
pub const KEY_ID_LEN: usize = 16;

/// A new key id, `key_` and 16 base62 characters from `fill` (the runtime's
/// randomness, passed in).
pub fn mint_key_id(fill: impl FnMut(&mut [u8])) -> String {
    crate::key::generate_id(KEY_ID_PREFIX, KEY_ID_LEN, fill)
}

/// Whether `id` looks like a key id (`key_` and 1 to 64 base62 characters).
pub fn valid_key_id(id: &str) -> bool {
    id.strip_prefix(KEY_ID_PREFIX).is_some_and(|r| {
        (1..=64).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(valid_team("acme") && valid_team("a-b_c-9") && valid_team(&"a".repeat(64)));
        for bad in ["", "ACME", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(!valid_team(bad), "{bad:?}");
        }
        assert!(valid_name(&"x".repeat(32)) && !valid_name(&"x".repeat(33)));
        assert!(!valid_name("Free"));
        let minted = mint_key_id(|b: &mut [u8]| b.fill(7));
        assert!(valid_key_id(&minted) && minted.len() == KEY_ID_PREFIX.len() + KEY_ID_LEN);
        assert!(valid_key_id("key_AbC123") && valid_key_id(&format!("key_{}", "a".repeat(64))));
        for bad in [
            "key_",
            "key_a-b",
            "kw_abc",
            "KEY_abc",
            &format!("key_{}", "a".repeat(65)),
        ] {
            assert!(!valid_key_id(bad), "{bad:?}");
        }
    }
}
