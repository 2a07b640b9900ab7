//! Checks that the documents stay true to the code: every source file in
//! ARCHITECTURE.md's codemap, every admin route in `openapi.yaml` and the CLI,
//! every problem code in the README, no source file or function too long to
//! read, no clock in the core, the console's element ids in its page and
//! every console script type-checked, the architecture's diagram naming what
//! exists, and ARCHITECTURE.md whole.

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
            "## Walks",
            "### One request with a key, admitted exactly",
            "### One leased admission",
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

/// Whether `file` is a module of tests: its parent declares it under
/// `#[cfg(test)]` (`keyobject/tests.rs`, `wire/golden.rs`).
fn test_only(file: &str) -> bool {
    let path = std::path::Path::new(file);
    let (Some(stem), Some(dir)) = (path.file_stem(), path.parent()) else {
        return false;
    };
    let parent = dir.join("mod.rs");
    let declaration = format!("#[cfg(test)]\nmod {};", stem.to_string_lossy());
    parent != path
        && fs::read_to_string(root().join(&parent)).is_ok_and(|p| p.contains(&declaration))
}

/// The core's top-level modules that `file` (under `src/`, not the shell's)
/// names as `crate::…`, comments and tests aside.
fn imports(file: &str) -> Vec<String> {
    if test_only(file) {
        return vec![];
    }
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

/// Most lines a function in `src/` may span, before its tests.
const MAX_FN_LINES: usize = 80;

/// Functions allowed past [`MAX_FN_LINES`], each at most as long as it is now:
/// tables, which read best whole. A function that grows, or a new long one,
/// fails.
const LONG_FUNCTIONS: &[(&str, &str, usize)] = &[
    // Tables.
    ("src/problem.rs", "info", 148),
];

/// Every function of `file` before its tests, with the lines it spans: from its
/// `fn` line to the `}` at the same indentation.
fn functions(file: &str) -> Vec<(String, usize)> {
    let text = read(file);
    let lines: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("#[cfg(test)]"))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = &line[..line.len() - line.trim_start().len()];
        let words: Vec<&str> = line.split_whitespace().collect();
        let name = words
            .iter()
            .position(|w| *w == "fn")
            .filter(|&at| {
                words[..at]
                    .iter()
                    .all(|w| w.starts_with("pub") || ["async", "const", "unsafe"].contains(w))
            })
            .and_then(|at| words.get(at + 1))
            .map(|w| w.split(['(', '<']).next().unwrap_or("").to_string());
        if let Some(name) = name.filter(|_| !line.trim_end().ends_with(';')) {
            let close = format!("{indent}}}");
            let end = (i + 1..lines.len())
                .find(|&j| lines[j] == close)
                .unwrap_or(i);
            out.push((name, end - i + 1));
            i = end;
        }
        i += 1;
    }
    out
}

/// The shell carries admission out and decides nothing: every branch lives in
/// `admission::carry_out`, whose table tests reach what only the end-to-end
/// suite could. What is left in the shell's two functions stays short.
#[test]
fn the_shell_carries_admission_out_in_few_lines() {
    let length = |file: &str, name: &str| {
        functions(file)
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{file} has no fn {name}"))
            .1
    };
    let lines = length("src/shell/mod.rs", "authenticate") + length("src/shell/leased.rs", "admit");
    assert!(
        lines < 60,
        "authenticate and leased::admit span {lines} lines"
    );
}

#[test]
fn no_function_is_too_long_to_read() {
    let mut long = Vec::new();
    for file in sources().iter().filter(|f| f.ends_with(".rs")) {
        for (name, lines) in functions(file) {
            let allowed = LONG_FUNCTIONS
                .iter()
                .find(|(f, n, _)| f == file && *n == name)
                .map_or(MAX_FN_LINES, |(_, _, most)| *most);
            if lines > allowed {
                long.push(format!(
                    "{file}: {name} spans {lines} lines (at most {allowed})"
                ));
            }
        }
    }
    assert!(long.is_empty(), "split these:\n{}", long.join("\n"));
    // The allowances name functions that are still long: one that shrank
    // below MAX_FN_LINES leaves the list.
    for (file, name, _) in LONG_FUNCTIONS {
        let lines = functions(file)
            .into_iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, l)| l);
        assert!(
            lines > MAX_FN_LINES,
            "{file}: {name} is {lines} lines now; take it off LONG_FUNCTIONS"
        );
    }
}

