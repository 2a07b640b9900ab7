//! Human output: aligned tables for lists, a key/value block for one key.

use serde_json::Value;

/// The rows of a key's block, in order; those missing from a reply are left out.
const KEY_FIELDS: &[&str] = &[
    "id",
    "team",
    "name",
    "status",
    "enabled",
    "hint",
    "scopes",
    "subject",
    "created_at",
    "created_by",
    "expires_at",
    "revoked_at",
    "plan",
    "rate_limits",
    "ip_allow",
    "meta",
    "credits",
    "imported",
    "replaces",
    "replaced_by",
    "last_used_at",
    "requests",
    "denied",
    "key",
];

/// A list of keys (`{"items": [...]}`) as a table.
pub fn keys(reply: &Value) -> String {
    let columns = [
        ("ID", "id"),
        ("NAME", "name"),
        ("STATUS", "status"),
        ("HINT", "hint"),
        ("SCOPES", "scopes"),
        ("EXPIRES", "expires_at"),
        ("LAST USED", "last_used_at"),
        ("REQUESTS", "requests"),
    ];
    let rows = items(reply)
        .map(|k| columns.iter().map(|(_, f)| field(k, f)).collect())
        .collect::<Vec<_>>();
    table(&columns.map(|(h, _)| h), &rows)
}

/// An audit log page as a table.
pub fn audit(reply: &Value) -> String {
    let rows = items(reply)
        .map(|e| {
            let details = match &e["details"] {
                Value::Object(d) if d.is_empty() => "-".to_string(),
                d => cell(d),
            };
            let at = |f: &str| cell(&e[f]);
            vec![
                at("seq"),
                at("at"),
                at("actor"),
                at("action"),
                at("key_id"),
                details,
            ]
        })
        .collect::<Vec<_>>();
    table(&["SEQ", "AT", "ACTOR", "ACTION", "KEY", "DETAILS"], &rows)
}

/// Who the token is.
pub fn me(reply: &Value) -> String {
    match reply["actor"].as_str() {
        Some("key") => format!(
            "a keys:manage key: {} of team {} (scopes {}; expires {})\n",
            cell(&reply["key_id"]),
            cell(&reply["team"]),
            cell(&reply["key_scopes"]),
            field(reply, "expires_at"),
        ),
        _ => "the admin token: every team\n".into(),
    }
}

/// One key as a block, then its recent outcomes when the reply has them.
pub fn key(view: &Value) -> String {
    let present: Vec<&str> = KEY_FIELDS
        .iter()
        .copied()
        .filter(|f| view.get(f).is_some())
        .collect();
    let width = present.iter().map(|f| f.len()).max().unwrap_or(0);
    let mut out: String = present
        .iter()
        .map(|f| format!("{f:<width$}  {}\n", field(view, f)))
        .collect();
    if let Some(recent) = view["recent"].as_array() {
        let rows: Vec<Vec<String>> = recent
            .iter()
            .map(|o| {
                let status = match &o["status"] {
                    Value::Null if o["forwarded"] == true => "forwarded".to_string(),
                    s => cell(s),
                };
                vec![
                    cell(&o["at"]),
                    cell(&o["method"]),
                    cell(&o["path"]),
                    status,
                    cell(&o["code"]),
                ]
            })
            .collect();
        out += "\nrecent requests:\n";
        out += &table(&["AT", "METHOD", "PATH", "STATUS", "CODE"], &rows);
    }
    out
}

fn items(reply: &Value) -> impl Iterator<Item = &Value> {
    reply["items"].as_array().into_iter().flatten()
}

/// One field of a key view, for people.
fn field(view: &Value, name: &str) -> String {
    match (name, &view[name]) {
        ("expires_at", Value::Null) => "never".into(),
        ("last_used_at", Value::Null) if view["requests"].is_number() => "never".into(),
        ("rate_limits", Value::Array(list)) if list.is_empty() => "unlimited".into(),
        ("credits", Value::Object(c)) => {
            let refill = match (&c["refill"], &c["next_refill_at"]) {
                (Value::Object(r), Value::String(at)) => {
                    format!(
                        ", set to {} {} (next {at})",
                        cell(&r["amount"]),
                        cell(&r["interval"])
                    )
                }
                _ => String::new(),
            };
            format!("{} left{refill}", cell(&c["remaining"]))
        }
        ("replaces", Value::Object(old)) => match (&old["status"], &old["revoked_at"]) {
            (Value::String(s), Value::String(until)) if s == "active" => {
                format!("{} (active until {until})", cell(&old["id"]))
            }
            (status, _) => format!("{} ({})", cell(&old["id"]), cell(status)),
        },
        (_, value) => cell(value),
    }
}

