//! The layout rules of the house style, checked on the sources: no file over 600 lines and no
//! function over 60 lines outside tests, and no import circle of more than two files in either
//! library crate (module paths in `use crate::…`, `use super::…` and `crate::…` expressions,
//! resolved to the files that define them).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 60;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The lines of a file before its unit tests (`#[cfg(test)]` at the start of a line).
fn non_test_lines(text: &str) -> Vec<&str> {
    text.lines()
        .take_while(|l| !l.starts_with("#[cfg(test)]"))
        .collect()
}

fn sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [
        "socketnaut-core/src",
        "socketnaut-http/src",
        "src",
        "benches",
        "examples",
    ] {
        rust_files(&root().join(dir), &mut files);
    }
    files.sort();
    files
}

/// `(name, first line, length)` of every `fn` whose body is a brace block, found by
/// indentation: the body ends at the first `}` line indented like the `fn` line.
fn functions(lines: &[&str]) -> Vec<(String, usize, usize)> {
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let Some(at) = trimmed.find("fn ") else {
            continue;
        };
        let before = &trimmed[..at];
        let is_fn = before.split_whitespace().all(|w| {
            [
                "pub",
                "pub(crate)",
                "pub(super)",
                "const",
                "unsafe",
                "async",
            ]
            .contains(&w)
        });
        if !is_fn || trimmed.starts_with("//") {
            continue;
        }
        let name: String = trimmed[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // A declaration without a body (`fn f(&self);` in a trait) is skipped.
        let opens = lines[i..]
            .iter()
            .position(|l| l.contains('{') || l.trim_end().ends_with(';'));
        if opens.is_none_or(|o| !lines[i + o].contains('{')) {
            continue;
        }
        if lines[i].trim_end().ends_with('}') {
            continue; // a one-line function
        }
        let end = lines[i + 1..].iter().position(|l| {
            let t = l.trim_start();
            l.len() - t.len() == indent && t.starts_with('}')
        });
        if let Some(end) = end {
            found.push((name, i + 1, end + 2));
        }
    }
    found
}

#[test]
fn no_file_or_function_is_too_long() {
    let mut failures = Vec::new();
    for path in sources() {
        let text = fs::read_to_string(&path).expect("read source");
        let lines = non_test_lines(&text);
        let name = path
            .strip_prefix(root())
            .unwrap_or(&path)
            .display()
            .to_string();
        if lines.len() > MAX_FILE_LINES {
            failures.push(format!("{name}: {} lines", lines.len()));
        }
        for (f, at, len) in functions(&lines) {
            if len > MAX_FN_LINES {
                failures.push(format!("{name}:{at}: fn {f} is {len} lines"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The module path of a source file (`pool/worker/mod.rs` → `pool::worker`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The module paths a file refers to: `crate::a::b` anywhere, and `super::x` relative to it.
fn references(text: &str, module: &[String], is_mod_file: bool) -> Vec<Vec<String>> {
    let mut refs = Vec::new();
    let path_chars =
        |c: char| c.is_alphanumeric() || c == '_' || c == ':' || c == '{' || c == ',' || c == ' ';
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", {
            // `super` of a `mod.rs` file is the parent of its directory's module.
            let mut m = module.to_vec();
            m.pop();
            let _ = is_mod_file;
            m
        }),
    ] {
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
            let tail = &rest[at + prefix.len()..];
            let path: String = tail
                .chars()
                .take_while(|&c| path_chars(c) && c != ' ' && c != '{' && c != ',')
                .collect();
            let mut full = base.clone();
            full.extend(
                path.split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
            refs.push(full);
            // `use crate::a::{b, c::d}`: the braces' items too.
            if let Some(brace) = tail[path.len()..].strip_prefix('{') {
                if let Some(close) = brace.find('}') {
                    for item in brace[..close].split(',') {
                        let mut m = base.clone();
                        m.extend(
                            path.split("::")
                                .filter(|s| !s.is_empty())
                                .map(str::to_owned),
                        );
                        m.extend(
                            item.trim()
                                .split("::")
                                .filter(|s| !s.is_empty())
                                .map(str::to_owned),
                        );
                        refs.push(m);
                    }
                }
            }
            rest = &tail[path.len().min(tail.len())..];
        }
    }
    refs
}

/// Circles (strongly connected sets) in a file graph, by Tarjan's algorithm.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                scc.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            t.out.push(scc);
        }
    }
    let mut t = T {
        g: graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn import_graph(crate_dir: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join(crate_dir).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|f| {
            (
                module_of(&src, f),
                f.strip_prefix(&src)
                    .expect("under src")
                    .display()
                    .to_string(),
            )
        })
        .collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let me = modules[&module].clone();
        let text = fs::read_to_string(file).expect("read");
        // Code only: a doc link is not an import.
        let text: String = non_test_lines(&text)
            .iter()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let is_mod = file.ends_with("mod.rs");
        let mut edges = BTreeSet::new();
        for r in references(&text, &module, is_mod) {
            // The longest prefix of the path that is a module file.
            let target = (1..=r.len())
                .rev()
                .find_map(|n| modules.get(&r[..n]))
                .or_else(|| modules.get(&Vec::new()));
            if let Some(t) = target {
                if *t != me && t != "lib.rs" {
                    edges.insert(t.clone());
                }
            }
        }
        graph.insert(me, edges);
    }
    graph
}

#[test]
fn no_import_circle_of_more_than_two_files() {
    let mut failures = Vec::new();
    for krate in ["socketnaut-core", "socketnaut-http"] {
        let graph = import_graph(krate);
        assert!(
            graph.len() > 5,
            "{krate}: the graph was read ({} files)",
            graph.len()
        );
        for scc in circles(&graph) {
            if scc.len() > 2 {
                failures.push(format!("{krate}: {scc:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "import circles: {failures:#?}");
}

#[test]
fn the_checks_themselves_find_what_they_look_for() {
    let lines = [
        "fn short() {",
        "    1",
        "}",
        "    pub(crate) fn long(",
        "    ) {",
        "        x",
        "    }",
    ];
    let fns = functions(&lines);
    assert_eq!(
        fns,
        vec![("short".to_owned(), 1, 3), ("long".to_owned(), 4, 4)]
    );
    let mut g = BTreeMap::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        g.entry(a.to_owned())
            .or_insert_with(BTreeSet::new)
            .insert(b.to_owned());
        g.entry(b.to_owned()).or_insert_with(BTreeSet::new);
    }
    let big: Vec<_> = circles(&g).into_iter().filter(|s| s.len() > 1).collect();
    assert_eq!(big.len(), 1);
    assert_eq!(big[0].len(), 3);
}
