//! The README's table of defaults against the code: each default is stated once, in the docs
//! of its setter (`ServiceProxyBuilder`) or field (`Limits`, `Timeouts`), as "Default is …";
//! the README quotes that phrase, and this test fails when the two differ. The HTTP values
//! are also checked against `Limits::default()` and `Timeouts::default()` themselves.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use socketnaut::http::{Limits, MinDataRate, Timeouts};

fn read(path: &str) -> String {
    fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)).expect(path)
}

/// The README's Defaults table: (setting, default) per row.
fn readme_rows() -> Vec<(String, String)> {
    let readme = read("README.md");
    let table = readme
        .split("## Defaults")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Defaults section");
    table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            (
                cells[0]
                    .trim_start_matches("| ")
                    .trim_matches('`')
                    .to_owned(),
                cells[1].trim().to_owned(),
            )
        })
        .collect()
}

/// The doc comment right above the line that declares `item` in `source`, joined into one
/// line.
fn doc_above(source: &str, item: &str) -> Option<String> {
    let lines: Vec<&str> = source.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with(item))?;
    let mut doc: Vec<&str> = lines[..at]
        .iter()
        .rev()
        .map(|l| l.trim_start())
        .take_while(|l| l.starts_with("///") || l.starts_with("#["))
        .filter_map(|l| l.strip_prefix("///"))
        .map(str::trim)
        .collect();
    doc.reverse();
    Some(doc.join(" "))
}

/// The phrase after "Default is" up to the end of its clause.
fn default_phrase(doc: &str) -> Option<String> {
    let rest = &doc[doc.find("Default is ")? + "Default is ".len()..];
    let end = [". ", ": ", "; ", ", so", ", ["]
        .iter()
        .filter_map(|t| rest.find(t))
        .min()
        .unwrap_or(rest.len());
    Some(rest[..end].trim_end_matches('.').to_owned())
}

#[test]
fn the_readme_quotes_every_default_as_the_code_states_it() {
    let builder = read("socketnaut-core/src/builder.rs");
    let config = read("socketnaut-http/src/config.rs");
    let rows = readme_rows();
    assert!(rows.len() >= 20, "the table was read: {rows:?}");
    let mut failures = Vec::new();
    for (setting, readme) in &rows {
        let (ty, name) = setting.split_once("::").expect("Type::name");
        let doc = match ty {
            "ServiceProxyBuilder" => doc_above(&builder, &format!("pub fn {name}(")),
            "Limits" | "Timeouts" => doc_above(&config, &format!("pub {name}:")),
            other => panic!("unknown type {other}"),
        };
        match doc.as_deref().and_then(default_phrase) {
            Some(code) if code == *readme => {}
            Some(code) => failures.push(format!("{setting}: README {readme:?}, code {code:?}")),
            None => failures.push(format!("{setting}: no \"Default is\" in its docs")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn the_http_defaults_are_what_their_docs_say() {
    let l = Limits::default();
    assert_eq!(
        (
            l.max_request_line,
            l.max_head,
            l.max_headers,
            l.max_body,
            l.max_chunk_metadata
        ),
        (8 * 1024, 16 * 1024, 100, 1024 * 1024, 16 * 1024)
    );
    let t = Timeouts::default();
    let s = Duration::from_secs;
    assert_eq!(
        (t.header, t.idle, t.body, t.write),
        (s(10), s(5), s(30), s(30))
    );
    let rate = Some(MinDataRate::new(240, s(5)));
    assert_eq!((t.min_request_body_rate, t.min_response_rate), (rate, rate));
}

#[test]
fn the_phrase_extraction_stops_at_the_clause() {
    let cases = [
        ("How often. Default is 1 s.", "1 s"),
        ("Default is 10 s, so a burst survives.", "10 s"),
        (
            "Default is the cores (capped at `max`): more.",
            "the cores (capped at `max`)",
        ),
        ("Default is 5 s; balancers send it at once.", "5 s"),
        (
            "Default is 240 bytes/s after 5 s, [`MinDataRate::default`].",
            "240 bytes/s after 5 s",
        ),
    ];
    for (doc, want) in cases {
        assert_eq!(default_phrase(doc).as_deref(), Some(want), "{doc}");
    }
}