/// A JSON value in one cell: lists joined, rate limits as `name=limit/window`,
/// `-` for null, control characters replaced.
fn cell(value: &Value) -> String {
    let text = match value {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".to_string(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Object(l) if l.contains_key("window") => {
                    format!(
                        "{}={}/{}",
                        cell(&l["name"]),
                        cell(&l["limit"]),
                        cell(&l["window"])
                    )
                }
                other => cell(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    };
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Rows under a header, each column as wide as its widest cell, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    std::iter::once(&header)
        .chain(rows)
        .map(|row| {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            format!("{}\n", line.join("  ").trim_end())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[track_caller]
    fn check(got: String, expected: &str) {
        assert_eq!(got, expected);
    }

    #[test]
    #[rustfmt::skip]
    fn cells() {
        check(cell(&json!(null)), "-");
        check(cell(&json!("a\u{1b}[31mb")), "a?[31mb");
        check(cell(&json!(["a.b", "c.*"])), "a.b,c.*");
        check(cell(&json!([])), "-");
        check(cell(&json!([{"name": "burst", "limit": 5, "window": "1m"}])), "burst=5/1m");
        check(cell(&json!({"tier": "gold"})), r#"{"tier":"gold"}"#);
        check(cell(&json!(12)), "12");
        check(field(&json!({"expires_at": null}), "expires_at"), "never");
        check(field(&json!({"last_used_at": null, "requests": 0}), "last_used_at"), "never");
        check(field(&json!({"last_used_at": null, "requests": null}), "last_used_at"), "-");
        check(field(&json!({"rate_limits": []}), "rate_limits"), "unlimited");
        check(field(&json!({"replaces": {"id": "key_a", "status": "active", "revoked_at": "T"}}), "replaces"), "key_a (active until T)");
        check(field(&json!({"replaces": {"id": "key_a", "status": "revoked", "revoked_at": "T"}}), "replaces"), "key_a (revoked)");
        check(field(&json!({"replaces": "key_a"}), "replaces"), "key_a");
        check(field(&json!({"credits": {"remaining": 3, "refill": null, "next_refill_at": null}}), "credits"), "3 left");
        check(field(&json!({"credits": {"remaining": 0, "refill": {"interval": "daily", "amount": 5}, "next_refill_at": "T"}}), "credits"), "0 left, set to 5 daily (next T)");
        check(field(&json!({"credits": null}), "credits"), "-");
    }

    #[test]
    #[rustfmt::skip]
    fn tables() {
        check(table(&["A", "LONG"], &[]), "A  LONG\n");
        check(table(&["A", "B"], &[vec!["wide".into(), "x".into()], vec!["…".into(), "".into()]]), "A     B\nwide  x\n…\n");
        check(audit(&json!({"items": [{"seq": 2, "at": "T", "actor": "admin", "action": "key.revoke", "key_id": "key_a", "details": {}}]})), "SEQ  AT  ACTOR  ACTION      KEY    DETAILS\n2    T   admin  key.revoke  key_a  -\n");
        check(keys(&json!({"items": [{"id": "key_a", "name": "ci", "status": "active", "hint": "e2e_…abcd", "scopes": ["x"], "expires_at": null, "last_used_at": null, "requests": 0}]})), "ID     NAME  STATUS  HINT       SCOPES  EXPIRES  LAST USED  REQUESTS\nkey_a  ci    active  e2e_…abcd  x       never    never      0\n");
        check(key(&json!({"name": "ci", "id": "key_a", "key": "e2e_x"})), "id    key_a\nname  ci\nkey   e2e_x\n");
        check(me(&json!({"actor": "admin"})), "the admin token: every team\n");
        check(me(&json!({"actor": "key", "key_id": "key_m", "team": "acme", "key_scopes": ["keys.manage"], "expires_at": null})), "a keys:manage key: key_m of team acme (scopes keys.manage; expires never)\n");
        check(key(&json!({"id": "key_a", "recent": [{"at": "T", "method": "GET", "path": "/d", "status": null, "code": null, "forwarded": true}, {"at": "U", "method": "GET", "path": "/d", "status": 401, "code": "KEY_DISABLED", "forwarded": false}]})), "id  key_a\n\nrecent requests:\nAT  METHOD  PATH  STATUS     CODE\nT   GET     /d    forwarded  -\nU   GET     /d    401        KEY_DISABLED\n");
    }
}
