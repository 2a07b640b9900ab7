//! The Durable Objects' SQLite layouts, versioned. Each object's tables are an
//! ordered list of migrations; at load the object reads the version its
//! database holds and runs what follows, in the same synchronous step as its
//! first call, so no call ever sees a half-migrated database.
//!
//! The rules that let two releases share one database during a gradual
//! deployment, or a rollback:
//! - a migration only adds (a table, an index, a column with a default), so a
//!   release that knows fewer migrations still reads and writes what it knows;
//! - a database newer than the release that opens it is used as it is, never
//!   migrated down (`Upgrade::Newer`, logged);
//! - migration 1 is the layout of the releases before versions existed, in
//!   `IF NOT EXISTS` statements, so their databases upgrade in place.
//!
//! `tests/storage.rs` runs these statements in SQLite, on an empty database and
//! on the fixtures of earlier layouts (`tests/storage/`), and checks nothing is
//! lost.

/// One object's layout: its migrations, oldest first. The version of a
/// database is the number of migrations it has run.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// The object's class, for log lines.
    pub object: &'static str,
    /// Each migration's statements.
    pub migrations: &'static [&'static [&'static str]],
}

/// Where the version lives, made first in every database.
pub const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS keyward_layout \
     (id INTEGER PRIMARY KEY CHECK (id = 0), version INTEGER NOT NULL)";

/// Reads the version (no row: a database from before versions, or a new one).
pub const READ_VERSION: &str = "SELECT version FROM keyward_layout WHERE id = 0";

/// Writes the version (the one parameter) after the migrations.
pub const WRITE_VERSION: &str = "INSERT INTO keyward_layout (id, version) VALUES (0, ?) \
     ON CONFLICT(id) DO UPDATE SET version = excluded.version";

/// What opening a database takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upgrade {
    /// It holds this release's layout.
    Current,
    /// Run these statements in order, then write `to` ([`WRITE_VERSION`]).
    Migrate {
        /// The version found.
        from: u32,
        /// The version written after.
        to: u32,
        /// The statements of every migration after `from`.
        statements: Vec<&'static str>,
    },
    /// A later release migrated it: used as it is (its migrations only added).
    Newer {
        /// The version found.
        found: u32,
        /// This release's latest.
        known: u32,
    },
}

impl Layout {
    /// This release's version of the layout.
    pub fn version(&self) -> u32 {
        self.migrations.len() as u32
    }

    /// What a database at `found` (`None`: no version written) takes.
    pub fn upgrade(&self, found: Option<u32>) -> Upgrade {
        let (from, known) = (found.unwrap_or(0), self.version());
        if from > known {
            return Upgrade::Newer { found: from, known };
        }
        if from == known {
            return Upgrade::Current;
        }
        let statements = self.migrations[from as usize..]
            .iter()
            .flat_map(|m| m.iter().copied())
            .collect();
        Upgrade::Migrate {
            from,
            to: known,
            statements,
        }
    }
}

/// The team directory's layout.
pub const DIRECTORY: Layout = Layout {
    object: "TeamDirectory",
    migrations: &[&[
        "CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, \
         created_at INTEGER NOT NULL, revoked_at INTEGER, expires_at INTEGER, record TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS keys_by_age ON keys (created_at DESC, id DESC)",
        "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS notices (key_id TEXT NOT NULL, days INTEGER NOT NULL, \
         PRIMARY KEY (key_id, days))",
    ], &[
        // A key locator shard's rows (`crate::locator`: a directory object under
        // a `~locator/` name); empty in a team's directory.
        "CREATE TABLE IF NOT EXISTS located (hash TEXT PRIMARY KEY, record TEXT NOT NULL)",
    ]],
};