/// The core never reads the clock: time is a parameter.
#[test]
fn the_core_reads_no_clock() {
    let clocks = [
        "SystemTime",
        "Instant::now",
        "Utc::now",
        "Local::now",
        "Date::now",
        "js_sys::Date",
        "now_ms()",
    ];
    let mut found = Vec::new();
    for file in sources() {
        let Some(rel) = file.strip_prefix("src/") else {
            continue;
        };
        if rel.starts_with("shell/") || rel.starts_with("bin/") || !rel.ends_with(".rs") {
            continue;
        }
        let text = read(&file);
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for clock in clocks {
            if code.contains(clock) {
                found.push(format!("{file}: {clock}"));
            }
        }
    }
    assert!(found.is_empty(), "the core reads the clock: {found:?}");
}

/// The console's files, as paths under `console/` (`views/keys.js`).
fn console_files() -> Vec<String> {
    let mut all = Vec::new();
    files(&root().join("console"), &mut all);
    let mut names: Vec<String> = all
        .iter()
        .map(|f| f.strip_prefix("console/").unwrap_or(f).to_string())
        .collect();
    names.sort();
    names
}

/// The console's scripts, as paths under `console/`.
fn console_scripts() -> Vec<String> {
    console_files()
        .into_iter()
        .filter(|f| f.ends_with(".js"))
        .collect()
}

/// Every element the console's scripts look up by id (`$("…")`) is in its page.
#[test]
fn the_console_finds_every_element_it_asks_for() {
    let page = read("console/index.html");
    let mut missing = Vec::new();
    let mut asked = 0;
    for file in console_scripts() {
        let script = read(&format!("console/{file}"));
        for part in script.split("$(\"").skip(1) {
            let Some(id) = part.split('"').next() else {
                continue;
            };
            asked += 1;
            if !page.contains(&format!("id=\"{id}\"")) {
                missing.push(format!("{file}: {id}"));
            }
        }
    }
    assert!(asked >= 50, "only {asked} lookups found: has `$` changed?");
    assert!(missing.is_empty(), "not in index.html: {missing:?}");
}

/// Every script of the console is type-checked: it asks for the check
/// (`// @ts-check` first), and `tests/console/tsconfig.json` names it.
#[test]
fn every_console_script_is_type_checked() {
    let config = read("tests/console/tsconfig.json");
    let mut unchecked = Vec::new();
    for file in console_scripts() {
        let script = read(&format!("console/{file}"));
        if !script.starts_with("// @ts-check\n") {
            unchecked.push(format!("{file}: no `// @ts-check` first"));
        }
        if !config.contains(&format!("\"../../console/{file}\"")) {
            unchecked.push(format!("{file}: not in tests/console/tsconfig.json"));
        }
    }
    assert!(unchecked.is_empty(), "{unchecked:?}");
}

/// The diagrams of ARCHITECTURE.md name only what exists: every `module::name`
/// in them is a function, type or module of `src/`.
#[test]
fn the_architecture_names_what_exists() {
    let doc = read("ARCHITECTURE.md");
    let diagram = doc
        .split("```")
        .nth(1)
        .expect("ARCHITECTURE.md opens with a diagram");
    let mut code = String::new();
    for file in sources().iter().filter(|f| f.ends_with(".rs")) {
        code.push_str(&read(file));
    }
    let modules: Vec<String> = sources()
        .iter()
        .map(|f| {
            let f = f.trim_end_matches(".rs").trim_end_matches("/mod");
            f.rsplit('/').next().unwrap_or("").to_string()
        })
        .collect();
    let mut unknown = Vec::new();
    let mut named = 0;
    for word in diagram.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
        let Some((_, name)) = word.rsplit_once("::") else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        named += 1;
        let exists = modules.iter().any(|m| m == name)
            || ["fn", "struct", "enum", "trait", "type"]
                .iter()
                .any(|kind| {
                    code.contains(&format!("{kind} {name}("))
                        || code.contains(&format!("{kind} {name}<"))
                        || code.contains(&format!("{kind} {name} "))
                        || code.contains(&format!("{kind} {name};"))
                });
        if !exists {
            unknown.push(word.to_string());
        }
    }
    assert!(named >= 10, "only {named} names in the diagram");
    assert!(
        unknown.is_empty(),
        "the diagram names what is not there: {unknown:?}"
    );
}

/// The console serves exactly the files it ships: every file of `console/`,
/// in its folders too, is in `console::FILES`, and every name there is a file.
#[test]
fn the_console_serves_exactly_its_files() {
    let shipped = console_files();
    let mut served: Vec<String> = keyward::console::FILES
        .iter()
        .map(|f| f.to_string())
        .collect();
    served.sort();
    assert_eq!(shipped, served);
}
