//! The shape of the source tree, checked rather than described: the
//! top-level modules of `src/` form no import cycle, and no file is too big
//! to live in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/engine/runner.rs` →
/// `engine`, `src/diag.rs` → `diag`).
fn top_module(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The top-level modules a file's code names through `crate::X` (comments
/// and strings aside: a line's code up to `//`).
fn uses(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                // `crate::{a, b}`: every name in the braces.
                if let Some(group) = after.strip_prefix('{') {
                    let inner = group.split('}').next().unwrap_or("");
                    for part in inner.split(',') {
                        let n: String = part
                            .trim()
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if !n.is_empty() {
                            out.insert(n);
                        }
                    }
                }
            } else {
                out.insert(name);
            }
            rest = after;
        }
    }
    out
}

/// Edges `from → to` between top-level modules; `cli`, `main` and `lib`
/// may use anything and are left out, as is `testing` (test helpers).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let from = top_module(&f);
        if ["cli", "main", "lib"].contains(&from.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let entry = g.entry(from.clone()).or_default();
        for to in uses(&text) {
            if to != from && to != "testing" {
                entry.insert(to);
            }
        }
    }
    g
}

/// A cycle in the graph, if there is one, as the modules along it.
fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(1) => {
                let start = path.iter().position(|p| p == n).unwrap();
                let mut cycle = path[start..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if let Some(c) = visit(n, g, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_top_level_modules_of_src_form_no_import_cycle() {
    let g = graph();
    // The checker itself must see edges (a parser that finds nothing would
    // pass any tree).
    assert!(
        g["tasks"].contains("mke") && g["engine"].contains("tasks"),
        "{g:?}"
    );
    if let Some(cycle) = find_cycle(&g) {
        let edges: Vec<String> = g
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k} -> {}",
                    v.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        panic!(
            "import cycle: {}\n(`use crate::X` in a file under src/Y is an edge Y -> X)\n{}",
            cycle.join(" -> "),
            edges.join("\n")
        );
    }
    // The leaves stay leaves.
    assert!(
        g.get("util").is_none_or(|d| d.is_empty()),
        "util uses {:?}",
        g["util"]
    );
    let model: BTreeSet<String> = g.get("model").cloned().unwrap_or_default();
    assert!(model.iter().all(|d| d == "util"), "model uses {model:?}");
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&g), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    assert_eq!(
        uses("use crate::{engine::x, tasks};\n// crate::report\nlet y = crate::mke::z;"),
        ["engine", "mke", "tasks"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

/// Files that hold data rather than code may be long.
const GENERATED: &[&str] = &[];

#[test]
fn no_source_file_is_over_500_lines_and_the_runner_loop_under_400() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut long = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(src()).unwrap().display().to_string();
        let lines = std::fs::read_to_string(f).unwrap().lines().count();
        if lines > 500 && !GENERATED.contains(&rel.as_str()) {
            long.push(format!("src/{rel}: {lines} lines"));
        }
    }
    assert!(
        long.is_empty(),
        "files over 500 lines:\n{}",
        long.join("\n")
    );
    let runner = std::fs::read_to_string(src().join("engine/runner.rs")).unwrap();
    assert!(
        runner.lines().count() < 400,
        "src/engine/runner.rs: {} lines",
        runner.lines().count()
    );
}