/// The team directory's count of live keys at `?1` (Unix milliseconds): the
/// SQL of `KeyRecord::is_live` (not revoked, a rotation's grace still counting,
/// and not expired), held against it by `tests/storage.rs`.
pub const LIVE_KEYS: &str = "SELECT COUNT(*) AS n FROM keys \
     WHERE (revoked_at IS NULL OR revoked_at * 1000 > ?1) \
     AND (expires_at IS NULL OR expires_at * 1000 > ?1)";

/// A key locator shard's row for a hash (`?1`): the hash and its record.
pub const LOCATED_FIND: &str = "SELECT hash, record FROM located WHERE hash = ?";

/// Notes a record (`?2`) under its hash (`?1`), unless the hash holds one
/// already: the first is kept (`directory::Call::Note`).
pub const LOCATED_NOTE: &str = "INSERT OR IGNORE INTO located (hash, record) VALUES (?, ?)";

/// A key chain's object's layout.
pub const KEY_OBJECT: Layout = Layout {
    object: "KeyAuthority",
    migrations: &[&[
        "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, \
         window_start_ms INTEGER NOT NULL, count INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, state TEXT NOT NULL, \
         last_used_at INTEGER, requests INTEGER NOT NULL, denied INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS outcomes (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
         key_id TEXT NOT NULL, at_ms INTEGER NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, \
         status INTEGER, code TEXT)",
        "CREATE TABLE IF NOT EXISTS leases (id INTEGER PRIMARY KEY, lease TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS credits (id INTEGER PRIMARY KEY CHECK (id = 0), credits TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS series (key_id TEXT PRIMARY KEY, series TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS credits_low (id INTEGER PRIMARY KEY CHECK (id = 0), watch TEXT NOT NULL)",
    ], &[
        // Nothing claimed only in memory: leases that lapsed with credits (a
        // late return gives back what they did not spend), and low-credit
        // notices claimed and not yet delivered.
        "CREATE TABLE IF NOT EXISTS lapsed (seq INTEGER PRIMARY KEY, lease TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS notices (seq INTEGER PRIMARY KEY, due TEXT NOT NULL)",
    ]],
};

/// Every layout, for the tests.
pub const ALL: [Layout; 2] = [DIRECTORY, KEY_OBJECT];

#[cfg(test)]
mod tests {
    use super::*;

    const THREE: Layout = Layout {
        object: "Test",
        migrations: &[&["a1", "a2"], &["b1"], &["c1"]],
    };

    #[test]
    fn a_database_runs_the_migrations_after_its_version() {
        let migrate = |from, statements: &[&'static str]| Upgrade::Migrate {
            from,
            to: 3,
            statements: statements.to_vec(),
        };
        assert_eq!(THREE.version(), 3);
        assert_eq!(THREE.upgrade(None), migrate(0, &["a1", "a2", "b1", "c1"]));
        assert_eq!(
            THREE.upgrade(Some(0)),
            migrate(0, &["a1", "a2", "b1", "c1"])
        );
        assert_eq!(THREE.upgrade(Some(1)), migrate(1, &["b1", "c1"]));
        assert_eq!(THREE.upgrade(Some(2)), migrate(2, &["c1"]));
        assert_eq!(THREE.upgrade(Some(3)), Upgrade::Current);
        assert_eq!(
            THREE.upgrade(Some(4)),
            Upgrade::Newer { found: 4, known: 3 }
        );
    }

    /// Migrations only add: an older release keeps working on a newer database.
    #[test]
    fn migrations_only_add() {
        for layout in ALL {
            for statement in layout.migrations.iter().flat_map(|m| m.iter()) {
                let s = statement.to_ascii_uppercase();
                let adds = s.starts_with("CREATE TABLE IF NOT EXISTS ")
                    || s.starts_with("CREATE INDEX IF NOT EXISTS ")
                    || s.starts_with("ALTER TABLE ") && s.contains(" ADD COLUMN ");
                assert!(adds, "{}: {statement}", layout.object);
                assert!(
                    !s.contains("DROP ") && !s.contains("RENAME "),
                    "{statement}"
                );
            }
        }
    }
}
