//! Opening an object's SQLite database: its layout brought to this release's
//! version (`crate::schema`) before the first call reads it.

use super::runtime;
use crate::schema::{Layout, Upgrade, READ_VERSION, VERSION_TABLE, WRITE_VERSION};
use serde::Deserialize;
use worker::{Result, SqlStorage, SqlStorageValue};

#[derive(Deserialize)]
struct VersionRow {
    version: f64,
}

/// Runs the migrations `layout` says the database still needs, in one
/// synchronous step (the runtime writes them together), and writes the version.
pub fn open(sql: &SqlStorage, layout: &Layout) -> Result<()> {
    sql.exec(VERSION_TABLE, None)?;
    let rows: Vec<VersionRow> = sql.exec(READ_VERSION, None)?.to_array()?;
    let found = rows.first().map(|r| r.version as u32);
    match layout.upgrade(found) {
        Upgrade::Current => {}
        Upgrade::Migrate {
            from,
            to,
            statements,
        } => {
            for statement in statements {
                sql.exec(statement, None)?;
            }
            let version = SqlStorageValue::Integer(i64::from(to));
            sql.exec(WRITE_VERSION, Some(vec![version]))?;
            if from > 0 {
                runtime::log(serde_json::json!({
                    "event": "storage_migrated",
                    "object": layout.object,
                    "from": from,
                    "to": to,
                }));
            }
        }
        Upgrade::Newer { found, known } => runtime::log(serde_json::json!({
            "event": "storage_newer",
            "object": layout.object,
            "found": found,
            "known": known,
        })),
    }
    Ok(())
}
