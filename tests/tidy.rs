//! Checks that the documents stay true to the code: every source file in
//! ARCHITECTURE.md's codemap, every admin route in `openapi.yaml` and the CLI,
//! every problem code in the README, no source file too long to read, and
//! ARCHITECTURE.md whole.

use keyward::admin::Route;
use keyward::problem;
use std::fs;
use std::path::{Path, PathBuf};

/// Most lines a source file may hold before its tests.
const MAX_LINES: usize = 800;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every file under `dir`, as paths relative to the crate's root.
fn files(dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            let rel = path.strip_prefix(root()).unwrap();
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

fn sources() -> Vec<String> {
    let mut all = Vec::new();
    files(&root().join("src"), &mut all);
    all.sort();
    all
}

/// The file names in the first column of the codemap table under `heading`.
fn codemap(doc: &str, heading: &str) -> Vec<String> {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no {heading:?}"));
    doc[start + heading.len()..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.split('|').nth(1))
        .filter_map(|cell| cell.trim().strip_prefix('`')?.strip_suffix('`'))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_source_file_is_in_the_codemap() {
    let doc = read("ARCHITECTURE.md");
    let core = codemap(&doc, "### Core");
    let shell = codemap(&doc, "### Shell");
    let around = codemap(&doc, "### Around it");
    let mut missing = Vec::new();
    for file in sources() {
        let listed = if let Some(name) = file.strip_prefix("src/shell/") {
            shell.iter().any(|s| s == name)
        } else if file.starts_with("src/bin/") {
            around.iter().any(|dir| file.starts_with(dir.as_str()))
        } else {
            let name = file.strip_prefix("src/").unwrap();
            core.iter().any(|s| s == name)
        };
        if !listed {
            missing.push(file);
        }
    }
    assert!(
        missing.is_empty(),
        "not in ARCHITECTURE.md's codemap: {missing:?}"
    );
    // And the codemap names no file that is gone.
    let gone: Vec<&String> = core
        .iter()
        .filter(|f| !root().join("src").join(f).exists())
        .chain(
            shell
                .iter()
                .filter(|f| !root().join("src/shell").join(f).exists()),
        )
        .collect();
    assert!(gone.is_empty(), "in the codemap but not in src/: {gone:?}");
}

/// ARCHITECTURE.md keeps every part a reader relies on, in order: an edit that
/// cuts one (a replacement run past its end) fails here, not in review.
#[test]
fn the_architecture_keeps_its_parts() {
    let doc = read("ARCHITECTURE.md");
    let headings: Vec<&str> = doc.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(
        headings,
        [
            "# Architecture",
            "## Codemap",
            "### Core (`src/`, native and wasm32)",
            "### Shell (`src/shell/`, wasm32 only)",
            "### Around it",
            "## Invariants",
            "## Toolchain",
        ]
    );
    let invariants = doc
        .split("## Invariants")
        .nth(1)
        .and_then(|rest| rest.split("## Toolchain").next())
        .unwrap_or("");
    let count = invariants.lines().filter(|l| l.starts_with("- ")).count();
    assert!(count >= 20, "{count} invariants left in ARCHITECTURE.md");
}

/// One of each admin route. The match below fails to compile when a route is
/// added, so that it is added here too.
fn routes() -> Vec<Route> {
    let team = || "{team}".to_string();
    let id = || "{id}".to_string();
    let all = vec![
        Route::Me,
        Route::CreateKey { team: team() },
        Route::ListKeys { team: team() },
        Route::ImportKey { team: team() },
        Route::Audit { team: team() },
        Route::RotateKey {
            team: team(),
            id: id(),
        },
        Route::GetKey {
            team: team(),
            id: id(),
        },
        Route::UpdateKey {
            team: team(),
            id: id(),
        },
        Route::RevokeKey {
            team: team(),
            id: id(),
        },
    ];
    for r in &all {
        match r {
            Route::Me
            | Route::CreateKey { .. }
            | Route::ListKeys { .. }
            | Route::ImportKey { .. }
            | Route::Audit { .. }
            | Route::RotateKey { .. }
            | Route::GetKey { .. }
            | Route::UpdateKey { .. }
            | Route::RevokeKey { .. } => {}
        }
    }
    all
}

/// The operations of `openapi.yaml`: (method, path).
fn openapi_operations() -> Vec<(String, String)> {
    let doc = read("openapi.yaml");
    let mut ops = Vec::new();
    let mut path = None;
    for line in doc.lines() {
        if let Some(p) = line.strip_prefix("  /").and_then(|p| p.strip_suffix(':')) {
            path = Some(format!("/{p}"));
        } else if !line.starts_with("  ") {
            path = None;
        } else if let (Some(p), Some(m)) = (&path, line.strip_prefix("    ")) {
            if let Some(m) = m
                .strip_suffix(':')
                .filter(|m| ["get", "post", "patch", "put", "delete"].contains(m))
            {
                ops.push((m.to_uppercase(), p.clone()));
            }
        }
    }
    ops
}

#[test]
fn every_admin_route_is_in_openapi_and_the_cli() {
    let ops = openapi_operations();
    let cli: String = ["args.rs", "main.rs"]
        .iter()
        .map(|f| read(&format!("src/bin/keyward/{f}")))
        .collect();
    for route in routes() {
        let op = (route.method().to_string(), route.path());
        assert!(ops.contains(&op), "{op:?} is not in openapi.yaml ({ops:?})");
        let name = format!("{route:?}");
        let variant = name.split(' ').next().unwrap();
        assert!(
            cli.contains(&format!("Route::{variant}")),
            "the CLI never reaches {variant}"
        );
    }
    // And openapi.yaml describes no route that keyward does not have.
    assert_eq!(ops.len(), routes().len(), "{ops:?}");
}

#[test]
fn every_problem_code_is_in_the_readme() {
    let readme = read("README.md");
    for code in problem::ALL {
        let row = format!("| `{}` | {} |", code.as_str(), code.info().status);
        assert!(readme.contains(&row), "README lacks the row {row:?}");
    }
}

#[test]
fn no_source_file_is_too_long_to_read() {
    let mut long = Vec::new();
    for file in sources().iter().filter(|f| f.ends_with(".rs")) {
        let text = read(file);
        let lines = text
            .lines()
            .take_while(|l| !l.starts_with("#[cfg(test)]"))
            .count();
        if lines > MAX_LINES {
            long.push(format!("{file}: {lines}"));
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines before the tests: {long:?}"
    );
}

/// The core's top-level modules that `file` (under `src/`, not the shell's)
/// names as `crate::…`, comments and tests aside.
fn imports(file: &str) -> Vec<String> {
    let text = read(file);
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut found = Vec::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let rest = &line[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

#[test]
fn the_core_imports_without_circles() {
    use std::collections::{BTreeMap, BTreeSet};
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources() {
        let Some(rel) = file.strip_prefix("src/") else {
            continue;
        };
        if rel.starts_with("shell/") || rel.starts_with("bin/") || rel == "lib.rs" {
            continue;
        }
        let module = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        let deps = graph.entry(module.clone()).or_default();
        deps.extend(imports(&file).into_iter().filter(|m| *m != module));
    }
    // A module that reaches itself again through its imports is in a circle.
    let mut circles = Vec::new();
    for (module, deps) in &graph {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = deps.iter().collect();
        while let Some(m) = todo.pop() {
            if m == module {
                circles.push(module.clone());
                break;
            }
            if seen.insert(m.clone()) {
                todo.extend(graph.get(m).into_iter().flatten());
            }
        }
    }
    assert!(
        circles.is_empty(),
        "modules in an import circle: {circles:?}"
    );
}
