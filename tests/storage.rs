//! The Durable Objects' SQL, run in SQLite (`node:sqlite`, through
//! `tests/storage/sqlite.mjs`): each layout's migrations on an empty database and
//! on the databases earlier releases wrote (`tests/storage/v*/`), with nothing
//! lost and every stored value still read by this release; and the SQL that
//! restates a core rule, held against the rule.

use keyward::credits::{Credits, LowWatch};
use keyward::directory::AuditEntry;
use keyward::keyobject::DueNotice;
use keyward::keystate::KeyState;
use keyward::lease::Lease;
use keyward::record::KeyRecord;
use keyward::schema::{self, Layout, Upgrade};
use keyward::usage::Series;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A database file of its own in the build's temporary directory.
fn database(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("storage");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Runs `steps` on the database at `db`; the rows of each `all` step.
fn sqlite(db: &Path, steps: Vec<Value>) -> Vec<Vec<Value>> {
    let mut child = Command::new("node")
        .args(["--no-warnings", "tests/storage/sqlite.mjs"])
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (scripts/setup.sh installs it)");
    let input = json!({"db": db, "steps": steps}).to_string();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "sqlite: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Opens `db` as the shell does (`shell::layout::open`): the version table,
/// the version read, the migrations it still needs, the version written.
fn open(db: &Path, layout: &Layout) -> Upgrade {
    let read = sqlite(
        db,
        vec![
            json!(["exec", schema::VERSION_TABLE]),
            json!(["all", schema::READ_VERSION]),
        ],
    );
    let found = read[0]
        .first()
        .map(|r| r["version"].as_u64().unwrap() as u32);
    let upgrade = layout.upgrade(found);
    if let Upgrade::Migrate { to, statements, .. } = &upgrade {
        let mut steps: Vec<Value> = statements.iter().map(|s| json!(["exec", s])).collect();
        steps.push(json!(["run", schema::WRITE_VERSION, [to]]));
        sqlite(db, steps);
    }
    upgrade
}

/// Every table's rows, by table, and the layout (`sqlite_schema`).
fn dump(db: &Path) -> (Value, Vec<Value>) {
    let tables = sqlite(
        db,
        vec![json!([
            "all",
            "SELECT name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
        ])],
    )
    .remove(0);
    let steps = tables
        .iter()
        .filter(|t| {
            t["sql"]
                .as_str()
                .is_some_and(|s| s.starts_with("CREATE TABLE"))
        })
        .map(|t| {
            json!([
                "all",
                format!(
                    "SELECT * FROM {} ORDER BY rowid",
                    t["name"].as_str().unwrap()
                )
            ])
        })
        .collect::<Vec<_>>();
    let names: Vec<&str> = tables
        .iter()
        .filter(|t| {
            t["sql"]
                .as_str()
                .is_some_and(|s| s.starts_with("CREATE TABLE"))
        })
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let rows = sqlite(db, steps);
    let by_table = names
        .iter()
        .zip(rows)
        .map(|(n, r)| (n.to_string(), json!(r)));
    (Value::Object(by_table.collect()), tables)
}

/// The layouts' fixtures: every release's databases, by layout.
fn fixtures() -> Vec<(PathBuf, Layout)> {
    let mut all = vec![];
    for release in std::fs::read_dir(root().join("tests/storage")).unwrap() {
        let release = release.unwrap().path();
        if !release.is_dir() {
            continue;
        }
        for (file, layout) in [
            ("directory.sql", schema::DIRECTORY),
            ("key_object.sql", schema::KEY_OBJECT),
        ] {
            all.push((release.join(file), layout));
        }
    }
    assert!(!all.is_empty());
    all
}

#[test]
fn a_new_database_gets_this_releases_layout_once() {
    for layout in schema::ALL {
        let db = database(layout.object);
        let first = open(&db, &layout);
        assert!(
            matches!(first, Upgrade::Migrate { from: 0, to, .. } if to == layout.version()),
            "{first:?}"
        );
        assert_eq!(open(&db, &layout), Upgrade::Current);
        let (rows, tables) = dump(&db);
        assert_eq!(
            rows["keyward_layout"],
            json!([{"id": 0, "version": layout.version()}])
        );
        assert!(tables.len() > 2, "{tables:?}");
    }
}

#[test]
fn an_earlier_releases_database_upgrades_with_nothing_lost() {
    for (fixture, layout) in fixtures() {
        let db = database(&format!("{}-old", layout.object));
        let sql = std::fs::read_to_string(&fixture).unwrap();
        sqlite(&db, vec![json!(["exec", sql])]);
        let (before, _) = dump(&db);
        let upgrade = open(&db, &layout);
        // A database at this release's layout is used as it is.
        assert!(
            matches!(upgrade, Upgrade::Migrate { to, .. } if to == layout.version())
                || upgrade == Upgrade::Current && before["keyward_layout"].is_array(),
            "{}: {upgrade:?}",
            fixture.display()
        );
        let (after, tables) = dump(&db);
        assert_eq!(
            after["keyward_layout"],
            json!([{"id": 0, "version": layout.version()}])
        );
        for (table, rows) in before.as_object().unwrap() {
            assert!(
                !rows.as_array().unwrap().is_empty(),
                "{table}: the fixture fills every table"
            );
            if table != "keyward_layout" {
                assert_eq!(&after[table], rows, "{}: {table}", fixture.display());
            }
        }
        // The same layout as a new database's.
        let fresh = database(&format!("{}-fresh", layout.object));
        open(&fresh, &layout);
        assert_eq!(tables, dump(&fresh).1, "{}", fixture.display());
        reads(layout.object, &after);
    }
}

/// Every stored value of an object's rows reads as this release's types.
fn reads(object: &str, rows: &Value) {
    fn each<T: serde::de::DeserializeOwned>(rows: &Value, table: &str, column: &str) -> usize {
        let all = rows[table].as_array().unwrap();
        for row in all {
            let text = row[column].as_str().unwrap();
            if let Err(e) = serde_json::from_str::<T>(text) {
                panic!("{table}.{column}: {e}: {text}");
            }
        }
        all.len()
    }
    let read = if object == schema::DIRECTORY.object {
        each::<KeyRecord>(rows, "keys", "record") + each::<AuditEntry>(rows, "audit", "entry")
    } else {
        for row in rows["series"].as_array().unwrap() {
            assert!(
                Series::decode(row["series"].as_str().unwrap()).is_some(),
                "{row}"
            );
        }
        each::<KeyState>(rows, "keys", "state")
            + each::<Lease>(rows, "leases", "lease")
            + each::<Credits>(rows, "credits", "credits")
            + each::<LowWatch>(rows, "credits_low", "watch")
            + each::<Lease>(rows, "lapsed", "lease")
            + each::<DueNotice>(rows, "notices", "due")
    };
    assert!(read > 0, "{object}");
}

/// `schema::LIVE_KEYS` counts exactly the records `KeyRecord::is_live` calls
/// live, at every edge of revocation and expiry.
#[test]
fn the_directorys_live_count_is_the_records_rule() {
    const T: i64 = 1_800_000_000;
    let times = [None, Some(T - 1), Some(T), Some(T + 1)];
    let nows = [
        T * 1000 - 1,
        T * 1000,
        T * 1000 + 1,
        (T - 1) * 1000,
        (T + 1) * 1000 + 999,
    ];
    let db = database("live");
    open(&db, &schema::DIRECTORY);
    let mut steps = vec![];
    let mut expected = vec![];
    for revoked_at in times {
        for expires_at in times {
            let record = KeyRecord {
                id: "key_1".into(),
                revoked_at,
                expires_at,
                ..KeyRecord::default()
            };
            steps.push(json!(["exec", "DELETE FROM keys"]));
            steps.push(json!([
                "run",
                "INSERT INTO keys (id, hash, created_at, revoked_at, expires_at, record) VALUES (?, ?, ?, ?, ?, ?)",
                ["key_1", "ab", 0, revoked_at, expires_at, "{}"]
            ]));
            for now in nows {
                steps.push(json!(["all", schema::LIVE_KEYS, [now]]));
                expected.push((revoked_at, expires_at, now, record.is_live(now)));
            }
        }
    }
    let counts = sqlite(&db, steps);
    assert_eq!(counts.len(), expected.len());
    let mut live = 0;
    for (rows, (revoked_at, expires_at, now, is_live)) in counts.iter().zip(&expected) {
        let n = rows[0]["n"].as_u64().unwrap();
        assert_eq!(
            n == 1,
            *is_live,
            "revoked_at {revoked_at:?}, expires_at {expires_at:?}, now {now}"
        );
        live += n;
    }
    // Both answers occur: the grid reaches each side of each edge.
    assert!(live > 0 && (live as usize) < expected.len(), "{live}");
}

/// A locator shard's SQL (`schema::LOCATED_NOTE`, `LOCATED_FIND`): a hash noted
/// is found with its record, a second note of it (another team's) keeps the
/// first record, and an unknown hash finds nothing.
#[test]
fn a_locator_shard_keeps_a_hashs_first_record() {
    let db = database("located");
    open(&db, &schema::DIRECTORY);
    let (h1, h2) = ("a1".repeat(32), "b2".repeat(32));
    let found = sqlite(
        &db,
        vec![
            json!(["run", schema::LOCATED_NOTE, [h1, "{\"team\":\"acme\"}"]]),
            json!(["run", schema::LOCATED_NOTE, [h1, "{\"team\":\"evil\"}"]]),
            json!(["all", schema::LOCATED_FIND, [h1]]),
            json!(["all", schema::LOCATED_FIND, [h2]]),
        ],
    );
    assert_eq!(
        found[0],
        vec![json!({"hash": h1, "record": "{\"team\":\"acme\"}"})]
    );
    assert!(found[1].is_empty());
}
